"""Long polling (WaitTimeSeconds / ReceiveMessageWaitTimeSeconds) of AWS SQS.

All waits happen on trio's virtual clock: ``trio.current_time()`` tells exactly when a long
poll returned, so "returns as soon as" is checked as "returns at the same virtual instant".
"""

from __future__ import annotations

import pytest
import trio

from msgsim.broker import BrokerError

# A long poll that returns "at once" returns at the same virtual instant, up to float noise.
INSTANT = 0.01


async def make_queue(sqs, name="lp", **attributes):
    attrs = {key: str(value) for key, value in attributes.items()}
    return (await sqs.create_queue(QueueName=name, Attributes=attrs))["QueueUrl"]


async def receive(sqs, url, **kwargs):
    kwargs.setdefault("MessageSystemAttributeNames", ["All"])
    response = await sqs.receive_message(QueueUrl=url, **kwargs)
    return response.get("Messages", [])


async def timed_receive(sqs, url, **kwargs):
    """Receive, returning (messages, virtual time when the call returned)."""
    messages = await receive(sqs, url, **kwargs)
    return messages, trio.current_time()


async def expect_error(code, call, **kwargs):
    with pytest.raises(BrokerError) as info:
        await call(**kwargs)
    assert info.value.code == code, (info.value.code, info.value.message)
    return info.value


@pytest.mark.parametrize("wait", [-1, 21, 60])
async def test_wait_time_seconds_outside_0_to_20_is_rejected(autojump_clock, sqs, wait):
    """AWS: WaitTimeSeconds must be between 0 and 20 (InvalidParameterValue), and the
    queue attribute ReceiveMessageWaitTimeSeconds too (InvalidAttributeValue)."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    error = await expect_error(
        "InvalidParameterValue", sqs.receive_message, QueueUrl=url, WaitTimeSeconds=wait
    )
    assert "WaitTimeSeconds" in error.message
    await expect_error(
        "InvalidAttributeValue",
        sqs.set_queue_attributes,
        QueueUrl=url,
        Attributes={"ReceiveMessageWaitTimeSeconds": str(wait)},
    )
    # The rejected receive did not take the message.
    assert len(await receive(sqs, url)) == 1


@pytest.mark.parametrize("wait", [0, 1, 20])
async def test_wait_time_seconds_bounds_are_accepted(autojump_clock, sqs, wait):
    """AWS: 0..20 are valid WaitTimeSeconds; on an empty queue the call returns empty
    after exactly that long."""
    url = await make_queue(sqs)
    start = trio.current_time()
    response = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=wait)
    assert "Messages" not in response
    assert trio.current_time() - start == pytest.approx(wait, abs=INSTANT)


async def test_long_poll_returns_as_soon_as_a_message_is_sent(autojump_clock, sqs):
    """AWS: a long poll returns as soon as a message is available, not at the end of the wait."""
    url = await make_queue(sqs)
    got = {}

    async def poller():
        got["messages"], got["at"] = await timed_receive(sqs, url, WaitTimeSeconds=20)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller)
        await trio.sleep(7)
        sent_at = trio.current_time()
        sent = await sqs.send_message(QueueUrl=url, MessageBody="wake up")

    assert [m["MessageId"] for m in got["messages"]] == [sent["MessageId"]]
    assert got["at"] - sent_at == pytest.approx(0, abs=INSTANT)


async def test_long_poll_returns_when_a_message_delay_ends(autojump_clock, sqs):
    """AWS: a delayed message becomes available when its DelaySeconds end; a waiting long
    poll returns at that moment."""
    url = await make_queue(sqs)
    start = trio.current_time()
    sent = await sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=7)
    messages, at = await timed_receive(sqs, url, WaitTimeSeconds=20)
    assert [m["MessageId"] for m in messages] == [sent["MessageId"]]
    assert at - start == pytest.approx(7, abs=INSTANT)
    assert at - start >= 7 - 1e-9


async def test_long_poll_returns_when_queue_delay_ends(autojump_clock, sqs):
    """AWS: the queue's DelaySeconds hides new messages; a long poll returns when it ends."""
    url = await make_queue(sqs, DelaySeconds=12)
    start = trio.current_time()
    await sqs.send_message(QueueUrl=url, MessageBody="later")
    messages, at = await timed_receive(sqs, url, WaitTimeSeconds=20)
    assert len(messages) == 1
    assert at - start == pytest.approx(12, abs=INSTANT)


async def test_long_poll_returns_when_a_visibility_timeout_expires(autojump_clock, sqs):
    """AWS: when an in-flight message's visibility timeout expires it is available again;
    a waiting long poll returns it at the deadline."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="retry me")
    start = trio.current_time()
    first = await receive(sqs, url, VisibilityTimeout=9)
    messages, at = await timed_receive(sqs, url, WaitTimeSeconds=20)
    assert [m["MessageId"] for m in messages] == [first[0]["MessageId"]]
    assert messages[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert at - start == pytest.approx(9, abs=INSTANT)
    assert at - start >= 9 - 1e-9


async def test_long_poll_returns_when_visibility_is_changed_to_zero(autojump_clock, sqs):
    """AWS: ChangeMessageVisibility to 0 releases the message at once to a waiting long poll."""
    url = await make_queue(sqs)
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    first = (await receive(sqs, url))[0]
    got = {}

    async def poller():
        got["messages"], got["at"] = await timed_receive(sqs, url, WaitTimeSeconds=20)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller)
        await trio.sleep(3)
        released_at = trio.current_time()
        await sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
        )
    assert [m["MessageId"] for m in got["messages"]] == [first["MessageId"]]
    assert got["at"] - released_at == pytest.approx(0, abs=INSTANT)


async def test_long_poll_on_empty_queue_returns_empty_at_the_wait_time_and_not_before(
    autojump_clock, sqs
):
    """AWS: with no message, a long poll waits the full WaitTimeSeconds and returns no messages."""
    url = await make_queue(sqs)
    start = trio.current_time()
    done = trio.Event()
    result = {}

    async def poller():
        result["response"] = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=13)
        result["at"] = trio.current_time()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller)
        await trio.sleep(12.9)
        assert not done.is_set()
    assert result["response"].get("Messages", []) == []
    assert "Messages" not in result["response"]
    assert result["at"] - start == pytest.approx(13, abs=INSTANT)
    assert result["at"] - start >= 13 - 1e-9


async def test_long_poll_does_not_return_a_message_that_stays_delayed_past_the_wait(
    autojump_clock, sqs
):
    """AWS: a message still delayed when the wait ends is not returned."""
    url = await make_queue(sqs)
    start = trio.current_time()
    await sqs.send_message(QueueUrl=url, MessageBody="too late", DelaySeconds=30)
    messages, at = await timed_receive(sqs, url, WaitTimeSeconds=20)
    assert messages == []
    assert at - start == pytest.approx(20, abs=INSTANT)


async def test_receive_message_wait_time_seconds_is_the_queue_default(autojump_clock, sqs):
    """AWS: ReceiveMessageWaitTimeSeconds is the wait used when a receive gives no
    WaitTimeSeconds."""
    url = await make_queue(sqs, ReceiveMessageWaitTimeSeconds=12)
    start = trio.current_time()
    response = await sqs.receive_message(QueueUrl=url)
    assert "Messages" not in response
    assert trio.current_time() - start == pytest.approx(12, abs=INSTANT)

    got = {}

    async def poller():
        got["messages"], got["at"] = await timed_receive(sqs, url)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller)
        await trio.sleep(4)
        sent_at = trio.current_time()
        await sqs.send_message(QueueUrl=url, MessageBody="m")
    assert len(got["messages"]) == 1
    assert got["at"] - sent_at == pytest.approx(0, abs=INSTANT)


async def test_explicit_wait_time_overrides_the_queue_default(autojump_clock, sqs):
    """AWS: a WaitTimeSeconds on the request (including 0 = short poll) takes precedence
    over the queue's ReceiveMessageWaitTimeSeconds."""
    url = await make_queue(sqs, ReceiveMessageWaitTimeSeconds=20)
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ReceiveMessageWaitTimeSeconds"]
    )
    assert attrs["Attributes"]["ReceiveMessageWaitTimeSeconds"] == "20"
    start = trio.current_time()
    assert await receive(sqs, url, WaitTimeSeconds=0) == []
    assert trio.current_time() - start == pytest.approx(0, abs=INSTANT)
    assert await receive(sqs, url, WaitTimeSeconds=3) == []
    assert trio.current_time() - start == pytest.approx(3, abs=INSTANT)


async def test_many_concurrent_long_pollers_each_get_distinct_messages(autojump_clock, sqs):
    """AWS: a message is delivered to one waiting consumer at a time; concurrent long polls
    never share a message."""
    url = await make_queue(sqs)
    pollers = 25
    results = [None] * pollers

    async def poller(i):
        results[i] = await receive(sqs, url, WaitTimeSeconds=20, MaxNumberOfMessages=1)

    async with trio.open_nursery() as nursery:
        for i in range(pollers):
            nursery.start_soon(poller, i)
        await trio.sleep(1)
        sent_ids = []
        for i in range(pollers):
            sent_ids.append(
                (await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}"))["MessageId"]
            )
            if i % 5 == 4:
                await trio.sleep(0.5)

    assert all(len(r) == 1 for r in results), [len(r) for r in results]
    received_ids = [r[0]["MessageId"] for r in results]
    assert sorted(received_ids) == sorted(sent_ids)
    assert all(r[0]["Attributes"]["ApproximateReceiveCount"] == "1" for r in results)


async def test_concurrent_batch_long_pollers_share_a_burst_without_duplicates(autojump_clock, sqs):
    """AWS: several long polls with MaxNumberOfMessages=10 split a burst of sends between
    them; each message goes to exactly one poller."""
    url = await make_queue(sqs)
    received = []

    async def poller():
        received.extend(await receive(sqs, url, WaitTimeSeconds=20, MaxNumberOfMessages=10))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(poller)
        await trio.sleep(2)
        sent_ids = []
        for batch in range(5):
            entries = [{"Id": f"e{i}", "MessageBody": f"b{batch}-{i}"} for i in range(10)]
            response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
            sent_ids.extend(e["MessageId"] for e in response["Successful"])

    ids = [m["MessageId"] for m in received]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(sent_ids)
    leftovers = []
    while batch_ := await receive(sqs, url, MaxNumberOfMessages=10):
        leftovers.extend(batch_)
    assert sorted(ids + [m["MessageId"] for m in leftovers]) == sorted(sent_ids)


async def test_cancelled_long_poll_loses_nothing(autojump_clock, sqs):
    """AWS semantics a client relies on: a receive that never returned did not consume a
    message; another receiver gets it next with ApproximateReceiveCount 1."""
    url = await make_queue(sqs)
    with trio.move_on_after(5) as scope:
        await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    assert scope.cancelled_caught
    sent = await sqs.send_message(QueueUrl=url, MessageBody="after cancel")
    messages = await receive(sqs, url)
    assert [m["MessageId"] for m in messages] == [sent["MessageId"]]
    assert messages[0]["Attributes"]["ApproximateReceiveCount"] == "1"


async def test_long_poll_cancelled_just_as_a_message_arrives_loses_nothing(autojump_clock, sqs):
    """A long poll cancelled at the instant a message is sent either returns it or leaves it
    untouched (never half-received): whatever the poll did not return is received next by
    another receiver with ApproximateReceiveCount 1."""
    url = await make_queue(sqs)
    returned = []
    scopes = []

    async def poller(deadline):
        with trio.move_on_after(deadline) as scope:
            scopes.append(scope)
            returned.extend(await receive(sqs, url, WaitTimeSeconds=20, MaxNumberOfMessages=10))

    sent_ids = []
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(poller, 5)
        await trio.sleep(5)  # same virtual instant as the pollers' deadlines
        for i in range(5):
            sent_ids.append(
                (await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}"))["MessageId"]
            )

        # And a poller whose scope is cancelled right after a send, with no checkpoint between.
        nursery.start_soon(poller, 100)
        await trio.sleep(1)
        sent_ids.append((await sqs.send_message(QueueUrl=url, MessageBody="last"))["MessageId"])
        scopes[-1].cancel()

    later = []
    while batch := await receive(sqs, url, MaxNumberOfMessages=10):
        later.extend(batch)
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in returned + later)
    all_ids = [m["MessageId"] for m in returned + later]
    assert sorted(all_ids) == sorted(sent_ids)


async def test_two_long_polls_woken_by_one_send_both_stay_listening(autojump_clock, sqs):
    """AWS: a long poll returns as soon as a message is available. Two polls wait on one queue;
    one send wakes both and only one can have the message: the other keeps waiting and gets the
    next message the moment it is sent, not when its 20 s wait ends."""
    url = await make_queue(sqs)
    got: list[tuple[float, str]] = []

    async def poll():
        r = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        got.append((trio.current_time(), r["Messages"][0]["Body"]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        nursery.start_soon(poll)
        await trio.sleep(1)
        await sqs.send_message(QueueUrl=url, MessageBody="first")
        await trio.sleep(2)
        await sqs.send_message(QueueUrl=url, MessageBody="second")
    assert got == [(1.0, "first"), (3.0, "second")]
