"""The sans-IO core of one SQS queue.

A :class:`Queue` holds messages and decides everything about them: when they become receivable,
who may see them, when they return, expire or move to a dead-letter queue. Every method takes
``now`` (trio clock seconds) and never awaits, sleeps or reads a clock; the runtime calls
:meth:`Queue.tick` before each operation so timers that fell due since the last call are applied.

Cost: every operation is O(1) or O(log n) in the number of stored messages. Timers live in heaps
with lazy deletion (an entry is stale when the message has moved on); retention walks a deque of
arrivals from its old end, so expiry touches only messages that actually expire. A plain batch
(SendMessageBatch to a standard queue, no delay, attributes or group) is stored as one
:class:`Pack` until a receive, a move or its retention first reaches it; only then are its
messages made (the daemon's hottest path keeps one small record per batch meanwhile).

Standard queues deliver in send order by default (delayed and returned messages re-enter by send
order). With ``at_least_once`` they show AWS's documented standard-queue behaviours, driven by the
broker's seeded RNG: occasional duplicate deliveries (also after a delete), best-effort order, and
short polls that sample. A MessageGroupId on a standard queue names a tenant of a *fair queue*:
when one tenant is noisy (more than 10 % of the queue's in-flight messages and at least 30 of its
own in flight) messages of quiet tenants are delivered first.

FIFO queues keep strict order per message group, hold back a group while any of its messages is in
flight, serve ready groups round robin, and de-duplicate sends within the 5-minute interval (by
queue or by group, per DeduplicationScope), remembering ids even after the message is deleted.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Any

from .. import limits
from ..errors import InvalidParameterValue, MessageNotInflight, OverLimit
from .message import (
    ALLOWED,
    AVAILABLE,
    DELAYED,
    DELETED,
    EXPIRED,
    INFLIGHT,
    MOVED,
    Message,
    illegal,
)

#: at-least-once mode: chance that a delivery leaves a duplicate behind.
DUPLICATE_PROBABILITY = 0.02
#: at-least-once mode: how far (in send positions) a message may drift from send order.
REORDER_WINDOW = 8.0


class ExpiredReceiptHandle(InvalidParameterValue):
    """A superseded or lapsed receipt handle where AWS rejects it (FIFO queues)."""


class Group:
    """One FIFO message group: its undeleted messages in order, and how many are in flight."""

    __slots__ = ("group_id", "inflight", "msgs", "queued")

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.msgs: deque[Message] = deque()
        self.inflight = 0
        self.queued = False  # whether it sits in the queue's ready-group rotation

    def ready(self) -> bool:
        return not self.inflight and bool(self.msgs) and self.msgs[0].state == AVAILABLE


#: The ``state`` of a Pack whose messages have been made. It is past INFLIGHT so that ``tick``'s
#: test on the head of the arrival deque sends an opened pack to ``_expire``, which puts its
#: messages in its place.
OPENED = 6


class Pack:
    """The messages of one plain batch (standard queue, no delay, attribute or group), kept as one
    record until the first of them is needed: a receive (or a move task) reaching them, or their
    retention ending. Until then they are all AVAILABLE and never received, so no receipt handle
    can name them and nothing else can change them. One record instead of a Message per message
    saves the daemon's hottest path (SendMessageBatch) most of its allocation and collector work.

    A pack sits in the fresh deque and in the arrival deque, in send order. Whichever reaches it
    first opens it (``Queue._open``): the Messages are made with the serials the pack reserved at
    send, filed by serial, and the pack remembers them so the other deque gets the same ones.
    """

    __slots__ = ("bodies", "digests", "message_ids", "messages", "sent_at", "serial", "state")

    def __init__(
        self,
        serial: int,
        sent_at: float,
        message_ids: Sequence[str],
        bodies: Sequence[str],
        digests: Sequence[bytes],
    ) -> None:
        self.serial = serial  # the first message's serial; the others follow one by one
        self.sent_at = sent_at
        self.message_ids = message_ids
        self.bodies = bodies
        self.digests = digests
        self.state = AVAILABLE  # OPENED once its messages exist
        self.messages: list[Message] | None = None

    def make(self) -> list[Message]:
        """Fresh records of the pack's messages: available, never received, serials in order."""
        sent_at = self.sent_at
        msgs = [
            Message(m, body, d, sent_at)
            for m, body, d in zip(self.message_ids, self.bodies, self.digests, strict=True)
        ]
        serial = self.serial
        for msg in msgs:
            msg.serial = serial
            serial += 1
        return msgs

    def __repr__(self) -> str:
        return (
            f"Pack(serial={self.serial}, n={len(self.bodies)}, opened={self.messages is not None})"
        )


class Queue:
    """State of one queue. Configuration is plain attributes set by the service layer."""

    def __init__(
        self,
        *,
        name: str,
        uid: int,
        fifo: bool,
        created_at: float,
        rng: random.Random,
        at_least_once: bool = False,
    ) -> None:
        self.name = name
        self.uid = uid
        self.fifo = fifo
        self.created_at = created_at
        self.modified_at = created_at
        self._rng = rng
        self._alo = at_least_once and not fifo
        # Configuration (service layer validates and sets these).
        self.arn = ""
        self.url = ""
        self.attrs: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.last_purge: float | None = None
        self.max_size = limits.MAXIMUM_MESSAGE_SIZE_DEFAULT
        self.wait_time = limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_DEFAULT
        self.high_throughput = False
        self.redrive_target_arn: str | None = None
        self.redrive_allow: tuple[str, frozenset[str]] | None = None
        self.visibility_timeout = limits.VISIBILITY_TIMEOUT_DEFAULT
        self.retention = limits.MESSAGE_RETENTION_PERIOD_DEFAULT
        self.delay = limits.DELAY_SECONDS_DEFAULT
        self.max_receive_count = 0  # 0: no redrive policy
        self.content_based_dedup = False
        self.dedup_per_group = False
        self.inflight_limit = (
            limits.INFLIGHT_MESSAGES_MAX_FIFO if fifo else limits.INFLIGHT_MESSAGES_MAX_STANDARD
        )
        # Serials never restart (not even after a purge): a receipt handle names exactly one
        # message for the life of the queue.
        self._serial = 0
        self._reset_messages()
        # FIFO de-duplication survives purges and deletes (AWS keeps tracking the id).
        self._dedup: dict[Any, tuple[float, str, str | None]] = {}
        self._dedup_order: deque[tuple[float, Any]] = deque()
        self._seq = 0

    def _reset_messages(self) -> None:
        self._by_serial: dict[int, Message] = {}
        self.n_available = 0
        self.n_inflight = 0
        self.n_delayed = 0
        self._arrivals: deque[Message | Pack] = deque()
        self._late: list[tuple[float, int, Message]] = []
        self._delayed: list[tuple[float, int, Message]] = []
        self._inflight_timers: list[tuple[float, int, int, Message]] = []
        # standard queues
        self._fresh: deque[Message | Pack] = deque()
        self._returned: list[tuple[float, int, int, Message]] = []
        self._tenant_inflight: dict[str, int] = {}
        self._lanes: dict[str, deque[tuple[int, Message]]] = {}
        self._lane_rr: deque[str] = deque()
        self._fair = False
        # FIFO queues
        self._groups: dict[str, Group] = {}
        self._ready_groups: deque[Group] = deque()
        self._attempts: dict[str, tuple[float, list[tuple[Message, int, float]]]] = {}
        self._attempt_order: deque[tuple[float, str]] = deque()

    # ------------------------------------------------------------------ introspection
    def __len__(self) -> int:
        return self.n_available + self.n_inflight + self.n_delayed

    def get(self, serial: int) -> Message | None:
        return self._by_serial.get(serial)

    def messages(self) -> list[Message]:
        """Every live message (for tests and invariants; O(n)). A pack not yet opened stays
        closed: its messages are listed as records made for the answer, as they would be."""
        out = list(self._by_serial.values())
        for item in self._fresh:
            if type(item) is Pack and item.messages is None:
                out += item.make()
        return out

    @property
    def fair(self) -> bool:
        return self._fair

    # ------------------------------------------------------------------ timers
    def tick(self, now: float) -> None:
        """Apply every timer due by ``now``: delays ending, visibility lapsing, retention."""
        if self._delayed and self._delayed[0][0] <= now:
            self._release_delayed(now)
        if self._inflight_timers and self._inflight_timers[0][0] <= now:
            self._release_inflight(now)
        arrivals = self._arrivals
        if arrivals:
            head = arrivals[0]
            if head.state > INFLIGHT or head.sent_at + self.retention <= now:
                self._expire(now)
        if self._late and (
            self._late[0][2].state > INFLIGHT or self._late[0][0] + self.retention <= now
        ):
            self._expire(now)
        if self._dedup_order and self._dedup_order[0][0] <= now:
            self._forget_dedup(now)
        if self._attempt_order and self._attempt_order[0][0] <= now:
            self._forget_attempts(now)

    def next_timer(self) -> float | None:
        """Earliest time at which a message may become receivable (may be early: lazy heaps)."""
        t = None
        if self._delayed:
            t = self._delayed[0][0]
        if self._inflight_timers:
            d = self._inflight_timers[0][0]
            if t is None or d < t:
                t = d
        return t

    def _release_delayed(self, now: float) -> None:
        heap = self._delayed
        while heap and heap[0][0] <= now:
            _, _, msg = heappop(heap)
            if msg.state != DELAYED:
                continue
            msg.state = AVAILABLE  # DELAYED -> AVAILABLE, checked by the guard above
            self.n_delayed -= 1
            self.n_available += 1
            self._make_available(msg)

    def _release_inflight(self, now: float) -> None:
        heap = self._inflight_timers
        while heap and heap[0][0] <= now:
            deadline, _, rc, msg = heappop(heap)
            if msg.state != INFLIGHT or msg.receive_count != rc or msg.visible_at != deadline:
                continue
            self._return(msg)

    def _return(self, msg: Message) -> None:
        """An in-flight message becomes receivable again."""
        if AVAILABLE not in ALLOWED[msg.state]:
            raise illegal(msg, AVAILABLE)
        msg.state = AVAILABLE
        self.n_inflight -= 1
        self.n_available += 1
        if self.fifo:
            group = self._groups[msg.group_id]  # type: ignore[index]
            group.inflight -= 1
            if group.ready() and not group.queued:
                group.queued = True
                self._ready_groups.append(group)
        else:
            if msg.group_id is not None:
                self._tenant_inflight[msg.group_id] -= 1
            self._make_available(msg)

    def _make_available(self, msg: Message) -> None:
        """Index an AVAILABLE message so receive can find it (not for fresh standard sends)."""
        if self.fifo:
            group = self._groups[msg.group_id]  # type: ignore[index]
            if group.ready() and not group.queued:
                group.queued = True
                self._ready_groups.append(group)
            return
        key = msg.serial + self._rng.random() * REORDER_WINDOW if self._alo else msg.serial
        heappush(self._returned, (key, msg.serial, msg.receive_count, msg))
        if msg.group_id is not None:
            self._lane_push(msg)

    # ------------------------------------------------------------------ retention
    def _expire(self, now: float) -> None:
        # The same expression as tick()'s test (sent_at + retention <= now): "now - retention"
        # can round differently and leave a message alive at its exact expiry time.
        retention = self.retention
        arrivals = self._arrivals
        while arrivals:
            head = arrivals[0]
            if type(head) is Pack:
                if head.messages is None and head.sent_at + retention > now:
                    break
                arrivals.popleft()
                arrivals.extendleft(reversed(self._open(head)))
            elif head.state > INFLIGHT:
                arrivals.popleft()
            elif head.sent_at + retention <= now:
                arrivals.popleft()
                self._remove(head, EXPIRED)
            else:
                break
        late = self._late
        while late and (late[0][2].state > INFLIGHT or late[0][0] + retention <= now):
            _, _, msg = heappop(late)
            if msg.state <= INFLIGHT:
                self._remove(msg, EXPIRED)

    def _remove(self, msg: Message, final_state: int) -> None:
        """Take a live message out of the queue for good (delete, expiry, move)."""
        state = msg.state
        if final_state not in ALLOWED[state]:
            raise illegal(msg, final_state)
        if state == AVAILABLE:
            self.n_available -= 1
        elif state == INFLIGHT:
            self.n_inflight -= 1
        else:
            self.n_delayed -= 1
        msg.state = final_state
        del self._by_serial[msg.serial]
        if self.fifo:
            group = self._groups[msg.group_id]  # type: ignore[index]
            msgs = group.msgs
            if msgs and msgs[0] is msg:
                msgs.popleft()
            else:
                msgs.remove(msg)  # within the in-flight prefix: at most 10 positions
            if state == INFLIGHT:
                group.inflight -= 1
            if not msgs and not group.inflight:
                del self._groups[msg.group_id]  # type: ignore[arg-type]
            elif group.ready() and not group.queued:
                group.queued = True
                self._ready_groups.append(group)
        elif state == INFLIGHT and msg.group_id is not None:
            self._tenant_inflight[msg.group_id] -= 1

    # ------------------------------------------------------------------ send
    def dedup_lookup(self, key: Any, now: float) -> tuple[str, str | None] | None:
        """The (MessageId, SequenceNumber) of a send with this dedup key in the last 5 minutes."""
        entry = self._dedup.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1], entry[2]

    def dedup_key(self, group_id: str, dedup_id: str) -> Any:
        return (group_id, dedup_id) if self.dedup_per_group else dedup_id

    def next_sequence_number(self) -> str:
        """A FIFO SequenceNumber: 20+ decimal digits, strictly increasing, not consecutive."""
        self._seq += 1
        return str(18_000_000_000_000_000_000 + self._uid_base() + self._seq * 65_536)

    def _uid_base(self) -> int:
        return (self.uid % 1_000) * 1_000_000_000_000_000

    def send(self, msg: Message, delay: int, now: float, dedup_key: Any = None) -> None:
        """Enqueue a new message (already validated and de-duplicated by the caller)."""
        self._admit(msg)
        if dedup_key is not None:
            expires = now + limits.DEDUPLICATION_INTERVAL
            self._dedup[dedup_key] = (expires, msg.message_id, msg.sequence_number)
            self._dedup_order.append((expires, dedup_key))
        if delay > 0:
            msg.state = DELAYED
            msg.visible_at = now + delay
            self.n_delayed += 1
            heappush(self._delayed, (msg.visible_at, msg.serial, msg))
            return
        self.n_available += 1
        if self.fifo:
            group = self._groups[msg.group_id]  # type: ignore[index]
            if not group.queued and group.ready():
                group.queued = True
                self._ready_groups.append(group)
        elif self._alo:
            self._make_available(msg)
        else:
            self._fresh.append(msg)
            if msg.group_id is not None:
                self._lane_push(msg)

    def send_plain(
        self, message_ids: list[str], bodies: list[str], digests: list[bytes], now: float
    ) -> None:
        """`send` for new messages of a standard queue with no delay, dedup or group (the batch
        fast path): one Pack for them all. They are the newest arrivals: their send time is
        ``now``, which no stored message's exceeds, so they extend the retention deque in order.
        At-least-once queues index each message at once (their order is drawn at send)."""
        n = len(bodies)
        if self._alo:
            for message_id, body, digest in zip(message_ids, bodies, digests, strict=True):
                self._admit_available(Message(message_id, body, digest, now))
            return
        pack = Pack(self._serial + 1, now, message_ids, bodies, digests)
        self._serial += n
        self._arrivals.append(pack)
        self._fresh.append(pack)
        self.n_available += n

    def _open(self, pack: Pack) -> list[Message]:
        """The Messages of ``pack``, made and filed by serial the first time it is asked."""
        msgs = pack.messages
        if msgs is None:
            msgs = pack.messages = pack.make()
            by_serial = self._by_serial
            for msg in msgs:
                by_serial[msg.serial] = msg
            pack.state = OPENED
            pack.message_ids = pack.bodies = pack.digests = ()  # the messages hold them now
        return msgs

    def accept_moved(self, msg: Message, now: float, origin: str | None) -> Message:
        """Take in a message moved from another queue (dead-letter redrive or a move task).

        The message keeps its id, body, attributes and receive count. AWS keeps a standard
        message's original enqueue timestamp (so retention counts from the first send), and resets
        it for FIFO queues.
        """
        record = msg.copy()
        record.origin = origin
        if self.fifo:
            record.sent_at = now
            record.sequence_number = self.next_sequence_number()
            if record.group_id is None:
                record.group_id = record.message_id
        self._admit_available(record)
        return record

    def _admit(self, record: Message) -> None:
        """File a new record: its serial, the handle index, retention order and its group."""
        self._serial += 1
        record.serial = self._serial
        self._by_serial[record.serial] = record
        arrivals = self._arrivals
        if arrivals and record.sent_at < arrivals[-1].sent_at:  # kept an older enqueue time
            heappush(self._late, (record.sent_at, record.serial, record))
        else:
            arrivals.append(record)
        if self.fifo:
            group = self._groups.get(record.group_id)  # type: ignore[arg-type]
            if group is None:
                group = self._groups[record.group_id] = Group(record.group_id)  # type: ignore[index]
            group.msgs.append(record)
        elif record.group_id is not None:
            self._fair = True

    def _admit_available(self, record: Message) -> None:
        self._admit(record)
        record.state = AVAILABLE
        self.n_available += 1
        self._make_available(record)

    # ------------------------------------------------------------------ receive
    def receive(
        self,
        now: float,
        max_messages: int,
        visibility: int,
        redrive_to: Queue | None = None,
        attempt_id: str | None = None,
        sample: bool = False,
    ) -> list[Message]:
        """Hand out up to ``max_messages`` receivable messages, each now in flight.

        A message whose receive count has reached the redrive policy's maxReceiveCount is moved to
        ``redrive_to`` instead of being delivered (the receive that would exceed the count).
        ``sample`` (at-least-once standard queues, short polls) may return fewer than available.
        """
        if self.fifo:
            if attempt_id is not None:
                again = self._retry_attempt(attempt_id, now, visibility)
                if again is not None:
                    return again
            out = self._receive_fifo(now, max_messages, visibility, redrive_to)
            if attempt_id is not None and out:  # an empty answer leaves nothing to retry
                self._attempts[attempt_id] = (
                    now + limits.RECEIVE_REQUEST_ATTEMPT_ID_INTERVAL,
                    [(m, m.receive_count, m.visible_at) for m in out],
                )
                self._attempt_order.append(
                    (now + limits.RECEIVE_REQUEST_ATTEMPT_ID_INTERVAL, attempt_id)
                )
            return out
        if self.n_inflight >= self.inflight_limit and self.n_available:
            raise OverLimit(
                f"Too many messages in flight: the queue has {self.n_inflight} in flight, "
                f"the limit is {self.inflight_limit}."
            )
        if sample and self.n_available:
            max_messages = self._rng.randint(0, max_messages)
        out: list[Message] = []
        move_limit = self.max_receive_count if redrive_to is not None else 0
        while len(out) < max_messages:
            msg = self._next_standard()
            if msg is None:
                break
            if move_limit and msg.receive_count >= move_limit:
                self._move_to(msg, redrive_to, now)  # type: ignore[arg-type]
                continue
            self._deliver(msg, now, visibility)
            out.append(msg)
            if self._alo and self._rng.random() < DUPLICATE_PROBABILITY:
                self._leave_duplicate(msg)
        return out

    def _deliver(self, msg: Message, now: float, visibility: int) -> None:
        if INFLIGHT not in ALLOWED[msg.state]:
            raise illegal(msg, INFLIGHT)
        msg.state = INFLIGHT
        msg.receive_count += 1
        if msg.first_receive is None:
            msg.first_receive = now
        msg.visible_at = deadline = now + visibility
        msg.deadline_cap = now + limits.VISIBILITY_TIMEOUT_MAX
        self.n_available -= 1
        self.n_inflight += 1
        heappush(self._inflight_timers, (deadline, msg.serial, msg.receive_count, msg))
        if not self.fifo and msg.group_id is not None:
            ti = self._tenant_inflight
            ti[msg.group_id] = ti.get(msg.group_id, 0) + 1

    def _move_to(self, msg: Message, target: Queue, now: float) -> None:
        self._remove(msg, MOVED)
        target.accept_moved(msg, now, self.arn)

    def _leave_duplicate(self, msg: Message) -> None:
        """at-least-once: a copy of ``msg`` stays behind and is delivered again later."""
        self._admit_available(msg.copy())

    def _next_standard(self) -> Message | None:
        """Pop the next message to deliver from a standard queue (send order, fair tenants)."""
        fresh = self._fresh
        returned = self._returned
        while fresh:
            head = fresh[0]
            if type(head) is Pack:
                fresh.popleft()
                fresh.extendleft(reversed(self._open(head)))
            elif head.state != AVAILABLE or head.receive_count:
                fresh.popleft()
            else:
                break
        while returned:
            _, _, rc, m = returned[0]
            if m.state == AVAILABLE and m.receive_count == rc:
                break
            heappop(returned)
        if self._fair:
            head = None
            if fresh and (not returned or fresh[0].serial < returned[0][0]):
                head = fresh[0]
            elif returned:
                head = returned[0][3]
            if head is not None and head.group_id is not None and self._noisy(head.group_id):
                quiet = self._quiet_lane_message()
                if quiet is not None:
                    return quiet
        if fresh and (not returned or fresh[0].serial < returned[0][0]):
            return fresh.popleft()
        if returned:
            return heappop(returned)[3]
        return None

    # -- fair queues (standard queues with MessageGroupId as tenant id)
    def _noisy(self, tenant: str) -> bool:
        own = self._tenant_inflight.get(tenant, 0)
        return (
            own >= limits.STANDARD_FAIR_QUEUE_NOISY_MIN_INFLIGHT
            and own > limits.STANDARD_FAIR_QUEUE_NOISY_SHARE * self.n_inflight
        )

    def _lane_push(self, msg: Message) -> None:
        lane = self._lanes.get(msg.group_id)  # type: ignore[arg-type]
        if lane is None:
            lane = self._lanes[msg.group_id] = deque()  # type: ignore[index]
        if not lane:
            self._lane_rr.append(msg.group_id)  # type: ignore[arg-type]
        lane.append((msg.receive_count, msg))

    def _quiet_lane_message(self) -> Message | None:
        """The oldest available message of the next quiet tenant, round robin; None if none."""
        rr = self._lane_rr
        for _ in range(len(rr)):
            tenant = rr[0]
            lane = self._lanes[tenant]
            while lane and (
                lane[0][1].state != AVAILABLE or lane[0][1].receive_count != lane[0][0]
            ):
                lane.popleft()
            if not lane:
                rr.popleft()
                del self._lanes[tenant]
                continue
            rr.rotate(-1)
            if self._noisy(tenant):
                continue
            return lane.popleft()[1]
        return None

    # -- FIFO
    def _receive_fifo(
        self, now: float, max_messages: int, visibility: int, redrive_to: Queue | None
    ) -> list[Message]:
        out: list[Message] = []
        ready = self._ready_groups
        move_limit = self.max_receive_count if redrive_to is not None else 0
        limit = self.inflight_limit
        while len(out) < max_messages and ready and self.n_inflight < limit:
            group = ready.popleft()
            group.queued = False
            if not group.ready():
                continue
            msgs = group.msgs
            i = 0
            while len(out) < max_messages and i < len(msgs) and self.n_inflight < limit:
                msg = msgs[i]
                if msg.state != AVAILABLE:
                    break
                if move_limit and msg.receive_count >= move_limit:
                    self._move_to(msg, redrive_to, now)  # type: ignore[arg-type]
                    if group.group_id not in self._groups:
                        break
                    continue
                self._deliver(msg, now, visibility)
                group.inflight += 1
                out.append(msg)
                i += 1
            if group.ready() and not group.queued:
                group.queued = True
                ready.append(group)
        return out

    def _retry_attempt(self, attempt_id: str, now: float, visibility: int) -> list[Message] | None:
        """ReceiveRequestAttemptId (FIFO): within 5 minutes, a retry returns the same messages
        and receipt handles and restarts their visibility timeout -- as long as none of them was
        modified (deleted, its visibility changed, or received again); after such a change AWS
        answers that the attempt id is no longer valid. When the visibility of the untouched
        messages has simply lapsed, the retry is an ordinary receive."""
        entry = self._attempts.get(attempt_id)
        if entry is None or entry[0] <= now:
            return None
        got = entry[1]
        lapsed = False
        for msg, rc, deadline in got:
            if msg.state > INFLIGHT or msg.receive_count != rc or msg.visible_at != deadline:
                raise InvalidParameterValue(
                    f"Value {attempt_id} for parameter ReceiveRequestAttemptId is invalid. "
                    "Reason: The receiveRequestAttemptId is not valid anymore since the receive "
                    "call is not retryable."
                )
            lapsed = lapsed or msg.state != INFLIGHT
        if lapsed:
            return None
        renewed = []
        for msg, rc, _ in got:
            msg.visible_at = now + visibility
            heappush(self._inflight_timers, (msg.visible_at, msg.serial, rc, msg))
            renewed.append((msg, rc, msg.visible_at))
        self._attempts[attempt_id] = (entry[0], renewed)
        return [m for m, _, _ in renewed]

    def _forget_dedup(self, now: float) -> None:
        order = self._dedup_order
        dedup = self._dedup
        while order and order[0][0] <= now:
            _, key = order.popleft()
            entry = dedup.get(key)
            if entry is not None and entry[0] <= now:  # not re-recorded since
                del dedup[key]

    def _forget_attempts(self, now: float) -> None:
        order = self._attempt_order
        while order and order[0][0] <= now:
            _, attempt_id = order.popleft()
            entry = self._attempts.get(attempt_id)
            if entry is not None and entry[0] <= now:
                del self._attempts[attempt_id]

    # ------------------------------------------------------------------ by receipt handle
    def delete(self, serial: int, generation: int) -> bool:
        """Delete by receipt handle; True when a message was deleted.

        AWS: the most recent receipt handle deletes (on a standard queue also after the visibility
        timeout lapsed). A superseded handle on a standard queue "succeeds but the message might
        not be deleted": here it is not deleted. A FIFO queue rejects a superseded or lapsed handle.
        Deleting a message that is already gone succeeds.
        """
        msg = self._by_serial.get(serial)
        if msg is None:
            return False
        if generation != msg.receive_count or msg.state != INFLIGHT:
            if self.fifo:
                raise ExpiredReceiptHandle(
                    "Value for parameter ReceiptHandle is invalid. Reason: The receipt handle has "
                    "expired."
                )
            if generation != msg.receive_count:
                return False
        self._remove(msg, DELETED)
        return True

    def change_visibility(self, serial: int, generation: int, timeout: int, now: float) -> None:
        """ChangeMessageVisibility: the new timeout counts from now; 0 releases at once.

        The visibility of one receive may not reach beyond 12 hours after that receive.
        """
        msg = self._by_serial.get(serial)
        if msg is None:
            raise InvalidParameterValue(
                "Value for parameter ReceiptHandle is invalid. Reason: Message does not exist or "
                "is not available for visibility timeout change."
            )
        if generation != msg.receive_count:
            raise ExpiredReceiptHandle(
                "Value for parameter ReceiptHandle is invalid. Reason: The receipt handle has "
                "expired."
            )
        if msg.state != INFLIGHT:
            raise MessageNotInflight(
                "Message with the given receipt handle is not in flight: its visibility timeout "
                "has already expired."
            )
        deadline = now + timeout
        if deadline > msg.deadline_cap:
            raise InvalidParameterValue(
                f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                f"VisibilityTimeout for the message is beyond the limit "
                f"[{limits.VISIBILITY_TIMEOUT_MAX} seconds]."
            )
        msg.visible_at = deadline
        if timeout == 0:
            self._return(msg)
        else:
            heappush(self._inflight_timers, (deadline, msg.serial, msg.receive_count, msg))

    # ------------------------------------------------------------------ whole-queue operations
    def purge(self) -> int:
        """Delete every message (available, delayed and in flight); returns how many."""
        n = len(self)
        self._reset_messages()  # O(1): old records become unreachable; their handles find nothing
        return n

    def take_oldest_available(self) -> Message | None:
        """Remove and return the oldest receivable message (for message move tasks)."""
        if self.fifo:
            while self._ready_groups:
                group = self._ready_groups[0]
                if group.ready():
                    msg = group.msgs[0]
                    self._remove(msg, MOVED)
                    return msg
                self._ready_groups.popleft()
                group.queued = False
            return None
        fair = self._fair
        self._fair = False  # plain send order for moves
        try:
            msg = self._next_standard()
        finally:
            self._fair = fair
        if msg is not None:
            self._remove(msg, MOVED)
        return msg
