"""Property tests of the Kinesis core's parts: a :class:`~msgsim.broker.kinesis.shard.Shard` alone, the
resharding of a :class:`~msgsim.broker.kinesis.stream.Stream`, and the per-shard throughput limits and
the UpdateShardCount quota of :class:`~msgsim.broker.kinesis.service.KinesisService`, all sans-IO with
``now`` a float the test chooses.

A shard is filled the way ``PutRecord`` fills one: a sequence number from ``next_seq``, the record
dict appended to ``records``, its size to ``cum``, and ``note_batch`` once per put call.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from msgsim.broker.clock import Epoch
from msgsim.broker.errors import BrokerError
from msgsim.broker.kinesis.options import KinesisOptions
from msgsim.broker.kinesis.service import KinesisService
from msgsim.broker.kinesis.shard import SEQ_BASE, SEQ_MAX, Shard, seq_shard_index
from msgsim.broker.kinesis.stream import Stream

#: A SequenceNumberForOrdering far beyond anything a shard mints (Shard.next_seq must still
#: stay within 56 digits above it).
ORDERING_HIGH = SEQ_MAX - (1 << 100)

WALL0 = 1_735_689_600.0
EPOCH = Epoch(wall_at_origin=WALL0, origin=0.0)
UNIX0 = datetime(1970, 1, 1, tzinfo=UTC)
HASH_MAX = 2**128 - 1
MIB = 1_048_576
DAY = 86_400.0
NAME = "orders"
SHARD_0 = "shardId-000000000000"
SHARD_1 = "shardId-000000000001"

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def uniform_layout(count: int) -> list[tuple[int, int]]:
    width = 2**128 // count
    return [(i * width, HASH_MAX if i == count - 1 else (i + 1) * width - 1) for i in range(count)]


# =========================================================================== Shard
def new_shard(index: int = 3) -> Shard:
    return Shard(index, 0, HASH_MAX, 0.0, EPOCH.wall_ms(0.0))


def put_batch(shard: Shard, t: float, sizes: list[int]) -> list[dict[str, Any]]:
    """Append one put call's records (``sizes`` counts data plus the 1-byte partition key); the
    records with their size, arrival time and position."""
    ms = EPOCH.wall_ms(t)
    added = []
    for size in sizes:
        rec = {
            "SequenceNumber": shard.next_seq(ms),
            "ApproximateArrivalTimestamp": UNIX0 + timedelta(milliseconds=ms),
            "Data": bytes(size - 1),
            "PartitionKey": "k",
        }
        added.append({**rec, "size": size, "t": t, "pos": shard.end_pos})
        shard.records.append(rec)
        shard.cum.append(shard.cum[-1] + size)
    shard.note_batch(t)
    return added


sizes = st.one_of(st.integers(1, 64), st.integers(1, 5_000))
#: put calls: (seconds since the previous call, sizes of its records)
batches = st.lists(
    st.tuples(st.sampled_from([0.0, 0.001, 1.0, 60.0]) | st.floats(0, 100), st.lists(sizes)),
    max_size=12,
)


def fill_and_trim(plan, cutoff_pick: float | None) -> tuple[Shard, list[dict[str, Any]], list]:
    """A shard filled by ``plan`` and trimmed at a cutoff; every record, and the live ones."""
    shard = new_shard()
    every: list[dict[str, Any]] = []
    t = 0.0
    for gap, batch in plan:
        t += gap
        every.extend(put_batch(shard, t, batch))
    cutoff = -1.0
    if cutoff_pick is not None:
        cutoff = cutoff_pick * (t + 1.0)
        shard.trim(cutoff)
    live = [r for r in every if r["t"] > cutoff]
    return shard, every, live


@FAST
@given(
    plan=batches,
    cutoff=st.none() | st.floats(0, 1),
    start=st.integers(-3, 3) | st.integers(0, 200),
    limit=st.integers(1, 30) | st.just(10_000),
    budget=st.integers(0, 20_000) | st.tuples(st.integers(1, 40), st.sampled_from([-1, 0, 1])),
)
def test_shard_read_returns_contiguous_records_within_limit_and_max_bytes(
    plan, cutoff, start, limit, budget
):
    shard, every, live = fill_and_trim(plan, cutoff)
    if isinstance(budget, tuple):  # just under, at or over the size of the first k records
        k, nudge = budget
        ahead = every[max(start, shard.start_pos) :]
        max_bytes = max(0, sum(r["size"] for r in ahead[:k]) + nudge)
    else:
        max_bytes = budget
    assert len(shard) == len(live)
    assert shard.start_pos == (live[0]["pos"] if live else shard.end_pos)
    assert shard.end_pos == len(every)
    got, nxt, nbytes = shard.read(start, limit, max_bytes)
    first = max(start, shard.start_pos)  # a read from before the trim horizon starts there
    if first >= shard.end_pos:
        assert (got, nxt, nbytes) == ([], shard.end_pos, 0)
        return
    expected = every[first : first + len(got)]
    assert [r["SequenceNumber"] for r in got] == [r["SequenceNumber"] for r in expected]
    assert got, "a read with records ahead always makes progress"
    assert len(got) <= limit
    assert nbytes == sum(r["size"] for r in expected)
    assert nbytes <= max_bytes or len(got) == 1, "only a single record may exceed max_bytes"
    assert nxt == first + len(got)
    if nxt < shard.end_pos and len(got) < limit:
        # It stopped for the byte limit: the next record would not have fitted.
        assert nbytes + every[nxt]["size"] > max_bytes
    got[0]["Data"] = b"changed"  # a read hands out copies
    assert shard.records[first - shard.start_pos + shard.head]["Data"] != b"changed"


@FAST
@given(plan=batches, cutoffs=st.lists(st.floats(-1, 1.2), max_size=4))
def test_shard_trim_drops_exactly_records_at_or_before_the_cutoff(plan, cutoffs):
    shard, every, _ = fill_and_trim(plan, None)
    horizon = -math.inf
    for c in cutoffs:
        cutoff = c * (every[-1]["t"] + 1.0) if every else c
        shard.trim(cutoff)
        horizon = max(horizon, cutoff)  # trimming never brings records back
        live = [r for r in every if r["t"] > horizon]
        assert len(shard) == len(live)
        got, _, _ = shard.read(0, 10_000, 10**9)
        assert [r["SequenceNumber"] for r in got] == [r["SequenceNumber"] for r in live]
        # Positions never move: the first live record keeps the position it was given.
        assert shard.start_pos == (live[0]["pos"] if live else shard.end_pos)


@SLOW
@given(
    batch_sizes=st.lists(st.integers(1, 2_500), min_size=3, max_size=8),
    trims=st.lists(st.integers(0, 8), min_size=1, max_size=8),
    probes=st.lists(st.floats(0, 1), min_size=1, max_size=5),
)
def test_shard_positions_survive_compaction_of_the_trimmed_prefix(batch_sizes, trims, probes):
    shard = new_shard()
    every: list[dict[str, Any]] = []
    for t, n in enumerate(batch_sizes):
        every.extend(put_batch(shard, float(t), [1] * n))
    for cutoff in sorted(trims):
        shard.trim(float(cutoff))
        live = [r for r in every if r["t"] > cutoff]
        assert shard.start_pos == (live[0]["pos"] if live else len(every))
        if len(shard.records) < shard.end_pos:
            event("the dead prefix was compacted away")
        for p in probes:
            pos = int(p * len(every))
            got, nxt, _ = shard.read(pos, 3, 10**9)
            first = max(pos, shard.start_pos)
            want = every[first : first + 3]
            assert [r["SequenceNumber"] for r in got] == [r["SequenceNumber"] for r in want]
            assert nxt == first + len(want)
            if want:
                seq = want[0]["SequenceNumber"]
                assert shard.pos_at_seq(seq, after=False) == want[0]["pos"]
                assert shard.pos_at_seq(seq, after=True) == want[0]["pos"] + 1


@FAST
@given(
    plan=batches,
    cutoff=st.none() | st.floats(0, 1),
    pick=st.integers(0, 10**6),
    delta=st.sampled_from([-1, 0, 1]),
    special=st.sampled_from([None, None, "starting", "base", "max"]),
    after=st.booleans(),
)
def test_shard_pos_at_seq_finds_the_first_record_at_or_after_a_sequence_number(
    plan, cutoff, pick, delta, special, after
):
    shard, every, live = fill_and_trim(plan, cutoff)
    if special == "starting":
        q = int(shard.starting_seq)
    elif special == "base":
        q = SEQ_BASE
    elif special == "max":
        q = SEQ_MAX - 1
    elif every:
        q = int(every[pick % len(every)]["SequenceNumber"]) + delta
    else:
        q = int(shard.starting_seq) + delta
    s = str(q)
    assert len(s) == 56
    want = next(
        (
            r["pos"]
            for r in live
            if (int(r["SequenceNumber"]) > q if after else int(r["SequenceNumber"]) >= q)
        ),
        shard.end_pos,
    )
    assert shard.pos_at_seq(s, after=after) == want


@FAST
@given(
    index=st.integers(0, 2**24 - 1),
    steps=st.lists(
        st.tuples(
            st.integers(-5_000, 5_000),  # arrival ms moves (a clock may not, but the floor holds)
            st.none()
            | st.tuples(st.sampled_from(["previous", "other", "far"]), st.integers(-3, 3)),
        ),
        min_size=1,
        max_size=40,
    ),
    other_ms=st.integers(0, 10**7),
    other_index=st.integers(0, 2**24 - 1),
    other_counter=st.integers(0, 2**48 - 1),
)
def test_shard_next_seq_is_strictly_increasing_and_above_sequence_number_for_ordering(
    index, steps, other_ms, other_index, other_counter
):
    created_ms = EPOCH.wall_ms(0.0)
    shard = Shard(index, 0, HASH_MAX, 0.0, created_ms)
    assert seq_shard_index(int(shard.starting_seq)) == index
    minted = [int(shard.starting_seq)]  # counter 0 is the shard's StartingSequenceNumber
    ms = created_ms
    for move, ordering in steps:
        ms += move
        at_least = None
        if ordering is not None:
            kind, nudge = ordering
            if kind == "previous":
                at_least = minted[-1] + nudge
            elif kind == "other":  # a sequence number from another shard (a parent, say)
                at_least = SEQ_BASE + ((created_ms + other_ms) << 72) + (other_index << 48)
                at_least += other_counter + nudge
            else:  # a number far in the future
                at_least = ORDERING_HIGH - 1 - other_counter - abs(nudge)
        s = shard.next_seq(ms, at_least)
        assert len(s) == 56 and s.isdigit()
        seq = int(s)
        assert seq < SEQ_MAX
        assert seq > minted[-1]
        if at_least is not None:
            assert seq > at_least
        assert seq_shard_index(seq) == index
        minted.append(seq)


# =========================================================================== Stream.rescale
def new_stream(count: int) -> Stream:
    return Stream(
        name=NAME,
        arn=f"arn:aws:kinesis:us-east-1:000000000000:stream/{NAME}",
        incarnation=1,
        mode="PROVISIONED",
        shard_count=count,
        now=0.0,
        epoch=EPOCH,
        ready_at=0.0,
        max_record_kib=1024,
        tags={},
    )


@FAST
@given(
    count=st.integers(1, 40),
    splits=st.lists(st.tuples(st.integers(0, 2**32), st.integers(0, HASH_MAX)), max_size=5),
    pick=st.integers(0, 2**32),
)
def test_update_shard_count_reshards_to_uniform_ranges_reachable_by_lineage(count, splits, pick):
    stream = new_stream(count)
    stream.advance(0.0)
    for shard_pick, key in splits:  # a non-uniform layout to start from
        wide = [s for s in stream.open if s.end_key > s.start_key]
        shard = wide[shard_pick % len(wide)]
        stream.split(shard, shard.start_key + 1 + key % (shard.end_key - shard.start_key), 1.0)
    old_open = list(stream.open)
    before = set(stream.shards)
    n = len(old_open)
    lo, hi = (n + 1) // 2, 2 * n
    target = lo + pick % (hi - lo + 1)
    stream.rescale(target, 2.0)

    assert [(s.start_key, s.end_key) for s in stream.open] == uniform_layout(target)
    assert stream.open_count == target
    shards = stream.shards
    new = [s for sid, s in shards.items() if sid not in before]
    children: dict[str, list[Any]] = {sid: [] for sid in shards}
    for s in new:
        parents = [p for p in (s.parent_id, s.adjacent_parent_id) if p is not None]
        assert 1 <= len(parents) <= 2
        for p in parents:
            assert not shards[p].is_open, f"{s.id}'s parent {p} is still open"
            children[p].append(s)
        if len(parents) == 2:  # merged: owns exactly both parents' adjacent ranges
            a, b = sorted((shards[p] for p in parents), key=lambda x: x.start_key)
            assert a.end_key + 1 == b.start_key
            assert (s.start_key, s.end_key) == (a.start_key, b.end_key)
        else:  # split off its parent
            parent = shards[parents[0]]
            assert parent.start_key <= s.start_key <= s.end_key <= parent.end_key
    for sid, kids in children.items():
        shard = shards[sid]
        if shard.is_open:
            assert not kids
        elif kids:  # a closed shard's children cover its whole range
            kids.sort(key=lambda x: x.start_key)
            assert kids[0].start_key <= shard.start_key and kids[-1].end_key >= shard.end_key
            for a, b in pairwise(kids):
                assert a.end_key + 1 == b.start_key
    for s in old_open:
        if not s.is_open:
            assert s.ending_seq is not None
    # Following children from the shards open before reaches every shard the rescale made.
    reached: set[str] = set()
    frontier = [s.id for s in old_open]
    while frontier:
        sid = frontier.pop()
        for kid in children[sid]:
            if kid.id not in reached:
                reached.add(kid.id)
                frontier.append(kid.id)
    assert reached == {s.id for s in new}
    assert {s.id for s in stream.open} <= reached | {s.id for s in old_open}


# =========================================================================== throughput
def new_service(*, enforce: bool = True) -> KinesisService:
    return KinesisService(
        epoch=EPOCH,
        region="us-east-1",
        account_id="000000000000",
        options=KinesisOptions(enforce_throughput=enforce, create_delay=0.5, update_delay=0.5),
    )


def with_stream(shards: int = 2, *, enforce: bool = True) -> KinesisService:
    svc = new_service(enforce=enforce)
    svc.operations["CreateStream"]({"StreamName": NAME, "ShardCount": shards}, 0.0)
    return svc


def call(svc: KinesisService, op: str, now: float, **params: Any) -> Any:
    return svc.operations[op](params, now)


def error_code(svc: KinesisService, op: str, now: float, **params: Any) -> str | None:
    try:
        call(svc, op, now, **params)
    except BrokerError as e:
        return e.code
    return None


def put(svc: KinesisService, now: float, size: int = 10, to: str = "0") -> str | None:
    """PutRecord of ``size`` bytes (data plus the 1-byte key) to the shard owning hash key
    ``to``: None if accepted, else the error code."""
    return error_code(
        svc,
        "PutRecord",
        now,
        StreamName=NAME,
        Data=bytes(size - 1),
        PartitionKey="k",
        ExplicitHashKey=to,
    )


def iterator(svc: KinesisService, now: float, shard: str = SHARD_0, kind="TRIM_HORIZON") -> str:
    it = call(svc, "GetShardIterator", now, StreamName=NAME, ShardId=shard, ShardIteratorType=kind)
    return it["ShardIterator"]


def within_rate(events: list[tuple[float, int]], rate: float) -> None:
    """``events`` (time, amount), times non-decreasing: in every window [a, b] the amounts add up
    to at most ``rate * (b - a)`` plus one second's worth (a full bucket at the start)."""
    best = -math.inf  # max over window starts a of rate * t_a - (amount before a)
    total = 0.0
    for t, amount in events:
        best = max(best, rate * t - total)
        total += amount
        assert total - rate * t + best <= rate * (1 + 1e-9), f"over {rate}/s by time {t}"


def test_put_record_allows_1000_records_per_second_per_shard_then_throttles():
    svc = with_stream()
    for _ in range(1000):
        assert put(svc, 1.0) is None
    assert put(svc, 1.0) == "ProvisionedThroughputExceededException"
    assert put(svc, 1.0, to=str(HASH_MAX)) is None, "the limit is per shard"
    assert put(svc, 1.5) is None  # half a second refills half the budget
    for _ in range(1000):
        assert put(svc, 2.5) is None
    assert put(svc, 2.5) == "ProvisionedThroughputExceededException"


def test_put_record_allows_1_mib_per_second_per_shard_then_throttles():
    svc = with_stream()
    for _ in range(10):
        assert put(svc, 1.0, size=100 * 1024) is None
    # 10 x 100 KiB leave 24 KiB of this second's MiB: a 100 KiB record waits, a small one fits.
    assert put(svc, 1.0, size=100 * 1024) == "ProvisionedThroughputExceededException"
    assert put(svc, 1.0, size=20 * 1024) is None
    assert put(svc, 2.0, size=MIB) is None
    assert put(svc, 2.0, size=1) == "ProvisionedThroughputExceededException"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.001, 0.1, 1.0, 1.5]) | st.floats(0, 0.5),
            st.sampled_from([1, 1_000, 64 * 1024, 400 * 1024, MIB]) | st.integers(1, MIB),
            st.integers(1, 150),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_put_record_sustains_at_most_1000_records_and_1_mib_per_second_per_shard(calls):
    svc = with_stream(1)
    t, last_attempt = 1.0, 0.0
    accepted: list[tuple[float, int]] = []
    for gap, size, repeat in calls:
        t += gap
        for i in range(repeat):
            code = put(svc, t, size)
            if i == 0 and t - last_attempt >= 1.0:
                # A second without attempts refills the whole budget.
                assert code is None, "a shard idle for a second must accept a record"
            last_attempt = t
            assert code in (None, "ProvisionedThroughputExceededException")
            if code is None:
                accepted.append((t, size))
    within_rate([(t, 1) for t, _ in accepted], 1_000)
    within_rate(accepted, MIB)


@FAST
@given(
    used=st.integers(900, 1000),
    targets=st.lists(st.booleans(), min_size=1, max_size=200),
)
def test_put_records_fails_only_the_records_over_a_shard_budget_in_request_order(used, targets):
    svc = with_stream()
    for start in range(0, used, 500):  # shard 0 has 1000 - used records left this second
        filler = [{"Data": bytes(9), "PartitionKey": "k", "ExplicitHashKey": "0"}] * min(
            500, used - start
        )
        assert (
            call(svc, "PutRecords", 1.0, StreamName=NAME, Records=filler)["FailedRecordCount"] == 0
        )
    entries = [
        {"Data": b"%d" % i, "PartitionKey": "k", "ExplicitHashKey": "0" if hot else str(HASH_MAX)}
        for i, hot in enumerate(targets)
    ]
    out = call(svc, "PutRecords", 1.0, StreamName=NAME, Records=entries)
    results = out["Records"]
    assert len(results) == len(entries), "results line up with the request"
    left = 1000 - used
    failed = []
    for i, (hot, result) in enumerate(zip(targets, results, strict=True)):
        over = hot and sum(targets[: i + 1]) > left
        if over:
            assert result["ErrorCode"] == "ProvisionedThroughputExceededException"
            assert result["ErrorMessage"]
            assert "SequenceNumber" not in result and "ShardId" not in result
            failed.append(i)
        else:
            assert "ErrorCode" not in result
            assert result["ShardId"] == (SHARD_0 if hot else SHARD_1)
    assert out["FailedRecordCount"] == len(failed)
    # The failed records were not written; the others were, in request order.
    for shard, hot in ((SHARD_0, True), (SHARD_1, False)):
        got = call(svc, "GetRecords", 1.0, ShardIterator=iterator(svc, 1.0, shard))["Records"]
        got = [r["Data"] for r in got if r["Data"] != bytes(9)]
        want = [b"%d" % i for i, h in enumerate(targets) if h == hot and i not in failed]
        assert got == want


def test_get_records_allows_5_calls_per_second_per_shard_then_throttles():
    svc = with_stream()
    it = iterator(svc, 1.0)
    for _ in range(5):
        it = call(svc, "GetRecords", 1.0, ShardIterator=it)["NextShardIterator"]
    assert (
        error_code(svc, "GetRecords", 1.0, ShardIterator=it)
        == "ProvisionedThroughputExceededException"
    )
    assert error_code(svc, "GetRecords", 1.0, ShardIterator=iterator(svc, 1.0, SHARD_1)) is None
    it = call(svc, "GetRecords", 1.25, ShardIterator=it)["NextShardIterator"]  # 1/5 s refills one
    assert (
        error_code(svc, "GetRecords", 1.25, ShardIterator=it)
        == "ProvisionedThroughputExceededException"
    )


@FAST
@given(gaps=st.lists(st.sampled_from([0.0, 0.2, 0.25, 1.0]) | st.floats(0, 0.6), max_size=60))
def test_get_records_sustains_at_most_5_calls_per_second_per_shard(gaps):
    svc = with_stream(1)
    t = 1.0
    assert put(svc, t) is None
    it, issued = iterator(svc, t), t
    admitted = []
    for gap in gaps:
        t += gap
        if t - issued > 250:
            it, issued = iterator(svc, t), t
        try:
            page = call(svc, "GetRecords", t, ShardIterator=it)
        except BrokerError as e:
            assert e.code == "ProvisionedThroughputExceededException"
            continue
        admitted.append((t, 1))
        it, issued = page["NextShardIterator"], t
    within_rate(admitted, 5)


def test_get_records_after_a_10_mib_read_throttles_the_shard_for_5_seconds():
    svc = with_stream(1)
    for i in range(10):  # 10 records of 1 MiB, a second apart (the write limit)
        assert put(svc, 1.0 + i, size=MIB) is None
    it = iterator(svc, 20.0)
    page = call(svc, "GetRecords", 20.0, ShardIterator=it)
    assert len(page["Records"]) == 10  # 10 MiB: GetRecords' most
    it = page["NextShardIterator"]
    assert put(svc, 20.0, size=100) is None
    for t in (20.0, 21.0, 22.0, 24.0, 24.875):
        assert (
            error_code(svc, "GetRecords", t, ShardIterator=it)
            == "ProvisionedThroughputExceededException"
        ), f"read at {t} s should throttle"
    # The throttled calls read nothing: the iterator still gives the next record.
    page = call(svc, "GetRecords", 25.0, ShardIterator=it)
    assert [len(r["Data"]) for r in page["Records"]] == [99]


@pytest.mark.parametrize("mib", [1, 4])
def test_get_records_read_debt_is_repaid_at_2_mib_per_second(mib):
    svc = with_stream(1)
    for i in range(mib):
        assert put(svc, 1.0 + i, size=MIB) is None
    start = 16.0
    page = call(svc, "GetRecords", start, ShardIterator=iterator(svc, start))
    assert len(page["Records"]) == mib
    it = page["NextShardIterator"]
    free_at = start + mib / 2  # 2 MiB per second
    assert (
        error_code(svc, "GetRecords", free_at - 0.125, ShardIterator=it)
        == "ProvisionedThroughputExceededException"
    )
    assert error_code(svc, "GetRecords", free_at, ShardIterator=it) is None


# =========================================================================== UpdateShardCount
@FAST
@given(
    gaps=st.lists(st.sampled_from([0.5, 1.0, 3600.0, DAY]) | st.floats(0.5, 20_000), max_size=30)
)
def test_update_shard_count_is_limited_to_10_calls_per_rolling_24_hours(gaps):
    svc = with_stream(1, enforce=False)
    t, open_count = 0.5, 1
    accepted: list[float] = []
    for gap in gaps:
        t += gap  # at least update_delay: the stream is ACTIVE again
        target = 2 if open_count == 1 else 1
        recent = [a for a in accepted if a > t - DAY]
        code = error_code(
            svc,
            "UpdateShardCount",
            t,
            StreamName=NAME,
            TargetShardCount=target,
            ScalingType="UNIFORM_SCALING",
        )
        if len(recent) >= 10:
            assert code == "LimitExceededException"
        else:
            assert code is None
            accepted.append(t)
            open_count = target
    summary = call(svc, "DescribeStreamSummary", t + 0.5, StreamName=NAME)
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == open_count


# =========================================================================== ordering
def put_ordered(svc: KinesisService, data: bytes, ordering: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"StreamName": NAME, "Data": data, "PartitionKey": "k"}
    if ordering is not None:
        params["SequenceNumberForOrdering"] = str(ordering)
    return call(svc, "PutRecord", 1.0, **params)


@FAST
@given(
    orderings=st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.just("previous"), st.integers(-2, 2)),
            st.tuples(st.just("value"), st.integers(0, 10**6)),
            st.tuples(st.just("value"), st.integers(SEQ_BASE, SEQ_BASE + 2**100)),
            st.tuples(st.just("value"), st.integers(SEQ_MAX, 10**129 - 1)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_put_record_sequence_number_for_ordering_keeps_every_iterator_type_working(orderings):
    svc = with_stream(1, enforce=False)
    minted: list[str] = []
    for i, choice in enumerate(orderings):
        value = None
        if choice is not None:
            kind, x = choice
            value = x if kind == "value" else (int(minted[-1]) + x if minted else None)
        try:
            out = put_ordered(svc, b"%d" % i, value)
        except BrokerError as e:
            # Only a number the stream could never have given out is refused.
            assert e.code == "InvalidArgumentException"
            assert value is not None and str(value) not in minted
            continue
        seq = out["SequenceNumber"]
        assert len(seq) == 56
        assert not minted or int(seq) > int(minted[-1])
        assert value is None or int(seq) > value
        minted.append(seq)
    got = call(svc, "GetRecords", 1.0, ShardIterator=iterator(svc, 1.0))["Records"]
    assert [r["SequenceNumber"] for r in got] == minted
    for i, seq in enumerate(minted):
        for kind, want in (
            ("AT_SEQUENCE_NUMBER", minted[i:]),
            ("AFTER_SEQUENCE_NUMBER", minted[i + 1 :]),
        ):
            it = call(
                svc,
                "GetShardIterator",
                1.0,
                StreamName=NAME,
                ShardId=SHARD_0,
                ShardIteratorType=kind,
                StartingSequenceNumber=seq,
            )["ShardIterator"]
            page = call(svc, "GetRecords", 1.0, ShardIterator=it, Limit=1)
            assert [r["SequenceNumber"] for r in page["Records"]] == want[:1]


# =========================================================================== regressions
def test_sequence_number_for_ordering_accepts_the_previous_put_s_sequence_number():
    svc = with_stream(1, enforce=False)
    # AWS's documented use: each put passes the sequence number of the one before.
    previous = put_ordered(svc, b"0", None)
    for i in range(1, 50):
        nxt = put_ordered(svc, b"%d" % i, int(previous["SequenceNumber"]))
        assert int(nxt["SequenceNumber"]) > int(previous["SequenceNumber"])
        previous = nxt


@pytest.mark.parametrize(
    "count",
    [
        100,
        5_000,  # enough for the trimmed prefix to be compacted away
    ],
)
def test_closed_shard_ending_sequence_number_is_its_last_records(count):
    svc = with_stream(1, enforce=False)
    last = None
    for start in range(0, count, 500):
        batch = [{"Data": b"x", "PartitionKey": "k"} for _ in range(min(500, count - start))]
        last = call(svc, "PutRecords", 1.0, StreamName=NAME, Records=batch)["Records"][-1]
    t = 1.0 + DAY + 1.0  # every record is past the 24-hour retention period
    iterator(svc, t)  # reading the shard trims it
    call(svc, "SplitShard", t, StreamName=NAME, ShardToSplit=SHARD_0, NewStartingHashKey="1")
    shards = call(svc, "ListShards", t + 1.0, StreamName=NAME)["Shards"]
    closed = next(s for s in shards if s["ShardId"] == SHARD_0)
    assert closed["SequenceNumberRange"]["EndingSequenceNumber"] == last["SequenceNumber"]
