"""AWS's service rules that msgsim applies by default: in-flight limits, FIFO throughput quotas
(when enforced), and the dead-letter source attribute."""

from __future__ import annotations

import json

import pytest
import trio

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError, limits

BODY = "x"


async def _fill(sqs, url: str, n: int, fifo: bool = False) -> None:
    for start in range(0, n, 10):
        entries = []
        for i in range(start, min(start + 10, n)):
            entry = {"Id": f"m{i}", "MessageBody": BODY}
            if fifo:
                entry["MessageGroupId"] = f"g{i}"  # one group per message: all receivable
                entry["MessageDeduplicationId"] = f"d{i}"
            entries.append(entry)
        result = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not result["Failed"]


async def _receive_all(sqs, url: str, n: int) -> int:
    got = 0
    while got < n:
        r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=3600)
        if not r:
            break
        got += len(r["Messages"])
    return got


async def test_standard_queue_answers_overlimit_at_120000_in_flight(sqs):
    """AWS: a standard queue allows about 120,000 in-flight messages; past that ReceiveMessage
    fails with OverLimit."""
    url = (await sqs.create_queue(QueueName="busy"))["QueueUrl"]
    limit = limits.INFLIGHT_MESSAGES_MAX_STANDARD
    await _fill(sqs, url, limit + 5)
    assert await _receive_all(sqs, url, limit) == limit
    with pytest.raises(BrokerError) as err:
        await sqs.receive_message(QueueUrl=url)
    assert err.value.code == "OverLimit"
    # Deleting one in-flight message makes room for one more receive.
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == str(limit)
    await trio.sleep(3600)  # everything returns
    assert (await sqs.receive_message(QueueUrl=url))["Messages"]


async def test_fifo_queue_stops_handing_out_at_120000_in_flight_without_error(sqs):
    """AWS (2024): a FIFO queue's in-flight limit is 120,000; at the limit ReceiveMessage returns
    no messages rather than an error."""
    url = (await sqs.create_queue(QueueName="busy.fifo", Attributes={"FifoQueue": "true"}))[
        "QueueUrl"
    ]
    limit = limits.INFLIGHT_MESSAGES_MAX_FIFO
    await _fill(sqs, url, limit + 5, fifo=True)
    assert await _receive_all(sqs, url, limit) == limit
    assert await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10) == {}
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "5"


@pytest.fixture
async def throttled():
    async with Broker.open(seed=1, enforce_throughput=True) as broker:
        yield InProcessClient(broker).client("sqs")


async def test_fifo_normal_throughput_allows_300_sends_per_second_per_queue(throttled):
    """AWS: without high throughput a FIFO queue supports 300 transactions per second per API
    action; over the quota the call is throttled (ThrottlingException)."""
    url = (
        await throttled.create_queue(
            QueueName="q.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )
    )["QueueUrl"]
    for i in range(limits.FIFO_TRANSACTIONS_PER_SECOND):
        await throttled.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId=f"g{i}")
    with pytest.raises(BrokerError) as err:
        await throttled.send_message(QueueUrl=url, MessageBody="over", MessageGroupId="other")
    assert err.value.code == "ThrottlingException"
    await trio.sleep(1)  # the next second has a fresh quota
    await throttled.send_message(QueueUrl=url, MessageBody="later", MessageGroupId="other")


async def test_fifo_high_throughput_quota_is_per_message_group(throttled):
    """AWS: with DeduplicationScope=messageGroup and FifoThroughputLimit=perMessageGroupId the
    quota applies to each message group, so other groups are not throttled."""
    url = (
        await throttled.create_queue(
            QueueName="ht.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "true",
                "DeduplicationScope": "messageGroup",
                "FifoThroughputLimit": "perMessageGroupId",
            },
        )
    )["QueueUrl"]
    for i in range(limits.FIFO_TRANSACTIONS_PER_SECOND):
        await throttled.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="hot")
    with pytest.raises(BrokerError) as err:
        await throttled.send_message(QueueUrl=url, MessageBody="over", MessageGroupId="hot")
    assert err.value.code == "ThrottlingException"
    await throttled.send_message(QueueUrl=url, MessageBody="fine", MessageGroupId="cold")


async def test_perMessageGroupId_with_queue_scope_falls_back_to_normal_throughput(throttled):
    """AWS: FifoThroughputLimit=perMessageGroupId only takes effect with
    DeduplicationScope=messageGroup; otherwise normal (per-queue) throughput applies."""
    url = (
        await throttled.create_queue(
            QueueName="half.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "true",
                "FifoThroughputLimit": "perMessageGroupId",
            },
        )
    )["QueueUrl"]
    for i in range(limits.FIFO_TRANSACTIONS_PER_SECOND):
        await throttled.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId=f"g{i}")
    with pytest.raises(BrokerError) as err:
        await throttled.send_message(QueueUrl=url, MessageBody="over", MessageGroupId="fresh")
    assert err.value.code == "ThrottlingException"


async def test_standard_queues_are_never_throttled(throttled):
    """AWS: standard queues support a nearly unlimited number of transactions per second."""
    url = (await throttled.create_queue(QueueName="std"))["QueueUrl"]
    for i in range(2 * limits.FIFO_TRANSACTIONS_PER_SECOND):
        await throttled.send_message(QueueUrl=url, MessageBody=f"m{i}")


async def test_throughput_is_not_enforced_by_default(sqs):
    url = (
        await sqs.create_queue(
            QueueName="free.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )
    )["QueueUrl"]
    for i in range(limits.FIFO_TRANSACTIONS_PER_SECOND + 10):
        await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")


async def test_dead_lettered_message_carries_its_source_queue_arn(sqs):
    """AWS: a message moved to a dead-letter queue has the DeadLetterQueueSourceArn system
    attribute naming the queue it came from."""
    dlq = (await sqs.create_queue(QueueName="dlq"))["QueueUrl"]
    dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    src = (
        await sqs.create_queue(
            QueueName="src",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
            },
        )
    )["QueueUrl"]
    src_arn = (await sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    await sqs.send_message(QueueUrl=src, MessageBody="poison")
    assert (await sqs.receive_message(QueueUrl=src, VisibilityTimeout=0))["Messages"]
    assert await sqs.receive_message(QueueUrl=src) == {}  # this receive moved it
    got = await sqs.receive_message(
        QueueUrl=dlq, MessageSystemAttributeNames=["DeadLetterQueueSourceArn"]
    )
    assert got["Messages"][0]["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
