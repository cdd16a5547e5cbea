"""Remote execution environments: a function's handler running in another process.

In the manner of Lambda's runtime API, a *worker* serves a function by name: it takes
invocations, runs the handler and answers with a result or an error. An adapter (the TCP
server) attaches a :class:`Worker` to the broker; while a function has workers attached, the
runner hands each of its invocations to one of them instead of running a handler itself. The
broker still decides everything else exactly as for an in-process handler: concurrency,
the Timeout, retries, destinations, mappings.

- Several workers for one function share its invocations (the least busy free one takes each).
- A worker that is not keeping up (its connection has more unsent bytes than the outbound
  limit: it stopped reading) takes no invocation until it has caught up; they wait, or go to
  another worker of the function. The adapter says so with :meth:`WorkerPool.ready`.
- An invocation waits for a worker with free capacity; that wait counts toward its Timeout.
- A worker that goes away mid-invocation makes that invocation fail (``Runtime.ExitError``, as
  when a Lambda runtime process exits): async retries, a mapping's retries and OnFailure
  destinations then apply, so no event is lost.

A request handed to a worker and its reply are plain maps (they travel over the TCP protocol):

- request: ``{"event": <the event>, "context": <LambdaContext.fields()>, "timeout": seconds,
  "remaining_ms": int, "wall": <broker wall time at start>}``
- reply: ``{"status": "ok" | "error" | "timeout", "raw": <JSON bytes of the result> | None,
  "error_type", "error_message", "stack_trace": [str], "log": <what the handler wrote>}``
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from ..params import parse_json, safe_repr
from .outcome import FUNCTION_ERROR, OK, TIMEOUT, Outcome


class WorkerLost(Exception):
    """The worker went away before answering (its connection closed)."""


class Worker(Protocol):
    async def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one invocation; raise :class:`WorkerLost` if the worker goes away first."""
        ...

    def congested(self) -> bool:
        """Whether the worker cannot take an invocation now (what was sent to it is unread)."""
        ...


class _Slot:
    __slots__ = ("busy", "capacity", "worker")

    def __init__(self, worker: Worker, capacity: int | None) -> None:
        self.worker = worker
        self.capacity = capacity  # invocations at once; None: no limit of its own
        self.busy = 0

    def free(self) -> bool:
        if self.capacity is not None and self.busy >= self.capacity:
            return False
        return not self.worker.congested()


class WorkerPool:
    """The workers serving one function name."""

    def __init__(self) -> None:
        self.slots: list[_Slot] = []
        self._freed = trio.lowlevel.ParkingLot()

    def __bool__(self) -> bool:
        return bool(self.slots)

    def attach(self, worker: Worker, capacity: int | None) -> _Slot:
        slot = _Slot(worker, capacity)
        self.slots.append(slot)
        self._freed.unpark_all()
        return slot

    def detach(self, slot: _Slot) -> None:
        if slot in self.slots:
            self.slots.remove(slot)
        self._freed.unpark_all()  # waiters re-check: the pool may be empty now

    def ready(self) -> None:
        """A congested worker caught up: invocations waiting for a worker look again."""
        self._freed.unpark_all()

    async def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        """Hand ``request`` to the least busy worker with free capacity, waiting for one."""
        while True:
            if not self.slots:
                raise WorkerLost("no worker serves this function any more")
            free = [s for s in self.slots if s.free()]
            if free:
                slot = min(free, key=lambda s: s.busy)
                break
            await self._freed.park()
        slot.busy += 1
        try:
            return await slot.worker.invoke(request)
        finally:
            slot.busy -= 1
            self._freed.unpark(count=1)


def reply_from_outcome(outcome: Outcome, log: str) -> dict[str, Any]:
    """A worker's reply for what its handler came to."""
    return {
        "status": outcome.status,
        "raw": outcome.raw,
        "error_type": outcome.error_type,
        "error_message": outcome.error_message,
        "stack_trace": outcome.stack_trace,
        "log": log,
    }


def outcome_from_reply(reply: Any) -> tuple[Outcome, str]:
    """The outcome a worker reported, and its log text. A reply that is not well formed (a
    worker is a client like any other) is a function error, never an exception here."""
    if not isinstance(reply, dict):
        return _bad_reply("the reply is not a map"), ""
    log = reply.get("log")
    log = log if isinstance(log, str) else ""
    status = reply.get("status")
    if status == OK:
        raw = reply.get("raw")
        if not isinstance(raw, bytes):
            return _bad_reply("an ok reply carries no raw JSON bytes"), log
        try:
            parse_json(raw)  # strictly: JSON has no NaN, and a 100,000-deep nesting is refused
        except (ValueError, UnicodeDecodeError):
            return Outcome(
                FUNCTION_ERROR,
                error_type="Runtime.MarshalError",
                error_message="Unable to marshal response: the worker's result is not JSON",
            ), log
        return Outcome(OK, raw=raw), log
    if status in (FUNCTION_ERROR, TIMEOUT):
        stack = reply.get("stack_trace")
        return Outcome(
            status,
            error_type=str(reply.get("error_type") or "Unhandled"),
            error_message=str(reply.get("error_message") or ""),
            stack_trace=[str(line) for line in stack] if isinstance(stack, list) else [],
        ), log
    return _bad_reply(f"unknown status {safe_repr(status, 100)}"), log


def _bad_reply(why: str) -> Outcome:
    return Outcome(
        FUNCTION_ERROR,
        error_type="Runtime.InvalidResponse",
        error_message=f"The worker's reply is not valid: {why}.",
    )
