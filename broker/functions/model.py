"""The sans-IO state of Lambda-style functions: configuration, concurrency, execution
environments, the per-function queue of asynchronous events, and metrics.

Nothing here runs a handler, awaits or reads a clock: methods take ``now``. The runtime
(:mod:`msgsim.broker.functions.runner`) runs handlers and reports each :class:`~.outcome.Outcome` back.

Concurrency follows Lambda: an account limit (ConcurrentExecutions, 1,000 by default) shared by
every function without reserved concurrency; a function with reserved concurrency N can run at
most N at once and those N are set aside from the shared pool, which must keep at least 100.

Execution environments follow Lambda's reuse model: an invocation takes an idle (warm)
environment of its function if there is one, else it creates a new one (a cold start, with the
configured cold-start delay). An environment idle for longer than the reap interval is gone.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from .. import limits
from .outcome import Outcome

# -- the life of an asynchronous event (InvocationType=Event, SNS, destinations) -------------------
QUEUED = "QUEUED"  # waiting in the function's internal queue until its due time
WAITING = "WAITING"  # due, but the function has no concurrency free: waits for a run to end
RUNNING = "RUNNING"  # a handler is running it
SUCCEEDED = "SUCCEEDED"  # a run succeeded (OnSuccess destination, if any)
RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"  # the last allowed attempt failed (OnFailure / DLQ)
EXPIRED = "EXPIRED"  # older than MaximumEventAgeInSeconds before it could run (OnFailure / DLQ)
DROPPED = "DROPPED"  # the function was deleted with the event still queued

#: Allowed moves of an async event. Terminal states have no way out.
EVENT_TRANSITIONS: dict[str, frozenset[str]] = {
    # QUEUED -> RETRIES_EXHAUSTED: reserved concurrency 0 allows no attempt at all.
    QUEUED: frozenset({RUNNING, WAITING, EXPIRED, RETRIES_EXHAUSTED, DROPPED}),
    WAITING: frozenset({QUEUED, EXPIRED, DROPPED}),
    RUNNING: frozenset({QUEUED, SUCCEEDED, RETRIES_EXHAUSTED, EXPIRED}),
    SUCCEEDED: frozenset(),
    RETRIES_EXHAUSTED: frozenset(),
    EXPIRED: frozenset(),
    DROPPED: frozenset(),
}


class IllegalEventTransition(RuntimeError):
    """An async event was asked to make a move its lifecycle table does not allow (a defect)."""


class AsyncEvent:
    """One event in a function's internal queue."""

    __slots__ = (
        "attempts",
        "due",
        "enqueued_at",
        "function",
        "payload",
        "request_id",
        "seq",
        "state",
        "throttles",
    )

    def __init__(
        self, function: Function, payload: Any, request_id: str, now: float, seq: int
    ) -> None:
        self.function = function
        self.payload = payload  # the decoded JSON event
        self.request_id = request_id
        self.enqueued_at = now
        self.due = now
        self.seq = seq
        self.attempts = 0  # handler runs so far (throttles are not attempts)
        self.throttles = 0
        self.state = QUEUED

    def move(self, new_state: str) -> None:
        if new_state not in EVENT_TRANSITIONS[self.state]:
            raise IllegalEventTransition(
                f"async event {self.request_id}: {self.state} -> {new_state}"
            )
        self.state = new_state

    def __lt__(self, other: AsyncEvent) -> bool:  # heap order: due time, then arrival
        return (self.due, self.seq) < (other.due, other.seq)


class Metrics:
    """Per-function counters, as CloudWatch would show them (plus a few msgsim extras)."""

    __slots__ = (
        "async_events_dropped",
        "async_events_received",
        "cold_starts",
        "concurrent_executions",
        "dead_lettered",
        "destination_deliveries",
        "destination_failures",
        "duration_max",
        "duration_total",
        "errors",
        "invocations",
        "max_concurrent_executions",
        "max_event_age",
        "throttles",
        "timeouts",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)
        self.duration_total = 0.0
        self.duration_max = 0.0
        self.max_event_age = 0.0

    def as_dict(self) -> dict[str, Any]:
        n = self.invocations
        return {
            "Invocations": self.invocations,
            "Errors": self.errors,
            "Timeouts": self.timeouts,
            "Throttles": self.throttles,
            "DurationAverageMs": round(self.duration_total * 1000 / n, 3) if n else 0.0,
            "DurationMaxMs": round(self.duration_max * 1000, 3),
            "ConcurrentExecutions": self.concurrent_executions,
            "MaxConcurrentExecutions": self.max_concurrent_executions,
            "ColdStarts": self.cold_starts,
            "AsyncEventsReceived": self.async_events_received,
            "AsyncEventsDropped": self.async_events_dropped,
            "AsyncEventAgeMaxMs": round(self.max_event_age * 1000, 3),
            "DeadLetteredEvents": self.dead_lettered,
            "DestinationDeliveries": self.destination_deliveries,
            "DestinationDeliveryFailures": self.destination_failures,
        }


class Function:
    """One function ($LATEST only: versions and aliases are not modelled)."""

    def __init__(self, name: str, arn: str, config: dict[str, Any], handler: Any) -> None:
        self.name = name
        self.arn = arn
        #: FunctionConfiguration as GetFunction shows it (kept current by the service).
        self.config = config
        #: The handler: a callable, or an import string resolved by the runtime on first use.
        self.handler = handler
        self.resolved: Any = None
        self.reserved: int | None = None  # ReservedConcurrentExecutions
        self.event_invoke_config: dict[str, Any] | None = None
        self.event_invoke_modified = 0.0  # LastModified of the event invoke config (epoch s)
        self.tags: dict[str, str] = {}
        self.running = 0  # handlers running now (concurrency in use)
        #: Async events due but waiting for a free unit of concurrency, in order.
        self.waiting: deque[AsyncEvent] = deque()
        self.metrics = Metrics()
        self.deleted = False
        # Execution environments: idle ones as (idle since, environment id), most recent last.
        self.idle_envs: deque[tuple[float, int]] = deque()
        self.env_count = 0
        # Recent invocations with their captured logs (newest last), for ListFunctionInvocations.
        self.recent: deque[dict[str, Any]] = deque(maxlen=100)

    @property
    def timeout(self) -> int:
        return self.config["Timeout"]

    @property
    def max_retries(self) -> int:
        cfg = self.event_invoke_config
        if cfg is None or "MaximumRetryAttempts" not in cfg:
            return limits.LAMBDA_ASYNC_RETRY_ATTEMPTS_DEFAULT
        return cfg["MaximumRetryAttempts"]

    @property
    def max_event_age(self) -> int:
        cfg = self.event_invoke_config
        if cfg is None or "MaximumEventAgeInSeconds" not in cfg:
            return limits.LAMBDA_EVENT_AGE_DEFAULT
        return cfg["MaximumEventAgeInSeconds"]

    def destination(self, condition: str) -> str | None:
        """The OnSuccess or OnFailure destination ARN of the async invoke config."""
        cfg = self.event_invoke_config
        if not cfg:
            return None
        dest = cfg.get("DestinationConfig", {}).get(condition, {})
        return dest.get("Destination")

    # -- execution environments -------------------------------------------------------------
    def take_environment(self, now: float, reap_after: float) -> tuple[int, bool]:
        """An environment for one invocation: (id, cold). Reaps environments idle too long."""
        idle = self.idle_envs
        while idle and idle[0][0] + reap_after <= now:
            idle.popleft()
        if idle:
            return idle.pop()[1], False
        self.env_count += 1
        return self.env_count, True

    def release_environment(self, env_id: int, now: float) -> None:
        self.idle_envs.append((now, env_id))

    def record(self, outcome: Outcome) -> None:
        m = self.metrics
        m.invocations += 1
        if outcome.failed:
            m.errors += 1
            if outcome.status == "timeout":
                m.timeouts += 1
        m.duration_total += outcome.duration
        if outcome.duration > m.duration_max:
            m.duration_max = outcome.duration


class AsyncQueue:
    """Every function's queued async events, by due time (one heap for the account: the runtime
    has one dispatcher), and the events waiting for concurrency, by the time they expire.
    Events of a deleted function are dropped lazily."""

    def __init__(self) -> None:
        self._heap: list[AsyncEvent] = []
        #: (expires at, tie-break, event) for WAITING events; stale entries are skipped.
        self._expiry: list[tuple[float, int, AsyncEvent]] = []
        #: Functions with events in their ``waiting`` line, in the order they began waiting.
        self.waiting_functions: dict[Function, None] = {}
        self._seq = 0
        self.queued = 0

    def __len__(self) -> int:
        return self.queued

    def push(self, function: Function, payload: Any, request_id: str, now: float) -> AsyncEvent:
        self._seq += 1
        event = AsyncEvent(function, payload, request_id, now, self._seq)
        heapq.heappush(self._heap, event)
        self.queued += 1
        function.metrics.async_events_received += 1
        return event

    def requeue(self, event: AsyncEvent, due: float) -> None:
        event.move(QUEUED)
        event.due = due
        self._seq += 1
        event.seq = self._seq
        heapq.heappush(self._heap, event)
        self.queued += 1

    def count(self, function: Function) -> int:
        """Events of ``function`` queued or waiting (O(n): for metrics, not the hot path)."""
        queued = sum(1 for event in self._heap if event.function is function)
        return queued + sum(1 for event in function.waiting if event.state == WAITING)

    def next_due(self) -> float | None:
        """When the dispatcher has something to do: an event due, or a waiting one expiring."""
        expiry = self._expiry
        while expiry and expiry[0][2].state != WAITING:
            heapq.heappop(expiry)
        due = self._heap[0].due if self._heap else None
        if expiry and (due is None or expiry[0][0] < due):
            return expiry[0][0]
        return due

    def pop_due(self, now: float) -> AsyncEvent | None:
        """The next event due by ``now`` (dropping those of deleted functions), or None."""
        heap = self._heap
        while heap and heap[0].due <= now:
            event = heapq.heappop(heap)
            self.queued -= 1
            if event.function.deleted:
                event.move(DROPPED)
                event.function.metrics.async_events_dropped += 1
                continue
            return event
        return None

    def park(self, event: AsyncEvent) -> None:
        """A due event whose function has no concurrency free waits (and ages) in the
        function's ``waiting`` line until a run of the function ends or the event expires."""
        event.move(WAITING)
        function = event.function
        function.waiting.append(event)
        self.waiting_functions[function] = None
        self._seq += 1
        expires = event.enqueued_at + function.max_event_age
        heapq.heappush(self._expiry, (expires, self._seq, event))

    def unpark(self, function: Function, n: int = 1) -> int:
        """Units of ``function``'s concurrency came free: up to ``n`` of its waiting events go
        back to the queue, due as before. How many did. A deleted function's waiting events
        are dropped instead."""
        waiting = function.waiting
        if function.deleted:
            for event in waiting:
                if event.state == WAITING:
                    event.move(DROPPED)
                    function.metrics.async_events_dropped += 1
            waiting.clear()
        done = 0
        while waiting and done < n:
            event = waiting.popleft()
            if event.state == WAITING:  # others expired or were dropped meanwhile
                event.move(QUEUED)
                heapq.heappush(self._heap, event)
                self.queued += 1
                done += 1
        if not waiting:
            self.waiting_functions.pop(function, None)
        return done

    def reschedule_expiry(self, function: Function) -> None:
        """``function``'s MaximumEventAgeInSeconds changed: its waiting events expire by the
        new limit (entries for the old one are skipped when they come up)."""
        for event in function.waiting:
            if event.state == WAITING:
                self._seq += 1
                expires = event.enqueued_at + function.max_event_age
                heapq.heappush(self._expiry, (expires, self._seq, event))

    def pop_expired(self, now: float) -> AsyncEvent | None:
        """A waiting event that has reached MaximumEventAgeInSeconds (or whose function was
        deleted), or None. It is left in its function's ``waiting`` line (skipped there)."""
        expiry = self._expiry
        while expiry:
            expires, _, event = expiry[0]
            if event.state != WAITING:
                heapq.heappop(expiry)
                continue
            if expires > now and not event.function.deleted:
                return None
            heapq.heappop(expiry)
            actual = event.enqueued_at + event.function.max_event_age
            if actual > now and not event.function.deleted:
                # MaximumEventAgeInSeconds grew since it was parked: it expires later.
                self._seq += 1
                heapq.heappush(expiry, (actual, self._seq, event))
                continue
            return event
        return None
