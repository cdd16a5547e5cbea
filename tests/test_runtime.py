"""The Broker runtime: determinism by seed, epochs, background jobs, clean shutdown."""

from __future__ import annotations

import json

import trio
import trio.testing

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker


async def _transcript(seed: int, at_least_once: bool) -> str:
    """A mixed SQS and SNS workload; every response, in order, as one JSON string."""
    out: list[object] = []
    async with Broker.open(seed=seed, at_least_once=at_least_once) as broker:
        sqs = InProcessClient(broker).client("sqs")
        url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
        fifo = (
            await sqs.create_queue(
                QueueName="f.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )
        )["QueueUrl"]
        for i in range(60):
            out.append(
                await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", DelaySeconds=i % 3)
            )
            out.append(
                await sqs.send_message(
                    QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId=f"g{i % 4}"
                )
            )
        for _ in range(40):
            for q in (url, fifo):
                got = await sqs.receive_message(
                    QueueUrl=q,
                    MaxNumberOfMessages=7,
                    VisibilityTimeout=4,
                    MessageSystemAttributeNames=["All"],
                )
                out.append(got)
                for k, m in enumerate(got.get("Messages", [])):
                    if k % 2 == 0:
                        await sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
            await trio.sleep(1.5)
        # SNS: subscriptions, fanout in envelopes, FIFO sequence numbers, the outbox.
        sns = InProcessClient(broker).client("sns")
        topic = (await sns.create_topic(Name="t"))["TopicArn"]
        ftopic = (
            await sns.create_topic(
                Name="t.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"}
            )
        )["TopicArn"]
        arn = "arn:aws:sqs:us-east-1:000000000000:"
        out.append(await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn + "q"))
        out.append(await sns.subscribe(TopicArn=ftopic, Protocol="sqs", Endpoint=arn + "f.fifo"))
        out.append(await sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@b.example"))
        for i in range(10):
            out.append(await sns.publish(TopicArn=topic, Message=f"n{i}", Subject="s"))
            out.append(await sns.publish(TopicArn=ftopic, Message=f"n{i}", MessageGroupId="g"))
            await trio.sleep(0.25)
        out.append(await sns.list_outbox())
        for q in (url, fifo):
            out.append(await sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10))
    return json.dumps(out, sort_keys=True)


def _run(seed: int, at_least_once: bool = False) -> str:
    return trio.run(
        _transcript, seed, at_least_once, clock=trio.testing.MockClock(autojump_threshold=0)
    )


def test_same_seed_same_calls_same_clock_give_byte_identical_results():
    assert _run(11) == _run(11)
    assert _run(11, at_least_once=True) == _run(11, at_least_once=True)


def test_different_seeds_give_different_ids():
    assert _run(11) != _run(12)


async def test_timestamps_are_the_epoch_plus_elapsed_virtual_time():
    async with Broker.open(seed=0, epoch=1_800_000_000) as broker:
        sqs = InProcessClient(broker).client("sqs")
        url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
        await trio.sleep(2.5)
        await sqs.send_message(QueueUrl=url, MessageBody="x")
        got = await sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["SentTimestamp"])
        assert got["Messages"][0]["Attributes"]["SentTimestamp"] == "1800000002500"
        attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["CreatedTimestamp"])
        assert attrs["Attributes"]["CreatedTimestamp"] == "1800000000"


async def test_virtual_clock_default_epoch_is_fixed():
    """On a virtual clock the default epoch is 2025-01-01T00:00:00Z, so runs reproduce."""
    async with Broker.open() as broker:
        assert broker.epoch.wall(trio.current_time()) == 1_735_689_600.0


async def test_closing_the_broker_stops_its_background_jobs():
    """A running message move task is a background job of the broker's nursery; leaving the
    `async with` block cancels it rather than hanging."""
    async with Broker.open(seed=1) as broker:
        sqs = InProcessClient(broker).client("sqs")
        dlq = (await sqs.create_queue(QueueName="dlq"))["QueueUrl"]
        dlq_arn = "arn:aws:sqs:us-east-1:000000000000:dlq"
        await sqs.create_queue(
            QueueName="src",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
            },
        )
        for i in range(0, 50, 10):
            await sqs.send_message_batch(
                QueueUrl=dlq,
                Entries=[{"Id": f"e{j}", "MessageBody": "x"} for j in range(i, i + 10)],
            )
        task = await sqs.start_message_move_task(
            SourceArn=dlq_arn,
            DestinationArn="arn:aws:sqs:us-east-1:000000000000:src",
            MaxNumberOfMessagesPerSecond=1,
        )
        assert task["TaskHandle"]
        await trio.sleep(3)
        listed = await sqs.list_message_move_tasks(SourceArn=dlq_arn)
        assert listed["Results"][0]["Status"] == "RUNNING"
        assert 3 <= listed["Results"][0]["ApproximateNumberOfMessagesMoved"] <= 4
    # reaching here means the nursery closed with the job cancelled
