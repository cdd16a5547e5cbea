"""Publish and PublishBatch: fanout to SQS, the notification envelope, raw delivery, filter
policies, FIFO topics, the outbox and dead-letter queues.

Each test names the AWS behaviour it checks (Amazon SNS developer guide / API reference).
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import trio
from sns_helpers import drain, make_queue, make_topic, notifications, subscribe_queue

from msgsim.broker import BrokerError


async def test_publish_fans_out_to_every_subscribed_queue_in_the_envelope(sns, sqs):
    arn = await make_topic(sns, "orders")
    queues = [await subscribe_queue(sns, sqs, arn, f"q{i}") for i in range(3)]
    r = await sns.publish(
        TopicArn=arn,
        Message="hello",
        Subject="greeting",
        MessageAttributes={
            "store": {"DataType": "String", "StringValue": "example_corp"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    for url, sub in queues:
        [env] = await notifications(sqs, url)
        assert env["Type"] == "Notification"
        assert env["MessageId"] == r["MessageId"]
        assert env["TopicArn"] == arn
        assert env["Subject"] == "greeting"
        assert env["Message"] == "hello"
        assert env["Timestamp"] == "2025-01-01T00:00:00.000Z"
        assert env["SignatureVersion"] == "1"
        assert len(base64.b64decode(env["Signature"])) == 256
        assert env["SigningCertURL"].startswith("https://sns.us-east-1.amazonaws.com/")
        assert env["UnsubscribeURL"].endswith("SubscriptionArn=" + sub)
        assert env["MessageAttributes"] == {
            "store": {"Type": "String", "Value": "example_corp"},
            "blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01").decode()},
        }


async def test_envelope_omits_subject_when_none_was_given(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn)
    await sns.publish(TopicArn=arn, Message="m")
    [env] = await notifications(sqs, url)
    assert "Subject" not in env and "MessageAttributes" not in env


async def test_raw_delivery_sends_the_bare_message_with_sqs_message_attributes(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn, RawMessageDelivery="true")
    await sns.publish(
        TopicArn=arn,
        Message='{"id": 1}',
        MessageAttributes={"n": {"DataType": "Number", "StringValue": "42"}},
    )
    [m] = await drain(sqs, url, attributes=True)
    assert m["Body"] == '{"id": 1}'
    assert m["MessageAttributes"] == {"n": {"DataType": "Number", "StringValue": "42"}}
    assert m["MD5OfBody"] == hashlib.md5(b'{"id": 1}').hexdigest()


async def test_message_structure_json_sends_each_protocol_its_own_text(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn)
    await sns.subscribe(TopicArn=arn, Protocol="sms", Endpoint="+15555550100")
    text = json.dumps({"default": "plain", "sqs": "for queues"})
    await sns.publish(TopicArn=arn, Message=text, MessageStructure="json")
    [env] = await notifications(sqs, url)
    assert env["Message"] == "for queues"
    [sms] = (await sns.list_outbox(Protocol="sms"))["Messages"]
    assert sms["Body"] == "plain"


@pytest.mark.parametrize(
    "message,reason",
    [("not json", "failed to parse"), ('{"sqs": "x"}', "No default entry"), ("[1]", "parse")],
)
async def test_message_structure_json_needs_a_json_object_with_default(sns, message, reason):
    arn = await make_topic(sns)
    with pytest.raises(BrokerError) as e:
        await sns.publish(TopicArn=arn, Message=message, MessageStructure="json")
    assert e.value.code == "InvalidParameter"
    assert reason in e.value.message


@pytest.mark.parametrize("subject", ["", "x" * 100, "line\nbreak", " leading space", "ünï"])
async def test_subject_is_short_printable_ascii(sns, subject):
    arn = await make_topic(sns)
    with pytest.raises(BrokerError) as e:
        await sns.publish(TopicArn=arn, Message="m", Subject=subject)
    assert e.value.code == "InvalidParameter"


async def test_messages_over_256_kib_including_attributes_are_rejected(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn, RawMessageDelivery="true")
    await sns.publish(TopicArn=arn, Message="x" * 262_144)
    with pytest.raises(BrokerError) as e:
        await sns.publish(
            TopicArn=arn,
            Message="x" * 262_140,
            MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
        )
    assert e.value.code == "InvalidParameter"
    assert len(await drain(sqs, url)) == 1


async def test_empty_and_missing_messages_are_invalid(sns):
    arn = await make_topic(sns)
    for kwargs in ({"Message": ""}, {}):
        with pytest.raises(BrokerError) as e:
            await sns.publish(TopicArn=arn, **kwargs)
        assert e.value.code == "InvalidParameter"


@pytest.mark.parametrize(
    "attr",
    [
        {"DataType": "Number", "StringValue": "abc"},
        {"DataType": "String", "StringValue": ""},
        {"DataType": "Decimal", "StringValue": "1"},
        {"DataType": "String.Array", "StringValue": "not an array"},
        {"DataType": "Binary", "StringValue": "x"},
    ],
)
async def test_bad_message_attributes_are_parameter_value_invalid(sns, attr):
    arn = await make_topic(sns)
    with pytest.raises(BrokerError) as e:
        await sns.publish(TopicArn=arn, Message="m", MessageAttributes={"a": attr})
    assert e.value.code == "ParameterValueInvalid"


async def test_target_arn_publishes_to_a_topic_and_phone_number_sends_an_sms(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn)
    await sns.publish(TargetArn=arn, Message="via target")
    assert [e["Message"] for e in await notifications(sqs, url)] == ["via target"]
    r = await sns.publish(PhoneNumber="+15555550123", Message="code 1234")
    [sms] = (await sns.list_outbox(Endpoint="+15555550123"))["Messages"]
    assert sms["Body"] == "code 1234" and sms["MessageId"] == r["MessageId"]
    with pytest.raises(BrokerError):
        await sns.publish(TopicArn=arn, TargetArn=arn, Message="both")


# ---------------------------------------------------------------------------- filtering
async def test_filter_policies_route_each_message_to_matching_subscriptions(sns, sqs):
    arn = await make_topic(sns)
    orders, _ = await subscribe_queue(sns, sqs, arn, "orders", FilterPolicy='{"kind": ["order"]}')
    big, _ = await subscribe_queue(
        sns, sqs, arn, "big", FilterPolicy='{"amount": [{"numeric": [">=", 100]}]}'
    )
    everything, _ = await subscribe_queue(sns, sqs, arn, "all")

    def attrs(kind: str, amount: int) -> dict:
        return {
            "kind": {"DataType": "String", "StringValue": kind},
            "amount": {"DataType": "Number", "StringValue": str(amount)},
        }

    await sns.publish(TopicArn=arn, Message="o-small", MessageAttributes=attrs("order", 5))
    await sns.publish(TopicArn=arn, Message="r-big", MessageAttributes=attrs("refund", 500))
    await sns.publish(TopicArn=arn, Message="none")
    got = {}
    for name, url in [("orders", orders), ("big", big), ("all", everything)]:
        got[name] = [e["Message"] for e in await notifications(sqs, url)]
    assert got == {"orders": ["o-small"], "big": ["r-big"], "all": ["o-small", "r-big", "none"]}


async def test_message_body_scope_filters_on_nested_json_keys(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(
        sns,
        sqs,
        arn,
        FilterPolicy='{"order": {"status": ["paid"]}}',
        FilterPolicyScope="MessageBody",
    )
    await sns.publish(TopicArn=arn, Message='{"order": {"status": "paid", "id": 1}}')
    await sns.publish(TopicArn=arn, Message='{"order": {"status": "open", "id": 2}}')
    await sns.publish(TopicArn=arn, Message="not json at all")
    assert [json.loads(e["Message"])["order"]["id"] for e in await notifications(sqs, url)] == [1]


# ---------------------------------------------------------------------------- batch
async def test_publish_batch_publishes_each_entry_and_reports_failures(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn, RawMessageDelivery="true")
    r = await sns.publish_batch(
        TopicArn=arn,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"},
            {"Id": "b", "Message": ""},
            {"Id": "c", "Message": "three"},
        ],
    )
    assert [s["Id"] for s in r["Successful"]] == ["a", "c"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]] == [
        ("b", "InvalidParameter", True)
    ]
    assert [m["Body"] for m in await drain(sqs, url)] == ["one", "three"]


@pytest.mark.parametrize(
    "entries,code",
    [
        ([], "EmptyBatchRequest"),
        ([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "n"}], "BatchEntryIdsNotDistinct"),
        ([{"Id": "bad id!", "Message": "m"}], "InvalidBatchEntryId"),
        (
            [{"Id": str(i), "Message": "x" * 30_000} for i in range(10)],
            "BatchRequestTooLong",
        ),
    ],
)
async def test_publish_batch_request_errors_publish_nothing(sns, sqs, entries, code):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn)
    with pytest.raises(BrokerError) as e:
        await sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    assert e.value.code == code
    assert e.value.query_code == code
    assert await drain(sqs, url) == []


# ---------------------------------------------------------------------------- FIFO topics
async def test_fifo_topic_keeps_group_order_into_fifo_queues_with_sequence_numbers(sns, sqs):
    arn = await make_topic(sns, "t.fifo", FifoTopic="true", ContentBasedDeduplication="true")
    url, _ = await subscribe_queue(sns, sqs, arn, "q.fifo", RawMessageDelivery="true")
    seqs = []
    for i in range(6):
        r = await sns.publish(TopicArn=arn, Message=f"m{i}", MessageGroupId=f"g{i % 2}")
        seqs.append(int(r["SequenceNumber"]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    got = await drain(sqs, url)
    by_group: dict[str, list[str]] = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    assert by_group == {"g0": ["m0", "m2", "m4"], "g1": ["m1", "m3", "m5"]}


async def test_fifo_topic_drops_duplicates_within_five_minutes(sns, sqs):
    arn = await make_topic(sns, "t.fifo", FifoTopic="true")
    url, _ = await subscribe_queue(sns, sqs, arn, "q.fifo", RawMessageDelivery="true")
    first = await sns.publish(
        TopicArn=arn, Message="a", MessageGroupId="g", MessageDeduplicationId="d"
    )
    again = await sns.publish(
        TopicArn=arn, Message="a", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert again == first
    assert [m["Body"] for m in await drain(sqs, url)] == ["a"]
    await trio.sleep(301)
    later = await sns.publish(
        TopicArn=arn, Message="a", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert later["MessageId"] != first["MessageId"]
    assert [m["Body"] for m in await drain(sqs, url)] == ["a"]


async def test_content_based_deduplication_hashes_the_message(sns, sqs):
    arn = await make_topic(sns, "t.fifo", FifoTopic="true", ContentBasedDeduplication="true")
    url, _ = await subscribe_queue(sns, sqs, arn, "q.fifo", RawMessageDelivery="true")
    await sns.publish(TopicArn=arn, Message="same", MessageGroupId="g")
    await sns.publish(TopicArn=arn, Message="same", MessageGroupId="g")
    await sns.publish(TopicArn=arn, Message="other", MessageGroupId="g")
    assert [m["Body"] for m in await drain(sqs, url)] == ["same", "other"]


async def test_fifo_topics_require_a_group_and_a_dedup_id_or_content_dedup(sns):
    arn = await make_topic(sns, "t.fifo", FifoTopic="true")
    with pytest.raises(BrokerError) as e:
        await sns.publish(TopicArn=arn, Message="m", MessageDeduplicationId="d")
    assert "MessageGroupId" in e.value.message
    with pytest.raises(BrokerError) as e:
        await sns.publish(TopicArn=arn, Message="m", MessageGroupId="g")
    assert "ContentBasedDeduplication" in e.value.message
    std = await make_topic(sns, "std")
    with pytest.raises(BrokerError) as e:
        await sns.publish(TopicArn=std, Message="m", MessageDeduplicationId="d")
    assert e.value.code == "InvalidParameter"


async def test_standard_queue_subscribed_to_a_fifo_topic_gets_the_messages(sns, sqs):
    arn = await make_topic(sns, "t.fifo", FifoTopic="true", ContentBasedDeduplication="true")
    url, _ = await subscribe_queue(sns, sqs, arn, "plain")
    await sns.publish(TopicArn=arn, Message="m", MessageGroupId="g")
    [env] = await notifications(sqs, url)
    assert env["Message"] == "m" and "SequenceNumber" in env


# ---------------------------------------------------------------------------- failures
async def test_delivery_to_a_deleted_queue_goes_to_the_subscription_dlq(sns, sqs):
    arn = await make_topic(sns)
    dlq_url, dlq_arn = await make_queue(sqs, "dlq")
    url, _ = await subscribe_queue(
        sns, sqs, arn, "gone", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn})
    )
    ok_url, _ = await subscribe_queue(sns, sqs, arn, "fine")
    await sqs.delete_queue(QueueUrl=url)
    r = await sns.publish(TopicArn=arn, Message="m")
    [env] = await notifications(sqs, dlq_url)
    assert env["MessageId"] == r["MessageId"]
    # a failing subscriber does not keep the others from their deliveries
    assert [e["Message"] for e in await notifications(sqs, ok_url)] == ["m"]


async def test_delivery_too_large_for_the_queue_is_dropped_without_a_dlq(broker, sns, sqs):
    arn = await make_topic(sns)
    url, _ = await make_queue(sqs, "small", MaximumMessageSize="1024")
    qarn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    await sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    await sns.publish(TopicArn=arn, Message="x" * 2000)
    await sns.publish(TopicArn=arn, Message="small")
    assert len(await drain(sqs, url)) == 1
    assert broker.sns.failed == 1


async def test_lambda_subscriptions_are_stored_and_fail_without_the_function(broker, sns, sqs):
    arn = await make_topic(sns)
    fn = "arn:aws:lambda:us-east-1:000000000000:function:f"
    r = await sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=fn)
    a = (await sns.get_subscription_attributes(SubscriptionArn=r["SubscriptionArn"]))["Attributes"]
    assert a["Protocol"] == "lambda" and a["PendingConfirmation"] == "false"
    await sns.publish(TopicArn=arn, Message="m")
    assert broker.sns.failed == 1


async def test_a_long_poll_wakes_when_sns_delivers(sns, sqs):
    arn = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, arn, RawMessageDelivery="true")
    got = []

    async def poll():
        r = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        got.append((trio.current_time(), r["Messages"][0]["Body"]))

    async with trio.open_nursery() as n:
        n.start_soon(poll)
        await trio.sleep(3)
        await sns.publish(TopicArn=arn, Message="wake")
    assert got == [(pytest.approx(3), "wake")]


# ---------------------------------------------------------------------------- outbox
async def test_email_confirmation_token_from_the_outbox_confirms(sns):
    arn = await make_topic(sns)
    await sns.subscribe(TopicArn=arn, Protocol="email-json", Endpoint="a@example.com")
    [conf] = (await sns.list_outbox(Protocol="email-json"))["Messages"]
    assert conf["Type"] == "SubscriptionConfirmation"
    doc = json.loads(conf["Body"])
    assert doc["Token"] == conf["Token"] and "SubscribeURL" in doc
    await sns.publish(TopicArn=arn, Message="before")  # pending: nothing sent
    r = await sns.confirm_subscription(TopicArn=arn, Token=conf["Token"])
    await sns.publish(TopicArn=arn, Message="after", Subject="S")
    mails = (await sns.list_outbox(Protocol="email-json", Clear=True))["Messages"]
    assert [m["Type"] for m in mails] == ["SubscriptionConfirmation", "Notification"]
    note = json.loads(mails[1]["Body"])
    assert note["Message"] == "after" and note["Subject"] == "S"
    assert mails[1]["SubscriptionArn"] == r["SubscriptionArn"]
    assert (await sns.list_outbox())["Messages"] == []


async def test_confirmation_tokens_expire_after_three_days(sns):
    arn = await make_topic(sns)
    await sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com")
    [conf] = (await sns.list_outbox())["Messages"]
    await trio.sleep(3 * 86_400)
    with pytest.raises(BrokerError) as e:
        await sns.confirm_subscription(TopicArn=arn, Token=conf["Token"])
    assert e.value.code == "InvalidParameter"
    with pytest.raises(BrokerError):
        await sns.confirm_subscription(TopicArn=arn, Token="0" * 256)


async def test_email_and_sms_deliveries_are_recorded_not_sent(sns):
    arn = await make_topic(sns)
    await sns.subscribe(TopicArn=arn, Protocol="sms", Endpoint="+15555550100")
    await sns.subscribe(
        TopicArn=arn,
        Protocol="application",
        Endpoint="arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1",
    )
    await sns.publish(TopicArn=arn, Message="hi")
    box = (await sns.list_outbox())["Messages"]
    assert sorted(m["Protocol"] for m in box) == ["application", "sms"]
    assert all(m["Body"] == "hi" and m["TopicArn"] == arn for m in box)
