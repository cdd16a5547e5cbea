"""Stateful property tests of the Kinesis core (:class:`msgsim.broker.kinesis.service.KinesisService`).

The machine drives the service sans-IO, as the runtime does: ``service.operations[name](params,
now)`` with ``now`` a float that only the time rules move. A tiny reference model keeps every
record ever put (its partition key, the hash key it routes by, the shard and sequence number the
service gave it, and its arrival time) and the layout of the open shards (a sorted list of hash
ranges, changed by the resharding rules when the stream turns ACTIVE again ``update_delay`` after
the request). After every step the invariants compare the stream's shards with the model; the
``read_everything`` rule reads the whole stream the way a KCL-style consumer does -- every shard
from TRIM_HORIZON, a child only after all its parents have been read to their end -- and checks
that exactly the records younger than the retention period come back, each once, in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from msgsim.broker.clock import Epoch
from msgsim.broker.errors import BrokerError
from msgsim.broker.kinesis.options import KinesisOptions
from msgsim.broker.kinesis.service import KinesisService

WALL0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z at clock time 0
EPOCH = Epoch(wall_at_origin=WALL0, origin=0.0)
UNIX0 = datetime(1970, 1, 1, tzinfo=UTC)
HASH_MAX = 2**128 - 1
RETENTION = 24 * 3600.0  # the default retention period
DAY = 86_400.0
UPDATE_DELAY = 0.5
UPDATES_PER_DAY = 10  # UpdateShardCount calls per rolling 24 hours
MAX_OPEN = 10  # keep the stream small: splits stop here, UpdateShardCount targets stay near it
NAME = "orders"
TRIM = {"ShardIteratorType": "TRIM_HORIZON"}


def hash_of(partition_key: str) -> int:
    """Kinesis routes by MD5 of the partition key as a 128-bit big-endian unsigned integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def uniform_layout(count: int) -> list[tuple[int, int]]:
    """The even split of the hash-key space AWS gives ``count`` shards (the last takes the
    remainder)."""
    width = 2**128 // count
    return [(i * width, HASH_MAX if i == count - 1 else (i + 1) * width - 1) for i in range(count)]


def ceil_half(n: int) -> int:
    return (n + 1) // 2


def key_range(shard: dict[str, Any]) -> tuple[int, int]:
    r = shard["HashKeyRange"]
    return int(r["StartingHashKey"]), int(r["EndingHashKey"])


def parents_of(shard: dict[str, Any]) -> list[str]:
    return [p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p]


def is_closed(shard: dict[str, Any]) -> bool:
    return "EndingSequenceNumber" in shard["SequenceNumberRange"]


@dataclass
class Modelled:
    """What the model knows about one record that was put."""

    n: int  # put order; also the record's Data, so a read names the record
    key: str
    hash: int  # MD5 of the key or the ExplicitHashKey
    shard: str
    seq: int
    at: float  # clock time of the put

    @property
    def arrival_ms(self) -> int:
        return EPOCH.wall_ms(self.at)


@dataclass
class Pending:
    """A reshard accepted while ACTIVE: the layout the stream has once ACTIVE again."""

    due: float
    layout: list[tuple[int, int]]


# --------------------------------------------------------------------------- strategies
partition_keys = st.one_of(
    st.sampled_from(["a", "b", "c", "user-1", "user-2", "ключ", "🙂", "x" * 256]),
    st.text(min_size=1, max_size=12),
)
#: None (route by MD5), or (how, value): an edge of an open shard, or any 128-bit key
explicit_hash_keys = st.one_of(
    st.none(),
    st.none(),
    st.tuples(st.sampled_from(["start", "end", "any"]), st.integers(0, HASH_MAX)),
)
orderings = st.sampled_from([None, None, "same-key", "any-record"])
small_steps = st.one_of(
    st.floats(min_value=0.001, max_value=3.0, allow_nan=False),
    st.just("due"),  # exactly the moment a pending reshard takes effect
    st.sampled_from([0.25, UPDATE_DELAY, 1.0]),
)
long_steps = st.one_of(
    st.floats(min_value=3600.0, max_value=30 * 3600.0, allow_nan=False),
    st.sampled_from([RETENTION, RETENTION - 0.001, DAY + 1.0]),
)
picks = st.integers(0, 2**32)
#: microseconds from a record's arrival time to the AT_TIMESTAMP asked for
timestamp_offsets = st.one_of(
    st.sampled_from([0, 0, -1, 1, -1_000, 1_000]), st.integers(-2_000, 2_000)
)
read_limits = st.one_of(st.just(10_000), st.integers(1, 7))


class KinesisStreamMachine(RuleBasedStateMachine):
    """One PROVISIONED stream, written to, resharded, aged and read in every way GetShardIterator
    allows."""

    def __init__(self) -> None:
        super().__init__()
        self.service = KinesisService(
            epoch=EPOCH,
            region="us-east-1",
            account_id="000000000000",
            options=KinesisOptions(
                enforce_throughput=False,
                create_delay=0.5,
                update_delay=UPDATE_DELAY,
                delete_delay=0.5,
                consumer_delay=0.5,
            ),
        )
        self.now = 0.0
        self.records: list[Modelled] = []
        self.layout: list[tuple[int, int]] = []
        self.status = "CREATING"
        self.pending: Pending | None = None
        self.rescales: list[float] = []  # times of accepted UpdateShardCount calls
        self.last_seq: dict[str, int] = {}  # shard id -> its newest sequence number

    # ----------------------------------------------------------------- service access
    def call(self, op: str, **params: Any) -> Any:
        return self.service.operations[op](params, self.now)

    def call_error(self, op: str, **params: Any) -> str:
        """The AWS error code ``op`` fails with (it must fail)."""
        try:
            self.call(op, **params)
        except BrokerError as e:
            return e.code
        raise AssertionError(f"{op} {params} succeeded; an error was expected")

    def shards(self) -> list[dict[str, Any]]:
        return self.call("ListShards", StreamName=NAME)["Shards"]

    def open_ids(self) -> dict[tuple[int, int], str]:
        return {key_range(s): s["ShardId"] for s in self.shards() if not is_closed(s)}

    # ----------------------------------------------------------------- model helpers
    def live(self) -> list[Modelled]:
        """Records younger than the retention period (a record that arrived at ``t`` is gone
        once ``now - retention >= t``)."""
        cutoff = self.now - RETENTION
        return [r for r in self.records if r.at > cutoff]

    def move_time(self, to: float) -> None:
        self.now = to
        if self.pending is not None and self.pending.due <= self.now:
            event("a reshard took effect")
            self.layout = self.pending.layout
            self.pending = None
            self.status = "ACTIVE"

    def route(self, h: int, open_ids: dict[tuple[int, int], str]) -> str:
        owners = [sid for (lo, hi), sid in open_ids.items() if lo <= h <= hi]
        assert len(owners) == 1, f"hash key {h} is owned by {owners}"
        return owners[0]

    def explicit_key(self, how: str, value: int) -> int:
        if how == "any":
            return value
        lo, hi = self.layout[value % len(self.layout)]
        return lo if how == "start" else hi

    def accept(self, sid: str, seq_s: str, key: str, h: int) -> Modelled:
        """Record a put the service accepted and check where it went."""
        assert len(seq_s) == 56 and seq_s.isdigit(), seq_s
        seq = int(seq_s)
        previous = self.last_seq.get(sid)
        assert previous is None or seq > previous, f"{sid}: sequence number {seq} after {previous}"
        self.last_seq[sid] = seq
        rec = Modelled(len(self.records), key, h, sid, seq, self.now)
        self.records.append(rec)
        return rec

    def expect_reshard_refused_while_updating(self, op: str, **params: Any) -> bool:
        if self.status != "UPDATING":
            return False
        assert self.call_error(op, **params) == "ResourceInUseException"
        event(f"{op} refused while UPDATING")
        return True

    # ----------------------------------------------------------------- setup
    @initialize(count=st.integers(1, 4))
    def create_stream(self, count: int) -> None:
        assert self.call("CreateStream", StreamName=NAME, ShardCount=count) == {}
        summary = self.call("DescribeStreamSummary", StreamName=NAME)["StreamDescriptionSummary"]
        assert summary["StreamStatus"] == "CREATING"
        self.now = 0.5  # create_delay: ACTIVE from here
        self.status = "ACTIVE"
        self.layout = uniform_layout(count)

    # ----------------------------------------------------------------- writes
    @rule(key=partition_keys, explicit=explicit_hash_keys, ordering=orderings, pick=picks)
    def put_record(self, key: str, explicit: Any, ordering: str | None, pick: int) -> None:
        open_ids = self.open_ids()
        params: dict[str, Any] = {"StreamName": NAME, "Data": str(len(self.records)).encode()}
        params["PartitionKey"] = key
        h = hash_of(key)
        if explicit is not None:
            h = self.explicit_key(*explicit)
            params["ExplicitHashKey"] = str(h)
        at_least = None
        if ordering == "same-key":
            same = [r for r in self.records if r.key == key]
            at_least = same[-1].seq if same else None
        elif ordering == "any-record" and self.records:
            at_least = self.records[pick % len(self.records)].seq
        if at_least is not None:
            params["SequenceNumberForOrdering"] = str(at_least)
        out = self.service.operations["PutRecord"](params, self.now)
        assert out["ShardId"] == self.route(h, open_ids), "record went to the wrong shard"
        assert out["EncryptionType"] == "NONE"
        rec = self.accept(out["ShardId"], out["SequenceNumber"], key, h)
        if at_least is not None:
            assert rec.seq > at_least, "SequenceNumberForOrdering was not respected"

    @rule(entries=st.lists(st.tuples(partition_keys, explicit_hash_keys), min_size=1, max_size=25))
    def put_records(self, entries: list[tuple[str, Any]]) -> None:
        open_ids = self.open_ids()
        request = []
        hashes = []
        for i, (key, explicit) in enumerate(entries):
            entry: dict[str, Any] = {"Data": str(len(self.records) + i).encode()}
            entry["PartitionKey"] = key
            h = hash_of(key)
            if explicit is not None:
                h = self.explicit_key(*explicit)
                entry["ExplicitHashKey"] = str(h)
            request.append(entry)
            hashes.append(h)
        out = self.call("PutRecords", StreamName=NAME, Records=request)
        assert out["FailedRecordCount"] == 0
        assert len(out["Records"]) == len(request), "results must line up with the request"
        for (key, _), h, result in zip(entries, hashes, out["Records"], strict=True):
            assert "ErrorCode" not in result
            assert result["ShardId"] == self.route(h, open_ids), "record went to the wrong shard"
            self.accept(result["ShardId"], result["SequenceNumber"], key, h)

    # ----------------------------------------------------------------- time
    @rule(dt=small_steps)
    def advance_a_little(self, dt: Any) -> None:
        if dt == "due":
            self.move_time(self.pending.due if self.pending is not None else self.now + 0.25)
        else:
            self.move_time(self.now + dt)

    @rule(dt=long_steps)
    def advance_hours(self, dt: float) -> None:
        self.move_time(self.now + dt)

    # ----------------------------------------------------------------- resharding
    @precondition(lambda self: len(self.layout) < MAX_OPEN)
    @rule(pick=picks, split_at=st.integers(0, HASH_MAX))
    def split_shard(self, pick: int, split_at: int) -> None:
        wide = [r for r in self.layout if r[1] > r[0]]
        if not wide:
            return
        lo, hi = wide[pick % len(wide)]
        new_start = lo + 1 + split_at % (hi - lo)  # lo < new_start <= hi
        sid = self.open_ids()[(lo, hi)]
        params = {"StreamName": NAME, "ShardToSplit": sid, "NewStartingHashKey": str(new_start)}
        if self.expect_reshard_refused_while_updating("SplitShard", **params):
            return
        assert self.call("SplitShard", **params) == {}
        i = self.layout.index((lo, hi))
        layout = [*self.layout[:i], (lo, new_start - 1), (new_start, hi), *self.layout[i + 1 :]]
        self.reshard_accepted(layout)

    @precondition(lambda self: len(self.layout) >= 2)
    @rule(pick=picks, swap=st.booleans())
    def merge_shards(self, pick: int, swap: bool) -> None:
        i = pick % (len(self.layout) - 1)
        left, right = self.layout[i], self.layout[i + 1]
        ids = self.open_ids()
        first, second = (ids[right], ids[left]) if swap else (ids[left], ids[right])
        params = {"StreamName": NAME, "ShardToMerge": first, "AdjacentShardToMerge": second}
        if self.expect_reshard_refused_while_updating("MergeShards", **params):
            return
        assert self.call("MergeShards", **params) == {}
        layout = [*self.layout[:i], (left[0], right[1]), *self.layout[i + 2 :]]
        self.reshard_accepted(layout)

    @rule(pick=picks, out_of_range=st.sampled_from([False, False, False, "above", "below"]))
    def update_shard_count(self, pick: int, out_of_range: Any) -> None:
        n = len(self.layout)
        lo, hi = ceil_half(n), max(ceil_half(n), min(2 * n, MAX_OPEN + 2))
        target = lo + pick % (hi - lo + 1)
        if out_of_range == "above" or (out_of_range == "below" and lo == 1):
            target = 2 * n + 1
        elif out_of_range == "below":
            target = lo - 1
        params = {"StreamName": NAME, "TargetShardCount": target, "ScalingType": "UNIFORM_SCALING"}
        if self.expect_reshard_refused_while_updating("UpdateShardCount", **params):
            return
        if out_of_range:
            # At most double, at least half the open shards.
            assert self.call_error("UpdateShardCount", **params) == "LimitExceededException"
            return
        recent = [t for t in self.rescales if t > self.now - DAY]
        if len(recent) >= UPDATES_PER_DAY:
            assert self.call_error("UpdateShardCount", **params) == "LimitExceededException"
            event("UpdateShardCount refused: 10 calls in 24 hours")
            return
        out = self.call("UpdateShardCount", **params)
        assert out["CurrentShardCount"] == n
        assert out["TargetShardCount"] == target
        self.rescales.append(self.now)
        self.reshard_accepted(uniform_layout(target))

    def reshard_accepted(self, layout: list[tuple[int, int]]) -> None:
        # The layout changes when the stream turns ACTIVE again; until then writes go on to the
        # shards open now.
        self.status = "UPDATING"
        self.pending = Pending(self.now + UPDATE_DELAY, layout)

    # ----------------------------------------------------------------- reads
    def drain(self, shard: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], Any]:
        """Every record of one shard from TRIM_HORIZON, and ChildShards if it is closed."""
        sid = shard["ShardId"]
        it = self.call("GetShardIterator", StreamName=NAME, ShardId=sid, **TRIM)["ShardIterator"]
        got: list[dict[str, Any]] = []
        for _ in range(100_000):
            page = self.call("GetRecords", ShardIterator=it, Limit=limit)
            assert len(page["Records"]) <= limit
            got.extend(page["Records"])
            if "NextShardIterator" not in page:
                assert is_closed(shard), f"open shard {sid} ended its iterator"
                return got, page["ChildShards"]
            assert "ChildShards" not in page
            if not page["Records"]:
                assert not is_closed(shard), f"closed shard {sid} gave an empty page mid-shard"
                assert page["MillisBehindLatest"] == 0, "a caught-up reader is 0 ms behind"
                return got, None
            it = page["NextShardIterator"]
        raise AssertionError(f"reading {sid} did not end")

    @rule(limit=read_limits)
    def read_everything(self, limit: int) -> None:
        shards = self.shards()
        by_id = {s["ShardId"]: s for s in shards}
        parents = {sid: [p for p in parents_of(s) if p in by_id] for sid, s in by_id.items()}
        children: dict[str, list[str]] = {sid: [] for sid in by_id}
        for sid, ps in parents.items():
            for p in ps:
                children[p].append(sid)
        queue = [sid for sid, ps in parents.items() if not ps]
        done: list[str] = []
        order: list[tuple[str, dict[str, Any]]] = []
        while queue:
            sid = queue.pop(0)
            got, child_shards = self.drain(by_id[sid], limit)
            done.append(sid)
            order.extend((sid, r) for r in got)
            if child_shards is None:
                continue
            # ChildShards names exactly the shards ListShards shows as this one's children.
            assert sorted(c["ShardId"] for c in child_shards) == sorted(children[sid])
            for c in child_shards:
                child = by_id[c["ShardId"]]
                assert c["ParentShards"] == parents_of(child)
                assert key_range(c) == key_range(child)
                if all(p in done for p in parents[c["ShardId"]]) and c["ShardId"] not in queue:
                    queue.append(c["ShardId"])
        assert sorted(done) == sorted(by_id), "following lineage must reach every shard"
        self.check_read(order, by_id)

    def check_read(
        self, order: list[tuple[str, dict[str, Any]]], by_id: dict[str, dict[str, Any]]
    ) -> None:
        seen: set[int] = set()
        newest_in_shard: dict[str, tuple[int, int]] = {}
        newest_for_hash: dict[int, int] = {}
        for sid, got in order:
            n = int(got["Data"])
            assert n not in seen, f"record {n} was read twice"
            seen.add(n)
            rec = self.records[n]
            assert rec.shard == sid, f"record {n} read from {sid}, put to {rec.shard}"
            assert got["SequenceNumber"] == str(rec.seq)
            assert got["PartitionKey"] == rec.key
            arrival = UNIX0 + timedelta(milliseconds=rec.arrival_ms)
            assert got["ApproximateArrivalTimestamp"] == arrival
            # Per-shard order: put order, sequence numbers strictly increasing.
            if sid in newest_in_shard:
                prev_n, prev_seq = newest_in_shard[sid]
                assert n > prev_n and rec.seq > prev_seq, f"{sid}: {n} read after {prev_n}"
            newest_in_shard[sid] = (n, rec.seq)
            # Following lineage keeps the order of records with the same hash key.
            assert newest_for_hash.get(rec.hash, -1) < n, "lineage order broken"
            newest_for_hash[rec.hash] = n
            rng = by_id[sid]["SequenceNumberRange"]
            assert rec.seq > int(rng["StartingSequenceNumber"])
            if "EndingSequenceNumber" in rng:
                assert rec.seq <= int(rng["EndingSequenceNumber"])
        live = {r.n for r in self.live()}
        assert not seen - live, f"expired records still readable: {sorted(seen - live)[:5]}"
        assert not live - seen, f"records lost: {sorted(live - seen)[:5]}"
        event(f"read {min(len(live), 50) // 10 * 10}+ live records")
        if len(live) < len(self.records):
            event("read after retention trimmed records")
        if any(is_closed(s) for s in by_id.values()):
            event("read through closed shards")

    @precondition(lambda self: any(r.at > self.now - RETENTION for r in self.records))
    @rule(pick=picks, after=st.booleans())
    def iterator_at_sequence_number(self, pick: int, after: bool) -> None:
        live = self.live()
        rec = live[pick % len(live)]
        kind = "AFTER_SEQUENCE_NUMBER" if after else "AT_SEQUENCE_NUMBER"
        it = self.call(
            "GetShardIterator",
            StreamName=NAME,
            ShardId=rec.shard,
            ShardIteratorType=kind,
            StartingSequenceNumber=str(rec.seq),
        )["ShardIterator"]
        got = self.call("GetRecords", ShardIterator=it, Limit=1)["Records"]
        if after:
            later = [r for r in live if r.shard == rec.shard and r.n > rec.n]
            expected = later[:1]
        else:
            expected = [rec]
        assert [int(r["Data"]) for r in got] == [r.n for r in expected]

    @rule(pick=picks, anchor=st.booleans(), offset_us=timestamp_offsets)
    def iterator_at_timestamp(self, pick: int, anchor: bool, offset_us: int) -> None:
        shards = self.shards()
        shard = shards[pick % len(shards)]
        live = [r for r in self.live() if r.shard == shard["ShardId"]]
        if anchor and live:
            base_us = live[pick % len(live)].arrival_ms * 1000
        elif anchor and self.records:
            base_us = self.records[pick % len(self.records)].arrival_ms * 1000
        else:
            base_us = EPOCH.wall_ms(self.now - (pick % 100_000) * 1.0) * 1000
        when_us = base_us + offset_us
        when = UNIX0 + timedelta(microseconds=when_us)
        it = self.call(
            "GetShardIterator",
            StreamName=NAME,
            ShardId=shard["ShardId"],
            ShardIteratorType="AT_TIMESTAMP",
            Timestamp=when,
        )["ShardIterator"]
        got = self.call("GetRecords", ShardIterator=it, Limit=1)["Records"]
        expected = [r.n for r in live if r.arrival_ms * 1000 >= when_us][:1]
        assert [int(r["Data"]) for r in got] == expected

    def teardown(self) -> None:
        # Every run ends with a full read, so no run's records go unchecked.
        if self.status != "CREATING":
            self.read_everything(10_000)

    # ----------------------------------------------------------------- invariants
    @invariant()
    def stream_status_and_open_shard_count(self) -> None:
        if self.status == "CREATING":
            return
        summary = self.call("DescribeStreamSummary", StreamName=NAME)["StreamDescriptionSummary"]
        assert summary["StreamStatus"] == self.status
        assert summary["OpenShardCount"] == len(self.layout)

    @invariant()
    def shards_and_lineage(self) -> None:
        if self.status == "CREATING":
            return
        shards = self.shards()
        by_id = {s["ShardId"]: s for s in shards}
        assert len(by_id) == len(shards), "shard ids are unique"
        open_ranges = sorted(key_range(s) for s in shards if not is_closed(s))
        assert open_ranges == self.layout
        # The open shards partition 0 .. 2**128 - 1 without gaps or overlaps.
        assert open_ranges[0][0] == 0 and open_ranges[-1][1] == HASH_MAX
        for (_, end), (start, _) in pairwise(open_ranges):
            assert start == end + 1
        children: dict[str, list[tuple[int, int]]] = {sid: [] for sid in by_id}
        for s in shards:
            rng = s["SequenceNumberRange"]
            if is_closed(s):
                assert int(rng["EndingSequenceNumber"]) >= int(rng["StartingSequenceNumber"])
            if "AdjacentParentShardId" in s:
                assert "ParentShardId" in s
            listed = [p for p in parents_of(s) if p in by_id]
            for p in listed:
                assert is_closed(by_id[p]), f"parent {p} of {s['ShardId']} is still open"
                children[p].append(key_range(s))
            lo, hi = key_range(s)
            if len(listed) == 2:  # a merge: the child owns exactly both parents' ranges
                (a_lo, a_hi), (b_lo, b_hi) = sorted(key_range(by_id[p]) for p in listed)
                assert a_hi + 1 == b_lo and (lo, hi) == (a_lo, b_hi)
            elif len(listed) == 1 and "AdjacentParentShardId" not in s:  # a split
                p_lo, p_hi = key_range(by_id[listed[0]])
                assert p_lo <= lo <= hi <= p_hi
        for sid, ranges in children.items():
            if not is_closed(by_id[sid]):
                assert not ranges, f"open shard {sid} has children"
                continue
            # A closed shard's children take over its whole range: no hash key is orphaned.
            ranges.sort()
            lo, hi = key_range(by_id[sid])
            assert ranges, f"closed shard {sid} has no children"
            assert ranges[0][0] <= lo and ranges[-1][1] >= hi
            for (_, end), (start, _) in pairwise(ranges):
                assert start == end + 1


KinesisStreamMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestKinesisStreamFollowsAwsSemantics = KinesisStreamMachine.TestCase
