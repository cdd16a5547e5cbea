"""Receiving: ReceiveMessage, and what its receipt handle then allows -- DeleteMessage and
ChangeMessageVisibility.

A receive asks the queue core for up to ten messages; when there are none and the request may
wait, it answers a :class:`~msgsim.broker.operation.Park` whose retry the runtime calls again when
the queue is touched, a timer falls due or the wait ends. Each message is rendered with only the
attributes the request asked for, and a fresh receipt handle (:mod:`.addressing`).

A receipt handle names one receive of one message: a later receive supersedes it. What a
superseded handle may still do follows AWS per queue type (see docs/sqs-semantics.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import InvalidAttributeName, MissingParameter
from ..operation import Park
from ..params import check_int, check_known, optional_int, optional_str, str_list
from .addressing import parse_receipt_handle, ready, receipt_handle
from .message import Message, md5_of_attributes
from .queue import Queue
from .sending import check_fifo_token
from .state import SqsState
from .throughput import throttle

_SYSTEM_ATTRIBUTE_NAMES = frozenset(
    {
        "All",
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
        "SqsManagedSseEnabled",
    }
)


class _View:
    """Which attributes a ReceiveMessage asked for, worked out once per call."""

    __slots__ = ("any_attrs", "attr_all", "attr_names", "attr_prefixes", "system")

    def __init__(self, p: Mapping[str, Any]) -> None:
        system = str_list(p, "MessageSystemAttributeNames")
        for n in system:
            if n not in _SYSTEM_ATTRIBUTE_NAMES:
                raise InvalidAttributeName(f"Unknown Attribute {n}.")
        legacy = [n for n in str_list(p, "AttributeNames") if n in _SYSTEM_ATTRIBUTE_NAMES]
        self.system = frozenset(system) | frozenset(legacy)
        names = str_list(p, "MessageAttributeNames")
        self.attr_all = "All" in names or ".*" in names
        self.attr_prefixes = tuple(n[:-1] for n in names if n.endswith(".*") and n != ".*")
        self.attr_names = frozenset(n for n in names if not n.endswith(".*") and n != "All")
        self.any_attrs = bool(names)

    def pick(self, attrs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if self.attr_all:
            return attrs
        return {
            k: v
            for k, v in attrs.items()
            if k in self.attr_names or (self.attr_prefixes and k.startswith(self.attr_prefixes))
        }


_RECEIVE = frozenset(
    {
        "QueueUrl",
        "AttributeNames",
        "MessageSystemAttributeNames",
        "MessageAttributeNames",
        "MaxNumberOfMessages",
        "VisibilityTimeout",
        "WaitTimeSeconds",
        "ReceiveRequestAttemptId",
    }
)


def receive_message(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any] | Park:
    if not p.keys() <= _RECEIVE:
        check_known(p, _RECEIVE, "ReceiveMessage")
    queue = ready(sqs, p, now)
    max_n = p.get("MaxNumberOfMessages", 1)
    if type(max_n) is not int or not 1 <= max_n <= 10:
        max_n = check_int(
            max_n,
            "MaxNumberOfMessages",
            limits.MAX_NUMBER_OF_MESSAGES_MIN,
            limits.MAX_NUMBER_OF_MESSAGES_MAX,
            "Must be between 1 and 10, if provided.",
        )
    visibility = optional_int(
        p, "VisibilityTimeout", limits.VISIBILITY_TIMEOUT_MIN, limits.VISIBILITY_TIMEOUT_MAX
    )
    if visibility is None:
        visibility = queue.visibility_timeout
    wait = optional_int(
        p,
        "WaitTimeSeconds",
        limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MIN,
        limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MAX,
    )
    if wait is None:
        wait = queue.wait_time
    attempt_id = optional_str(p, "ReceiveRequestAttemptId")
    if attempt_id is not None:
        check_fifo_token(attempt_id, "ReceiveRequestAttemptId")
        if not queue.fifo:
            attempt_id = None  # AWS: only FIFO queues use it; standard queues ignore it
    view = _View(p)
    if sqs.options.enforce_throughput and queue.fifo:
        throttle(sqs, queue, "ReceiveMessage", now)
    sample = sqs.options.at_least_once and wait == 0

    def attempt(t: float, final: bool) -> dict[str, Any] | None:
        live = sqs.queues.get(queue.name)
        if live is not queue:
            return {}  # deleted while waiting
        queue.tick(t)
        redrive_to = None
        if queue.max_receive_count:
            redrive_to = sqs.by_arn.get(queue.redrive_target_arn)  # type: ignore[arg-type]
        got = queue.receive(t, max_n, visibility, redrive_to, attempt_id, sample)
        if redrive_to is not None:
            sqs.touched.add(redrive_to.uid)
        if not got:
            return {} if final else None
        return {"Messages": [_render(sqs, queue, m, view) for m in got]}

    result = attempt(now, wait == 0)
    if result is not None:
        return result
    return Park(now + wait, queue.uid, attempt, queue.next_timer)


def _render(sqs: SqsState, queue: Queue, msg: Message, view: _View) -> dict[str, Any]:
    out: dict[str, Any] = {
        "MessageId": msg.message_id,
        "ReceiptHandle": receipt_handle(sqs.seal, queue, msg),
        "MD5OfBody": msg.md5_body.hex(),
        "Body": msg.body,
    }
    if view.system:
        attrs = _system_attributes(sqs, queue, msg, view.system)
        if attrs:
            out["Attributes"] = attrs
    if msg.attributes and view.any_attrs:
        chosen = view.pick(msg.attributes)
        if chosen:
            out["MD5OfMessageAttributes"] = (
                msg.md5_attributes
                if len(chosen) == len(msg.attributes)
                else md5_of_attributes(chosen)
            )
            out["MessageAttributes"] = {k: dict(v) for k, v in chosen.items()}
    return out


def _system_attributes(sqs: SqsState, queue: Queue, msg: Message, names: frozenset[str]) -> dict:
    every = "All" in names
    out: dict[str, str] = {}

    def want(n: str) -> bool:
        return every or n in names

    if want("SenderId"):
        out["SenderId"] = sqs.account_id
    if want("SentTimestamp"):
        out["SentTimestamp"] = str(sqs.epoch.wall_ms(msg.sent_at))
    if want("ApproximateReceiveCount"):
        out["ApproximateReceiveCount"] = str(msg.receive_count)
    if want("ApproximateFirstReceiveTimestamp") and msg.first_receive is not None:
        out["ApproximateFirstReceiveTimestamp"] = str(sqs.epoch.wall_ms(msg.first_receive))
    if msg.system and want("AWSTraceHeader"):
        out["AWSTraceHeader"] = msg.system["AWSTraceHeader"]["StringValue"]
    if msg.group_id is not None and want("MessageGroupId"):
        out["MessageGroupId"] = msg.group_id
    if queue.fifo:
        if want("MessageDeduplicationId"):
            out["MessageDeduplicationId"] = msg.dedup_id  # type: ignore[assignment]
        if want("SequenceNumber"):
            out["SequenceNumber"] = msg.sequence_number  # type: ignore[assignment]
    if msg.origin is not None and want("DeadLetterQueueSourceArn"):
        out["DeadLetterQueueSourceArn"] = msg.origin
    if want("SqsManagedSseEnabled") and queue.attrs.get("SqsManagedSseEnabled", "true") == "true":
        out["SqsManagedSseEnabled"] = "true"
    return out


def delete_message(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    if p.keys() != {"QueueUrl", "ReceiptHandle"}:
        check_known(p, frozenset({"QueueUrl", "ReceiptHandle"}), "DeleteMessage")
    queue = ready(sqs, p, now)
    serial, gen = parse_receipt_handle(sqs.seal, queue, p.get("ReceiptHandle"))
    if sqs.options.enforce_throughput and queue.fifo:
        throttle(sqs, queue, "DeleteMessage", now)
    if queue.delete(serial, gen) and queue.fifo:
        sqs.touched.add(queue.uid)
    return {}


def change_message_visibility(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    allowed = frozenset({"QueueUrl", "ReceiptHandle", "VisibilityTimeout"})
    check_known(p, allowed, "ChangeMessageVisibility")
    queue = ready(sqs, p, now)
    change_visibility(sqs, queue, p, now)
    return {}


def change_visibility(sqs: SqsState, queue: Queue, p: Mapping[str, Any], now: float) -> None:
    serial, gen = parse_receipt_handle(sqs.seal, queue, p.get("ReceiptHandle"))
    timeout = p.get("VisibilityTimeout")
    if timeout is None:
        raise MissingParameter("The request must contain the parameter VisibilityTimeout.")
    timeout = check_int(
        timeout,
        "VisibilityTimeout",
        limits.VISIBILITY_TIMEOUT_MIN,
        limits.VISIBILITY_TIMEOUT_MAX,
    )
    msg = queue.get(serial)
    if not queue.fifo and msg is not None and gen < msg.receive_count:
        return  # AWS: a superseded handle on a standard queue is answered 200, no change
    queue.change_visibility(serial, gen, timeout, now)
    if timeout == 0:
        sqs.touched.add(queue.uid)
