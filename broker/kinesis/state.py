"""Kinesis in one account and region: its streams and the lookups every operation shares.

:class:`KinesisState` holds the state (streams by name and by incarnation, the options, what the
runtime must wake) and answers the questions each operation module asks the same way: which
stream a request names (by StreamName and/or StreamARN), whether it is ACTIVE, which shard an id
names, whether a reshard fits the account's shard quota. The operations themselves are plain
functions in :mod:`.streams`, :mod:`.records`, :mod:`.resharding` and :mod:`.consumers`;
:mod:`.service` puts them in the one operation table.

It also serves the Lambda runtime's event source mappings, which read a shard by position rather
than by iterator (:meth:`KinesisState.read_for_mapping`): a mapping's reader may wait for hours,
and an iterator would expire after 5 minutes. Those reads still take the shard's read budget.

Sans-IO: every method takes ``now`` and nothing here awaits or reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .. import limits
from ..clock import Epoch
from ..errors import (
    InvalidArgumentException,
    LimitExceededException,
    ProvisionedThroughputExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from .options import KinesisOptions
from .shard import Shard
from .stream import ACTIVE, CREATING, DELETED, UPDATING, Stream
from .validate import invalid, stream_name

STREAM_ARN_RE = re.compile(
    r"arn:aws[a-z\-]*:kinesis:([a-z0-9\-]+):([0-9]{12}):stream/([a-zA-Z0-9_.\-]+)\Z"
)


class KinesisState:
    """The streams of one account in one region, and the lookups the operations share."""

    def __init__(
        self,
        *,
        epoch: Epoch,
        region: str,
        account_id: str,
        options: KinesisOptions | None = None,
    ) -> None:
        self.epoch = epoch
        self.region = region
        self.account_id = account_id
        self.options = options or KinesisOptions()
        self.streams: dict[str, Stream] = {}
        self.by_incarnation: dict[int, Stream] = {}
        self._incarnations = 0
        #: keys (shards) whose subscribers should look again (the runtime wakes them)
        self.touched: set[Any] = set()
        self.jobs: list[Any] = []

    # ------------------------------------------------------------------ streams
    def arn(self, name: str) -> str:
        return f"arn:aws:kinesis:{self.region}:{self.account_id}:stream/{name}"

    def next_incarnation(self) -> int:
        """A number no stream of this account had: tokens of a deleted stream never match a new
        one of the same name."""
        self._incarnations += 1
        return self._incarnations

    def not_found(self, name: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Stream {name} under account {self.account_id} not found."
        )

    def lookup(self, name: str, now: float) -> Stream | None:
        """The stream of that name as it is at ``now`` (None once deleted)."""
        stream = self.streams.get(name)
        if stream is not None and stream.due <= now:
            stream.advance(now)
            if stream.status is DELETED:
                return None
        return stream

    def stream(self, p: Mapping[str, Any], now: float, *, live: bool = False) -> Stream:
        """The stream named by StreamName and/or StreamARN. ``live``: it must be ACTIVE or
        UPDATING (reads and writes; a stream still CREATING or already DELETING is not found)."""
        name = p.get("StreamName")
        arn = p.get("StreamARN")
        if name is not None:
            name = stream_name(p, "StreamName")
        if arn is not None:
            if type(arn) is not str:
                raise invalid("streamARN", arn, "Member must be a string")
            m = STREAM_ARN_RE.match(arn)
            if m is None:
                raise invalid(
                    "streamARN",
                    arn,
                    "Member must satisfy regular expression pattern: "
                    "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
                )
            if name is not None and name != m.group(3):
                raise InvalidArgumentException(
                    f"StreamARN {arn} and StreamName {name} do not name the same stream."
                )
            if m.group(1) != self.region or m.group(2) != self.account_id:
                raise ResourceNotFoundException(
                    f"Stream {m.group(3)} under account {m.group(2)} not found."
                )
            name = m.group(3)
        if name is None:
            raise InvalidArgumentException("Either StreamName or StreamARN must be provided.")
        stream = self.lookup(name, now)
        if stream is None or (live and not stream.readable):
            raise self.not_found(name)
        return stream

    def must_be_active(self, stream: Stream) -> None:
        if stream.status is not ACTIVE:
            raise ResourceInUseException(
                f"Stream {stream.name} under account {self.account_id} not ACTIVE, "
                f"instead in state {stream.status}"
            )

    def live_streams(self, now: float) -> list[Stream]:
        return [s for s in [self.lookup(n, now) for n in list(self.streams)] if s is not None]

    def check_shard_quota(self, more: int, now: float) -> None:
        """Refuse a request that would take the account's open shards past its limit."""
        total = sum(s.open_count for s in self.live_streams(now))
        if total + more > self.options.shard_limit:
            raise LimitExceededException(
                f"This request would exceed the shard limit for the account {self.account_id} "
                f"in {self.region}. Current shard count for the account: {total}. Limit: "
                f"{self.options.shard_limit}. Number of additional shards that would have "
                f"resulted from this request: {more}."
            )

    def start_update(self, stream: Stream, now: float, change: Callable[[float], None]) -> None:
        """UPDATING now; ``change`` happens when the stream turns ACTIVE again (a reshard takes
        effect then, as in AWS: until then writes go to the parents)."""
        stream.fire("update")

        def done(at: float) -> None:
            if stream.status is UPDATING:
                change(at)
                stream.fire("updated")
                self.touched.update(stream.shards.values())

        stream.schedule(now + self.options.update_delay, done)

    # ------------------------------------------------------------------ shards
    def shard(self, stream: Stream, shard_id: str) -> Shard:
        shard = stream.shards.get(shard_id)
        if shard is None or stream.status is CREATING:
            raise ResourceNotFoundException(
                f"Shard {shard_id} in stream {stream.name} under account {self.account_id} "
                "does not exist"
            )
        return shard

    def throttle_message(self, stream: Stream, shard: Shard) -> str:
        """What ProvisionedThroughputExceededException says (as an error or a PutRecords
        entry's ErrorMessage)."""
        return (
            f"Rate exceeded for shard {shard.id} in stream {stream.name} under account "
            f"{self.account_id}."
        )

    def ms(self, now: float) -> int:
        """Wall-clock milliseconds at clock time ``now`` (arrival timestamps)."""
        return self.epoch.wall_ms(now)

    def millis_behind(self, shard: Shard, pos: int, now: float) -> int:
        """How far a reader at ``pos`` is behind the tip: 0 when caught up, else the age of the
        oldest record it has not read."""
        arrival = shard.arrival_ms_at(pos)
        if arrival is None:
            return 0
        return max(0, int(self.ms(now) - arrival))

    def child_shards(self, stream: Stream, shard: Shard) -> list[dict[str, Any]]:
        sid = shard.id
        return [
            s.child_view()
            for s in stream.shards.values()
            if s.parent_id == sid or s.adjacent_parent_id == sid
        ]

    # ------------------------------------------------------------------ Lambda event source mappings
    def stream_by_arn(self, arn: str, now: float) -> Stream | None:
        """The readable stream of that ARN, or None."""
        m = STREAM_ARN_RE.match(arn)
        if m is None or m.group(1) != self.region or m.group(2) != self.account_id:
            return None
        stream = self.lookup(m.group(3), now)
        return stream if stream is not None and stream.readable else None

    def shards_of(self, stream: Stream, now: float) -> list[Shard]:
        """The stream's shards still within retention, parents before children."""
        for shard in stream.shards.values():
            shard.trim(now - stream.retention)
        return sorted(stream.shards.values(), key=lambda s: s.index)

    def shard_known(self, stream: Stream, shard_id: str, now: float) -> bool:
        return shard_id in stream.shards

    def start_position(
        self, stream: Stream, shard: Shard, kind: str, timestamp: float | None, now: float
    ) -> int:
        """Where a mapping starts reading a shard: TRIM_HORIZON, LATEST or AT_TIMESTAMP (Unix
        seconds)."""
        shard.trim(now - stream.retention)
        if kind == "TRIM_HORIZON":
            return shard.start_pos
        if kind == "AT_TIMESTAMP" and timestamp is not None:
            return shard.pos_at_time(datetime.fromtimestamp(timestamp, tz=UTC))
        return shard.end_pos

    def read_for_mapping(
        self, stream: Stream, shard: Shard, pos: int, now: float, limit: int = 10_000
    ) -> dict[str, Any]:
        """GetRecords by position: Records, Next (None at the end of a closed shard) and
        MillisBehindLatest. Raises ProvisionedThroughputExceededException like GetRecords."""
        if self.options.enforce_throughput and not shard.admit_read(now):
            raise ProvisionedThroughputExceededException(self.throttle_message(stream, shard))
        shard.trim(now - stream.retention)
        pos = max(pos, shard.start_pos)
        records, pos, nbytes = shard.read(pos, limit, limits.KINESIS_GET_RECORDS_MAX_BYTES)
        if nbytes:
            shard.charge_read(nbytes)
        if not shard.is_open and pos >= shard.end_pos:
            return {"Records": records, "Next": None, "MillisBehindLatest": 0}
        return {
            "Records": records,
            "Next": pos,
            "MillisBehindLatest": self.millis_behind(shard, pos, now),
        }
