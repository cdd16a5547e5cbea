"""Stateful property tests of the sans-IO SQS core (:class:`msgsim.broker.sqs.queue.Queue`).

Each machine drives a ``Queue`` directly -- no trio, no service layer -- the way the runtime does:
``queue.tick(now)`` before every operation, time a float that a rule advances. A small reference
model decides what SQS must do; invariants compare the core with it after every step.

* :class:`StandardQueueMachine` -- an exact model of a standard queue in its default (exact) mode:
  send order among available messages, delays, visibility, receipt-handle generations, the 12-hour
  visibility cap, retention, purge, move tasks and redrive to a dead-letter queue.
* :class:`FifoQueueMachine` -- FIFO's rules as properties (which ready group goes first is the
  core's choice): per-group order, group locking while in flight, de-duplication by queue or by
  group, strictly increasing sequence numbers, strict receipt handles, redrive.
* :class:`AtLeastOnceMachine` -- at-least-once standard queues: nothing is lost, the queue drains,
  and two queues with the same seed behave identically.

Hypothesis draws rules with fewer arguments more often, so the rare whole-queue operations share
one ``housekeeping`` rule and all time steps one ``advance`` rule; that keeps sends, receives and
handle operations frequent enough to reach redrive, redelivery and stale handles.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, event, settings
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

from msgsim.broker import limits
from msgsim.broker.errors import BrokerError, InvalidParameterValue, MessageNotInflight
from msgsim.broker.sqs.message import AVAILABLE, DELAYED, INFLIGHT, MOVED, Message
from msgsim.broker.sqs.queue import ExpiredReceiptHandle, Queue

CAP = limits.VISIBILITY_TIMEOUT_MAX  # 12 hours from a receive
DEDUP_WINDOW = limits.DEDUPLICATION_INTERVAL  # 5 minutes

MACHINE_SETTINGS = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Model states. Live messages are stored in the queue; the others are terminal.
LIVE = ("delayed", "available", "inflight")
TERMINAL = ("deleted", "expired", "moved", "purged")
CORE_STATE = {"delayed": DELAYED, "available": AVAILABLE, "inflight": INFLIGHT}


@dataclass(frozen=True)
class Handle:
    """A receipt handle as the core sees it, (serial, generation), and the message it names."""

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
    cap: float = 0.0  # latest deadline allowed for the current receive
    rc: int = 0  # receive count == generation of the newest handle


# Time moves and whole-queue operations (dataclasses so that a failing run prints readably).
@dataclass(frozen=True)
class By:
    seconds: float


@dataclass(frozen=True)
class ToTimer:
    """Jump onto (or just around) the pick-th next delay end, deadline or retention end."""

    pick: int
    nudge: float


@dataclass(frozen=True)
class Purge:
    pass


@dataclass(frozen=True)
class MoveTask:
    """StartMessageMoveTask takes the oldest available message (standard queues)."""


@dataclass(frozen=True)
class SetRetention:
    seconds: int


@dataclass(frozen=True)
class SetDelay:
    """DelaySeconds of a FIFO queue (FIFO queues have no per-message delay)."""

    seconds: int


def md5(body: str) -> bytes:
    return hashlib.md5(body.encode()).digest()


# --------------------------------------------------------------------------- strategies
retentions = st.sampled_from([345_600, 3_600, 1_209_600, 300, 61, 60])
visibilities = st.one_of(
    st.sampled_from([0, 0, 1, 5, 30, 60]),
    st.integers(0, 600),
    st.sampled_from([0, 30, 300]),
    st.sampled_from([0, CAP - 1, CAP]),
    st.integers(0, CAP),
)
timeouts = st.one_of(
    st.sampled_from([0, 0, 1, 30, 300]),
    st.integers(0, 600),
    st.just(0),
    st.sampled_from([CAP - 1, CAP, CAP + 1]),  # only the core's 12-hour cap stands in the way
    st.integers(0, 2 * CAP),
)
small_steps = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 5.0, 29.5, 30.0, 30.5, 61.0, 301.0]),
    st.floats(0, 100, allow_nan=False, allow_infinity=False),
)
large_steps = st.one_of(
    st.integers(60, 50_000).map(float),
    st.sampled_from([900.0, 43_200.0, 345_600.0, 1_209_600.0, 1_300_000.0]),
)
time_steps = st.one_of(
    small_steps.map(By),
    st.builds(ToTimer, st.integers(0, 1_000), st.sampled_from([0.0, 0.0, -0.001, 0.001])),
    small_steps.map(By),
    st.builds(ToTimer, st.integers(0, 3), st.just(0.0)),
    large_steps.map(By),
)
#: which handle of the drawn handle's message a consumer uses
whiches = st.sampled_from(["newest", "drawn", "previous"])
max_receive_counts = st.sampled_from([2, 0, 1, 3, 5])
seeds = st.integers(0, 2**32 - 1)


class _QueueMachine(RuleBasedStateMachine):
    """Model bookkeeping, time, housekeeping, visibility rules and the invariants that the
    standard and FIFO machines share."""

    handles = Bundle("handles")
    fifo = False

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.queue: Queue = None  # type: ignore[assignment]  # set by the initialize rule
        self.dlq: Queue = None  # type: ignore[assignment]
        self.max_receive_count = 0
        self.msgs: dict[str, Modelled] = {}
        self.objs: dict[str, Message] = {}  # the records the core was given
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
    def _new_id(self) -> tuple[str, int]:
        index = len(self.msgs)
        return f"m{index:04d}", index

    def _live(self) -> list[Modelled]:
        return sorted((m for m in self.msgs.values() if m.state in LIVE), key=lambda m: m.index)

    def _tick(self) -> None:
        """Apply due timers to the core (as the runtime does before each operation) and to the
        model: retention ends at sent_at + retention, delays and visibility at their deadline."""
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
        assert m.state == "available", (
            f"{m.mid} handed out while {m.state} (deadline {m.deadline}, now {self.now})"
        )
        m.state = "inflight"
        m.rc += 1
        m.deadline = self.now + visibility
        m.cap = self.now + CAP
        assert (got.serial, got.receive_count) == (m.serial, m.rc)
        return Handle(m.mid, got.serial, got.receive_count)

    def _timers(self) -> list[float]:
        """Future times at which the model changes by itself."""
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

    def _purge(self) -> None:
        live = self._live()
        assert self.queue.purge() == len(live)
        for m in live:
            m.state = "purged"

    def _housekeeping(self, op: object) -> None:
        if isinstance(op, Purge):
            self._purge()
        elif isinstance(op, SetRetention):
            # SetQueueAttributes MessageRetentionPeriod applies to messages already stored.
            self.queue.retention = op.seconds
            self._tick()
        else:
            raise AssertionError(op)

    # ----------------------------------------------------------------- rules
    @rule(step=time_steps)
    def advance(self, step: By | ToTimer) -> None:
        if isinstance(step, By):
            self.now += step.seconds
        else:
            timers = self._timers()
            if timers:
                self.now = max(self.now, timers[step.pick % len(timers)] + step.nudge)
        self._tick()

    def _pick(self, h: Handle, which: str) -> Handle:
        """The drawn handle, or the newest / the one before the newest handle issued for the same
        message (generations 1..receive count were all handed out, in order)."""
        m = self.msgs[h.mid]
        generation = {"drawn": h.generation, "newest": m.rc, "previous": m.rc - 1}[which]
        h = Handle(h.mid, h.serial, max(generation, 1))
        if m.state not in LIVE:
            kind = f"a {m.state} message's"
        elif h.generation != m.rc:
            kind = "a superseded"
        else:
            kind = "the newest" if m.state == "inflight" else "a lapsed"
        event(f"by {kind} handle")
        return h

    @rule(h=handles, which=whiches)
    def delete(self, h: Handle, which: str) -> None:
        """DeleteMessage by a handle, the newest or an older one."""
        self._tick()
        self._delete(self._pick(h, which))

    @rule(h=handles, which=whiches, timeout=timeouts)
    def change_visibility(self, h: Handle, which: str, timeout: int) -> None:
        """ChangeMessageVisibility by a handle, the newest or an older one."""
        self._tick()
        self._change_visibility(self._pick(h, which), timeout)

    def _delete(self, h: Handle) -> None:
        raise NotImplementedError

    def _change_visibility(self, h: Handle, timeout: int) -> None:
        """The new timeout counts from now, 0 releases at once; a receive's visibility may not
        reach beyond 12 hours after it. Errors in the order the core checks them."""
        m = self.msgs[h.mid]
        expected: type[BrokerError] | None
        if m.state not in LIVE:
            expected = InvalidParameterValue  # the message does not exist
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
                f"{h} of a message {m.state} with rc={m.rc}, timeout {timeout}: raised {err!r}, "
                f"expected {expected}"
            )
            return
        assert expected is None, f"{h} of a message {m.state} with rc={m.rc}: no {expected}"
        m.deadline = self.now + timeout
        if timeout == 0:
            m.state = "available"

    # ----------------------------------------------------------------- invariants
    @invariant()
    def counts_match_model(self) -> None:
        if self.queue is None:
            return
        by_state = Counter(m.state for m in self._live())
        q = self.queue
        assert (q.n_delayed, q.n_available, q.n_inflight) == (
            by_state["delayed"],
            by_state["available"],
            by_state["inflight"],
        )
        assert len(q) == sum(by_state.values())

    @invariant()
    def no_message_lost_or_invented(self) -> None:
        """Each sent message is in exactly one state; the core stores exactly the live ones, each
        in the model's state."""
        if self.queue is None:
            return
        core = {r.message_id: r.state for r in self.queue.messages()}
        assert len(core) == len(self.queue)
        assert core == {m.mid: CORE_STATE[m.state] for m in self._live()}
        assert all(m.state in LIVE + TERMINAL for m in self.msgs.values())

    @invariant()
    def dead_letter_queue_matches_model(self) -> None:
        """Redriven messages arrive once, available, with their receive count, and expire by the
        dead-letter queue's retention."""
        if self.dlq is None:
            return
        records = self.dlq.messages()
        assert {r.message_id: r.receive_count for r in records} == {
            mid: rc for mid, (_, rc) in self.dlq_live.items()
        }
        assert all(r.state == AVAILABLE for r in records)
        assert self.dlq.n_available == len(records) == len(self.dlq)
        assert self.dlq.n_inflight == self.dlq.n_delayed == 0
        assert all(self.msgs[mid].state == "moved" for mid in self.dlq_live)


# =============================================================================== standard queues
class StandardQueueMachine(_QueueMachine):
    """A standard queue in exact mode, modelled message by message."""

    fifo = False

    @initialize(
        seed=seeds,
        retention=retentions,
        dlq_retention=retentions,
        max_receive_count=max_receive_counts,
        backlog=st.lists(st.sampled_from([0, 0, 0, 30]), max_size=6),
    )
    def setup(
        self,
        seed: int,
        retention: int,
        dlq_retention: int,
        max_receive_count: int,
        backlog: list[int],
    ):
        self._setup(seed, retention, dlq_retention, max_receive_count)
        self.send(backlog)

    @rule(
        delays=st.lists(
            st.one_of(st.just(0), st.sampled_from([0, 1, 30, 900]), st.integers(0, 900)),
            min_size=1,
            max_size=4,
        )
    )
    def send(self, delays: list[int]) -> None:
        """SendMessage, each with its own DelaySeconds."""
        self._tick()
        for delay in delays:
            mid, index = self._new_id()
            msg = Message(mid, mid, md5(mid), self.now)
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

    @rule(n=st.integers(1, limits.BATCH_ENTRIES_MAX))
    def send_batch(self, n: int) -> None:
        """SendMessageBatch of plain entries: the core keeps them as one Pack until a receive or
        their retention reaches them, and they behave as ``n`` sends in a row (serials continue
        one per message, send order, retention from the batch's send time)."""
        self._tick()
        serial = max((m.serial for m in self.msgs.values()), default=0)
        mids = []
        for _ in range(n):
            mid, index = self._new_id()
            serial += 1
            self.msgs[mid] = Modelled(mid, index, self.now, serial)
            mids.append(mid)
        self.queue.send_plain(mids, list(mids), [md5(mid) for mid in mids], self.now)

    @rule(target=_QueueMachine.handles, max_messages=st.integers(1, 10), visibility=visibilities)
    def receive(self, max_messages: int, visibility: int):
        """Available messages in send order; one received maxReceiveCount times moves to the
        dead-letter queue instead of being delivered again."""
        self._tick()
        mrc = self.max_receive_count
        expected: list[Modelled] = []
        moved: list[Modelled] = []
        for m in self._live():
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

    def _delete(self, h: Handle) -> None:
        """The newest handle deletes (also after its visibility lapsed); an older one does not."""
        m = self.msgs[h.mid]
        expected = m.state in LIVE and h.generation == m.rc
        assert self.queue.delete(h.serial, h.generation) is expected, (
            f"delete by {h} of a message {m.state} with rc={m.rc}: expected {expected}"
        )
        if expected:
            m.state = "deleted"

    @rule(
        op=st.sampled_from(
            [MoveTask(), SetRetention(345_600), MoveTask(), SetRetention(60), MoveTask(), Purge()]
        )
    )
    def housekeeping(self, op: object) -> None:
        self._tick()
        if not isinstance(op, MoveTask):
            self._housekeeping(op)
            return
        available = [m for m in self._live() if m.state == "available"]
        got = self.queue.take_oldest_available()
        if not available:
            assert got is None
            return
        assert got is not None and got.message_id == available[0].mid
        available[0].state = "moved"  # to a queue this machine does not model


# =============================================================================== FIFO queues
GROUPS = ("g1", "g2", "g3")
fifo_sends = st.tuples(
    st.sampled_from(GROUPS),
    st.sampled_from(["a", "b", "c"]),  # body (content-based de-duplication)
    st.one_of(st.none(), st.sampled_from(["x", "y"])),  # MessageDeduplicationId
)


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

    @initialize(
        seed=seeds,
        retention=retentions,
        dlq_retention=retentions,
        max_receive_count=max_receive_counts,
        per_group_scope=st.booleans(),
        content_based=st.booleans(),
        backlog=st.lists(fifo_sends, max_size=6),
    )
    def setup(
        self,
        seed: int,
        retention: int,
        dlq_retention: int,
        max_receive_count: int,
        per_group_scope: bool,
        content_based: bool,
        backlog: list[tuple[str, str, str | None]],
    ):
        self._setup(seed, retention, dlq_retention, max_receive_count)
        self.queue.dedup_per_group = self.per_group_scope = per_group_scope
        self.queue.content_based_dedup = self.content_based = content_based
        self.send(backlog)

    def _timers(self) -> list[float]:
        times = super()._timers()
        times.extend(expiry for expiry, _, _ in self.dedup.values() if expiry > self.now)
        return sorted(times)

    def _by_group(self) -> dict[str, list[Modelled]]:
        groups: dict[str, list[Modelled]] = {}
        for m in self._live():
            groups.setdefault(m.group, []).append(m)  # type: ignore[arg-type]
        return groups

    @rule(sends=st.lists(fifo_sends, min_size=1, max_size=4))
    def send(self, sends: list[tuple[str, str, str | None]]) -> None:
        """A send whose de-duplication key was used in the last 5 minutes answers the original
        MessageId and SequenceNumber and stores nothing (the service asks dedup_lookup first)."""
        self._tick()
        for group, body, explicit_id in sends:
            if explicit_id is not None:
                dedup_id = explicit_id
            elif self.content_based:  # what the service computes
                dedup_id = hashlib.sha256(body.encode()).hexdigest()
            else:  # the service demands an explicit id: send a fresh one
                dedup_id = f"unique-{len(self.msgs)}"
            key = (group, dedup_id) if self.per_group_scope else dedup_id
            assert self.queue.dedup_key(group, dedup_id) == key
            seen = self.queue.dedup_lookup(key, self.now)
            entry = self.dedup.get(key)
            if entry is not None and self.now < entry[0]:
                assert seen == entry[1:], f"duplicate of {entry} not recognised: {seen}"
                continue
            assert seen is None, f"{key!r} de-duplicated against {seen} outside the window"
            sequence_number = self.queue.next_sequence_number()
            assert int(sequence_number) > self.last_sequence, "sequence numbers must increase"
            self.last_sequence = int(sequence_number)
            mid, index = self._new_id()
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

    @rule(target=_QueueMachine.handles, max_messages=st.integers(1, 10), visibility=visibilities)
    def receive(self, max_messages: int, visibility: int):
        """Only a group with nothing in flight is served, from its first undeleted message on, in
        send order; a message at maxReceiveCount moves to the DLQ and the group goes on. A short
        batch means every ready group was served to its end."""
        self._tick()
        mrc = self.max_receive_count
        # The receivable run of each ready group: from its first live message while available.
        runs: dict[str, list[Modelled]] = {}
        for group, members in self._by_group().items():
            if any(m.state == "inflight" for m in members):
                continue  # locked while a message of the group is in flight
            run = []
            for m in members:
                if m.state != "available":
                    break
                run.append(m)
            if run:
                runs[group] = run
        eligible = {m.mid for run in runs.values() for m in run}

        got = self.queue.receive(self.now, max_messages, visibility, self.dlq if mrc else None)

        got_ids = [g.message_id for g in got]
        assert len(got_ids) == len(set(got_ids)) <= max_messages
        for mid in got_ids:
            m = self.msgs.get(mid)
            assert m is not None, f"invented message {mid}"
            assert mid in eligible, (
                f"{mid} ({m.state}) of group {m.group} delivered but it is not at the head of "
                f"a ready group; runs: { {g: [x.mid for x in r] for g, r in runs.items()} }"
            )
        moved = {m.mid for m in self._live() if self.objs[m.mid].state == MOVED}
        assert moved <= eligible, f"moved {moved - eligible}: not at the head of a ready group"
        partial = []
        for group, run in runs.items():
            ids = [m.mid for m in run]
            taken = [mid for mid in ids if mid in moved or mid in got_ids]
            k = len(taken)
            assert taken == ids[:k], f"group {group}: took {taken}, not a prefix of {ids}"
            for m in run[:k]:
                assert (m.mid in moved) == bool(mrc and m.rc >= mrc), (
                    f"{m.mid} with rc={m.rc}, maxReceiveCount {mrc}: moved={m.mid in moved}"
                )
            in_group = [mid for mid in got_ids if mid in ids]
            assert in_group == [mid for mid in ids[:k] if mid not in moved], (
                f"group {group} delivered out of order: {in_group}"
            )
            if k < len(ids):
                partial.append((group, k))
        if len(got) < max_messages:
            assert not partial, f"{len(got)} < {max_messages} delivered, {partial} left ready"
        # A group is left part-way only when the batch is full: at most one such group.
        assert sum(k > 0 for _, k in partial) <= 1, partial

        handles = [self._deliver(self.msgs[g.message_id], g, visibility) for g in got]
        for mid in moved:
            m = self.msgs[mid]
            m.state = "moved"
            self.dlq_live[mid] = (self.now, m.rc)  # a FIFO DLQ restarts the enqueue time
        if moved:
            self._check_dlq_records(len(moved))
        return multiple(*handles)

    def _check_dlq_records(self, n_new: int) -> None:
        fresh = sorted(self.dlq.messages(), key=lambda r: r.serial)[-n_new:]
        numbers = [int(r.sequence_number) for r in fresh]  # type: ignore[arg-type]
        assert numbers[0] > self.last_dlq_sequence, "DLQ sequence numbers must increase"
        assert numbers == sorted(set(numbers)), "DLQ sequence numbers must increase"
        self.last_dlq_sequence = numbers[-1]
        for r in fresh:
            assert r.group_id == self.msgs[r.message_id].group
            assert r.sent_at == self.now

    def _delete(self, h: Handle) -> None:
        """Only the newest handle of an in-flight message deletes; a superseded or lapsed one is
        rejected; a message already gone is no error."""
        m = self.msgs[h.mid]
        if m.state not in LIVE:
            assert self.queue.delete(h.serial, h.generation) is False, (
                f"delete by {h} of a message {m.state} should change nothing"
            )
            return
        if h.generation != m.rc or m.state != "inflight":
            try:
                self.queue.delete(h.serial, h.generation)
            except ExpiredReceiptHandle:
                return
            raise AssertionError(f"{h} of a message {m.state} with rc={m.rc} must be rejected")
        assert self.queue.delete(h.serial, h.generation) is True
        m.state = "deleted"

    @rule(
        op=st.sampled_from(
            [
                SetDelay(0),
                SetRetention(345_600),
                SetDelay(30),
                SetRetention(60),
                SetDelay(0),
                Purge(),
            ]
        )
    )
    def housekeeping(self, op: object) -> None:
        self._tick()
        if isinstance(op, SetDelay):
            self.queue.delay = op.seconds  # applies to later sends
        else:
            self._housekeeping(op)  # de-duplication survives a purge

    @invariant()
    def groups_match_model(self) -> None:
        """The core's message groups hold exactly the live messages of each group, in send order,
        and count their in-flight messages."""
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
            expected = (mid, seq) if self.now < expiry else None
            assert self.queue.dedup_lookup(key, self.now) == expected


# =============================================================================== at-least-once
class AtLeastOnceMachine(RuleBasedStateMachine):
    """Two at-least-once standard queues with the same seed, driven by the same operations."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.queues: list[Queue] = []
        self.sent: set[str] = set()
        self.owed: set[str] = set()  # sent, not yet delivered, not purged
        self.handles: list[tuple[int, int]] = []

    @initialize(seed=seeds)
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
            q.retention = limits.MESSAGE_RETENTION_PERIOD_MAX  # nothing expires in these runs
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
        assert a == b, "same seed, same operations: the deliveries differ"
        for mid, serial, rc in a:
            assert mid in self.sent, f"invented message {mid}"
            self.owed.discard(mid)
            self.handles.append((serial, rc))
        return results[0]

    def _delete(self, serial: int, generation: int) -> bool:
        self._tick()
        results = [q.delete(serial, generation) for q in self.queues]
        assert results[0] == results[1]
        return results[0]

    @rule(n=st.integers(1, 4), delay=st.sampled_from([0, 0, 0, 1, 10]))
    def send(self, n: int, delay: int) -> None:
        self._tick()
        for _ in range(n):
            mid = f"m{len(self.sent):04d}"
            for q in self.queues:
                q.send(Message(mid, mid, md5(mid), self.now), delay, self.now)
            self.sent.add(mid)
            self.owed.add(mid)

    @rule(n=st.integers(1, limits.BATCH_ENTRIES_MAX))
    def send_batch(self, n: int) -> None:
        """A plain SendMessageBatch (the service's fast path)."""
        self._tick()
        mids = [f"m{len(self.sent) + i:04d}" for i in range(n)]
        for q in self.queues:
            q.send_plain(mids, list(mids), [md5(mid) for mid in mids], self.now)
        self.sent.update(mids)
        self.owed.update(mids)

    @rule(max_messages=st.integers(1, 10), visibility=st.integers(0, 60), sample=st.booleans())
    def receive(self, max_messages: int, visibility: int, sample: bool) -> None:
        self._receive(max_messages, visibility, sample)

    @precondition(lambda self: self.handles)
    @rule(pick=st.integers(0, 10_000))
    def delete(self, pick: int) -> None:
        self._delete(*self.handles[pick % len(self.handles)])

    @rule(dt=st.floats(0, 100, allow_nan=False, allow_infinity=False))
    def advance(self, dt: float) -> None:
        self.now += dt
        self._tick()

    @rule(op=st.sampled_from(["drain", "drain", "purge"]))
    def housekeeping(self, op: str) -> None:
        if op == "drain":
            self._drain()
            return
        self._tick()
        counts = [q.purge() for q in self.queues]
        assert counts[0] == counts[1]
        self.owed.clear()

    def _drain(self) -> None:
        """Keep receiving and deleting: everything owed is delivered and the queue empties.

        Every in-flight message returns within 61 s (visibility <= 60), so twenty receives, 31 s
        apart when they come back empty, without the queue getting shorter mean it is stuck."""
        best, stalled, i = len(self.queues[0]), 0, 0
        while any(len(q) for q in self.queues):
            assert stalled < 20, f"the queue does not drain: {[len(q) for q in self.queues]} left"
            got = self._receive(10, 30, sample=i % 2 == 0)
            i += 1
            for m in got:
                assert self._delete(m.serial, m.receive_count)
            if not got:
                self.now += 31  # let forgotten in-flight messages return
                self._tick()
            stalled = 0 if len(self.queues[0]) < best else stalled + 1
            best = min(best, len(self.queues[0]))
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
    def nothing_owed_is_lost(self) -> None:
        """A message not yet delivered is still stored."""
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
