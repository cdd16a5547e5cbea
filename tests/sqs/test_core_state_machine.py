"""Stateful property tests of the sans-IO SQS core (:class:`broker.sqs.queue.Queue`).

Each machine drives a ``Queue`` directly -- no trio, no service layer -- the way the runtime does:
``queue.tick(now)`` before every operation, time a float that a rule advances. A small reference
model decides what SQS must do; invariants compare the core with it after every step.

* :class:`StandardQueueMachine` -- exact model of a standard queue in its default (exact) mode:
  send order among available messages, delays, visibility, receipt-handle generations, the 12-hour
  visibility cap, retention, purge, move tasks and redrive to a dead-letter queue.
* :class:`FifoQueueMachine` -- FIFO rules as properties (the choice among ready groups is the
  core's): per-group order, group locking while in flight, de-duplication by queue or by group,
  strictly increasing sequence numbers, strict receipt handles, redrive.
* :class:`AtLeastOnceMachine` -- at-least-once standard queues: nothing is lost, the queue drains,
  and two queues with the same seed behave identically.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from broker import limits
from broker.errors import BrokerError, InvalidParameterValue, MessageNotInflight
from broker.sqs.message import AVAILABLE, DELAYED, INFLIGHT, MOVED, Message
from broker.sqs.queue import ExpiredReceiptHandle, Queue

CAP = limits.VISIBILITY_TIMEOUT_MAX  # 12 hours from a receive
DEDUP_WINDOW = limits.DEDUPLICATION_INTERVAL  # 5 minutes

MACHINE_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Model states. Live messages are in the queue; the others are terminal.
LIVE = ("delayed", "available", "inflight")
TERMINAL = ("deleted", "expired", "moved", "purged")
CORE_STATE = {"delayed": DELAYED, "available": AVAILABLE, "inflight": INFLIGHT}


@dataclass(frozen=True)
class Handle:
    """A receipt handle as the core sees it: (serial, generation), plus which message it names."""

    mid: str
    serial: int
    generation: int


@dataclass
class Modelled:
    """What the reference model knows about one sent message."""

    mid: str
    index: int  # send order
    sent_at: float
    serial: int
    group: str | None = None
    state: str = "available"
    ready_at: float = 0.0  # end of the delay
    deadline: float = 0.0  # end of the current visibility timeout
    cap: float = 0.0  # latest allowed deadline of the current receive
    rc: int = 0  # receive count == generation of the newest handle


def md5(body: str) -> str:
    return hashlib.md5(body.encode()).hexdigest()


# --------------------------------------------------------------------------- strategies
retentions = st.sampled_from([60, 61, 300, 3_600, 345_600, 1_209_600])
visibilities = st.one_of(
    st.sampled_from([0, 1, 30, 300, CAP]),
    st.integers(0, CAP),
)
timeouts = st.one_of(
    st.sampled_from([0, 1, 30, CAP]),
    st.integers(0, CAP),
    st.integers(CAP + 1, 2 * CAP),  # only the core's cap check stands in the way
)
small_steps = st.one_of(
    st.sampled_from([0.0, 0.25, 1.0, 29.5, 30.0, 30.5]),
    st.floats(0, 60, allow_nan=False, allow_infinity=False),
)
large_steps = st.one_of(
    st.integers(60, 50_000).map(float),
    st.sampled_from([900.0, 43_200.0, 345_600.0, 1_209_600.0, 1_300_000.0]),
)


class _QueueMachine(RuleBasedStateMachine):
    """Shared model bookkeeping, time rules and invariants of the standard and FIFO machines."""

    handles = Bundle("handles")
    fifo = False

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.queue: Queue | None = None
        self.dlq: Queue | None = None
        self.max_receive_count = 0
        self.msgs: dict[str, Modelled] = {}
        self.objs: dict[str, Message] = {}
        #: live dead-lettered messages: id -> (time retention counts from, receive count)
        self.dlq_live: dict[str, tuple[float, int]] = {}

    def _setup(self, seed: int, retention: int, dlq_retention: int, max_receive_count: int):
        self.queue = Queue(
            name="main", uid=1, fifo=self.fifo, created_at=0.0, rng=random.Random(seed)
        )
        self.queue.retention = retention
        self.queue.max_receive_count = max_receive_count
        self.dlq = Queue(
            name="dlq", uid=2, fifo=self.fifo, created_at=0.0, rng=random.Random(seed + 1)
        )
        self.dlq.retention = dlq_retention
        self.max_receive_count = max_receive_count

    # ----------------------------------------------------------------- model helpers
    def _new(self, group: str | None = None) -> tuple[str, int]:
        index = len(self.msgs)
        return f"m{index:04d}", index

    def _live(self) -> list[Modelled]:
        return sorted((m for m in self.msgs.values() if m.state in LIVE), key=lambda m: m.index)

    def _tick(self) -> None:
        """Apply due timers to the core (as the runtime does) and to the model."""
        assert self.queue is not None and self.dlq is not None
        self.queue.tick(self.now)
        self.dlq.tick(self.now)
        retention = self.queue.retention
        for m in self.msgs.values():
            if m.state not in LIVE:
                continue
            if self.now >= m.sent_at + retention:
                m.state = "expired"
            elif m.state == "delayed" and m.ready_at <= self.now:
                m.state = "available"
            elif m.state == "inflight" and m.deadline <= self.now:
                m.state = "available"
        for mid, (base, _) in list(self.dlq_live.items()):
            if self.now >= base + self.dlq.retention:
                del self.dlq_live[mid]

    def _deliver(self, m: Modelled, got: Message, visibility: int) -> Handle:
        assert m.state == "available", f"{m.mid} delivered while {m.state}"
        m.state = "inflight"
        m.rc += 1
        m.deadline = self.now + visibility
        m.cap = self.now + CAP
        assert got.serial == m.serial
        assert got.receive_count == m.rc
        return Handle(m.mid, got.serial, got.receive_count)

    def _events(self) -> list[float]:
        """Times at which the model changes by itself (for rules that jump to a boundary)."""
        assert self.queue is not None and self.dlq is not None
        times = []
        for m in self.msgs.values():
            if m.state in LIVE:
                times.append(m.sent_at + self.queue.retention)
            if m.state == "delayed":
                times.append(m.ready_at)
            elif m.state == "inflight":
                times.append(m.deadline)
        times.extend(base + self.dlq.retention for base, _ in self.dlq_live.values())
        return sorted(t for t in times if t > self.now)

    # ----------------------------------------------------------------- time
    @precondition(lambda self: self.queue is not None)
    @rule(dt=small_steps)
    def advance_a_little(self, dt: float) -> None:
        self.now += dt
        self._tick()

    @precondition(lambda self: self.queue is not None)
    @rule(dt=large_steps)
    def advance_a_lot(self, dt: float) -> None:
        self.now += dt
        self._tick()

    @precondition(lambda self: self.queue is not None and self._events())
    @rule(pick=st.integers(0, 1_000), nudge=st.sampled_from([0.0, 0.0, -0.001, 0.001]))
    def advance_to_a_timer(self, pick: int, nudge: float) -> None:
        """Jump exactly onto (or just around) a delay end, a deadline or a retention end."""
        events = self._events()
        self.now = max(self.now, events[pick % len(events)] + nudge)
        self._tick()

    # ----------------------------------------------------------------- whole queue
    @precondition(lambda self: self.queue is not None)
    @rule()
    def purge(self) -> None:
        assert self.queue is not None
        self._tick()
        live = self._live()
        assert self.queue.purge() == len(live)
        for m in live:
            m.state = "purged"

    @precondition(lambda self: self.queue is not None)
    @rule(retention=retentions)
    def set_retention(self, retention: int) -> None:
        """SetQueueAttributes MessageRetentionPeriod: applies to messages already stored."""
        assert self.queue is not None
        self._tick()
        self.queue.retention = retention
        self._tick()

    # ----------------------------------------------------------------- by receipt handle
    @precondition(lambda self: self.queue is not None)
    @rule(h=handles, timeout=timeouts)
    def change_visibility(self, h: Handle, timeout: int) -> None:
        assert self.queue is not None
        self._tick()
        m = self.msgs[h.mid]
        expected: type[BrokerError] | None
        if m.state not in LIVE:
            expected = InvalidParameterValue  # message does not exist
        elif h.generation != m.rc:
            expected = ExpiredReceiptHandle
        elif m.state != "inflight":
            expected = MessageNotInflight
        elif self.now + timeout > m.cap:
            expected = InvalidParameterValue  # beyond 12 hours since the receive
        else:
            expected = None
        try:
            self.queue.change_visibility(h.serial, h.generation, timeout, self.now)
        except BrokerError as err:
            assert type(err) is expected, (
                f"{h} ({m.state}, rc={m.rc}) timeout={timeout}: raised {err!r}, expected {expected}"
            )
            return
        assert expected is None, f"{h} ({m.state}, rc={m.rc}): expected {expected.__name__}"
        m.deadline = self.now + timeout
        if timeout == 0:
            m.state = "available"

    # ----------------------------------------------------------------- invariants
    @invariant()
    def counts_match_model(self) -> None:
        if self.queue is None:
            return
        live = self._live()
        by_state = Counter(m.state for m in live)
        q = self.queue
        assert (q.n_delayed, q.n_available, q.n_inflight) == (
            by_state["delayed"],
            by_state["available"],
            by_state["inflight"],
        )
        assert len(q) == len(live)

    @invariant()
    def no_message_lost_or_invented(self) -> None:
        """Each sent message is in exactly one state, and the core holds exactly the live ones."""
        if self.queue is None:
            return
        core = {m.message_id: m.state for m in self.queue.messages()}
        assert len(core) == len(self.queue)
        model = {m.mid: CORE_STATE[m.state] for m in self._live()}
        assert core == model
        assert all(m.state in LIVE + TERMINAL for m in self.msgs.values())

    @invariant()
    def dead_letter_queue_matches_model(self) -> None:
        if self.dlq is None:
            return
        records = self.dlq.messages()
        assert {r.message_id: r.receive_count for r in records} == {
            mid: rc for mid, (_, rc) in self.dlq_live.items()
        }
        assert all(r.state == AVAILABLE for r in records)
        assert self.dlq.n_available == len(records) == len(self.dlq)
        assert self.dlq.n_inflight == self.dlq.n_delayed == 0
        moved = {mid for mid, m in self.msgs.items() if m.state == "moved"}
        assert set(self.dlq_live) <= moved


# =============================================================================== standard queues
class StandardQueueMachine(_QueueMachine):
    """A standard queue in exact mode, modelled message by message."""

    fifo = False

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        retention=retentions,
        dlq_retention=retentions,
        max_receive_count=st.sampled_from([0, 1, 2, 3, 5]),
    )
    def setup(self, seed: int, retention: int, dlq_retention: int, max_receive_count: int):
        self._setup(seed, retention, dlq_retention, max_receive_count)

    @rule(delay=st.one_of(st.just(0), st.sampled_from([1, 30, 900]), st.integers(0, 900)))
    def send(self, delay: int) -> None:
        assert self.queue is not None
        self._tick()
        mid, index = self._new()
        body = f"body of {mid}"
        msg = Message(mid, body, md5(body), self.now)
        self.queue.send(msg, delay, self.now)
        self.objs[mid] = msg
        self.msgs[mid] = Modelled(
            mid,
            index,
            self.now,
            msg.serial,
            state="delayed" if delay > 0 else "available",
            ready_at=self.now + delay,
        )

    @rule(target=_QueueMachine.handles, max_messages=st.integers(1, 10), visibility=visibilities)
    def receive(self, max_messages: int, visibility: int):
        assert self.queue is not None
        self._tick()
        mrc = self.max_receive_count
        expected: list[Modelled] = []
        moved: list[Modelled] = []
        for m in self._live():  # send order
            if len(expected) == max_messages:
                break
            if m.state != "available":
                continue
            if mrc and m.rc >= mrc:
                moved.append(m)
            else:
                expected.append(m)
        got = self.queue.receive(self.now, max_messages, visibility, self.dlq if mrc else None)
        for g in got:
            m = self.msgs.get(g.message_id)
            assert m is not None, f"invented message {g.message_id}"
            assert m.state == "available", (
                f"{m.mid} handed out while {m.state} (deadline {m.deadline}, now {self.now})"
            )
        assert [g.message_id for g in got] == [m.mid for m in expected], "not in send order"
        handles = [self._deliver(m, g, visibility) for m, g in zip(expected, got, strict=True)]
        for m in moved:
            m.state = "moved"
            self.dlq_live[m.mid] = (m.sent_at, m.rc)  # a standard DLQ keeps the enqueue time
        return multiple(*handles)

    @rule(h=_QueueMachine.handles)
    def delete(self, h: Handle) -> None:
        """The newest handle deletes (also after its visibility lapsed); an older one does not."""
        assert self.queue is not None
        self._tick()
        m = self.msgs[h.mid]
        expected = m.state in LIVE and h.generation == m.rc
        assert self.queue.delete(h.serial, h.generation) is expected, (
            f"delete {h} of a message {m.state} with rc={m.rc}"
        )
        if expected:
            m.state = "deleted"

    @precondition(lambda self: self.queue is not None)
    @rule()
    def move_task_takes_oldest(self) -> None:
        """StartMessageMoveTask takes the oldest available message, whatever its receive count."""
        assert self.queue is not None
        self._tick()
        available = [m for m in self._live() if m.state == "available"]
        got = self.queue.take_oldest_available()
        if not available:
            assert got is None
            return
        assert got is not None and got.message_id == available[0].mid
        available[0].state = "moved"


# =============================================================================== FIFO queues
GROUPS = ("g1", "g2", "g3")


class FifoQueueMachine(_QueueMachine):
    """A FIFO queue checked against FIFO's rules (the core chooses among ready groups)."""

    fifo = True

    def __init__(self) -> None:
        super().__init__()
        #: dedup key -> (expiry, MessageId, SequenceNumber)
        self.dedup: dict[object, tuple[float, str, str]] = {}
        self.last_sequence = 0
        self.last_dlq_sequence = 0
        self.per_group_scope = False
        self.content_based = False
        self.dlq_order: list[str] = []

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        retention=retentions,
        dlq_retention=retentions,
        max_receive_count=st.sampled_from([0, 1, 2, 3, 5]),
        per_group_scope=st.booleans(),
        content_based=st.booleans(),
    )
    def setup(
        self,
        seed: int,
        retention: int,
        dlq_retention: int,
        max_receive_count: int,
        per_group_scope: bool,
        content_based: bool,
    ):
        self._setup(seed, retention, dlq_retention, max_receive_count)
        assert self.queue is not None
        self.queue.dedup_per_group = self.per_group_scope = per_group_scope
        self.queue.content_based_dedup = self.content_based = content_based

    def _events(self) -> list[float]:
        times = super()._events()
        times.extend(expiry for expiry, _, _ in self.dedup.values() if expiry > self.now)
        return sorted(times)

    def _by_group(self) -> dict[str, list[Modelled]]:
        groups: dict[str, list[Modelled]] = {}
        for m in self._live():
            groups.setdefault(m.group, []).append(m)  # type: ignore[arg-type]
        return groups

    @rule(
        group=st.sampled_from(GROUPS),
        body=st.sampled_from(["a", "b", "c"]),
        dedup_id=st.one_of(st.none(), st.sampled_from(["x", "y"])),
    )
    def send(self, group: str, body: str, dedup_id: str | None) -> None:
        assert self.queue is not None
        self._tick()
        if dedup_id is None:
            if self.content_based:  # what the service computes
                dedup_id = hashlib.sha256(body.encode()).hexdigest()
            else:  # the service demands an id: send a fresh one
                dedup_id = f"unique-{len(self.msgs)}-{self.now}"
        key = (group, dedup_id) if self.per_group_scope else dedup_id
        assert self.queue.dedup_key(group, dedup_id) == key
        seen = self.queue.dedup_lookup(key, self.now)
        entry = self.dedup.get(key)
        if entry is not None and entry[0] > self.now:
            # within the window: the original MessageId and SequenceNumber, no new message
            assert seen == (entry[1], entry[2]), f"duplicate of {entry} not recognised: {seen}"
            return
        assert seen is None, f"{key} de-duplicated against {seen} outside the window"
        sequence_number = self.queue.next_sequence_number()
        assert int(sequence_number) > self.last_sequence, "sequence numbers must increase"
        self.last_sequence = int(sequence_number)
        mid, index = self._new()
        msg = Message(mid, body, md5(body), self.now, group_id=group, dedup_id=dedup_id)
        msg.sequence_number = sequence_number
        delay = self.queue.delay
        self.queue.send(msg, delay, self.now, key)
        self.dedup[key] = (self.now + DEDUP_WINDOW, mid, sequence_number)
        self.objs[mid] = msg
        self.msgs[mid] = Modelled(
            mid,
            index,
            self.now,
            msg.serial,
            group=group,
            state="delayed" if delay > 0 else "available",
            ready_at=self.now + delay,
        )

    @precondition(lambda self: self.queue is not None)
    @rule(delay=st.sampled_from([0, 0, 1, 30, 900]))
    def set_delay(self, delay: int) -> None:
        """DelaySeconds of the queue (FIFO queues have no per-message delay)."""
        assert self.queue is not None
        self.queue.delay = delay

    @rule(target=_QueueMachine.handles, max_messages=st.integers(1, 10), visibility=visibilities)
    def receive(self, max_messages: int, visibility: int):
        assert self.queue is not None
        self._tick()
        mrc = self.max_receive_count
        # The receivable run of each ready group: from its first live message while available.
        runs: dict[str, list[Modelled]] = {}
        for group, members in self._by_group().items():
            if any(m.state == "inflight" for m in members):
                continue  # a group with a message in flight is locked
            run = []
            for m in members:
                if m.state != "available":
                    break
                run.append(m)
            if run:
                runs[group] = run
        eligible = {m.mid: m for run in runs.values() for m in run}

        got = self.queue.receive(self.now, max_messages, visibility, self.dlq if mrc else None)

        got_ids = [g.message_id for g in got]
        assert len(got_ids) == len(set(got_ids)) <= max_messages
        for mid in got_ids:
            m = self.msgs.get(mid)
            assert m is not None, f"invented message {mid}"
            assert mid in eligible, (
                f"{mid} ({m.state}) of group {m.group} delivered but it is not at the head of "
                f"a ready group: runs { ({g: [x.mid for x in r] for g, r in runs.items()}) }"
            )
        moved = {m.mid for m in self._live() if self.objs[m.mid].state == MOVED}
        assert moved <= set(eligible), f"moved {moved - set(eligible)} from outside ready heads"
        assert not moved & set(got_ids)
        partial = []
        for group, run in runs.items():
            ids = [m.mid for m in run]
            taken = [mid for mid in ids if mid in moved or mid in got_ids]
            k = len(taken)
            assert taken == ids[:k], f"group {group}: took {taken}, not a prefix of {ids}"
            for m in run[:k]:
                assert (m.mid in moved) == bool(mrc and m.rc >= mrc), (
                    f"{m.mid} rc={m.rc} maxReceiveCount={mrc}: moved={m.mid in moved}"
                )
            delivered_in_group = [mid for mid in got_ids if mid in ids]
            assert delivered_in_group == [mid for mid in ids[:k] if mid not in moved], (
                f"group {group} delivered out of order: {delivered_in_group}"
            )
            if k < len(ids):
                partial.append(group)
        if len(got) < max_messages:
            assert not partial, f"returned {len(got)} < {max_messages} but left {partial} ready"
        assert len(partial) <= 1

        handles = [self._deliver(self.msgs[g.message_id], g, visibility) for g in got]
        # Moves happen in delivery order of the group heads; keep the model's record of them.
        for m in sorted((self.msgs[mid] for mid in moved), key=lambda m: m.index):
            m.state = "moved"
            self.dlq_live[m.mid] = (self.now, m.rc)  # FIFO resets the enqueue time
        if moved:
            self._check_dlq_sequence_numbers()
        return multiple(*handles)

    def _check_dlq_sequence_numbers(self) -> None:
        assert self.dlq is not None
        fresh = sorted(
            (r for r in self.dlq.messages() if int(r.sequence_number) > self.last_dlq_sequence),
            key=lambda r: r.serial,
        )
        numbers = [int(r.sequence_number) for r in fresh]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        if numbers:
            self.last_dlq_sequence = numbers[-1]
        for r in fresh:
            assert r.group_id == self.msgs[r.message_id].group

    @rule(h=_QueueMachine.handles)
    def delete(self, h: Handle) -> None:
        """FIFO: only the newest handle of an in-flight message deletes; stale handles raise."""
        assert self.queue is not None
        self._tick()
        m = self.msgs[h.mid]
        if m.state not in LIVE:
            assert self.queue.delete(h.serial, h.generation) is False, (
                f"{h}: message is {m.state}, the delete should change nothing"
            )
            return
        if h.generation != m.rc or m.state != "inflight":
            try:
                self.queue.delete(h.serial, h.generation)
            except ExpiredReceiptHandle:
                return
            raise AssertionError(f"{h} ({m.state}, rc={m.rc}) should be rejected")
        assert self.queue.delete(h.serial, h.generation) is True
        m.state = "deleted"

    @invariant()
    def groups_hold_order(self) -> None:
        """Every live message of a group precedes the later ones: the core's group lists are in
        send order and hold exactly the group's live messages."""
        if self.queue is None:
            return
        for group, members in self._by_group().items():
            core = self.queue._groups.get(group)
            assert core is not None, f"group {group} lost"
            assert [m.message_id for m in core.msgs] == [m.mid for m in members]
            assert core.inflight == sum(m.state == "inflight" for m in members)

    @invariant()
    def dedup_window_matches(self) -> None:
        if self.queue is None:
            return
        for key, (expiry, mid, seq) in self.dedup.items():
            seen = self.queue.dedup_lookup(key, self.now)
            assert seen == ((mid, seq) if expiry > self.now else None)


# =============================================================================== at-least-once
class AtLeastOnceMachine(RuleBasedStateMachine):
    """Two at-least-once standard queues with the same seed, driven by the same operations."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.queues: list[Queue] = []
        self.sent: list[str] = []
        self.owed: set[str] = set()  # sent, not yet delivered, not purged
        self.delivered: set[str] = set()
        self.handles: list[tuple[int, int]] = []

    @initialize(seed=st.integers(0, 2**32 - 1))
    def setup(self, seed: int) -> None:
        for _ in range(2):
            q = Queue(
                name="alo",
                uid=1,
                fifo=False,
                created_at=0.0,
                rng=random.Random(seed),
                at_least_once=True,
            )
            q.retention = limits.MESSAGE_RETENTION_PERIOD_MAX  # nothing may expire here
            self.queues.append(q)

    def _tick(self) -> None:
        for q in self.queues:
            q.tick(self.now)

    def _receive(self, max_messages: int, visibility: int, sample: bool) -> list[Message]:
        self._tick()
        results = [
            q.receive(self.now, max_messages, visibility, sample=sample) for q in self.queues
        ]
        a, b = ([(m.message_id, m.serial, m.receive_count) for m in got] for got in results)
        assert a == b, "same seed, same operations: deliveries differ"
        for mid, serial, rc in a:
            assert mid in self.sent, f"invented message {mid}"
            self.delivered.add(mid)
            self.owed.discard(mid)
            self.handles.append((serial, rc))
        return results[0]

    def _delete(self, serial: int, generation: int) -> bool:
        self._tick()
        results = [q.delete(serial, generation) for q in self.queues]
        assert results[0] == results[1]
        return results[0]

    @precondition(lambda self: self.queues)
    @rule(delay=st.sampled_from([0, 0, 0, 1, 10]))
    def send(self, delay: int) -> None:
        self._tick()
        mid = f"m{len(self.sent):04d}"
        for q in self.queues:
            q.send(Message(mid, mid, md5(mid), self.now), delay, self.now)
        self.sent.append(mid)
        self.owed.add(mid)

    @precondition(lambda self: self.queues)
    @rule(max_messages=st.integers(1, 10), visibility=st.integers(0, 60), sample=st.booleans())
    def receive(self, max_messages: int, visibility: int, sample: bool) -> None:
        self._receive(max_messages, visibility, sample)

    @precondition(lambda self: self.handles)
    @rule(pick=st.integers(0, 10_000))
    def delete(self, pick: int) -> None:
        self._delete(*self.handles[pick % len(self.handles)])

    @precondition(lambda self: self.queues)
    @rule(dt=st.floats(0, 100, allow_nan=False, allow_infinity=False))
    def advance(self, dt: float) -> None:
        self.now += dt
        self._tick()

    @precondition(lambda self: self.queues)
    @rule()
    def purge(self) -> None:
        self._tick()
        counts = [q.purge() for q in self.queues]
        assert counts[0] == counts[1]
        self.owed.clear()

    @precondition(lambda self: self.queues)
    @rule()
    def drain(self) -> None:
        self._drain()

    def _drain(self) -> None:
        """Keep receiving and deleting: everything owed is delivered and the queue empties."""
        for i in range(5_000):
            self._tick()
            if all(len(q) == 0 for q in self.queues):
                break
            got = self._receive(10, 30, sample=i % 2 == 0)
            for m in got:
                assert self._delete(m.serial, m.receive_count)
            if not got:
                self.now += 31  # let forgotten in-flight messages return
        else:
            raise AssertionError(f"queue did not drain: {[len(q) for q in self.queues]} left")
        assert not self.owed, f"never delivered: {sorted(self.owed)}"
        for q in self.queues:
            assert q.n_available == q.n_inflight == q.n_delayed == 0

    @invariant()
    def counts_consistent(self) -> None:
        for q in self.queues:
            records = q.messages()
            assert len(records) == len(q) == q.n_available + q.n_inflight + q.n_delayed
            states = Counter(r.state for r in records)
            assert (states[DELAYED], states[AVAILABLE], states[INFLIGHT]) == (
                q.n_delayed,
                q.n_available,
                q.n_inflight,
            )
        if len(self.queues) == 2:
            a, b = self.queues
            assert (len(a), a.n_available, a.n_inflight) == (len(b), b.n_available, b.n_inflight)

    @invariant()
    def every_owed_message_is_stored(self) -> None:
        """Nothing lost: a message not yet delivered is still in the queue."""
        for q in self.queues:
            stored = {r.message_id for r in q.messages()}
            assert self.owed <= stored, f"lost {sorted(self.owed - stored)}"

    def teardown(self) -> None:
        if self.queues:
            self._drain()


TestStandardQueue = StandardQueueMachine.TestCase
TestStandardQueue.settings = MACHINE_SETTINGS
TestFifoQueue = FifoQueueMachine.TestCase
TestFifoQueue.settings = MACHINE_SETTINGS
TestAtLeastOnceQueue = AtLeastOnceMachine.TestCase
TestAtLeastOnceQueue.settings = MACHINE_SETTINGS
