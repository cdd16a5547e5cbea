"""Delivery guarantees of standard queues.

By default msgsim delivers exactly once, in send order, so tests are easy to reason about.
``Broker.open(at_least_once=True)`` turns on what AWS documents for standard queues, driven
by the seeded RNG: occasional duplicate deliveries ("at-least-once"), best-effort ordering,
and short polls that sample a subset of servers (fewer messages than available). The same
seed reproduces the same run.
"""

from __future__ import annotations

import trio
import trio.testing

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker

N_MESSAGES = 1000


async def send_numbered(sqs, url, count):
    """Send bodies "0".."count-1" in order (batches of 10); returns MessageIds in send order."""
    ids = []
    for start in range(0, count, 10):
        entries = [
            {"Id": f"e{i}", "MessageBody": str(i)} for i in range(start, min(start + 10, count))
        ]
        response = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert response.get("Failed", []) == []
        by_entry = {e["Id"]: e["MessageId"] for e in response["Successful"]}
        ids.extend(by_entry[e["Id"]] for e in entries)
    return ids


async def consume_all(sqs, url, sent_ids, settle=120.0, max_polls=20_000):
    """A consumer that short-polls batches of 10 and deletes everything it gets, until it has
    seen every sent message and then for `settle` more virtual seconds (late duplicates).

    Returns (deliveries, short_polls) where deliveries is the list of
    (MessageId, ReceiptHandle, Body) in delivery order and short_polls counts polls that
    returned fewer than 10 messages while at least 10 never-received messages were waiting.
    """
    unseen = set(sent_ids)
    deliveries = []
    short_polls = 0
    settle_until = None
    for _ in range(max_polls):
        if not unseen:
            if settle_until is None:
                settle_until = trio.current_time() + settle
            elif trio.current_time() >= settle_until:
                break
        waiting = len(unseen)
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = response.get("Messages", [])
        if len(messages) < 10 and waiting >= 10:
            short_polls += 1
        for m in messages:
            deliveries.append((m["MessageId"], m["ReceiptHandle"], m["Body"]))
            unseen.discard(m["MessageId"])
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        await trio.sleep(0.5)
    return deliveries, short_polls, unseen


async def at_least_once_run(seed, count=N_MESSAGES):
    async with Broker.open(seed=seed, at_least_once=True) as broker:
        sqs = InProcessClient(broker).client("sqs")
        url = (await sqs.create_queue(QueueName="work"))["QueueUrl"]
        sent_ids = await send_numbered(sqs, url, count)
        deliveries, short_polls, unseen = await consume_all(sqs, url, sent_ids)
        return sent_ids, deliveries, short_polls, unseen


def run_on_fresh_virtual_clock(seed):
    """One complete run in its own trio.run on a fresh autojump clock, so two runs see the
    same clock readings."""
    return trio.run(at_least_once_run, seed, clock=trio.testing.MockClock(autojump_threshold=0))


# ------------------------------------------------------------------- default: exact


async def test_default_mode_delivers_each_message_exactly_once_in_send_order(autojump_clock, sqs):
    """msgsim default (a stricter subset of AWS's standard-queue contract): 1,000 messages are
    delivered once each, in send order, and a short poll returns all it may (10 at a time)."""
    url = (await sqs.create_queue(QueueName="exact"))["QueueUrl"]
    sent_ids = await send_numbered(sqs, url, N_MESSAGES)
    bodies = []
    ids = []
    while messages := (
        await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    ).get("Messages", []):
        assert len(messages) == min(10, N_MESSAGES - len(bodies))
        for m in messages:
            bodies.append(m["Body"])
            ids.append(m["MessageId"])
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == [str(i) for i in range(N_MESSAGES)]
    assert ids == sent_ids
    await trio.sleep(120)  # well past any visibility timeout: nothing comes back
    assert "Messages" not in await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)


async def test_default_mode_returned_messages_reenter_in_send_order(autojump_clock, sqs):
    """msgsim default: messages whose visibility lapsed are delivered again ordered by send."""
    url = (await sqs.create_queue(QueueName="exact"))["QueueUrl"]
    await send_numbered(sqs, url, 30)
    first = (await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=5))[
        "Messages"
    ]
    assert [m["Body"] for m in first] == [str(i) for i in range(10)]
    await trio.sleep(6)
    again = (await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10))["Messages"]
    assert [m["Body"] for m in again] == [str(i) for i in range(10)]


# -------------------------------------------------------------- at_least_once=True


async def test_at_least_once_mode_duplicates_or_reorders_and_short_polls_sample(
    autojump_clock,
):
    """AWS: standard queues deliver at least once (occasional duplicates), in best-effort
    order, and a short poll samples a subset of servers so it may return fewer messages
    than are available. Over 1,000 messages all of these show up."""
    sent_ids, deliveries, short_polls, unseen = await at_least_once_run(seed=7)
    assert len(sent_ids) == N_MESSAGES
    first_seen = []
    seen = set()
    for message_id, _handle, body in deliveries:
        if message_id not in seen:
            seen.add(message_id)
            first_seen.append(int(body))
    duplicates = len(deliveries) - len(seen)
    reordered = first_seen != sorted(first_seen)
    assert duplicates > 0 or reordered, (duplicates, reordered)
    assert short_polls > 0
    assert unseen == set()


async def test_at_least_once_consumer_that_deletes_everything_still_sees_every_message(
    autojump_clock,
):
    """AWS: at-least-once means nothing is lost: a consumer that deletes whatever it receives
    (duplicates included) eventually receives every message that was sent."""
    for seed in (1, 2, 3):
        sent_ids, deliveries, _short, unseen = await at_least_once_run(seed=seed, count=500)
        assert unseen == set()
        assert {d[0] for d in deliveries} == set(sent_ids)
        # Every delivery is of a message that was sent, with its own body.
        body_of = {mid: str(i) for i, mid in enumerate(sent_ids)}
        assert all(body_of[mid] == body for mid, _h, body in deliveries)


def test_same_seed_reproduces_exactly_the_same_deliveries():
    """msgsim determinism: the same seed and the same calls on the same virtual clock give the
    same sequence of (MessageId, ReceiptHandle) deliveries; another seed gives another."""
    first = run_on_fresh_virtual_clock(11)
    second = run_on_fresh_virtual_clock(11)
    other = run_on_fresh_virtual_clock(12)
    pairs = [(mid, handle) for mid, handle, _body in first[1]]
    assert pairs == [(mid, handle) for mid, handle, _body in second[1]]
    assert first[0] == second[0]
    assert first[2] == second[2]
    assert pairs != [(mid, handle) for mid, handle, _body in other[1]]
