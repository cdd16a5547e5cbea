"""Wrong answers and dropped connections (issue 18): each defect the probes found, as a test that
failed before its fix. In process and through loopback connections, on the virtual clock; the
ones about a real socket and signals are in test_wrong_answers_daemon.py."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
from test_workers import MISSING, serve

import msgsim.adapters.tcp_client as tcp_client
from msgsim.adapters import TcpClient, open_loopback_client
from msgsim.adapters.tcp_server import TcpServer
from msgsim.adapters.wire import FATAL, WELCOME, FrameDecoder, encode
from msgsim.broker import BrokerError
from msgsim.broker.params import safe_repr

ARN = "arn:aws:sqs:us-east-1:000000000000:"
FUNCTION = {
    "FunctionName": "f",
    "Runtime": "python3.12",
    "Role": "arn:aws:iam::000000000000:role/r",
    "Handler": "no_such_module.handler",
    "Code": {"ZipFile": b"x"},
}


def nested(depth: int, inner=1):
    for _ in range(depth):
        inner = [inner]
    return inner


# ------------------------------------------------------------------------------ types
@pytest.mark.parametrize("architectures", [[b"x86_64"], 5, "x86_64", [None], [["x86_64"]]])
async def test_create_function_with_architectures_of_the_wrong_type_is_refused_and_lists_work(
    broker, architectures
):
    with pytest.raises(BrokerError) as err:
        await broker.call("lambda", "CreateFunction", {**FUNCTION, "Architectures": architectures})
    assert err.value.code == "ValidationException"
    assert await broker.call("lambda", "ListFunctions", {}) == {"Functions": []}
    await broker.call("lambda", "CreateFunction", FUNCTION)
    [listed] = (await broker.call("lambda", "ListFunctions", {}))["Functions"]
    assert listed["Architectures"] == ["x86_64"]
    await broker.call("lambda", "GetFunction", {"FunctionName": "f"})
    await broker.call("lambda", "GetFunctionConfiguration", {"FunctionName": "f"})


# ------------------------------------------------------------------------------ digits
@pytest.mark.parametrize("digits", [4_300, 4_301, 10_000])
@pytest.mark.parametrize("name", ["DelaySeconds", "VisibilityTimeout", "MaximumMessageSize"])
async def test_an_sqs_integer_attribute_of_thousands_of_digits_is_invalid_attribute_value(
    broker, name, digits
):
    with pytest.raises(BrokerError) as err:
        await broker.call(
            "sqs", "CreateQueue", {"QueueName": "q", "Attributes": {name: "1" * digits}}
        )
    assert err.value.code == "InvalidAttributeValue"
    assert (await broker.call("sqs", "ListQueues", {})).get("QueueUrls", []) == []


@pytest.mark.parametrize("digits", [4_300, 4_301, 10_000])
async def test_a_max_receive_count_of_thousands_of_digits_is_refused_as_with_4300(broker, digits):
    await broker.call("sqs", "CreateQueue", {"QueueName": "dlq"})
    policy = json.dumps({"deadLetterTargetArn": ARN + "dlq", "maxReceiveCount": "7" * digits})
    with pytest.raises(BrokerError) as err:
        await broker.call(
            "sqs", "CreateQueue", {"QueueName": "q", "Attributes": {"RedrivePolicy": policy}}
        )
    assert err.value.code == "InvalidParameterValue"
    assert "Invalid value for maxReceiveCount" in err.value.message


# ------------------------------------------------------------------------------ nesting
@pytest.mark.parametrize(
    "value",
    [nested(100_000), {"k": nested(980)}, 10**10_000, "x" * 10**6, [{1, 2}], object()],
    ids=["100000-deep", "980-deep", "10000-digit-int", "megabyte-str", "unhashable", "object"],
)
def test_safe_repr_is_short_and_never_raises(value):
    text = safe_repr(value)
    assert isinstance(text, str) and len(text) <= 200


@pytest.mark.parametrize("service,operation", [("sqs", "CreateQueue"), ("sns", "ListOutbox")])
async def test_a_request_field_nested_980_deep_is_a_validation_error(broker, service, operation):
    """In process there is no framing limit: the error message is still built, bounded."""
    with pytest.raises(BrokerError) as err:
        await broker.call(service, operation, {"QueueName": nested(980), "Bogus": nested(100_000)})
    assert err.value.code != "InternalFailure"
    assert len(err.value.message) < 2_000


def deep_raw_reply(raw: bytes):
    async def reply(handler, request):
        return {"status": "ok", "raw": raw, "log": ""}

    return reply


@pytest.mark.parametrize(
    "raw", [b"[" * 100_000 + b"]" * 100_000, b"NaN", b"[Infinity]"], ids=["deep", "NaN", "inf"]
)
async def test_a_worker_result_that_is_not_json_is_a_function_error_sync_and_async(
    broker, nursery, monkeypatch, raw
):
    """Lambda answers a function error for a result it cannot read as JSON (which has neither
    NaN nor 100,000 levels): synchronously as the Payload, asynchronously as the OnFailure
    destination's record."""
    monkeypatch.setattr(tcp_client, "run_invocation", deep_raw_reply(raw))
    async with open_loopback_client(broker) as admin:
        lam, sqs = admin.client("lambda"), admin.client("sqs")
        url = (await sqs.create_queue(QueueName="failed"))["QueueUrl"]
        await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=10)
        await lam.put_function_event_invoke_config(
            FunctionName="f",
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": ARN + "failed"}},
        )
        await serve(nursery, broker, "f", lambda event, context: None)
        r = await lam.invoke(FunctionName="f", Payload=b"{}")
        assert r["FunctionError"] == "Unhandled"
        assert json.loads(r["Payload"].read())["errorType"] == "Runtime.MarshalError"
        await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"q": 1}')
        await trio.sleep(5)
        [got] = (await sqs.receive_message(QueueUrl=url))["Messages"]
        record = json.loads(got["Body"])
        assert record["responsePayload"]["errorType"] == "Runtime.MarshalError"


async def test_a_handler_returning_nan_is_a_marshal_error_as_in_lambda(broker):
    async with open_loopback_client(broker) as aws:
        lam = aws.client("lambda")
        await lam.create_function(FunctionName="nan", Handler=lambda e, c: float("nan"))
        r = await lam.invoke(FunctionName="nan", Payload=b"{}")
        assert r["FunctionError"] == "Unhandled"
        assert json.loads(r["Payload"].read())["errorType"] == "Runtime.MarshalError"


# ------------------------------------------------------------------------------ the server
async def raw_exchange(server: TcpServer, *messages: dict, nursery) -> list[dict]:
    """Send ``messages`` on a fresh in-memory connection; what comes back until it is quiet."""
    client, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server.handle, server_end)
    await client.send_all(b"".join(encode(m) for m in messages))
    decoder, out = FrameDecoder(), []
    with trio.move_on_after(1):
        while True:
            data = await client.receive_some(65536)
            if not data:
                break
            out += decoder.feed(data)
    await client.aclose()
    return out


@pytest.mark.parametrize("version", [1.0, True, "1", [1]])
async def test_a_hello_whose_version_is_not_the_integer_1_is_refused(broker, nursery, version):
    [fatal] = await raw_exchange(TcpServer(broker), {"t": "hello", "v": version}, nursery=nursery)
    assert fatal["t"] == FATAL and fatal["e"]["code"] == "UnsupportedProtocolVersion"


async def test_a_deregister_with_an_unhashable_worker_id_is_refused_and_the_connection_goes_on(
    broker, nursery
):
    out = await raw_exchange(
        TcpServer(broker),
        {"t": "hello", "v": 1},
        {"t": "req", "id": 1, "svc": "worker", "op": "Register", "p": {"FunctionName": "f"}},
        {"t": "req", "id": 2, "svc": "worker", "op": "Deregister", "p": {"WorkerId": [1]}},
        {"t": "req", "id": 3, "svc": "worker", "op": "Deregister", "p": {"WorkerId": {"a": 1}}},
        {"t": "req", "id": 4, "svc": "sqs", "op": "ListQueues", "p": {}},
        {"t": "req", "id": 5, "svc": "worker", "op": "Deregister", "p": {"WorkerId": 1}},
        nursery=nursery,
    )
    assert out[0]["t"] == WELCOME
    answers = {m["id"]: m for m in out[1:]}
    assert answers[1]["r"] == {"WorkerId": 1}
    assert answers[2]["e"]["code"] == answers[3]["e"]["code"] == "InvalidParameterValue"
    assert answers[4]["r"] == {}
    assert answers[5]["r"] == {}  # the registration survived the bad requests


@pytest.mark.parametrize("op", ["Health", "Version", "Stats", "Settle", "AdvanceClock"])
async def test_admin_operations_refuse_unknown_parameters(broker, op):
    async with open_loopback_client(broker) as aws:
        with pytest.raises(BrokerError) as err:
            await aws.call("admin", op, {"Seconds": 0, "Bogus": 1})
        assert err.value.code == "InvalidParameterValue"
        assert "Bogus" in err.value.message


# ------------------------------------------------------------------------------ the client
@pytest.mark.parametrize("params", [["x"], "x", 5, b"x"])
@pytest.mark.parametrize("operation", ["DeleteFunction", "CreateFunction", "ListFunctions"])
async def test_client_call_with_parameters_that_are_not_a_map_raises_broker_error(
    broker, operation, params
):
    async with open_loopback_client(broker) as aws:
        with pytest.raises(BrokerError) as err:
            await aws.call("lambda", operation, params)
        assert err.value.code == "InvalidParameterValue"
        assert await aws.call("lambda", "ListFunctions", {}) == {"Functions": []}


async def test_a_reset_connection_fails_the_calls_in_flight_and_the_next_call_reconnects(broker):
    """The reader and the writer break together: ServiceUnavailable for the calls in flight, no
    exception group out of the client's block."""
    server = TcpServer(broker)
    ends: list = []
    async with trio.open_nursery() as nursery:

        async def connector() -> trio.abc.Stream:
            client_end, server_end = trio.testing.memory_stream_pair()
            ends.append(client_end)
            nursery.start_soon(server.handle, server_end)
            return client_end

        async with TcpClient.over(connector) as aws:
            sqs = aws.client("sqs")
            url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
            failed: list = []

            async def poll() -> None:
                try:
                    await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
                except BrokerError as exc:
                    failed.append(exc.code)

            async with trio.open_nursery() as calls:
                for _ in range(3):
                    calls.start_soon(poll)
                await trio.sleep(1)
                broken = ends[-1]
                broken.send_stream.close()  # the writer's next send breaks ...
                broken.receive_stream.close()  # ... and so does the reader
                await trio.sleep(0.1)
                await sqs.list_queues()  # reconnects
            assert failed == ["ServiceUnavailable"] * 3
            assert len(ends) == 2
        nursery.cancel_scope.cancel()
