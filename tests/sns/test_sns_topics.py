"""Topics and subscriptions: the control plane, through the boto3-shaped client.

Each test names the AWS behaviour it checks (Amazon SNS API reference / developer guide).
"""

from __future__ import annotations

import pytest
from sns_helpers import make_queue, make_topic, subscribe_queue

from msgsim.broker import BrokerError


async def test_create_topic_is_idempotent_for_the_same_name_and_attributes(sns):
    a = await make_topic(sns, "orders", DisplayName="Orders")
    b = await make_topic(sns, "orders", DisplayName="Orders")
    assert a == b == "arn:aws:sns:us-east-1:000000000000:orders"


async def test_create_topic_with_different_attributes_is_invalid_parameter(sns):
    await make_topic(sns, "orders", DisplayName="Orders")
    with pytest.raises(BrokerError) as e:
        await make_topic(sns, "orders", DisplayName="Other")
    assert e.value.code == "InvalidParameter"
    assert "already exists with different attributes" in e.value.message


@pytest.mark.parametrize("name", ["", "a b", "x" * 257, "ünïcode", "dot.name"])
async def test_topic_names_are_1_to_256_letters_digits_hyphens_underscores(sns, name):
    with pytest.raises(BrokerError) as e:
        await sns.create_topic(Name=name)
    assert e.value.code == "InvalidParameter"


async def test_fifo_topic_names_must_end_in_fifo_and_set_fifo_topic(sns):
    arn = await make_topic(sns, "t.fifo", FifoTopic="true")
    assert arn.endswith(":t.fifo")
    for name, attrs in [("t2", {"FifoTopic": "true"}), ("t3.fifo", {})]:
        with pytest.raises(BrokerError) as e:
            await sns.create_topic(Name=name, Attributes=attrs)
        assert e.value.code == "InvalidParameter"


async def test_content_based_deduplication_is_only_for_fifo_topics(sns):
    with pytest.raises(BrokerError) as e:
        await make_topic(sns, "std", ContentBasedDeduplication="true")
    assert e.value.code == "InvalidParameter"


async def test_list_topics_pages_by_100_with_next_token(sns):
    created = {await make_topic(sns, f"t{i:03d}") for i in range(250)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        r = await sns.list_topics(**({"NextToken": token} if token else {}))
        pages += 1
        assert len(r["Topics"]) <= 100
        seen += [t["TopicArn"] for t in r["Topics"]]
        token = r.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == created


async def test_get_topic_attributes_reports_counts_owner_and_policies(sns, sqs):
    arn = await make_topic(sns, "t")
    await subscribe_queue(sns, sqs, arn, "q1")
    await sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
    a = (await sns.get_topic_attributes(TopicArn=arn))["Attributes"]
    assert a["TopicArn"] == arn
    assert a["Owner"] == "000000000000"
    assert a["SubscriptionsConfirmed"] == "1"
    assert a["SubscriptionsPending"] == "1"
    assert a["SubscriptionsDeleted"] == "0"
    assert f'"Resource":"{arn}"' in a["Policy"]
    assert "http" in a["EffectiveDeliveryPolicy"]


async def test_set_topic_attributes_changes_one_attribute(sns):
    arn = await make_topic(sns, "t")
    await sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Hi")
    a = (await sns.get_topic_attributes(TopicArn=arn))["Attributes"]
    assert a["DisplayName"] == "Hi"
    with pytest.raises(BrokerError) as e:
        await sns.set_topic_attributes(TopicArn=arn, AttributeName="Nope", AttributeValue="x")
    assert e.value.code == "InvalidParameter"
    with pytest.raises(BrokerError) as e:
        await sns.set_topic_attributes(
            TopicArn=arn, AttributeName="FifoTopic", AttributeValue="true"
        )
    assert e.value.code == "InvalidParameter"


async def test_unknown_topic_is_not_found_and_a_malformed_arn_invalid(sns):
    with pytest.raises(BrokerError) as e:
        await sns.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:000000000000:nope")
    assert e.value.code == "NotFound"
    assert e.value.http_status == 404
    with pytest.raises(BrokerError) as e:
        await sns.get_topic_attributes(TopicArn="nope")
    assert e.value.code == "InvalidParameter"


async def test_delete_topic_removes_its_subscriptions_and_is_idempotent(sns, sqs):
    arn = await make_topic(sns, "t")
    _, sub = await subscribe_queue(sns, sqs, arn)
    await sns.delete_topic(TopicArn=arn)
    await sns.delete_topic(TopicArn=arn)  # deleting a missing topic is not an error
    assert (await sns.list_topics())["Topics"] == []
    with pytest.raises(BrokerError) as e:
        await sns.get_subscription_attributes(SubscriptionArn=sub)
    assert e.value.code == "NotFound"


async def test_tags_on_topics(sns):
    arn = await make_topic(sns, "t")
    await sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "a"}])
    await sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    tags = (await sns.list_tags_for_resource(ResourceArn=arn))["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "a", "env": "dev"}
    await sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    tags = (await sns.list_tags_for_resource(ResourceArn=arn))["Tags"]
    assert tags == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(BrokerError) as e:
        await sns.tag_resource(
            ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]
        )
    assert e.value.code == "TagLimitExceeded"
    assert len((await sns.list_tags_for_resource(ResourceArn=arn))["Tags"]) == 1
    with pytest.raises(BrokerError) as e:
        await sns.list_tags_for_resource(ResourceArn=arn + "x")
    assert e.value.code == "ResourceNotFound"


# ---------------------------------------------------------------------------- subscriptions
async def test_same_account_sqs_subscription_is_confirmed_at_once(sns, sqs):
    arn = await make_topic(sns)
    _, qarn = await make_queue(sqs)
    r = await sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    assert r["SubscriptionArn"].startswith(arn + ":")
    a = (await sns.get_subscription_attributes(SubscriptionArn=r["SubscriptionArn"]))["Attributes"]
    assert a["PendingConfirmation"] == "false"
    assert a["Protocol"] == "sqs" and a["Endpoint"] == qarn and a["TopicArn"] == arn
    assert a["RawMessageDelivery"] == "false"


async def test_subscribing_the_same_endpoint_again_answers_the_same_subscription(sns, sqs):
    arn = await make_topic(sns)
    _, qarn = await make_queue(sqs)
    a = await sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    b = await sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    assert a == b
    with pytest.raises(BrokerError) as e:
        await sns.subscribe(
            TopicArn=arn,
            Protocol="sqs",
            Endpoint=qarn,
            Attributes={"RawMessageDelivery": "true"},
        )
    assert e.value.code == "InvalidParameter"
    assert "different attributes" in e.value.message


async def test_email_subscription_is_pending_until_confirmed(sns):
    arn = await make_topic(sns)
    r = await sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@example.com")
    assert r["SubscriptionArn"] == "pending confirmation"
    listed = (await sns.list_subscriptions_by_topic(TopicArn=arn))["Subscriptions"]
    assert listed[0]["SubscriptionArn"] == "PendingConfirmation"
    r = await sns.subscribe(
        TopicArn=arn, Protocol="email", Endpoint="b@example.com", ReturnSubscriptionArn=True
    )
    assert r["SubscriptionArn"].startswith(arn + ":")
    a = (await sns.get_subscription_attributes(SubscriptionArn=r["SubscriptionArn"]))["Attributes"]
    assert a["PendingConfirmation"] == "true"


@pytest.mark.parametrize(
    "protocol,endpoint",
    [
        ("carrier-pigeon", "x"),
        ("http", "ftp://example.com"),
        ("https", "http://example.com"),
        ("email", "not-an-address"),
        ("sqs", "arn:aws:sqs:us-east-1:000000000000"),
        ("lambda", "arn:aws:sqs:us-east-1:000000000000:q"),
        ("sms", "call me"),
    ],
)
async def test_subscribe_validates_protocol_and_endpoint(sns, protocol, endpoint):
    arn = await make_topic(sns)
    with pytest.raises(BrokerError) as e:
        await sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
    assert e.value.code == "InvalidParameter"
    assert (await sns.list_subscriptions())["Subscriptions"] == []


async def test_fifo_queues_cannot_subscribe_to_standard_topics(sns, sqs):
    arn = await make_topic(sns)
    _, qarn = await make_queue(sqs, "q.fifo", FifoQueue="true")
    with pytest.raises(BrokerError) as e:
        await sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    assert e.value.code == "InvalidParameter"
    assert "FIFO SQS Queues can not be subscribed to standard SNS topics" in e.value.message


async def test_fifo_topics_take_only_sqs_subscriptions(sns):
    arn = await make_topic(sns, "t.fifo", FifoTopic="true")
    for protocol, endpoint in [
        ("http", "http://127.0.0.1/x"),
        ("email", "a@example.com"),
        ("sms", "+15555550100"),
    ]:
        with pytest.raises(BrokerError) as e:
            await sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        assert e.value.code == "InvalidParameter"


async def test_raw_message_delivery_is_only_for_sqs_http_and_firehose(sns):
    arn = await make_topic(sns)
    with pytest.raises(BrokerError) as e:
        await sns.subscribe(
            TopicArn=arn,
            Protocol="email",
            Endpoint="a@example.com",
            Attributes={"RawMessageDelivery": "true"},
        )
    assert e.value.code == "InvalidParameter"


async def test_set_and_get_subscription_attributes(sns, sqs):
    arn = await make_topic(sns)
    _, sub = await subscribe_queue(sns, sqs, arn)
    await sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    policy = '{"store": ["example_corp"]}'
    await sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=policy
    )
    a = (await sns.get_subscription_attributes(SubscriptionArn=sub))["Attributes"]
    assert a["RawMessageDelivery"] == "true"
    assert a["FilterPolicy"] == policy
    assert a["FilterPolicyScope"] == "MessageAttributes"
    await sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicyScope", AttributeValue="MessageBody"
    )
    a = (await sns.get_subscription_attributes(SubscriptionArn=sub))["Attributes"]
    assert a["FilterPolicyScope"] == "MessageBody"
    with pytest.raises(BrokerError) as e:
        await sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue='{"a": 1}'
        )
    assert e.value.code == "InvalidParameter"
    a = (await sns.get_subscription_attributes(SubscriptionArn=sub))["Attributes"]
    assert a["FilterPolicy"] == policy  # an invalid request changed nothing


async def test_filter_policies_per_topic_are_limited(broker, sns, sqs):
    broker.sns.options.filter_policies_per_topic = 2
    arn = await make_topic(sns)
    for i in range(2):
        await subscribe_queue(sns, sqs, arn, f"q{i}", FilterPolicy='{"a": ["x"]}')
    with pytest.raises(BrokerError) as e:
        await subscribe_queue(sns, sqs, arn, "q3", FilterPolicy='{"a": ["x"]}')
    assert e.value.code == "FilterPolicyLimitExceeded"


async def test_unsubscribe_deletes_the_subscription(sns, sqs):
    arn = await make_topic(sns)
    _, sub = await subscribe_queue(sns, sqs, arn)
    await sns.unsubscribe(SubscriptionArn=sub)
    assert (await sns.list_subscriptions())["Subscriptions"] == []
    a = (await sns.get_topic_attributes(TopicArn=arn))["Attributes"]
    assert a["SubscriptionsDeleted"] == "1"
    with pytest.raises(BrokerError) as e:
        await sns.unsubscribe(SubscriptionArn=sub)
    assert e.value.code == "NotFound"


async def test_list_subscriptions_pages_by_100(sns, sqs):
    arn = await make_topic(sns)
    for i in range(150):
        await sns.subscribe(TopicArn=arn, Protocol="sms", Endpoint=f"+1555555{i:04d}")
    first = await sns.list_subscriptions_by_topic(TopicArn=arn)
    second = await sns.list_subscriptions_by_topic(TopicArn=arn, NextToken=first["NextToken"])
    assert len(first["Subscriptions"]) == 100 and len(second["Subscriptions"]) == 50
    assert "NextToken" not in second
    arns = {s["SubscriptionArn"] for s in first["Subscriptions"] + second["Subscriptions"]}
    assert len(arns) == 150
