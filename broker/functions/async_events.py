"""The life of an asynchronous invocation (Invoke with InvocationType=Event, SNS, destinations).

An event waits in the function's internal queue (:class:`~.model.AsyncQueue`) until it is due;
the runtime's dispatcher asks :func:`start_due` which events may run now (each takes a unit of
concurrency), runs their handlers and reports each outcome to :func:`finish_event`, which decides
what happens next: the OnSuccess destination, a retry after 1 and then 2 minutes (up to
MaximumRetryAttempts), or the end -- the OnFailure destination and/or the dead-letter queue. An
event past MaximumEventAgeInSeconds expires instead of running; with reserved concurrency 0 an
event fails for good at once. Every move is checked against the event's transition table
(:data:`~.model.EVENT_TRANSITIONS`).

What must be sent (destination records, dead-letter messages) goes to the account's ``outbox``
for the runtime to deliver. Sans-IO: every function takes ``now``.
"""

from __future__ import annotations

import json
from typing import Any

from .. import limits
from ..ids import uuid4_from
from .model import DROPPED, EXPIRED, RETRIES_EXHAUSTED, RUNNING, SUCCEEDED, AsyncEvent, Function
from .outcome import Outcome
from .shapes import iso_z
from .state import Delivery, LambdaState


def push_event(lam: LambdaState, fn: Function, event: Any, now: float) -> AsyncEvent:
    """Queue an asynchronous invocation (Invoke Event, SNS, a Lambda destination)."""
    queued = lam.async_queue.push(fn, event, uuid4_from(lam.rng), now)
    lam.kicked = True
    return queued


def invoke_event(lam: LambdaState, function_ref: str, event: Any, now: float) -> None:
    """An async invoke from inside the broker (SNS ``lambda`` subscriptions)."""
    push_event(lam, lam.function_by_ref(function_ref), event, now)


def start_event(lam: LambdaState, event: AsyncEvent, now: float) -> bool:
    """Try to run a due async event: True when it may run now (concurrency taken). An event
    past its maximum age expires instead; one whose function is busy waits for a run of it
    to end (or to expire); with reserved concurrency 0 it fails for good at once."""
    fn = event.function
    if now - event.enqueued_at > fn.max_event_age:
        event.move(EXPIRED)
        _dead(lam, event, None, "EventAgeExceeded", now)
        if fn.waiting:
            lam.kicked = True  # a unit it may have been handed goes to the next one
        return False
    if fn.reserved == 0:
        # AWS: with reserved concurrency 0, events go straight to the dead-letter queue or
        # OnFailure destination, without retries (the throttle is counted).
        fn.metrics.throttles += 1
        event.move(RETRIES_EXHAUSTED)
        _dead(lam, event, None, "RetriesExhausted", now)
        return False
    if lam.saturated(fn):
        # The internal queue's poller takes an event only when the function has room: the
        # event waits (and ages) until a run of the function ends.
        lam.async_queue.park(event)
        return False
    lam.acquire(fn)
    event.move(RUNNING)
    event.attempts += 1
    age = now - event.enqueued_at
    if age > fn.metrics.max_event_age:
        fn.metrics.max_event_age = age
    return True


def start_due(lam: LambdaState, now: float) -> list[AsyncEvent]:
    """One pass of the async dispatcher: waiting events past their age fail for good, free
    units go to waiting events, and every due event that finds a unit starts (concurrency
    taken; the runtime runs them). The others wait, expire or fail as :func:`start_event`
    decides."""
    expire_waiting(lam, now)
    lam.wake_waiting()
    queue = lam.async_queue
    started = []
    while (event := queue.pop_due(now)) is not None:
        if start_event(lam, event, now):
            started.append(event)
    return started


def expire_waiting(lam: LambdaState, now: float) -> None:
    """Events that waited for concurrency past MaximumEventAgeInSeconds fail for good
    (EventAgeExceeded); those of a deleted function are dropped."""
    queue = lam.async_queue
    while (event := queue.pop_expired(now)) is not None:
        if event.function.deleted:
            event.move(DROPPED)
            event.function.metrics.async_events_dropped += 1
        else:
            event.move(EXPIRED)
            _dead(lam, event, None, "EventAgeExceeded", now)


def finish_event(lam: LambdaState, event: AsyncEvent, outcome: Outcome, now: float) -> None:
    """Record how an async run went: success (OnSuccess), a retry later, or the end."""
    fn = event.function
    lam.release(fn)
    if outcome.ok:
        event.move(SUCCEEDED)
        target = fn.destination("OnSuccess")
        if target:
            _deliver(lam, fn, target, _record(lam, event, outcome, "Success", now))
        return
    if event.attempts <= fn.max_retries:
        due = now + limits.LAMBDA_ASYNC_RETRY_DELAYS[event.attempts - 1]
        if due - event.enqueued_at > fn.max_event_age:
            event.move(EXPIRED)
            _dead(lam, event, outcome, "EventAgeExceeded", now)
        else:
            lam.async_queue.requeue(event, due)
        return
    event.move(RETRIES_EXHAUSTED)
    _dead(lam, event, outcome, "RetriesExhausted", now)


def defer_event(lam: LambdaState, event: AsyncEvent, now: float) -> None:
    """A started event that could not run (its function's workers are gone): as Lambda does
    with a throttled event, it goes back to the queue without counting as an attempt, retried
    after a back-off (1 s, growing with its age, at most
    ``LAMBDA_ASYNC_NO_WORKER_RETRY_MAX``) until MaximumEventAgeInSeconds."""
    fn = event.function
    lam.release(fn)
    fn.metrics.throttles += 1
    event.attempts -= 1
    age = now - event.enqueued_at
    due = now + min(limits.LAMBDA_ASYNC_NO_WORKER_RETRY_MAX, max(1.0, age))
    if due - event.enqueued_at > fn.max_event_age:
        event.move(EXPIRED)
        _dead(lam, event, None, "EventAgeExceeded", now)
    else:
        lam.async_queue.requeue(event, due)


def _dead(
    lam: LambdaState, event: AsyncEvent, outcome: Outcome | None, condition: str, now: float
) -> None:
    """An async event failed for good: OnFailure destination and/or dead-letter queue."""
    fn = event.function
    target = fn.destination("OnFailure")
    if target:
        _deliver(lam, fn, target, _record(lam, event, outcome, condition, now))
    dlq = (fn.config.get("DeadLetterConfig") or {}).get("TargetArn")
    if dlq:
        fn.metrics.dead_lettered += 1
        if outcome is not None:
            error = outcome.error_message
        elif condition == "EventAgeExceeded":
            error = "Event age exceeded"
        else:
            error = "Rate Exceeded. Reason: ReservedFunctionConcurrentInvocationLimitExceeded"
        code = "200" if outcome is not None else "429"
        lam.outbox.append(
            Delivery(
                dlq,
                json.dumps(event.payload),
                fn.arn,
                {
                    "RequestID": {"DataType": "String", "StringValue": event.request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": code},
                    "ErrorMessage": {
                        "DataType": "String",
                        "StringValue": (error or "Unhandled")[:1024],
                    },
                },
            )
        )
    if not target and not dlq:
        fn.metrics.async_events_dropped += 1


def _deliver(lam: LambdaState, fn: Function, target: str, record: dict[str, Any]) -> None:
    lam.outbox.append(Delivery(target, json.dumps(record), fn.arn))


def _record(
    lam: LambdaState, event: AsyncEvent, outcome: Outcome | None, condition: str, now: float
) -> dict[str, Any]:
    """The invocation record Lambda sends to an async destination."""
    fn = event.function
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_z(lam.epoch, now),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": f"{fn.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": event.payload,
    }
    if outcome is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not outcome.ok:
            context["functionError"] = "Unhandled"
            record["responsePayload"] = outcome.error_payload()
        else:
            record["responsePayload"] = outcome.payload
        record["responseContext"] = context
    return record
