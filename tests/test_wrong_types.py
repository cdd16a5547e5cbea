"""Values of the wrong type in every field of every operation (issue 18, "Wrong answers").

Every operation of sqs, sns, kinesis and lambda is fed requests whose members hold values of a
type no member takes (a set, an object, a complex number, a value nested 5,000 deep, a string of
5,000 digits standing for an int...) beside other wrong or odd values (bytes, huge ints, floats,
bools, None, lists, maps, unhashable values). Each must be refused with a validation error --
never InternalFailure -- and change nothing: every List* answer is the same afterwards.
"""

from __future__ import annotations

import os
from typing import Any

import botocore.loaders
import botocore.model
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgsim.broker import Broker, BrokerError

SERVICES = ("sqs", "sns", "kinesis", "lambda")

#: What a validation refusal is called, by service: a wrong type, a missing or unknown member.
VALIDATION = {
    "InvalidParameterValue",
    "InvalidParameter",
    "ValidationException",
    "MissingParameter",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "InvalidParameterValueException",
    "InvalidRequestContentException",
    "InvalidArgumentException",
    "ParameterValueInvalid",
    "InvalidParameterException",
}


def _nested(depth: int, inner: Any, as_map: bool) -> Any:
    value = inner
    for _ in range(depth):
        value = {"k": value} if as_map else [value]
    return value


class Opaque:
    """An object no member of any model takes."""

    def __str__(self) -> str:
        raise RuntimeError("an unprintable value")

    def __repr__(self) -> str:
        return "Opaque()"


#: Values no modelled member accepts (botocore would refuse each, whatever the member's type).
never_right = st.one_of(
    st.builds(set),
    st.just({1, 2}),
    st.builds(Opaque),
    st.complex_numbers(allow_nan=False, max_magnitude=10).filter(lambda c: c.imag != 0),
    st.builds(lambda: _nested(5_000, Opaque(), as_map=False)),
)
#: Other wrong or odd values: right for some members, wrong for most.
odd = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.builds(lambda: 10**5000),
        st.just("9" * 5_000),
        st.floats(allow_nan=True),
        st.binary(max_size=6),
        st.just(b"x86_64"),
        st.text(max_size=6),
        never_right,
        st.builds(lambda: _nested(3_000, "x", as_map=True)),
        st.builds(lambda: _nested(3_000, 1, as_map=False)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=6,
)

_models: dict[str, Any] = {}


def model(service: str) -> Any:
    if service not in _models:
        data = botocore.loaders.Loader().load_service_model(service, "service-2")
        _models[service] = botocore.model.ServiceModel(data, service_name=service)
    return _models[service]


def members(service: str, operation: str) -> list[str]:
    m = model(service)
    if operation not in m.operation_names:
        return ["Bogus"]
    shape = m.operation_model(operation).input_shape
    return sorted(shape.members) if shape is not None and shape.members else ["Bogus"]


async def _state(broker: Broker) -> None:
    """Something of each kind, so that a request that passed its checks would change things."""
    await broker.call("sqs", "CreateQueue", {"QueueName": "q"})
    await broker.call("sqs", "SendMessage", {"QueueUrl": "q", "MessageBody": "m"})
    await broker.call("sns", "CreateTopic", {"Name": "t"})
    await broker.call("kinesis", "CreateStream", {"StreamName": "s", "ShardCount": 1})
    await broker.call(
        "lambda",
        "CreateFunction",
        {
            "FunctionName": "f",
            "Runtime": "python3.12",
            "Role": "arn:aws:iam::000000000000:role/r",
            "Handler": "no_such_module.handler",
            "Code": {"ZipFile": b"x"},
        },
    )


async def _snapshot(broker: Broker) -> object:
    """Every List* answer and each queue's attributes: what a change would show in."""
    out = []
    for service, operation in [
        ("sqs", "ListQueues"),
        ("sns", "ListTopics"),
        ("sns", "ListSubscriptions"),
        ("kinesis", "ListStreams"),
        ("lambda", "ListFunctions"),
        ("lambda", "ListEventSourceMappings"),
    ]:
        out.append(repr(await broker.call(service, operation, {})))
    for url in (await broker.call("sqs", "ListQueues", {})).get("QueueUrls", []):
        params = {"QueueUrl": url, "AttributeNames": ["All"]}
        out.append(repr(await broker.call("sqs", "GetQueueAttributes", params)))
    return out


async def _feed(service: str, requests: list[tuple[str, dict[str, Any]]]) -> None:
    async with Broker.open(seed=5) as broker:
        await _state(broker)
        before = await _snapshot(broker)
        for operation, params in requests:
            try:
                await broker.call(service, operation, params)
            except BrokerError as err:
                assert err.code in VALIDATION, (operation, err.code, err.message[:300])
                assert err.sender_fault
            else:
                raise AssertionError(f"{service}.{operation} took wrong types: {params!r:.300}")
        assert await _snapshot(broker) == before


@st.composite
def wrong_requests(draw: st.DrawFn, service: str) -> list[tuple[str, dict[str, Any]]]:
    operations = sorted(_operations[service])
    out = []
    for _ in range(8):
        operation = draw(st.sampled_from(operations))
        names = members(service, operation)
        params = draw(st.dictionaries(st.sampled_from(names), odd, max_size=4))
        params[draw(st.sampled_from(names))] = draw(never_right)  # at least one is wrong
        out.append((operation, params))
    return out


_operations: dict[str, list[str]] = {}


#: The fuzz tests' settings: a few examples each (MSGSIM_FUZZ_EXAMPLES for a longer run).
def fuzz(test: Any) -> Any:
    return settings(
        max_examples=int(os.environ.get("MSGSIM_FUZZ_EXAMPLES", "12")),
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )(given(st.data())(test))


async def _list_operations() -> None:
    async with Broker.open() as broker:
        for service in SERVICES:
            _operations[service] = sorted(broker.services[service].operations)


trio.run(_list_operations, clock=trio.testing.MockClock(autojump_threshold=0))


@fuzz
def test_every_operation_refuses_wrong_types_with_a_validation_error_and_changes_nothing(data):
    for service in SERVICES:
        requests = data.draw(wrong_requests(service), label=service)
        trio.run(_feed, service, requests, clock=trio.testing.MockClock(autojump_threshold=0))


def test_every_operation_of_every_service_is_fed():
    """The fuzz test draws from every operation the broker serves (none is left out)."""
    assert all(len(_operations[s]) > 5 for s in SERVICES)
    assert "CreateFunction" in _operations["lambda"]


# ----------------------------------------------------------------- right types, hostile contents
HOSTILE_TEXT = [
    "[" * 5_000,
    '{"a":' * 5_000,
    "9" * 5_000,
    "-" + "9" * 4_301,
    "NaN",
    "²",
    '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:q","maxReceiveCount":"'
    + "9" * 4_301
    + '"}',
    '{"default":' + "[" * 3_000 + "}",
    "q",
    "",
]


def hostile(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the type ``shape`` takes, made of texts that break naive parsers."""
    kind = shape.type_name
    if kind == "string":
        enum = list(getattr(shape, "enum", None) or [])
        return st.sampled_from(enum + HOSTILE_TEXT) if enum else st.sampled_from(HOSTILE_TEXT)
    if kind in ("integer", "long"):
        return st.sampled_from([0, 1, -1, 2**63, 10**30])
    if kind == "boolean":
        return st.booleans()
    if kind in ("float", "double"):
        return st.sampled_from([0.0, -1.0, 1e308])
    if kind == "blob":
        return st.sampled_from([t.encode() for t in HOSTILE_TEXT])
    if depth > 3:
        return st.just([] if kind == "list" else {})
    if kind == "list":
        return st.lists(hostile(shape.member, depth + 1), max_size=2)
    if kind == "map":
        return st.dictionaries(
            hostile(shape.key, depth + 1), hostile(shape.value, depth + 1), max_size=3
        )
    if kind == "structure":
        return st.fixed_dictionaries(
            {}, optional={n: hostile(m, depth + 1) for n, m in shape.members.items()}
        )
    return st.none()


async def _feed_hostile(service: str, requests: list[tuple[str, dict[str, Any]]]) -> None:
    async with Broker.open(seed=5) as broker:
        await _state(broker)
        for operation, params in requests:
            before = await _snapshot(broker)
            with trio.move_on_after(30):  # a long poll or a sync invoke may wait: not the point
                try:
                    await broker.call(service, operation, params)
                except BrokerError as err:
                    assert err.code != "InternalFailure", (operation, err.message[:300])
                    assert await _snapshot(broker) == before, (operation, err.code)


@st.composite
def hostile_requests(draw: st.DrawFn, service: str) -> list[tuple[str, dict[str, Any]]]:
    m = model(service)
    operations = [op for op in _operations[service] if op in m.operation_names]
    out = []
    for _ in range(6):
        operation = draw(st.sampled_from(operations))
        shape = m.operation_model(operation).input_shape
        out.append((operation, draw(hostile(shape)) if shape is not None else {}))
    return out


@fuzz
def test_texts_nested_too_deep_or_with_too_many_digits_are_refused_not_internal_failures(data):
    for service in SERVICES:
        requests = data.draw(hostile_requests(service), label=service)
        trio.run(
            _feed_hostile, service, requests, clock=trio.testing.MockClock(autojump_threshold=0)
        )


#: Values for the members that name what a request acts on, so that it gets past "not found".
NAMES = {
    "QueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/q",
    "QueueName": "q",
    "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
    "Name": "t",
    "StreamName": "s",
    "FunctionName": "f",
}


async def _every_text_in_every_field(service: str) -> list[str]:
    """Each string member (and each named key of a string map, such as SQS Attributes) of each
    operation, given each hostile text, the rest of the request naming what exists."""
    m = model(service)
    failures = []
    async with Broker.open(seed=5) as broker:
        await _state(broker)
        for operation in _operations[service]:
            if operation not in m.operation_names:
                continue
            shape = m.operation_model(operation).input_shape
            if shape is None:
                continue
            base = {n: v for n, v in NAMES.items() if n in shape.members}
            cases: list[dict[str, Any]] = []
            for name, member in shape.members.items():
                if member.type_name == "string":
                    cases += [{**base, name: text} for text in HOSTILE_TEXT]
                elif member.type_name == "map" and member.key.enum:
                    cases += [
                        {**base, name: {key: text}}
                        for key in member.key.enum
                        for text in HOSTILE_TEXT
                    ]
            for params in cases:
                with trio.move_on_after(30):  # a long poll or a sync invoke may wait
                    try:
                        await broker.call(service, operation, params)
                    except BrokerError as err:
                        if err.code == "InternalFailure":
                            failures.append(f"{operation}: {err.message[:200]}")
    return failures


def test_every_string_field_of_every_operation_refuses_hostile_texts_without_internal_failure():
    for service in SERVICES:
        failures = trio.run(
            _every_text_in_every_field, service, clock=trio.testing.MockClock(autojump_threshold=0)
        )
        assert not failures, failures
