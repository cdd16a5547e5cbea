"""Invoke (RequestResponse, Event, DryRun), asynchronous retries and destinations, SNS ``lambda``
subscriptions and msgsim's function metrics, through the boto3-shaped client on the virtual
clock.

Each test states the AWS behaviour it checks (AWS Lambda developer guide and API reference).
Every test names ``autojump_clock`` itself (see tests/sqs/test_batch.py).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import sys

import pytest
import trio
from lambda_helpers import drain, function_arn, make_queue

from msgsim.broker import Broker, BrokerError
from msgsim.broker.functions.handlers import HandlerError, resolve_handler

LOG = logging.getLogger("msgsim.tests.handler")


@pytest.fixture
def lam(aws):
    return aws.client("lambda")


class Recorder:
    """A handler that records each call (time, event, request id) and then does ``behaviour``."""

    def __init__(self, behaviour=None):
        self.calls: list[tuple[float, object, str]] = []
        self.behaviour = behaviour

    def __call__(self, event, context):
        self.calls.append((trio.current_time(), event, context.aws_request_id))
        if self.behaviour is not None:
            return self.behaviour(event, context, len(self.calls))
        return {"seen": event}

    @property
    def times(self) -> list[float]:
        return [t for t, _, _ in self.calls]

    @property
    def events(self) -> list[object]:
        return [e for _, e, _ in self.calls]


def fail_always(event, context, n):
    raise ValueError("boom")


async def invoke_json(lam, name: str, event=None, **kwargs) -> tuple[dict, object]:
    r = await lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return r, json.loads(r["Payload"].read())


async def error_of(call, **params) -> BrokerError:
    with pytest.raises(BrokerError) as e:
        await call(**params)
    return e.value


async def metrics(lam, name: str) -> dict:
    return (await lam.get_function_metrics(FunctionName=name))["Metrics"]


# --- RequestResponse ---------------------------------------------------------------------------


async def test_request_response_round_trips_json_payload(autojump_clock, lam):
    """AWS: a synchronous Invoke hands the handler the decoded JSON payload and answers
    StatusCode 200, ExecutedVersion $LATEST and the handler's JSON-encoded return value in a
    Payload stream (read() once gives it all, then nothing)."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    event = {"a": [1, 2.5, {"b": None, "c": "é"}], "d": True}
    r = await lam.invoke(FunctionName="f", Payload=json.dumps(event))
    assert r["StatusCode"] == 200
    assert r["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in r
    assert rec.events == [event]
    assert json.loads(r["Payload"].read()) == {"seen": event}
    assert r["Payload"].read() == b""


async def test_payload_may_be_bytes_text_or_file_and_empty_is_empty_object(autojump_clock, lam):
    """AWS (boto3): Payload is bytes or a seekable file-like object; an invocation without a
    payload hands the handler an empty JSON object. A handler returning None answers null."""
    rec = Recorder(lambda e, c, n: None)
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.invoke(FunctionName="f", Payload=b'{"x": 1}')
    await lam.invoke(FunctionName="f", Payload='{"x": 2}')
    await lam.invoke(FunctionName="f", Payload=io.BytesIO(b'{"x": 3}'))
    r = await lam.invoke(FunctionName="f")
    assert rec.events == [{"x": 1}, {"x": 2}, {"x": 3}, {}]
    assert r["Payload"].read() == b"null"


async def test_handler_exception_is_unhandled_function_error(autojump_clock, lam):
    """AWS: a handler that raises gives StatusCode 200 with FunctionError "Unhandled" and a payload
    with errorType (the exception class), errorMessage and stackTrace (a list of frame strings
    naming the handler's own code)."""

    def handler(event, context):
        raise KeyError("missing thing") if event.get("key") else ValueError("boom")

    await lam.create_function(FunctionName="f", Handler=handler)
    r, body = await invoke_json(lam, "f")
    assert r["StatusCode"] == 200
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert all(isinstance(line, str) for line in body["stackTrace"])
    assert "test_invoke.py" in body["stackTrace"][-1]
    assert "in handler" in body["stackTrace"][-1]
    _, body = await invoke_json(lam, "f", {"key": 1})
    assert body["errorType"] == "KeyError"


async def test_unserializable_result_is_function_error(autojump_clock, lam):
    """AWS: a return value the runtime cannot serialize to JSON is a function error
    (Runtime.MarshalError), not a success."""
    await lam.create_function(FunctionName="f", Handler=lambda e, c: {1, 2})
    r, body = await invoke_json(lam, "f")
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.MarshalError"


async def test_async_handler_past_timeout_is_sandbox_timedout(autojump_clock, lam):
    """AWS: a handler still running at the function's Timeout is stopped; the caller gets, at the
    timeout, FunctionError Unhandled with errorType Sandbox.Timedout and "Task timed out after
    2.00 seconds"; it counts as an error and a timeout."""
    finished = []

    async def slow(event, context):
        await trio.sleep(5)
        finished.append(True)
        return "late"

    await lam.create_function(FunctionName="slow", Handler=slow, Timeout=2)
    r, body = await invoke_json(lam, "slow")
    assert trio.current_time() == 2
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    await trio.sleep(10)
    assert finished == []
    m = await metrics(lam, "slow")
    assert (m["Invocations"], m["Errors"], m["Timeouts"]) == (1, 1, 1)


async def test_async_handler_within_timeout_succeeds(autojump_clock, lam):
    """AWS: an async handler that finishes before the Timeout answers normally, after the time
    it took."""

    async def slow(event, context):
        await trio.sleep(1.5)
        return "done"

    await lam.create_function(FunctionName="f", Handler=slow, Timeout=2)
    r, body = await invoke_json(lam, "f")
    assert body == "done" and "FunctionError" not in r
    assert trio.current_time() == 1.5


async def test_response_over_6mb_is_function_error(autojump_clock, lam):
    """AWS: a response payload over 6 MB is not returned: the invocation fails with
    Function.ResponseSizeTooLarge."""
    await lam.create_function(FunctionName="f", Handler=lambda e, c: "x" * 6_300_000)
    r, body = await invoke_json(lam, "f")
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


# --- logs ----------------------------------------------------------------------------------------


def _decode_log(r: dict) -> str:
    return base64.b64decode(r["LogResult"]).decode()


async def test_log_type_tail_returns_start_end_report_and_handler_output(autojump_clock, lam):
    """AWS: LogType=Tail answers LogResult, base64 of the invocation's log: a START line, what the
    handler printed and logged, END and REPORT lines (Duration, Billed Duration, Memory Size),
    all with the request id. Without Tail there is no LogResult."""

    def handler(event, context):
        print("hello from print")
        LOG.warning("warned %d", 7)
        return context.aws_request_id

    await lam.create_function(FunctionName="f", Handler=handler, MemorySize=256)
    r, request_id = await invoke_json(lam, "f", LogType="Tail")
    text = _decode_log(r)
    lines = text.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "hello from print" in lines
    assert any(line.startswith("[WARNING]") and line.endswith("warned 7") for line in lines)
    assert f"END RequestId: {request_id}" in lines
    report = lines[-1]
    assert report.startswith(f"REPORT RequestId: {request_id}\t")
    assert re.search(r"\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 256 MB", report)
    r, _ = await invoke_json(lam, "f")
    assert "LogResult" not in r


async def test_logging_lines_have_aws_python_runtime_format(autojump_clock, lam):
    """AWS: the Python runtime writes a handler's log records as
    ``[LEVEL]\\t<ISO-8601 UTC timestamp with ms>Z\\t<request id>\\t<message>``."""

    def handler(event, context):
        LOG.warning("warned")
        return context.aws_request_id

    await lam.create_function(FunctionName="f", Handler=handler)
    await trio.sleep(1.25)
    r, request_id = await invoke_json(lam, "f", LogType="Tail")
    line = next(x for x in _decode_log(r).splitlines() if x.startswith("[WARNING]"))
    assert line == f"[WARNING]\t2025-01-01T00:00:01.250Z\t{request_id}\twarned"


async def test_unhandled_exception_is_written_to_the_log(autojump_clock, lam):
    """AWS (Python runtime): an unhandled exception is logged as "[ERROR] <type>: <message>"
    followed by the traceback, before the END line."""

    def handler(event, context):
        raise ValueError("boom")

    await lam.create_function(FunctionName="f", Handler=handler)
    r = await lam.invoke(FunctionName="f", LogType="Tail")
    text = _decode_log(r)
    assert "[ERROR] ValueError: boom" in text
    assert "Traceback (most recent call last):" in text
    assert text.index("[ERROR] ValueError: boom") < text.index("END RequestId:")


async def test_stderr_output_is_in_the_log(autojump_clock, lam):
    """AWS: the function's log holds what the handler writes to standard error as well as to
    standard output."""

    def handler(event, context):
        print("to stderr", file=sys.stderr)

    await lam.create_function(FunctionName="f", Handler=handler)
    r = await lam.invoke(FunctionName="f", LogType="Tail")
    assert "to stderr" in _decode_log(r)


async def test_log_tail_is_the_last_4kb(autojump_clock, lam):
    """AWS: LogResult holds only the last 4 KB of the log."""

    def handler(event, context):
        for i in range(500):
            print(f"line {i:04d} " + "x" * 20)

    await lam.create_function(FunctionName="f", Handler=handler)
    r, _ = await invoke_json(lam, "f", LogType="Tail")
    raw = base64.b64decode(r["LogResult"])
    assert len(raw) == 4096
    text = raw.decode()
    assert "START RequestId" not in text
    assert "line 0499" in text and "line 0000" not in text
    assert text.splitlines()[-1].startswith("REPORT RequestId: ")


async def test_concurrent_invocations_keep_their_logs_apart(autojump_clock, lam):
    """AWS: each invocation's log holds its own output only, even while others run at once."""

    async def handler(event, context):
        for i in range(3):
            print(f"{event['who']} step {i}")
            await trio.sleep(0.1)

    await lam.create_function(FunctionName="f", Handler=handler)
    logs = {}

    async def one(who):
        r = await lam.invoke(FunctionName="f", Payload=json.dumps({"who": who}), LogType="Tail")
        logs[who] = _decode_log(r)

    async with trio.open_nursery() as n:
        for who in ("alice", "bob"):
            n.start_soon(one, who)
    for who, other in (("alice", "bob"), ("bob", "alice")):
        assert [f"{who} step {i}" in logs[who] for i in range(3)] == [True] * 3
        assert other not in logs[who]


# --- the context object --------------------------------------------------------------------------


async def test_context_attributes_and_remaining_time_on_broker_clock(autojump_clock, lam):
    """AWS: the context carries function_name, function_version ($LATEST), invoked_function_arn,
    memory_limit_in_mb (a string), aws_request_id, log_group_name /aws/lambda/<name> and a
    log_stream_name; get_remaining_time_in_millis counts down to the Timeout on the clock."""
    seen = {}

    async def handler(event, context):
        seen["start"] = context.get_remaining_time_in_millis()
        await trio.sleep(1.5)
        seen["later"] = context.get_remaining_time_in_millis()
        for name in (
            "function_name",
            "function_version",
            "invoked_function_arn",
            "memory_limit_in_mb",
            "aws_request_id",
            "log_group_name",
            "log_stream_name",
        ):
            seen[name] = getattr(context, name)
        return context.aws_request_id

    await lam.create_function(FunctionName="ctx", Handler=handler, Timeout=10, MemorySize=512)
    await trio.sleep(100)  # the deadline is relative to the invocation's start
    r, request_id = await invoke_json(lam, "ctx", LogType="Tail")
    assert seen["start"] == 10_000
    assert seen["later"] == 8_500
    assert seen["function_name"] == "ctx"
    assert seen["function_version"] == "$LATEST"
    assert seen["invoked_function_arn"] == function_arn("ctx")
    assert seen["memory_limit_in_mb"] == "512"
    assert seen["aws_request_id"] == request_id
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", request_id)
    assert seen["log_group_name"] == "/aws/lambda/ctx"
    assert isinstance(seen["log_stream_name"], str) and seen["log_stream_name"]
    assert f"START RequestId: {request_id}" in _decode_log(r)


async def test_each_invocation_has_its_own_request_id(autojump_clock, lam):
    """AWS: every synchronous invocation gets a new request id."""
    await lam.create_function(FunctionName="f", Handler=lambda e, c: c.aws_request_id)
    ids = {(await invoke_json(lam, "f"))[1] for _ in range(5)}
    assert len(ids) == 5


async def test_client_context_is_an_object_with_custom_env_client(autojump_clock, lam):
    """AWS (Python runtime): context.client_context exposes the ClientContext JSON's custom,
    env and client members as attributes."""
    seen = {}

    def handler(event, context):
        seen["custom"] = context.client_context.custom
        seen["env"] = context.client_context.env

    await lam.create_function(FunctionName="f", Handler=handler)
    cc = base64.b64encode(json.dumps({"custom": {"k": "v"}, "env": {"e": "1"}}).encode()).decode()
    await lam.invoke(FunctionName="f", ClientContext=cc)
    assert seen == {"custom": {"k": "v"}, "env": {"e": "1"}}


# --- import-string handlers -------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["fn_handlers:echo", "fn_handlers.echo"])
async def test_import_string_handler_is_imported_and_called(autojump_clock, lam, handler):
    """AWS: Handler names a module and a function ("module.function"; msgsim also takes
    "package.module:function"); the runtime imports it on first use and GetFunction shows it."""
    cfg = await lam.create_function(FunctionName="f", Handler=handler)
    assert cfg["Handler"] == handler
    r, body = await invoke_json(lam, "f", {"q": 1})
    assert "FunctionError" not in r
    assert body == {"echo": {"q": 1}, "name": "f"}


async def test_import_string_handler_with_attribute_path(autojump_clock, lam):
    """msgsim: "module:Class.attr" resolves a dotted attribute path inside the module."""
    await lam.create_function(FunctionName="f", Handler="fn_handlers:Nested.handle")
    _, body = await invoke_json(lam, "f")
    assert body == "nested"


async def test_unimportable_module_is_runtime_import_module_error(autojump_clock, lam):
    """AWS: a handler module that cannot be imported fails the invocation (FunctionError
    Unhandled) with errorType Runtime.ImportModuleError, "Unable to import module '<m>': ..."."""
    await lam.create_function(FunctionName="f", Handler="no_such_module_xyz:handler")
    r, body = await invoke_json(lam, "f")
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Unable to import module 'no_such_module_xyz'")
    assert "No module named 'no_such_module_xyz'" in body["errorMessage"]


@pytest.mark.parametrize("handler", ["fn_handlers:missing", "fn_handlers:NOT_CALLABLE"])
async def test_missing_handler_is_runtime_handler_not_found(autojump_clock, lam, handler):
    """AWS: a module without the named handler function fails the invocation with errorType
    Runtime.HandlerNotFound."""
    await lam.create_function(FunctionName="f", Handler=handler)
    r, body = await invoke_json(lam, "f")
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.HandlerNotFound"


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("echo", "InvalidParameterValueException"),
        ("", "InvalidParameterValueException"),
        (42, "ValidationException"),
        ("mod:fn with space", "ValidationException"),
    ],
)
async def test_malformed_handler_is_rejected_at_create(autojump_clock, lam, handler, expected):
    """AWS: Handler must name a module and a function; one with whitespace fails the Handler
    pattern [^\\s]+ (ValidationException), one without a module part is an
    InvalidParameterValueException. One that is neither a string nor a callable is refused as
    boto3 refuses it (botocore's type check; ValidationException). No function is created."""
    with pytest.raises(BrokerError) as e:
        await lam.create_function(FunctionName="f", Handler=handler)
    assert e.value.code == expected
    assert (await lam.list_functions())["Functions"] == []


@pytest.mark.parametrize(
    "handler", ["handler", "", ".echo", ":echo", "fn_handlers:", "fn_handlers.", "fn..echo"]
)
def test_import_string_naming_no_module_or_no_function_is_malformed_handler_name(handler):
    """AWS (Lambda's Python runtime): a Handler it cannot split into a module and a function
    fails with errorType Runtime.MalformedHandlerName, "Bad handler '<handler>': ...". msgsim
    says which forms it takes, never "Unable to import module '': Empty module name" (what an
    empty module part used to give; ``msgsim worker`` loads its handler this way)."""
    with pytest.raises(HandlerError) as e:
        resolve_handler(handler)
    assert e.value.error_type == "Runtime.MalformedHandlerName"
    assert e.value.message == (
        f"Bad handler '{handler}': it must name a module and a function: "
        "'package.module:function' (or Lambda's 'module.function')."
    )


@pytest.mark.parametrize("handler", [":echo", ".echo", "fn_handlers:", "fn_handlers.", "fn..echo"])
async def test_handler_missing_its_module_or_function_is_refused_by_create_and_update(
    autojump_clock, lam, handler
):
    """msgsim: CreateFunction and UpdateFunctionConfiguration refuse a Handler that names no
    module or no function (InvalidParameterValueException), as they refuse one with no
    separator at all, so no invocation meets it; the function keeps its handler."""
    with pytest.raises(BrokerError) as e:
        await lam.create_function(FunctionName="f", Handler=handler)
    assert e.value.code == "InvalidParameterValueException"
    assert "must name a module and a function" in e.value.message
    await lam.create_function(FunctionName="f", Handler="fn_handlers:echo")
    with pytest.raises(BrokerError) as e:
        await lam.update_function_configuration(FunctionName="f", Handler=handler)
    assert e.value.code == "InvalidParameterValueException"
    cfg = await lam.get_function_configuration(FunctionName="f")
    assert cfg["Handler"] == "fn_handlers:echo"
    _, body = await invoke_json(lam, "f", {"q": 1})
    assert body == {"echo": {"q": 1}, "name": "f"}


async def test_updating_the_handler_takes_effect_at_once(autojump_clock, lam):
    """AWS: after UpdateFunctionConfiguration changes Handler, the next invocation runs the new
    handler (no warm environment keeps the old code)."""
    await lam.create_function(FunctionName="f", Handler="fn_handlers:echo")
    await invoke_json(lam, "f")
    await lam.update_function_configuration(FunctionName="f", Handler="fn_handlers:Nested.handle")
    _, body = await invoke_json(lam, "f")
    assert body == "nested"


# --- request validation --------------------------------------------------------------------------


async def test_sync_payload_over_6mb_is_request_too_large(autojump_clock, lam):
    """AWS: a RequestResponse payload over 6 MB (6,291,456 bytes) fails with
    RequestTooLargeException and the handler does not run; 6 MB exactly is accepted."""
    rec = Recorder(lambda e, c, n: len(e))
    await lam.create_function(FunctionName="f", Handler=rec)
    limit = 6 * 1024 * 1024
    err = await error_of(lam.invoke, FunctionName="f", Payload=b'"' + b"a" * (limit - 1) + b'"')
    assert err.code == "RequestTooLargeException"
    assert rec.calls == []
    r = await lam.invoke(FunctionName="f", Payload=b'"' + b"a" * (limit - 2) + b'"')
    assert json.loads(r["Payload"].read()) == limit - 2


async def test_event_payload_over_1mb_is_request_too_large(autojump_clock, lam, broker):
    """AWS: an Event (asynchronous) payload over 1 MB fails with RequestTooLargeException and is
    not queued; 1 MB exactly is accepted (202)."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    limit = 1024 * 1024
    err = await error_of(
        lam.invoke,
        FunctionName="f",
        InvocationType="Event",
        Payload=b'"' + b"a" * (limit - 1) + b'"',
    )
    assert err.code == "RequestTooLargeException"
    await broker.settle()
    assert rec.calls == []
    r = await lam.invoke(
        FunctionName="f", InvocationType="Event", Payload=b'"' + b"a" * (limit - 2) + b'"'
    )
    assert r["StatusCode"] == 202
    await broker.settle()
    assert len(rec.calls) == 1


@pytest.mark.parametrize("kind", ["RequestResponse", "Event"])
async def test_invalid_json_payload_is_invalid_request_content(autojump_clock, lam, broker, kind):
    """AWS: a payload that is not JSON fails with InvalidRequestContentException; nothing runs."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    err = await error_of(lam.invoke, FunctionName="f", InvocationType=kind, Payload=b"{not json")
    assert err.code == "InvalidRequestContentException"
    await broker.settle()
    assert rec.calls == []


async def test_invoke_validation_errors(autojump_clock, lam):
    """AWS: an unknown InvocationType or LogType is a ValidationException; invoking a function
    that does not exist is ResourceNotFoundException."""
    await lam.create_function(FunctionName="f", Handler=Recorder())
    assert (await error_of(lam.invoke, FunctionName="f", InvocationType="Later")).code == (
        "ValidationException"
    )
    assert (await error_of(lam.invoke, FunctionName="f", LogType="Head")).code == (
        "ValidationException"
    )
    assert (await error_of(lam.invoke, FunctionName="nope")).code == "ResourceNotFoundException"


async def test_dry_run_validates_without_running(autojump_clock, lam, broker):
    """AWS: InvocationType DryRun checks the request and answers 204 without running the
    function."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    r = await lam.invoke(FunctionName="f", InvocationType="DryRun", Payload=b'{"a": 1}')
    assert r["StatusCode"] == 204
    await broker.settle()
    assert rec.calls == []
    assert (await metrics(lam, "f"))["Invocations"] == 0
    err = await error_of(lam.invoke, FunctionName="f", InvocationType="DryRun", Payload=b"{")
    assert err.code == "InvalidRequestContentException"


# --- concurrency and throttling -------------------------------------------------------------------


async def test_reserved_concurrency_zero_throttles_every_sync_invoke(autojump_clock, lam):
    """AWS: a function with reserved concurrency 0 cannot run: Invoke fails with
    TooManyRequestsException (Reason ReservedFunctionConcurrentInvocationLimitExceeded) and the
    Throttles metric counts it."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=0)
    err = await error_of(lam.invoke, FunctionName="f")
    assert err.code == "TooManyRequestsException"
    assert "ReservedFunctionConcurrentInvocationLimitExceeded" in err.message
    assert rec.calls == []
    m = await metrics(lam, "f")
    assert (m["Throttles"], m["Invocations"]) == (1, 0)


async def test_reserved_concurrency_caps_concurrent_runs(autojump_clock, lam):
    """AWS: reserved concurrency N lets N invocations run at once; one more is throttled; once
    one finishes another may start."""

    async def slow(event, context):
        await trio.sleep(2)

    await lam.create_function(FunctionName="f", Handler=slow, Timeout=5)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=2)
    async with trio.open_nursery() as n:
        for _ in range(2):
            n.start_soon(lambda: lam.invoke(FunctionName="f"))
        await trio.sleep(1)
        err = await error_of(lam.invoke, FunctionName="f")
        assert err.code == "TooManyRequestsException"
    r = await lam.invoke(FunctionName="f")
    assert r["StatusCode"] == 200
    assert (await metrics(lam, "f"))["MaxConcurrentExecutions"] == 2


async def test_account_concurrency_exhausted_throttles_unreserved_functions(autojump_clock, lam):
    """AWS: functions without reserved concurrency share the account's unreserved pool; when it
    is all in use Invoke fails with TooManyRequestsException (ConcurrentInvocationLimitExceeded)
    while a function with its own reservation still runs."""

    async def slow(event, context):
        await trio.sleep(10)

    await lam.create_function(FunctionName="shared", Handler=slow, Timeout=20)
    await lam.create_function(FunctionName="other", Handler=lambda e, c: "ok")
    await lam.create_function(FunctionName="reserved", Handler=lambda e, c: "ok")
    await lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=900)
    async with trio.open_nursery() as n:
        for _ in range(100):
            n.start_soon(lambda: lam.invoke(FunctionName="shared"))
        await trio.sleep(1)
        for name in ("shared", "other"):
            err = await error_of(lam.invoke, FunctionName=name)
            assert err.code == "TooManyRequestsException"
            assert "ConcurrentInvocationLimitExceeded" in err.message
        _, body = await invoke_json(lam, "reserved")
        assert body == "ok"
    _, body = await invoke_json(lam, "other")
    assert body == "ok"
    assert (await metrics(lam, "shared"))["MaxConcurrentExecutions"] == 100


async def test_environments_are_reused_and_cold_starts_counted(autojump_clock, lam):
    """AWS: an invocation reuses an idle (warm) execution environment; invocations running at
    once each need their own, so a cold start each."""

    async def slow(event, context):
        await trio.sleep(1)

    await lam.create_function(FunctionName="f", Handler=slow)
    await lam.invoke(FunctionName="f")
    await lam.invoke(FunctionName="f")
    assert (await metrics(lam, "f"))["ColdStarts"] == 1
    async with trio.open_nursery() as n:
        for _ in range(3):
            n.start_soon(lambda: lam.invoke(FunctionName="f"))
    assert (await metrics(lam, "f"))["ColdStarts"] == 3


# --- Event (asynchronous) invocations -------------------------------------------------------------


async def test_event_invoke_answers_202_at_once_and_runs_on_settle(autojump_clock, lam, broker):
    """AWS: InvocationType Event queues the event and answers 202 with an empty payload at once,
    without waiting for the handler; the handler runs soon after (here: on settle, no clock
    time passing)."""
    started = []

    async def slow(event, context):
        started.append((trio.current_time(), event))
        await trio.sleep(2)

    await lam.create_function(FunctionName="f", Handler=slow)
    r = await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": 1}')
    assert r["StatusCode"] == 202
    assert r["Payload"].read() == b""
    assert "FunctionError" not in r
    assert started == []
    assert trio.current_time() == 0
    await broker.settle()
    assert started == [(0, {"n": 1})]


async def test_event_invoke_failure_is_retried_after_60_and_120_seconds(autojump_clock, lam):
    """AWS: an asynchronous invocation whose handler fails is retried twice by default, one
    minute after the first attempt and two minutes after the second, with the same request id."""
    rec = Recorder(fail_always)
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": 1}')
    await trio.sleep(1000)
    assert rec.times == [0, 60, 180]
    assert rec.events == [{"n": 1}] * 3
    assert len({rid for _, _, rid in rec.calls}) == 1
    m = await metrics(lam, "f")
    assert (m["Invocations"], m["Errors"]) == (3, 3)


@pytest.mark.parametrize(("retries", "times"), [(0, [0]), (1, [0, 60]), (2, [0, 60, 180])])
async def test_maximum_retry_attempts_bounds_the_attempts(autojump_clock, lam, retries, times):
    """AWS: MaximumRetryAttempts (0..2) is how many times a failed asynchronous invocation is
    retried: 0 means one attempt only."""
    rec = Recorder(fail_always)
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=retries)
    await lam.invoke(FunctionName="f", InvocationType="Event")
    await trio.sleep(1000)
    assert rec.times == times


async def test_event_retry_stops_at_first_success(autojump_clock, lam):
    """AWS: a retry that succeeds ends the event: no further attempts."""
    rec = Recorder(lambda e, c, n: fail_always(e, c, n) if n == 1 else "ok")
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.invoke(FunctionName="f", InvocationType="Event")
    await trio.sleep(1000)
    assert rec.times == [0, 60]


async def test_event_timeout_is_retried_like_an_error(autojump_clock, lam):
    """AWS: an asynchronous invocation that times out is a function error and is retried."""
    times = []

    async def slow(event, context):
        times.append(trio.current_time())
        await trio.sleep(10)

    await lam.create_function(FunctionName="f", Handler=slow, Timeout=1)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1)
    await lam.invoke(FunctionName="f", InvocationType="Event")
    await trio.sleep(1000)
    assert times == [0, 61]
    assert (await metrics(lam, "f"))["Timeouts"] == 2


async def test_on_success_destination_record_to_sqs(autojump_clock, lam, sqs, broker):
    """AWS: with an OnSuccess destination, a successful asynchronous invocation sends an
    invocation record: version 1.0, timestamp, requestContext {requestId, functionArn (with
    :$LATEST), condition Success, approximateInvokeCount}, requestPayload, responseContext
    {statusCode 200, executedVersion $LATEST} and responsePayload."""
    rec = Recorder(lambda e, c, n: {"answer": e["q"] * 2})
    await lam.create_function(FunctionName="f", Handler=rec)
    url, qarn = await make_queue(sqs, "ok-dest")
    await lam.put_function_event_invoke_config(
        FunctionName="f", DestinationConfig={"OnSuccess": {"Destination": qarn}}
    )
    await trio.sleep(3.5)
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"q": 21}')
    await broker.settle()
    msgs = await drain(sqs, url)
    assert len(msgs) == 1
    record = json.loads(msgs[0]["Body"])
    assert record == {
        "version": "1.0",
        "timestamp": "2025-01-01T00:00:03.500Z",
        "requestContext": {
            "requestId": rec.calls[0][2],
            "functionArn": function_arn("f") + ":$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"q": 21},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"answer": 42},
    }
    assert (await metrics(lam, "f"))["DestinationDeliveries"] == 1


async def test_on_failure_destination_record_after_retries_exhausted(autojump_clock, lam, sqs):
    """AWS: when every attempt failed, the OnFailure destination gets a record with condition
    RetriesExhausted, approximateInvokeCount 3, responseContext.functionError Unhandled and the
    error document (errorMessage, errorType, stackTrace) as responsePayload, sent after the last
    attempt; nothing is sent before."""
    rec = Recorder(fail_always)
    await lam.create_function(FunctionName="f", Handler=rec)
    url, qarn = await make_queue(sqs, "fail-dest")
    await lam.put_function_event_invoke_config(
        FunctionName="f", DestinationConfig={"OnFailure": {"Destination": qarn}}
    )
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"q": 1}')
    await trio.sleep(179)
    assert await drain(sqs, url) == []
    await trio.sleep(10)
    msgs = await drain(sqs, url)
    assert len(msgs) == 1
    record = json.loads(msgs[0]["Body"])
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["version"] == "1.0"
    assert record["timestamp"] == "2025-01-01T00:03:00.000Z"
    assert record["requestContext"] == {
        "requestId": rec.calls[0][2],
        "functionArn": function_arn("f") + ":$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"q": 1}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "boom"
    assert isinstance(record["responsePayload"]["stackTrace"], list)


async def test_maximum_event_age_expires_event_to_on_failure(autojump_clock, lam, sqs):
    """AWS: an event older than MaximumEventAgeInSeconds is not retried again; the OnFailure
    destination gets a record with condition EventAgeExceeded."""
    rec = Recorder(fail_always)
    await lam.create_function(FunctionName="f", Handler=rec)
    url, qarn = await make_queue(sqs, "age-dest")
    await lam.put_function_event_invoke_config(
        FunctionName="f",
        MaximumEventAgeInSeconds=100,
        DestinationConfig={"OnFailure": {"Destination": qarn}},
    )
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"q": 1}')
    await trio.sleep(1000)
    assert rec.times == [0, 60]  # the third attempt (at 180 s) would be past 100 s
    msgs = await drain(sqs, url)
    assert len(msgs) == 1
    record = json.loads(msgs[0]["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"] == {"q": 1}


async def test_dead_letter_queue_gets_original_event_with_error_attributes(
    autojump_clock, lam, sqs
):
    """AWS: a function's DeadLetterConfig queue gets, after the last failed attempt, the original
    event as the message body with attributes RequestID, ErrorCode and ErrorMessage."""
    rec = Recorder(fail_always)
    url, qarn = await make_queue(sqs, "fn-dlq")
    await lam.create_function(FunctionName="f", Handler=rec, DeadLetterConfig={"TargetArn": qarn})
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"order": 7}')
    await trio.sleep(179)
    assert await drain(sqs, url) == []
    await trio.sleep(10)
    msgs = await drain(sqs, url)
    assert len(msgs) == 1
    assert json.loads(msgs[0]["Body"]) == {"order": 7}
    attrs = msgs[0]["MessageAttributes"]
    assert attrs["RequestID"] == {"DataType": "String", "StringValue": rec.calls[0][2]}
    assert attrs["ErrorCode"]["DataType"] == "Number"
    assert attrs["ErrorCode"]["StringValue"] == "200"
    assert attrs["ErrorMessage"] == {"DataType": "String", "StringValue": "boom"}
    assert (await metrics(lam, "f"))["DeadLetteredEvents"] == 1


async def test_dead_letter_config_is_not_used_for_success_or_sync(autojump_clock, lam, sqs, broker):
    """AWS: the dead-letter queue is for asynchronous events that failed for good only: neither a
    success nor a failed synchronous invocation goes there."""
    url, qarn = await make_queue(sqs, "fn-dlq2")
    await lam.create_function(
        FunctionName="f",
        Handler=lambda e, c: fail_always(e, c, 0) if e.get("fail") else "ok",
        DeadLetterConfig={"TargetArn": qarn},
    )
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    await lam.invoke(FunctionName="f", Payload=b'{"fail": 1}')
    await broker.settle()
    await trio.sleep(1000)
    assert await drain(sqs, url) == []


async def test_lambda_function_as_destination_receives_the_record(autojump_clock, lam, broker):
    """AWS: a Lambda function may be an async destination; it is invoked asynchronously with the
    invocation record as its event."""
    target = Recorder()
    await lam.create_function(FunctionName="f", Handler=Recorder(fail_always))
    await lam.create_function(FunctionName="g", Handler=target)
    await lam.put_function_event_invoke_config(
        FunctionName="f",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": function_arn("g")}},
    )
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"x": 1}')
    await broker.settle()
    assert len(target.calls) == 1
    record = target.events[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["functionArn"] == function_arn("f") + ":$LATEST"
    assert record["requestPayload"] == {"x": 1}
    assert record["responsePayload"]["errorMessage"] == "boom"


async def hold(event, context):
    """Sleeps event["hold"] seconds (0 if not given); answers the event."""
    await trio.sleep(event.get("hold", 0))
    return event


async def test_throttled_async_event_is_retried_with_backoff_without_using_attempts(
    autojump_clock, lam, broker
):
    """AWS: an asynchronous event that finds no concurrency free is not lost: Lambda keeps it
    and retries (back-off of 1 s growing to at most 5 min); throttles are not failed attempts, so
    even with MaximumRetryAttempts 0 it runs, exactly once, after concurrency frees."""
    runs = []

    async def handler(event, context):
        runs.append((trio.current_time(), event))
        await trio.sleep(event.get("hold", 0))

    await lam.create_function(FunctionName="f", Handler=handler, Timeout=900)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=1)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=0)
    async with trio.open_nursery() as n:
        n.start_soon(lambda: lam.invoke(FunctionName="f", Payload=b'{"hold": 20}'))
        await trio.sleep(0.5)
        await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"t": 1}')
        await trio.sleep(10)
        assert runs == [(0, {"hold": 20})]
    await trio.sleep(600)
    assert [e for _, e in runs] == [{"hold": 20}, {"t": 1}]
    assert 20 <= runs[1][0] <= 20 + 300


async def test_throttled_async_event_expires_with_event_age_exceeded(autojump_clock, lam, sqs):
    """AWS: an event that keeps finding no concurrency free is discarded once it is older than
    MaximumEventAgeInSeconds (at its next retry, at most 5 minutes later): the OnFailure
    destination gets a record with condition EventAgeExceeded and approximateInvokeCount 0, and
    the event never runs."""
    runs = []

    async def handler(event, context):
        runs.append(event)
        await trio.sleep(event.get("hold", 0))

    await lam.create_function(FunctionName="f", Handler=handler, Timeout=900)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=1)
    url, qarn = await make_queue(sqs, "throttle-dest")
    await lam.put_function_event_invoke_config(
        FunctionName="f",
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": qarn}},
    )
    async with trio.open_nursery() as n:
        n.start_soon(lambda: lam.invoke(FunctionName="f", Payload=b'{"hold": 890}'))
        await trio.sleep(0.5)
        await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"t": 2}')
        await trio.sleep(60 + 300 + 1)
        msgs = await drain(sqs, url)
    await trio.sleep(1000)
    assert runs == [{"hold": 890}]
    assert len(msgs) == 1
    record = json.loads(msgs[0]["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == {"t": 2}


async def test_reserved_concurrency_zero_sends_async_events_to_on_failure_at_once(
    autojump_clock, lam, sqs
):
    """AWS ("Capturing records of Lambda asynchronous invocations"): when reserved concurrency
    is zero for an asynchronously invoked function, Lambda sends new events to the configured
    dead-letter queue or on-failure destination, without any retries; they never run later."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=0)
    url, qarn = await make_queue(sqs, "zero-dest")
    await lam.put_function_event_invoke_config(
        FunctionName="f", DestinationConfig={"OnFailure": {"Destination": qarn}}
    )
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"z": 1}')
    await trio.sleep(5)
    msgs = await drain(sqs, url)
    assert len(msgs) == 1
    record = json.loads(msgs[0]["Body"])
    assert record["requestPayload"] == {"z": 1}
    assert record["requestContext"]["approximateInvokeCount"] == 0
    await lam.delete_function_concurrency(FunctionName="f")
    await trio.sleep(3600)
    assert rec.calls == []


async def test_fifo_queue_destination_is_a_delivery_failure(autojump_clock, lam, sqs, broker):
    """AWS: async destinations must be standard queues; with an SQS FIFO queue configured the
    record cannot be sent and Lambda counts a DestinationDeliveryFailures metric."""
    await lam.create_function(FunctionName="f", Handler=Recorder())
    url, qarn = await make_queue(sqs, "dest.fifo", FifoQueue="true")
    await lam.put_function_event_invoke_config(
        FunctionName="f", DestinationConfig={"OnSuccess": {"Destination": qarn}}
    )
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    await broker.settle()
    assert await drain(sqs, url) == []
    m = await metrics(lam, "f")
    assert (m["DestinationDeliveries"], m["DestinationDeliveryFailures"]) == (0, 1)


async def test_deleting_a_function_drops_its_queued_events(autojump_clock, lam, broker):
    """AWS: events still queued for a deleted function are not run (not even by a new function
    of the same name)."""
    rec = Recorder(fail_always)
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.invoke(FunctionName="f", InvocationType="Event")
    await broker.settle()
    await lam.delete_function(FunctionName="f")
    fresh = Recorder()
    await lam.create_function(FunctionName="f", Handler=fresh)
    await trio.sleep(1000)
    assert rec.times == [0]
    assert fresh.calls == []


# --- SNS lambda subscriptions ---------------------------------------------------------------------


async def test_sns_lambda_subscription_invokes_asynchronously_with_sns_event(
    autojump_clock, lam, sns, broker
):
    """AWS: a topic's lambda subscription invokes the function asynchronously with
    {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn", "Sns":
    {Type Notification, MessageId, TopicArn, Subject, Message, Timestamp, SignatureVersion,
    Signature, MessageAttributes {name: {Type, Value}}}}]}; Publish returns before it runs."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    topic = (await sns.create_topic(Name="t"))["TopicArn"]
    sub = await sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn("f"))
    pub = await sns.publish(
        TopicArn=topic,
        Message="hello",
        Subject="subj",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )
    assert rec.calls == []
    await broker.settle()
    assert len(rec.calls) == 1
    event = rec.events[0]
    assert list(event) == ["Records"] and len(event["Records"]) == 1
    record = event["Records"][0]
    assert {k: record[k] for k in ("EventSource", "EventVersion", "EventSubscriptionArn")} == {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": sub["SubscriptionArn"],
    }
    msg = record["Sns"]
    assert msg["Type"] == "Notification"
    assert msg["MessageId"] == pub["MessageId"]
    assert msg["TopicArn"] == topic
    assert msg["Subject"] == "subj"
    assert msg["Message"] == "hello"
    assert msg["SignatureVersion"] == "1"
    assert msg["Signature"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", msg["Timestamp"])
    assert msg["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}


async def test_sns_lambda_event_uses_lambda_key_spelling(autojump_clock, lam, sns, broker):
    """AWS: in the SNS event Lambda receives, the Sns object spells SigningCertUrl and
    UnsubscribeUrl (not ...URL), and carries "MessageAttributes": {} and "Subject": null when the
    message had none."""
    rec = Recorder()
    await lam.create_function(FunctionName="f", Handler=rec)
    topic = (await sns.create_topic(Name="t"))["TopicArn"]
    await sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn("f"))
    await sns.publish(TopicArn=topic, Message="hello")
    await broker.settle()
    msg = rec.events[0]["Records"][0]["Sns"]
    assert set(msg) == {
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertUrl",
        "UnsubscribeUrl",
        "MessageAttributes",
    }
    assert msg["MessageAttributes"] == {}
    assert msg["Subject"] is None


async def test_sns_invocation_failure_is_retried_like_an_event(autojump_clock, lam, sns):
    """AWS: SNS invokes a function asynchronously, so a failing handler gets the asynchronous
    retries (after 1 and 2 more minutes)."""
    rec = Recorder(fail_always)
    await lam.create_function(FunctionName="f", Handler=rec)
    topic = (await sns.create_topic(Name="t"))["TopicArn"]
    await sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn("f"))
    await sns.publish(TopicArn=topic, Message="hello")
    await trio.sleep(1000)
    assert rec.times == [0, 60, 180]


# --- producers never wait for consumers -----------------------------------------------------------


async def test_send_message_returns_before_the_mapped_handler_runs(autojump_clock, aws, broker):
    """AWS: SendMessage to a queue with an event source mapping returns as soon as the message
    is stored; the function runs afterwards, independently (here: on settle)."""
    lam, sqs = aws.client("lambda"), aws.client("sqs")
    bodies = []

    async def handler(event, context):
        await trio.sleep(2)
        bodies.extend(r["body"] for r in event["Records"])

    url, qarn = await make_queue(sqs, "src")
    await lam.create_function(FunctionName="f", Handler=handler)
    await lam.create_event_source_mapping(EventSourceArn=qarn, FunctionName="f")
    await sqs.send_message(QueueUrl=url, MessageBody="m1")
    assert bodies == []
    assert trio.current_time() == 0
    await broker.settle()
    assert bodies == ["m1"]


async def test_event_invokes_do_not_wait_for_slow_handlers(autojump_clock, lam, broker):
    """AWS: Invoke with InvocationType Event returns 202 at once even while earlier events of the
    same function are still running."""

    async def slow(event, context):
        await trio.sleep(30)

    await lam.create_function(FunctionName="f", Handler=slow, Timeout=60)
    for _ in range(5):
        assert (await lam.invoke(FunctionName="f", InvocationType="Event"))["StatusCode"] == 202
    await broker.settle()
    assert trio.current_time() == 30
    assert (await metrics(lam, "f"))["Invocations"] == 5


# --- msgsim's observability operations ------------------------------------------------------------


async def test_function_metrics_and_invocation_list_count_what_happened(
    autojump_clock, lam, broker
):
    """msgsim: GetFunctionMetrics counts invocations, errors, async events received and cold
    starts; ListFunctionInvocations lists the recent invocations oldest first with request id,
    source, status and log, MaxItems keeping the newest."""
    rec = Recorder(lambda e, c, n: fail_always(e, c, n) if e.get("fail") else "ok")
    await lam.create_function(FunctionName="f", Handler=rec)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=0)
    await invoke_json(lam, "f")
    await invoke_json(lam, "f", {"fail": 1})
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    await broker.settle()
    m = await metrics(lam, "f")
    assert (m["Invocations"], m["Errors"], m["Timeouts"], m["Throttles"]) == (3, 1, 0, 0)
    assert (m["AsyncEventsReceived"], m["AsyncEventsQueued"], m["ColdStarts"]) == (1, 0, 1)
    assert m["ConcurrentExecutions"] == 0 and m["MaxConcurrentExecutions"] == 1
    listed = (await lam.list_function_invocations(FunctionName="f"))["Invocations"]
    assert [i["RequestId"] for i in listed] == [rid for _, _, rid in rec.calls]
    assert [i["Source"] for i in listed] == ["sync", "sync", "async"]
    assert [i["Status"] for i in listed] == ["ok", "error", "ok"]
    assert listed[1]["ErrorType"] == "ValueError"
    assert all(i["Log"].startswith(f"START RequestId: {i['RequestId']}") for i in listed)
    newest = (await lam.list_function_invocations(FunctionName="f", MaxItems=2))["Invocations"]
    assert newest == listed[1:]


async def test_cold_start_option_delays_first_run_and_reports_init_duration(autojump_clock):
    """AWS: a new execution environment initialises before the handler runs; the REPORT line of
    a cold start carries Init Duration, a warm one does not."""
    from msgsim.broker.functions.options import LambdaOptions

    async with Broker.open(seed=0, lambda_options=LambdaOptions(cold_start=0.5)) as b:
        from msgsim.adapters import InProcessClient

        lam = InProcessClient(b).client("lambda")
        await lam.create_function(FunctionName="f", Handler=lambda e, c: "ok")
        r = await lam.invoke(FunctionName="f", LogType="Tail")
        assert trio.current_time() == 0.5
        assert "\tInit Duration: 500.00 ms" in _decode_log(r)
        r = await lam.invoke(FunctionName="f", LogType="Tail")
        assert trio.current_time() == 0.5
        assert "Init Duration" not in _decode_log(r)


@pytest.mark.real_clock
async def test_a_handler_run_in_a_thread_answers_as_on_the_trio_thread():
    """LambdaOptions(handler_threads=True) (what msgsim serve uses) runs plain handlers in a
    worker thread: results, errors with the handler's own stack trace, sys.exit and printed
    output answer exactly as they do on the trio thread."""
    from msgsim import Broker, InProcessClient, LambdaOptions

    def handler(event, context):
        print("in a thread:", event["n"])
        if event["n"] == 1:
            raise ValueError("boom")
        if event["n"] == 2:
            raise SystemExit(3)
        return {"n": event["n"], "remaining": context.get_remaining_time_in_millis() > 0}

    answers = {}
    for threads in (False, True):
        async with Broker.open(lambda_options=LambdaOptions(handler_threads=threads)) as broker:
            lam = InProcessClient(broker).client("lambda")
            await lam.create_function(FunctionName="f", Handler=handler)
            got = []
            for n in (0, 1, 2):
                r = await lam.invoke(FunctionName="f", Payload=json.dumps({"n": n}), LogType="Tail")
                body = json.loads(r["Payload"].read())
                if isinstance(body, dict):
                    body.pop("requestId", None)
                    body["errorMessage"] = body.get("errorMessage", "").split(" Error: ")[-1]
                log = base64.b64decode(r["LogResult"]).decode()
                got.append((r.get("FunctionError"), body, "in a thread:" in log))
            answers[threads] = got
    assert answers[True] == answers[False]
    assert answers[True][1][1]["errorType"] == "ValueError"
    assert "in handler" in answers[True][1][1]["stackTrace"][-1]
    assert len(answers[True][1][1]["stackTrace"]) == 1  # the handler's frame, nothing of trio's
