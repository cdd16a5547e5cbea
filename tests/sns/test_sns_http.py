"""HTTP/S subscriptions: real POSTs to a loopback endpoint (the socket is the point here).

These tests run on a mock clock that jumps only after 50 ms of real idleness, so a POST over
loopback completes in real time while retry schedules of minutes pass in virtual time.
Each test names the AWS behaviour it checks (Amazon SNS developer guide: "Fanout to HTTP/S
endpoints", "Amazon SNS message delivery retries").
"""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
from http_endpoint import serve_endpoint
from sns_helpers import make_queue, make_topic, notifications, subscribe_queue

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0.05)


@pytest.fixture
async def aws(clock):
    async with Broker.open(seed=3) as broker:
        yield InProcessClient(broker)


async def subscribe_confirmed(aws, topic: str, endpoint, **attributes: str) -> str:
    """Subscribe the endpoint, answer its SubscriptionConfirmation; the subscription ARN."""
    sns = aws.client("sns")
    before = len(endpoint.requests)
    await sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=endpoint.url, Attributes=attributes
    )
    await endpoint.wait_for(before + 1)
    token = endpoint.requests[before].json()["Token"]
    return (await sns.confirm_subscription(TopicArn=topic, Token=token))["SubscriptionArn"]


async def test_http_subscription_confirms_with_the_token_it_was_sent(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    async with serve_endpoint() as endpoint:
        r = await sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
        assert r["SubscriptionArn"] == "pending confirmation"
        await endpoint.wait_for(1)
        req = endpoint.requests[0]
        assert req.method == "POST"
        assert req.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert req.headers["x-amz-sns-topic-arn"] == topic
        doc = req.json()
        assert doc["Type"] == "SubscriptionConfirmation" and doc["TopicArn"] == topic
        assert doc["MessageId"] == req.headers["x-amz-sns-message-id"]
        assert f"Token={doc['Token']}" in doc["SubscribeURL"]
        [listed] = (await sns.list_subscriptions_by_topic(TopicArn=topic))["Subscriptions"]
        assert listed["SubscriptionArn"] == "PendingConfirmation"
        await sns.publish(TopicArn=topic, Message="not yet")  # pending: not delivered
        confirmed = await sns.confirm_subscription(TopicArn=topic, Token=doc["Token"])
        await aws.settle()
        assert len(endpoint.requests) == 1
        a = await sns.get_subscription_attributes(SubscriptionArn=confirmed["SubscriptionArn"])
        assert a["Attributes"]["PendingConfirmation"] == "false"


async def test_notifications_carry_aws_headers_and_the_envelope(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    async with serve_endpoint() as endpoint:
        sub = await subscribe_confirmed(aws, topic, endpoint)
        r = await sns.publish(TopicArn=topic, Message="hello", Subject="hi")
        await aws.settle()
        req = endpoint.requests[-1]
        assert req.headers["x-amz-sns-message-type"] == "Notification"
        assert req.headers["x-amz-sns-message-id"] == r["MessageId"]
        assert req.headers["x-amz-sns-topic-arn"] == topic
        assert req.headers["x-amz-sns-subscription-arn"] == sub
        assert req.headers["content-type"].startswith("text/plain")
        doc = req.json()
        assert (doc["Type"], doc["Message"], doc["Subject"]) == ("Notification", "hello", "hi")
        assert doc["UnsubscribeURL"].endswith(sub)


async def test_raw_http_delivery_posts_the_bare_message(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(aws, topic, endpoint, RawMessageDelivery="true")
        await sns.publish(TopicArn=topic, Message='{"raw": true}')
        await aws.settle()
        assert endpoint.requests[-1].body == b'{"raw": true}'


async def test_default_http_policy_retries_three_times_twenty_seconds_apart(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(aws, topic, endpoint)
        endpoint.respond(500, 503, 500)
        start = trio.current_time()
        await sns.publish(TopicArn=topic, Message="retry me")
        await endpoint.wait_for(1 + 4)
        times = [r.time - start for r in endpoint.requests[1:]]
        assert times == pytest.approx([0, 20, 40, 60], abs=0.5)
        await aws.settle()
        await trio.sleep(600)
        assert len(endpoint.requests) == 5  # delivered on the last retry, nothing more


async def test_exhausted_http_retries_go_to_the_dead_letter_queue(aws, clock):
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    topic = await make_topic(sns)
    dlq_url, dlq_arn = await make_queue(sqs, "dlq")
    policy = {"healthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 5, "numRetries": 2}}
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(
            aws,
            topic,
            endpoint,
            DeliveryPolicy=json.dumps(policy),
            RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}),
        )
        endpoint.respond(500, 500, 500, 500)
        start = trio.current_time()
        r = await sns.publish(TopicArn=topic, Message="doomed")
        await endpoint.wait_for(1 + 3)
        await aws.settle()
        times = [req.time - start for req in endpoint.requests[1:]]
        assert times == pytest.approx([0, 5, 10], abs=0.5)
        [env] = await notifications(sqs, dlq_url)
        assert env["MessageId"] == r["MessageId"]


async def test_a_4xx_answer_is_a_permanent_failure_and_not_retried(aws, clock):
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    topic = await make_topic(sns)
    dlq_url, dlq_arn = await make_queue(sqs, "dlq")
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(
            aws, topic, endpoint, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn})
        )
        endpoint.respond(404)
        await sns.publish(TopicArn=topic, Message="m")
        await aws.settle()
        await trio.sleep(300)
        assert len(endpoint.requests) == 2
        assert len(await notifications(sqs, dlq_url)) == 1


async def test_a_slow_endpoint_never_holds_up_publish_or_other_subscribers(aws, clock):
    sns = aws.client("sns")
    sqs = aws.client("sqs")
    topic = await make_topic(sns)
    url, _ = await subscribe_queue(sns, sqs, topic)
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(aws, topic, endpoint)
        endpoint.delay = 10
        start = trio.current_time()
        await sns.publish(TopicArn=topic, Message="m")
        assert trio.current_time() == start
        assert [e["Message"] for e in await notifications(sqs, url)] == ["m"]
        await aws.settle()  # waits for the slow POST: it is due now
        assert trio.current_time() - start == pytest.approx(10, abs=0.5)
        assert endpoint.requests[-1].json()["Message"] == "m"


async def test_no_answer_within_15_seconds_is_a_failed_attempt(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(aws, topic, endpoint)
        endpoint.delay = 30
        start = trio.current_time()
        await sns.publish(TopicArn=topic, Message="m")
        await aws.settle()
        assert trio.current_time() - start == pytest.approx(15, abs=0.5)
        assert aws.broker.sns.stats()["retries_scheduled"] == 1


async def test_an_unreachable_endpoint_is_retried(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    async with serve_endpoint() as endpoint:
        sub = await subscribe_confirmed(aws, topic, endpoint)
    # the endpoint is gone: connection refused
    await sns.publish(TopicArn=topic, Message="m")
    await aws.settle()
    stats = aws.broker.sns.stats()
    assert stats["retries_scheduled"] == 1 and stats["delivered"] >= 1
    assert sub


async def test_unsubscribe_sends_an_unsubscribe_confirmation(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    async with serve_endpoint() as endpoint:
        sub = await subscribe_confirmed(aws, topic, endpoint)
        await sns.unsubscribe(SubscriptionArn=sub)
        await aws.settle()
        req = endpoint.requests[-1]
        assert req.headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
        assert req.json()["Type"] == "UnsubscribeConfirmation"


async def test_the_topic_delivery_policy_is_the_default_for_its_http_subscriptions(aws, clock):
    sns = aws.client("sns")
    policy = {
        "http": {
            "defaultHealthyRetryPolicy": {"minDelayTarget": 7, "maxDelayTarget": 7, "numRetries": 1}
        }
    }
    topic = await make_topic(sns, DeliveryPolicy=json.dumps(policy))
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(aws, topic, endpoint)
        endpoint.respond(500, 500, 500)
        start = trio.current_time()
        await sns.publish(TopicArn=topic, Message="m")
        await endpoint.wait_for(1 + 2)
        await trio.sleep(120)
        times = [r.time - start for r in endpoint.requests[1:]]
        assert times == pytest.approx([0, 7], abs=0.5)  # one retry, then dropped


async def test_request_policy_sets_the_content_type_within_what_aws_allows(aws, clock):
    sns = aws.client("sns")
    topic = await make_topic(sns)
    json_type = json.dumps({"requestPolicy": {"headerContentType": "application/json"}})
    async with serve_endpoint() as endpoint:
        await subscribe_confirmed(aws, topic, endpoint, DeliveryPolicy=json_type)
        await sns.publish(TopicArn=topic, Message="m")
        await aws.settle()
        assert endpoint.requests[-1].headers["content-type"] == "application/json"
    xml = json.dumps({"requestPolicy": {"headerContentType": "application/xml"}})
    with pytest.raises(BrokerError) as e:  # only with raw delivery
        await sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint="http://127.0.0.1:9/x",
            Attributes={"DeliveryPolicy": xml},
        )
    assert e.value.code == "InvalidParameter"
    await sns.subscribe(
        TopicArn=topic,
        Protocol="http",
        Endpoint="http://127.0.0.1:9/y",
        Attributes={"DeliveryPolicy": xml, "RawMessageDelivery": "true"},
    )
