"""Property tests of the sans-IO Lambda cores: the async-event path
(:mod:`~msgsim.broker.functions.async_events` over a
:class:`~msgsim.broker.functions.service.LambdaService`, with :class:`~msgsim.broker.functions.model.AsyncQueue`),
execution environment reuse (:class:`~msgsim.broker.functions.model.Function`) and the life of an
:class:`~msgsim.broker.functions.mappings.EventSourceMapping`.

Plain synchronous tests: no trio, no runtime. ``now`` is driven by the tests, and the runtime's
dispatcher is emulated as ``FunctionRunner.dispatcher`` schedules it: a pass
(``async_events.start_due``) whenever the service was kicked, and at every ``next_due()``.

The account's concurrency cannot be made small (LambdaOptions wants at least 100, and
PutFunctionConcurrency must leave 100 unreserved), so the state machine uses an account of
100 + K and a "hog" function holding most of the shared pool through synchronous invocations
(``acquire``/``release``, as ``FunctionRunner.invoke_sync`` takes them): a few units stay free, K
units may be reserved.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from msgsim.broker import limits
from msgsim.broker.clock import DEFAULT_VIRTUAL_EPOCH, Epoch
from msgsim.broker.errors import InvalidParameterValueException, ResourceInUseException
from msgsim.broker.functions import mappings as m
from msgsim.broker.functions.async_events import finish_event, push_event, start_due
from msgsim.broker.functions.model import (
    DROPPED,
    EVENT_TRANSITIONS,
    EXPIRED,
    QUEUED,
    RETRIES_EXHAUSTED,
    RUNNING,
    SUCCEEDED,
    WAITING,
    AsyncEvent,
    Function,
)
from msgsim.broker.functions.options import LambdaOptions
from msgsim.broker.functions.outcome import FUNCTION_ERROR, OK, TIMEOUT, Outcome
from msgsim.broker.functions.service import LambdaService

REGION = "us-east-1"
ACCOUNT = "000000000000"
SQS = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
SNS = f"arn:aws:sns:{REGION}:{ACCOUNT}:"
NAMES = ["f0", "f1"]
HOG = "hog"
TERMINAL = frozenset(s for s, out in EVENT_TRANSITIONS.items() if not out)
RETRY_DELAYS = limits.LAMBDA_ASYNC_RETRY_DELAYS  # 60 s, then 120 s


def make_service(account_concurrency: int) -> LambdaService:
    """A service built as ``broker/runtime.py`` builds it; every queue and topic exists."""
    return LambdaService(
        rng=random.Random(0),
        epoch=Epoch(wall_at_origin=DEFAULT_VIRTUAL_EPOCH, origin=0.0),
        region=REGION,
        account_id=ACCOUNT,
        options=LambdaOptions(account_concurrency=account_concurrency),
        queue_exists=lambda arn: SimpleNamespace(fifo=False, visibility_timeout=30),
        topic_exists=lambda arn: True,
    )


def dispatch(svc: LambdaService, now: float) -> list[AsyncEvent]:
    """One pass of the runtime's dispatcher (``FunctionRunner.dispatcher`` calls this)."""
    return start_due(svc, now)


def outcome_of(status: str) -> Outcome:
    if status == OK:
        return Outcome(OK, {"done": True}, duration=0.1)
    if status == TIMEOUT:
        return Outcome(
            TIMEOUT, error_type="Sandbox.Timedout", error_message="Task timed out", duration=3.0
        )
    return Outcome(FUNCTION_ERROR, error_type="Boom", error_message="boom", duration=0.1)


def saturated(svc: LambdaService, fn: Function) -> bool:
    """The spec of "no unit of concurrency free" for ``fn`` (written out, not svc.saturated)."""
    if fn.reserved is not None:
        return fn.running >= fn.reserved
    return svc.unreserved_running >= svc.options.account_concurrency - svc.reserved_total


# -- 1. the async path of LambdaService ------------------------------------------------------------

targets = st.sampled_from([None, SQS + "dest", SNS + "dest"])
dead_letter_targets = st.sampled_from([None, SQS + "dlq", SNS + "dlq"])
event_ages = st.one_of(
    st.sampled_from([60, 61, 90, 119, 120, 179, 180, 181, 240, 3600, 21600]),
    st.integers(limits.LAMBDA_EVENT_AGE_MIN, limits.LAMBDA_EVENT_AGE_MAX),
)
event_invoke_configs = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "MaximumRetryAttempts": st.integers(0, limits.LAMBDA_ASYNC_RETRY_ATTEMPTS_MAX),
            "MaximumEventAgeInSeconds": event_ages,
            "OnSuccess": targets,
            "OnFailure": targets,
        },
    ),
)
reservations = st.one_of(st.none(), st.integers(0, 3))
time_steps = st.sampled_from(
    [0.0, 0.5, 1.0, 30.0, 59.0, 60.0, 61.0, 119.0, 120.0, 121.0, 600.0, 3600.0, 21600.0]
)


def eic_params(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    p: dict[str, Any] = {"FunctionName": name}
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key in cfg:
            p[key] = cfg[key]
    if "OnSuccess" in cfg or "OnFailure" in cfg:
        p["DestinationConfig"] = {
            key: ({"Destination": cfg[key]} if cfg.get(key) else {})
            for key in ("OnSuccess", "OnFailure")
        }
    return p


@dataclass
class Tracked:
    event: AsyncEvent
    state: str  # the state last seen
    #: The highest MaximumRetryAttempts in effect for its function while it was alive.
    retries_bound: int
    #: The outcome of the run that ended it (None when it ended without running).
    outcome: Outcome | None = None


class AsyncPathMachine(RuleBasedStateMachine):
    """LambdaService's async path against a model of AWS's documented behaviour.

    The runtime is emulated as FunctionRunner schedules it: after anything that kicked the
    service (an event pushed, a unit released, a configuration change) the dispatcher runs at
    once, again while it kicks itself; otherwise it wakes at ``AsyncQueue.next_due()``, and time
    only moves through those wake-ups.
    """

    @initialize(
        spare=st.integers(0, 4),
        headroom=st.integers(0, 2),
        functions=st.lists(
            st.tuples(dead_letter_targets, event_invoke_configs, reservations),
            min_size=len(NAMES),
            max_size=len(NAMES),
        ),
    )
    def setup(self, spare: int, headroom: int, functions: list[tuple[Any, ...]]) -> None:
        self.spare = spare  # how much concurrency may be reserved
        self.account = limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN + spare
        self.svc = make_service(self.account)
        self.now = 0.0
        self.events: dict[str, Tracked] = {}
        self.running: dict[str, AsyncEvent] = {}
        self.payloads = 0
        self.op("CreateFunction", FunctionName=HOG, Handler="handlers:hog")
        self.hog = self.svc.functions[HOG]
        self.every_function: list[Function] = [self.hog]  # deleted ones too
        #: Units held by synchronous invocations (the hog's, and any function's).
        self.sync: list[Function] = []
        for _ in range(self.account - headroom):
            assert self.svc.acquire(self.hog) is None
            self.sync.append(self.hog)
        for name, (dlq, cfg, reserved) in zip(NAMES, functions, strict=True):
            self.create_function(name, dlq, cfg, reserved)

    # -- helpers ----------------------------------------------------------------------------------
    def op(self, name: str, **params: Any) -> Any:
        out = self.svc.operations[name](params, self.now)
        self.settle()
        return out

    def live(self, name: str) -> Function | None:
        return self.svc.functions.get(name)

    def settle(self) -> None:
        """FunctionRunner.after_call: a kicked dispatcher runs at once."""
        if self.svc.kicked:
            self.wake()

    def wake(self) -> None:
        """The dispatcher, woken at ``now``: passes until it would sleep, i.e. until it has not
        kicked itself (an event handed a unit expired instead of running) and nothing is due
        by now (an event parked at the very moment it reaches its maximum age expires in the
        next pass). It must get there in a few passes."""
        for _ in range(10):
            self.run_dispatcher()
            due = self.svc.async_queue.next_due()
            if not self.svc.kicked and (due is None or due > self.now):
                self.check_dispatched()
                return
        raise AssertionError("the dispatcher spins")

    def run_dispatcher(self) -> None:
        """One pass."""
        svc = self.svc
        svc.kicked = False
        before = {rid: t.event.attempts for rid, t in self.events.items()}
        started = dispatch(svc, self.now)
        for event in started:
            self.check_started(event, before[event.request_id])
        assert len({e.request_id for e in started}) == len(started)

    def check_started(self, event: AsyncEvent, attempts_before: int) -> None:
        """A run may start only within the function's and the account's limits, never with
        reserved concurrency 0, never past the event's maximum age, never beyond the retries.
        (Checked after the pass: a pass only takes units, so the end is its fullest moment.)"""
        svc, fn = self.svc, event.function
        tracked = self.events[event.request_id]
        assert event.state == RUNNING
        assert event.request_id not in self.running
        assert not fn.deleted
        assert fn.reserved != 0
        if fn.reserved is not None:
            assert fn.running <= fn.reserved
        else:
            assert svc.unreserved_running <= svc.unreserved_pool
        assert self.now - event.enqueued_at <= fn.max_event_age
        assert self.now >= event.due
        assert event.attempts == attempts_before + 1
        assert event.attempts <= tracked.retries_bound + 1
        self.running[event.request_id] = event

    def check_dispatched(self) -> None:
        """When the dispatcher sleeps at ``now``: nothing due is left queued, no waiting event
        has reached its maximum age, and its next wake-up is later."""
        now = self.now
        for tracked in self.events.values():
            event = tracked.event
            if event.state == QUEUED:
                assert event.due > now, "a due event was left in the queue"
            elif event.state == WAITING:
                age = now - event.enqueued_at
                assert age < event.function.max_event_age, "a waiting event outlived its age"
        due = self.svc.async_queue.next_due()
        assert due is None or due > now

    # -- functions and their configuration --------------------------------------------------------
    @rule(
        name=st.sampled_from(NAMES),
        dlq=dead_letter_targets,
        cfg=event_invoke_configs,
        reserved=reservations,
    )
    def create_function(
        self, name: str, dlq: str | None, cfg: dict[str, Any] | None, reserved: int | None
    ) -> None:
        if self.live(name) is not None:
            return
        params: dict[str, Any] = {"FunctionName": name, "Handler": "handlers:fn"}
        if dlq:
            params["DeadLetterConfig"] = {"TargetArn": dlq}
        self.op("CreateFunction", **params)
        self.every_function.append(self.svc.functions[name])
        if cfg is not None:
            self.op("PutFunctionEventInvokeConfig", **eic_params(name, cfg))
        if reserved is not None:
            self.put_concurrency(name, reserved)

    @rule(name=st.sampled_from(NAMES), value=st.integers(0, 3))
    def put_concurrency(self, name: str, value: int) -> None:
        fn = self.live(name)
        if fn is None:
            return
        others = self.svc.reserved_total - (fn.reserved or 0)
        allowed = self.account - others - value >= limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN
        try:
            self.op("PutFunctionConcurrency", FunctionName=name, ReservedConcurrentExecutions=value)
        except InvalidParameterValueException:
            assert not allowed
            return
        assert allowed
        assert fn.reserved == value

    @rule(name=st.sampled_from(NAMES))
    def delete_concurrency(self, name: str) -> None:
        fn = self.live(name)
        if fn is None:
            return
        self.op("DeleteFunctionConcurrency", FunctionName=name)
        assert fn.reserved is None

    @rule(name=st.sampled_from(NAMES), cfg=event_invoke_configs)
    def put_event_invoke_config(self, name: str, cfg: dict[str, Any] | None) -> None:
        fn = self.live(name)
        if fn is None:
            return
        if cfg is None:
            if fn.event_invoke_config is not None:
                self.op("DeleteFunctionEventInvokeConfig", FunctionName=name)
        else:
            self.op("PutFunctionEventInvokeConfig", **eic_params(name, cfg))
        for tracked in self.events.values():
            if tracked.event.function is fn:
                tracked.retries_bound = max(tracked.retries_bound, fn.max_retries)

    @rule(name=st.sampled_from(NAMES), dlq=dead_letter_targets)
    def set_dead_letter_queue(self, name: str, dlq: str | None) -> None:
        if self.live(name) is None:
            return
        self.op(
            "UpdateFunctionConfiguration",
            FunctionName=name,
            DeadLetterConfig={"TargetArn": dlq or ""},
        )

    @rule(name=st.sampled_from(NAMES))
    def delete_function(self, name: str) -> None:
        if self.live(name) is None:
            return
        self.op("DeleteFunction", FunctionName=name)

    # -- events -----------------------------------------------------------------------------------
    @rule(name=st.sampled_from(NAMES), n=st.integers(1, 4))
    def push(self, name: str, n: int) -> None:
        fn = self.live(name)
        if fn is None:
            return
        for _ in range(n):
            self.payloads += 1
            event = push_event(self.svc, fn, {"n": self.payloads}, self.now)
            assert event.state == QUEUED and event.attempts == 0
            assert event.request_id not in self.events
            self.events[event.request_id] = Tracked(event, QUEUED, fn.max_retries)
        self.settle()

    @rule(dt=time_steps)
    def advance(self, dt: float) -> None:
        """Time passes: the dispatcher wakes at every ``next_due`` on the way."""
        target = self.now + dt
        while (due := self.svc.async_queue.next_due()) is not None and due <= target:
            assert due > self.now
            self.now = due
            self.wake()
        self.now = target

    @rule()
    def spurious_wakeup(self) -> None:
        """A dispatcher pass with nothing due (as it sleeps) changes nothing."""
        before = {rid: t.event.state for rid, t in self.events.items()}
        self.run_dispatcher()
        assert {rid: t.event.state for rid, t in self.events.items()} == before
        assert not self.svc.outbox and not self.svc.kicked

    @precondition(lambda self: self.running)
    @rule(data=st.data(), status=st.sampled_from([OK, FUNCTION_ERROR, TIMEOUT]))
    def finish(self, data: st.DataObject, status: str) -> None:
        rid = data.draw(st.sampled_from(sorted(self.running)))
        event = self.running.pop(rid)
        fn = event.function
        attempts, retries, age = event.attempts, fn.max_retries, fn.max_event_age
        outcome = outcome_of(status)
        finish_event(self.svc, event, outcome, self.now)
        # AWS: success ends it; a failure is retried after 60 s then 120 s while retries remain
        # (an event that would be too old by then fails for good); then it is exhausted.
        if status == OK:
            assert event.state == SUCCEEDED
        elif attempts <= retries:
            due = self.now + RETRY_DELAYS[attempts - 1]
            if due - event.enqueued_at > age:
                assert event.state == EXPIRED
            else:
                assert event.state == QUEUED and event.due == due
        else:
            assert event.state == RETRIES_EXHAUSTED
        if event.state in TERMINAL:
            self.events[rid].outcome = outcome
        self.settle()

    # -- synchronous invocations (Invoke RequestResponse, pollers) sharing the concurrency --------
    @rule(name=st.sampled_from([HOG, *NAMES]))
    def sync_acquire(self, name: str) -> None:
        fn = self.live(name)
        if fn is None:
            return
        full = saturated(self.svc, fn)
        reason = self.svc.acquire(fn)
        assert (reason is not None) == full
        if reason is None:
            self.sync.append(fn)
            if fn.reserved is not None:
                assert fn.running <= fn.reserved
            else:
                assert self.svc.unreserved_running <= self.svc.unreserved_pool

    @precondition(lambda self: self.sync)
    @rule(data=st.data())
    def sync_release(self, data: st.DataObject) -> None:
        fn = self.sync.pop(data.draw(st.integers(0, len(self.sync) - 1)))
        self.svc.release(fn)
        self.settle()

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def events_follow_their_lifecycle(self) -> None:
        svc = self.svc
        expected: list[tuple[Any, ...]] = []
        for rid, tracked in self.events.items():
            event = tracked.event
            assert event.state in EVENT_TRANSITIONS
            if tracked.state in TERMINAL:
                assert event.state == tracked.state, f"{rid} left {tracked.state}"
                continue
            assert event.attempts <= tracked.retries_bound + 1
            assert (event.state == RUNNING) == (rid in self.running)
            if event.state == WAITING:
                assert sum(e is event for e in event.function.waiting) == 1
            if event.state == DROPPED:
                assert event.function.deleted
            if event.state in TERMINAL:
                expected.extend(self.expected_deliveries(tracked))
            tracked.state = event.state
        actual = [self.parse_delivery(d) for d in svc.outbox]
        svc.outbox.clear()
        assert Counter(actual) == Counter(expected)

    def expected_deliveries(self, tracked: Tracked) -> list[tuple[Any, ...]]:
        """What AWS sends when an event ends: OnSuccess for a success; OnFailure and the
        dead-letter queue (each once, when configured) for an exhausted or expired event."""
        event, outcome = tracked.event, tracked.outcome
        fn = event.function
        rid = event.request_id
        out: list[tuple[Any, ...]] = []
        ran = outcome is not None
        if event.state == SUCCEEDED:
            target = fn.destination("OnSuccess")
            if target:
                out.append(("record", target, rid, "Success", event.attempts, ran))
            return out
        if event.state == DROPPED:
            return out
        condition = "RetriesExhausted" if event.state == RETRIES_EXHAUSTED else "EventAgeExceeded"
        target = fn.destination("OnFailure")
        if target:
            out.append(("record", target, rid, condition, event.attempts, ran))
        dlq = (fn.config.get("DeadLetterConfig") or {}).get("TargetArn")
        if dlq:
            out.append(("dlq", dlq, rid, "200" if ran else "429", json.dumps(event.payload)))
        return out

    def parse_delivery(self, d: Any) -> tuple[Any, ...]:
        if d.attributes is not None:
            a = d.attributes
            rid = a["RequestID"]["StringValue"]
            return ("dlq", d.target, rid, a["ErrorCode"]["StringValue"], d.body)
        record = json.loads(d.body)
        ctx = record["requestContext"]
        fn = self.events[ctx["requestId"]].event.function
        assert ctx["functionArn"] == f"{fn.arn}:$LATEST"
        assert d.source == fn.arn
        ran = "responseContext" in record
        assert ran == ("responsePayload" in record)
        count = ctx["approximateInvokeCount"]
        return ("record", d.target, ctx["requestId"], ctx["condition"], count, ran)

    @invariant()
    def no_event_waits_in_vain(self) -> None:
        """An event waits only while its (live) function has no unit free, and with reserved
        concurrency 0 none waits at all (it fails for good at once, as AWS documents)."""
        for tracked in self.events.values():
            event = tracked.event
            if event.state == WAITING:
                fn = event.function
                assert not fn.deleted, "a deleted function's event is still waiting"
                assert fn.reserved != 0, "an event waits for reserved concurrency 0"
                assert saturated(self.svc, fn), "an event waits while its function has room"

    @invariant()
    def concurrency_is_accounted(self) -> None:
        svc = self.svc
        per_function = Counter(id(e.function) for e in self.running.values())
        per_function.update(id(fn) for fn in self.sync)
        for fn in self.every_function:
            assert fn.running == per_function[id(fn)]
        assert svc.unreserved_running == sum(
            fn.running for fn in self.every_function if fn.reserved is None
        )
        assert svc.reserved_total == sum(fn.reserved or 0 for fn in svc.functions.values())
        assert svc.reserved_total <= self.spare

    @invariant()
    def queue_agrees_with_the_model(self) -> None:
        queue = self.svc.async_queue
        alive = [t.event for t in self.events.values() if t.event.state in (QUEUED, WAITING)]
        queued = [e for e in alive if e.state == QUEUED]
        assert len(queue) == len(queued)
        for fn in self.every_function:
            assert queue.count(fn) == sum(e.function is fn for e in alive)
        due = queue.next_due()
        if not alive:
            assert due is None
        else:
            # The dispatcher must wake in time for the next due event and the next expiry.
            deadlines = [e.due for e in queued]
            deadlines += [
                e.enqueued_at + e.function.max_event_age for e in alive if e.state == WAITING
            ]
            assert due is not None and due <= min(deadlines)


AsyncPathMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_async_path = AsyncPathMachine.TestCase


# Regression tests for defects the machine found at commit 1e45138, each the smallest case.


def two_events_for_one_unit(svc: LambdaService, **create: Any) -> tuple[Any, Any]:
    """Function ``f`` (CreateFunction takes ``create`` too) with a reserved concurrency of 1,
    and two asynchronous events pushed for it at 0 s."""
    svc.operations["CreateFunction"]({"FunctionName": "f", "Handler": "h:f", **create}, 0.0)
    svc.operations["PutFunctionConcurrency"](
        {"FunctionName": "f", "ReservedConcurrentExecutions": 1}, 0.0
    )
    fn = svc.functions["f"]
    return push_event(svc, fn, {}, 0.0), push_event(svc, fn, {}, 0.0)


def test_waiting_event_starts_after_a_release() -> None:
    """A waiting event starts at the first dispatch after a run of its function ends."""
    svc = make_service(101)
    first, second = two_events_for_one_unit(svc)
    assert dispatch(svc, 0.0) == [first]
    assert second.state == WAITING
    finish_event(svc, first, outcome_of(OK), 5.0)
    assert svc.kicked
    assert dispatch(svc, 5.0) == [second]


def fill_shared_pool(svc: LambdaService, *names: str) -> list[Function]:
    """Functions ``hog`` and ``names``; synchronous runs of ``hog`` take every shared unit."""
    for name in ("hog", *names):
        svc.operations["CreateFunction"]({"FunctionName": name, "Handler": "h:f"}, 0.0)
    hog = svc.functions["hog"]
    while svc.acquire(hog) is None:
        pass
    return [svc.functions[name] for name in ("hog", *names)]


def test_waiting_event_starts_when_a_reservation_frees_concurrency() -> None:
    """Concurrency freed by PutFunctionConcurrency (likewise DeleteFunctionConcurrency, or
    DeleteFunction returning a reservation to the pool) wakes the waiting events it lets run.
    (At 1e45138 only a run ending woke them: this event waited 6 h with a free unit, then
    expired never having run.)"""
    svc = make_service(101)
    _, fn = fill_shared_pool(svc, "f")
    event = push_event(svc, fn, {}, 0.0)
    assert dispatch(svc, 0.0) == [] and event.state == WAITING
    svc.kicked = False
    # f gets a unit of its own: AWS's poller would now run the event.
    svc.operations["PutFunctionConcurrency"](
        {"FunctionName": "f", "ReservedConcurrentExecutions": 1}, 1.0
    )
    assert fn.running == 0 and fn.reserved == 1
    # The runtime's dispatcher is woken (kicked, or due now) and starts it.
    assert svc.kicked or (svc.async_queue.next_due() or math.inf) <= 1.0
    assert dispatch(svc, 1.0) == [event]


def test_waiting_event_expires_at_a_lowered_maximum_age() -> None:
    """Lowering MaximumEventAgeInSeconds applies to events already waiting. (At 1e45138 a
    waiting event kept the expiry computed when it was parked: next_due said 21600 and the
    event was still WAITING at 61 s.)"""
    svc = make_service(101)
    first, second = two_events_for_one_unit(svc)
    assert dispatch(svc, 0.0) == [first] and second.state == WAITING
    svc.operations["PutFunctionEventInvokeConfig"](
        {"FunctionName": "f", "MaximumEventAgeInSeconds": 60}, 1.0
    )
    # The dispatcher wakes by the new limit, and the event fails for good there.
    assert svc.async_queue.next_due() == 60.0
    dispatch(svc, 60.0)
    assert second.state == EXPIRED and second.attempts == 0


def test_unit_freed_for_a_deleted_functions_event_goes_to_a_live_one() -> None:
    """A freed shared unit goes to a live function's waiting event. (At 1e45138, since 4e5aafa
    handed a freed unit to one waiting event, DeleteFunction left the function among the
    waiting ones: the unit went to its event, which was then dropped, and the live function's
    event kept waiting with the unit free.)"""
    svc = make_service(100)
    hog, gone, live = fill_shared_pool(svc, "gone", "live")
    dropped, waiting = push_event(svc, gone, {}, 0.0), push_event(svc, live, {}, 0.0)
    assert dispatch(svc, 0.0) == []
    assert (dropped.state, waiting.state) == (WAITING, WAITING)
    svc.kicked = False
    svc.operations["DeleteFunction"]({"FunctionName": "gone"}, 1.0)
    if svc.kicked:  # the runtime's dispatcher runs only when kicked (or due)
        dispatch(svc, 1.0)
    svc.release(hog)  # a synchronous run ends: one shared unit is free
    assert svc.kicked
    assert dispatch(svc, 1.0) == [waiting]
    assert dropped.state == DROPPED


def test_waiting_events_fail_at_once_when_reserved_concurrency_becomes_0() -> None:
    """Reserved concurrency 0 sends events to the dead-letter queue at once, without running
    them (AWS); events already waiting too. (At 1e45138 they kept waiting, to expire 6 h later
    as EventAgeExceeded.)"""
    svc = make_service(101)
    first, second = two_events_for_one_unit(svc, DeadLetterConfig={"TargetArn": SQS + "dlq"})
    assert dispatch(svc, 0.0) == [first] and second.state == WAITING
    svc.kicked = False
    svc.operations["PutFunctionConcurrency"](
        {"FunctionName": "f", "ReservedConcurrentExecutions": 0}, 1.0
    )
    assert svc.kicked or (svc.async_queue.next_due() or math.inf) <= 1.0
    assert dispatch(svc, 1.0) == []
    assert second.state == RETRIES_EXHAUSTED and second.attempts == 0
    [dead] = svc.outbox
    assert dead.target == SQS + "dlq"
    assert dead.attributes["ErrorCode"]["StringValue"] == "429"


# -- 2. execution environments ---------------------------------------------------------------------

env_steps = st.lists(
    st.tuples(
        st.sampled_from(["take", "take", "release"]),
        st.sampled_from([0.0, 0.0, 1.0, 5.0, 59.0, 60.0, 61.0, 120.0, 600.0]),
        st.integers(0, 7),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=env_steps, reap_after=st.sampled_from([1.0, 60.0, 600.0, math.inf]))
def test_environment_reuse(steps: list[tuple[str, float, int]], reap_after: float) -> None:
    fn = Function("f", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f", {"Timeout": 3}, None)
    now = 0.0
    in_use: list[int] = []
    idle: list[tuple[float, int]] = []  # the model: (idle since, id), released order
    seen: set[int] = set()
    peak = 0
    for kind, dt, pick in steps:
        now += dt
        if kind == "release":
            if not in_use:
                continue
            env = in_use.pop(pick % len(in_use))
            fn.release_environment(env, now)
            idle.append((now, env))
            continue
        idle = [(since, env) for since, env in idle if now - since < reap_after]  # reaped: gone
        env, cold = fn.take_environment(now, reap_after)
        assert env not in in_use, "one environment handed to two invocations"
        if idle:
            since, warm = idle.pop()  # the most recently released warm one
            assert (env, cold) == (warm, False)
            assert now - since < reap_after
        else:
            assert cold and env not in seen, "a cold start must create a new environment"
        seen.add(env)
        in_use.append(env)
        peak = max(peak, len(in_use))
        # Never more environments alive than invocations ever ran at once.
        assert len(in_use) + len(fn.idle_envs) <= peak
        assert fn.env_count == len(seen)
        if reap_after == math.inf:
            assert fn.env_count == peak


# -- 3. event source mapping states ----------------------------------------------------------------

PASSING = {m.CREATING, m.ENABLING, m.DISABLING, m.UPDATING, m.DELETING}


class MappingModel:
    """The documented life of a mapping: passing states last ``delay`` and end on their own."""

    def __init__(self, enabled: bool, delay: float, now: float) -> None:
        self.delay = delay
        self.state, self.target, self.due = m.CREATING, (m.ENABLED if enabled else m.DISABLED), now
        self.due = now + delay
        self.advance(now)

    def advance(self, now: float) -> None:
        if self.target is not None and self.due <= now:
            self.state, self.target = self.target, None

    def passing(self, state: str, target: str, now: float) -> None:
        self.state, self.target, self.due = state, target, now + self.delay
        self.advance(now)

    def update(self, enabled: bool | None, now: float) -> bool:
        """False when AWS refuses (ResourceInUseException: a change is in progress)."""
        if self.state in PASSING:
            return False
        if enabled is True and self.state == m.DISABLED:
            self.passing(m.ENABLING, m.ENABLED, now)
        elif enabled is False and self.state == m.ENABLED:
            self.passing(m.DISABLING, m.DISABLED, now)
        else:
            self.passing(m.UPDATING, self.state, now)
        return True

    def delete(self, now: float) -> None:
        if self.state != m.DELETING:
            self.passing(m.DELETING, m.GONE, now)

    def function_deleted(self) -> None:
        # Documented by EventSourceMapping.function_deleted: the mapping stops at once.
        if self.state in (m.ENABLED, m.UPDATING, m.ENABLING, m.CREATING):
            self.state, self.target = m.DISABLED, None

    @property
    def active(self) -> bool:
        return self.state == m.ENABLED or (self.state == m.UPDATING and self.target == m.ENABLED)


class RecordingMapping(m.EventSourceMapping):
    def __init__(self, **kwargs: Any) -> None:
        self.moves: list[tuple[str, str]] = []
        super().__init__(**kwargs)

    def _move(self, state: str) -> None:
        self.moves.append((getattr(self, "state", m.CREATING), state))
        super()._move(state)


mapping_steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["look", "enable", "disable", "update", "delete", "function_deleted", "look"]
        ),
        st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5, 5.0, 10.0]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    enabled=st.booleans(),
    delay=st.sampled_from([0.0, 1.0, 5.0]),
    steps=mapping_steps,
)
def test_mapping_lifecycle(enabled: bool, delay: float, steps: list[tuple[str, float]]) -> None:
    function = SimpleNamespace(arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f")
    now = 0.0
    mapping = RecordingMapping(
        uuid="u-1",
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:u-1",
        kind="sqs",
        source_arn=SQS + "q",
        function=function,
        options=m.MappingOptions.defaults("sqs"),
        enabled=enabled,
        now=now,
        delay=delay,
        last_modified=DEFAULT_VIRTUAL_EPOCH,
    )
    model = MappingModel(enabled, delay, now)
    seen = (mapping.state, mapping.active, mapping.version)
    for action, dt in steps:
        now += dt
        # As LambdaService does: a request first brings the mapping up to date; a gone mapping is
        # not found. DeleteFunction stops the function's mappings without advancing them.
        if action == "function_deleted":
            mapping.function_deleted(now)
            model.function_deleted()
        else:
            mapping.advance(now)
            model.advance(now)
            if mapping.gone:
                assert model.state == m.GONE
            elif action == "delete":
                mapping.delete(now)
                model.delete(now)
            elif action in ("enable", "disable", "update"):
                flag = {"enable": True, "disable": False, "update": None}[action]
                opts = m.MappingOptions.defaults("sqs")
                try:
                    mapping.update(function, opts, flag, now, DEFAULT_VIRTUAL_EPOCH + now)
                except ResourceInUseException:
                    assert not model.update(flag, now), "refused an update AWS would take"
                else:
                    assert model.update(flag, now), "took an update during a change"
        mapping.advance(now)
        model.advance(now)
        assert mapping.state == model.state
        assert mapping.active == model.active
        assert not mapping.active or mapping.state in (m.ENABLED, m.UPDATING)
        assert all(new in m.TRANSITIONS[old] for old, new in mapping.moves)
        if seen[0] == m.GONE:
            assert mapping.state == m.GONE, "Gone is terminal"
        if (mapping.state, mapping.active) != seen[:2]:
            assert mapping.version > seen[2], "pollers must see every change of state"
        assert mapping.version >= seen[2]
        if not mapping.gone:
            assert mapping.describe(now)["State"] in {
                m.CREATING,
                m.ENABLING,
                m.ENABLED,
                m.DISABLING,
                m.DISABLED,
                m.UPDATING,
                m.DELETING,
            }
        seen = (mapping.state, mapping.active, mapping.version)
