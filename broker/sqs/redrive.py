"""Message move tasks (DLQ redrive): StartMessageMoveTask, ListMessageMoveTasks and
CancelMessageMoveTask.

A task moves the messages available in a dead-letter queue when it starts -- back to the queues
they came from, or to a DestinationArn -- at most MaxNumberOfMessagesPerSecond of them (default
``limits.MESSAGE_MOVE_DEFAULT_PER_SECOND``). StartMessageMoveTask queues a
:class:`~msgsim.broker.operation.Job` whose step the runtime runs once a second on the broker's
clock. As AWS's redrive guide says, a moved message is a new message: new MessageId, new enqueue
time, receive count from zero. One task runs per source queue at a time. The task's record and
its lifecycle are :mod:`.move_task`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import InvalidParameterValue, ResourceNotFoundException
from ..ids import uuid4_from
from ..operation import Job
from ..params import check_known, optional_int, required_str
from .addressing import queue_for_arn_param
from .move_task import MoveTask
from .state import SqsState


def start_message_move_task(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"SourceArn", "DestinationArn", "MaxNumberOfMessagesPerSecond"}),
        "StartMessageMoveTask",
    )
    source = queue_for_arn_param(sqs, p, "SourceArn")
    destination = None
    if p.get("DestinationArn") is not None:
        destination = queue_for_arn_param(sqs, p, "DestinationArn")
    rate = optional_int(
        p,
        "MaxNumberOfMessagesPerSecond",
        limits.MESSAGE_MOVE_MAX_PER_SECOND_MIN,
        limits.MESSAGE_MOVE_MAX_PER_SECOND_MAX,
    )
    if not any(q.redrive_target_arn == source.arn for q in sqs.queues.values()):
        raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
    for task in sqs.move_tasks_by_source.get(source.arn, ()):
        if task.status == "RUNNING":
            raise InvalidParameterValue(
                "There is already a task running. Only one active task is allowed for a "
                "source queue arn at a given time."
            )
    token = f"{uuid4_from(sqs.rng)}|{source.arn}"
    handle = base64.b64encode(token.encode()).decode()
    task = MoveTask(handle, source.arn, destination.arn if destination is not None else None)
    if rate is not None:
        task.rate = rate
        task.rate_given = True
    source.tick(now)
    task.to_move = source.n_available
    task.started_ms = sqs.epoch.wall_ms(now)
    sqs.move_tasks[handle] = task
    sqs.move_tasks_by_source.setdefault(source.arn, []).append(task)
    sqs.jobs.append(Job(lambda t: _move_step(sqs, task, t), 1.0))
    return {"TaskHandle": handle}


def _move_step(sqs: SqsState, task: MoveTask, now: float) -> bool:
    """Move up to one second's worth of messages; True when the task has ended."""
    if task.status != "RUNNING":
        return True
    source = sqs.by_arn.get(task.source_arn)
    if source is None:
        task.status, task.failure = "FAILED", "The source queue was deleted."
        return True
    source.tick(now)
    fixed = None
    if task.destination_arn is not None:
        fixed = sqs.by_arn.get(task.destination_arn)
        if fixed is None:
            task.status, task.failure = "FAILED", "The destination queue was deleted."
            return True
    for _ in range(task.rate):
        if task.moved >= task.to_move:
            break
        msg = source.take_oldest_available()
        if msg is None:
            break
        target = fixed
        if target is None and msg.origin is not None:
            target = sqs.by_arn.get(msg.origin)
        if target is None:
            source.accept_moved(msg, now, msg.origin)
            task.status = "FAILED"
            task.failure = (
                "A message has no existing source queue to return to; give a DestinationArn."
            )
            return True
        target.tick(now)
        # AWS: a redriven message counts as a new message -- new MessageId, new enqueue time,
        # receive count from zero (else it would bounce straight back to the DLQ).
        msg.message_id = uuid4_from(sqs.rng)
        msg.sent_at = now
        msg.receive_count = 0
        msg.first_receive = None
        target.accept_moved(msg, now, None)
        sqs.touched.add(target.uid)
        task.moved += 1
    if task.moved >= task.to_move or not source.n_available:
        task.status = "COMPLETED"
        return True
    return False


def list_message_move_tasks(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"SourceArn", "MaxResults"}), "ListMessageMoveTasks")
    source = queue_for_arn_param(sqs, p, "SourceArn")
    n = optional_int(
        p,
        "MaxResults",
        limits.LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_MIN,
        limits.LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_MAX,
    )
    n = n or limits.LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_DEFAULT
    tasks = sqs.move_tasks_by_source.get(source.arn, [])
    return {"Results": [t.describe() for t in reversed(tasks[-n:])]}


def cancel_message_move_task(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"TaskHandle"}), "CancelMessageMoveTask")
    handle = required_str(p, "TaskHandle")
    task = sqs.move_tasks.get(handle)
    if task is None:
        try:
            decoded = base64.b64decode(handle, validate=True).decode()
        except (binascii.Error, ValueError):
            decoded = ""
        if "|" not in decoded:
            raise InvalidParameterValue("Value for parameter TaskHandle is invalid.")
        raise ResourceNotFoundException("Task does not exist.")
    if task.status != "RUNNING":
        raise InvalidParameterValue(
            f"Only a running task can be cancelled; this task is {task.status}."
        )
    task.status = "CANCELLED"
    return {"ApproximateNumberOfMessagesMoved": task.moved}
