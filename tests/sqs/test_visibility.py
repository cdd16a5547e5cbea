"""Visibility timeouts, ChangeMessageVisibility and receipt-handle rules of AWS SQS.

Everything runs on trio's virtual clock (``autojump_clock``), so a 12-hour visibility
timeout passes in microseconds. Times are measured with ``trio.current_time()``.
"""

from __future__ import annotations

import pytest
import trio

from msgsim.broker import BrokerError

TWELVE_HOURS = 43_200


async def make_queue(sqs, name="vis", **attributes):
    attrs = {key: str(value) for key, value in attributes.items()}
    return (await sqs.create_queue(QueueName=name, Attributes=attrs))["QueueUrl"]


async def make_fifo(sqs, name="vis.fifo", **attributes):
    return await make_queue(
        sqs, name, FifoQueue="true", ContentBasedDeduplication="true", **attributes
    )


async def receive(sqs, url, **kwargs):
    kwargs.setdefault("MessageSystemAttributeNames", ["All"])
    response = await sqs.receive_message(QueueUrl=url, **kwargs)
    return response.get("Messages", [])


async def receive_one(sqs, url, **kwargs):
    messages = await receive(sqs, url, **kwargs)
    assert len(messages) == 1, messages
    return messages[0]


async def expect_error(code, call, **kwargs):
    with pytest.raises(BrokerError) as info:
        await call(**kwargs)
    assert info.value.code == code, (info.value.code, info.value.message)
    return info.value


async def counts(sqs, url):
    attrs = (
        await sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    )["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


# --------------------------------------------------------------------------- defaults


async def test_default_visibility_timeout_is_30_seconds(autojump_clock, sqs):
    """AWS: VisibilityTimeout defaults to 30 s; the message reappears after exactly that."""
    url = await make_queue(sqs)
    attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "30"
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    start = trio.current_time()
    await receive_one(sqs, url)

    await trio.sleep_until(start + 29.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 30.1)
    again = await receive_one(sqs, url)
    assert again["Body"] == "m"


async def test_in_flight_message_is_invisible_to_all_receivers_until_deadline_then_redelivered(
    autojump_clock, sqs
):
    """AWS: a received message is hidden from every consumer for the visibility timeout;
    afterwards it is delivered again with ApproximateReceiveCount + 1 and a new receipt handle."""
    url = await make_queue(sqs)
    sent = await sqs.send_message(QueueUrl=url, MessageBody="payload")
    start = trio.current_time()
    first = await receive_one(sqs, url, VisibilityTimeout=30)
    assert first["MessageId"] == sent["MessageId"]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"

    seen_by_others = []

    async def other_consumer(wait):
        seen_by_others.extend(await receive(sqs, url, WaitTimeSeconds=wait, MaxNumberOfMessages=10))

    # Several consumers, short and long polls, all before the deadline.
    async with trio.open_nursery() as nursery:
        for wait in (0, 5, 20):
            nursery.start_soon(other_consumer, wait)
    assert trio.current_time() < start + 30
    await trio.sleep_until(start + 29.5)
    seen_by_others.extend(await receive(sqs, url, MaxNumberOfMessages=10))
    assert seen_by_others == []

    await trio.sleep_until(start + 30.5)
    second = await receive_one(sqs, url)
    assert second["MessageId"] == first["MessageId"]
    assert second["Body"] == "payload"
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]


async def test_receive_visibility_timeout_overrides_queue_default_for_that_receive_only(
    autojump_clock, sqs
):
    """AWS: ReceiveMessage's VisibilityTimeout applies to the returned messages only;
    the next receive uses the queue's VisibilityTimeout again."""
    url = await make_queue(sqs, VisibilityTimeout=30)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    start = trio.current_time()
    await receive_one(sqs, url, VisibilityTimeout=5)
    await trio.sleep_until(start + 4.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 5.1)
    await receive_one(sqs, url)  # no override: queue default of 30 s

    second_start = trio.current_time()
    await trio.sleep_until(second_start + 29.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(second_start + 30.1)
    msg = await receive_one(sqs, url)
    assert msg["Attributes"]["ApproximateReceiveCount"] == "3"


async def test_queue_visibility_timeout_attribute_sets_the_hidden_period(autojump_clock, sqs):
    """AWS: the queue attribute VisibilityTimeout is used when a receive gives none,
    and SetQueueAttributes changes it for later receives."""
    url = await make_queue(sqs, VisibilityTimeout=100)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    start = trio.current_time()
    await receive_one(sqs, url)
    await trio.sleep_until(start + 99.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 100.1)

    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7"})
    start = trio.current_time()
    await receive_one(sqs, url)
    await trio.sleep_until(start + 6.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 7.1)
    assert (await receive_one(sqs, url))["Attributes"]["ApproximateReceiveCount"] == "3"


async def test_twelve_hour_visibility_timeout_passes_on_the_virtual_clock(autojump_clock, sqs):
    """AWS: the maximum visibility timeout is 12 hours (43,200 s)."""
    url = await make_queue(sqs, VisibilityTimeout=TWELVE_HOURS)
    await sqs.send_message(QueueUrl=url, MessageBody="long job")
    start = trio.current_time()
    first = await receive_one(sqs, url)
    await trio.sleep_until(start + TWELVE_HOURS - 1)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + TWELVE_HOURS + 1)
    again = await receive_one(sqs, url, VisibilityTimeout=TWELVE_HOURS)
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


# ------------------------------------------------------------- ChangeMessageVisibility


async def test_change_visibility_extends_counting_from_the_call(autojump_clock, sqs):
    """AWS: ChangeMessageVisibility's new timeout starts when the call is made,
    not when the message was received."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    start = trio.current_time()
    msg = await receive_one(sqs, url, VisibilityTimeout=30)
    await trio.sleep_until(start + 20)
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=60
    )
    await trio.sleep_until(start + 79.5)  # past the original 30 s, before 20 + 60
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 80.5)
    assert (await receive_one(sqs, url))["MessageId"] == msg["MessageId"]


async def test_change_visibility_shortens_counting_from_the_call(autojump_clock, sqs):
    """AWS: a smaller VisibilityTimeout makes the message visible that many seconds after
    the ChangeMessageVisibility call."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    start = trio.current_time()
    msg = await receive_one(sqs, url, VisibilityTimeout=300)
    await trio.sleep_until(start + 10)
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=5
    )
    await trio.sleep_until(start + 14.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 15.1)
    assert (await receive_one(sqs, url))["MessageId"] == msg["MessageId"]


async def test_change_visibility_to_zero_makes_message_receivable_at_once(autojump_clock, sqs):
    """AWS: VisibilityTimeout 0 releases the message immediately for other consumers."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url)
    start = trio.current_time()
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0
    )
    again = await receive_one(sqs, url)
    assert trio.current_time() == start
    assert again["MessageId"] == msg["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != msg["ReceiptHandle"]


async def test_changed_visibility_is_not_remembered_for_the_next_receive(autojump_clock, sqs):
    """AWS: a per-message timeout set by ChangeMessageVisibility is not kept; the next
    receive uses the queue's VisibilityTimeout again."""
    url = await make_queue(sqs, VisibilityTimeout=10)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url)
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=100
    )
    await trio.sleep(100.5)
    await receive_one(sqs, url)
    start = trio.current_time()
    await trio.sleep_until(start + 9.9)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 10.1)
    assert (await receive_one(sqs, url))["Attributes"]["ApproximateReceiveCount"] == "3"


async def test_change_visibility_beyond_twelve_hours_since_receive_is_rejected(autojump_clock, sqs):
    """AWS: the total time a message is hidden since it was received may not exceed
    12 hours; a longer ChangeMessageVisibility fails with InvalidParameterValue
    (no silent clamping) and leaves the current deadline untouched."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    start = trio.current_time()
    msg = await receive_one(sqs, url, VisibilityTimeout=300)
    handle = msg["ReceiptHandle"]

    await trio.sleep_until(start + 100)
    # 100 s elapsed + 43,200 s: beyond the limit.
    await expect_error(
        "InvalidParameterValue",
        sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=handle,
        VisibilityTimeout=TWELVE_HOURS,
    )
    # The failed call changed nothing: the 300 s deadline still holds.
    await trio.sleep_until(start + 299)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 300.5)
    redelivered = await receive_one(sqs, url, VisibilityTimeout=300)
    assert redelivered["Attributes"]["ApproximateReceiveCount"] == "2"

    handle = redelivered["ReceiptHandle"]
    start = trio.current_time()
    await trio.sleep_until(start + 100)
    # 100 s elapsed + 43,000 s = 43,100 s: allowed.
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=43_000
    )
    await trio.sleep_until(start + 200)
    # 200 s elapsed + 43,100 s = 43,300 s: beyond the limit.
    await expect_error(
        "InvalidParameterValue",
        sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=handle,
        VisibilityTimeout=43_100,
    )
    await trio.sleep_until(start + 43_099)
    assert await receive(sqs, url) == []
    await trio.sleep_until(start + 43_101)
    assert (await receive_one(sqs, url))["Attributes"]["ApproximateReceiveCount"] == "3"


async def test_change_visibility_to_twelve_hours_right_after_receive_is_allowed(
    autojump_clock, sqs
):
    """AWS: exactly 12 hours from the receive is within the limit."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url)
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=TWELVE_HOURS
    )
    await trio.sleep(TWELVE_HOURS - 1)
    assert await receive(sqs, url) == []


@pytest.mark.parametrize("value", [-1, TWELVE_HOURS + 1])
async def test_visibility_timeout_outside_0_to_43200_is_rejected(autojump_clock, sqs, value):
    """AWS: VisibilityTimeout must be 0..43,200 on ReceiveMessage and
    ChangeMessageVisibility (InvalidParameterValue) and as a queue attribute
    (InvalidAttributeValue)."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    await expect_error(
        "InvalidParameterValue", sqs.receive_message, QueueUrl=url, VisibilityTimeout=value
    )
    msg = await receive_one(sqs, url)
    error = await expect_error(
        "InvalidParameterValue",
        sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=msg["ReceiptHandle"],
        VisibilityTimeout=value,
    )
    assert "VisibilityTimeout" in error.message
    await expect_error(
        "InvalidAttributeValue",
        sqs.create_queue,
        QueueName="other",
        Attributes={"VisibilityTimeout": str(value)},
    )
    await expect_error(
        "InvalidAttributeValue",
        sqs.set_queue_attributes,
        QueueUrl=url,
        Attributes={"VisibilityTimeout": str(value)},
    )
    attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "30"


async def test_visibility_timeout_bounds_0_and_43200_are_accepted(autojump_clock, sqs):
    """AWS: 0 and 43,200 are both valid visibility timeouts."""
    url = await make_queue(sqs, VisibilityTimeout=TWELVE_HOURS)
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    first = await receive_one(sqs, url)  # queue timeout 0: visible again at once
    second = await receive_one(sqs, url, VisibilityTimeout=0)
    assert second["MessageId"] == first["MessageId"]
    third = await receive_one(sqs, url, VisibilityTimeout=TWELVE_HOURS)
    assert third["Attributes"]["ApproximateReceiveCount"] == "3"
    assert await receive(sqs, url) == []


async def test_change_visibility_of_message_not_in_flight_is_message_not_inflight(
    autojump_clock, sqs
):
    """AWS: ChangeMessageVisibility on a message whose visibility already lapsed
    (not in flight) fails with MessageNotInflight."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url, VisibilityTimeout=10)
    await trio.sleep(11)
    await expect_error(
        "MessageNotInflight",
        sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=msg["ReceiptHandle"],
        VisibilityTimeout=60,
    )
    # Still visible, not hidden by the failed call.
    assert (await receive_one(sqs, url))["Attributes"]["ApproximateReceiveCount"] == "2"


async def test_change_visibility_after_release_to_zero_is_message_not_inflight(autojump_clock, sqs):
    """AWS: once released with VisibilityTimeout 0 the message is no longer in flight."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url)
    await sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0
    )
    await expect_error(
        "MessageNotInflight",
        sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=msg["ReceiptHandle"],
        VisibilityTimeout=30,
    )


# ------------------------------------------------------------------ receipt handles


async def test_newest_receipt_handle_deletes_the_message(autojump_clock, sqs):
    """AWS: DeleteMessage with the most recent receipt handle removes the message for good."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url, VisibilityTimeout=10)
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert await counts(sqs, url) == (0, 0)
    await trio.sleep(60)
    assert await receive(sqs, url, WaitTimeSeconds=20) == []


async def test_newest_handle_deletes_even_after_visibility_lapsed_on_standard_queue(
    autojump_clock, sqs
):
    """AWS (standard queue): the latest receipt handle still deletes the message after its
    visibility timeout expired, as long as nobody received it again."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url, VisibilityTimeout=5)
    await trio.sleep(10)
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert await receive(sqs, url) == []
    assert await counts(sqs, url) == (0, 0)


async def test_superseded_handle_on_standard_queue_succeeds_but_does_not_delete(
    autojump_clock, sqs
):
    """AWS (standard queue): deleting with an old receipt handle 'succeeds, but the message
    might not be deleted'; only the newest handle deletes."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    old = await receive_one(sqs, url, VisibilityTimeout=5)
    await trio.sleep(6)
    new = await receive_one(sqs, url, VisibilityTimeout=5)
    assert new["ReceiptHandle"] != old["ReceiptHandle"]

    await sqs.delete_message(QueueUrl=url, ReceiptHandle=old["ReceiptHandle"])  # no error
    await trio.sleep(6)
    third = await receive_one(sqs, url)
    assert third["MessageId"] == old["MessageId"]
    assert third["Attributes"]["ApproximateReceiveCount"] == "3"

    await sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert await counts(sqs, url) == (0, 0)


async def test_superseded_handle_on_fifo_queue_is_rejected(autojump_clock, sqs):
    """AWS (FIFO queue): an old receipt handle has expired; DeleteMessage fails with
    InvalidParameterValue and the message stays; the newest handle deletes it."""
    url = await make_fifo(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    old = await receive_one(sqs, url, VisibilityTimeout=5)
    await trio.sleep(6)
    new = await receive_one(sqs, url, VisibilityTimeout=5)
    await expect_error(
        "InvalidParameterValue",
        sqs.delete_message,
        QueueUrl=url,
        ReceiptHandle=old["ReceiptHandle"],
    )
    assert await counts(sqs, url) == (0, 1)
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=new["ReceiptHandle"])
    assert await counts(sqs, url) == (0, 0)


async def test_expired_handle_on_fifo_queue_is_rejected(autojump_clock, sqs):
    """AWS (FIFO queue): once the visibility timeout lapsed, the receipt handle has expired;
    DeleteMessage fails with InvalidParameterValue and the message is delivered again."""
    url = await make_fifo(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    msg = await receive_one(sqs, url, VisibilityTimeout=5)
    await trio.sleep(6)
    await expect_error(
        "InvalidParameterValue",
        sqs.delete_message,
        QueueUrl=url,
        ReceiptHandle=msg["ReceiptHandle"],
    )
    again = await receive_one(sqs, url)
    assert again["MessageId"] == msg["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


@pytest.mark.parametrize("handle", ["garbage", "AQEB" + "x" * 200])
async def test_garbage_receipt_handle_is_receipt_handle_is_invalid(autojump_clock, sqs, handle):
    """AWS: a receipt handle that SQS did not issue is ReceiptHandleIsInvalid, for
    DeleteMessage and ChangeMessageVisibility alike."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    await receive_one(sqs, url)
    await expect_error(
        "ReceiptHandleIsInvalid", sqs.delete_message, QueueUrl=url, ReceiptHandle=handle
    )
    await expect_error(
        "ReceiptHandleIsInvalid",
        sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=handle,
        VisibilityTimeout=0,
    )
    assert await counts(sqs, url) == (0, 1)


async def test_receipt_handle_from_another_queue_is_receipt_handle_is_invalid(autojump_clock, sqs):
    """AWS: a receipt handle belongs to the queue it came from; using it on another
    queue is ReceiptHandleIsInvalid and deletes nothing."""
    url_a = await make_queue(sqs, "a")
    url_b = await make_queue(sqs, "b")
    await sqs.send_message(QueueUrl=url_a, MessageBody="from a")
    await sqs.send_message(QueueUrl=url_b, MessageBody="from b")
    msg_a = await receive_one(sqs, url_a)
    await receive_one(sqs, url_b)
    await expect_error(
        "ReceiptHandleIsInvalid",
        sqs.delete_message,
        QueueUrl=url_b,
        ReceiptHandle=msg_a["ReceiptHandle"],
    )
    await expect_error(
        "ReceiptHandleIsInvalid",
        sqs.change_message_visibility,
        QueueUrl=url_b,
        ReceiptHandle=msg_a["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    assert await counts(sqs, url_a) == (0, 1)
    assert await counts(sqs, url_b) == (0, 1)


async def test_deleting_an_already_deleted_message_succeeds(autojump_clock, sqs):
    """AWS: DeleteMessage is idempotent for a handle whose message is already gone."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    msg = await receive_one(sqs, url)
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    await trio.sleep(31)
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert await receive(sqs, url) == []


async def test_receipt_handle_from_before_a_purge_never_touches_a_later_message(
    autojump_clock, sqs
):
    """AWS: PurgeQueue deletes the messages; a receipt handle of a purged message must not delete
    (or hide) a message sent after the purge."""
    url = (await sqs.create_queue(QueueName="purged"))["QueueUrl"]
    await sqs.send_message(QueueUrl=url, MessageBody="old")
    old = (await sqs.receive_message(QueueUrl=url))["Messages"][0]
    await sqs.purge_queue(QueueUrl=url)
    await sqs.send_message(QueueUrl=url, MessageBody="new")
    new = (await sqs.receive_message(QueueUrl=url, VisibilityTimeout=5))["Messages"][0]
    assert new["ReceiptHandle"] != old["ReceiptHandle"]
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=old["ReceiptHandle"])  # succeeds: gone
    await trio.sleep(5)
    again = (await sqs.receive_message(QueueUrl=url))["Messages"][0]
    assert again["Body"] == "new"
