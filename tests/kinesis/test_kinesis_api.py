"""Kinesis Data Streams through the boto3-shaped client: operations, validation and errors as AWS
documents them.

Everything runs on trio's virtual clock, so a 24-hour retention or a 5-minute iterator expiry
passes in microseconds. Most tests use a broker with throughput enforcement off (``kin``); the
throughput tests use the default broker (``kinesis``), where AWS's per-shard limits apply.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import trio
from kinesis_helpers import arn, aws_error

from msgsim.broker import BrokerError

HASH_MAX = 2**128 - 1
MIB = 1024 * 1024
DAY = 86_400


async def make_stream(k, name: str = "s", shards: int = 1, **kw) -> None:
    await k.create_stream(StreamName=name, ShardCount=shards, **kw)
    await trio.sleep(1)  # CREATING -> ACTIVE


async def status(k, name: str) -> str:
    return (await k.describe_stream_summary(StreamName=name))["StreamDescriptionSummary"][
        "StreamStatus"
    ]


async def shards(k, name: str, **kw) -> list[dict]:
    return (await k.list_shards(StreamName=name, **kw))["Shards"]


async def shard_ids(k, name: str, **kw) -> list[str]:
    return [s["ShardId"] for s in await shards(k, name, **kw)]


async def iterator(k, name: str, sid: str, kind: str = "TRIM_HORIZON", **kw) -> str:
    r = await k.get_shard_iterator(StreamName=name, ShardId=sid, ShardIteratorType=kind, **kw)
    return r["ShardIterator"]


async def read_all(k, name: str, sid: str, kind: str = "TRIM_HORIZON", **kw) -> list[dict]:
    """Every record from the iterator position to the tip (or a closed shard's end)."""
    it = await iterator(k, name, sid, kind, **kw)
    out: list[dict] = []
    while it:
        r = await k.get_records(ShardIterator=it)
        out += r["Records"]
        if not r["Records"]:
            break
        it = r.get("NextShardIterator")
    return out


def md5_int(key: str) -> int:
    return int.from_bytes(hashlib.md5(key.encode()).digest())


def owner(shard_list: list[dict], h: int) -> str:
    for s in shard_list:
        r = s["HashKeyRange"]
        if int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"]):
            return s["ShardId"]
    raise AssertionError(f"no shard owns {h}")


async def wall_now(broker) -> datetime:
    return datetime.fromtimestamp(broker.epoch.wall_ms(trio.current_time()) / 1000, UTC)


# ---------------------------------------------------------------------------------- CreateStream
async def test_create_stream_provisioned_has_shard_count_shards_covering_the_hash_space(kin):
    await make_stream(kin, "prov", 3)
    listed = await shards(kin, "prov")
    assert [s["ShardId"] for s in listed] == [f"shardId-{i:012d}" for i in range(3)]
    ranges = [
        (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
        for s in listed
    ]
    assert ranges[0][0] == 0 and ranges[-1][1] == HASH_MAX
    assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(2))
    summary = (await kin.describe_stream_summary(StreamName="prov"))["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 3
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert summary["RetentionPeriodHours"] == 24
    assert summary["StreamARN"] == arn("prov")


async def test_create_stream_on_demand_starts_with_four_shards(kin):
    await kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    await trio.sleep(1)
    summary = (await kin.describe_stream_summary(StreamName="od"))["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["OpenShardCount"] == 4
    assert len(await shards(kin, "od")) == 4


async def test_create_stream_with_an_existing_name_is_resource_in_use(kin):
    await kin.create_stream(StreamName="dup", ShardCount=1)
    with aws_error("ResourceInUseException"):  # still CREATING
        await kin.create_stream(StreamName="dup", ShardCount=1)
    await trio.sleep(1)
    with aws_error("ResourceInUseException"):
        await kin.create_stream(StreamName="dup", ShardCount=2)


@pytest.mark.parametrize("name", ["", "has space", "slash/no", "x" * 129, "star*"])
async def test_create_stream_with_an_invalid_name_is_a_validation_error(kin, name):
    with aws_error("ValidationException"):
        await kin.create_stream(StreamName=name, ShardCount=1)
    assert (await kin.list_streams())["StreamNames"] == []


async def test_create_stream_shard_count_below_one_is_a_validation_error(kin):
    with aws_error("ValidationException"):
        await kin.create_stream(StreamName="zero", ShardCount=0)


async def test_create_stream_over_the_account_shard_quota_is_limit_exceeded(kin):
    with aws_error("LimitExceededException"):
        await kin.create_stream(StreamName="huge", ShardCount=501)
    await make_stream(kin, "a", 300)
    with aws_error("LimitExceededException"):
        await kin.create_stream(StreamName="b", ShardCount=201)
    await kin.create_stream(StreamName="b", ShardCount=200)  # exactly at the quota


async def test_stream_is_creating_then_active_after_the_creation_delay(kin):
    await kin.create_stream(StreamName="s", ShardCount=2)
    d = (await kin.describe_stream(StreamName="s"))["StreamDescription"]
    assert d["StreamStatus"] == "CREATING"
    assert d["Shards"] == []  # AWS lists shards once the stream is ACTIVE
    summary = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 0
    await trio.sleep(0.4)
    assert await status(kin, "s") == "CREATING"
    await trio.sleep(0.2)
    assert await status(kin, "s") == "ACTIVE"
    assert len((await kin.describe_stream(StreamName="s"))["StreamDescription"]["Shards"]) == 2


async def test_put_record_on_a_creating_stream_is_resource_not_found(kin):
    await kin.create_stream(StreamName="s", ShardCount=1)
    with aws_error("ResourceNotFoundException"):
        await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    with aws_error("ResourceNotFoundException"):
        await kin.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"}])
    await trio.sleep(1)
    await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k")


# ---------------------------------------------------------------------------------- DeleteStream
async def test_delete_stream_is_deleting_then_gone_and_the_name_is_reusable(kin):
    await make_stream(kin, "s", 1)
    await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    await kin.delete_stream(StreamName="s")
    assert await status(kin, "s") == "DELETING"
    assert (await kin.list_streams())["StreamNames"] == ["s"]
    with aws_error("ResourceNotFoundException"):
        await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    with aws_error("ResourceNotFoundException"):  # already being deleted
        await kin.delete_stream(StreamName="s")
    await trio.sleep(1)
    with aws_error("ResourceNotFoundException"):
        await kin.describe_stream(StreamName="s")
    assert (await kin.list_streams())["StreamNames"] == []
    # The name is free again, and the new stream has none of the old records.
    await make_stream(kin, "s", 1)
    assert await read_all(kin, "s", "shardId-000000000000") == []


async def test_delete_unknown_stream_is_resource_not_found(kin):
    with aws_error("ResourceNotFoundException"):
        await kin.delete_stream(StreamName="nope")


async def test_delete_stream_while_creating_is_resource_in_use(kin):
    await kin.create_stream(StreamName="s", ShardCount=1)
    with aws_error("ResourceInUseException"):
        await kin.delete_stream(StreamName="s")
    await trio.sleep(1)
    await kin.delete_stream(StreamName="s")


async def test_delete_stream_with_consumers_needs_enforce_consumer_deletion(kin):
    await make_stream(kin, "s", 1)
    await kin.register_stream_consumer(StreamARN=arn("s"), ConsumerName="c")
    await trio.sleep(1)
    with aws_error("ResourceInUseException"):
        await kin.delete_stream(StreamName="s")
    assert await status(kin, "s") == "ACTIVE"
    await kin.delete_stream(StreamName="s", EnforceConsumerDeletion=True)
    assert await status(kin, "s") == "DELETING"
    await trio.sleep(1)
    with aws_error("ResourceNotFoundException"):
        await kin.describe_stream_summary(StreamName="s")


# ---------------------------------------------------------------------------------- Describe/List
async def test_describe_stream_pages_shards_with_limit_and_exclusive_start_shard_id(kin):
    await make_stream(kin, "s", 5)
    seen = []
    d = (await kin.describe_stream(StreamName="s", Limit=2))["StreamDescription"]
    assert d["HasMoreShards"] is True
    seen += [s["ShardId"] for s in d["Shards"]]
    while d["HasMoreShards"]:
        d = (await kin.describe_stream(StreamName="s", Limit=2, ExclusiveStartShardId=seen[-1]))[
            "StreamDescription"
        ]
        assert 1 <= len(d["Shards"]) <= 2
        seen += [s["ShardId"] for s in d["Shards"]]
    assert seen == [f"shardId-{i:012d}" for i in range(5)]
    full = (await kin.describe_stream(StreamName="s"))["StreamDescription"]
    assert full["HasMoreShards"] is False and len(full["Shards"]) == 5
    for shard in full["Shards"]:
        assert "StartingSequenceNumber" in shard["SequenceNumberRange"]
        assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]  # open shards
    with aws_error("ValidationException"):
        await kin.describe_stream(StreamName="s", Limit=0)


async def test_describe_stream_summary_reports_counts_and_settings(kin):
    await make_stream(kin, "s", 2, Tags={"team": "a"})
    await kin.register_stream_consumer(StreamARN=arn("s"), ConsumerName="c1")
    summary = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
    assert summary["StreamName"] == "s"
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 2
    assert summary["ConsumerCount"] == 1
    assert summary["MaxRecordSizeInKiB"] == 1024
    assert isinstance(summary["StreamCreationTimestamp"], datetime)
    with aws_error("ResourceNotFoundException"):
        await kin.describe_stream_summary(StreamName="other")


async def test_list_streams_pages_with_limit_exclusive_start_and_next_token(kin):
    for name in ["e", "c", "a", "d", "b"]:
        await kin.create_stream(StreamName=name, ShardCount=1)
    r = await kin.list_streams(Limit=2)
    assert r["StreamNames"] == ["a", "b"] and r["HasMoreStreams"] is True
    assert [s["StreamName"] for s in r["StreamSummaries"]] == ["a", "b"]
    assert r["StreamSummaries"][0]["StreamARN"] == arn("a")
    assert r["StreamSummaries"][0]["StreamStatus"] == "CREATING"
    r = await kin.list_streams(Limit=2, NextToken=r["NextToken"])
    assert r["StreamNames"] == ["c", "d"] and r["HasMoreStreams"] is True
    r = await kin.list_streams(Limit=2, NextToken=r["NextToken"])
    assert r["StreamNames"] == ["e"] and r["HasMoreStreams"] is False
    assert "NextToken" not in r
    r = await kin.list_streams(ExclusiveStartStreamName="b")
    assert r["StreamNames"] == ["c", "d", "e"]
    with aws_error("InvalidArgumentException"):
        await kin.list_streams(NextToken="not-a-token")


async def test_list_shards_pages_with_max_results_and_next_token(kin):
    await make_stream(kin, "s", 5)
    r = await kin.list_shards(StreamName="s", MaxResults=2)
    seen = [s["ShardId"] for s in r["Shards"]]
    while "NextToken" in r:
        r = await kin.list_shards(NextToken=r["NextToken"], MaxResults=2)
        seen += [s["ShardId"] for s in r["Shards"]]
    assert seen == [f"shardId-{i:012d}" for i in range(5)]
    r = await kin.list_shards(StreamName="s", ExclusiveStartShardId="shardId-000000000002")
    assert [s["ShardId"] for s in r["Shards"]] == ["shardId-000000000003", "shardId-000000000004"]


async def test_list_shards_next_token_with_stream_name_is_invalid_argument(kin):
    await make_stream(kin, "s", 3)
    token = (await kin.list_shards(StreamName="s", MaxResults=1))["NextToken"]
    with aws_error("InvalidArgumentException"):
        await kin.list_shards(StreamName="s", NextToken=token)
    with aws_error("InvalidArgumentException"):
        await kin.list_shards(NextToken="garbage")


async def test_list_shards_next_token_expires_after_300_seconds(kin):
    await make_stream(kin, "s", 3)
    token = (await kin.list_shards(StreamName="s", MaxResults=1))["NextToken"]
    await trio.sleep(299)
    assert len((await kin.list_shards(NextToken=token))["Shards"]) == 2
    await trio.sleep(2)
    with aws_error("ExpiredNextTokenException"):
        await kin.list_shards(NextToken=token)


async def _split_two_shard_stream(k, broker):
    """A 2-shard stream whose shard 0 is split in two 60 s after creation. Returns the wall
    times (a) before and (b) after the split."""
    await make_stream(k, "s", 2)
    await trio.sleep(30)
    before = await wall_now(broker)
    await trio.sleep(30)
    await k.split_shard(
        StreamName="s", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126)
    )
    await trio.sleep(30)
    after = await wall_now(broker)
    return before, after


async def test_list_shards_applies_every_shard_filter_type_after_a_split(kin, fbroker):
    before, after = await _split_two_shard_stream(kin, fbroker)
    s0, s1, s2, s3 = (f"shardId-{i:012d}" for i in range(4))

    async def listed(**flt):
        return await shard_ids(kin, "s", ShardFilter=flt)

    assert await shard_ids(kin, "s") == [s0, s1, s2, s3]
    assert await listed(Type="AFTER_SHARD_ID", ShardId=s0) == [s1, s2, s3]
    assert await listed(Type="AT_LATEST") == [s1, s2, s3]
    assert await listed(Type="AT_TRIM_HORIZON") == [s0, s1]
    assert await listed(Type="FROM_TRIM_HORIZON") == [s0, s1, s2, s3]
    assert await listed(Type="AT_TIMESTAMP", Timestamp=before) == [s0, s1]
    assert await listed(Type="AT_TIMESTAMP", Timestamp=after) == [s1, s2, s3]
    assert await listed(Type="FROM_TIMESTAMP", Timestamp=before) == [s0, s1, s2, s3]
    assert await listed(Type="FROM_TIMESTAMP", Timestamp=after) == [s1, s2, s3]
    with aws_error("InvalidArgumentException"):
        await listed(Type="AFTER_SHARD_ID")
    with aws_error("InvalidArgumentException"):
        await listed(Type="AT_TIMESTAMP")
    with aws_error("ValidationException"):
        await listed(Type="SOMEWHERE")
    # A day later the trim horizon is past the split, and the closed parent has expired.
    await trio.sleep(DAY)
    assert await listed(Type="AT_TRIM_HORIZON") == [s1, s2, s3]
    assert await shard_ids(kin, "s") == [s1, s2, s3]


async def test_list_shards_next_token_keeps_the_shard_filter_of_the_first_page(kin):
    await make_stream(kin, "s", 2)
    await kin.split_shard(
        StreamName="s", ShardToSplit="shardId-000000000001", NewStartingHashKey=str(3 * 2**126)
    )
    await trio.sleep(1)
    r = await kin.list_shards(StreamName="s", ShardFilter={"Type": "AT_LATEST"}, MaxResults=1)
    seen = [s["ShardId"] for s in r["Shards"]]
    while "NextToken" in r:
        r = await kin.list_shards(NextToken=r["NextToken"], MaxResults=1)
        seen += [s["ShardId"] for s in r["Shards"]]
    assert seen == ["shardId-000000000000", "shardId-000000000002", "shardId-000000000003"]


# ---------------------------------------------------------------------------------- StreamARN
async def test_stream_arn_is_accepted_wherever_stream_name_is(kin):
    a = arn("s")
    await make_stream(kin, "s", 2)
    assert (await kin.describe_stream(StreamARN=a))["StreamDescription"]["StreamName"] == "s"
    assert (await kin.describe_stream_summary(StreamARN=a))["StreamDescriptionSummary"]
    sids = [s["ShardId"] for s in (await kin.list_shards(StreamARN=a))["Shards"]]
    put = await kin.put_record(StreamARN=a, Data=b"one", PartitionKey="k")
    r = await kin.put_records(StreamARN=a, Records=[{"Data": b"two", "PartitionKey": "k"}])
    assert r["FailedRecordCount"] == 0
    it = (
        await kin.get_shard_iterator(
            StreamARN=a, ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
    )["ShardIterator"]
    got = await kin.get_records(ShardIterator=it, StreamARN=a)
    assert [x["Data"] for x in got["Records"]] == [b"one", b"two"]
    await kin.add_tags_to_stream(StreamARN=a, Tags={"k": "v"})
    assert (await kin.list_tags_for_stream(StreamARN=a))["Tags"] == [{"Key": "k", "Value": "v"}]
    await kin.remove_tags_from_stream(StreamARN=a, TagKeys=["k"])
    await kin.increase_stream_retention_period(StreamARN=a, RetentionPeriodHours=48)
    await kin.decrease_stream_retention_period(StreamARN=a, RetentionPeriodHours=24)
    await kin.split_shard(StreamARN=a, ShardToSplit=sids[0], NewStartingHashKey=str(2**64))
    await trio.sleep(1)
    await kin.merge_shards(
        StreamARN=a,
        ShardToMerge="shardId-000000000002",
        AdjacentShardToMerge="shardId-000000000003",
    )
    await trio.sleep(1)
    await kin.update_shard_count(StreamARN=a, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    await trio.sleep(1)
    await kin.delete_stream(StreamARN=a)
    assert await status(kin, "s") == "DELETING"


async def test_mismatched_stream_name_and_arn_is_invalid_argument(kin):
    await make_stream(kin, "a", 1)
    await make_stream(kin, "b", 1)
    with aws_error("InvalidArgumentException"):
        await kin.describe_stream_summary(StreamName="a", StreamARN=arn("b"))
    with aws_error("InvalidArgumentException"):
        await kin.put_record(StreamName="a", StreamARN=arn("b"), Data=b"x", PartitionKey="k")
    with aws_error("InvalidArgumentException"):
        await kin.delete_stream(StreamName="a", StreamARN=arn("b"))
    # Matching name and ARN are fine; neither at all is not.
    await kin.put_record(StreamName="a", StreamARN=arn("a"), Data=b"x", PartitionKey="k")
    with aws_error("InvalidArgumentException"):
        await kin.describe_stream_summary()
    with aws_error("ValidationException"):
        await kin.describe_stream_summary(StreamARN="arn:aws:sqs:us-east-1:000000000000:q")
    with aws_error("ResourceNotFoundException"):  # another account's stream
        await kin.describe_stream_summary(
            StreamARN="arn:aws:kinesis:us-east-1:123456789012:stream/a"
        )


# ---------------------------------------------------------------------------------- PutRecord(s)
async def test_put_record_routes_by_md5_of_partition_key_as_128_bit_integer(kin):
    await make_stream(kin, "s", 4)
    listed = await shards(kin, "s")
    hit = set()
    for i in range(64):
        key = f"key-{i}"
        r = await kin.put_record(StreamName="s", Data=b"x", PartitionKey=key)
        assert r["ShardId"] == owner(listed, md5_int(key))
        hit.add(r["ShardId"])
    assert len(hit) == 4
    # A non-ASCII key hashes its UTF-8 bytes.
    r = await kin.put_record(StreamName="s", Data=b"x", PartitionKey="clé-ü")
    assert r["ShardId"] == owner(listed, md5_int("clé-ü"))
    recs = await kin.put_records(
        StreamName="s", Records=[{"Data": b"x", "PartitionKey": f"b{i}"} for i in range(32)]
    )
    for i, out in enumerate(recs["Records"]):
        assert out["ShardId"] == owner(listed, md5_int(f"b{i}"))


async def test_explicit_hash_key_overrides_the_partition_key_hash(kin):
    await make_stream(kin, "s", 4)
    listed = await shards(kin, "s")
    for shard in listed:
        start = shard["HashKeyRange"]["StartingHashKey"]
        for key in ("a", "b", "c"):
            r = await kin.put_record(
                StreamName="s", Data=b"x", PartitionKey=key, ExplicitHashKey=start
            )
            assert r["ShardId"] == shard["ShardId"]
    r = await kin.put_record(
        StreamName="s", Data=b"x", PartitionKey="a", ExplicitHashKey=str(HASH_MAX)
    )
    assert r["ShardId"] == listed[-1]["ShardId"]
    out = await kin.put_records(
        StreamName="s",
        Records=[{"Data": b"x", "PartitionKey": "a", "ExplicitHashKey": "0"}] * 3,
    )
    assert {x["ShardId"] for x in out["Records"]} == {listed[0]["ShardId"]}
    with aws_error("InvalidArgumentException"):
        await kin.put_record(
            StreamName="s", Data=b"x", PartitionKey="a", ExplicitHashKey=str(HASH_MAX + 1)
        )
    with aws_error("ValidationException"):
        await kin.put_record(StreamName="s", Data=b"x", PartitionKey="a", ExplicitHashKey="-1")


async def test_sequence_numbers_are_decimal_strings_strictly_increasing_per_shard(kin):
    await make_stream(kin, "s", 3)
    by_shard = defaultdict(list)
    for i in range(60):
        r = await kin.put_record(StreamName="s", Data=b"x", PartitionKey=f"k{i % 7}")
        by_shard[r["ShardId"]].append(r["SequenceNumber"])
        if i % 10 == 0:
            await trio.sleep(0.0005)  # several puts in the same millisecond, and some not
    batch = await kin.put_records(
        StreamName="s", Records=[{"Data": b"y", "PartitionKey": f"k{i % 7}"} for i in range(40)]
    )
    for out in batch["Records"]:
        by_shard[out["ShardId"]].append(out["SequenceNumber"])
    assert len(by_shard) > 1
    for sid, seqs in by_shard.items():
        assert all(s.isdigit() for s in seqs)
        nums = [int(s) for s in seqs]
        assert all(a < b for a, b in pairwise(nums)), sid
        # GetRecords returns them in that order.
        assert [x["SequenceNumber"] for x in await read_all(kin, "s", sid)] == seqs


async def test_sequence_number_for_ordering_makes_the_new_number_greater(kin):
    await make_stream(kin, "s", 2)
    listed = await shards(kin, "s")
    low, high = (s["HashKeyRange"]["StartingHashKey"] for s in listed)
    first = await kin.put_record(StreamName="s", Data=b"1", PartitionKey="k", ExplicitHashKey=low)
    await trio.sleep(5)
    # A number from later in time (minted by the other shard).
    later = await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey=high)
    ordered = await kin.put_record(
        StreamName="s",
        Data=b"2",
        PartitionKey="k",
        ExplicitHashKey=low,
        SequenceNumberForOrdering=first["SequenceNumber"],
    )
    assert int(ordered["SequenceNumber"]) > int(first["SequenceNumber"])
    bumped = await kin.put_record(
        StreamName="s",
        Data=b"3",
        PartitionKey="k",
        ExplicitHashKey=low,
        SequenceNumberForOrdering=later["SequenceNumber"],
    )
    assert int(bumped["SequenceNumber"]) > int(later["SequenceNumber"])
    after = await kin.put_record(StreamName="s", Data=b"4", PartitionKey="k", ExplicitHashKey=low)
    assert int(after["SequenceNumber"]) > int(bumped["SequenceNumber"])
    records = await read_all(kin, "s", listed[0]["ShardId"])
    assert [r["Data"] for r in records] == [b"1", b"2", b"3", b"4"]
    # AT_SEQUENCE_NUMBER still finds each of them.
    got = await read_all(
        kin,
        "s",
        listed[0]["ShardId"],
        "AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=bumped["SequenceNumber"],
    )
    assert [r["Data"] for r in got] == [b"3", b"4"]
    with aws_error("ValidationException"):
        await kin.put_record(
            StreamName="s", Data=b"x", PartitionKey="k", SequenceNumberForOrdering="12a"
        )


async def test_sequence_number_for_ordering_never_yields_an_unusable_sequence_number(kin):
    await make_stream(kin, "s", 1)
    sid = "shardId-000000000000"
    first = await kin.put_record(StreamName="s", Data=b"1", PartitionKey="k")
    try:
        second = await kin.put_record(
            StreamName="s", Data=b"2", PartitionKey="k", SequenceNumberForOrdering="9" * 100
        )
    except BrokerError as exc:  # rejecting a number no shard could have minted is fine
        assert exc.code == "InvalidArgumentException"
        return
    # Accepted: then every number the shard hands out must work as a starting point.
    third = await kin.put_record(StreamName="s", Data=b"3", PartitionKey="k")
    for put, expected in ((first, ["1", "2", "3"]), (second, ["2", "3"]), (third, ["3"])):
        got = await read_all(
            kin, "s", sid, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=put["SequenceNumber"]
        )
        assert datas(got) == expected


async def test_approximate_arrival_timestamp_is_the_broker_clock_time(kin, fbroker):
    await make_stream(kin, "s", 1)
    await trio.sleep(41.25)
    expected = await wall_now(fbroker)
    await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k")
    await trio.sleep(3600)
    await kin.put_records(StreamName="s", Records=[{"Data": b"y", "PartitionKey": "k"}])
    records = await read_all(kin, "s", "shardId-000000000000")
    assert records[0]["ApproximateArrivalTimestamp"] == expected
    assert records[1]["ApproximateArrivalTimestamp"] == expected + timedelta(hours=1)
    # The virtual epoch starts at 2025-01-01T00:00:00Z.
    assert datetime(2025, 1, 1, tzinfo=UTC) < expected < datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    assert records[0]["PartitionKey"] == "k" and records[0]["Data"] == b"x"


async def test_record_data_plus_partition_key_over_1_mib_is_invalid_argument(kin):
    await make_stream(kin, "s", 1)
    await kin.put_record(StreamName="s", Data=b"x" * (MIB - 1), PartitionKey="k")  # exactly 1 MiB
    with aws_error("InvalidArgumentException"):
        await kin.put_record(StreamName="s", Data=b"x" * (MIB - 1), PartitionKey="kk")
    with aws_error("InvalidArgumentException"):
        await kin.put_records(StreamName="s", Records=[{"Data": b"x" * MIB, "PartitionKey": "k"}])
    assert len(await read_all(kin, "s", "shardId-000000000000")) == 1


async def test_partition_key_must_be_1_to_256_characters(kin):
    await make_stream(kin, "s", 1)
    await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k" * 256)
    await kin.put_record(StreamName="s", Data=b"x", PartitionKey="é" * 256)  # chars, not bytes
    for bad in ("", "k" * 257):
        with aws_error("ValidationException"):
            await kin.put_record(StreamName="s", Data=b"x", PartitionKey=bad)
        with aws_error("ValidationException"):
            await kin.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": bad}])
    with aws_error("ValidationException"):
        await kin.put_record(StreamName="s", Data=b"x")
    with aws_error("ValidationException"):
        await kin.put_record(StreamName="s", PartitionKey="k")


async def test_put_records_takes_1_to_500_records(kin):
    await make_stream(kin, "s", 2)
    r = await kin.put_records(
        StreamName="s", Records=[{"Data": b"x", "PartitionKey": str(i)} for i in range(500)]
    )
    assert r["FailedRecordCount"] == 0 and len(r["Records"]) == 500
    with aws_error("ValidationException"):
        await kin.put_records(
            StreamName="s", Records=[{"Data": b"x", "PartitionKey": str(i)} for i in range(501)]
        )
    with aws_error("ValidationException"):
        await kin.put_records(StreamName="s", Records=[])


async def test_put_records_over_5_mib_in_all_is_rejected_and_writes_nothing(kin):
    await make_stream(kin, "s", 1)
    full = [{"Data": b"x" * (MIB - 1), "PartitionKey": "k"}] * 5  # exactly 5 MiB
    assert (await kin.put_records(StreamName="s", Records=full))["FailedRecordCount"] == 0
    with aws_error("InvalidArgumentException"):
        await kin.put_records(StreamName="s", Records=[{"Data": b"y", "PartitionKey": "k"}, *full])
    assert len(await read_all(kin, "s", "shardId-000000000000")) == 5


async def test_one_bad_record_rejects_the_whole_put_records_request(kin):
    await make_stream(kin, "s", 2)
    good = [{"Data": b"ok", "PartitionKey": f"k{i}"} for i in range(10)]
    bad_ones = [
        ({"Data": b"x", "PartitionKey": ""}, "ValidationException"),
        ({"Data": b"x" * MIB, "PartitionKey": "k"}, "InvalidArgumentException"),
        (
            {"Data": b"x", "PartitionKey": "k", "ExplicitHashKey": str(2**128)},
            "InvalidArgumentException",
        ),
        ({"Data": b"x", "PartitionKey": "k", "Bogus": 1}, "ValidationException"),
        ({"PartitionKey": "k"}, "ValidationException"),
    ]
    for bad, code in bad_ones:
        with aws_error(code):
            await kin.put_records(StreamName="s", Records=[*good, bad, *good])
    for sid in await shard_ids(kin, "s"):
        assert await read_all(kin, "s", sid) == []


# ---------------------------------------------------------------------------------- iterators
async def _five_records_one_second_apart(k, broker):
    """Records r0..r4 on a 1-shard stream, one per second; returns (put results, wall times)."""
    await make_stream(k, "s", 1)
    puts, times = [], []
    for i in range(5):
        times.append(await wall_now(broker))
        puts.append(await k.put_record(StreamName="s", Data=f"r{i}".encode(), PartitionKey="k"))
        await trio.sleep(1)
    return puts, times


def datas(records) -> list[str]:
    return [r["Data"].decode() for r in records]


async def test_get_shard_iterator_supports_every_iterator_type(kin, fbroker):
    puts, times = await _five_records_one_second_apart(kin, fbroker)
    sid = "shardId-000000000000"
    seq2 = puts[2]["SequenceNumber"]
    assert datas(await read_all(kin, "s", sid, "TRIM_HORIZON")) == ["r0", "r1", "r2", "r3", "r4"]
    assert datas(
        await read_all(kin, "s", sid, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seq2)
    ) == ["r2", "r3", "r4"]
    assert datas(
        await read_all(kin, "s", sid, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seq2)
    ) == ["r3", "r4"]
    assert datas(await read_all(kin, "s", sid, "AT_TIMESTAMP", Timestamp=times[2])) == [
        "r2",
        "r3",
        "r4",
    ]
    # Unix seconds work as boto3 accepts them; between two arrivals means the later one.
    between = times[3].timestamp() - 0.5
    assert datas(await read_all(kin, "s", sid, "AT_TIMESTAMP", Timestamp=between)) == ["r3", "r4"]
    future = times[4] + timedelta(hours=1)
    assert await read_all(kin, "s", sid, "AT_TIMESTAMP", Timestamp=future) == []
    latest = await iterator(kin, "s", sid, "LATEST")
    r = await kin.get_records(ShardIterator=latest)
    assert r["Records"] == [] and r["MillisBehindLatest"] == 0
    await kin.put_record(StreamName="s", Data=b"r5", PartitionKey="k")
    r = await kin.get_records(ShardIterator=r["NextShardIterator"])
    assert datas(r["Records"]) == ["r5"]


async def test_get_shard_iterator_argument_errors(kin):
    await make_stream(kin, "s", 1)
    sid = "shardId-000000000000"
    with aws_error("InvalidArgumentException"):
        await iterator(kin, "s", sid, "AT_SEQUENCE_NUMBER")
    with aws_error("InvalidArgumentException"):
        await iterator(kin, "s", sid, "AT_TIMESTAMP")
    with aws_error("ValidationException"):
        await iterator(kin, "s", sid, "SOMEWHERE")
    with aws_error("ValidationException"):
        await iterator(kin, "s", sid, "AT_SEQUENCE_NUMBER", StartingSequenceNumber="abc")
    with aws_error("InvalidArgumentException"):
        await iterator(kin, "s", sid, "AT_SEQUENCE_NUMBER", StartingSequenceNumber="12345")
    with aws_error("ResourceNotFoundException"):
        await iterator(kin, "s", "shardId-000000000009")
    with aws_error("ResourceNotFoundException"):
        await iterator(kin, "nope", sid)


async def test_sequence_number_from_another_shard_is_invalid_argument(kin):
    await make_stream(kin, "s", 2)
    listed = await shards(kin, "s")
    r = await kin.put_record(
        StreamName="s",
        Data=b"x",
        PartitionKey="k",
        ExplicitHashKey=listed[1]["HashKeyRange"]["StartingHashKey"],
    )
    assert r["ShardId"] == "shardId-000000000001"
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        with aws_error("InvalidArgumentException"):
            await iterator(
                kin, "s", "shardId-000000000000", kind, StartingSequenceNumber=r["SequenceNumber"]
            )


async def test_shard_iterator_expires_after_5_minutes_but_a_later_next_iterator_is_fresh(kin):
    await make_stream(kin, "s", 1)
    await kin.put_record(StreamName="s", Data=b"a", PartitionKey="k")
    it = await iterator(kin, "s", "shardId-000000000000")
    await trio.sleep(299)
    r = await kin.get_records(ShardIterator=it, Limit=1)
    assert datas(r["Records"]) == ["a"]
    fresh = r["NextShardIterator"]
    await trio.sleep(2)  # it is now 301 s old; fresh is 2 s old
    with aws_error("ExpiredIteratorException"):
        await kin.get_records(ShardIterator=it)
    await kin.put_record(StreamName="s", Data=b"b", PartitionKey="k")
    assert datas((await kin.get_records(ShardIterator=fresh))["Records"]) == ["b"]
    # An unused iterator expires the same way.
    unused = await iterator(kin, "s", "shardId-000000000000", "LATEST")
    await trio.sleep(301)
    with aws_error("ExpiredIteratorException"):
        await kin.get_records(ShardIterator=unused)


async def test_garbage_shard_iterator_is_invalid_argument(kin):
    await make_stream(kin, "s", 1)
    good = await iterator(kin, "s", "shardId-000000000000")
    forged = good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB")
    for bad in ("garbage", "AAAA", forged):
        with aws_error("InvalidArgumentException"):
            await kin.get_records(ShardIterator=bad)
    with aws_error("ValidationException"):
        await kin.get_records(ShardIterator="x" * 513)


async def test_iterator_of_a_deleted_stream_is_resource_not_found(kin):
    await make_stream(kin, "s", 1)
    it = await iterator(kin, "s", "shardId-000000000000")
    await kin.delete_stream(StreamName="s")
    await trio.sleep(1)
    await make_stream(kin, "s", 1)  # same name, new stream: the old iterator is still dead
    with aws_error("ResourceNotFoundException"):
        await kin.get_records(ShardIterator=it)


async def test_get_records_limit_caps_records_per_call(kin):
    await make_stream(kin, "s", 1)
    await kin.put_records(
        StreamName="s", Records=[{"Data": str(i).encode(), "PartitionKey": "k"} for i in range(10)]
    )
    it = await iterator(kin, "s", "shardId-000000000000")
    pages = []
    while True:
        r = await kin.get_records(ShardIterator=it, Limit=3)
        if not r["Records"]:
            break
        pages.append(datas(r["Records"]))
        it = r["NextShardIterator"]
    assert pages == [["0", "1", "2"], ["3", "4", "5"], ["6", "7", "8"], ["9"]]
    for bad in (0, 10_001):
        with aws_error("ValidationException"):
            await kin.get_records(ShardIterator=it, Limit=bad)
    assert len((await kin.get_records(ShardIterator=it, Limit=10_000))["Records"]) == 0


async def test_millis_behind_latest_is_positive_when_behind_and_zero_when_caught_up(kin):
    await make_stream(kin, "s", 1)
    it = await iterator(kin, "s", "shardId-000000000000")
    for i in range(3):
        await kin.put_record(StreamName="s", Data=str(i).encode(), PartitionKey="k")
    await trio.sleep(10)
    r = await kin.get_records(ShardIterator=it, Limit=1)
    assert r["MillisBehindLatest"] > 0
    assert 9_000 <= r["MillisBehindLatest"] <= 10_000
    r = await kin.get_records(ShardIterator=r["NextShardIterator"])
    assert len(r["Records"]) == 2 and r["MillisBehindLatest"] == 0
    r = await kin.get_records(ShardIterator=r["NextShardIterator"])
    assert r["Records"] == [] and r["MillisBehindLatest"] == 0


# ---------------------------------------------------------------------------------- retention
async def test_records_are_trimmed_after_24_hours(kin):
    await make_stream(kin, "s", 1)
    sid = "shardId-000000000000"
    await kin.put_record(StreamName="s", Data=b"old", PartitionKey="k")
    await trio.sleep(12 * 3600)
    await kin.put_record(StreamName="s", Data=b"new", PartitionKey="k")
    await trio.sleep(12 * 3600 - 100)
    it = await iterator(kin, "s", sid)  # at TRIM_HORIZON while "old" is still there
    await trio.sleep(99)
    assert datas(await read_all(kin, "s", sid)) == ["old", "new"]
    await trio.sleep(2)  # "old" is now just over 24 h old
    assert datas(await read_all(kin, "s", sid)) == ["new"]
    # A still-valid iterator that pointed at a trimmed record reads from the trim horizon.
    assert datas((await kin.get_records(ShardIterator=it))["Records"]) == ["new"]
    await trio.sleep(12 * 3600)
    assert await read_all(kin, "s", sid) == []


async def test_increase_retention_keeps_records_longer_but_does_not_revive_trimmed_ones(kin):
    await make_stream(kin, "s", 1)
    sid = "shardId-000000000000"
    await kin.put_record(StreamName="s", Data=b"a", PartitionKey="k")
    await trio.sleep(23 * 3600)
    await kin.put_record(StreamName="s", Data=b"b", PartitionKey="k")
    await trio.sleep(2 * 3600)  # a is 25 h old: past the 24 h retention
    await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=48)
    summary = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 48
    assert datas(await read_all(kin, "s", sid)) == ["b"]
    await trio.sleep(44 * 3600)  # b is 46 h old: inside 48 h
    assert datas(await read_all(kin, "s", sid)) == ["b"]
    await trio.sleep(3 * 3600)  # b is 49 h old
    assert await read_all(kin, "s", sid) == []


async def test_decrease_retention_trims_older_records_at_once(kin):
    await make_stream(kin, "s", 1)
    sid = "shardId-000000000000"
    await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=72)
    await kin.put_record(StreamName="s", Data=b"a", PartitionKey="k")
    await trio.sleep(30 * 3600)
    await kin.put_record(StreamName="s", Data=b"b", PartitionKey="k")
    assert datas(await read_all(kin, "s", sid)) == ["a", "b"]
    await kin.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=24)
    assert datas(await read_all(kin, "s", sid)) == ["b"]


async def test_retention_period_range_and_direction_errors(kin):
    await make_stream(kin, "s", 1)
    with aws_error("InvalidArgumentException"):  # below the 24 h minimum
        await kin.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=23)
    with aws_error("InvalidArgumentException"):
        await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=12)
    with aws_error("ValidationException"):  # above 8,760 h (365 days)
        await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=8_761)
    with aws_error("ValidationException"):
        await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=0)
    await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=8_760)
    with aws_error("InvalidArgumentException"):  # Increase must not shorten
        await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=100)
    await kin.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=100)
    with aws_error("InvalidArgumentException"):  # Decrease must not lengthen
        await kin.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=200)
    summary = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 100


# ---------------------------------------------------------------------------------- resharding
async def test_split_shard_updating_then_active_with_writes_during_updating_on_the_parent(kin):
    await make_stream(kin, "s", 1)
    parent = "shardId-000000000000"
    before = [
        await kin.put_record(StreamName="s", Data=f"b{i}".encode(), PartitionKey=f"k{i}")
        for i in range(3)
    ]
    await kin.split_shard(StreamName="s", ShardToSplit=parent, NewStartingHashKey=str(2**127))
    assert await status(kin, "s") == "UPDATING"
    assert await shard_ids(kin, "s") == [parent]  # children appear when it is ACTIVE again
    during = await kin.put_record(StreamName="s", Data=b"during", PartitionKey="k9")
    assert during["ShardId"] == parent
    batch = await kin.put_records(
        StreamName="s", Records=[{"Data": b"during", "PartitionKey": f"d{i}"} for i in range(5)]
    )
    assert {r["ShardId"] for r in batch["Records"]} == {parent}
    await trio.sleep(1)
    assert await status(kin, "s") == "ACTIVE"
    p, left, right = await shards(kin, "s")
    last_parent_seq = batch["Records"][-1]["SequenceNumber"]
    ending = p["SequenceNumberRange"]["EndingSequenceNumber"]
    assert int(ending) >= int(last_parent_seq)
    assert all(int(r["SequenceNumber"]) <= int(ending) for r in before)
    for child in (left, right):
        assert child["ParentShardId"] == parent
        assert "AdjacentParentShardId" not in child
        assert "EndingSequenceNumber" not in child["SequenceNumberRange"]
    assert left["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(2**127 - 1)}
    assert right["HashKeyRange"] == {"StartingHashKey": str(2**127), "EndingHashKey": str(HASH_MAX)}
    # New writes go to the children, with numbers greater than the parent's.
    after = await kin.put_record(StreamName="s", Data=b"after", PartitionKey="k9")
    assert after["ShardId"] == owner([left, right], md5_int("k9"))
    assert int(after["SequenceNumber"]) > int(ending)
    summary = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2


async def test_reading_a_closed_parent_to_its_end_returns_child_shards_and_no_next_iterator(kin):
    await make_stream(kin, "s", 1)
    parent = "shardId-000000000000"
    for i in range(4):
        await kin.put_record(StreamName="s", Data=str(i).encode(), PartitionKey="k")
    await kin.split_shard(StreamName="s", ShardToSplit=parent, NewStartingHashKey=str(2**127))
    await trio.sleep(1)
    it = await iterator(kin, "s", parent)
    r = await kin.get_records(ShardIterator=it, Limit=2)
    assert datas(r["Records"]) == ["0", "1"] and "NextShardIterator" in r
    r = await kin.get_records(ShardIterator=r["NextShardIterator"])
    assert datas(r["Records"]) == ["2", "3"]
    if r.get("NextShardIterator"):  # a last, empty read is allowed too
        r = await kin.get_records(ShardIterator=r["NextShardIterator"])
        assert r["Records"] == []
    assert r.get("NextShardIterator") is None
    children = r["ChildShards"]
    assert [c["ShardId"] for c in children] == ["shardId-000000000001", "shardId-000000000002"]
    for c in children:
        assert c["ParentShards"] == [parent]
        assert set(c["HashKeyRange"]) == {"StartingHashKey", "EndingHashKey"}
    # LATEST on a closed shard is already at its end.
    r = await kin.get_records(ShardIterator=await iterator(kin, "s", parent, "LATEST"))
    assert r["Records"] == [] and r.get("NextShardIterator") is None and r["ChildShards"]


async def test_merge_shards_child_names_both_parents_and_owns_their_union(kin):
    await make_stream(kin, "s", 3)
    a, b = "shardId-000000000001", "shardId-000000000002"
    listed = await shards(kin, "s")
    await kin.put_record(StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey=str(HASH_MAX))
    await kin.merge_shards(StreamName="s", ShardToMerge=a, AdjacentShardToMerge=b)
    assert await status(kin, "s") == "UPDATING"
    await trio.sleep(1)
    after = {s["ShardId"]: s for s in await shards(kin, "s")}
    child = after["shardId-000000000003"]
    assert child["ParentShardId"] == a and child["AdjacentParentShardId"] == b
    assert child["HashKeyRange"] == {
        "StartingHashKey": listed[1]["HashKeyRange"]["StartingHashKey"],
        "EndingHashKey": str(HASH_MAX),
    }
    for sid in (a, b):
        assert "EndingSequenceNumber" in after[sid]["SequenceNumberRange"]
    r = await kin.get_records(ShardIterator=await iterator(kin, "s", b))
    assert datas(r["Records"]) == ["x"]
    assert r.get("NextShardIterator") is None
    assert r["ChildShards"] == [
        {
            "ShardId": "shardId-000000000003",
            "ParentShards": [a, b],
            "HashKeyRange": child["HashKeyRange"],
        }
    ]
    assert (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"][
        "OpenShardCount"
    ] == 2


async def read_lineage(k, name: str) -> list[dict]:
    """Read a stream the way a KCL-style consumer does: start at the shards with no parent (at
    TRIM_HORIZON), read each to its end, and start a child once all its parents are finished."""
    listed = await shards(k, name, ShardFilter={"Type": "AT_TRIM_HORIZON"})
    ready = [s["ShardId"] for s in listed]
    parents_of: dict[str, list[str]] = {}
    done: set[str] = set()
    started: set[str] = set(ready)
    out: list[dict] = []
    while ready:
        sid = ready.pop(0)
        it = await iterator(k, name, sid)
        while it:
            r = await k.get_records(ShardIterator=it)
            out += r["Records"]
            for child in r.get("ChildShards", []):
                parents_of[child["ShardId"]] = child["ParentShards"]
            it = r.get("NextShardIterator")
            if it and not r["Records"] and r["MillisBehindLatest"] == 0:
                break  # caught up on an open shard
        done.add(sid)
        for child, parents in parents_of.items():
            if child not in started and all(p in done for p in parents):
                started.add(child)
                ready.append(child)
    return out


async def test_a_reader_following_lineage_sees_every_record_once_in_per_key_order(kin):
    await make_stream(kin, "s", 2)
    keys = [f"key-{i}" for i in range(24)]
    counter = defaultdict(int)

    async def put_round(n=2):
        for _ in range(n):
            await kin.put_records(
                StreamName="s",
                Records=[
                    {"Data": f"{k}:{counter[k] + j}".encode(), "PartitionKey": k}
                    for j in range(2)
                    for k in keys
                ],
            )
            for k in keys:
                counter[k] += 2
            await trio.sleep(0.1)

    await put_round()
    await kin.split_shard(
        StreamName="s", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126)
    )
    await put_round()  # during UPDATING
    await trio.sleep(1)
    await put_round()
    await kin.merge_shards(
        StreamName="s",
        ShardToMerge="shardId-000000000003",
        AdjacentShardToMerge="shardId-000000000001",
    )
    await put_round()
    await trio.sleep(1)
    await put_round()
    r = await kin.update_shard_count(
        StreamName="s", TargetShardCount=3, ScalingType="UNIFORM_SCALING"
    )
    assert r["CurrentShardCount"] == 2 and r["TargetShardCount"] == 3
    await put_round()
    await trio.sleep(1)
    await put_round()
    assert (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"][
        "OpenShardCount"
    ] == 3

    records = await read_lineage(kin, "s")
    seen = defaultdict(list)
    for rec in records:
        key, n = rec["Data"].decode().split(":")
        assert rec["PartitionKey"] == key
        seen[key].append(int(n))
    assert set(seen) == set(keys)
    for k in keys:
        assert seen[k] == list(range(counter[k])), k  # all of them, once, in order


async def test_invalid_split_key_and_non_adjacent_merge_are_invalid_argument(kin):
    await make_stream(kin, "s", 3)
    listed = await shards(kin, "s")
    s1 = listed[1]
    start = int(s1["HashKeyRange"]["StartingHashKey"])
    end = int(s1["HashKeyRange"]["EndingHashKey"])
    for key in (start, end + 1, 0):
        with aws_error("InvalidArgumentException"):
            await kin.split_shard(
                StreamName="s", ShardToSplit=s1["ShardId"], NewStartingHashKey=str(key)
            )
    with aws_error("ValidationException"):
        await kin.split_shard(StreamName="s", ShardToSplit=s1["ShardId"], NewStartingHashKey="x1")
    with aws_error("ResourceNotFoundException"):
        await kin.split_shard(
            StreamName="s", ShardToSplit="shardId-000000000077", NewStartingHashKey=str(start + 5)
        )
    with aws_error("InvalidArgumentException"):
        await kin.merge_shards(
            StreamName="s",
            ShardToMerge="shardId-000000000000",
            AdjacentShardToMerge="shardId-000000000002",
        )
    assert await status(kin, "s") == "ACTIVE"  # nothing started
    # A closed shard can be neither split nor merged.
    await kin.split_shard(StreamName="s", ShardToSplit=s1["ShardId"], NewStartingHashKey=str(end))
    await trio.sleep(1)
    with aws_error("InvalidArgumentException"):
        await kin.split_shard(
            StreamName="s", ShardToSplit=s1["ShardId"], NewStartingHashKey=str(end)
        )
    with aws_error("InvalidArgumentException"):
        await kin.merge_shards(
            StreamName="s", ShardToMerge="shardId-000000000000", AdjacentShardToMerge=s1["ShardId"]
        )


async def test_resharding_while_updating_is_resource_in_use(kin):
    await make_stream(kin, "s", 2)
    await kin.split_shard(
        StreamName="s", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**126)
    )
    with aws_error("ResourceInUseException"):
        await kin.split_shard(
            StreamName="s", ShardToSplit="shardId-000000000001", NewStartingHashKey=str(3 * 2**126)
        )
    with aws_error("ResourceInUseException"):
        await kin.merge_shards(
            StreamName="s",
            ShardToMerge="shardId-000000000000",
            AdjacentShardToMerge="shardId-000000000001",
        )
    with aws_error("ResourceInUseException"):
        await kin.update_shard_count(
            StreamName="s", TargetShardCount=3, ScalingType="UNIFORM_SCALING"
        )
    with aws_error("ResourceInUseException"):
        await kin.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=48)
    await trio.sleep(1)
    await kin.update_shard_count(StreamName="s", TargetShardCount=4, ScalingType="UNIFORM_SCALING")


async def test_update_shard_count_limits_double_half_and_ten_per_day(kin):
    await make_stream(kin, "s", 2)
    with aws_error("LimitExceededException"):
        await kin.update_shard_count(
            StreamName="s", TargetShardCount=5, ScalingType="UNIFORM_SCALING"
        )
    await kin.update_shard_count(StreamName="s", TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    await trio.sleep(1)
    with aws_error("LimitExceededException"):
        await kin.update_shard_count(
            StreamName="s", TargetShardCount=1, ScalingType="UNIFORM_SCALING"
        )
    with aws_error("ValidationException"):
        await kin.update_shard_count(StreamName="s", TargetShardCount=3, ScalingType="OTHER")
    with aws_error("ValidationException"):
        await kin.update_shard_count(
            StreamName="s", TargetShardCount=0, ScalingType="UNIFORM_SCALING"
        )
    # Nine more (ten in all) in the same 24 hours work; the eleventh does not.
    for target in [2, 3, 2, 3, 2, 3, 2, 3, 2]:
        await kin.update_shard_count(
            StreamName="s", TargetShardCount=target, ScalingType="UNIFORM_SCALING"
        )
        await trio.sleep(1)
        summary = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
        assert summary["OpenShardCount"] == target
    with aws_error("LimitExceededException"):
        await kin.update_shard_count(
            StreamName="s", TargetShardCount=3, ScalingType="UNIFORM_SCALING"
        )
    await trio.sleep(DAY)
    await kin.update_shard_count(StreamName="s", TargetShardCount=3, ScalingType="UNIFORM_SCALING")


async def test_resharding_an_on_demand_stream_is_a_validation_error(kin):
    await kin.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    await trio.sleep(1)
    with aws_error("ValidationException"):
        await kin.update_shard_count(
            StreamName="od", TargetShardCount=8, ScalingType="UNIFORM_SCALING"
        )
    with aws_error("ValidationException"):
        await kin.split_shard(
            StreamName="od", ShardToSplit="shardId-000000000000", NewStartingHashKey="5"
        )
    with aws_error("ValidationException"):
        await kin.merge_shards(
            StreamName="od",
            ShardToMerge="shardId-000000000000",
            AdjacentShardToMerge="shardId-000000000001",
        )


async def test_update_stream_mode_switches_capacity_mode_twice_a_day(kin):
    await make_stream(kin, "s", 2)
    await kin.update_stream_mode(StreamARN=arn("s"), StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert await status(kin, "s") == "UPDATING"
    await trio.sleep(1)
    summary = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    with aws_error("ValidationException"):
        await kin.update_shard_count(
            StreamName="s", TargetShardCount=3, ScalingType="UNIFORM_SCALING"
        )
    await kin.update_stream_mode(
        StreamARN=arn("s"), StreamModeDetails={"StreamMode": "PROVISIONED"}
    )
    await trio.sleep(1)
    await kin.update_shard_count(StreamName="s", TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    await trio.sleep(1)
    with aws_error("LimitExceededException"):
        await kin.update_stream_mode(
            StreamARN=arn("s"), StreamModeDetails={"StreamMode": "ON_DEMAND"}
        )
    with aws_error("ValidationException"):  # StreamARN is required
        await kin.update_stream_mode(StreamModeDetails={"StreamMode": "ON_DEMAND"})
    with aws_error("ValidationException"):
        await kin.update_stream_mode(StreamARN=arn("s"), StreamModeDetails={"StreamMode": "FAST"})
    await trio.sleep(DAY)
    await kin.update_stream_mode(StreamARN=arn("s"), StreamModeDetails={"StreamMode": "ON_DEMAND"})


# ---------------------------------------------------------------------------------- throughput
async def test_put_record_beyond_1000_records_per_second_on_a_shard_is_throttled(kinesis):
    await make_stream(kinesis, "s", 1)
    for i in range(1000):
        await kinesis.put_record(StreamName="s", Data=b"x", PartitionKey=str(i))
    with aws_error("ProvisionedThroughputExceededException"):
        await kinesis.put_record(StreamName="s", Data=b"x", PartitionKey="one-too-many")
    await trio.sleep(1)
    await kinesis.put_record(StreamName="s", Data=b"x", PartitionKey="a-second-later")


async def test_put_records_reports_throttling_per_record(kinesis):
    await make_stream(kinesis, "s", 2)
    left, right = (s["HashKeyRange"]["StartingHashKey"] for s in await shards(kinesis, "s"))
    hot = [{"Data": b"x", "PartitionKey": "k", "ExplicitHashKey": left}] * 500
    for _ in range(2):
        assert (await kinesis.put_records(StreamName="s", Records=hot))["FailedRecordCount"] == 0
    mixed = [
        {"Data": b"x", "PartitionKey": "k", "ExplicitHashKey": left},
        {"Data": b"x", "PartitionKey": "k", "ExplicitHashKey": right},
    ]
    r = await kinesis.put_records(StreamName="s", Records=mixed)
    assert r["FailedRecordCount"] == 1
    assert r["Records"][0]["ErrorCode"] == "ProvisionedThroughputExceededException"
    assert "SequenceNumber" not in r["Records"][0]
    assert r["Records"][1]["ShardId"] == "shardId-000000000001"
    await trio.sleep(1)
    assert (await kinesis.put_records(StreamName="s", Records=mixed))["FailedRecordCount"] == 0


async def test_put_beyond_1_mib_per_second_on_a_shard_is_throttled(kinesis):
    await make_stream(kinesis, "s", 1)
    await kinesis.put_record(StreamName="s", Data=b"x" * (MIB // 2), PartitionKey="k")
    await kinesis.put_record(StreamName="s", Data=b"x" * (MIB // 2 - 10), PartitionKey="k")
    with aws_error("ProvisionedThroughputExceededException"):
        await kinesis.put_record(StreamName="s", Data=b"x" * 100, PartitionKey="k")
    await trio.sleep(1)
    await kinesis.put_record(StreamName="s", Data=b"x" * 100, PartitionKey="k")


async def test_get_records_beyond_5_calls_per_second_on_a_shard_is_throttled(kinesis):
    await make_stream(kinesis, "s", 1)
    it = await iterator(kinesis, "s", "shardId-000000000000")
    for _ in range(5):
        it = (await kinesis.get_records(ShardIterator=it))["NextShardIterator"]
    with aws_error("ProvisionedThroughputExceededException"):
        await kinesis.get_records(ShardIterator=it)
    await trio.sleep(1)
    await kinesis.get_records(ShardIterator=it)


async def test_throughput_limits_can_be_switched_off(kin):
    await make_stream(kin, "s", 1)
    for _ in range(3):
        r = await kin.put_records(
            StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"}] * 500
        )
        assert r["FailedRecordCount"] == 0
    it = await iterator(kin, "s", "shardId-000000000000")
    for _ in range(10):
        it = (await kin.get_records(ShardIterator=it))["NextShardIterator"]


# ---------------------------------------------------------------------------------- tags
async def test_tags_add_list_remove_with_per_call_and_per_stream_limits(kin):
    await make_stream(kin, "s", 1, Tags={"created": "yes"})
    assert (await kin.list_tags_for_stream(StreamName="s"))["Tags"] == [
        {"Key": "created", "Value": "yes"}
    ]
    with aws_error("ValidationException"):  # at most 10 per call
        await kin.add_tags_to_stream(StreamName="s", Tags={f"t{i:02}": "v" for i in range(11)})
    for base in range(0, 40, 10):
        await kin.add_tags_to_stream(
            StreamName="s", Tags={f"t{i:02}": str(i) for i in range(base, base + 10)}
        )
    await kin.add_tags_to_stream(StreamName="s", Tags={f"t{i:02}": str(i) for i in range(40, 49)})
    # 50 now; overwriting an existing key is fine, a 51st key is not.
    await kin.add_tags_to_stream(StreamName="s", Tags={"t00": "changed"})
    with aws_error("LimitExceededException"):
        await kin.add_tags_to_stream(StreamName="s", Tags={"one-more": "v"})

    keys, after = [], None
    while True:
        kw = {"ExclusiveStartTagKey": after} if after else {}
        r = await kin.list_tags_for_stream(StreamName="s", Limit=20, **kw)
        keys += [t["Key"] for t in r["Tags"]]
        if not r["HasMoreTags"]:
            break
        after = keys[-1]
    assert keys == sorted(["created"] + [f"t{i:02}" for i in range(49)])
    assert {"Key": "t00", "Value": "changed"} in (await kin.list_tags_for_stream(StreamName="s"))[
        "Tags"
    ]

    with aws_error("ValidationException"):  # at most 10 keys per call
        await kin.remove_tags_from_stream(StreamName="s", TagKeys=[f"t{i:02}" for i in range(11)])
    await kin.remove_tags_from_stream(StreamName="s", TagKeys=[f"t{i:02}" for i in range(10)])
    await kin.remove_tags_from_stream(StreamName="s", TagKeys=["no-such-key"])
    r = await kin.list_tags_for_stream(StreamName="s")
    assert len(r["Tags"]) == 40 and r["HasMoreTags"] is False
    await kin.add_tags_to_stream(StreamName="s", Tags={"room": "again"})
    with aws_error("InvalidArgumentException"):
        await kin.add_tags_to_stream(StreamName="s", Tags={"aws:reserved": "x"})
    with aws_error("ValidationException"):
        await kin.list_tags_for_stream(StreamName="s", Limit=51)
    with aws_error("ResourceNotFoundException"):
        await kin.list_tags_for_stream(StreamName="nope")
