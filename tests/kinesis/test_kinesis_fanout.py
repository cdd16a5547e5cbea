"""Kinesis enhanced fan-out through the boto3-shaped client: RegisterStreamConsumer and friends,
and SubscribeToShard's push-style ``EventStream`` as AWS documents it.

Subscriptions are exercised the way applications use them: a trio nursery runs a writer task
while the test iterates the event stream. Everything runs on trio's virtual clock, so a
subscription's 5 minutes pass in microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trio
from kinesis_helpers import arn, aws_error

from msgsim.broker import BrokerError

SHARD0 = "shardId-000000000000"
MIB = 1024 * 1024


async def make_stream(k, name: str = "s", shards: int = 1) -> str:
    await k.create_stream(StreamName=name, ShardCount=shards)
    await trio.sleep(1)
    return arn(name)


async def register(k, stream_arn: str, name: str = "c") -> str:
    """Register a consumer and wait until it is ACTIVE; returns its ARN."""
    r = await k.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)
    await trio.sleep(1)
    return r["Consumer"]["ConsumerARN"]


async def subscribe(k, consumer_arn: str, shard_id: str = SHARD0, kind="LATEST", **start):
    r = await k.subscribe_to_shard(
        ConsumerARN=consumer_arn, ShardId=shard_id, StartingPosition={"Type": kind, **start}
    )
    return r["EventStream"]


async def consumer_status(k, consumer_arn: str) -> str:
    r = await k.describe_stream_consumer(ConsumerARN=consumer_arn)
    return r["ConsumerDescription"]["ConsumerStatus"]


def datas(records) -> list[str]:
    return [r["Data"].decode() for r in records]


async def first_records(events, n: int) -> list[dict]:
    """Records from the event stream until ``n`` have arrived."""
    got: list[dict] = []
    async for event in events:
        got += event["SubscribeToShardEvent"]["Records"]
        if len(got) >= n:
            break
    return got


async def put(k, data: str, key: str = "k", name: str = "s") -> dict:
    return await k.put_record(StreamName=name, Data=data.encode(), PartitionKey=key)


# ---------------------------------------------------------------------------------- consumers
async def test_register_stream_consumer_is_creating_then_active(kin):
    s = await make_stream(kin)
    r = await kin.register_stream_consumer(StreamARN=s, ConsumerName="app")
    c = r["Consumer"]
    assert c["ConsumerName"] == "app"
    assert c["ConsumerStatus"] == "CREATING"
    assert c["ConsumerARN"].startswith(f"{s}/consumer/app:")
    assert isinstance(c["ConsumerCreationTimestamp"], datetime)
    assert await consumer_status(kin, c["ConsumerARN"]) == "CREATING"
    await trio.sleep(1)
    assert await consumer_status(kin, c["ConsumerARN"]) == "ACTIVE"
    with aws_error("ResourceInUseException"):
        await kin.register_stream_consumer(StreamARN=s, ConsumerName="app")
    with aws_error("ResourceNotFoundException"):
        await kin.register_stream_consumer(StreamARN=arn("nope"), ConsumerName="app")
    with aws_error("ValidationException"):
        await kin.register_stream_consumer(StreamARN=s, ConsumerName="bad name")
    with aws_error("ValidationException"):
        await kin.register_stream_consumer(ConsumerName="app")


async def test_describe_stream_consumer_by_arn_or_by_stream_arn_and_name(kin):
    s = await make_stream(kin)
    c = await register(kin, s, "app")
    by_arn = (await kin.describe_stream_consumer(ConsumerARN=c))["ConsumerDescription"]
    by_name = (await kin.describe_stream_consumer(StreamARN=s, ConsumerName="app"))[
        "ConsumerDescription"
    ]
    assert by_arn == by_name
    assert by_arn["ConsumerARN"] == c
    assert by_arn["StreamARN"] == s
    assert by_arn["ConsumerStatus"] == "ACTIVE"
    with aws_error("InvalidArgumentException"):  # a name needs its stream
        await kin.describe_stream_consumer(ConsumerName="app")
    with aws_error("ResourceNotFoundException"):
        await kin.describe_stream_consumer(StreamARN=s, ConsumerName="other")
    with aws_error("ResourceNotFoundException"):
        await kin.describe_stream_consumer(ConsumerARN=f"{s}/consumer/app:1")
    with aws_error("ValidationException"):
        await kin.describe_stream_consumer(ConsumerARN="not-an-arn")


async def test_at_most_20_consumers_per_stream_listed_with_pagination(kin):
    s = await make_stream(kin)
    names = [f"c{i:02}" for i in range(20)]
    for batch in range(0, 20, 5):  # at most 5 CREATING at a time
        for name in names[batch : batch + 5]:
            await kin.register_stream_consumer(StreamARN=s, ConsumerName=name)
        await trio.sleep(1)
    with aws_error("LimitExceededException"):
        await kin.register_stream_consumer(StreamARN=s, ConsumerName="c20")
    summary = (await kin.describe_stream_summary(StreamARN=s))["StreamDescriptionSummary"]
    assert summary["ConsumerCount"] == 20

    r = await kin.list_stream_consumers(StreamARN=s, MaxResults=7)
    listed = r["Consumers"]
    while "NextToken" in r:
        r = await kin.list_stream_consumers(StreamARN=s, MaxResults=7, NextToken=r["NextToken"])
        listed += r["Consumers"]
    assert sorted(c["ConsumerName"] for c in listed) == names
    assert len({c["ConsumerARN"] for c in listed}) == 20
    assert {c["ConsumerStatus"] for c in listed} == {"ACTIVE"}
    # Another stream has its own 20.
    other = await make_stream(kin, "other")
    await register(kin, other, "c00")
    assert len((await kin.list_stream_consumers(StreamARN=other))["Consumers"]) == 1


async def test_a_sixth_consumer_while_five_are_creating_is_limit_exceeded(kin):
    s = await make_stream(kin)
    for i in range(5):
        await kin.register_stream_consumer(StreamARN=s, ConsumerName=f"c{i}")
    with aws_error("LimitExceededException"):
        await kin.register_stream_consumer(StreamARN=s, ConsumerName="c5")
    await trio.sleep(1)
    await kin.register_stream_consumer(StreamARN=s, ConsumerName="c5")


async def test_deregister_stream_consumer_is_deleting_then_gone(kin):
    s = await make_stream(kin)
    first = await register(kin, s, "a")
    await register(kin, s, "b")
    await kin.deregister_stream_consumer(ConsumerARN=first)
    assert await consumer_status(kin, first) == "DELETING"
    with aws_error("ResourceInUseException"):
        await kin.deregister_stream_consumer(ConsumerARN=first)
    await kin.deregister_stream_consumer(StreamARN=s, ConsumerName="b")
    await trio.sleep(1)
    with aws_error("ResourceNotFoundException"):
        await kin.describe_stream_consumer(ConsumerARN=first)
    assert (await kin.list_stream_consumers(StreamARN=s))["Consumers"] == []
    with aws_error("ResourceNotFoundException"):
        await kin.deregister_stream_consumer(StreamARN=s, ConsumerName="a")
    # The name can be registered again; the new consumer has a new ARN.
    again = await register(kin, s, "a")
    assert again != first
    with aws_error("ResourceNotFoundException"):
        await kin.describe_stream_consumer(ConsumerARN=first)


# ---------------------------------------------------------------------------------- subscribe
async def test_records_put_after_subscribing_are_pushed_as_they_arrive(kin, fbroker):
    s = await make_stream(kin)
    c = await register(kin, s)
    events = await subscribe(kin, c, kind="LATEST")
    put_at: dict[str, float] = {}

    async def writer():
        for i in range(5):
            await trio.sleep(2)
            put_at[f"r{i}"] = trio.current_time()
            await put(kin, f"r{i}")

    got: list[dict] = []
    async with trio.open_nursery() as nursery, events:
        nursery.start_soon(writer)
        async for event in events:
            e = event["SubscribeToShardEvent"]
            assert set(e) >= {"Records", "ContinuationSequenceNumber", "MillisBehindLatest"}
            for rec in e["Records"]:
                assert trio.current_time() == put_at[rec["Data"].decode()]  # pushed at once
            got += e["Records"]
            if e["Records"]:
                assert e["ContinuationSequenceNumber"] == e["Records"][-1]["SequenceNumber"]
                assert e["MillisBehindLatest"] == 0
            if len(got) == 5:
                break
    assert datas(got) == ["r0", "r1", "r2", "r3", "r4"]
    stamp = got[0]["ApproximateArrivalTimestamp"]
    assert stamp == datetime.fromtimestamp(fbroker.epoch.wall_ms(put_at["r0"]) / 1000, UTC)


async def test_every_consumer_gets_every_record(kin):
    s = await make_stream(kin)
    consumers = [await register(kin, s, f"c{i}") for i in range(3)]
    streams = [await subscribe(kin, c) for c in consumers]
    results: dict[int, list[str]] = {}

    async def read(i, events):
        async with events:
            results[i] = datas(await first_records(events, 10))

    async with trio.open_nursery() as nursery:
        for i, events in enumerate(streams):
            nursery.start_soon(read, i, events)
        for n in range(10):
            await put(kin, str(n), key=f"k{n}")
            await trio.sleep(0.3)
    assert results == {i: [str(n) for n in range(10)] for i in range(3)}


async def test_subscribe_starting_positions(kin, fbroker):
    s = await make_stream(kin)
    puts, times = [], []
    for i in range(5):
        times.append(datetime.fromtimestamp(fbroker.epoch.wall_ms(trio.current_time()) / 1000, UTC))
        puts.append(await put(kin, f"r{i}"))
        await trio.sleep(1)
    seq2 = puts[2]["SequenceNumber"]
    cases = [
        ({"Type": "TRIM_HORIZON"}, ["r0", "r1", "r2", "r3", "r4"]),
        ({"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": seq2}, ["r2", "r3", "r4"]),
        ({"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq2}, ["r3", "r4"]),
        ({"Type": "AT_TIMESTAMP", "Timestamp": times[3]}, ["r3", "r4"]),
        ({"Type": "LATEST"}, []),
    ]
    for i, (start, expected) in enumerate(cases):
        c = await register(kin, s, f"c{i}")
        r = await kin.subscribe_to_shard(ConsumerARN=c, ShardId=SHARD0, StartingPosition=start)
        async with r["EventStream"] as events:
            first = await events.__anext__()
        assert datas(first["SubscribeToShardEvent"]["Records"]) == expected, start


async def test_subscribe_argument_errors(kin):
    s = await make_stream(kin, shards=2)
    c = await register(kin, s)
    other = await put(kin, "x", key="k")
    wrong_shard = "shardId-000000000001" if other["ShardId"] == SHARD0 else SHARD0
    with aws_error("InvalidArgumentException"):  # a sequence number of another shard
        await subscribe(
            kin, c, wrong_shard, "AT_SEQUENCE_NUMBER", SequenceNumber=other["SequenceNumber"]
        )
    with aws_error("InvalidArgumentException"):
        await subscribe(kin, c, SHARD0, "AFTER_SEQUENCE_NUMBER")
    with aws_error("ValidationException"):
        await subscribe(kin, c, SHARD0, "SOMEWHERE")
    with aws_error("ResourceNotFoundException"):
        await subscribe(kin, c, "shardId-000000000099")
    with aws_error("ResourceNotFoundException"):
        await subscribe(kin, f"{s}/consumer/ghost:1")
    with aws_error("ValidationException"):
        await kin.subscribe_to_shard(ConsumerARN=c, ShardId=SHARD0)


async def test_subscription_ends_after_5_minutes(kin):
    s = await make_stream(kin)
    c = await register(kin, s)
    events = await subscribe(kin, c, kind="TRIM_HORIZON")
    start = trio.current_time()

    async def writer():
        for i in range(40):  # one record every 15 s for 10 minutes
            await put(kin, str(i))
            await trio.sleep(15)

    got: list[dict] = []
    empty = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        async for event in events:
            e = event["SubscribeToShardEvent"]
            got += e["Records"]
            empty += not e["Records"]
        ended = trio.current_time()
        nursery.cancel_scope.cancel()
    assert ended - start == pytest.approx(300)
    assert datas(got) == [str(i) for i in range(20)]  # those put in the first 5 minutes
    assert empty > 0  # a caught-up subscriber still hears from the stream
    # The stream is over for good: it stays stopped.
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()


async def test_resubscribing_within_5_seconds_is_refused_and_later_takes_over(kin):
    s = await make_stream(kin)
    c = await register(kin, s)
    old = await subscribe(kin, c)
    outcome: list[object] = []

    async def run_old():
        try:
            async for event in old:
                outcome.extend(datas(event["SubscribeToShardEvent"]["Records"]))
        except BrokerError as exc:
            outcome.append(exc.code)
        else:
            outcome.append("ended quietly")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_old)
        await put(kin, "before")
        await trio.sleep(3)
        with aws_error("ResourceInUseException"):
            await subscribe(kin, c)
        await trio.sleep(3)  # 6 s after the first call
        new = await subscribe(kin, c)
    assert outcome == ["before", "ResourceInUseException"]
    await put(kin, "after")
    async with new:
        assert datas(await first_records(new, 1)) == ["after"]


async def test_resubscribing_after_continuation_sequence_number_loses_nothing(kin):
    s = await make_stream(kin)
    c = await register(kin, s)
    total = 400

    async def writer():
        for i in range(total):  # 0.5 s apart: 200 s of writes
            await put(kin, str(i), key=f"k{i % 5}")
            await trio.sleep(0.5)

    got: list[str] = []
    position = {"Type": "TRIM_HORIZON"}
    subscriptions = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        while len(got) < total:
            await trio.sleep(6)  # a consumer restarting (and past the 5 s resubscribe rule)
            r = await kin.subscribe_to_shard(
                ConsumerARN=c, ShardId=SHARD0, StartingPosition=position
            )
            subscriptions += 1
            async with r["EventStream"] as events:
                async for event in events:
                    e = event["SubscribeToShardEvent"]
                    got += datas(e["Records"])
                    position = {
                        "Type": "AFTER_SEQUENCE_NUMBER",
                        "SequenceNumber": e["ContinuationSequenceNumber"],
                    }
                    if len(e["Records"]) and len(got) % 7 < 2:
                        break  # drop the subscription at an arbitrary point
    assert subscriptions > 3
    assert got == [str(i) for i in range(total)]


async def test_subscription_on_a_parent_that_is_split_ends_with_child_shards(kin):
    s = await make_stream(kin)
    c = await register(kin, s)
    events = await subscribe(kin, c, kind="LATEST")
    final: list[dict] = []

    async def writer():
        for i in range(3):
            await put(kin, f"a{i}", key=f"k{i}")
            await trio.sleep(0.1)
        await kin.split_shard(StreamARN=s, ShardToSplit=SHARD0, NewStartingHashKey=str(2**127))
        for i in range(2):
            await put(kin, f"b{i}", key=f"k{i}")  # still UPDATING: on the parent
        await trio.sleep(1)
        for i in range(2):
            await put(kin, f"c{i}", key=f"k{i}")  # on the children

    got: list[dict] = []
    async with trio.open_nursery() as nursery, events:
        nursery.start_soon(writer)
        async for event in events:
            e = event["SubscribeToShardEvent"]
            got += e["Records"]
            if "ChildShards" in e:
                final.append(e)
    assert datas(got) == ["a0", "a1", "a2", "b0", "b1"]
    assert len(final) == 1
    children = final[0]["ChildShards"]
    assert [ch["ShardId"] for ch in children] == ["shardId-000000000001", "shardId-000000000002"]
    assert all(ch["ParentShards"] == [SHARD0] for ch in children)
    # The consumer follows lineage: the children hold what was written after the split.
    after: list[str] = []
    for ch in children:
        child_events = await subscribe(kin, c, ch["ShardId"], "TRIM_HORIZON")
        async with child_events:
            first = await child_events.__anext__()
        after += datas(first["SubscribeToShardEvent"]["Records"])
    assert sorted(after) == ["c0", "c1"]


async def test_the_child_shards_event_at_a_closed_shards_end_has_no_continuation_number(kin):
    s = await make_stream(kin)
    c = await register(kin, s)
    await put(kin, "x")
    await kin.split_shard(StreamARN=s, ShardToSplit=SHARD0, NewStartingHashKey=str(2**127))
    await trio.sleep(1)
    last = None
    async with await subscribe(kin, c, kind="TRIM_HORIZON") as events:
        async for event in events:
            last = event["SubscribeToShardEvent"]
    assert last is not None and last["ChildShards"]
    assert last.get("ContinuationSequenceNumber") is None


async def test_subscribe_with_a_consumer_not_active_is_resource_in_use(kin):
    s = await make_stream(kin)
    r = await kin.register_stream_consumer(StreamARN=s, ConsumerName="c")
    c = r["Consumer"]["ConsumerARN"]
    with aws_error("ResourceInUseException"):  # still CREATING
        await subscribe(kin, c)
    await trio.sleep(1)
    await kin.deregister_stream_consumer(ConsumerARN=c)
    with aws_error("ResourceInUseException"):  # DELETING
        await subscribe(kin, c)


async def how_it_ends(events, action) -> list[str]:
    """Read ``events`` to their end while ``action()`` runs 10 s in: the error code that ended
    them, or "ended quietly"."""
    outcome: list[str] = []

    async def run():
        try:
            async for _ in events:
                pass
        except BrokerError as exc:
            outcome.append(exc.code)
        else:
            outcome.append("ended quietly")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.sleep(10)
        await action()
    return outcome


async def test_deregistering_the_consumer_ends_its_subscription_with_resource_not_found(kin):
    s = await make_stream(kin)
    c = await register(kin, s)
    events = await subscribe(kin, c)
    outcome = await how_it_ends(events, lambda: kin.deregister_stream_consumer(ConsumerARN=c))
    assert outcome == ["ResourceNotFoundException"]


async def test_deleting_the_stream_ends_the_subscription_with_resource_not_found(kin):
    s = await make_stream(kin)
    c = await register(kin, s)
    events = await subscribe(kin, c)
    outcome = await how_it_ends(
        events, lambda: kin.delete_stream(StreamARN=s, EnforceConsumerDeletion=True)
    )
    assert outcome == ["ResourceNotFoundException"]


async def test_events_carry_millis_behind_latest_while_catching_up(kin):
    s = await make_stream(kin)
    for _ in range(30):  # 15,000 records: more than one event carries
        await kin.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "k"}] * 500)
    await trio.sleep(10)
    c = await register(kin, s)
    behind: list[tuple[int, int]] = []
    async with await subscribe(kin, c, kind="TRIM_HORIZON") as events:
        async for event in events:
            e = event["SubscribeToShardEvent"]
            behind.append((len(e["Records"]), e["MillisBehindLatest"]))
            if sum(n for n, _ in behind) == 15_000:
                break
    assert len(behind) > 1
    # Every event but the last leaves records unread, about 11 s old.
    assert all(10_000 <= ms <= 12_000 for _, ms in behind[:-1])
    assert behind[-1][1] == 0


async def test_subscription_is_paced_at_2_mib_per_second_when_throughput_is_enforced(kinesis):
    s = await make_stream(kinesis)
    for _ in range(6):  # 6 MiB, paced to respect the 1 MiB/s write limit
        await kinesis.put_record(StreamName="s", Data=b"x" * (MIB - 1), PartitionKey="k")
        await trio.sleep(1)
    c = await register(kinesis, s)
    start = trio.current_time()
    got = 0
    async with await subscribe(kinesis, c, kind="TRIM_HORIZON") as events:
        async for event in events:
            got += len(event["SubscribeToShardEvent"]["Records"])
            if got == 6:
                break
    assert trio.current_time() - start >= 2  # 6 MiB at 2 MiB/s: at least 2 s after the first
