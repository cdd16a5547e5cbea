"""The sans-IO core of a Lambda event source mapping reading one Kinesis shard.

The runtime reads the shard (GetRecords), hands the records to a :class:`KinesisShardSource`
with :meth:`~KinesisShardSource.add_records`, asks :meth:`~KinesisShardSource.next_batch` for
batches to invoke, runs the handler and reports each :class:`~.outcome.Outcome` back with
:meth:`~KinesisShardSource.complete`. This module decides everything else: how records are
grouped into batches, in which order, what a failure does and when the shard's checkpoint moves.
It never awaits, reads a clock or runs user code; every method that depends on time takes
``now`` (seconds on the broker's clock).

What it does, and what the AWS Lambda developer guide says about it ("Using Lambda with
Kinesis", "Lambda parameters for Kinesis event source mappings", "Retain discarded batch
records", "Configuring partial batch response", "Implementing stateful Kinesis processing",
"Using event filtering with a Kinesis event source"):

Batching
    A batch holds at most ``BatchSize`` records. With ``MaximumBatchingWindowInSeconds`` 0 a
    lane sends whatever it has buffered as soon as it is free; with a window, a partial batch
    waits until the window has elapsed since its first record was buffered. A batch is always
    sent early when it is full, when its event would reach the 6 MB synchronous payload limit
    (6,291,456 bytes of event JSON, counted as ``json.dumps`` with its default separators
    writes it; a single record that alone exceeds the limit goes in a batch of its own), and
    when the shard has ended.
Lanes (ParallelizationFactor)
    Up to ``ParallelizationFactor`` batches of one shard run at once. A record's lane is
    ``crc32(partition key) % factor`` (stable across runs, unlike ``hash()``), so every record
    of a partition key goes through the same lane, and a lane has at most one batch in flight:
    order per partition key is kept, as AWS promises.
Filtering
    Kinesis mappings filter on the ``data`` key only: a record whose data is JSON is matched as
    ``{"data": <decoded JSON>}``; a record whose data is not JSON has no ``data`` to match, so a
    pattern on ``data`` drops it. A record is kept when any pattern matches (empty = keep all).
    Dropped records are never invoked; the checkpoint moves past them.
Failures
    A function error or timeout fails the whole batch; so does a ``ReportBatchItemFailures``
    response naming a record that is not in the batch or malformed (an item that is not an
    object, an empty or null ``itemIdentifier``). A failing batch is retried and blocks its
    lane (later records of its lane wait; with the read-ahead bound, the whole shard stalls
    eventually -- "a bad record can block processing on the affected shard"). Retries stop
    when ``MaximumRetryAttempts`` retries have failed (-1: never) or when the batch's oldest
    record would be older than ``MaximumRecordAgeInSeconds`` at the retry (-1: never); the
    batch is then discarded with an OnFailure record (when a destination is set) and the lane
    moves on.
Bisecting (BisectBatchOnFunctionError)
    A failed batch of two or more records is split in two halves, retried in order (the second
    half is offered only once the first is settled). "Splitting a batch does not count towards
    the retry quota": only the failure of a batch that cannot be split (one record) uses a
    retry attempt. A partial-batch response is not bisected: "the batch is bisected at the
    returned sequence number and Lambda retries only the remaining records".
ReportBatchItemFailures
    ``{"batchItemFailures": [{"itemIdentifier": "<sequence number>"}]}``; an empty or null list
    (or no response) is full success. Otherwise the records before the lowest failed sequence
    number are done, and the batch is retried from that record; that retry uses a retry attempt.
Throttles
    A throttled invocation never reached the function: it is retried after the backoff without
    using a retry attempt ("This doesn't apply to service errors or throttles where the batch
    didn't reach the function"), until the records exceed the maximum age.
Backoff
    AWS documents that failed batches are retried but not when. msgsim waits
    ``RETRY_BACKOFF_BASE * 2 ** (n - 1)`` seconds, at most ``RETRY_BACKOFF_MAX``, after the
    n-th failure in a row of a lane (function errors, partial failures and throttles alike);
    any success, or giving up on a batch, starts the count again.
Maximum record age before the first attempt
    ``MaximumRecordAgeInSeconds`` is "the maximum age of a record that Lambda sends to your
    function": records already that old when their lane gets to them (a mapping far behind its
    stream) are discarded without an invocation, with an OnFailure record of condition
    ``RecordAgeExceeded`` and ``approximateInvokeCount`` 0. Those records come out of
    :meth:`KinesisShardSource.take_failures` (and with the next :meth:`~KinesisShardSource.complete`).
Tumbling windows (TumblingWindowInSeconds)
    A record belongs to the window ``[floor(arrival / T) * T, + T)`` of its
    ApproximateArrivalTimestamp; records of one lane are never assigned an earlier window than
    one already seen in that lane (arrival times are only approximately monotonic), and a batch
    never spans two windows. Each lane keeps the window's state: an invocation gets the state
    the previous successful invocation of the window returned (``{}`` for a new window), and its
    response must contain ``state`` (an object), else it failed. A window is closed once a
    record of a later window has been read, once a GetRecords call made after its end found the
    mapping caught up (MillisBehindLatest 0), or when the shard ends. The last batch of a closed
    window carries ``isFinalInvokeForWindow: true``; if the window closes after its last batch
    was sent, an extra invocation with no records carries the final flag and the state. A state
    larger than 1 MB (as JSON) ends the window early: a final invocation follows at once with
    ``isWindowTerminatedEarly: true`` and the window's later records start from ``{}``. With a
    ParallelizationFactor above 1 each lane keeps its own windows and state (AWS does not say).
    A final invocation without records that keeps failing is given up without an OnFailure
    record (there are no records to report).
Checkpoint
    :attr:`KinesisShardSource.checkpoint` is the sequence number of the last record such that it
    and every record before it in the shard is settled: delivered to a successful invocation,
    filtered out, or discarded (reported to OnFailure, or dropped when there is no destination).
"""

from __future__ import annotations

import base64
import json
import uuid
import zlib
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .. import limits
from ..filters import FilterPolicy
from .outcome import OK, THROTTLED, Outcome

__all__ = [
    "RECORD_AGE_EXCEEDED",
    "RETRY_ATTEMPTS_EXHAUSTED",
    "RETRY_BACKOFF_BASE",
    "RETRY_BACKOFF_MAX",
    "TUMBLING_STATE_MAX_BYTES",
    "Batch",
    "IllegalLaneTransition",
    "KinesisShardSource",
    "KinesisSourceConfig",
]

#: Seconds before the first retry of a failed or throttled batch; doubles with each failure in a
#: row of the same lane (AWS does not document its schedule).
RETRY_BACKOFF_BASE = 1.0
#: The longest wait between two attempts of a batch.
RETRY_BACKOFF_MAX = 60.0
#: "Your state can be a maximum of 1 MB per shard. If it exceeds that size, Lambda terminates the
#: window early."
TUMBLING_STATE_MAX_BYTES = 1_048_576
#: How many batches' worth of records per lane the source buffers before it stops asking for more.
READ_AHEAD_BATCHES = 4

#: OnFailure ``requestContext.condition`` values of stream event source mappings.
RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"

# How a response settles a batch.
_SUCCESS = 0
_PARTIAL = 1  # ReportBatchItemFailures named records of the batch: retry from the lowest
_FAILED = 2  # the whole batch failed (function error, timeout, unusable response)

# A record's fate. 0 = not settled yet.
_DELIVERED = 1
_FILTERED = 2
_DISCARDED = 3

# -- the life of a lane --------------------------------------------------------------------------
IDLE = "IDLE"  # nothing in flight, no failed batch waiting: the next batch comes from the buffer
INVOKING = "INVOKING"  # one batch handed to the runtime, its outcome not reported yet
BACKING_OFF = "BACKING_OFF"  # a batch (or the second half of a bisected one) waits to be retried

#: Allowed moves of a lane. A lane blocked by a failing batch leaves BACKING_OFF only by invoking.
LANE_TRANSITIONS: dict[str, frozenset[str]] = {
    IDLE: frozenset({INVOKING}),
    INVOKING: frozenset({IDLE, BACKING_OFF}),
    BACKING_OFF: frozenset({INVOKING}),
}


class IllegalLaneTransition(RuntimeError):
    """A lane was asked to make a move its table does not allow, or a batch that is not in flight
    was completed (a defect in the caller)."""


class KinesisSourceConfig:
    """The settings of a Kinesis event source mapping that shape batches and failures.

    Values are validated by the Lambda service (CreateEventSourceMapping); this class assumes
    they are in range.
    """

    __slots__ = (
        "batch_size",
        "batching_window",
        "bisect_on_error",
        "destination_on_failure",
        "filters",
        "maximum_record_age",
        "maximum_retry_attempts",
        "parallelization_factor",
        "report_batch_item_failures",
        "tumbling_window",
    )

    def __init__(
        self,
        *,
        batch_size: int = limits.LAMBDA_ESM_KINESIS_BATCH_SIZE_DEFAULT,
        batching_window: float = 0.0,
        parallelization_factor: int = 1,
        bisect_on_error: bool = False,
        maximum_retry_attempts: int = -1,
        maximum_record_age: int = -1,
        report_batch_item_failures: bool = False,
        tumbling_window: int = 0,
        filters: Iterable[FilterPolicy] = (),
        destination_on_failure: str | None = None,
    ) -> None:
        self.batch_size = batch_size  # BatchSize 1..10,000
        self.batching_window = batching_window  # MaximumBatchingWindowInSeconds 0..300
        self.parallelization_factor = parallelization_factor  # 1..10
        self.bisect_on_error = bisect_on_error  # BisectBatchOnFunctionError
        self.maximum_retry_attempts = maximum_retry_attempts  # -1 (infinite) .. 10,000
        self.maximum_record_age = maximum_record_age  # seconds; -1 (infinite) or 60..604,800
        #: FunctionResponseTypes contains "ReportBatchItemFailures"
        self.report_batch_item_failures = report_batch_item_failures
        self.tumbling_window = tumbling_window  # TumblingWindowInSeconds 0..900
        self.filters: list[FilterPolicy] = list(filters)  # FilterCriteria patterns, ORed
        self.destination_on_failure = destination_on_failure  # OnFailure destination ARN

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"KinesisSourceConfig({fields})"


class _Record:
    """One record read from the shard, with what the source computed once for it."""

    __slots__ = ("added", "arrival", "event", "fate", "raw", "seq", "size", "window")

    def __init__(
        self, raw: dict[str, Any], seq: str, arrival: float, added: float, event: Any, size: int
    ) -> None:
        self.raw = raw  # the GetRecords record, handed back in Batch.records
        self.seq = seq
        self.arrival = arrival  # ApproximateArrivalTimestamp on the broker's clock
        self.added = added  # when it was buffered (the batching window counts from here)
        self.event = event  # its entry of the Lambda event's "Records" (None once filtered)
        self.size = size  # bytes of that entry as JSON
        self.window = 0  # tumbling window start (Unix seconds); 0 without tumbling windows
        self.fate = 0  # 0 until settled, then _DELIVERED, _FILTERED or _DISCARDED


class _Segment:
    """A run of consecutive records of one lane that is invoked together until it is settled:
    a batch being tried, retried, or one half of a bisected batch."""

    __slots__ = ("closing", "due", "early", "offers", "records", "retries", "runs", "window")

    def __init__(self, records: list[_Record], window: int, due: float) -> None:
        self.records = records
        self.window = window  # tumbling window start, 0 without tumbling windows
        self.due = due  # not offered before this time (retry backoff)
        self.offers = 0  # times handed to the runtime (throttled attempts included)
        self.runs = 0  # attempts that reached the function (approximateInvokeCount)
        self.retries = 0  # retry attempts used (MaximumRetryAttempts)
        self.closing = False  # a records-less final invocation of a tumbling window
        self.early = False  # ... sent because the state outgrew 1 MB


class Batch:
    """One invocation to make: the records, the Lambda event built from them, and which attempt
    this is. Hand it back to :meth:`KinesisShardSource.complete` with the outcome."""

    __slots__ = (
        "_segment",
        "attempt",
        "event",
        "final",
        "id",
        "lane",
        "payload_bytes",
        "records",
    )

    def __init__(
        self,
        batch_id: int,
        lane: int,
        segment: _Segment,
        event: dict[str, Any],
        payload_bytes: int,
        final: bool,
    ) -> None:
        self.id = batch_id
        self.lane = lane
        self._segment = segment
        #: the GetRecords records of the batch, in shard order
        self.records: list[dict[str, Any]] = [r.raw for r in segment.records]
        self.event = event
        #: the size of ``event`` as ``json.dumps`` writes it
        self.payload_bytes = payload_bytes
        self.attempt = segment.offers  # 1 for the first try of these records
        #: a tumbling window's final invocation (isFinalInvokeForWindow)
        self.final = final

    def __repr__(self) -> str:
        return (
            f"Batch(id={self.id}, lane={self.lane}, records={len(self.records)}, "
            f"attempt={self.attempt}, final={self.final})"
        )


class _Lane:
    """One of the ParallelizationFactor concurrent streams of batches of a shard."""

    __slots__ = (
        "failures",
        "index",
        "inflight",
        "max_window",
        "pending",
        "pending_bytes",
        "segments",
        "state",
        "tw_dirty",
        "tw_early",
        "tw_start",
        "tw_state",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.state = IDLE
        self.pending: deque[_Record] = deque()  # buffered, not yet in a batch, in shard order
        self.pending_bytes = 0
        #: batches being tried or waiting for a retry, oldest records first; the head is the one
        #: offered next (or in flight)
        self.segments: deque[_Segment] = deque()
        self.inflight: Batch | None = None
        self.failures = 0  # failed attempts in a row (backoff)
        self.max_window = 0  # latest tumbling window assigned to a record of this lane
        self.tw_start: int | None = None  # the tumbling window being aggregated
        self.tw_state: dict[str, Any] = {}
        self.tw_dirty = False  # the window has state from a non-final invocation to finalize
        self.tw_early = False  # the state outgrew the limit: end the window now

    def move(self, new_state: str) -> None:
        if new_state not in LANE_TRANSITIONS[self.state]:
            raise IllegalLaneTransition(f"lane {self.index}: {self.state} -> {new_state}")
        self.state = new_state


def _iso_ms(unix: float) -> str:
    """``2019-11-14T00:38:06.021Z``: how destination records write times."""
    ms = round(unix * 1000)
    stamp = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"


def _iso_s(unix: int) -> str:
    """``2020-12-09T07:04:00Z``: how tumbling-window events write window bounds."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_EMPTY_EVENT_BYTES = len(json.dumps({"Records": []}))


class KinesisShardSource:
    """The event source mapping's view of one shard: buffered records, the batches in flight per
    lane, retries, tumbling-window state and the checkpoint. See the module docstring for the
    semantics.

    The runtime's loop: while :meth:`wants_records`, read the shard and call
    :meth:`add_records` (or :meth:`end_of_shard` once a closed shard is read to its end); call
    :meth:`next_batch` until it returns None and invoke each batch; report each outcome with
    :meth:`complete` and send the OnFailure records it returns (and those of
    :meth:`take_failures`); sleep until :meth:`next_timer` or the next completion or read. The
    shard is finished when :attr:`done`.
    """

    def __init__(
        self,
        config: KinesisSourceConfig,
        *,
        shard_id: str,
        stream_arn: str,
        function_arn: str,
        region: str,
        mapping_uuid: str,
        epoch_offset: float,
        role: str | None = None,
    ) -> None:
        """``epoch_offset`` is the Unix time at broker clock 0: a record's
        ApproximateArrivalTimestamp minus ``epoch_offset`` is its arrival on the broker clock.
        ``role`` is the function's execution role (each record's invokeIdentityArn)."""
        self.config = config
        self.shard_id = shard_id
        self.stream_arn = stream_arn
        self.function_arn = function_arn
        self.region = region
        self.mapping_uuid = mapping_uuid
        self.epoch_offset = epoch_offset
        #: counters: batches (invocations handed out), records_invoked (records in them, retries
        #: included), records_delivered (settled by a successful invocation), records_filtered,
        #: retries (failed batches scheduled again, unsplit), bisections, records_failed
        #: (discarded: reported to OnFailure, or dropped without a destination), throttles
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "batches",
                "records_invoked",
                "records_delivered",
                "records_filtered",
                "retries",
                "bisections",
                "records_failed",
                "throttles",
            ),
            0,
        )
        parts = function_arn.split(":")
        account = parts[4] if len(parts) > 4 else ""
        qualifier = parts[7] if len(parts) > 7 else ""
        self._executed_version = qualifier if qualifier.isdigit() else "$LATEST"
        self._role = role or f"arn:aws:iam::{account}:role/msgsim-lambda"
        self._event_id_prefix = f"{shard_id}:"
        self._lanes = [_Lane(i) for i in range(max(1, config.parallelization_factor))]
        self._rr = 0  # next lane next_batch looks at first
        #: every record read and not yet behind the checkpoint, in shard order
        self._order: deque[_Record] = deque()
        self._order_bytes = 0
        self._checkpoint: str | None = None
        self._ended = False
        self._stash: list[dict[str, Any]] = []  # OnFailure records not yet returned
        self._batch_ids = 0
        self._last_handed_arrival: float | None = None
        self._max_arrival_unix = float("-inf")
        self._caught_up_unix = float("-inf")  # Unix time of the last read that was caught up
        self._now = float("-inf")
        self._read_ahead_records = READ_AHEAD_BATCHES * config.batch_size * len(self._lanes)
        self._read_ahead_bytes = (
            READ_AHEAD_BATCHES * limits.LAMBDA_SYNC_PAYLOAD_MAX * len(self._lanes)
        )
        # The JSON size of a record's event entry is this plus the lengths of its variable parts
        # (partition key, sequence number twice, base64 data, arrival timestamp).
        template = self._record_event("", "", "", 0.0)
        self._record_fixed_bytes = len(json.dumps(template)) - len(repr(0.0))

    # -- reading ----------------------------------------------------------------------------------
    def wants_records(self) -> bool:
        """True while the shard has not ended and the records read but not yet behind the
        checkpoint stay under the read-ahead bound (READ_AHEAD_BATCHES batches per lane, by
        count and by the 6 MB payload size): a failing batch eventually stops the reading."""
        return (
            not self._ended
            and len(self._order) < self._read_ahead_records
            and self._order_bytes < self._read_ahead_bytes
        )

    def lane_of(self, partition_key: str) -> int:
        """The lane of a partition key: ``crc32(UTF-8 key) % ParallelizationFactor``."""
        n = len(self._lanes)
        return 0 if n == 1 else zlib.crc32(partition_key.encode()) % n

    def add_records(
        self, records: list[dict[str, Any]], now: float, millis_behind_latest: int
    ) -> None:
        """Buffer records from one GetRecords call (in shard order, each once).

        ``millis_behind_latest`` 0 tells the source it has read everything that had arrived by
        ``now`` (tumbling windows that ended before then are closed).
        """
        if self._ended:
            raise IllegalLaneTransition(f"shard {self.shard_id} already ended")
        self._now = now
        if millis_behind_latest == 0:
            self._caught_up_unix = self.epoch_offset + now
        filters = self.config.filters
        tumbling = self.config.tumbling_window
        lanes = self._lanes
        nlanes = len(lanes)
        order = self._order
        epoch = self.epoch_offset
        fixed = self._record_fixed_bytes
        max_arrival = self._max_arrival_unix
        order_bytes = 0
        for raw in records:
            seq = raw["SequenceNumber"]
            pk = raw["PartitionKey"]
            data = raw["Data"]
            stamp = raw["ApproximateArrivalTimestamp"]
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            arrival_unix = stamp.timestamp()
            if arrival_unix > max_arrival:
                max_arrival = arrival_unix
            if filters and not self._kept(data, filters):
                self.stats["records_filtered"] += 1
                if order:
                    rec = _Record(raw, seq, arrival_unix - epoch, now, None, 0)
                    rec.fate = _FILTERED
                    order.append(rec)
                else:
                    self._checkpoint = seq
                continue
            b64 = base64.b64encode(data).decode("ascii")
            ts = round(arrival_unix, 3)
            event = self._record_event(pk, seq, b64, ts)
            size = (
                fixed
                + (
                    len(pk)
                    if pk.isascii() and pk.isprintable() and '"' not in pk and "\\" not in pk
                    else len(json.dumps(pk)) - 2
                )
                + 2 * len(seq)
                + len(b64)
                + len(repr(ts))
            )
            rec = _Record(raw, seq, arrival_unix - epoch, now, event, size)
            lane = lanes[0 if nlanes == 1 else zlib.crc32(pk.encode()) % nlanes]
            if tumbling:
                window = int(arrival_unix // tumbling) * tumbling
                if window < lane.max_window:
                    window = lane.max_window
                lane.max_window = window
                rec.window = window
            lane.pending.append(rec)
            lane.pending_bytes += size
            order.append(rec)
            order_bytes += size
        self._order_bytes += order_bytes
        self._max_arrival_unix = max_arrival

    def end_of_shard(self) -> None:
        """The shard is closed and read to its end: flush partial batches, close windows."""
        self._ended = True

    # -- batches ----------------------------------------------------------------------------------
    def next_batch(self, now: float) -> Batch | None:
        """A batch to invoke now, or None. Call again until None: each call hands out at most one
        batch, taking the lanes in turn."""
        self._now = now
        lanes = self._lanes
        n = len(lanes)
        for k in range(n):
            lane = lanes[(self._rr + k) % n]
            if lane.inflight is not None:
                continue
            segment = self._work_for(lane, now)
            if segment is not None:
                self._rr = (lane.index + 1) % n
                return self._offer(lane, segment, now)
        return None

    def next_timer(self) -> float | None:
        """The earliest time at which :meth:`next_batch` may have something new without a read
        or a completion happening first (a batching window elapsing, a retry falling due, a
        buffered record reaching the maximum age), or None. A time already past means now."""
        best: float | None = None
        age = self.config.maximum_record_age
        for lane in self._lanes:
            if lane.inflight is not None:
                continue
            if lane.segments:
                at = lane.segments[0].due
            elif self._needs_final(lane):
                at = self._now
            elif lane.pending:
                head = lane.pending[0]
                if self._pending_ready(lane, self._now):
                    at = self._now
                else:
                    at = head.added + self.config.batching_window
                    if age >= 0 and head.arrival + age < at:
                        at = head.arrival + age
            else:
                continue
            if best is None or at < best:
                best = at
        return best

    def complete(self, batch: Batch, outcome: Outcome, now: float) -> list[dict[str, Any]]:
        """Settle how the invocation of ``batch`` went. Returns the OnFailure destination records
        to send (empty without a destination), including any :meth:`take_failures` has not
        returned yet."""
        self._now = now
        lane = self._lanes[batch.lane]
        if lane.inflight is not batch:
            raise IllegalLaneTransition(f"batch {batch.id} is not in flight on lane {batch.lane}")
        lane.inflight = None
        segment = batch._segment
        status = outcome.status
        if status == THROTTLED:
            self.stats["throttles"] += 1
            self._retry_later(lane, segment, batch, outcome, now, use_retry=False)
        else:
            segment.runs += 1
            verdict, failed_from, state = (
                self._read_response(batch, outcome.payload) if status == OK else (_FAILED, 0, None)
            )
            if verdict == _SUCCESS:
                self._succeeded(lane, segment, batch, state)
            elif verdict == _PARTIAL:
                # done up to the lowest failed record; the rest is retried (no bisecting)
                if failed_from:
                    self._settle(segment.records[:failed_from], _DELIVERED)
                    segment.records = segment.records[failed_from:]
                if self.config.tumbling_window:
                    lane.tw_state = state
                    lane.tw_dirty = True
                self._retry_later(lane, segment, batch, outcome, now, use_retry=True)
            elif self.config.bisect_on_error and len(segment.records) > 1:
                self._bisect(lane, segment, batch, outcome, now)
            else:
                self._retry_later(lane, segment, batch, outcome, now, use_retry=True)
        lane.move(BACKING_OFF if lane.segments else IDLE)
        return self.take_failures()

    def take_failures(self) -> list[dict[str, Any]]:
        """The OnFailure records not handed out yet. :meth:`complete` returns them too; call
        this after :meth:`next_batch`, which discards buffered records that are past the maximum
        age before their first invocation."""
        if not self._stash:
            return []
        out, self._stash = self._stash, []
        return out

    # -- state ------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """The shard has ended, every record is settled, every OnFailure record has been handed
        out and every tumbling window has had its final invocation."""
        if not self._ended or self._order or self._stash:
            return False
        return all(
            lane.inflight is None and not lane.segments and not lane.tw_dirty
            for lane in self._lanes
        )

    @property
    def checkpoint(self) -> str | None:
        """The sequence number of the last record that, with every record before it in the
        shard, is settled; None until the first record is."""
        return self._checkpoint

    def iterator_age_ms(self, now: float) -> float:
        """How old (ms) the last record handed to the function is (the IteratorAge metric); 0
        before any."""
        if self._last_handed_arrival is None:
            return 0.0
        return max(0.0, (now - self._last_handed_arrival) * 1000.0)

    # -- internals --------------------------------------------------------------------------------
    def _record_event(self, pk: str, seq: str, b64: str, ts: float) -> dict[str, Any]:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": pk,
                "sequenceNumber": seq,
                "data": b64,
                "approximateArrivalTimestamp": ts,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": self._event_id_prefix + seq,
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self._role,
            "awsRegion": self.region,
            "eventSourceARN": self.stream_arn,
        }

    @staticmethod
    def _kept(data: bytes, filters: list[FilterPolicy]) -> bool:
        """Whether any FilterCriteria pattern matches the record (matched as {"data": JSON})."""
        try:
            view: dict[str, Any] = {"data": json.loads(data)}
        except (ValueError, TypeError, RecursionError):
            view = {}
        return any(f.matches_body(view) for f in filters)

    def _closed(self, window: int) -> bool:
        """Whether no more records of the tumbling window starting at ``window`` can come."""
        end = window + self.config.tumbling_window
        return self._ended or self._max_arrival_unix >= end or self._caught_up_unix >= end

    def _needs_final(self, lane: _Lane) -> bool:
        """Whether the lane owes its current window a final invocation without records."""
        if not lane.tw_dirty or lane.segments:
            return False
        if lane.tw_early:
            return True
        if lane.pending:
            return lane.pending[0].window != lane.tw_start
        assert lane.tw_start is not None
        return self._closed(lane.tw_start)

    def _pending_ready(self, lane: _Lane, now: float) -> bool:
        """Whether the lane's buffered records make a batch now (full, payload limit reached,
        batching window elapsed, shard ended, or their tumbling window closed)."""
        pending = lane.pending
        head = pending[0]
        if (
            len(pending) >= self.config.batch_size
            or self._ended
            or now >= head.added + self.config.batching_window
            or lane.pending_bytes + _EMPTY_EVENT_BYTES + 2 * len(pending)
            > limits.LAMBDA_SYNC_PAYLOAD_MAX
        ):
            return True
        if self.config.tumbling_window:
            return pending[-1].window != head.window or self._closed(head.window)
        return False

    def _work_for(self, lane: _Lane, now: float) -> _Segment | None:
        """The segment a free lane should offer now, if any: a failed batch once its retry is
        due, else a window's records-less final invocation, else a new batch from the buffer."""
        segments = lane.segments
        if segments:
            head = segments[0]
            return head if head.due <= now else None
        tumbling = self.config.tumbling_window
        if tumbling and self._needs_final(lane):
            segment = _Segment([], lane.tw_start or 0, now)
            segment.closing = True
            segment.early = lane.tw_early
            segments.append(segment)
            return segment
        pending = lane.pending
        age = self.config.maximum_record_age
        if age >= 0 and pending and now >= pending[0].arrival + age:
            self._discard_aged(lane, now)
        if not pending or not self._pending_ready(lane, now):
            return None
        window = pending[0].window
        if tumbling and window != lane.tw_start:
            lane.tw_start = window
            self._end_window(lane)
        limit = limits.LAMBDA_SYNC_PAYLOAD_MAX
        size = self._event_bytes(lane, window, False, False) if tumbling else _EMPTY_EVENT_BYTES
        batch_size = self.config.batch_size
        records: list[_Record] = []
        taken = 0
        while pending and len(records) < batch_size:
            rec = pending[0]
            if rec.window != window:
                break
            grown = size + rec.size + (2 if records else 0)
            if records and grown > limit:
                break
            pending.popleft()
            records.append(rec)
            taken += rec.size
            size = grown
        lane.pending_bytes -= taken
        segment = _Segment(records, window, now)
        segments.append(segment)
        return segment

    def _discard_aged(self, lane: _Lane, now: float) -> None:
        """Drop the buffered head records already past MaximumRecordAgeInSeconds; their
        OnFailure record waits in the stash."""
        pending = lane.pending
        limit = self.config.maximum_record_age
        dropped: list[_Record] = []
        while pending and now >= pending[0].arrival + limit:
            rec = pending.popleft()
            lane.pending_bytes -= rec.size
            dropped.append(rec)
        self._discard(_Segment(dropped, dropped[0].window, now), RECORD_AGE_EXCEEDED, None, now)

    def _window_event(
        self, entries: list[Any], lane: _Lane, window: int, final: bool, early: bool
    ) -> dict[str, Any]:
        """A tumbling-window event: the records plus the window, its state and the flags."""
        return {
            "Records": entries,
            "window": {
                "start": _iso_s(window),
                "end": _iso_s(window + self.config.tumbling_window),
            },
            "state": lane.tw_state,
            "shardId": self.shard_id,
            "eventSourceARN": self.stream_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": early,
        }

    def _event_bytes(self, lane: _Lane, window: int, final: bool, early: bool) -> int:
        """The JSON size of a tumbling-window event without records."""
        return len(json.dumps(self._window_event([], lane, window, final, early)))

    def _offer(self, lane: _Lane, segment: _Segment, now: float) -> Batch:
        records = segment.records
        entries = [r.event for r in records]
        payload = sum(r.size for r in records) + (2 * len(records) - 2 if records else 0)
        final = False
        if self.config.tumbling_window:
            final = segment.closing or self._final_for(lane, segment)
            event = self._window_event(entries, lane, segment.window, final, segment.early)
            payload += self._event_bytes(lane, segment.window, final, segment.early)
        else:
            event = {"Records": entries}
            payload += _EMPTY_EVENT_BYTES
        segment.offers += 1
        self._batch_ids += 1
        batch = Batch(self._batch_ids, lane.index, segment, event, payload, final)
        lane.move(INVOKING)
        lane.inflight = batch
        self.stats["batches"] += 1
        self.stats["records_invoked"] += len(records)
        if records:
            self._last_handed_arrival = records[-1].arrival
        return batch

    def _final_for(self, lane: _Lane, segment: _Segment) -> bool:
        """Whether the lane's head segment is its window's last batch: the window is closed and
        no other records of it wait in the lane."""
        window = segment.window
        segments = lane.segments
        if len(segments) > 1 and segments[1].window == window:
            return False
        if lane.pending and lane.pending[0].window == window:
            return False
        return self._closed(window)

    def _read_response(self, batch: Batch, payload: Any) -> tuple[int, int, Any]:
        """How the response of a successful invocation settles the batch: (verdict, index of the
        lowest failed record, tumbling-window state)."""
        state = None
        if self.config.tumbling_window:
            state = payload.get("state") if isinstance(payload, dict) else None
            if not isinstance(state, dict):
                return _FAILED, 0, None  # "If the response does not contain a state property"
        if not self.config.report_batch_item_failures or payload is None:
            return _SUCCESS, 0, state
        if not isinstance(payload, dict):
            return _FAILED, 0, None
        failures = payload.get("batchItemFailures")
        if failures is None or failures == []:
            return _SUCCESS, 0, state
        if not isinstance(failures, list):
            return _FAILED, 0, None
        index = {r.seq: i for i, r in enumerate(batch._segment.records)}
        lowest = len(index)
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            i = index.get(ident) if isinstance(ident, str) else None
            if i is None:
                return _FAILED, 0, None  # unknown, empty or null identifier
            if i < lowest:
                lowest = i
        return _PARTIAL, lowest, state

    def _succeeded(self, lane: _Lane, segment: _Segment, batch: Batch, state: Any) -> None:
        lane.segments.popleft()
        lane.failures = 0
        self._settle(segment.records, _DELIVERED)
        if self.config.tumbling_window:
            if batch.final:
                self._end_window(lane)
            else:
                lane.tw_state = state
                lane.tw_dirty = True
                if len(json.dumps(state)) > TUMBLING_STATE_MAX_BYTES:
                    lane.tw_early = True

    @staticmethod
    def _end_window(lane: _Lane) -> None:
        """Forget the window's state: the next invocation starts from ``{}``."""
        lane.tw_state = {}
        lane.tw_dirty = False
        lane.tw_early = False

    @staticmethod
    def _backoff(lane: _Lane) -> float:
        lane.failures += 1
        return min(RETRY_BACKOFF_BASE * 2.0 ** min(lane.failures - 1, 32), RETRY_BACKOFF_MAX)

    def _too_old(self, segment: _Segment, at: float) -> bool:
        """Whether the segment's oldest record is past MaximumRecordAgeInSeconds at ``at``."""
        age = self.config.maximum_record_age
        records = segment.records
        return age >= 0 and bool(records) and at >= min(r.arrival for r in records) + age

    def _retry_later(
        self,
        lane: _Lane,
        segment: _Segment,
        batch: Batch,
        outcome: Outcome,
        now: float,
        *,
        use_retry: bool,
    ) -> None:
        """Retry the lane's head segment after the backoff, unless its retry attempts are used
        up or its records would be too old by then."""
        due = now + self._backoff(lane)
        if use_retry:
            segment.retries += 1
            limit = self.config.maximum_retry_attempts
            if limit >= 0 and segment.retries > limit:
                self._give_up(lane, segment, batch, RETRY_ATTEMPTS_EXHAUSTED, outcome, now)
                return
        if self._too_old(segment, due):
            self._give_up(lane, segment, batch, RECORD_AGE_EXCEEDED, outcome, now)
            return
        if use_retry:
            self.stats["retries"] += 1
        segment.due = due

    def _bisect(
        self,
        lane: _Lane,
        segment: _Segment,
        batch: Batch,
        outcome: Outcome,
        now: float,
    ) -> None:
        """Split a failed batch in two halves, first half first; they keep its retry count."""
        due = now + self._backoff(lane)
        if self._too_old(segment, due):
            self._give_up(lane, segment, batch, RECORD_AGE_EXCEEDED, outcome, now)
            return
        self.stats["bisections"] += 1
        records = segment.records
        middle = len(records) // 2
        lane.segments.popleft()
        for part in (records[middle:], records[:middle]):
            half = _Segment(part, segment.window, due)
            half.offers = segment.offers
            half.runs = segment.runs
            half.retries = segment.retries
            lane.segments.appendleft(half)

    def _give_up(
        self,
        lane: _Lane,
        segment: _Segment,
        batch: Batch,
        condition: str,
        outcome: Outcome,
        now: float,
    ) -> None:
        """Discard the lane's head segment; the lane moves on to its next records."""
        lane.segments.popleft()
        lane.failures = 0
        if batch.final:
            self._end_window(lane)
        self._discard(segment, condition, outcome, now)

    def _discard(
        self, segment: _Segment, condition: str, outcome: Outcome | None, now: float
    ) -> None:
        """Settle a segment's records as discarded; its OnFailure record goes to the stash."""
        records = segment.records
        if not records:
            return
        if self.config.destination_on_failure:
            self._stash.append(self._failure_record(segment, condition, outcome, now))
        self.stats["records_failed"] += len(records)
        self._settle(records, _DISCARDED)

    def _failure_record(
        self, segment: _Segment, condition: str, outcome: Outcome | None, now: float
    ) -> dict[str, Any]:
        """The OnFailure destination document of a discarded batch: metadata, not the data."""
        records = segment.records
        first, last = records[0], records[-1]
        request_id = outcome.request_id if outcome is not None else ""
        if not request_id:  # deterministic, as everything in msgsim
            name = f"{self.mapping_uuid}/{first.seq}/{segment.offers}"
            request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": self._executed_version}
        if outcome is not None and outcome.status == THROTTLED:
            response = {"statusCode": 429}
        elif outcome is not None and outcome.failed:
            response["functionError"] = "Unhandled"
        epoch = self.epoch_offset
        return {
            "requestContext": {
                "requestId": request_id,
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": segment.runs,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso_ms(epoch + now),
            "KinesisBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": first.seq,
                "endSequenceNumber": last.seq,
                "approximateArrivalOfFirstRecord": _iso_ms(epoch + first.arrival),
                "approximateArrivalOfLastRecord": _iso_ms(epoch + last.arrival),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }

    def _settle(self, records: list[_Record], fate: int) -> None:
        """Give records their fate and move the checkpoint past every settled record at the
        front of the shard order."""
        for rec in records:
            rec.fate = fate
        if fate == _DELIVERED:
            self.stats["records_delivered"] += len(records)
        order = self._order
        if order and order[0].fate:
            freed = 0
            last = order[0]
            while order and order[0].fate:
                last = order.popleft()
                freed += last.size
            self._checkpoint = last.seq
            self._order_bytes -= freed
