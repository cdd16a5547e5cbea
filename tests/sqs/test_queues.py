"""Queue lifecycle and queue attributes through the boto3-shaped client, on the virtual clock.

Each test states the AWS behaviour it checks (AWS SQS API reference / developer guide).

Every test names ``autojump_clock`` itself: pytest-trio hands trio.run only a clock that is one of
the test function's own arguments, not one that a fixture (``broker``) depends on.
"""

from __future__ import annotations

import json

import pytest
import trio

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError

REGION = "us-east-1"
ACCOUNT = "000000000000"
MISSING_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/no-such-queue"

DEFAULTS = {
    "VisibilityTimeout": "30",
    "MessageRetentionPeriod": "345600",
    # msgsim pins the classic 256 KiB default (contract); the settable range is 1024..1048576.
    "MaximumMessageSize": "262144",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "ApproximateNumberOfMessages": "0",
    "ApproximateNumberOfMessagesNotVisible": "0",
    "ApproximateNumberOfMessagesDelayed": "0",
}

# attribute -> (smallest allowed, largest allowed)
RANGES = {
    "VisibilityTimeout": (0, 43_200),
    "MessageRetentionPeriod": (60, 1_209_600),
    "MaximumMessageSize": (1_024, 1_048_576),
    "DelaySeconds": (0, 900),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
}


def url_of(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


def arn_of(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


async def attrs_of(sqs, url: str, *names: str) -> dict[str, str]:
    r = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"])
    return r.get("Attributes", {})


async def counts(sqs, url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed) as GetQueueAttributes reports them."""
    a = await attrs_of(
        sqs,
        url,
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    return (
        int(a["ApproximateNumberOfMessages"]),
        int(a["ApproximateNumberOfMessagesNotVisible"]),
        int(a["ApproximateNumberOfMessagesDelayed"]),
    )


async def all_queue_urls(sqs, **kwargs) -> list[str]:
    r = await sqs.list_queues(**kwargs)
    return r.get("QueueUrls", [])


# --- CreateQueue ----------------------------------------------------------------------------------


async def test_create_queue_returns_url_and_arn_in_aws_form(autojump_clock, sqs):
    """AWS: the queue URL is https://sqs.<region>.amazonaws.com/<account>/<name> and the ARN is
    arn:aws:sqs:<region>:<account>:<name>."""
    r = await sqs.create_queue(QueueName="orders")
    assert r["QueueUrl"] == url_of("orders")
    a = await attrs_of(sqs, r["QueueUrl"], "QueueArn")
    assert a == {"QueueArn": arn_of("orders")}


async def test_url_and_arn_follow_the_brokers_region_and_account(autojump_clock):
    """AWS: region and account id are part of every queue URL and ARN."""
    async with Broker.open(seed=0, region="eu-west-1", account_id="123456789012") as b:
        sqs = InProcessClient(b).client("sqs")
        url = (await sqs.create_queue(QueueName="q1"))["QueueUrl"]
        assert url == "https://sqs.eu-west-1.amazonaws.com/123456789012/q1"
        a = await attrs_of(sqs, url, "QueueArn")
        assert a["QueueArn"] == "arn:aws:sqs:eu-west-1:123456789012:q1"


async def test_create_queue_with_identical_attributes_is_idempotent(autojump_clock, sqs):
    """AWS: CreateQueue with an existing name and the same attribute values returns the existing
    queue's URL instead of failing."""
    attrs = {"VisibilityTimeout": "45", "DelaySeconds": "5"}
    first = await sqs.create_queue(QueueName="same", Attributes=attrs)
    await sqs.send_message(QueueUrl=first["QueueUrl"], MessageBody="kept")
    second = await sqs.create_queue(QueueName="same", Attributes=dict(attrs))
    assert second["QueueUrl"] == first["QueueUrl"]
    # It really is the same queue: the message sent before is still there.
    assert (await counts(sqs, first["QueueUrl"]))[2] == 1
    assert await all_queue_urls(sqs) == [first["QueueUrl"]]


async def test_create_queue_without_attributes_again_is_idempotent(autojump_clock, sqs):
    """AWS: re-creating a queue with no attributes when it has default attributes returns its
    URL."""
    first = await sqs.create_queue(QueueName="plain")
    second = await sqs.create_queue(QueueName="plain")
    assert first["QueueUrl"] == second["QueueUrl"]


async def test_create_queue_with_different_attributes_fails_with_queue_name_exists(
    autojump_clock, sqs
):
    """AWS: CreateQueue with an existing name but different attribute values fails with
    QueueNameExists (legacy query code QueueAlreadyExists) and leaves the queue unchanged."""
    url = (await sqs.create_queue(QueueName="dup", Attributes={"VisibilityTimeout": "45"}))[
        "QueueUrl"
    ]
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="dup", Attributes={"VisibilityTimeout": "46"})
    assert e.value.code == "QueueNameExists"
    assert e.value.query_code == "QueueAlreadyExists"
    assert e.value.sender_fault is True
    assert (await attrs_of(sqs, url, "VisibilityTimeout"))["VisibilityTimeout"] == "45"


async def test_queue_names_are_case_sensitive(autojump_clock, sqs):
    """AWS: queue names are case-sensitive; Test-queue and test-queue are different queues."""
    a = (await sqs.create_queue(QueueName="Test-queue"))["QueueUrl"]
    b = (await sqs.create_queue(QueueName="test-queue"))["QueueUrl"]
    assert a != b
    assert sorted(await all_queue_urls(sqs)) == sorted([a, b])


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("a", {}),
        ("Az09_-", {}),
        ("x" * 80, {}),
        ("f.fifo", {"FifoQueue": "true"}),
        ("y" * 75 + ".fifo", {"FifoQueue": "true"}),  # 80 characters including the suffix
    ],
)
async def test_valid_queue_names_are_accepted(autojump_clock, sqs, name, attributes):
    """AWS: a name is 1-80 characters of [A-Za-z0-9_-]; a FIFO name ends in .fifo, which counts
    towards the 80."""
    r = await sqs.create_queue(QueueName=name, Attributes=attributes)
    assert r["QueueUrl"] == url_of(name)
    assert (await sqs.get_queue_url(QueueName=name))["QueueUrl"] == url_of(name)


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("x" * 81, {}),
        ("has space", {}),
        ("dot.name", {}),
        ("slash/name", {}),
        ("colon:name", {}),
        ("caf\u00e9", {}),
        ("star*", {}),
        ("y" * 76 + ".fifo", {"FifoQueue": "true"}),  # 81 characters including the suffix
        ("needs-flag.fifo", {}),  # .fifo name without FifoQueue=true
        ("flag-false.fifo", {"FifoQueue": "false"}),
        ("no-suffix", {"FifoQueue": "true"}),  # FifoQueue=true without the .fifo suffix
        ("bad.name.fifo", {"FifoQueue": "true"}),
    ],
)
async def test_invalid_queue_names_are_rejected_and_nothing_is_created(
    autojump_clock, sqs, name, attributes
):
    """AWS: names outside 1-80 chars of [A-Za-z0-9_-] (plus the .fifo suffix for FIFO queues, and
    only for them) are rejected with InvalidParameterValue; no queue is created."""
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName=name, Attributes=attributes)
    # AWS: "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    # or "The name of a FIFO queue can only include ... must end with .fifo suffix".
    assert e.value.code == "InvalidParameterValue"
    assert await all_queue_urls(sqs) == []


@pytest.mark.parametrize("attributes", [{}, {"FifoQueue": "false"}])
async def test_fifo_suffix_without_fifo_queue_attribute_names_the_attribute(
    autojump_clock, sqs, attributes
):
    """AWS: a name ending in .fifo makes no FIFO queue without FifoQueue=true; the error is
    InvalidParameterValue. AWS's message is its standard-name rule; msgsim's names the attribute
    that is missing rather than the suffix, which is present. No queue is created."""
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="jobs.fifo", Attributes=attributes)
    assert e.value.code == "InvalidParameterValue"
    assert "FifoQueue is not true" in e.value.message
    assert "must end with .fifo" not in e.value.message
    assert await all_queue_urls(sqs) == []


async def test_empty_queue_name_is_rejected(autojump_clock, sqs):
    """AWS: QueueName is required and at least 1 character."""
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="")
    assert e.value.code in {"MissingParameter", "InvalidParameterValue"}
    assert await all_queue_urls(sqs) == []


async def test_missing_queue_name_is_missing_parameter(autojump_clock, sqs):
    """AWS: QueueName is a required parameter of CreateQueue."""
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue()
    assert e.value.code == "MissingParameter"
    assert "QueueName" in e.value.message


@pytest.mark.parametrize("attribute", sorted(RANGES))
async def test_attribute_range_bounds_are_accepted_on_create(autojump_clock, sqs, attribute):
    """AWS: each numeric queue attribute accepts both ends of its documented range."""
    low, high = RANGES[attribute]
    for i, value in enumerate((low, high)):
        url = (await sqs.create_queue(QueueName=f"b{i}", Attributes={attribute: str(value)}))[
            "QueueUrl"
        ]
        assert (await attrs_of(sqs, url, attribute)) == {attribute: str(value)}


def _out_of_range_cases():
    for attribute, (low, high) in sorted(RANGES.items()):
        yield attribute, str(low - 1)
        yield attribute, str(high + 1)
        yield attribute, "abc"
        yield attribute, "1.5"
        yield attribute, ""


@pytest.mark.parametrize(("attribute", "value"), list(_out_of_range_cases()))
async def test_attribute_out_of_range_is_rejected_on_create(autojump_clock, sqs, attribute, value):
    """AWS ranges: VisibilityTimeout 0-43200, MessageRetentionPeriod 60-1209600,
    MaximumMessageSize 1024-1048576, DelaySeconds 0-900, ReceiveMessageWaitTimeSeconds 0-20;
    anything else (or a non-integer) is InvalidAttributeValue and no queue is created."""
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="q", Attributes={attribute: value})
    assert e.value.code == "InvalidAttributeValue"
    assert attribute in e.value.message
    assert await all_queue_urls(sqs) == []


@pytest.mark.parametrize(("attribute", "value"), list(_out_of_range_cases()))
async def test_attribute_out_of_range_is_rejected_on_set(autojump_clock, sqs, attribute, value):
    """AWS: SetQueueAttributes validates the same ranges and changes nothing on failure."""
    url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
    before = await attrs_of(sqs, url)
    with pytest.raises(BrokerError) as e:
        await sqs.set_queue_attributes(QueueUrl=url, Attributes={attribute: value})
    assert e.value.code == "InvalidAttributeValue"
    assert await attrs_of(sqs, url) == before


async def test_unknown_attribute_name_on_create_is_invalid_attribute_name(autojump_clock, sqs):
    """AWS: an attribute name SQS does not know fails CreateQueue with InvalidAttributeName."""
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="q", Attributes={"NoSuchAttribute": "1"})
    assert e.value.code == "InvalidAttributeName"
    assert await all_queue_urls(sqs) == []


async def test_redrive_policy_valid_json_is_stored(autojump_clock, sqs):
    """AWS: RedrivePolicy is a JSON string {deadLetterTargetArn, maxReceiveCount 1-1000}."""
    await sqs.create_queue(QueueName="dlq")
    policy = {"deadLetterTargetArn": arn_of("dlq"), "maxReceiveCount": 5}
    url = (
        await sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": json.dumps(policy)})
    )["QueueUrl"]
    stored = json.loads((await attrs_of(sqs, url, "RedrivePolicy"))["RedrivePolicy"])
    assert stored["deadLetterTargetArn"] == arn_of("dlq")
    assert int(stored["maxReceiveCount"]) == 5


@pytest.mark.parametrize(
    "policy",
    [
        "not json",
        "[]",
        json.dumps({"maxReceiveCount": 5}),  # no target
        json.dumps({"deadLetterTargetArn": arn_of("dlq")}),  # no count
        json.dumps({"deadLetterTargetArn": arn_of("dlq"), "maxReceiveCount": 0}),
        json.dumps({"deadLetterTargetArn": arn_of("dlq"), "maxReceiveCount": 1001}),
        json.dumps({"deadLetterTargetArn": arn_of("dlq"), "maxReceiveCount": "many"}),
        json.dumps({"deadLetterTargetArn": "not-an-arn", "maxReceiveCount": 5}),
    ],
)
async def test_invalid_redrive_policy_is_rejected(autojump_clock, sqs, policy):
    """AWS: a RedrivePolicy that is not JSON, lacks deadLetterTargetArn or maxReceiveCount, or has
    maxReceiveCount outside 1-1000 is rejected; the queue is not created."""
    await sqs.create_queue(QueueName="dlq")
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": policy})
    # AWS reports RedrivePolicy problems as "Value ... for parameter RedrivePolicy is invalid"
    # (InvalidParameterValue); InvalidAttributeValue is the other code it uses for attributes.
    assert e.value.code in {"InvalidParameterValue", "InvalidAttributeValue"}
    assert await all_queue_urls(sqs) == [url_of("dlq")]


# --- DeleteQueue / QueueDeletedRecently -----------------------------------------------------------


async def test_delete_queue_removes_it_from_listing_and_lookup(autojump_clock, sqs):
    """AWS: a deleted queue disappears; afterwards GetQueueUrl fails with QueueDoesNotExist
    (deletion may take up to 60 s, so this checks after 60 s)."""
    url = (await sqs.create_queue(QueueName="gone"))["QueueUrl"]
    keep = (await sqs.create_queue(QueueName="kept"))["QueueUrl"]
    assert await sqs.delete_queue(QueueUrl=url) == {}
    await trio.sleep(61)
    assert await all_queue_urls(sqs) == [keep]
    with pytest.raises(BrokerError) as e:
        await sqs.get_queue_url(QueueName="gone")
    assert e.value.code == "QueueDoesNotExist"
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="x")
    assert e.value.code == "QueueDoesNotExist"


async def test_recreate_within_60_seconds_fails_with_queue_deleted_recently(autojump_clock, sqs):
    """AWS: after DeleteQueue you must wait 60 s before creating a queue with the same name, or
    CreateQueue fails with QueueDeletedRecently."""
    url = (await sqs.create_queue(QueueName="phoenix"))["QueueUrl"]
    await sqs.delete_queue(QueueUrl=url)
    await trio.sleep(59)
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="phoenix")
    assert e.value.code == "QueueDeletedRecently"
    # Another name is not affected.
    await sqs.create_queue(QueueName="other")


async def test_recreate_after_60_seconds_succeeds_with_an_empty_queue(autojump_clock, sqs):
    """AWS: once 60 s have passed the name can be used again, and the new queue starts empty."""
    url = (await sqs.create_queue(QueueName="phoenix", Attributes={"VisibilityTimeout": "99"}))[
        "QueueUrl"
    ]
    await sqs.send_message(QueueUrl=url, MessageBody="old")
    await sqs.delete_queue(QueueUrl=url)
    await trio.sleep(61)
    again = (await sqs.create_queue(QueueName="phoenix"))["QueueUrl"]
    assert again == url
    assert await counts(sqs, again) == (0, 0, 0)
    assert (await attrs_of(sqs, again, "VisibilityTimeout"))["VisibilityTimeout"] == "30"
    assert "Messages" not in await sqs.receive_message(QueueUrl=again)


# --- GetQueueUrl ----------------------------------------------------------------------------------


async def test_get_queue_url_returns_the_created_url(autojump_clock, sqs):
    """AWS: GetQueueUrl returns the URL CreateQueue returned."""
    url = (await sqs.create_queue(QueueName="lookup"))["QueueUrl"]
    assert await sqs.get_queue_url(QueueName="lookup") == {"QueueUrl": url}


async def test_get_queue_url_of_unknown_queue_is_queue_does_not_exist(autojump_clock, sqs):
    """AWS: GetQueueUrl for a name that does not exist fails with QueueDoesNotExist (legacy
    AWS.SimpleQueueService.NonExistentQueue)."""
    await sqs.create_queue(QueueName="lookup")
    with pytest.raises(BrokerError) as e:
        await sqs.get_queue_url(QueueName="Lookup")
    assert e.value.code == "QueueDoesNotExist"
    assert e.value.query_code == "AWS.SimpleQueueService.NonExistentQueue"


# --- ListQueues -----------------------------------------------------------------------------------


async def test_list_queues_filters_by_case_sensitive_prefix(autojump_clock, sqs):
    """AWS: QueueNamePrefix returns only queues whose names begin with it (case-sensitive)."""
    for name in ("page-a", "page-b", "Page-c", "other"):
        await sqs.create_queue(QueueName=name)
    got = await all_queue_urls(sqs, QueueNamePrefix="page-")
    assert sorted(got) == [url_of("page-a"), url_of("page-b")]
    assert await all_queue_urls(sqs, QueueNamePrefix="zzz") == []
    assert len(await all_queue_urls(sqs)) == 4


async def test_list_queues_paginates_with_max_results_and_next_token(autojump_clock, sqs):
    """AWS: with MaxResults, ListQueues returns at most that many URLs and a NextToken while more
    remain; following NextToken visits every queue exactly once, and the last page has no token."""
    names = [f"p{i:02d}" for i in range(7)]
    for name in names:
        await sqs.create_queue(QueueName=name)
    await sqs.create_queue(QueueName="unrelated")

    pages = []
    kwargs = {"QueueNamePrefix": "p", "MaxResults": 3}
    while True:
        r = await sqs.list_queues(**kwargs)
        pages.append(r.get("QueueUrls", []))
        if "NextToken" not in r:
            break
        kwargs["NextToken"] = r["NextToken"]
        assert len(pages) < 10, "pagination does not terminate"
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [u for p in pages for u in p]
    assert sorted(flat) == sorted(url_of(n) for n in names)
    assert len(set(flat)) == len(flat)


async def test_list_queues_order_is_stable_between_calls(autojump_clock, sqs):
    """Paging relies on a stable order: two listings (and two paginations) agree."""
    for name in ("q-c", "q-a", "q-b", "q-e", "q-d"):
        await sqs.create_queue(QueueName=name)
    full1 = await all_queue_urls(sqs)
    full2 = await all_queue_urls(sqs)
    assert full1 == full2

    async def paginate():
        out, token = [], None
        while True:
            kw = {"MaxResults": 2}
            if token:
                kw["NextToken"] = token
            r = await sqs.list_queues(**kw)
            out.extend(r.get("QueueUrls", []))
            token = r.get("NextToken")
            if not token:
                return out

    assert await paginate() == await paginate() == full1


async def test_list_queues_without_max_results_returns_everything_without_token(
    autojump_clock, sqs
):
    """AWS: without MaxResults ListQueues returns up to 1,000 queues and no NextToken."""
    for i in range(12):
        await sqs.create_queue(QueueName=f"n{i}")
    r = await sqs.list_queues()
    assert len(r["QueueUrls"]) == 12
    assert "NextToken" not in r


@pytest.mark.parametrize("max_results", [0, 1001, -1])
async def test_list_queues_max_results_out_of_range_is_rejected(autojump_clock, sqs, max_results):
    """AWS: MaxResults must be 1-1000."""
    with pytest.raises(BrokerError) as e:
        await sqs.list_queues(MaxResults=max_results)
    assert e.value.code == "InvalidParameterValue"


# --- GetQueueAttributes ---------------------------------------------------------------------------


async def test_get_all_attributes_of_new_queue_has_documented_defaults_as_strings(
    autojump_clock, sqs
):
    """AWS defaults: VisibilityTimeout 30, MessageRetentionPeriod 345600 (4 days), DelaySeconds 0,
    ReceiveMessageWaitTimeSeconds 0, empty counts; every value is a string."""
    url = (await sqs.create_queue(QueueName="defaults"))["QueueUrl"]
    a = await attrs_of(sqs, url, "All")
    for name, value in DEFAULTS.items():
        assert a[name] == value, name
    assert a["QueueArn"] == arn_of("defaults")
    assert a["CreatedTimestamp"].isdigit()
    assert a["LastModifiedTimestamp"].isdigit()
    assert all(isinstance(v, str) for v in a.values())
    assert "RedrivePolicy" not in a


@pytest.mark.parametrize(
    "name",
    [*sorted(DEFAULTS), "QueueArn", "CreatedTimestamp", "LastModifiedTimestamp"],
)
async def test_get_single_named_attribute_returns_only_that_attribute(autojump_clock, sqs, name):
    """AWS: GetQueueAttributes returns exactly the attributes asked for."""
    url = (await sqs.create_queue(QueueName="one"))["QueueUrl"]
    a = await attrs_of(sqs, url, name)
    assert list(a) == [name]
    assert isinstance(a[name], str)
    if name in DEFAULTS:
        assert a[name] == DEFAULTS[name]


async def test_get_unknown_attribute_name_is_invalid_attribute_name(autojump_clock, sqs):
    """AWS: asking for an attribute SQS does not know fails with InvalidAttributeName."""
    url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
    with pytest.raises(BrokerError) as e:
        await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "Bogus"])
    assert e.value.code == "InvalidAttributeName"


async def test_timestamps_are_epoch_seconds_that_follow_virtual_time(autojump_clock, sqs):
    """AWS: CreatedTimestamp/LastModifiedTimestamp are epoch seconds; on the virtual clock they
    advance with virtual time (and SentTimestamp, in milliseconds, agrees with them)."""
    first = (await sqs.create_queue(QueueName="t1"))["QueueUrl"]
    a1 = await attrs_of(sqs, first, "CreatedTimestamp", "LastModifiedTimestamp")
    created1 = int(a1["CreatedTimestamp"])
    assert created1 == int(a1["LastModifiedTimestamp"])
    # Plausible epoch seconds (2001..2286), not milliseconds or clock offsets.
    assert 1_000_000_000 < created1 < 10_000_000_000

    await trio.sleep(1000)
    second = (await sqs.create_queue(QueueName="t2"))["QueueUrl"]
    created2 = int((await attrs_of(sqs, second, "CreatedTimestamp"))["CreatedTimestamp"])
    assert created2 - created1 == 1000

    await sqs.send_message(QueueUrl=second, MessageBody="x")
    got = await sqs.receive_message(QueueUrl=second, MessageSystemAttributeNames=["SentTimestamp"])
    sent_ms = int(got["Messages"][0]["Attributes"]["SentTimestamp"])
    assert sent_ms // 1000 == created2


async def test_counts_follow_messages_through_delayed_visible_inflight_and_deleted(
    autojump_clock, sqs
):
    """AWS: ApproximateNumberOfMessages counts available messages, ...NotVisible in-flight ones,
    ...Delayed ones still in their delay; each count moves as the message changes state."""
    url = (await sqs.create_queue(QueueName="c", Attributes={"VisibilityTimeout": "30"}))[
        "QueueUrl"
    ]
    for i in range(3):
        await sqs.send_message(QueueUrl=url, MessageBody=f"now{i}")
    for i in range(2):
        await sqs.send_message(QueueUrl=url, MessageBody=f"later{i}", DelaySeconds=60)
    assert await counts(sqs, url) == (3, 0, 2)

    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    assert len(r["Messages"]) == 2
    assert await counts(sqs, url) == (1, 2, 2)

    await trio.sleep(31)  # visibility lapses: back to available
    assert await counts(sqs, url) == (3, 0, 2)

    await trio.sleep(30)  # t = 61: the delay is over
    assert await counts(sqs, url) == (5, 0, 0)

    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    msgs = r["Messages"]
    assert len(msgs) == 5
    assert await counts(sqs, url) == (0, 5, 0)
    for m in msgs[:2]:
        await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert await counts(sqs, url) == (0, 3, 0)


async def test_get_fifo_only_attribute_of_standard_queue_is_invalid_attribute_name(
    autojump_clock, sqs
):
    """AWS: FIFO attributes exist only on FIFO queues; asking a standard queue for FifoQueue
    fails with InvalidAttributeName ("Unknown Attribute FifoQueue."), as the AWS SDK team
    confirmed comes from the service itself (aws/aws-sdk-ruby#1350)."""
    url = (await sqs.create_queue(QueueName="std"))["QueueUrl"]
    with pytest.raises(BrokerError) as e:
        await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["FifoQueue"])
    assert e.value.code == "InvalidAttributeName"
    assert "FifoQueue" not in await attrs_of(sqs, url, "All")


# --- SetQueueAttributes ---------------------------------------------------------------------------


async def test_set_queue_attributes_changes_value_and_last_modified_timestamp(autojump_clock, sqs):
    """AWS: SetQueueAttributes updates the attribute and LastModifiedTimestamp (epoch seconds);
    CreatedTimestamp stays."""
    url = (await sqs.create_queue(QueueName="m"))["QueueUrl"]
    before = await attrs_of(sqs, url)
    await trio.sleep(50)
    assert (
        await sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"VisibilityTimeout": "77", "DelaySeconds": "3"}
        )
        == {}
    )
    after = await attrs_of(sqs, url)
    assert after["VisibilityTimeout"] == "77"
    assert after["DelaySeconds"] == "3"
    assert after["CreatedTimestamp"] == before["CreatedTimestamp"]
    assert int(after["LastModifiedTimestamp"]) - int(before["LastModifiedTimestamp"]) == 50


async def test_lowered_maximum_message_size_applies_to_later_sends(autojump_clock, sqs):
    """AWS: SetQueueAttributes changes the queue's behaviour: after MaximumMessageSize is lowered
    to 1024 bytes a 1025-byte message is refused."""
    url = (await sqs.create_queue(QueueName="m"))["QueueUrl"]
    await sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    assert e.value.code == "InvalidParameterValue"
    await sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    assert await counts(sqs, url) == (2, 0, 0)


async def test_changing_queue_delay_is_not_retroactive(autojump_clock, sqs):
    """AWS: on a standard queue changing DelaySeconds does not affect the delay of messages
    already in the queue."""
    url = (await sqs.create_queue(QueueName="d", Attributes={"DelaySeconds": "100"}))["QueueUrl"]
    await sqs.send_message(QueueUrl=url, MessageBody="old")
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    await sqs.send_message(QueueUrl=url, MessageBody="new")
    assert await counts(sqs, url) == (1, 0, 1)
    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1000)
    assert [m["Body"] for m in r["Messages"]] == ["new"]
    await trio.sleep(101)
    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in r["Messages"]] == ["old"]


async def test_set_queue_attributes_with_one_bad_value_changes_nothing(autojump_clock, sqs):
    """AWS validates the whole request first: one invalid value means no attribute changes."""
    url = (await sqs.create_queue(QueueName="m"))["QueueUrl"]
    before = await attrs_of(sqs, url)
    await trio.sleep(5)
    with pytest.raises(BrokerError) as e:
        await sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"VisibilityTimeout": "77", "DelaySeconds": "901"}
        )
    assert e.value.code == "InvalidAttributeValue"
    assert await attrs_of(sqs, url) == before


async def test_set_unknown_attribute_is_invalid_attribute_name(autojump_clock, sqs):
    """AWS: SetQueueAttributes with an unknown name fails with InvalidAttributeName."""
    url = (await sqs.create_queue(QueueName="m"))["QueueUrl"]
    with pytest.raises(BrokerError) as e:
        await sqs.set_queue_attributes(QueueUrl=url, Attributes={"Colour": "blue"})
    assert e.value.code == "InvalidAttributeName"


@pytest.mark.parametrize("name", ["QueueArn", "CreatedTimestamp", "ApproximateNumberOfMessages"])
async def test_read_only_attributes_cannot_be_set(autojump_clock, sqs, name):
    """AWS: read-only attributes are not settable; SetQueueAttributes answers InvalidAttributeName
    ("Unknown Attribute ...")."""
    url = (await sqs.create_queue(QueueName="m"))["QueueUrl"]
    before = await attrs_of(sqs, url)
    with pytest.raises(BrokerError) as e:
        await sqs.set_queue_attributes(QueueUrl=url, Attributes={name: "1"})
    assert e.value.code == "InvalidAttributeName"
    assert await attrs_of(sqs, url) == before


@pytest.mark.parametrize(
    ("name", "attributes", "value"),
    [
        ("std", {}, "true"),
        ("fq.fifo", {"FifoQueue": "true"}, "false"),
        ("fq2.fifo", {"FifoQueue": "true"}, "true"),
    ],
)
async def test_fifo_queue_attribute_cannot_be_changed_after_creation(
    autojump_clock, sqs, name, attributes, value
):
    """AWS: FifoQueue can be given only at creation and the type never changes. On a standard
    queue SetQueueAttributes answers InvalidAttributeName ("Unknown Attribute FifoQueue"); for a
    FIFO queue AWS documents no code, so either attribute error is accepted there."""
    url = (await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]
    try:
        await sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": value})
    except BrokerError as e:
        code = e.code
    else:
        # Re-stating the type a FIFO queue already has is harmless; anything else must fail.
        code = None
        assert attributes and value == "true", "changing the queue type must be refused"
    if not attributes:
        assert code == "InvalidAttributeName"
    elif value == "false":
        assert code in {"InvalidAttributeName", "InvalidAttributeValue"}
    # The queue type is unchanged: a standard queue still takes a message without a group id.
    if not attributes:
        await sqs.send_message(QueueUrl=url, MessageBody="still standard")
    else:
        a = await attrs_of(sqs, url, "FifoQueue")
        assert a["FifoQueue"] == "true"


# --- Tags -----------------------------------------------------------------------------------------


async def test_tags_given_at_create_are_listed(autojump_clock, sqs):
    """AWS: CreateQueue's tags are the queue's initial tags, listed by ListQueueTags."""
    url = (await sqs.create_queue(QueueName="t", tags={"team": "core", "env": "dev"}))["QueueUrl"]
    assert (await sqs.list_queue_tags(QueueUrl=url)).get("Tags") == {"team": "core", "env": "dev"}


async def test_tag_untag_and_list(autojump_clock, sqs):
    """AWS: TagQueue adds or overwrites (same key replaces the value), UntagQueue removes keys
    (unknown keys are ignored), tags are case-sensitive."""
    url = (await sqs.create_queue(QueueName="t"))["QueueUrl"]
    assert (await sqs.list_queue_tags(QueueUrl=url)).get("Tags", {}) == {}
    assert await sqs.tag_queue(QueueUrl=url, Tags={"a": "1", "B": "2"}) == {}
    await sqs.tag_queue(QueueUrl=url, Tags={"a": "one", "b": "3"})
    assert (await sqs.list_queue_tags(QueueUrl=url))["Tags"] == {"a": "one", "B": "2", "b": "3"}
    assert await sqs.untag_queue(QueueUrl=url, TagKeys=["B", "nope"]) == {}
    assert (await sqs.list_queue_tags(QueueUrl=url))["Tags"] == {"a": "one", "b": "3"}


async def test_fifty_tags_are_allowed_and_a_fifty_first_is_refused(autojump_clock, sqs):
    """AWS quota: a queue carries at most 50 tags; a TagQueue that would exceed it fails and
    adds nothing, while overwriting an existing key does not count as a new tag."""
    url = (await sqs.create_queue(QueueName="t"))["QueueUrl"]
    fifty = {f"k{i}": str(i) for i in range(50)}
    await sqs.tag_queue(QueueUrl=url, Tags=fifty)
    assert (await sqs.list_queue_tags(QueueUrl=url))["Tags"] == fifty

    with pytest.raises(BrokerError) as e:
        await sqs.tag_queue(QueueUrl=url, Tags={"k0": "new", "extra": "x"})
    assert e.value.code in {"InvalidParameterValue", "TooManyTags"}
    assert (await sqs.list_queue_tags(QueueUrl=url))["Tags"] == fifty

    await sqs.tag_queue(QueueUrl=url, Tags={"k0": "overwritten"})
    assert (await sqs.list_queue_tags(QueueUrl=url))["Tags"]["k0"] == "overwritten"


async def test_more_than_fifty_tags_at_create_is_refused(autojump_clock, sqs):
    """AWS quota: 50 tags per queue also applies to CreateQueue's tags; no queue is created."""
    with pytest.raises(BrokerError) as e:
        await sqs.create_queue(QueueName="t", tags={f"k{i}": "v" for i in range(51)})
    assert e.value.code in {"InvalidParameterValue", "TooManyTags"}
    assert await all_queue_urls(sqs) == []


# --- PurgeQueue -----------------------------------------------------------------------------------


async def test_purge_removes_visible_and_inflight_messages(autojump_clock, sqs):
    """AWS: PurgeQueue deletes all messages, including those in flight; a purged in-flight
    message does not come back when its visibility timeout ends."""
    url = (await sqs.create_queue(QueueName="p", Attributes={"VisibilityTimeout": "30"}))[
        "QueueUrl"
    ]
    for i in range(4):
        await sqs.send_message(QueueUrl=url, MessageBody=str(i))
    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    assert len(r["Messages"]) == 2
    assert await counts(sqs, url) == (2, 2, 0)

    assert await sqs.purge_queue(QueueUrl=url) == {}
    await trio.sleep(61)  # purging may take up to 60 s; after that everything is gone
    assert await counts(sqs, url) == (0, 0, 0)
    assert "Messages" not in await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)


async def test_second_purge_within_60_seconds_is_purge_queue_in_progress(autojump_clock, sqs):
    """AWS: only one PurgeQueue per 60 s; another within that window fails with
    PurgeQueueInProgress, one after it succeeds."""
    url = (await sqs.create_queue(QueueName="p"))["QueueUrl"]
    await sqs.purge_queue(QueueUrl=url)
    await trio.sleep(59)
    with pytest.raises(BrokerError) as e:
        await sqs.purge_queue(QueueUrl=url)
    assert e.value.code == "PurgeQueueInProgress"
    await trio.sleep(2)
    await sqs.purge_queue(QueueUrl=url)


async def test_messages_sent_after_a_completed_purge_are_delivered(autojump_clock, sqs):
    """AWS: a purge affects messages present when it ran; after it completes the queue works as
    before."""
    url = (await sqs.create_queue(QueueName="p"))["QueueUrl"]
    await sqs.send_message(QueueUrl=url, MessageBody="old")
    await sqs.purge_queue(QueueUrl=url)
    await trio.sleep(61)
    await sqs.send_message(QueueUrl=url, MessageBody="new")
    r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in r["Messages"]] == ["new"]


# --- Unknown queues and malformed parameters ------------------------------------------------------

OPERATIONS_ON_A_QUEUE = [
    ("get_queue_attributes", {"AttributeNames": ["All"]}),
    ("set_queue_attributes", {"Attributes": {"VisibilityTimeout": "10"}}),
    ("delete_queue", {}),
    ("purge_queue", {}),
    ("send_message", {"MessageBody": "x"}),
    ("send_message_batch", {"Entries": [{"Id": "a", "MessageBody": "x"}]}),
    ("receive_message", {"MaxNumberOfMessages": 1}),
    ("delete_message", {"ReceiptHandle": "AQEBsomething"}),
    ("delete_message_batch", {"Entries": [{"Id": "a", "ReceiptHandle": "AQEBsomething"}]}),
    ("change_message_visibility", {"ReceiptHandle": "AQEBsomething", "VisibilityTimeout": 5}),
    (
        "change_message_visibility_batch",
        {"Entries": [{"Id": "a", "ReceiptHandle": "AQEBsomething", "VisibilityTimeout": 5}]},
    ),
    ("tag_queue", {"Tags": {"a": "b"}}),
    ("untag_queue", {"TagKeys": ["a"]}),
    ("list_queue_tags", {}),
    ("list_dead_letter_source_queues", {}),
]


@pytest.mark.parametrize(("operation", "params"), OPERATIONS_ON_A_QUEUE)
async def test_every_operation_on_an_unknown_queue_url_is_queue_does_not_exist(
    autojump_clock, sqs, operation, params
):
    """AWS: any operation addressed to a well-formed URL of a queue that does not exist fails with
    QueueDoesNotExist, and nothing is created."""
    await sqs.create_queue(QueueName="exists")
    with pytest.raises(BrokerError) as e:
        await getattr(sqs, operation)(QueueUrl=MISSING_URL, **params)
    assert e.value.code == "QueueDoesNotExist"
    assert await all_queue_urls(sqs) == [url_of("exists")]


async def test_malformed_queue_url_is_rejected(autojump_clock, sqs):
    """AWS: a QueueUrl that is not a queue URL at all is rejected (InvalidAddress)."""
    with pytest.raises(BrokerError) as e:
        await sqs.send_message(QueueUrl="not a url", MessageBody="x")
    assert e.value.code == "InvalidAddress"


async def test_unknown_keyword_argument_is_a_broker_error_and_creates_nothing(autojump_clock, sqs):
    """Like botocore's parameter validation: an unknown parameter is refused, never a TypeError,
    and the request has no effect."""
    with pytest.raises(BrokerError):
        await sqs.create_queue(QueueName="q", Colour="blue")
    assert await all_queue_urls(sqs) == []


async def test_wrong_parameter_type_is_a_broker_error_and_changes_nothing(autojump_clock, sqs):
    """A parameter of the wrong type is refused with a BrokerError (never TypeError), and the
    request has no effect."""
    with pytest.raises(BrokerError):
        await sqs.create_queue(QueueName=123)
    assert await all_queue_urls(sqs) == []
    url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
    with pytest.raises(BrokerError):
        await sqs.send_message(QueueUrl=url, MessageBody=b"bytes are not a string")
    with pytest.raises(BrokerError):
        await sqs.set_queue_attributes(QueueUrl=url, Attributes=["VisibilityTimeout", "5"])
    with pytest.raises(BrokerError):
        await sqs.tag_queue(QueueUrl=url, Tags="team=core")
    assert await counts(sqs, url) == (0, 0, 0)
    assert (await attrs_of(sqs, url, "VisibilityTimeout"))["VisibilityTimeout"] == "30"
    assert (await sqs.list_queue_tags(QueueUrl=url)).get("Tags", {}) == {}


async def test_missing_queue_url_is_missing_parameter(autojump_clock, sqs):
    """AWS: QueueUrl is required by every queue operation."""
    with pytest.raises(BrokerError) as e:
        await sqs.get_queue_attributes(AttributeNames=["All"])
    assert e.value.code == "MissingParameter"
    assert "QueueUrl" in e.value.message


async def test_kms_key_switches_the_queue_from_sqs_managed_encryption(autojump_clock, sqs):
    """AWS: a queue uses one kind of server-side encryption; with KmsMasterKeyId set,
    SqsManagedSseEnabled reads "false" and KmsDataKeyReusePeriodSeconds defaults to 300."""
    url = (await sqs.create_queue(QueueName="enc", Attributes={"KmsMasterKeyId": "alias/aws/sqs"}))[
        "QueueUrl"
    ]
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "false"
    assert attrs["KmsMasterKeyId"] == "alias/aws/sqs"
    assert attrs["KmsDataKeyReusePeriodSeconds"] == "300"
    await sqs.set_queue_attributes(QueueUrl=url, Attributes={"SqsManagedSseEnabled": "true"})
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    assert "KmsMasterKeyId" not in attrs and "KmsDataKeyReusePeriodSeconds" not in attrs
    with pytest.raises(BrokerError) as err:
        await sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"SqsManagedSseEnabled": "true", "KmsMasterKeyId": "k"}
        )
    assert err.value.code == "InvalidAttributeName"
