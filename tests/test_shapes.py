"""Request values of the wrong type are refused as boto3 refuses them (broker/shapes.py).

boto3 checks the Python types of a request against botocore's service model before it sends
anything; msgsim does the same at the operation boundary, with botocore's words and each
service's usual code for a bad value. The property tests compare msgsim with
``botocore.validate.ParamValidator`` itself, for random operations of the four services and
random values, right and wrong, at every depth of the request.
"""

from __future__ import annotations

import io
import os
import types
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
import trio
import trio.testing
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from msgsim.broker import Broker, BrokerError
from msgsim.broker.shapes import TYPE_ERRORS, check_types

SERVICES = ["sqs", "sns", "kinesis", "lambda"]
_session = botocore.session.get_session()
MODELS = {name: _session.get_service_model(name) for name in SERVICES}
OPERATIONS = [(svc, op) for svc in SERVICES for op in MODELS[svc].operation_names]
EXAMPLES = int(os.environ.get("MSGSIM_FUZZ_EXAMPLES", "300"))


def botocore_type_errors(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """What botocore's own validator says about the types in ``params`` (its other findings,
    missing or unknown members, lengths and ranges, are left to the operations)."""
    shape = MODELS[service].operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    return [
        report._format_error(error)
        for error in report._errors
        if error[0] in ("invalid type", "invalid type for document")
    ]


# ---------------------------------------------------------------------------- what a user meets
async def test_a_string_max_number_of_messages_is_refused_as_boto3_refuses_it(sqs):
    url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    with pytest.raises(BrokerError) as err:
        await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages="5")
    assert err.value.code == "InvalidParameterValue"
    assert err.value.message == (
        "Invalid type for parameter MaxNumberOfMessages, value: 5, type: <class 'str'>, "
        "valid types: <class 'int'>"
    )
    assert [err.value.message] == botocore_type_errors(
        "sqs", "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": "5"}
    )
    # Nothing was received: the message is still there for a well-typed receive.
    got = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)
    assert [m["Body"] for m in got["Messages"]] == ["m"]


@pytest.mark.parametrize(
    ("service", "operation", "params", "message"),
    [
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": "u", "Entries": [{"Id": "1", "MessageBody": "a", "DelaySeconds": "5"}]},
            "Invalid type for parameter Entries[0].DelaySeconds, value: 5, type: <class 'str'>, "
            "valid types: <class 'int'>",
        ),
        (
            "sns",
            "Publish",
            {"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message": 7},
            "Invalid type for parameter Message, value: 7, type: <class 'int'>, "
            "valid types: <class 'str'>",
        ),
        (
            "kinesis",
            "PutRecord",
            {"StreamName": "s", "Data": 1.5, "PartitionKey": "k"},
            "Invalid type for parameter Data, value: 1.5, type: <class 'float'>, "
            "valid types: <class 'bytes'>, <class 'bytearray'>, file-like object",
        ),
        (
            "lambda",
            "CreateFunction",
            {"FunctionName": "f", "Handler": "m.h", "Timeout": "30"},
            "Invalid type for parameter Timeout, value: 30, type: <class 'str'>, "
            "valid types: <class 'int'>",
        ),
    ],
    ids=SERVICES,
)
async def test_each_service_answers_a_wrong_type_with_its_code_and_botocores_words(
    aws, service, operation, params, message
):
    with pytest.raises(BrokerError) as err:
        await aws.call(service, operation, params)
    assert err.value.code == TYPE_ERRORS[service].default_code
    assert err.value.message == message
    assert botocore_type_errors(service, operation, params) == [message]


async def test_every_wrong_type_in_a_request_is_named_in_botocores_order(broker):
    params = {
        "QueueUrl": 5,
        "Entries": [
            {"Id": "1", "MessageBody": b"bytes"},
            {"Id": 2, "MessageBody": "ok", "MessageAttributes": {"a": {"DataType": 3}}},
        ],
    }
    with pytest.raises(BrokerError) as err:
        await broker.call("sqs", "SendMessageBatch", params)
    assert err.value.message.split("\n") == [
        "Invalid type for parameter QueueUrl, value: 5, type: <class 'int'>, "
        "valid types: <class 'str'>",
        "Invalid type for parameter Entries[0].MessageBody, value: b'bytes', "
        "type: <class 'bytes'>, valid types: <class 'str'>",
        "Invalid type for parameter Entries[1].Id, value: 2, type: <class 'int'>, "
        "valid types: <class 'str'>",
        "Invalid type for parameter Entries[1].MessageAttributes.a.DataType, value: 3, "
        "type: <class 'int'>, valid types: <class 'str'>",
    ]
    assert err.value.message.split("\n") == botocore_type_errors("sqs", "SendMessageBatch", params)


async def test_a_wrong_type_changes_nothing(sqs):
    with pytest.raises(BrokerError) as err:
        await sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": 60})
    assert err.value.code == "InvalidParameterValue"
    assert "Attributes.VisibilityTimeout, value: 60, type: <class 'int'>" in err.value.message
    assert await sqs.list_queues() == {}


async def test_what_botocore_accepts_passes_the_type_check(sqs, kinesis):
    """Tuples for lists, subclasses, a bool where an int goes (botocore lets it through: the
    operation then judges the value), bytearray and str for a blob, timestamps as datetimes or
    numbers."""
    url = (await sqs.create_queue(QueueName="q", tags={"team": "a"}))["QueueUrl"]
    await sqs.send_message_batch(QueueUrl=url, Entries=({"Id": "1", "MessageBody": "a"},))
    got = await sqs.receive_message(QueueUrl=url, AttributeNames=("All",))
    assert [m["Body"] for m in got["Messages"]] == ["a"]
    with pytest.raises(BrokerError) as err:
        await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=True)
    assert err.value.code == "InvalidParameterValue"
    assert "Invalid type" not in err.value.message  # the operation's own finding, not the type's
    await kinesis.create_stream(StreamName="s", ShardCount=1)
    await trio.sleep(1)
    await kinesis.put_record(StreamName="s", Data=bytearray(b"x"), PartitionKey="k")
    await kinesis.put_record(StreamName="s", Data="text", PartitionKey="k")
    shard = "shardId-000000000000"
    for ts in (datetime(2025, 1, 1, tzinfo=UTC), 1735689600):
        it = await kinesis.get_shard_iterator(
            StreamName="s", ShardId=shard, ShardIteratorType="AT_TIMESTAMP", Timestamp=ts
        )
        got = await kinesis.get_records(ShardIterator=it["ShardIterator"])
        assert [r["Data"] for r in got["Records"]] == [b"x", b"text"]
        await trio.sleep(1)  # the shard's read quota


async def test_msgsim_operations_and_a_callable_handler_pass_untouched(aws):
    """botocore does not model SNS ListOutbox or Lambda's GetFunctionMetrics; a callable Handler
    is msgsim's (boto3 would take only the import string)."""
    sns, lam = aws.client("sns"), aws.client("lambda")
    assert (await sns.list_outbox(Protocol="sms"))["Messages"] == []
    await lam.create_function(FunctionName="f", Handler=lambda event, context: event)
    await lam.update_function_configuration(FunctionName="f", Handler=lambda e, c: [e])
    out = await lam.invoke(FunctionName="f", Payload=b"1")
    assert out["Payload"].read() == b"[1]"
    assert (await lam.get_function_metrics(FunctionName="f"))["Metrics"]["Invocations"] == 1


# ---------------------------------------------------------------------------- against botocore
class Stream(io.BytesIO):
    """A file-like object: botocore takes one for a blob."""


#: Values that are the wrong type somewhere (and right elsewhere); none of them callable.
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, width=32),
    st.decimals(allow_nan=False, places=2, min_value=-100, max_value=100),
    st.text(max_size=4),
    st.sampled_from(["0", "1735689600", "2025-01-01", "2025-01-01T00:00:00Z", "not a date"]),
    st.binary(max_size=4),
    st.builds(bytearray, st.binary(max_size=3)),
    st.builds(memoryview, st.binary(max_size=3)),
    st.builds(Stream, st.binary(max_size=3)),
    st.lists(st.integers(0, 9), max_size=2),
    st.tuples(st.text(max_size=2)),
    st.frozensets(st.integers(0, 9), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(0, 9), max_size=2),
    st.builds(types.MappingProxyType, st.dictionaries(st.text(max_size=1), st.none(), max_size=1)),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    st.just(object()),
    st.just(iter(())),
)


#: Odd values that can be map keys.
odd_keys = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, width=32),
    st.binary(max_size=4),
    st.tuples(st.text(max_size=2)),
    st.frozensets(st.integers(0, 9), max_size=2),
    st.just(object()),
)


def for_shape(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for ``shape``: usually of the right type (with odd values inside), sometimes an
    odd value of any type."""
    return st.one_of(right_for(shape, depth), odd_values) if depth < 4 else odd_values


def right_for(shape: Any, depth: int) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "string":
        return st.text(max_size=4)
    if kind in ("integer", "long"):
        return st.integers(-5, 2**40)
    if kind == "boolean":
        return st.booleans()
    if kind in ("float", "double"):
        return st.one_of(st.floats(allow_nan=False), st.integers(0, 9))
    if kind == "blob":
        return st.one_of(st.binary(max_size=4), st.text(max_size=4))
    if kind == "timestamp":
        return st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1))
    if kind == "list":
        items = st.lists(for_shape(shape.member, depth + 1), max_size=3)
        return st.one_of(items, items.map(tuple))
    if kind == "map":
        keys = st.one_of(right_for(shape.key, depth + 1), odd_keys)
        return st.dictionaries(keys, for_shape(shape.value, depth + 1), max_size=2)
    if kind == "structure":
        return structure(shape, depth)
    raise AssertionError(f"a shape of type {kind} in a request model")


def structure(shape: Any, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    members = dict(shape.members)
    if not members:
        return st.just({})
    return st.lists(st.sampled_from(sorted(members)), max_size=4, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({n: for_shape(members[n], depth + 1) for n in names})
    )


@st.composite
def requests(draw: Callable[..., Any]) -> tuple[str, str, dict[str, Any]]:
    service, operation = draw(st.sampled_from(OPERATIONS))
    shape = MODELS[service].operation_model(operation).input_shape
    return service, operation, draw(structure(shape, 0))


def expected(service: str, operation: str, params: dict[str, Any]) -> str | None:
    """botocore's message for the types in ``params`` (None: no type error); botocore failing
    outright (a number too large for a timestamp) counts as a refusal."""
    try:
        errors = botocore_type_errors(service, operation, params)
    except Exception as exc:
        return f"botocore raised {exc!r}"
    return "\n".join(errors) or None


def fuzz(test: Callable[..., None]) -> Callable[..., None]:
    """Run ``test`` on random requests of the four services."""
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(given(requests())(test))


@fuzz
def test_the_type_check_refuses_exactly_what_botocore_refuses_in_its_words(request):
    service, operation, params = request
    want = expected(service, operation, params)
    event("botocore refuses" if want else "botocore accepts")
    try:
        check_types(service, operation, params)
    except BrokerError as err:
        assert want is not None, f"botocore accepts what msgsim refused: {err.message}"
        assert err.code == TYPE_ERRORS[service].default_code
        if not want.startswith("botocore raised"):
            assert err.message == want
    else:
        assert want is None, f"msgsim accepted what botocore refuses: {want}"


async def _through_the_broker(service: str, operation: str, params: dict[str, Any]) -> None:
    async with Broker.open(seed=1) as broker:
        want = expected(service, operation, params)
        if operation not in broker.services[service].operations:
            return
        try:
            broker.call_now(service, operation, params)
        except BrokerError as err:
            assert err.code != "InternalFailure", err.message
            if want is None:
                assert not err.message.startswith("Invalid type for parameter"), err.message
            else:
                assert err.code == TYPE_ERRORS[service].default_code
                if not want.startswith("botocore raised"):
                    assert err.message == want
        else:
            assert want is None, f"{service}.{operation} accepted what botocore refuses: {want}"


@fuzz
def test_the_broker_refuses_what_botocore_refuses_before_the_operation_looks(request):
    """Through Broker.call_now: a type botocore refuses is refused with botocore's words before
    the operation sees the request; a request botocore lets through is the operation's to
    answer (it may still refuse a value, never with a type error of botocore's)."""
    trio.run(_through_the_broker, *request, clock=trio.testing.MockClock(autojump_threshold=0))
