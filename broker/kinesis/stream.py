"""A stream: its shards, its lifecycle and its registered consumers, on the broker's clock.

The lifecycle is a transition table (like h11's): a stream is CREATING, then ACTIVE; resharding
and mode changes make it UPDATING for a while (reads and writes go on) and then ACTIVE again;
DeleteStream makes it DELETING and then it is gone. Timed transitions are applied lazily: every
operation first calls :meth:`Stream.advance` with ``now``, which applies whatever fell due, each at
the time it fell due. A reshard takes effect when the stream turns ACTIVE again, as in AWS: until
then writes go to the parents.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from .. import limits
from ..clock import Epoch
from .shard import Shard

CREATING = "CREATING"
ACTIVE = "ACTIVE"
UPDATING = "UPDATING"
DELETING = "DELETING"
DELETED = "DELETED"  # internal: removed from the account

#: Capacity modes (StreamModeDetails.StreamMode).
PROVISIONED = "PROVISIONED"
ON_DEMAND = "ON_DEMAND"

#: (status, event) -> next status. Anything else is a bug of ours and raises.
TRANSITIONS: dict[tuple[str, str], str] = {
    (CREATING, "created"): ACTIVE,
    (ACTIVE, "update"): UPDATING,
    (UPDATING, "updated"): ACTIVE,
    (ACTIVE, "delete"): DELETING,
    (UPDATING, "delete"): DELETING,
    (DELETING, "deleted"): DELETED,
}

CONSUMER_TRANSITIONS: dict[tuple[str, str], str] = {
    (CREATING, "created"): ACTIVE,
    (CREATING, "delete"): DELETING,
    (ACTIVE, "delete"): DELETING,
    (DELETING, "deleted"): DELETED,
}

HASH_MAX = limits.KINESIS_HASH_KEY_MAX
_start = attrgetter("start_key")

try:  # CPython's own MD5 is about twice as fast as OpenSSL's for short keys (no EVP set-up)
    from _md5 import md5
except ImportError:  # pragma: no cover -- builds without the builtin hashes
    from hashlib import md5


def hash_key(partition_key: str) -> int:
    """MD5 of the partition key (UTF-8) as an unsigned 128-bit integer, as Kinesis routes.
    (No cache: with CPython's builtin MD5 a lookup costs about what hashing does.)"""
    return int.from_bytes(md5(partition_key.encode()).digest())


def uniform_ranges(count: int) -> list[tuple[int, int]]:
    """``count`` contiguous ranges covering the hash-key space evenly (the last takes the
    remainder), as CreateStream and UpdateShardCount lay them out."""
    width = (HASH_MAX + 1) // count
    return [(i * width, HASH_MAX if i == count - 1 else (i + 1) * width - 1) for i in range(count)]


def utc_from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class Consumer:
    """An enhanced fan-out consumer registered with a stream."""

    __slots__ = ("arn", "created_ts", "name", "status", "stream_arn", "subscriptions")

    def __init__(self, name: str, stream_arn: str, created_ts: datetime) -> None:
        self.name = name
        self.stream_arn = stream_arn
        self.created_ts = created_ts
        self.arn = f"{stream_arn}/consumer/{name}:{int(created_ts.timestamp())}"
        self.status = CREATING
        #: shard id -> (time of the last successful SubscribeToShard, its feed)
        self.subscriptions: dict[str, tuple[float, Any]] = {}

    def fire(self, event: str) -> None:
        self.status = CONSUMER_TRANSITIONS[(self.status, event)]

    def describe(self) -> dict[str, Any]:
        return {
            "ConsumerName": self.name,
            "ConsumerARN": self.arn,
            "ConsumerStatus": self.status,
            "ConsumerCreationTimestamp": self.created_ts,
        }


class Stream:
    """One stream and everything in it."""

    def __init__(
        self,
        *,
        name: str,
        arn: str,
        incarnation: int,
        mode: str,
        shard_count: int,
        now: float,
        epoch: Epoch,
        ready_at: float,
        max_record_kib: int,
        tags: dict[str, str],
    ) -> None:
        self.name = name
        self.arn = arn
        self.incarnation = incarnation
        self.epoch = epoch
        self.mode = mode
        self.status = CREATING
        self.created_at = now
        self.created_ts = utc_from_ms(epoch.wall_ms(now))
        self.retention_hours = limits.KINESIS_RETENTION_HOURS_DEFAULT
        self.retention = float(self.retention_hours * 3600)
        self.max_record_bytes = max_record_kib * 1024
        self.max_record_kib = max_record_kib
        self.tags = tags
        self.consumers: dict[str, Consumer] = {}
        self.shards: dict[str, Shard] = {}  # every shard not yet expired, by id, in index order
        self.by_index: dict[int, Shard] = {}
        self.open: list[Shard] = []  # open shards by starting hash key
        self._open_starts: list[int] = []
        self._closed: deque[Shard] = deque()  # closed shards by close time, for expiry
        self._next_index = 0
        #: timed events: (due, tiebreak, action)
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._tiebreak = 0
        self.due = float("inf")
        self.shard_count_updates: deque[float] = deque()
        self.mode_switches: deque[float] = deque()
        # Shards exist from the start (AWS lists them once the stream is ACTIVE).
        for start, end in uniform_ranges(shard_count):
            self._add_shard(start, end, now)
        self._reindex()
        self.schedule(ready_at, lambda t: self.fire("created"))

    # ------------------------------------------------------------------ lifecycle
    def fire(self, event: str) -> None:
        self.status = TRANSITIONS[(self.status, event)]

    def schedule(self, at: float, action: Callable[[float], None]) -> None:
        self._tiebreak += 1
        heapq.heappush(self._timers, (at, self._tiebreak, action))
        if at < self.due:
            self.due = at

    def advance(self, now: float) -> None:
        """Apply every timed transition due by ``now``, each at its own due time, and expire
        closed shards that have outlived the retention period."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, _, action = heapq.heappop(timers)
            action(at)
        self._expire_closed(now)
        self._recompute_due()

    def _recompute_due(self) -> None:
        """``due``: when the stream next changes on its own (a transition, or a closed shard
        expiring). Callers compare ``now`` against it before calling :meth:`advance`."""
        due = self._timers[0][0] if self._timers else float("inf")
        if self._closed:
            expiry = self._closed[0].closed_at + self.retention  # type: ignore[operator]
            if expiry < due:
                due = expiry
        self.due = due

    def _expire_closed(self, now: float) -> None:
        closed = self._closed
        while closed and closed[0].closed_at + self.retention <= now:  # type: ignore[operator]
            shard = closed.popleft()
            self.shards.pop(shard.id, None)
            self.by_index.pop(shard.index, None)

    @property
    def readable(self) -> bool:
        """Reads and writes work while ACTIVE or UPDATING."""
        return self.status is ACTIVE or self.status is UPDATING

    # ------------------------------------------------------------------ shards
    def ms(self, now: float) -> int:
        return self.epoch.wall_ms(now)

    def _add_shard(
        self,
        start: int,
        end: int,
        now: float,
        parent: str | None = None,
        adjacent: str | None = None,
    ) -> Shard:
        shard = Shard(self._next_index, start, end, now, self.ms(now), parent, adjacent)
        self._next_index += 1
        self.shards[shard.id] = shard
        self.by_index[shard.index] = shard
        return shard

    def _reindex(self) -> None:
        self.open = sorted((s for s in self.shards.values() if s.is_open), key=_start)
        self._open_starts = [s.start_key for s in self.open]

    def route(self, key: int) -> Shard:
        """The open shard whose hash-key range holds ``key``."""
        open_ = self.open
        if len(open_) == 1:
            return open_[0]
        lo, hi = 0, len(open_)
        starts = self._open_starts
        while hi - lo > 1:  # bisect_right(starts, key) - 1, inlined for the put path
            mid = (lo + hi) >> 1
            if starts[mid] <= key:
                lo = mid
            else:
                hi = mid
        return open_[lo]

    def trim_all(self, now: float) -> None:
        cutoff = now - self.retention
        for shard in self.shards.values():
            shard.trim(cutoff)

    def set_retention(self, hours: int, now: float) -> None:
        # Trim at the old period first, so a longer period never brings expired data back.
        self.trim_all(now)
        self.retention_hours = hours
        self.retention = float(hours * 3600)
        self._recompute_due()

    @property
    def open_count(self) -> int:
        return len(self.open)

    def _close(self, shard: Shard, at: float) -> None:
        shard.close(at)
        self._closed.append(shard)
        if at + self.retention < self.due:
            self.due = at + self.retention

    # ------------------------------------------------------------------ resharding
    def split(self, shard: Shard, new_start: int, at: float) -> None:
        self._close(shard, at)
        self._add_shard(shard.start_key, new_start - 1, at, shard.id)
        self._add_shard(new_start, shard.end_key, at, shard.id)
        self._reindex()

    def merge(self, shard: Shard, adjacent: Shard, at: float) -> None:
        self._close(shard, at)
        self._close(adjacent, at)
        self._add_shard(
            min(shard.start_key, adjacent.start_key),
            max(shard.end_key, adjacent.end_key),
            at,
            shard.id,
            adjacent.id,
        )
        self._reindex()

    def rescale(self, target: int, at: float) -> None:
        """UpdateShardCount with UNIFORM_SCALING: split every open shard at the new uniform
        boundaries inside it, then merge the pieces of each new range pairwise, left to right.
        Every shard still has at most two parents (as in AWS, the intermediate shards are
        created and closed at once, empty), so readers follow lineage as for any reshard."""
        boundaries = [start for start, _ in uniform_ranges(target)[1:]]
        pieces: list[Shard] = []
        for shard in list(self.open):
            current = shard
            for b in boundaries:
                if current.start_key < b <= current.end_key:
                    self._close(current, at)
                    left = self._add_shard(current.start_key, b - 1, at, current.id)
                    right = self._add_shard(b, current.end_key, at, current.id)
                    pieces.append(left)
                    current = right
            pieces.append(current)
        pieces.sort(key=_start)
        i = 0
        for _, end in uniform_ranges(target):
            acc = pieces[i]
            i += 1
            while i < len(pieces) and pieces[i].end_key <= end:
                nxt = pieces[i]
                i += 1
                self._close(acc, at)
                self._close(nxt, at)
                acc = self._add_shard(acc.start_key, nxt.end_key, at, acc.id, nxt.id)
        self._reindex()
