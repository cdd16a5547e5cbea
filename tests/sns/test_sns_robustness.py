"""Bad input at the SNS operation boundary: only BrokerError reaches a client, never
InternalFailure, and a rejected request changes nothing.

Each example opens a broker with a standard topic (an SQS subscription with a redrive policy,
a raw one with a filter policy, an email subscription pending confirmation, an SMS subscription)
and a FIFO topic with a FIFO queue subscribed, and makes one to four requests through
``broker.call``, so later requests meet what earlier ones changed (a deleted topic, a confirmed
or removed subscription, a dedup entry). A request is any SNS operation (or one that does not
exist) with the parameters it takes, each drawn mostly from plausible values -- the setup's real
ARNs and token, well-formed documents -- and otherwise from near misses and junk of every
JSON-ish type; then up to two mutations drop a parameter, replace one with junk or add one the
operation does not take. ``MSGSIM_FUZZ_EXAMPLES`` sets the number of examples (default 300).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from msgsim.broker import Broker, BrokerError
from msgsim.broker.sns.model import PROTOCOLS
from msgsim.broker.sns.subscription_attributes import SUBSCRIPTION_ATTRIBUTES
from msgsim.broker.sns.topics import TOPIC_ATTRIBUTES

SNS = "arn:aws:sns:us-east-1:000000000000:"
SQS = "arn:aws:sqs:us-east-1:000000000000:"
STD = SNS + "std"
FIFO = SNS + "t.fifo"

#: Parameters each operation takes; the first ``REQUIRED[op]`` are always drawn (before mutation).
OPERATION_PARAMS: dict[str, list[str]] = {
    "CreateTopic": ["Name", "Attributes", "Tags", "DataProtectionPolicy"],
    "DeleteTopic": ["TopicArn"],
    "ListTopics": ["NextToken"],
    "GetTopicAttributes": ["TopicArn"],
    "SetTopicAttributes": ["TopicArn", "AttributeName", "AttributeValue"],
    "Subscribe": ["TopicArn", "Protocol", "Endpoint", "Attributes", "ReturnSubscriptionArn"],
    "ConfirmSubscription": ["TopicArn", "Token", "AuthenticateOnUnsubscribe"],
    "Unsubscribe": ["SubscriptionArn"],
    "ListSubscriptions": ["NextToken"],
    "ListSubscriptionsByTopic": ["TopicArn", "NextToken"],
    "GetSubscriptionAttributes": ["SubscriptionArn"],
    "SetSubscriptionAttributes": ["SubscriptionArn", "AttributeName", "AttributeValue"],
    "Publish": [
        "Message",
        "Subject",
        "MessageStructure",
        "MessageAttributes",
        "MessageGroupId",
        "MessageDeduplicationId",
    ],  # plus one of TopicArn, TargetArn, PhoneNumber
    "PublishBatch": ["TopicArn", "PublishBatchRequestEntries"],
    "TagResource": ["ResourceArn", "Tags"],
    "UntagResource": ["ResourceArn", "TagKeys"],
    "ListTagsForResource": ["ResourceArn"],
    "ListOutbox": ["Protocol", "Endpoint", "TopicArn", "Clear"],
    "NoSuchOperation": ["TopicArn"],
}
REQUIRED: dict[str, int] = {
    "CreateTopic": 1,
    "DeleteTopic": 1,
    "GetTopicAttributes": 1,
    "SetTopicAttributes": 3,
    "Subscribe": 3,
    "ConfirmSubscription": 2,
    "Unsubscribe": 1,
    "ListSubscriptionsByTopic": 1,
    "GetSubscriptionAttributes": 1,
    "SetSubscriptionAttributes": 3,
    "Publish": 1,
    "PublishBatch": 2,
    "TagResource": 2,
    "UntagResource": 2,
    "ListTagsForResource": 1,
}
PARAM_NAMES = sorted(
    {n for names in OPERATION_PARAMS.values() for n in names}
    | {"TopicArn", "TargetArn", "PhoneNumber", "Id", "Bogus"}
)


class Ref:
    """A value known only once the broker is set up (a subscription ARN, a token)."""

    def __init__(self, name: str, suffix: str = "") -> None:
        self.name = name
        self.suffix = suffix

    def __repr__(self) -> str:
        return f"Ref({self.name!r}{', ' + repr(self.suffix) if self.suffix else ''})"


def resolve(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return refs[value.name] + value.suffix
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {resolve(k, refs): resolve(v, refs) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- junk
TOPIC_ATTRIBUTE_NAMES = sorted(TOPIC_ATTRIBUTES | {"FifoTopic"})
SUBSCRIPTION_ATTRIBUTE_NAMES = sorted(SUBSCRIPTION_ATTRIBUTES)
SUB_REFS = ["sub:q", "sub:qf", "sub:email", "sub:sms", "sub:fifo"]

words = st.sampled_from(
    [
        "",
        " ",
        "std",
        "a b",
        "x" * 257,
        "HTTP",
        "not-an-email",
        "http://",
        "12",
        "True",
        "yes",
        "Bogus",
        "\x00",
        "\ud800",
        "é",
        "aws:x",
        "x" * 129,
        "!!!",
        "AAAA",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        *TOPIC_ATTRIBUTE_NAMES,
        *SUBSCRIPTION_ATTRIBUTE_NAMES,
    ]
)
bad_arns = st.sampled_from(
    [
        SNS + "missing",
        SNS + "missing.fifo",
        STD + ":00000000-0000-0000-0000-000000000000",
        "arn:aws:sns:us-east-1:000000000000",
        "arn:aws:sns:eu-west-1:111111111111:std",
        "arn:aws:sns::::::",
        SQS + "q",
        SQS + "q.fifo",
        "arn:aws:lambda:us-east-1:000000000000:function:f",
        "https://sqs.us-east-1.amazonaws.com/000000000000/q",
        "std",
    ]
)
refs = st.builds(Ref, st.sampled_from([*SUB_REFS, "token:email"]), st.sampled_from(["", "x", ":1"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=8),
    words,
    bad_arns,
    refs,
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [*PARAM_NAMES, "Key", "Value", "DataType", "StringValue", "BinaryValue"]
                ),
                st.integers(0, 2),
                st.none(),
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)

# --------------------------------------------------------------------------- documents
# JSON for the attributes that hold it: filter, delivery, redrive and access policies, and
# MessageStructure=json messages.
POLICY_KEYS = [
    "kind",
    "n",
    "a.b",
    "$or",
    "numeric",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "equals-ignore-case",
    "wildcard",
    "cidr",
    "exact",
    "healthyRetryPolicy",
    "sicklyRetryPolicy",
    "throttlePolicy",
    "requestPolicy",
    "http",
    "defaultHealthyRetryPolicy",
    "defaultThrottlePolicy",
    "defaultRequestPolicy",
    "disableSubscriptionOverrides",
    "minDelayTarget",
    "maxDelayTarget",
    "numRetries",
    "numNoDelayRetries",
    "numMinDelayRetries",
    "numMaxDelayRetries",
    "backoffFunction",
    "maxReceivesPerSecond",
    "headerContentType",
    "deadLetterTargetArn",
    "Version",
    "Statement",
    "default",
    "sqs",
    "sms",
    "email",
]
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.integers(0, 30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "a",
            "b",
            "c",
            ">",
            ">=",
            "<",
            "=",
            "linear",
            "exponential",
            "text/plain",
            "application/json",
            "10.0.0.0/24",
            "::1/128",
            "x*y",
            "\ud800",
            SQS + "dlq",
            SQS + "dlq.fifo",
            "",
        ]
    ),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(POLICY_KEYS), inner, max_size=4),
    ),
    max_leaves=10,
)
documents = st.one_of(
    st.builds(json.dumps, st.dictionaries(st.sampled_from(POLICY_KEYS), json_values, max_size=4)),
    st.sampled_from(
        [
            "{}",
            "[]",
            "null",
            "{",
            "NaN",
            '{"n": NaN}',
            '{"kind": ["a"]}',
            '{"kind": ["a", "b"], "n": [{"numeric": [">", 1, "<=", 5]}]}',
            '{"$or": [{"kind": ["a"]}, {"n": [{"numeric": ["=", 3]}]}]}',
            '{"kind": [{"anything-but": ["a"]}]}',
            '{"kind": [{"exists": false}]}',
            '{"a": {"b": ["c"]}}',
            '{"kind": "a"}',
            '{"healthyRetryPolicy": {"numRetries": 3, "minDelayTarget": 1, "maxDelayTarget": 2}}',
            '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 100}}}',
            '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 3}, '
            '"disableSubscriptionOverrides": true}}',
            '{"deadLetterTargetArn": "' + SQS + 'dlq"}',
            '{"deadLetterTargetArn": "' + SQS + 'dlq.fifo"}',
            '{"deadLetterTargetArn": "' + SQS + 'missing"}',
            '{"deadLetterTargetArn": 5}',
            '{"Version": "2012-10-17", "Statement": []}',
            '{"default": "d", "sqs": "s", "email": 1}',
            '{"default": "\\ud800"}',
            '{"default": "d", "sqs": "\\udfff"}',
            '{"sqs": "s"}',
            '{"kind": "a", "n": 3}',
        ]
    ),
)

# --------------------------------------------------------------------------- plausible values
good_attribute = st.one_of(
    st.fixed_dictionaries(
        {
            "DataType": st.just("String"),
            "StringValue": st.sampled_from(["a", "b", "c", "é", "\ud800"]),
        }
    ),
    st.fixed_dictionaries(
        {"DataType": st.sampled_from(["Number", "Number.int"]), "StringValue": st.just("3")}
    ),
    st.fixed_dictionaries(
        {"DataType": st.just("String.Array"), "StringValue": st.just('["a", 1, null]')}
    ),
    st.fixed_dictionaries({"DataType": st.just("Binary"), "BinaryValue": st.just(b"\x00\x01")}),
)
bad_attribute = st.one_of(
    st.fixed_dictionaries(
        {
            "DataType": st.sampled_from(
                ["String", "Number", "Binary", "String.Array", "Number.f", "Bogus", ""]
            ),
            "StringValue": st.sampled_from(
                ["a", "3", "1e400", "-0.5", "NaN", '[1, "a"]', "[{}]", "", "\ud800"]
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "DataType": st.sampled_from(["Binary", "Binary.x", "String"]),
            "BinaryValue": st.one_of(st.binary(max_size=4), st.text(max_size=2)),
        }
    ),
    st.dictionaries(
        st.sampled_from(["DataType", "StringValue", "BinaryValue", "Bogus"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=3)),
        max_size=3,
    ),
    junk,
)
attribute_names = st.one_of(
    st.sampled_from(["kind", "n", "arr", "b"]),
    st.sampled_from(["AWS.x", ".x", "x.", "a..b", "x" * 257, "", "é"]),
)
message_attributes = st.one_of(
    st.dictionaries(st.sampled_from(["kind", "n", "arr", "b"]), good_attribute, max_size=3),
    st.dictionaries(attribute_names, st.one_of(good_attribute, bad_attribute), max_size=12),
)
messages = st.one_of(
    st.sampled_from(["hello", '{"kind": "a", "n": 3}', '{"default": "d", "sqs": "s"}']),
    st.text(max_size=20),
    documents,
)
attribute_values = st.one_of(
    st.sampled_from(
        [
            "true",
            "false",
            "",
            "1",
            "2",
            "S",
            "Topic",
            "MessageGroup",
            "PassThrough",
            "Active",
            "MessageBody",
            "MessageAttributes",
            "arn:aws:iam::000000000000:role/r",
        ]
    ),
    documents,
)
tags = st.fixed_dictionaries(
    {"Key": st.sampled_from(["k", "k2", "k3"]), "Value": st.sampled_from(["v", "", "w"])}
)
bad_tags = st.one_of(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"Key": st.one_of(words, junk), "Value": st.one_of(words, junk)}),
            junk,
        ),
        max_size=4,
    ),
    st.just([{"Key": f"k{i}", "Value": ""} for i in range(51)]),
)
good_entry = st.fixed_dictionaries(
    {"Id": st.sampled_from(["1", "2", "3", "4"]), "Message": messages},
    optional={
        "MessageGroupId": st.sampled_from(["g1", "g2"]),
        "MessageDeduplicationId": st.sampled_from(["d1", "d2"]),
        "MessageAttributes": message_attributes,
        "MessageStructure": st.just("json"),
        "Subject": st.sampled_from(["s", "", "\n", "é"]),
    },
)
bad_entries = st.lists(
    st.one_of(
        good_entry,
        st.dictionaries(
            st.one_of(
                st.sampled_from(["Id", *OPERATION_PARAMS["Publish"], "TopicArn", "Bogus"]),
                st.integers(0, 2),
            ),
            junk,
            max_size=4,
        ),
        junk,
    ),
    max_size=11,
)
# (protocol, endpoint): the plausible pairs, FIFO-capable and not
endpoints = st.sampled_from(
    [
        ("sqs", SQS + "q2"),
        ("sqs", SQS + "q"),
        ("sqs", SQS + "dlq"),
        ("sqs", SQS + "q2.fifo"),
        ("sqs", SQS + "q.fifo"),
        ("sqs", SQS + "missing"),
        ("sqs", "arn:aws:sqs:us-east-1:111111111111:q"),
        ("email", "ops@example.com"),
        ("email-json", "new@example.com"),
        ("sms", "+15555550100"),
        ("sms", "+1-555-555-0101"),
        ("http", "http://127.0.0.1:9/x"),
        ("https", "https://127.0.0.1:9/"),
        ("lambda", "arn:aws:lambda:us-east-1:000000000000:function:f"),
        ("application", "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1"),
        ("firehose", "arn:aws:firehose:us-east-1:000000000000:deliverystream/s"),
    ]
)
topic_arns = st.sampled_from([STD, STD, FIFO])


def good(operation: str, name: str) -> st.SearchStrategy[Any]:
    """Values of the parameter that pass, or nearly pass, validation."""
    if name == "Attributes":
        names = (
            TOPIC_ATTRIBUTE_NAMES if operation == "CreateTopic" else SUBSCRIPTION_ATTRIBUTE_NAMES
        )
        return st.dictionaries(st.sampled_from(names), attribute_values, max_size=3)
    if name == "AttributeName":
        if operation == "SetTopicAttributes":
            return st.sampled_from(TOPIC_ATTRIBUTE_NAMES)
        return st.sampled_from(SUBSCRIPTION_ATTRIBUTE_NAMES)
    if name == "Protocol" and operation == "ListOutbox":
        return st.sampled_from(["email", "sms", "email-json"])
    if name == "Endpoint" and operation == "ListOutbox":
        return st.sampled_from(["ops@example.com", "+15555550100"])
    return GOOD[name]


GOOD: dict[str, st.SearchStrategy[Any]] = {
    "TopicArn": topic_arns,
    "TargetArn": topic_arns,
    "ResourceArn": topic_arns,
    "PhoneNumber": st.sampled_from(["+15555550100", "+1 555 555 0101"]),
    "SubscriptionArn": st.builds(Ref, st.sampled_from(SUB_REFS)),
    "Token": st.just(Ref("token:email")),
    "AuthenticateOnUnsubscribe": st.sampled_from(["true", "false", True]),
    "Protocol": st.sampled_from(sorted(PROTOCOLS)),
    "Endpoint": endpoints.map(lambda pair: pair[1]),
    "ReturnSubscriptionArn": st.booleans(),
    "Name": st.sampled_from(["std", "t.fifo", "new", "new.fifo"]),
    "Tags": st.lists(tags, max_size=3),
    "TagKeys": st.lists(st.sampled_from(["k", "k2", "nope"]), max_size=3),
    "AttributeValue": attribute_values,
    "DataProtectionPolicy": documents,
    "NextToken": st.sampled_from(
        [base64.urlsafe_b64encode(a.encode()).decode() for a in (STD, SNS + "a", SNS + "z")]
    ),
    "Message": messages,
    "Subject": st.sampled_from(["subject", "s p a c e"]),
    "MessageStructure": st.just("json"),
    "MessageAttributes": message_attributes,
    "MessageGroupId": st.sampled_from(["g1", "g2"]),
    "MessageDeduplicationId": st.sampled_from(["d1", "d2"]),
    "PublishBatchRequestEntries": st.lists(good_entry, min_size=1, max_size=10),
    "Clear": st.booleans(),
}
BAD: dict[str, st.SearchStrategy[Any]] = {
    "TopicArn": st.one_of(bad_arns, refs),
    "TargetArn": st.one_of(bad_arns, refs),
    "ResourceArn": st.one_of(bad_arns, refs),
    "SubscriptionArn": st.one_of(refs, bad_arns, st.just("pending confirmation")),
    "Endpoint": words,
    "Tags": bad_tags,
    "Message": st.sampled_from(["", "\ud800", "x" * (256 * 1024 + 1)]),
    "Subject": st.sampled_from(["", " x", "\n", "x" * 101, "é", "\ud800"]),
    "MessageStructure": st.sampled_from(["xml", "JSON", ""]),
    "MessageAttributes": st.dictionaries(attribute_names, bad_attribute, max_size=3),
    "MessageGroupId": st.sampled_from(["", "x" * 129, "é", " "]),
    "MessageDeduplicationId": st.sampled_from(["", "x" * 129, "é"]),
    "PublishBatchRequestEntries": bad_entries,
}


#: How a parameter's value is drawn (Hypothesis's one_of does not weigh its branches).
KINDS = ["good"] * 7 + ["bad"] * 2 + ["junk"]


def value(draw: st.DrawFn, operation: str, name: str) -> Any:
    kind = draw(st.sampled_from(KINDS))
    if kind == "good":
        return draw(good(operation, name))
    return draw(BAD.get(name, words) if kind == "bad" else junk)


#: Mostly none; else drop a parameter, junk one, or add one the operation does not take.
MUTATIONS = [
    (),
    (),
    (),
    (),
    ("drop",),
    ("junk",),
    ("stray",),
    ("junk", "stray"),
    ("drop", "junk"),
    ("stray", "stray"),
]
#: Operations with much to validate or to do come up more often.
OPERATIONS = [
    *sorted(OPERATION_PARAMS),
    "Publish",
    "Publish",
    "Publish",
    "PublishBatch",
    "Subscribe",
    "SetSubscriptionAttributes",
    "SetTopicAttributes",
    "CreateTopic",
]
structured = st.builds(
    json.dumps,
    st.fixed_dictionaries(
        {"default": st.sampled_from(["d", "\ud800", 1])},
        optional={
            "sqs": st.sampled_from(["s", "\udfff", None]),
            "email": st.just("e"),
            "sms": st.just("t"),
        },
    ),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    operation = draw(st.sampled_from(OPERATIONS))
    names = OPERATION_PARAMS[operation]
    required = names[: REQUIRED.get(operation, 0)]
    params = {n: value(draw, operation, n) for n in required}
    for n in names[len(required) :]:
        if draw(st.sampled_from([False, False, True])):
            params[n] = value(draw, operation, n)
    if operation == "Publish":
        target = draw(st.sampled_from(["TopicArn"] * 4 + ["TargetArn", "PhoneNumber"]))
        params[target] = value(draw, operation, target)
        if params[target] == FIFO and draw(st.booleans()):
            params.setdefault("MessageGroupId", "g1")  # a FIFO publish that may well succeed
        if params.get("MessageStructure") == "json" and draw(st.booleans()):
            params["Message"] = draw(structured)
    elif operation == "Subscribe" and draw(st.booleans()):
        params["Protocol"], params["Endpoint"] = draw(endpoints)
    for mutation in draw(st.sampled_from(MUTATIONS)):
        if mutation == "stray":
            params[draw(st.sampled_from([*PARAM_NAMES, 0, None]))] = draw(junk)
        elif params:
            victim = draw(st.sampled_from(sorted(params, key=repr)))
            if mutation == "drop":
                del params[victim]
            else:
                params[victim] = draw(junk)
    return operation, params


# --------------------------------------------------------------------------- the scenario
def fingerprint(broker: Broker) -> object:
    """Everything a request could change, as plain comparable data."""
    sns = broker.sns
    topics = [
        (
            arn,
            t.fifo,
            sorted(t.attributes.items()),
            sorted(t.tags.items()),
            t.content_based_dedup,
            repr(t.delivery_policy),
            t.sequence,
            sorted(t.dedup.items()),
            t.subs_deleted,
            list(t.subscriptions),
            [s.arn for s in t.plain],
            len(t.filtered),
        )
        for arn, t in sns.topics.items()
    ]
    subscriptions = [
        (
            arn,
            s.topic.arn,
            s.state,
            s.protocol,
            s.endpoint,
            s.raw,
            sorted(s.raw_attributes.items()),
            repr(s.filter_policy),
            repr(s.delivery_policy),
            s.redrive_dlq,
            s.token,
        )
        for arn, s in sns.subscriptions.items()
    ]
    queues = sorted(
        (name, q.n_available, q.n_inflight, q.n_delayed) for name, q in broker.sqs.queues.items()
    )
    return (
        topics,
        subscriptions,
        len(sns.outbox),
        len(sns.outbound),
        queues,
        sns.stats(),
        sns.filter_policies,
        sorted(sns.tokens),
    )


async def _setup(broker: Broker) -> dict[str, str]:
    """The broker every example starts from; returns the values :class:`Ref` names."""

    async def call(operation: str, **params: Any) -> dict[str, Any]:
        return await broker.call("sns", operation, params)

    for name in ("q", "qf", "q2", "dlq", "q.fifo", "q2.fifo", "dlq.fifo"):
        attrs = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
        await broker.call("sqs", "CreateQueue", {"QueueName": name, "Attributes": attrs})
    await call(
        "CreateTopic",
        Name="std",
        Attributes={"DisplayName": "S"},
        Tags=[{"Key": "k", "Value": "v"}],
    )
    await call(
        "CreateTopic",
        Name="t.fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
    )

    async def subscribe(topic: str, protocol: str, endpoint: str, **attributes: str) -> str:
        r = await call(
            "Subscribe",
            TopicArn=topic,
            Protocol=protocol,
            Endpoint=endpoint,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )
        return r["SubscriptionArn"]

    refs = {
        "sub:q": await subscribe(
            STD, "sqs", SQS + "q", RedrivePolicy=json.dumps({"deadLetterTargetArn": SQS + "dlq"})
        ),
        "sub:qf": await subscribe(
            STD, "sqs", SQS + "qf", FilterPolicy='{"kind": ["a"]}', RawMessageDelivery="true"
        ),
        "sub:email": await subscribe(STD, "email", "ops@example.com"),
        "sub:sms": await subscribe(STD, "sms", "+15555550100"),
        "sub:fifo": await subscribe(FIFO, "sqs", SQS + "q.fifo"),
    }
    [confirmation] = (await call("ListOutbox", Protocol="email"))["Messages"]
    refs["token:email"] = confirmation["Token"]
    kind_a = {"kind": {"DataType": "String", "StringValue": "a"}}
    await call("Publish", TopicArn=STD, Message="m", MessageAttributes=kind_a)
    await call("Publish", TopicArn=FIFO, Message="m", MessageGroupId="g1")
    return refs


async def _scenario(steps: list[tuple[str, dict[str, Any]]]) -> None:
    async with Broker.open(seed=3) as broker:
        refs = await _setup(broker)
        for operation, raw in steps:
            params = resolve(raw, refs)
            before = fingerprint(broker)
            try:
                result = await broker.call("sns", operation, params)
            except BrokerError as err:
                event(f"{operation}: {err.code}")
                assert err.code != "InternalFailure", err.message  # a defect of ours
                assert err.code and isinstance(err.message, str)
                assert fingerprint(broker) == before, (
                    f"{operation} failed with {err} but changed state"
                )
            else:
                event(f"{operation}: ok")
                assert isinstance(result, dict), result


@settings(
    max_examples=int(os.environ.get("MSGSIM_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(requests(), min_size=1, max_size=4))
def test_any_sns_request_gets_a_response_or_a_broker_error_and_errors_change_nothing(steps):
    trio.run(_scenario, steps, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_the_fuzz_covers_every_sns_operation(broker):
    assert set(broker.sns.operations) == set(OPERATION_PARAMS) - {"NoSuchOperation"}


async def test_the_fuzzed_setup_is_what_the_fuzz_assumes(broker):
    refs = await _setup(broker)
    subs = broker.sns.subscriptions
    assert subs[refs["sub:email"]].state == "PendingConfirmation"
    assert all(subs[refs[k]].state == "Confirmed" for k in ("sub:q", "sub:qf", "sub:sms"))
    assert subs[refs["sub:fifo"]].topic.fifo
    queues = broker.sqs.queues
    assert queues["q"].n_available == queues["qf"].n_available == queues["q.fifo"].n_available == 1
