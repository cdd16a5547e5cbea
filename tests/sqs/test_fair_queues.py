"""Fair queues (AWS, 2025): a MessageGroupId on a standard queue names a tenant. SQS
spots a noisy tenant (more than 10 % of the in-flight messages and at least 30 of its own
in flight) and prefers the other tenants' messages, so a quiet tenant is not stuck behind a
noisy tenant's backlog. No FIFO ordering or group blocking applies."""

from __future__ import annotations

import collections

import trio

NOISY_BACKLOG = 1000
QUIET_COUNT = 10


async def make_queue(sqs, name="tenants"):
    return (await sqs.create_queue(QueueName=name))["QueueUrl"]


async def receive(sqs, url, **kwargs):
    kwargs.setdefault("MessageSystemAttributeNames", ["All"])
    response = await sqs.receive_message(QueueUrl=url, **kwargs)
    return response.get("Messages", [])


async def send_tenant(sqs, url, tenant, count):
    for start in range(0, count, 10):
        entries = [
            {"Id": f"e{i}", "MessageBody": f"{tenant}-{i}", "MessageGroupId": tenant}
            for i in range(start, min(start + 10, count))
        ]
        response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert response.get("Failed", []) == []


async def consume_with_window(sqs, url, total, window_batches=5, max_polls=1000):
    """A consumer that works on up to `window_batches` batches of 10 at once: it receives a
    batch, and deletes the oldest batch only when more than `window_batches` are in flight.
    This keeps 40-50 messages in flight, like a worker pool. Returns bodies in receive order."""
    in_flight = collections.deque()
    order = []
    for _ in range(max_polls):
        if len(order) >= total:
            break
        messages = await receive(sqs, url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        order.extend(m["Body"] for m in messages)
        if messages:
            in_flight.append(messages)
        if len(in_flight) > window_batches or not messages:
            if in_flight:
                for m in in_flight.popleft():
                    await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        await trio.sleep(0.1)
    return order


async def test_message_group_id_on_standard_queue_is_accepted_and_returned(autojump_clock, sqs):
    """AWS: a standard queue accepts MessageGroupId (tenant id) and returns it as the
    MessageGroupId system attribute; messages without one carry no such attribute."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="tenant-a")
    await sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "1", "MessageBody": "b", "MessageGroupId": "tenant-b"}],
    )
    await sqs.send_message(QueueUrl=url, MessageBody="none")
    messages = await receive(sqs, url, MaxNumberOfMessages=10)
    groups = {m["Body"]: m.get("Attributes", {}).get("MessageGroupId") for m in messages}
    assert groups == {"a": "tenant-a", "b": "tenant-b", "none": None}

    assert await receive(sqs, url, MaxNumberOfMessages=10) == []  # all three in flight
    await trio.sleep(31)
    named = await receive(
        sqs, url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    )
    assert {m["Body"]: m.get("Attributes", {}).get("MessageGroupId") for m in named} == groups


async def test_standard_queue_message_group_does_not_block_like_fifo(autojump_clock, sqs):
    """AWS: on a standard queue, a tenant's in-flight message does not hold back its other
    messages (no FIFO group locking), and no deduplication id is needed."""
    url = await make_queue(sqs)
    for i in range(3):
        await sqs.send_message(QueueUrl=url, MessageBody=f"t-{i}", MessageGroupId="t")
    first = await receive(sqs, url)
    second = await receive(sqs, url)
    third = await receive(sqs, url)
    assert sorted(m["Body"] for m in first + second + third) == ["t-0", "t-1", "t-2"]


async def test_quiet_tenant_is_not_starved_by_a_noisy_tenants_backlog(autojump_clock, sqs):
    """AWS fair queues: with 1,000 messages from tenant A followed by 10 from tenant B, a
    consumer keeping ~50 messages in flight makes A noisy (>10 % of in-flight and >=30 in
    flight), so B's messages are served long before A's backlog drains."""
    url = await make_queue(sqs)
    await send_tenant(sqs, url, "A", NOISY_BACKLOG)
    await send_tenant(sqs, url, "B", QUIET_COUNT)
    order = await consume_with_window(sqs, url, NOISY_BACKLOG + QUIET_COUNT)
    assert sorted(order) == sorted(
        [f"A-{i}" for i in range(NOISY_BACKLOG)] + [f"B-{i}" for i in range(QUIET_COUNT)]
    )
    b_positions = [pos for pos, body in enumerate(order) if body.startswith("B-")]
    assert len(b_positions) == QUIET_COUNT
    assert max(b_positions) < 100, b_positions


async def test_quiet_tenant_arriving_mid_backlog_is_served_promptly(autojump_clock, sqs):
    """AWS fair queues: a quiet tenant that starts sending while a noisy tenant's backlog is
    being worked through gets its messages within the next few receives."""
    url = await make_queue(sqs)
    await send_tenant(sqs, url, "A", 600)
    before = await consume_with_window(sqs, url, 200)
    assert all(body.startswith("A-") for body in before)
    await send_tenant(sqs, url, "B", QUIET_COUNT)
    after = await consume_with_window(sqs, url, 600 - len(before) + QUIET_COUNT)
    b_positions = [pos for pos, body in enumerate(after) if body.startswith("B-")]
    assert len(b_positions) == QUIET_COUNT
    assert max(b_positions) < 100, b_positions
