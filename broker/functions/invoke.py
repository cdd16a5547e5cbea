"""Lambda's Invoke (RequestResponse, Event, DryRun) and the asynchronous invocation settings.

Running user code is the runtime's job, so Invoke with RequestResponse returns a
:class:`RunHandler` that the runtime executes and shapes with :func:`finish_sync` (a function
error is a 200 with FunctionError, as in AWS). Invoke with Event queues the event
(:mod:`.async_events`) and answers 202 at once; DryRun checks the request and answers 204.
Payloads are bounded before they are parsed: 6 MB for RequestResponse, 1 MB for Event.

The FunctionEventInvokeConfig operations set what happens to an async event of a function:
MaximumRetryAttempts, MaximumEventAgeInSeconds and its OnSuccess / OnFailure destinations.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from .. import limits
from ..errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
    ResourceNotFoundException,
    ValidationException,
)
from ..ids import uuid4_from
from ..params import check_known, parse_json
from .async_events import push_event
from .model import Function
from .outcome import Outcome
from .shapes import integer, invalid
from .state import LambdaState

_INVOKE = frozenset(
    {"FunctionName", "InvocationType", "LogType", "ClientContext", "Payload", "Qualifier"}
)
_EIC = frozenset(
    {
        "FunctionName",
        "Qualifier",
        "MaximumRetryAttempts",
        "MaximumEventAgeInSeconds",
        "DestinationConfig",
    }
)


class RunHandler:
    """A synchronous invocation for the runtime to run: the caller waits for it."""

    __slots__ = ("client_context", "event", "function", "log_tail", "request_id")

    def __init__(
        self,
        function: Function,
        event: Any,
        request_id: str,
        log_tail: bool,
        client_context: Any = None,
    ) -> None:
        self.function = function
        self.event = event
        self.request_id = request_id
        self.log_tail = log_tail
        self.client_context = client_context


class InvokePayload(bytes):
    """The response Payload: bytes that also read like boto3's StreamingBody."""

    _pos = 0

    def read(self, amt: int | None = None) -> bytes:
        start = self._pos
        end = len(self) if amt is None or amt < 0 else min(len(self), start + amt)
        self._pos = end
        return bytes(self[start:end])


# ---------------------------------------------------------------------- Invoke
def invoke(lam: LambdaState, p: Mapping[str, Any], now: float) -> Any:
    check_known(p, _INVOKE, "Invoke", ValidationException)
    fn = lam.named_function(p)
    kind = p.get("InvocationType", "RequestResponse")
    if kind not in ("RequestResponse", "Event", "DryRun"):
        raise invalid(
            kind,
            "invocationType",
            "Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
        )
    log_type = p.get("LogType", "None")
    if log_type not in ("None", "Tail"):
        raise invalid(log_type, "logType", "Member must satisfy enum value set: [None, Tail]")
    raw = p.get("Payload")
    if raw is None:
        data = b""
    elif isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
    elif isinstance(raw, str):
        data = raw.encode("utf-8", "surrogatepass")
    elif hasattr(raw, "read"):
        try:
            data = raw.read()
        except Exception as exc:  # a client's file object failing is the client's problem
            raise InvalidRequestContentException(f"Could not read Payload: {exc!r}") from None
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        if not isinstance(data, bytes):
            raise InvalidRequestContentException("Payload.read() must return bytes.")
    else:
        raise InvalidRequestContentException("Payload must be bytes, a string or a file.")
    limit = limits.LAMBDA_ASYNC_PAYLOAD_MAX if kind == "Event" else limits.LAMBDA_SYNC_PAYLOAD_MAX
    if len(data) > limit:
        raise RequestTooLargeException(
            f"{len(data)} byte payload is too large for the {kind} invocation type "
            f"(limit {limit} bytes)"
        )
    event = _parse_payload(data)
    client_context = None
    if p.get("ClientContext") is not None:
        if kind != "RequestResponse":
            client_context = None  # Lambda passes ClientContext to synchronous calls only
        else:
            client_context = _client_context(p["ClientContext"])
    if kind == "DryRun":
        return {"StatusCode": 204, "Payload": InvokePayload(b"")}
    if kind == "Event":
        push_event(lam, fn, event, now)
        return {"StatusCode": 202, "Payload": InvokePayload(b"")}
    return RunHandler(fn, event, uuid4_from(lam.rng), log_type == "Tail", client_context)


def finish_sync(run: RunHandler, outcome: Outcome, logs: Callable[[], str]) -> dict[str, Any]:
    """The Invoke response for a synchronous run (function errors are a 200 with
    FunctionError, as in AWS; throttles were raised before the run)."""
    fn = run.function
    out: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    if outcome.ok:
        body = outcome.raw if outcome.raw is not None else _json_bytes(outcome.payload)
        if len(body) > limits.LAMBDA_SYNC_PAYLOAD_MAX:
            outcome = Outcome(
                "error",
                error_type="Function.ResponseSizeTooLarge",
                error_message=(
                    f"Response payload size ({len(body)} bytes) exceeded maximum allowed "
                    f"payload size ({limits.LAMBDA_SYNC_PAYLOAD_MAX} bytes)."
                ),
                duration=outcome.duration,
                request_id=outcome.request_id,
            )
            fn.metrics.errors += 1
    if not outcome.ok:
        out["FunctionError"] = "Unhandled"
        body = _json_bytes(outcome.error_payload())
    out["Payload"] = InvokePayload(body)
    if run.log_tail:
        tail = logs().encode("utf-8", "replace")[-limits.LAMBDA_LOG_TAIL_BYTES :]
        out["LogResult"] = base64.b64encode(tail).decode()
    return out


def _parse_payload(data: bytes) -> Any:
    if not data.strip():
        return {}
    try:
        return parse_json(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None


def _client_context(value: Any) -> Any:
    if type(value) is not str or len(value) > 3583:
        raise InvalidRequestContentException(
            "ClientContext must be base64-encoded JSON of at most 3,583 bytes."
        )
    try:
        return parse_json(base64.b64decode(value, validate=True))
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# ---------------------------------------------------------------------- async invoke configuration
def _event_invoke_changes(lam: LambdaState, p: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    retries = integer(
        p,
        "MaximumRetryAttempts",
        "maximumRetryAttempts",
        0,
        limits.LAMBDA_ASYNC_RETRY_ATTEMPTS_MAX,
    )
    if retries is not None:
        out["MaximumRetryAttempts"] = retries
    age = integer(
        p,
        "MaximumEventAgeInSeconds",
        "maximumEventAgeInSeconds",
        limits.LAMBDA_EVENT_AGE_MIN,
        limits.LAMBDA_EVENT_AGE_MAX,
    )
    if age is not None:
        out["MaximumEventAgeInSeconds"] = age
    dest = p.get("DestinationConfig")
    if dest is not None:
        if not isinstance(dest, Mapping) or not dest.keys() <= {"OnSuccess", "OnFailure"}:
            raise InvalidParameterValueException("DestinationConfig takes OnSuccess and OnFailure.")
        clean: dict[str, Any] = {}
        for key in ("OnSuccess", "OnFailure"):
            entry = dest.get(key) or {}
            if not isinstance(entry, Mapping) or not entry.keys() <= {"Destination"}:
                raise InvalidParameterValueException(f"{key} takes only Destination.")
            target = entry.get("Destination")
            if target:
                lam.check_target(target, f"{key} destination")
                clean[key] = {"Destination": target}
            else:
                clean[key] = {}
        out["DestinationConfig"] = clean
    return out


def _eic_response(fn: Function) -> dict[str, Any]:
    cfg = dict(fn.event_invoke_config or {})
    cfg.setdefault("DestinationConfig", {"OnSuccess": {}, "OnFailure": {}})
    cfg["FunctionArn"] = f"{fn.arn}:$LATEST"
    cfg["LastModified"] = fn.event_invoke_modified
    return json.loads(json.dumps(cfg, default=str))


def _set_event_invoke_config(
    lam: LambdaState, fn: Function, config: dict[str, Any], now: float
) -> dict[str, Any]:
    fn.event_invoke_config = config
    fn.event_invoke_modified = lam.epoch.wall(now)
    lam.async_queue.reschedule_expiry(fn)  # a lowered MaximumEventAgeInSeconds
    lam.kicked = True
    return _eic_response(fn)


def _fn_with_event_invoke_config(
    lam: LambdaState, p: Mapping[str, Any], operation: str
) -> Function:
    check_known(p, frozenset({"FunctionName", "Qualifier"}), operation, ValidationException)
    fn = lam.named_function(p)
    if fn.event_invoke_config is None:
        raise ResourceNotFoundException(f"The function {fn.arn} doesn't have an EventInvokeConfig")
    return fn


def put_function_event_invoke_config(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, _EIC, "PutFunctionEventInvokeConfig", ValidationException)
    fn = lam.named_function(p)
    # Put replaces the whole config.
    return _set_event_invoke_config(lam, fn, _event_invoke_changes(lam, p), now)


def update_function_event_invoke_config(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, _EIC, "UpdateFunctionEventInvokeConfig", ValidationException)
    fn = lam.named_function(p)
    changes = _event_invoke_changes(lam, p)
    return _set_event_invoke_config(lam, fn, {**(fn.event_invoke_config or {}), **changes}, now)


def get_function_event_invoke_config(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    fn = _fn_with_event_invoke_config(lam, p, "GetFunctionEventInvokeConfig")
    return _eic_response(fn)


def delete_function_event_invoke_config(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    fn = _fn_with_event_invoke_config(lam, p, "DeleteFunctionEventInvokeConfig")
    fn.event_invoke_config = None
    return {}
