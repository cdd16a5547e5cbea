"""FIFO queues of AWS SQS: naming, message groups, deduplication, ordering, group locking,
sequence numbers, receive-attempt ids and high-throughput settings."""

from __future__ import annotations

import itertools

import pytest
import trio

from msgsim.broker import BrokerError

DEDUP_WINDOW = 300  # 5 minutes


async def make_fifo(sqs, name="orders.fifo", cbd=True, **attributes):
    attrs = {"FifoQueue": "true", **{key: str(value) for key, value in attributes.items()}}
    if cbd:
        attrs["ContentBasedDeduplication"] = "true"
    return (await sqs.create_queue(QueueName=name, Attributes=attrs))["QueueUrl"]


async def receive(sqs, url, **kwargs):
    kwargs.setdefault("MessageSystemAttributeNames", ["All"])
    response = await sqs.receive_message(QueueUrl=url, **kwargs)
    return response.get("Messages", [])


async def drain(sqs, url, batch=10):
    """Receive-and-delete until the queue returns nothing; returns bodies in order."""
    bodies = []
    while messages := await receive(sqs, url, MaxNumberOfMessages=batch):
        for message in messages:
            bodies.append(message["Body"])
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


async def expect_error(code, call, **kwargs):
    with pytest.raises(BrokerError) as info:
        await call(**kwargs)
    assert info.value.code == code, (info.value.code, info.value.message)
    return info.value


# ------------------------------------------------------------------------ creation


async def test_fifo_queue_needs_fifo_suffix_and_fifo_queue_attribute(autojump_clock, sqs):
    """AWS: a FIFO queue is created with FifoQueue=true and a name ending in .fifo."""
    url = await make_fifo(sqs, "jobs.fifo", cbd=False)
    assert url.endswith("/jobs.fifo")
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert attrs["QueueArn"].endswith(":jobs.fifo")


async def test_fifo_queue_attribute_without_fifo_suffix_is_rejected(autojump_clock, sqs):
    """AWS: FifoQueue=true on a name without the .fifo suffix is InvalidParameterValue."""
    await expect_error(
        "InvalidParameterValue",
        sqs.create_queue,
        QueueName="jobs",
        Attributes={"FifoQueue": "true"},
    )


# ------------------------------------------------------------- required parameters


async def test_message_group_id_is_required_on_fifo(autojump_clock, sqs):
    """AWS: SendMessage to a FIFO queue without MessageGroupId fails with MissingParameter."""
    url = await make_fifo(sqs)
    error = await expect_error("MissingParameter", sqs.send_message, QueueUrl=url, MessageBody="m")
    assert "MessageGroupId" in error.message
    assert await receive(sqs, url) == []


async def test_dedup_id_or_content_based_dedup_is_required(autojump_clock, sqs):
    """AWS: without ContentBasedDeduplication a FIFO send needs MessageDeduplicationId
    (InvalidParameterValue otherwise)."""
    url = await make_fifo(sqs, cbd=False)
    await expect_error(
        "InvalidParameterValue",
        sqs.send_message,
        QueueUrl=url,
        MessageBody="m",
        MessageGroupId="g",
    )
    await sqs.send_message(
        QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    messages = await receive(sqs, url)
    assert [m["Body"] for m in messages] == ["m"]
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == "d1"
    assert messages[0]["Attributes"]["MessageGroupId"] == "g"


# ------------------------------------------------------------------- deduplication


async def test_duplicate_within_five_minutes_is_accepted_with_same_id_but_not_delivered(
    autojump_clock, sqs
):
    """AWS: a message with a deduplication id seen in the last 5 minutes is accepted
    (same MessageId returned) but not delivered."""
    url = await make_fifo(sqs, cbd=False)
    first = await sqs.send_message(
        QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="d"
    )
    await trio.sleep(DEDUP_WINDOW - 10)
    dup = await sqs.send_message(
        QueueUrl=url, MessageBody="two", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert dup["MessageId"] == first["MessageId"]
    assert await drain(sqs, url) == ["one"]


async def test_content_based_dedup_hashes_the_body(autojump_clock, sqs):
    """AWS: with ContentBasedDeduplication the dedup id is the SHA-256 of the body, so the
    same body is a duplicate and a different body is not."""
    url = await make_fifo(sqs)
    a = await sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    b = await sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    c = await sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"] != c["MessageId"]
    assert await drain(sqs, url) == ["same", "other"]


async def test_duplicate_is_suppressed_even_after_the_first_was_deleted(autojump_clock, sqs):
    """AWS: SQS keeps tracking a deduplication id for 5 minutes even after the message
    was received and deleted."""
    url = await make_fifo(sqs)
    first = await sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g")
    assert await drain(sqs, url) == ["once"]
    await trio.sleep(60)
    dup = await sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g")
    assert dup["MessageId"] == first["MessageId"]
    assert await receive(sqs, url, WaitTimeSeconds=20) == []


async def test_after_five_minutes_the_same_dedup_id_is_delivered_again(autojump_clock, sqs):
    """AWS: the deduplication interval is 5 minutes; after it the id is new again."""
    url = await make_fifo(sqs, cbd=False)
    first = await sqs.send_message(
        QueueUrl=url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert await drain(sqs, url) == ["a"]
    await trio.sleep(DEDUP_WINDOW + 1)
    again = await sqs.send_message(
        QueueUrl=url, MessageBody="b", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert again["MessageId"] != first["MessageId"]
    assert await drain(sqs, url) == ["b"]


async def test_dedup_scope_message_group_makes_same_id_in_other_groups_distinct(
    autojump_clock, sqs
):
    """AWS: with DeduplicationScope=messageGroup, deduplication ids are unique per group."""
    url = await make_fifo(sqs, cbd=False, DeduplicationScope="messageGroup")
    a = await sqs.send_message(
        QueueUrl=url, MessageBody="a", MessageGroupId="g1", MessageDeduplicationId="d"
    )
    b = await sqs.send_message(
        QueueUrl=url, MessageBody="b", MessageGroupId="g2", MessageDeduplicationId="d"
    )
    c = await sqs.send_message(
        QueueUrl=url, MessageBody="c", MessageGroupId="g1", MessageDeduplicationId="d"
    )
    assert a["MessageId"] != b["MessageId"]
    assert c["MessageId"] == a["MessageId"]
    assert sorted(await drain(sqs, url)) == ["a", "b"]


async def test_dedup_scope_queue_deduplicates_across_groups(autojump_clock, sqs):
    """AWS: with the default DeduplicationScope=queue, a dedup id is unique across groups."""
    url = await make_fifo(sqs, cbd=False)
    a = await sqs.send_message(
        QueueUrl=url, MessageBody="a", MessageGroupId="g1", MessageDeduplicationId="d"
    )
    b = await sqs.send_message(
        QueueUrl=url, MessageBody="b", MessageGroupId="g2", MessageDeduplicationId="d"
    )
    assert a["MessageId"] == b["MessageId"]
    assert await drain(sqs, url) == ["a"]


# ---------------------------------------------------------------------- ordering


async def test_messages_of_a_group_are_delivered_in_strict_order(autojump_clock, sqs):
    """AWS: within a message group, messages are received in the order sent."""
    url = await make_fifo(sqs)
    bodies = [f"m{i:02d}" for i in range(35)]
    for body in bodies:
        await sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    assert await drain(sqs, url, batch=1) == bodies


async def test_batch_receive_returns_a_group_in_order(autojump_clock, sqs):
    """AWS: a receive of up to 10 returns as many messages of a group as it can, in order."""
    url = await make_fifo(sqs)
    bodies = [f"m{i}" for i in range(15)]
    for body in bodies:
        await sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    first = await receive(sqs, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in first] == bodies[:10]


async def test_in_flight_message_blocks_later_messages_of_its_group_until_deleted(
    autojump_clock, sqs
):
    """AWS: while a message of a group is in flight, no later message of that group is
    returned; deleting it unblocks the group."""
    url = await make_fifo(sqs)
    for body in ("first", "second"):
        await sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    [first] = await receive(sqs, url)
    assert first["Body"] == "first"
    assert await receive(sqs, url, MaxNumberOfMessages=10) == []
    assert await receive(sqs, url, WaitTimeSeconds=20) == []
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert [m["Body"] for m in await receive(sqs, url, MaxNumberOfMessages=10)] == ["second"]


async def test_in_flight_message_blocks_its_group_until_visibility_expires(autojump_clock, sqs):
    """AWS: if the in-flight message is not deleted, it is redelivered first when its
    visibility timeout expires; the later message still waits."""
    url = await make_fifo(sqs)
    for body in ("first", "second"):
        await sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    start = trio.current_time()
    [first] = await receive(sqs, url, VisibilityTimeout=10)
    assert first["Body"] == "first"
    await trio.sleep_until(start + 9.9)
    assert await receive(sqs, url, MaxNumberOfMessages=10) == []
    await trio.sleep_until(start + 10.1)
    [again] = await receive(sqs, url)
    assert again["Body"] == "first"
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    assert [m["Body"] for m in await receive(sqs, url)] == ["second"]


async def test_other_groups_are_served_while_one_group_is_blocked(autojump_clock, sqs):
    """AWS: a blocked group does not block other groups."""
    url = await make_fifo(sqs)
    for i in range(12):
        await sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="A")
    await sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="B")
    first = await receive(sqs, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in first] == [f"a{i}" for i in range(10)]
    second = await receive(sqs, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in second] == ["b0"]


async def test_groups_are_served_fairly_so_no_group_starves(autojump_clock, sqs):
    """Simulator policy (AWS interleaves groups): with one message per receive, groups
    take turns (round robin), so a small group behind a large backlog is not starved."""
    url = await make_fifo(sqs)
    for i in range(40):
        await sqs.send_message(QueueUrl=url, MessageBody=f"A{i}", MessageGroupId="A")
    for group in ("B", "C"):
        for i in range(3):
            await sqs.send_message(QueueUrl=url, MessageBody=f"{group}{i}", MessageGroupId=group)
    order = await drain(sqs, url, batch=1)
    assert len(order) == 46
    positions = {body: pos for pos, body in enumerate(order)}
    # Round robin serves B and C within the first three rounds.
    assert max(positions[f"{g}{i}"] for g in "BC" for i in range(3)) < 12
    for group, count in (("A", 40), ("B", 3), ("C", 3)):
        assert [b for b in order if b[0] == group] == [f"{group}{i}" for i in range(count)]


async def test_sequence_numbers_strictly_increase(autojump_clock, sqs):
    """AWS: FIFO sends return a SequenceNumber (large decimal string) that keeps increasing;
    the received message carries the same SequenceNumber attribute."""
    url = await make_fifo(sqs)
    sent = [
        await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
        for i in range(20)
    ]
    numbers = [s["SequenceNumber"] for s in sent]
    assert all(isinstance(n, str) and n.isdigit() for n in numbers)
    values = [int(n) for n in numbers]
    assert all(a < b for a, b in itertools.pairwise(values))

    received = {}
    while messages := await receive(sqs, url, MaxNumberOfMessages=10):
        for m in messages:
            received[m["MessageId"]] = m["Attributes"]["SequenceNumber"]
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert received == {s["MessageId"]: s["SequenceNumber"] for s in sent}


# ------------------------------------------------------------------------- delays


async def test_per_message_delay_seconds_is_rejected_on_fifo(autojump_clock, sqs):
    """AWS: FIFO queues take DelaySeconds only at queue level; a per-message DelaySeconds
    is InvalidParameterValue."""
    url = await make_fifo(sqs)
    await expect_error(
        "InvalidParameterValue",
        sqs.send_message,
        QueueUrl=url,
        MessageBody="m",
        MessageGroupId="g",
        DelaySeconds=5,
    )
    assert await receive(sqs, url) == []


async def test_queue_delay_seconds_applies_to_fifo_messages(autojump_clock, sqs):
    """AWS: a FIFO queue's DelaySeconds hides each new message for that long."""
    url = await make_fifo(sqs, DelaySeconds=10)
    start = trio.current_time()
    await sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    await trio.sleep_until(start + 9.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 10.1)
    assert [m["Body"] for m in await receive(sqs, url)] == ["m"]


# -------------------------------------------------------------- receive attempt id


async def test_receive_request_attempt_id_retry_returns_same_messages_and_handles(
    autojump_clock, sqs
):
    """AWS: retrying ReceiveMessage with the same ReceiveRequestAttemptId returns the same
    messages and receipt handles (if none were modified)."""
    url = await make_fifo(sqs)
    for i in range(3):
        await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    first = await receive(sqs, url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="attempt-1")
    assert [m["Body"] for m in first] == ["m0", "m1", "m2"]
    await trio.sleep(5)
    retry = await receive(sqs, url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="attempt-1")
    assert [(m["MessageId"], m["ReceiptHandle"]) for m in retry] == [
        (m["MessageId"], m["ReceiptHandle"]) for m in first
    ]
    # A fresh attempt sees the group as in flight.
    assert await receive(sqs, url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="other") == []
    for m in retry:
        await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert await receive(sqs, url) == []


# ------------------------------------------------------------------ high throughput


async def test_high_throughput_settings_are_accepted(autojump_clock, sqs):
    """AWS: FifoThroughputLimit=perMessageGroupId together with DeduplicationScope=messageGroup
    enables high-throughput FIFO; both are reported back by GetQueueAttributes."""
    url = await make_fifo(
        sqs, FifoThroughputLimit="perMessageGroupId", DeduplicationScope="messageGroup"
    )
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    assert attrs["DeduplicationScope"] == "messageGroup"
    await sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    assert await drain(sqs, url) == ["m"]


async def test_default_fifo_throughput_settings(autojump_clock, sqs):
    """AWS: defaults are DeduplicationScope=queue and FifoThroughputLimit=perQueue."""
    url = await make_fifo(sqs)
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attrs["FifoThroughputLimit"] == "perQueue"
    assert attrs["DeduplicationScope"] == "queue"


# -------------------------------------------------------------------------- batches


async def test_send_message_batch_keeps_order_within_a_group(autojump_clock, sqs):
    """AWS: FIFO batch entries are enqueued in request order, with increasing sequence numbers."""
    url = await make_fifo(sqs)
    entries = [{"Id": f"e{i}", "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(10)]
    response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert response.get("Failed", []) == []
    by_id = {entry["Id"]: entry for entry in response["Successful"]}
    numbers = [int(by_id[f"e{i}"]["SequenceNumber"]) for i in range(10)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 10
    entries2 = [{"Id": f"x{i}", "MessageBody": f"n{i}", "MessageGroupId": "g"} for i in range(5)]
    await sqs.send_message_batch(QueueUrl=url, Entries=entries2)
    assert await drain(sqs, url, batch=3) == [f"m{i}" for i in range(10)] + [
        f"n{i}" for i in range(5)
    ]


async def test_receive_request_attempt_id_retry_restarts_the_visibility_timeout(sqs):
    """AWS: a retry with the same ReceiveRequestAttemptId within the deduplication interval
    resets the visibility timeout of the returned messages."""
    url = await make_fifo(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    first = await receive(sqs, url, VisibilityTimeout=30, ReceiveRequestAttemptId="a")
    await trio.sleep(20)
    again = await receive(sqs, url, VisibilityTimeout=30, ReceiveRequestAttemptId="a")
    assert again[0]["ReceiptHandle"] == first[0]["ReceiptHandle"]
    await trio.sleep(20)  # 40 s after the first receive, 20 s after the retry
    assert await receive(sqs, url) == []
    await trio.sleep(11)
    assert [m["Body"] for m in await receive(sqs, url)] == ["m"]


@pytest.mark.parametrize("change", ["delete", "visibility"])
async def test_receive_request_attempt_id_is_not_retryable_after_its_messages_changed(sqs, change):
    """AWS: the retry only works if none of the messages were modified (deleted or their
    visibility changed); otherwise the id "is not valid anymore since the receive call is not
    retryable" (InvalidParameterValue)."""
    url = await make_fifo(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m1", MessageGroupId="g")
    await sqs.send_message(QueueUrl=url, MessageBody="m2", MessageGroupId="g")
    first = await receive(sqs, url, MaxNumberOfMessages=10, ReceiveRequestAttemptId="a")
    handle = first[0]["ReceiptHandle"]
    if change == "delete":
        await sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    else:
        await sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=90
        )
    with pytest.raises(BrokerError) as err:
        await sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId="a")
    assert err.value.code == "InvalidParameterValue"
    assert "ReceiveRequestAttemptId" in err.value.message


async def test_receive_request_attempt_id_on_an_empty_long_poll_still_waits_for_messages(sqs):
    """An attempt that returned nothing has nothing to replay: a long poll with an attempt id
    still returns a message sent while it waits."""
    url = await make_fifo(sqs)

    async def send_later():
        await trio.sleep(5)
        await sqs.send_message(QueueUrl=url, MessageBody="late", MessageGroupId="g")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_later)
        got = await receive(sqs, url, WaitTimeSeconds=20, ReceiveRequestAttemptId="a")
    assert [m["Body"] for m in got] == ["late"]
