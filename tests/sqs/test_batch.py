"""SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch through the boto3-shaped
client, on the virtual clock.

Each test states the AWS behaviour it checks (AWS SQS API reference / developer guide).

Every test names ``autojump_clock`` itself: pytest-trio hands trio.run only a clock that is one of
the test function's own arguments, not one that a fixture (``broker``) depends on.
"""

from __future__ import annotations

import hashlib

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqs_helpers import counts

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError

BATCH_OPERATIONS = ["send_message_batch", "delete_message_batch", "change_message_visibility_batch"]


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


async def make_queue(sqs, name: str = "q", **attributes: str) -> str:
    return (await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]


async def receive(sqs, url: str, n: int = 10, **kwargs) -> list[dict]:
    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, **kwargs)
    return r.get("Messages", [])


async def inflight_handles(sqs, url: str, n: int) -> list[str]:
    """Send n messages and receive them all; returns their receipt handles in send order."""
    await sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": f"s{i}", "MessageBody": f"m{i}"} for i in range(n)]
    )
    msgs = await receive(sqs, url, n)
    assert [m["Body"] for m in msgs] == [f"m{i}" for i in range(n)]
    return [m["ReceiptHandle"] for m in msgs]


def entries_for(operation: str, ids: list[str], handle: str = "AQEBhandle") -> list[dict]:
    if operation == "send_message_batch":
        return [{"Id": i, "MessageBody": "x"} for i in ids]
    if operation == "delete_message_batch":
        return [{"Id": i, "ReceiptHandle": handle} for i in ids]
    return [{"Id": i, "ReceiptHandle": handle, "VisibilityTimeout": 0} for i in ids]


def failed(r: dict) -> list[dict]:
    return r.get("Failed", [])


def successful(r: dict) -> list[dict]:
    return r.get("Successful", [])


# --- request-level validation, shared by the three batch operations -------------------------------


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
async def test_empty_batch_is_empty_batch_request(autojump_clock, sqs, operation):
    """AWS: a batch with no entries fails with EmptyBatchRequest."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await getattr(sqs, operation)(QueueUrl=url, Entries=[])
    assert e.value.code == "EmptyBatchRequest"
    assert await counts(sqs, url) == (0, 0, 0)


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
async def test_eleven_entries_is_too_many_entries_in_batch_request(autojump_clock, sqs, operation):
    """AWS: a batch holds at most 10 entries; 11 fail the whole request with
    TooManyEntriesInBatchRequest and nothing is done."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await getattr(sqs, operation)(
            QueueUrl=url, Entries=entries_for(operation, [f"e{i}" for i in range(11)])
        )
    assert e.value.code == "TooManyEntriesInBatchRequest"
    assert await counts(sqs, url) == (0, 0, 0)


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
async def test_repeated_entry_id_is_batch_entry_ids_not_distinct(autojump_clock, sqs, operation):
    """AWS: entry Ids must be unique within a request (BatchEntryIdsNotDistinct); nothing is
    done."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await getattr(sqs, operation)(QueueUrl=url, Entries=entries_for(operation, ["a", "b", "a"]))
    assert e.value.code == "BatchEntryIdsNotDistinct"
    assert await counts(sqs, url) == (0, 0, 0)


@pytest.mark.parametrize("operation", BATCH_OPERATIONS)
@pytest.mark.parametrize("bad_id", ["x" * 81, "has space", "dot.id", "star*", "caf\u00e9"])
async def test_malformed_entry_id_is_invalid_batch_entry_id(autojump_clock, sqs, operation, bad_id):
    """AWS: an entry Id is up to 80 characters of [A-Za-z0-9_-]; otherwise the request fails with
    InvalidBatchEntryId and nothing is done."""
    url = await make_queue(sqs)
    with pytest.raises(BrokerError) as e:
        await getattr(sqs, operation)(QueueUrl=url, Entries=entries_for(operation, ["ok", bad_id]))
    assert e.value.code == "InvalidBatchEntryId"
    assert await counts(sqs, url) == (0, 0, 0)


async def test_entry_ids_of_80_allowed_characters_are_accepted(autojump_clock, sqs):
    """AWS: Ids of up to 80 alphanumerics, hyphens and underscores are valid, and each result
    entry echoes its Id."""
    url = await make_queue(sqs)
    ids = ["x" * 80, "A-b_9", "0"]
    r = await sqs.send_message_batch(QueueUrl=url, Entries=entries_for("send_message_batch", ids))
    assert sorted(e["Id"] for e in successful(r)) == sorted(ids)
    assert failed(r) == []


# --- SendMessageBatch -----------------------------------------------------------------------------


async def test_send_batch_of_ten_succeeds_and_messages_arrive_in_order(autojump_clock, sqs):
    """AWS: up to 10 entries; each Successful entry has Id, MessageId and MD5OfMessageBody, and the
    messages are enqueued (msgsim's default exact mode delivers them in request order)."""
    url = await make_queue(sqs)
    entries = [{"Id": f"e{i}", "MessageBody": f"body {i}"} for i in range(10)]
    r = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert failed(r) == []
    ok = {e["Id"]: e for e in successful(r)}
    assert set(ok) == {f"e{i}" for i in range(10)}
    for i in range(10):
        assert ok[f"e{i}"]["MD5OfMessageBody"] == md5_of_body(f"body {i}")
    assert len({e["MessageId"] for e in ok.values()}) == 10

    msgs = await receive(sqs, url)
    assert [m["Body"] for m in msgs] == [f"body {i}" for i in range(10)]
    assert [m["MessageId"] for m in msgs] == [ok[f"e{i}"]["MessageId"] for i in range(10)]


async def test_send_batch_entry_attributes_and_delay(autojump_clock, sqs):
    """AWS: each entry may carry its own MessageAttributes (with MD5OfMessageAttributes in the
    result) and DelaySeconds."""
    url = await make_queue(sqs)
    attrs = {"k": {"DataType": "String", "StringValue": "v"}}
    r = await sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "now", "MessageBody": "a", "MessageAttributes": attrs},
            {"Id": "later", "MessageBody": "b", "DelaySeconds": 30},
        ],
    )
    ok = {e["Id"]: e for e in successful(r)}
    assert "MD5OfMessageAttributes" in ok["now"]
    assert "MD5OfMessageAttributes" not in ok["later"]
    assert await counts(sqs, url) == (1, 0, 1)
    [m] = await receive(sqs, url, MessageAttributeNames=["All"])
    assert m["MessageAttributes"]["k"]["StringValue"] == "v"
    assert m["MD5OfMessageAttributes"] == ok["now"]["MD5OfMessageAttributes"]
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    await trio.sleep(31)
    assert [m["Body"] for m in await receive(sqs, url)] == ["b"]


async def test_send_batch_reports_bad_entries_in_failed_and_sends_the_rest(autojump_clock, sqs):
    """AWS: a batch answers per entry; an entry with an invalid body or delay is listed in Failed
    with Id, SenderFault, Code and Message while the valid entries are sent."""
    url = await make_queue(sqs)
    r = await sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "good1", "MessageBody": "fine"},
            {"Id": "nul", "MessageBody": "bad\x00body"},
            {"Id": "good2", "MessageBody": "also fine"},
            {"Id": "delay", "MessageBody": "x", "DelaySeconds": 901},
        ],
    )
    assert sorted(e["Id"] for e in successful(r)) == ["good1", "good2"]
    fails = {f["Id"]: f for f in failed(r)}
    assert set(fails) == {"nul", "delay"}
    for f in fails.values():
        assert set(f) >= {"Id", "SenderFault", "Code", "Message"}
        assert f["SenderFault"] is True
        assert isinstance(f["Message"], str) and f["Message"]
    assert fails["nul"]["Code"] == "InvalidMessageContents"
    assert fails["delay"]["Code"] == "InvalidParameterValue"
    assert [m["Body"] for m in await receive(sqs, url)] == ["fine", "also fine"]


async def test_send_batch_where_every_entry_fails_still_answers(autojump_clock, sqs):
    """AWS: even when every entry fails the request itself succeeds with an all-Failed answer."""
    url = await make_queue(sqs)
    r = await sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "\x01"}, {"Id": "b", "MessageBody": "\ufffe"}],
    )
    assert successful(r) == []
    assert sorted(f["Id"] for f in failed(r)) == ["a", "b"]
    assert await counts(sqs, url) == (0, 0, 0)


async def test_batch_total_exactly_at_maximum_message_size_is_accepted(autojump_clock, sqs):
    """AWS: the sum of all entries may equal the maximum message size (default 262,144 bytes in
    msgsim)."""
    url = await make_queue(sqs)
    entries = [{"Id": f"e{i}", "MessageBody": "x" * 32_768} for i in range(8)]  # 8 * 32 KiB
    r = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(successful(r)) == 8
    assert failed(r) == []


async def test_batch_total_over_maximum_message_size_is_batch_request_too_long(autojump_clock, sqs):
    """AWS: when all entries together exceed the maximum message size the whole request fails with
    BatchRequestTooLong, even though each entry alone is small enough; nothing is sent."""
    url = await make_queue(sqs)
    entries = [{"Id": f"e{i}", "MessageBody": "x" * 32_768} for i in range(8)]
    entries[-1]["MessageBody"] += "x"  # 262,145 bytes in total
    with pytest.raises(BrokerError) as e:
        await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert e.value.code == "BatchRequestTooLong"
    assert await counts(sqs, url) == (0, 0, 0)


async def test_batch_size_counts_attributes_too(autojump_clock, sqs):
    """AWS: message attributes count towards the batch total just as towards one message."""
    url = await make_queue(sqs)
    attrs = {"k": {"DataType": "String", "StringValue": "v"}}  # 1 + 6 + 1 = 8 bytes
    entries = [{"Id": f"e{i}", "MessageBody": "x" * 32_768} for i in range(8)]
    entries[0]["MessageBody"] = "x" * (32_768 - 8)
    entries[0]["MessageAttributes"] = attrs
    r = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(successful(r)) == 8
    entries[0]["MessageBody"] += "x"
    with pytest.raises(BrokerError) as e:
        await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert e.value.code == "BatchRequestTooLong"
    assert await counts(sqs, url) == (8, 0, 0)


async def test_batch_limit_follows_a_raised_maximum_message_size(autojump_clock, sqs):
    """AWS: with MaximumMessageSize raised to 1 MiB a batch totalling more than 256 KiB (but not
    more than 1 MiB) is accepted."""
    url = await make_queue(sqs, MaximumMessageSize="1048576")
    entries = [{"Id": f"e{i}", "MessageBody": "x" * 100_000} for i in range(10)]
    r = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(successful(r)) == 10
    entries[0]["MessageBody"] = "x" * 100_000 + "x" * 48_577  # 1,048,577 in total
    with pytest.raises(BrokerError) as e:
        await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert e.value.code == "BatchRequestTooLong"


async def test_send_batch_entry_without_body_is_refused(autojump_clock, sqs):
    """AWS: MessageBody is required in each SendMessageBatch entry."""
    url = await make_queue(sqs)
    try:
        r = await sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "ok", "MessageBody": "x"}, {"Id": "nobody"}]
        )
    except BrokerError as e:
        assert e.code == "MissingParameter"
        assert await counts(sqs, url) == (0, 0, 0)
    else:
        assert [f["Id"] for f in failed(r)] == ["nobody"]
        assert failed(r)[0]["Code"] == "MissingParameter"
        assert await counts(sqs, url) == (1, 0, 0)


# --- DeleteMessageBatch ---------------------------------------------------------------------------


async def test_delete_batch_deletes_every_entry(autojump_clock, sqs):
    """AWS: DeleteMessageBatch deletes each message by receipt handle; Successful lists the Ids."""
    url = await make_queue(sqs, VisibilityTimeout="30")
    handles = await inflight_handles(sqs, url, 5)
    r = await sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(handles)]
    )
    assert sorted(e["Id"] for e in successful(r)) == [f"d{i}" for i in range(5)]
    assert failed(r) == []
    assert await counts(sqs, url) == (0, 0, 0)
    await trio.sleep(31)
    assert await receive(sqs, url) == []


async def test_delete_batch_with_one_bad_handle_fails_only_that_entry(autojump_clock, sqs):
    """AWS: a garbage receipt handle fails its own entry with ReceiptHandleIsInvalid (SenderFault
    true); the other entries are deleted."""
    url = await make_queue(sqs, VisibilityTimeout="30")
    handles = await inflight_handles(sqs, url, 3)
    r = await sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "first", "ReceiptHandle": handles[0]},
            {"Id": "junk", "ReceiptHandle": "this-is-not-a-receipt-handle"},
            {"Id": "third", "ReceiptHandle": handles[2]},
        ],
    )
    assert sorted(e["Id"] for e in successful(r)) == ["first", "third"]
    [f] = failed(r)
    assert f["Id"] == "junk"
    assert f["Code"] == "ReceiptHandleIsInvalid"
    assert f["SenderFault"] is True
    assert f["Message"]
    # The un-deleted message (m1) is still in flight and comes back after its timeout.
    assert await counts(sqs, url) == (0, 1, 0)
    await trio.sleep(31)
    assert [m["Body"] for m in await receive(sqs, url)] == ["m1"]


async def test_delete_batch_with_handle_from_another_queue_fails_that_entry(autojump_clock, sqs):
    """AWS: a receipt handle from a different queue is ReceiptHandleIsInvalid."""
    url = await make_queue(sqs, "a")
    other = await make_queue(sqs, "b")
    [mine] = await inflight_handles(sqs, url, 1)
    [theirs] = await inflight_handles(sqs, other, 1)
    r = await sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "mine", "ReceiptHandle": mine}, {"Id": "theirs", "ReceiptHandle": theirs}],
    )
    assert [e["Id"] for e in successful(r)] == ["mine"]
    assert [(f["Id"], f["Code"]) for f in failed(r)] == [("theirs", "ReceiptHandleIsInvalid")]
    assert await counts(sqs, other) == (0, 1, 0)


async def test_delete_batch_of_already_deleted_message_succeeds(autojump_clock, sqs):
    """AWS: deleting an already deleted message with its handle succeeds."""
    url = await make_queue(sqs)
    [h] = await inflight_handles(sqs, url, 1)
    await sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
    r = await sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "again", "ReceiptHandle": h}])
    assert [e["Id"] for e in successful(r)] == ["again"]
    assert failed(r) == []


# --- ChangeMessageVisibilityBatch -----------------------------------------------------------------


async def test_change_visibility_batch_sets_each_entrys_timeout(autojump_clock, sqs):
    """AWS: each entry sets its message's visibility timeout from now: 0 releases the message at
    once, a larger value keeps it hidden that long."""
    url = await make_queue(sqs, VisibilityTimeout="30")
    handles = await inflight_handles(sqs, url, 3)
    r = await sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "release", "ReceiptHandle": handles[0], "VisibilityTimeout": 0},
            {"Id": "extend", "ReceiptHandle": handles[1], "VisibilityTimeout": 100},
        ],
    )
    assert sorted(e["Id"] for e in successful(r)) == ["extend", "release"]
    assert failed(r) == []
    assert await counts(sqs, url) == (1, 2, 0)
    assert [m["Body"] for m in await receive(sqs, url, VisibilityTimeout=1000)] == ["m0"]
    await trio.sleep(31)  # m2 keeps the queue default of 30 s
    assert [m["Body"] for m in await receive(sqs, url, VisibilityTimeout=1000)] == ["m2"]
    await trio.sleep(70)  # t = 101: m1's 100 s are over
    assert [m["Body"] for m in await receive(sqs, url, VisibilityTimeout=1000)] == ["m1"]


async def test_change_visibility_batch_with_bad_entries_fails_only_those(autojump_clock, sqs):
    """AWS: an entry with a garbage handle (ReceiptHandleIsInvalid) or a timeout above 43,200 s
    (InvalidParameterValue) fails alone; the other entries are applied."""
    url = await make_queue(sqs, VisibilityTimeout="30")
    handles = await inflight_handles(sqs, url, 2)
    r = await sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "good", "ReceiptHandle": handles[0], "VisibilityTimeout": 0},
            {"Id": "junk", "ReceiptHandle": "garbage", "VisibilityTimeout": 0},
            {"Id": "toolong", "ReceiptHandle": handles[1], "VisibilityTimeout": 43_201},
        ],
    )
    assert [e["Id"] for e in successful(r)] == ["good"]
    fails = {f["Id"]: f for f in failed(r)}
    assert set(fails) == {"junk", "toolong"}
    assert fails["junk"]["Code"] == "ReceiptHandleIsInvalid"
    assert fails["toolong"]["Code"] == "InvalidParameterValue"
    assert all(f["SenderFault"] is True for f in fails.values())
    # m0 was released; m1 kept its original 30 s timeout.
    assert await counts(sqs, url) == (1, 1, 0)
    await trio.sleep(31)
    assert await counts(sqs, url) == (2, 0, 0)


async def test_change_visibility_batch_on_message_no_longer_in_flight(autojump_clock, sqs):
    """AWS: changing the visibility of a message that is no longer in flight (its timeout lapsed)
    with its newest handle fails that entry with MessageNotInflight."""
    url = await make_queue(sqs, VisibilityTimeout="10")
    [h] = await inflight_handles(sqs, url, 1)
    await trio.sleep(11)
    r = await sqs.change_message_visibility_batch(
        QueueUrl=url, Entries=[{"Id": "late", "ReceiptHandle": h, "VisibilityTimeout": 60}]
    )
    assert successful(r) == []
    assert [(f["Id"], f["Code"]) for f in failed(r)] == [("late", "MessageNotInflight")]
    assert await counts(sqs, url) == (1, 0, 0)


# -- the plain-batch fast path answers exactly as the general path --------------------------

_plain_bodies = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    # All of ASCII: tab, LF, CR and DEL are allowed, the other control characters are not.
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12),
    st.text(max_size=8),  # non-ASCII, control and forbidden characters take the general path
    st.just("x" * 300_000),  # alone over the 256 KiB limit
    st.just("y" * 30_000),  # ten of these exceed the batch limit together
    st.just("z" * 5_000),  # over the size where the digest is taken another way
    st.sampled_from([7, None, b"bytes"]),  # not text at all
)


# Entry ids: mostly valid and distinct, sometimes repeated, too long or with forbidden characters.
_entry_ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True),
    st.sampled_from(["e0", "x" * 80, "x" * 81, "", "a.b", "\u00e9", "\u0661", 3, None]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(
        st.lists(st.tuples(_entry_ids, _plain_bodies), min_size=0, max_size=11),
        min_size=1,
        max_size=4,
    )
)
def test_plain_batches_answer_as_the_general_path(batches):
    """SendMessageBatch of bare Id+MessageBody entries (served by a one-pass fast path) gives the
    same Successful/Failed entries, errors, message ids and queue contents as the same batch sent
    with an explicit DelaySeconds=0 on each entry (served entry by entry), for the same seed:
    also for empty and 11-entry batches, repeated or malformed ids and forbidden characters."""

    async def run(extra: dict) -> list:
        transcript: list = []
        async with Broker.open(seed=7) as b:
            sqs = InProcessClient(b).client("sqs")
            url = await make_queue(sqs)
            for bodies in batches:
                entries = [{"Id": i, "MessageBody": body, **extra} for i, body in bodies]
                try:
                    transcript.append(await sqs.send_message_batch(QueueUrl=url, Entries=entries))
                except BrokerError as err:
                    transcript.append(err.code)
            while got := await receive(sqs, url, VisibilityTimeout=900):
                transcript.append(sorted((m["MessageId"], m["Body"]) for m in got))
        return transcript

    async def both() -> None:
        assert await run({}) == await run({"DelaySeconds": 0})

    trio.run(both, clock=trio.testing.MockClock(autojump_threshold=0))
