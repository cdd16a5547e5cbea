"""A shard: an ordered, append-only log of records that owns one range of the hash-key space.

Positions. Every record in a shard has an absolute *position* (0, 1, 2, ...) that never changes;
iterators carry positions, so a read finds its place in O(1). The live records are
``records[head:]``; expired records are dropped from the front by moving ``head`` (retention
trimming is amortised O(1) per put or read: it pops whole put batches off a deque, never scans),
and the list is compacted once the dead prefix outweighs the live part.

Sequence numbers are 56-digit decimal strings, as AWS's look. The integer behind one is
``SEQ_BASE + (ms << 72) + (shard index << 48) + counter``: the arrival millisecond keeps numbers
comparable across a shard's life and makes a child shard's numbers larger than its parents', the
shard index lets a sequence number say which shard it belongs to (AWS rejects one used with the
wrong shard), and the per-shard counter makes them strictly increasing. Counter 0 is never given to
a record: it is the shard's ``StartingSequenceNumber``. All strings have the same length, so they
compare as numbers do and a read can bisect on them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from datetime import datetime
from operator import itemgetter
from typing import Any

from .. import limits

SEQ_BASE = 49 * 10**54
_MS_SHIFT = 72
_INDEX_SHIFT = 48
_INDEX_MASK = (1 << 24) - 1
_COUNTER_MASK = (1 << _INDEX_SHIFT) - 1
#: Every number msgsim mints is below this (so all have 56 digits).
SEQ_MAX = SEQ_BASE + 10**54

_seq_key = itemgetter("SequenceNumber")
_time_key = itemgetter("ApproximateArrivalTimestamp")

#: Compact the record list once this many dead records lead it (and they outnumber the live).
_COMPACT_AT = 4096


def shard_id(index: int) -> str:
    return "shardId-%012d" % index  # noqa: UP031 -- AWS's fixed-width form


def seq_shard_index(seq: int) -> int:
    """The index of the shard a sequence number minted by msgsim belongs to."""
    return ((seq - SEQ_BASE) >> _INDEX_SHIFT) & _INDEX_MASK


def seq_ms(seq: int) -> int:
    return (seq - SEQ_BASE) >> _MS_SHIFT


class Shard:
    """One shard's records, hash range, lineage and throughput budget."""

    __slots__ = (
        "_batches",
        "_index_bits",
        "_ms_floor",
        "_offset",
        "_r_bytes",
        "_r_calls",
        "_r_t",
        "_w_bytes",
        "_w_recs",
        "_w_t",
        "adjacent_parent_id",
        "closed_at",
        "counter",
        "created_at",
        "cum",
        "end_key",
        "ending_seq",
        "head",
        "id",
        "index",
        "last_seq",
        "parent_id",
        "records",
        "start_key",
        "starting_seq",
        "subscribers",
    )

    def __init__(
        self,
        index: int,
        start_key: int,
        end_key: int,
        created_at: float,
        created_ms: int,
        parent_id: str | None = None,
        adjacent_parent_id: str | None = None,
    ) -> None:
        self.index = index
        self.id = shard_id(index)
        self.start_key = start_key
        self.end_key = end_key
        self.parent_id = parent_id
        self.adjacent_parent_id = adjacent_parent_id
        self.created_at = created_at
        self.closed_at: float | None = None
        self._index_bits = index << _INDEX_SHIFT
        self._ms_floor = created_ms
        self.starting_seq = str(SEQ_BASE + (created_ms << _MS_SHIFT) + self._index_bits)
        #: records minted so far; counter 0 is the StartingSequenceNumber
        self.counter = 0
        #: the last sequence number minted here (the starting number until a record arrives)
        self.last_seq = int(self.starting_seq)
        self.ending_seq: str | None = None
        #: Live records are records[head:]; each is the response dict GetRecords hands out
        #: (copied), so a read builds nothing per record.
        self.records: list[dict[str, Any]] = []
        #: cum[i] is the number of bytes (data + partition key) before records[i].
        self.cum: list[int] = [0]
        self.head = 0
        self._offset = 0  # absolute position of records[0]
        #: (arrival clock time, absolute end position) per put batch, oldest first.
        self._batches: deque[list[Any]] = deque()
        self.subscribers = 0  # readers woken by a write: fan-out subscriptions, Lambda mappings
        # Throughput budgets (token buckets, used only when limits are enforced).
        self._w_recs = float(limits.KINESIS_SHARD_WRITE_RECORDS_PER_SECOND)
        self._w_bytes = float(limits.KINESIS_SHARD_WRITE_BYTES_PER_SECOND)
        self._w_t = created_at
        self._r_calls = float(limits.KINESIS_SHARD_READ_CALLS_PER_SECOND)
        self._r_bytes = 0.0  # read bytes are a debt: a 10 MiB read blocks the next 5 s
        self._r_t = created_at

    # ------------------------------------------------------------------ shape
    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def describe(self) -> dict[str, Any]:
        """The shard as DescribeStream and ListShards show it."""
        d: dict[str, Any] = {"ShardId": self.id}
        if self.parent_id is not None:
            d["ParentShardId"] = self.parent_id
        if self.adjacent_parent_id is not None:
            d["AdjacentParentShardId"] = self.adjacent_parent_id
        d["HashKeyRange"] = {
            "StartingHashKey": str(self.start_key),
            "EndingHashKey": str(self.end_key),
        }
        rng = {"StartingSequenceNumber": self.starting_seq}
        if self.ending_seq is not None:
            rng["EndingSequenceNumber"] = self.ending_seq
        d["SequenceNumberRange"] = rng
        return d

    def child_view(self) -> dict[str, Any]:
        """The shard as a ChildShards entry (GetRecords / SubscribeToShard at a parent's end)."""
        parents = [self.parent_id] if self.parent_id is not None else []
        if self.adjacent_parent_id is not None:
            parents.append(self.adjacent_parent_id)
        return {
            "ShardId": self.id,
            "ParentShards": parents,
            "HashKeyRange": {
                "StartingHashKey": str(self.start_key),
                "EndingHashKey": str(self.end_key),
            },
        }

    # ------------------------------------------------------------------ positions
    @property
    def start_pos(self) -> int:
        """Position of the oldest live record (the trim horizon)."""
        return self._offset + self.head

    @property
    def end_pos(self) -> int:
        """Position the next record will take (LATEST)."""
        return self._offset + len(self.records)

    def __len__(self) -> int:
        return len(self.records) - self.head

    def pos_at_seq(self, seq: str, after: bool) -> int:
        """Position of the first record with sequence number >= ``seq`` (> with ``after``):
        a bisection, O(log n). ``seq`` must be canonical (56 digits, from :func:`parse_seq`)."""
        records = self.records
        # Every number minted here has counter = position + 1: try that record first (O(1)).
        n = int(seq)
        i = ((n - SEQ_BASE) & _COUNTER_MASK) - 1 - self._offset
        if self.head <= i < len(records) and records[i]["SequenceNumber"] == seq:
            return self._offset + i + (1 if after else 0)
        if after:
            i = bisect_right(records, seq, self.head, len(records), key=_seq_key)
        else:
            i = bisect_left(records, seq, self.head, len(records), key=_seq_key)
        return self._offset + i

    def pos_at_time(self, when: datetime) -> int:
        """Position of the first record that arrived at or after ``when`` (AT_TIMESTAMP)."""
        records = self.records
        return self._offset + bisect_left(records, when, self.head, len(records), key=_time_key)

    def seq_before(self, pos: int) -> str:
        """A sequence number just before ``pos``: resuming AFTER it reads from ``pos``."""
        i = pos - self._offset - 1
        if i >= self.head and i < len(self.records):
            return self.records[i]["SequenceNumber"]
        if i >= len(self.records):
            return str(self.last_seq)
        return self.starting_seq

    def arrival_ms_at(self, pos: int) -> float | None:
        i = pos - self._offset
        if self.head <= i < len(self.records):
            return self.records[i]["ApproximateArrivalTimestamp"].timestamp() * 1000
        return None

    # ------------------------------------------------------------------ writes
    def next_seq(self, ms: int, at_least: int | None = None) -> str:
        """Mint the next sequence number at arrival millisecond ``ms``; with ``at_least`` (a
        SequenceNumberForOrdering), the number is also greater than that."""
        floor = self._ms_floor
        if ms < floor:
            ms = floor
        self.counter += 1
        seq = SEQ_BASE + (ms << _MS_SHIFT) + self._index_bits + self.counter
        if at_least is not None and seq <= at_least:
            ms = seq_ms(at_least) + 1
            seq = SEQ_BASE + (ms << _MS_SHIFT) + self._index_bits + self.counter
        self._ms_floor = ms
        self.last_seq = seq
        return str(seq)

    def mint_base(self, ms: int) -> int:
        """For a batch arriving at millisecond ``ms``: the number to which the batch adds
        ``counter + 1``, ``counter + 2``, ... to mint its sequence numbers (then
        :meth:`end_batch`). The same numbers :meth:`next_seq` would give, minted inline."""
        if ms < self._ms_floor:
            ms = self._ms_floor
        self._ms_floor = ms
        return SEQ_BASE + (ms << _MS_SHIFT) + self._index_bits

    def end_batch(self, base: int, counter: int, now: float) -> None:
        """Close a batch begun with :meth:`mint_base` whose last record took ``counter``."""
        if counter != self.counter:
            self.counter = counter
            self.last_seq = base + counter
        self.note_batch(now)

    def note_batch(self, now: float) -> None:
        """Record that the records appended up to here arrived at ``now`` (for retention)."""
        end = self._offset + len(self.records)
        batches = self._batches
        if batches and batches[-1][0] == now:
            batches[-1][1] = end
        else:
            batches.append([now, end])

    def close(self, now: float) -> None:
        self.closed_at = now
        self.ending_seq = str(self.last_seq)

    def trim(self, cutoff: float) -> None:
        """Drop records that arrived at or before ``cutoff`` (now minus the retention period)."""
        batches = self._batches
        if not batches or batches[0][0] > cutoff:
            return
        end = 0
        while batches and batches[0][0] <= cutoff:
            end = batches.popleft()[1]
        head = end - self._offset
        if head > self.head:
            self.head = head
        if self.head >= _COMPACT_AT and self.head * 2 > len(self.records):
            del self.records[: self.head]
            del self.cum[: self.head]
            self._offset += self.head
            self.head = 0

    # ------------------------------------------------------------------ reads
    def read(self, pos: int, limit: int, max_bytes: int) -> tuple[list[dict[str, Any]], int, int]:
        """Up to ``limit`` records and ``max_bytes`` bytes from ``pos`` (clamped to the trim
        horizon): (copies of the records, next position, bytes read). O(log n + k)."""
        records = self.records
        lo = pos - self._offset
        if lo < self.head:
            lo = self.head
        n = len(records)
        if lo >= n:
            return [], self._offset + n, 0
        hi = lo + limit
        if hi > n:
            hi = n
        cum = self.cum
        base = cum[lo]
        if cum[hi] - base > max_bytes:
            hi = bisect_right(cum, base + max_bytes, lo, hi + 1) - 1
            if hi <= lo:
                hi = lo + 1
        return list(map(dict.copy, records[lo:hi])), self._offset + hi, cum[hi] - base

    # ------------------------------------------------------------------ throughput
    def admit_write(self, size: int, now: float) -> bool:
        """Take one record of ``size`` bytes from the write budget (1 MiB/s, 1,000 records/s);
        False if the shard is over it. A full bucket admits one record larger than a second's
        worth (records may be up to 10 MiB) and goes into debt."""
        dt = now - self._w_t
        cap_r = limits.KINESIS_SHARD_WRITE_RECORDS_PER_SECOND
        cap_b = limits.KINESIS_SHARD_WRITE_BYTES_PER_SECOND
        if dt > 0:
            self._w_t = now
            self._w_recs = min(cap_r, self._w_recs + dt * cap_r)
            self._w_bytes = min(cap_b, self._w_bytes + dt * cap_b)
        # The 1e-9 absorbs float rounding in the refill (1.2 - 1.0 is not quite 0.2).
        if self._w_recs < 1 - 1e-9 or (size > self._w_bytes + 1e-6 and self._w_bytes < cap_b):
            return False
        self._w_recs -= 1
        self._w_bytes -= size
        return True

    def admit_read(self, now: float) -> bool:
        """Take one GetRecords call from the read budget (5 calls/s, and no outstanding byte
        debt from earlier reads at 2 MiB/s)."""
        dt = now - self._r_t
        cap_c = limits.KINESIS_SHARD_READ_CALLS_PER_SECOND
        if dt > 0:
            self._r_t = now
            self._r_calls = min(cap_c, self._r_calls + dt * cap_c)
            self._r_bytes = min(
                0.0, self._r_bytes + dt * limits.KINESIS_SHARD_READ_BYTES_PER_SECOND
            )
        if self._r_calls < 1 - 1e-9 or self._r_bytes < -1e-6:
            return False
        self._r_calls -= 1
        return True

    def charge_read(self, nbytes: int) -> None:
        self._r_bytes -= nbytes
