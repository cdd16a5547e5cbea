"""The Lambda operation table: functions, concurrency, async invoke configuration, invocation and
event source mappings, validated as AWS validates them.

Sans-IO like every service: an operation takes the request parameters and ``now`` and returns
the response dict. Running user code is the runtime's job, so ``Invoke`` with RequestResponse
returns a :class:`RunHandler` that the runtime executes and shapes with :meth:`finish_sync`;
async events wait in :class:`~.model.AsyncQueue`, which the runtime's dispatcher drains.

Errors follow the Lambda API reference: shape violations are ``ValidationException`` ("1
validation error detected: Value ... at '...' failed to satisfy constraint: ..."), semantic ones
``InvalidParameterValueException``; unknown functions ``ResourceNotFoundException``; duplicates
``ResourceConflictException``; no free concurrency ``TooManyRequestsException``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .. import limits
from ..clock import Epoch
from ..errors import (
    BrokerError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
    ResourceConflictException,
    ResourceNotFoundException,
    TooManyRequestsException,
    ValidationException,
)
from ..filters import SCOPE_BODY, FilterPolicy
from ..ids import uuid4_from
from ..params import check_known, safe_repr
from .mappings import EventSourceMapping, MappingOptions
from .model import (
    DROPPED,
    EXPIRED,
    RETRIES_EXHAUSTED,
    RUNNING,
    SUCCEEDED,
    AsyncEvent,
    AsyncQueue,
    Function,
)
from .outcome import Outcome

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# Name, ARN or partial ARN, with an optional qualifier (Lambda's FunctionName pattern).
_FUNCTION_REF = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>[^:]+))?"
)
_PYTHON_RUNTIMES = frozenset(
    {"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"}
)
DEFAULT_RUNTIME = "python3.12"


class LambdaOptions:
    """Tunables of the simulated Lambda (a scenario studies cold starts by raising them).

    ``account_concurrency``: the regional ConcurrentExecutions limit (AWS default 1,000).
    ``cold_start``: seconds a new execution environment takes before the handler runs (0 by
    default, so unit tests see none). ``environment_idle``: seconds after which an idle
    environment is reaped (AWS does not document it; 10 minutes is msgsim's choice).
    ``mapping_delay``: seconds an event source mapping spends Creating, Enabling, Disabling,
    Updating or Deleting (AWS takes a few seconds; 0 by default).
    """

    def __init__(
        self,
        account_concurrency: int = limits.LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT,
        cold_start: float = 0.0,
        environment_idle: float = 600.0,
        mapping_delay: float = 0.0,
    ) -> None:
        if account_concurrency < limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN:
            raise ValueError(
                f"account_concurrency must be at least {limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN}"
            )
        self.account_concurrency = account_concurrency
        self.cold_start = cold_start
        self.environment_idle = environment_idle
        self.mapping_delay = mapping_delay


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


class Delivery:
    """Something the runtime must send for the functions service: a destination record, a
    dead-letter message, or an OnFailure record of a mapping."""

    __slots__ = ("attributes", "body", "source", "target")

    def __init__(
        self, target: str, body: str, source: str, attributes: dict[str, Any] | None = None
    ) -> None:
        self.target = target  # SQS queue, SNS topic or Lambda function ARN
        self.body = body  # JSON text
        self.source = source  # the function ARN the delivery is for (metrics)
        self.attributes = attributes  # SQS/SNS message attributes (dead-letter messages)


def _validation(value: Any, field: str, constraint: str) -> ValidationException:
    return ValidationException(
        f"1 validation error detected: Value '{safe_repr(value, 100)}' at '{field}' failed to "
        f"satisfy constraint: {constraint}"
    )


def _int(p: Mapping[str, Any], name: str, field: str, lo: int, hi: int) -> int | None:
    value = p.get(name)
    if value is None:
        return None
    if type(value) is not int:
        raise _validation(value, field, "Member must be an integer")
    if value < lo:
        raise _validation(value, field, f"Member must have value greater than or equal to {lo}")
    if value > hi:
        raise _validation(value, field, f"Member must have value less than or equal to {hi}")
    return value


def _str(p: Mapping[str, Any], name: str, field: str, max_len: int | None = None) -> str | None:
    value = p.get(name)
    if value is None:
        return None
    if type(value) is not str:
        raise _validation(value, field, "Member must be a string")
    if max_len is not None and len(value) > max_len:
        raise _validation(value, field, f"Member must have length less than or equal to {max_len}")
    return value


def _bool(p: Mapping[str, Any], name: str, field: str) -> bool | None:
    value = p.get(name)
    if value is None:
        return None
    if type(value) is not bool:
        raise _validation(value, field, "Member must be a boolean")
    return value


def iso_ms(epoch: Epoch, now: float) -> str:
    """Lambda's LastModified form: 2025-01-01T00:00:00.000+0000."""
    dt = datetime.fromtimestamp(epoch.wall(now), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def iso_z(epoch: Epoch, now: float) -> str:
    """Destination records' timestamp form: 2025-01-01T00:00:00.000Z."""
    dt = datetime.fromtimestamp(epoch.wall(now), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def handler_label(handler: Any) -> str:
    """The Handler string GetFunction shows for a callable handler."""
    module = getattr(handler, "__module__", None) or "handler"
    name = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", "handler")
    return f"{module}.{name}"


class LambdaService:
    """The simulated Lambda of one account and region."""

    def __init__(
        self,
        *,
        rng: random.Random,
        epoch: Epoch,
        region: str,
        account_id: str,
        options: LambdaOptions | None = None,
        queue_exists: Callable[[str], Any] | None = None,
        stream_exists: Callable[[str, float], Any] | None = None,
        topic_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.rng = rng
        self.epoch = epoch
        self.region = region
        self.account_id = account_id
        self.options = options or LambdaOptions()
        # Lookups into the other services (set by the runtime): a queue by ARN (or None), a
        # stream by ARN (or None), whether a topic exists.
        self.queue_exists = queue_exists or (lambda arn: None)
        self.stream_exists = stream_exists or (lambda arn, now: None)
        self.topic_exists = topic_exists or (lambda arn: False)
        self.functions: dict[str, Function] = {}
        self.mappings: dict[str, EventSourceMapping] = {}
        self.async_queue = AsyncQueue()
        self.unreserved_running = 0
        self.reserved_total = 0
        #: Deliveries for the runtime to make (destinations, dead-letter queues).
        self.outbox: list[Delivery] = []
        #: Mappings created since the runtime last looked (it starts their pollers).
        self.new_mappings: list[EventSourceMapping] = []
        #: Set when async events were queued (the runtime's dispatcher re-arms).
        self.kicked = False
        # The runtime's interface shared with the other services.
        self.touched: set[Any] = set()
        self.jobs: list[Any] = []
        self.operations: dict[str, Callable[[Mapping[str, Any], float], Any]] = {
            "CreateFunction": self.create_function,
            "GetFunction": self.get_function,
            "GetFunctionConfiguration": self.get_function_configuration,
            "ListFunctions": self.list_functions,
            "UpdateFunctionConfiguration": self.update_function_configuration,
            "DeleteFunction": self.delete_function,
            "PutFunctionConcurrency": self.put_function_concurrency,
            "GetFunctionConcurrency": self.get_function_concurrency,
            "DeleteFunctionConcurrency": self.delete_function_concurrency,
            "GetAccountSettings": self.get_account_settings,
            "PutFunctionEventInvokeConfig": self.put_function_event_invoke_config,
            "UpdateFunctionEventInvokeConfig": self.update_function_event_invoke_config,
            "GetFunctionEventInvokeConfig": self.get_function_event_invoke_config,
            "DeleteFunctionEventInvokeConfig": self.delete_function_event_invoke_config,
            "Invoke": self.invoke,
            "CreateEventSourceMapping": self.create_event_source_mapping,
            "UpdateEventSourceMapping": self.update_event_source_mapping,
            "DeleteEventSourceMapping": self.delete_event_source_mapping,
            "GetEventSourceMapping": self.get_event_source_mapping,
            "ListEventSourceMappings": self.list_event_source_mappings,
            # msgsim's own operations (not in AWS): observability.
            "GetFunctionMetrics": self.get_function_metrics,
            "ListFunctionInvocations": self.list_function_invocations,
        }

    # ------------------------------------------------------------------ lookups
    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def _not_found(self, ref: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Function not found: {ref}")

    def function_by_ref(self, ref: Any, qualifier: Any = None) -> Function:
        """The function named by a name, ARN or partial ARN (``$LATEST`` is the only version)."""
        if type(ref) is not str or not ref:
            raise _validation(
                ref, "functionName", "Member must have length greater than or equal to 1"
            )
        m = _FUNCTION_REF.fullmatch(ref)
        if m is None or len(ref) > 170:
            raise _validation(
                ref,
                "functionName",
                "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
                "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)"
                "(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            )
        name = m.group("name")
        if len(name) > limits.LAMBDA_FUNCTION_NAME_MAX:
            raise _validation(
                ref, "functionName", "Member must have length less than or equal to 64"
            )
        qual = m.group("qualifier") or qualifier
        if (m.group("region") not in (None, self.region)) or (
            m.group("account") not in (None, self.account_id)
        ):
            raise self._not_found(self.arn(name))
        fn = self.functions.get(name)
        if fn is None:
            raise self._not_found(self.arn(name) + (f":{qual}" if qual else ""))
        if qual is not None and qual != "$LATEST":
            if type(qual) is not str:
                raise _validation(qual, "qualifier", "Member must be a string")
            raise self._not_found(f"{fn.arn}:{qual}")
        return fn

    def _fn(self, p: Mapping[str, Any]) -> Function:
        if "FunctionName" not in p:
            raise ValidationException("The request must contain the parameter FunctionName.")
        return self.function_by_ref(p["FunctionName"], p.get("Qualifier"))

    # ------------------------------------------------------------------ functions
    _CREATE = frozenset(
        {
            "FunctionName",
            "Runtime",
            "Role",
            "Handler",
            "Code",
            "Description",
            "Timeout",
            "MemorySize",
            "Publish",
            "Environment",
            "DeadLetterConfig",
            "Tags",
            "PackageType",
            "Architectures",
            "EphemeralStorage",
            "TracingConfig",
            "Layers",
            "KMSKeyArn",
            "VpcConfig",
            "LoggingConfig",
        }
    )
    _UPDATE = frozenset(
        {
            "FunctionName",
            "Runtime",
            "Role",
            "Handler",
            "Description",
            "Timeout",
            "MemorySize",
            "Environment",
            "DeadLetterConfig",
            "RevisionId",
            "EphemeralStorage",
            "TracingConfig",
            "Layers",
            "KMSKeyArn",
            "VpcConfig",
            "LoggingConfig",
        }
    )

    def _check_handler(self, handler: Any) -> Any:
        if callable(handler):
            return handler
        if type(handler) is not str or not handler or len(handler) > 128:
            raise InvalidParameterValueException(
                "Handler must be a callable handler(event, context) or an import string "
                "'package.module:function' of at most 128 characters."
            )
        if any(c.isspace() for c in handler):
            raise _validation(
                handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+"
            )
        if ":" not in handler and "." not in handler:
            raise InvalidParameterValueException(
                f"Handler '{handler}' must name a module and a function: "
                "'package.module:function' (or Lambda's 'module.function')."
            )
        return handler

    def _check_config(self, p: Mapping[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        """Validate the configurable fields present in ``p``; the new configuration values."""
        out: dict[str, Any] = {}
        runtime = _str(p, "Runtime", "runtime")
        if runtime is not None:
            if runtime not in _PYTHON_RUNTIMES:
                raise InvalidParameterValueException(
                    f"The runtime parameter of {runtime} is not supported by msgsim: handlers "
                    f"run in Python ({', '.join(sorted(_PYTHON_RUNTIMES))})."
                )
            out["Runtime"] = runtime
        role = _str(p, "Role", "role", 2048)
        if role is not None:
            if not re.fullmatch(
                r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+", role
            ):
                raise _validation(
                    role,
                    "role",
                    "Member must satisfy regular expression pattern: "
                    "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
                )
            out["Role"] = role
        description = _str(p, "Description", "description", 256)
        if description is not None:
            out["Description"] = description
        timeout = _int(
            p, "Timeout", "timeout", limits.LAMBDA_TIMEOUT_MIN, limits.LAMBDA_TIMEOUT_MAX
        )
        if timeout is not None:
            out["Timeout"] = timeout
        memory = _int(
            p, "MemorySize", "memorySize", limits.LAMBDA_MEMORY_MIN, limits.LAMBDA_MEMORY_MAX
        )
        if memory is not None:
            out["MemorySize"] = memory
        env = p.get("Environment")
        if env is not None:
            if not isinstance(env, Mapping) or not env.keys() <= {"Variables"}:
                raise InvalidParameterValueException(
                    "Environment must be a map with the key Variables."
                )
            variables = env.get("Variables") or {}
            if not isinstance(variables, Mapping) or any(
                type(k) is not str or type(v) is not str for k, v in variables.items()
            ):
                raise InvalidParameterValueException(
                    "Environment Variables must map strings to strings."
                )
            for key in variables:
                if not re.fullmatch(r"[a-zA-Z]([a-zA-Z0-9_])+", key):
                    raise _validation(
                        key,
                        "environment.variables",
                        "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
                    )
            size = len(json.dumps(dict(variables), separators=(",", ":")).encode())
            if size > limits.LAMBDA_ENVIRONMENT_MAX_BYTES:
                raise InvalidParameterValueException(
                    "Lambda was unable to configure your environment variables because the "
                    f"environment variables you have provided exceeded the 4KB limit. String "
                    f"measured: {size} bytes."
                )
            out["Environment"] = {"Variables": dict(variables)}
        dlq = p.get("DeadLetterConfig")
        if dlq is not None:
            if not isinstance(dlq, Mapping) or not dlq.keys() <= {"TargetArn"}:
                raise InvalidParameterValueException("DeadLetterConfig takes only TargetArn.")
            target = dlq.get("TargetArn")
            if target:
                self._check_target(target, "DeadLetterConfig.TargetArn", allow_lambda=False)
                out["DeadLetterConfig"] = {"TargetArn": target}
            else:
                out["DeadLetterConfig"] = None
        return out

    def _check_target(self, arn: Any, what: str, *, allow_lambda: bool = True) -> None:
        """A destination or dead-letter target must be an existing SQS queue or SNS topic (or,
        for destinations, a function) of this account."""
        if type(arn) is not str:
            raise InvalidParameterValueException(f"{what} must be an ARN string.")
        if arn.startswith("arn:aws:sqs:"):
            if self.queue_exists(arn) is None:
                raise InvalidParameterValueException(
                    f"The destination ARN {arn} is invalid: the queue does not exist."
                )
            return
        if arn.startswith("arn:aws:sns:"):
            if not self.topic_exists(arn):
                raise InvalidParameterValueException(
                    f"The destination ARN {arn} is invalid: the topic does not exist."
                )
            return
        if allow_lambda and arn.startswith("arn:aws:lambda:"):
            self.function_by_ref(arn)
            return
        kinds = (
            "an SQS queue, an SNS topic or a Lambda function"
            if allow_lambda
            else ("an SQS queue or an SNS topic")
        )
        raise InvalidParameterValueException(f"The {what} {arn} is invalid: it must be {kinds}.")

    def create_function(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, self._CREATE, "CreateFunction", ValidationException)
        name = p.get("FunctionName")
        if type(name) is not str or not _NAME.fullmatch(name):
            raise _validation(
                name,
                "functionName",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length "
                "between 1 and 64",
            )
        if "Handler" not in p:
            raise InvalidParameterValueException(
                "The Handler parameter is required: a callable, or 'package.module:function'."
            )
        handler = self._check_handler(p["Handler"])
        if p.get("PackageType") not in (None, "Zip"):
            raise InvalidParameterValueException("msgsim runs Zip package functions only.")
        changes = self._check_config(p, {})
        tags = p.get("Tags") or {}
        if not isinstance(tags, Mapping) or any(
            type(k) is not str or type(v) is not str for k, v in tags.items()
        ):
            raise InvalidParameterValueException("Tags must map strings to strings.")
        code = p.get("Code") or {}
        if not isinstance(code, Mapping):
            raise InvalidParameterValueException("Code must be a map.")
        if name in self.functions:
            raise ResourceConflictException(f"Function already exist: {name}")
        zip_bytes = code.get("ZipFile")
        blob = (
            zip_bytes
            if isinstance(zip_bytes, bytes)
            else json.dumps({k: str(v) for k, v in code.items()}, sort_keys=True).encode()
        )
        arn = self.arn(name)
        config: dict[str, Any] = {
            "FunctionName": name,
            "FunctionArn": arn,
            "Runtime": DEFAULT_RUNTIME,
            "Role": f"arn:aws:iam::{self.account_id}:role/msgsim-lambda",
            "Handler": handler if isinstance(handler, str) else handler_label(handler),
            "CodeSize": len(blob),
            "Description": "",
            "Timeout": limits.LAMBDA_TIMEOUT_DEFAULT,
            "MemorySize": limits.LAMBDA_MEMORY_DEFAULT,
            "LastModified": iso_ms(self.epoch, now),
            "CodeSha256": base64.b64encode(hashlib.sha256(blob).digest()).decode(),
            "Version": "$LATEST",
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": uuid4_from(self.rng),
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": list(p.get("Architectures") or ["x86_64"]),
            "EphemeralStorage": {"Size": 512},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
        }
        config.update({k: v for k, v in changes.items() if v is not None})
        fn = Function(name, arn, config, handler)
        fn.tags = dict(tags)
        self.functions[name] = fn
        return dict(config)

    def _configuration(self, fn: Function) -> dict[str, Any]:
        return json.loads(json.dumps(fn.config))  # a deep copy the caller may keep

    def get_function(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"FunctionName", "Qualifier"}), "GetFunction", ValidationException)
        fn = self._fn(p)
        out: dict[str, Any] = {
            "Configuration": self._configuration(fn),
            "Code": {"RepositoryType": "S3", "Location": f"msgsim://lambda/{fn.name}"},
        }
        if fn.tags:
            out["Tags"] = dict(fn.tags)
        if fn.reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved}
        return out

    def get_function_configuration(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"FunctionName", "Qualifier"}),
            "GetFunctionConfiguration",
            ValidationException,
        )
        return self._configuration(self._fn(p))

    def list_functions(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"Marker", "MaxItems", "MasterRegion", "FunctionVersion"}),
            "ListFunctions",
            ValidationException,
        )
        max_items = _int(p, "MaxItems", "maxItems", 1, 10_000) or 50
        marker = _str(p, "Marker", "marker")
        names = sorted(self.functions)
        start = 0
        if marker is not None:
            try:
                start = int(base64.b64decode(marker.encode(), validate=True).decode())
            except (ValueError, UnicodeDecodeError):
                raise InvalidParameterValueException("Invalid Marker.") from None
            if not 0 <= start <= len(names):
                raise InvalidParameterValueException("Invalid Marker.")
        page = names[start : start + max_items]
        out: dict[str, Any] = {"Functions": [self._configuration(self.functions[n]) for n in page]}
        if start + max_items < len(names):
            out["NextMarker"] = base64.b64encode(str(start + max_items).encode()).decode()
        return out

    def update_function_configuration(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, self._UPDATE, "UpdateFunctionConfiguration", ValidationException)
        fn = self._fn(p)
        revision = p.get("RevisionId")
        if revision is not None and revision != fn.config["RevisionId"]:
            raise _precondition(fn)
        handler = self._check_handler(p["Handler"]) if "Handler" in p else None
        changes = self._check_config(p, fn.config)
        if "Timeout" in changes:
            # A function's timeout may not exceed the visibility timeout of a queue mapped to it.
            for mapping in self.mappings.values():
                if mapping.function is fn and mapping.kind == "sqs":
                    self._check_visibility(mapping.source_arn, changes["Timeout"])
        for key, value in changes.items():
            if value is None:
                fn.config.pop(key, None)
            else:
                fn.config[key] = value
        if handler is not None:
            fn.handler = handler
            fn.resolved = None
            fn.idle_envs.clear()  # new code: no warm environment survives
            fn.config["Handler"] = handler if isinstance(handler, str) else handler_label(handler)
        fn.config["LastModified"] = iso_ms(self.epoch, now)
        fn.config["RevisionId"] = uuid4_from(self.rng)
        return self._configuration(fn)

    def delete_function(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p, frozenset({"FunctionName", "Qualifier"}), "DeleteFunction", ValidationException
        )
        fn = self._fn(p)
        fn.deleted = True
        del self.functions[fn.name]
        if fn.reserved is not None:
            self.reserved_total -= fn.reserved
        self.async_queue.unpark(fn)  # drops its waiting events
        self.kicked = True  # a returned reservation may let other functions' events start
        # Mappings of a deleted function stay (AWS keeps them, failing); msgsim disables them.
        for mapping in self.mappings.values():
            if mapping.function is fn:
                mapping.function_deleted(now)
        return {}

    # ------------------------------------------------------------------ concurrency
    @property
    def unreserved_pool(self) -> int:
        return self.options.account_concurrency - self.reserved_total

    def acquire(self, fn: Function) -> str | None:
        """Take one unit of concurrency for ``fn``: None, or the throttle reason."""
        if fn.reserved is not None:
            if fn.running >= fn.reserved:
                fn.metrics.throttles += 1
                return "ReservedFunctionConcurrentInvocationLimitExceeded"
        elif self.unreserved_running >= self.unreserved_pool:
            fn.metrics.throttles += 1
            return "ConcurrentInvocationLimitExceeded"
        else:
            self.unreserved_running += 1
        fn.running += 1
        m = fn.metrics
        m.concurrent_executions = fn.running
        if fn.running > m.max_concurrent_executions:
            m.max_concurrent_executions = fn.running
        return None

    def _saturated(self, fn: Function) -> bool:
        if fn.reserved is not None:
            return fn.running >= fn.reserved
        return self.unreserved_running >= self.unreserved_pool

    def release(self, fn: Function) -> None:
        """A run of ``fn`` ended: its unit of concurrency goes to a waiting async event of
        ``fn``, or (a unit of the shared pool) of another function without a reservation."""
        fn.running -= 1
        fn.metrics.concurrent_executions = fn.running
        queue = self.async_queue
        if fn.reserved is None:
            self.unreserved_running -= 1
        if queue.unpark(fn):
            self.kicked = True
        elif fn.reserved is None and queue.waiting_functions:
            for other in list(queue.waiting_functions):
                if (other.reserved is None or other.deleted) and queue.unpark(other):
                    self.kicked = True
                    break

    def wake_waiting(self) -> None:
        """Hand every free unit of concurrency to a waiting async event: after a reservation
        changed, a function was deleted, or an event given a unit expired instead of running.
        Events of a function with reserved concurrency 0 all go (to fail for good)."""
        queue = self.async_queue
        if not queue.waiting_functions:
            return
        shared = self.unreserved_pool - self.unreserved_running
        for fn in list(queue.waiting_functions):
            if fn.reserved is None:
                n = shared
            elif fn.reserved == 0:
                n = len(fn.waiting)
            else:
                n = fn.reserved - fn.running
            got = queue.unpark(fn, max(n, 0)) if n > 0 or fn.deleted else 0
            if fn.reserved is None:
                shared -= got
            if got:
                self.kicked = True

    def throttled_error(self, fn: Function, reason: str) -> TooManyRequestsException:
        err = TooManyRequestsException(f"Rate Exceeded. Reason: {reason}")
        err.reason = reason  # type: ignore[attr-defined]
        return err

    def put_function_concurrency(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"FunctionName", "ReservedConcurrentExecutions"}),
            "PutFunctionConcurrency",
            ValidationException,
        )
        fn = self._fn(p)
        if "ReservedConcurrentExecutions" not in p:
            raise ValidationException(
                "The request must contain the parameter ReservedConcurrentExecutions."
            )
        value = _int(p, "ReservedConcurrentExecutions", "reservedConcurrentExecutions", 0, 10**9)
        if value is None:
            raise _validation(None, "reservedConcurrentExecutions", "Member must not be null")
        others = self.reserved_total - (fn.reserved or 0)
        unreserved = self.options.account_concurrency - others - value
        if unreserved < limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of "
                f"[{limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN}]."
            )
        self._move_pool(fn, value)
        return {"ReservedConcurrentExecutions": value}

    def _move_pool(self, fn: Function, reserved: int | None) -> None:
        """Switch ``fn`` between the shared pool and its own reservation, carrying the
        executions in progress with it."""
        if fn.reserved is None and reserved is not None:
            self.unreserved_running -= fn.running
        elif fn.reserved is not None and reserved is None:
            self.unreserved_running += fn.running
        self.reserved_total += (reserved or 0) - (fn.reserved or 0)
        fn.reserved = reserved
        self.kicked = True  # units may have come free for waiting events

    def get_function_concurrency(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"FunctionName"}), "GetFunctionConcurrency", ValidationException)
        fn = self._fn(p)
        return {} if fn.reserved is None else {"ReservedConcurrentExecutions": fn.reserved}

    def delete_function_concurrency(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p, frozenset({"FunctionName"}), "DeleteFunctionConcurrency", ValidationException
        )
        self._move_pool(self._fn(p), None)
        return {}

    def get_account_settings(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset(), "GetAccountSettings", ValidationException)
        return {
            "AccountLimit": {
                "ConcurrentExecutions": self.options.account_concurrency,
                "UnreservedConcurrentExecutions": self.unreserved_pool,
            },
            "AccountUsage": {"FunctionCount": len(self.functions)},
        }

    # ------------------------------------------------------------------ async invoke config
    _EIC = frozenset(
        {
            "FunctionName",
            "Qualifier",
            "MaximumRetryAttempts",
            "MaximumEventAgeInSeconds",
            "DestinationConfig",
        }
    )

    def _event_invoke_changes(self, p: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        retries = _int(
            p,
            "MaximumRetryAttempts",
            "maximumRetryAttempts",
            0,
            limits.LAMBDA_ASYNC_RETRY_ATTEMPTS_MAX,
        )
        if retries is not None:
            out["MaximumRetryAttempts"] = retries
        age = _int(
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
                raise InvalidParameterValueException(
                    "DestinationConfig takes OnSuccess and OnFailure."
                )
            clean: dict[str, Any] = {}
            for key in ("OnSuccess", "OnFailure"):
                entry = dest.get(key) or {}
                if not isinstance(entry, Mapping) or not entry.keys() <= {"Destination"}:
                    raise InvalidParameterValueException(f"{key} takes only Destination.")
                target = entry.get("Destination")
                if target:
                    self._check_target(target, f"{key} destination")
                    clean[key] = {"Destination": target}
                else:
                    clean[key] = {}
            out["DestinationConfig"] = clean
        return out

    def _eic_response(self, fn: Function, now: float) -> dict[str, Any]:
        cfg = dict(fn.event_invoke_config or {})
        cfg.setdefault("DestinationConfig", {"OnSuccess": {}, "OnFailure": {}})
        cfg["FunctionArn"] = f"{fn.arn}:$LATEST"
        cfg["LastModified"] = fn.event_invoke_modified
        return json.loads(json.dumps(cfg, default=str))

    def put_function_event_invoke_config(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, self._EIC, "PutFunctionEventInvokeConfig", ValidationException)
        fn = self._fn(p)
        # Put replaces the whole config.
        return self._set_event_invoke_config(fn, self._event_invoke_changes(p), now)

    def update_function_event_invoke_config(
        self, p: Mapping[str, Any], now: float
    ) -> dict[str, Any]:
        check_known(p, self._EIC, "UpdateFunctionEventInvokeConfig", ValidationException)
        fn = self._fn(p)
        changes = self._event_invoke_changes(p)
        return self._set_event_invoke_config(fn, {**(fn.event_invoke_config or {}), **changes}, now)

    def _set_event_invoke_config(
        self, fn: Function, config: dict[str, Any], now: float
    ) -> dict[str, Any]:
        fn.event_invoke_config = config
        fn.event_invoke_modified = self.epoch.wall(now)
        self.async_queue.reschedule_expiry(fn)  # a lowered MaximumEventAgeInSeconds
        self.kicked = True
        return self._eic_response(fn, now)

    def _fn_with_event_invoke_config(self, p: Mapping[str, Any], operation: str) -> Function:
        check_known(p, frozenset({"FunctionName", "Qualifier"}), operation, ValidationException)
        fn = self._fn(p)
        if fn.event_invoke_config is None:
            raise ResourceNotFoundException(
                f"The function {fn.arn} doesn't have an EventInvokeConfig"
            )
        return fn

    def get_function_event_invoke_config(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        fn = self._fn_with_event_invoke_config(p, "GetFunctionEventInvokeConfig")
        return self._eic_response(fn, now)

    def delete_function_event_invoke_config(
        self, p: Mapping[str, Any], now: float
    ) -> dict[str, Any]:
        fn = self._fn_with_event_invoke_config(p, "DeleteFunctionEventInvokeConfig")
        fn.event_invoke_config = None
        return {}

    # ------------------------------------------------------------------ invoke
    _INVOKE = frozenset(
        {"FunctionName", "InvocationType", "LogType", "ClientContext", "Payload", "Qualifier"}
    )

    def invoke(self, p: Mapping[str, Any], now: float) -> Any:
        check_known(p, self._INVOKE, "Invoke", ValidationException)
        fn = self._fn(p)
        kind = p.get("InvocationType", "RequestResponse")
        if kind not in ("RequestResponse", "Event", "DryRun"):
            raise _validation(
                kind,
                "invocationType",
                "Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
            )
        log_type = p.get("LogType", "None")
        if log_type not in ("None", "Tail"):
            raise _validation(
                log_type, "logType", "Member must satisfy enum value set: [None, Tail]"
            )
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
        limit = (
            limits.LAMBDA_ASYNC_PAYLOAD_MAX if kind == "Event" else limits.LAMBDA_SYNC_PAYLOAD_MAX
        )
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
            self.push_event(fn, event, now)
            return {"StatusCode": 202, "Payload": InvokePayload(b"")}
        return RunHandler(fn, event, uuid4_from(self.rng), log_type == "Tail", client_context)

    def finish_sync(
        self, run: RunHandler, outcome: Outcome, logs: Callable[[], str]
    ) -> dict[str, Any]:
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

    # ------------------------------------------------------------------ async events
    def push_event(self, fn: Function, event: Any, now: float) -> AsyncEvent:
        """Queue an asynchronous invocation (Invoke Event, SNS, a Lambda destination)."""
        queued = self.async_queue.push(fn, event, uuid4_from(self.rng), now)
        self.kicked = True
        return queued

    def invoke_event(self, function_ref: str, event: Any, now: float) -> None:
        """An async invoke from inside the broker (SNS ``lambda`` subscriptions)."""
        self.push_event(self.function_by_ref(function_ref), event, now)

    def start_event(self, event: AsyncEvent, now: float) -> bool:
        """Try to run a due async event: True when it may run now (concurrency taken). An event
        past its maximum age expires instead; one whose function is busy waits for a run of it
        to end (or to expire); with reserved concurrency 0 it fails for good at once."""
        fn = event.function
        if now - event.enqueued_at > fn.max_event_age:
            event.move(EXPIRED)
            self._dead(event, None, "EventAgeExceeded", now)
            if fn.waiting:
                self.kicked = True  # a unit it may have been handed goes to the next one
            return False
        if fn.reserved == 0:
            # AWS: with reserved concurrency 0, events go straight to the dead-letter queue or
            # OnFailure destination, without retries (the throttle is counted).
            fn.metrics.throttles += 1
            event.move(RETRIES_EXHAUSTED)
            self._dead(event, None, "RetriesExhausted", now)
            return False
        if self._saturated(fn):
            # The internal queue's poller takes an event only when the function has room: the
            # event waits (and ages) until a run of the function ends.
            self.async_queue.park(event)
            return False
        self.acquire(fn)
        event.move(RUNNING)
        event.attempts += 1
        age = now - event.enqueued_at
        if age > fn.metrics.max_event_age:
            fn.metrics.max_event_age = age
        return True

    def start_due(self, now: float) -> list[AsyncEvent]:
        """One pass of the async dispatcher: waiting events past their age fail for good, free
        units go to waiting events, and every due event that finds a unit starts (concurrency
        taken; the runtime runs them). The others wait, expire or fail as :meth:`start_event`
        decides."""
        self.expire_waiting(now)
        self.wake_waiting()
        queue = self.async_queue
        started = []
        while (event := queue.pop_due(now)) is not None:
            if self.start_event(event, now):
                started.append(event)
        return started

    def expire_waiting(self, now: float) -> None:
        """Events that waited for concurrency past MaximumEventAgeInSeconds fail for good
        (EventAgeExceeded); those of a deleted function are dropped."""
        queue = self.async_queue
        while (event := queue.pop_expired(now)) is not None:
            if event.function.deleted:
                event.move(DROPPED)
                event.function.metrics.async_events_dropped += 1
            else:
                event.move(EXPIRED)
                self._dead(event, None, "EventAgeExceeded", now)

    def finish_event(self, event: AsyncEvent, outcome: Outcome, now: float) -> None:
        """Record how an async run went: success (OnSuccess), a retry later, or the end."""
        fn = event.function
        self.release(fn)
        if outcome.ok:
            event.move(SUCCEEDED)
            target = fn.destination("OnSuccess")
            if target:
                self._deliver(fn, target, _record(self, event, outcome, "Success", now))
            return
        if event.attempts <= fn.max_retries:
            due = now + limits.LAMBDA_ASYNC_RETRY_DELAYS[event.attempts - 1]
            if due - event.enqueued_at > fn.max_event_age:
                event.move(EXPIRED)
                self._dead(event, outcome, "EventAgeExceeded", now)
            else:
                self.async_queue.requeue(event, due)
            return
        event.move(RETRIES_EXHAUSTED)
        self._dead(event, outcome, "RetriesExhausted", now)

    def _dead(self, event: AsyncEvent, outcome: Outcome | None, condition: str, now: float) -> None:
        """An async event failed for good: OnFailure destination and/or dead-letter queue."""
        fn = event.function
        target = fn.destination("OnFailure")
        if target:
            self._deliver(fn, target, _record(self, event, outcome, condition, now))
        dlq = (fn.config.get("DeadLetterConfig") or {}).get("TargetArn")
        if dlq:
            fn.metrics.dead_lettered += 1
            if outcome is not None:
                error = outcome.error_message
            elif condition == "EventAgeExceeded":
                error = "Event age exceeded"
            else:
                error = "Rate Exceeded. Reason: ReservedFunctionConcurrentInvocationLimitExceeded"
            code = "200" if outcome is not None else "429"
            self.outbox.append(
                Delivery(
                    dlq,
                    json.dumps(event.payload),
                    fn.arn,
                    {
                        "RequestID": {"DataType": "String", "StringValue": event.request_id},
                        "ErrorCode": {"DataType": "Number", "StringValue": code},
                        "ErrorMessage": {
                            "DataType": "String",
                            "StringValue": (error or "Unhandled")[:1024],
                        },
                    },
                )
            )
        if not target and not dlq:
            fn.metrics.async_events_dropped += 1

    def _deliver(self, fn: Function, target: str, record: dict[str, Any]) -> None:
        self.outbox.append(Delivery(target, json.dumps(record), fn.arn))

    # ------------------------------------------------------------------ event source mappings
    def _check_visibility(self, queue_arn: str, timeout: int) -> None:
        queue = self.queue_exists(queue_arn)
        if queue is not None and queue.visibility_timeout < timeout:
            raise InvalidParameterValueException(
                f"Queue visibility timeout: {queue.visibility_timeout} seconds is less than "
                f"Function timeout: {timeout} seconds"
            )

    #: Mapping settings only a Kinesis source takes.
    _KINESIS_ONLY = frozenset(
        {
            "StartingPosition",
            "StartingPositionTimestamp",
            "ParallelizationFactor",
            "BisectBatchOnFunctionError",
            "MaximumRetryAttempts",
            "MaximumRecordAgeInSeconds",
            "DestinationConfig",
            "TumblingWindowInSeconds",
        }
    )
    _ESM = (
        frozenset(
            {
                "EventSourceArn",
                "FunctionName",
                "Enabled",
                "BatchSize",
                "MaximumBatchingWindowInSeconds",
                "FilterCriteria",
                "FunctionResponseTypes",
                "ScalingConfig",
                "Tags",
                "MetricsConfig",
            }
        )
        | _KINESIS_ONLY
    )

    def _mapping_options(
        self, p: Mapping[str, Any], kind: str, fifo: bool, base: MappingOptions | None, now: float
    ) -> MappingOptions:
        """Validate the mapping settings in ``p`` over ``base`` (an update) or the defaults."""
        opts = base.copy() if base is not None else MappingOptions.defaults(kind)
        if kind == "sqs":
            for key in sorted(self._KINESIS_ONLY):
                if p.get(key) is not None:
                    raise InvalidParameterValueException(
                        f"Unsupported {key} parameter for this event source."
                    )
        elif p.get("ScalingConfig") is not None:
            raise InvalidParameterValueException(
                "Unsupported ScalingConfig parameter for this event source."
            )
        batch = _int(p, "BatchSize", "batchSize", 1, limits.LAMBDA_ESM_BATCH_SIZE_MAX)
        if batch is not None:
            opts.batch_size = batch
        window = _int(
            p,
            "MaximumBatchingWindowInSeconds",
            "maximumBatchingWindowInSeconds",
            0,
            limits.LAMBDA_ESM_BATCHING_WINDOW_MAX,
        )
        if window is not None:
            opts.batching_window = window
        if kind == "sqs":
            if fifo and opts.batch_size > limits.LAMBDA_ESM_SQS_FIFO_BATCH_SIZE_MAX:
                raise InvalidParameterValueException(
                    "BatchSize must be less than or equal to 10 for a FIFO queue event source."
                )
            if fifo and opts.batching_window:
                raise InvalidParameterValueException(
                    "Batching window is not supported for FIFO queue event sources."
                )
            if opts.batch_size > 10 and opts.batching_window < 1:
                raise InvalidParameterValueException(
                    "Maximum batch window in seconds must be greater than 0 if maximum batch size "
                    "is greater than 10"
                )
            scaling = p.get("ScalingConfig")
            if scaling is not None:
                if not isinstance(scaling, Mapping) or not scaling.keys() <= {"MaximumConcurrency"}:
                    raise InvalidParameterValueException("ScalingConfig takes MaximumConcurrency.")
                opts.maximum_concurrency = _int(
                    scaling,
                    "MaximumConcurrency",
                    "scalingConfig.maximumConcurrency",
                    limits.LAMBDA_ESM_SQS_MAX_CONCURRENCY_MIN,
                    limits.LAMBDA_ESM_SQS_MAX_CONCURRENCY_MAX,
                )
        else:
            position = p.get("StartingPosition")
            if position is not None:
                if base is not None:
                    raise InvalidParameterValueException(
                        "StartingPosition cannot be changed after the mapping is created."
                    )
                if position not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
                    raise _validation(
                        position,
                        "startingPosition",
                        "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                    )
                opts.starting_position = position
            if base is None and opts.starting_position is None:
                raise InvalidParameterValueException(
                    "StartingPosition is required for a Kinesis event source."
                )
            stamp = p.get("StartingPositionTimestamp")
            if opts.starting_position == "AT_TIMESTAMP" and base is None:
                if stamp is None:
                    raise InvalidParameterValueException(
                        "StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP."
                    )
                if isinstance(stamp, datetime):
                    seconds = (
                        stamp.timestamp() if stamp.tzinfo else stamp.replace(tzinfo=UTC).timestamp()
                    )
                elif isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
                    seconds = float(stamp)
                else:
                    raise InvalidParameterValueException(
                        "StartingPositionTimestamp must be a datetime or Unix seconds."
                    )
                if seconds > self.epoch.wall(now):
                    raise InvalidParameterValueException(
                        "StartingPositionTimestamp cannot be in the future."
                    )
                opts.starting_timestamp = seconds
            elif stamp is not None and base is None:
                raise InvalidParameterValueException(
                    "StartingPositionTimestamp is only valid with StartingPosition AT_TIMESTAMP."
                )
            factor = _int(
                p,
                "ParallelizationFactor",
                "parallelizationFactor",
                1,
                limits.LAMBDA_ESM_PARALLELIZATION_MAX,
            )
            if factor is not None:
                opts.parallelization_factor = factor
            bisect = _bool(p, "BisectBatchOnFunctionError", "bisectBatchOnFunctionError")
            if bisect is not None:
                opts.bisect_on_error = bisect
            retries = _int(
                p,
                "MaximumRetryAttempts",
                "maximumRetryAttempts",
                -1,
                limits.LAMBDA_ESM_RETRY_ATTEMPTS_MAX,
            )
            if retries is not None:
                opts.maximum_retry_attempts = retries
            age = _int(
                p,
                "MaximumRecordAgeInSeconds",
                "maximumRecordAgeInSeconds",
                -1,
                limits.LAMBDA_ESM_RECORD_AGE_MAX,
            )
            if age is not None:
                if age != -1 and age < limits.LAMBDA_ESM_RECORD_AGE_MIN:
                    raise _validation(
                        age,
                        "maximumRecordAgeInSeconds",
                        "Member must be -1 or have value greater than or equal to 60",
                    )
                opts.maximum_record_age = age
            tumbling = _int(
                p,
                "TumblingWindowInSeconds",
                "tumblingWindowInSeconds",
                0,
                limits.LAMBDA_ESM_TUMBLING_WINDOW_MAX,
            )
            if tumbling is not None:
                opts.tumbling_window = tumbling
            dest = p.get("DestinationConfig")
            if dest is not None:
                if (
                    not isinstance(dest, Mapping)
                    or not dest.keys() <= {"OnFailure", "OnSuccess"}
                    or not all(isinstance(v, Mapping | None) for v in dest.values())
                ):
                    raise InvalidParameterValueException(
                        "DestinationConfig takes OnFailure: {Destination: <ARN>}."
                    )
                if (dest.get("OnSuccess") or {}).get("Destination"):
                    raise InvalidParameterValueException(
                        "Unsupported DestinationConfig parameter for this event source: OnSuccess."
                    )
                target = (dest.get("OnFailure") or {}).get("Destination")
                if target:
                    self._check_target(target, "OnFailure destination", allow_lambda=False)
                opts.on_failure = target or None
        types = p.get("FunctionResponseTypes")
        if types is not None:
            if not isinstance(types, (list, tuple)) or any(
                t != "ReportBatchItemFailures" for t in types
            ):
                raise _validation(
                    types,
                    "functionResponseTypes",
                    "Member must satisfy enum value set: [ReportBatchItemFailures]",
                )
            opts.report_batch_item_failures = bool(types)
        criteria = p.get("FilterCriteria")
        if criteria is not None:
            opts.filter_criteria, opts.filters = _filters(criteria)
        return opts

    def create_event_source_mapping(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, self._ESM, "CreateEventSourceMapping", ValidationException)
        source = p.get("EventSourceArn")
        if type(source) is not str or not source:
            raise InvalidParameterValueException("EventSourceArn is required.")
        fn = self._fn(p)
        enabled = _bool(p, "Enabled", "enabled")
        if source.startswith("arn:aws:sqs:"):
            queue = self.queue_exists(source)
            if queue is None:
                raise InvalidParameterValueException(
                    "Error occurred while ReceiveMessage. SQS Error Code: "
                    "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified "
                    "queue does not exist for this wsdl version."
                )
            kind, fifo = "sqs", queue.fifo
            self._check_visibility(source, fn.timeout)
        elif source.startswith("arn:aws:kinesis:"):
            if self.stream_exists(source, now) is None:
                raise InvalidParameterValueException(f"Stream not found: {source}")
            kind, fifo = "kinesis", False
        else:
            raise InvalidParameterValueException(
                f"Unsupported event source: {source}. msgsim maps SQS queues and Kinesis streams."
            )
        opts = self._mapping_options(p, kind, fifo, None, now)
        for mapping in self.mappings.values():
            if mapping.source_arn == source and mapping.function is fn and not mapping.gone:
                raise ResourceConflictException(
                    f"An event source mapping with {kind.upper() if kind == 'sqs' else 'Kinesis'} "
                    f'arn (" {source} ") and function (" {fn.name} ") already exists. Please '
                    f"update or delete the existing mapping with UUID {mapping.uuid}"
                )
        uuid = uuid4_from(self.rng)
        mapping = EventSourceMapping(
            uuid=uuid,
            arn=f"arn:aws:lambda:{self.region}:{self.account_id}:event-source-mapping:{uuid}",
            kind=kind,
            source_arn=source,
            function=fn,
            options=opts,
            enabled=True if enabled is None else enabled,
            now=now,
            delay=self.options.mapping_delay,
            last_modified=self.epoch.wall(now),
        )
        self.mappings[uuid] = mapping
        self.new_mappings.append(mapping)
        return mapping.describe(now)

    def _mapping(self, p: Mapping[str, Any], now: float) -> EventSourceMapping:
        uuid = p.get("UUID")
        if type(uuid) is not str or not uuid:
            raise ValidationException("The request must contain the parameter UUID.")
        mapping = self.mappings.get(uuid)
        if mapping is not None:
            mapping.advance(now)
        if mapping is None or mapping.gone:
            raise ResourceNotFoundException(
                f"The resource you requested does not exist. (Service: Lambda, Status Code: 404, "
                f"Request ID: {uuid})"
            )
        return mapping

    def update_event_source_mapping(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            (
                self._ESM
                - {"EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "Tags"}
            )
            | {"UUID"},
            "UpdateEventSourceMapping",
            ValidationException,
        )
        mapping = self._mapping(p, now)
        fn = mapping.function
        if "FunctionName" in p:
            fn = self._fn(p)
        fifo = False
        if mapping.kind == "sqs":
            queue = self.queue_exists(mapping.source_arn)
            fifo = bool(queue is not None and queue.fifo)
            if fn is not mapping.function:
                self._check_visibility(mapping.source_arn, fn.timeout)
        opts = self._mapping_options(p, mapping.kind, fifo, mapping.options, now)
        enabled = _bool(p, "Enabled", "enabled")
        mapping.update(fn, opts, enabled, now, self.epoch.wall(now))
        return mapping.describe(now)

    def delete_event_source_mapping(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"UUID"}), "DeleteEventSourceMapping", ValidationException)
        mapping = self._mapping(p, now)
        mapping.delete(now)
        out = mapping.describe(now)
        if mapping.gone:
            self.mappings.pop(mapping.uuid, None)
        return out

    def get_event_source_mapping(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"UUID"}), "GetEventSourceMapping", ValidationException)
        return self._mapping(p, now).describe(now)

    def list_event_source_mappings(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"EventSourceArn", "FunctionName", "Marker", "MaxItems"}),
            "ListEventSourceMappings",
            ValidationException,
        )
        source = _str(p, "EventSourceArn", "eventSourceArn")
        fn = self._fn(p) if p.get("FunctionName") is not None else None
        max_items = _int(p, "MaxItems", "maxItems", 1, 10_000) or 100
        marker = _str(p, "Marker", "marker")
        chosen = []
        for mapping in list(self.mappings.values()):
            mapping.advance(now)
            if mapping.gone:
                self.mappings.pop(mapping.uuid, None)
                continue
            if source is not None and mapping.source_arn != source:
                continue
            if fn is not None and mapping.function is not fn:
                continue
            chosen.append(mapping)
        start = 0
        if marker is not None:
            ids = [m.uuid for m in chosen]
            if marker not in ids:
                raise InvalidParameterValueException("Invalid Marker.")
            start = ids.index(marker)
        page = chosen[start : start + max_items]
        out: dict[str, Any] = {"EventSourceMappings": [m.describe(now) for m in page]}
        if start + max_items < len(chosen):
            out["NextMarker"] = chosen[start + max_items].uuid
        return out

    # ------------------------------------------------------------------ observability (msgsim)
    def get_function_metrics(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """msgsim's own: a function's counters, and the iterator age of its Kinesis mappings."""
        check_known(p, frozenset({"FunctionName"}), "GetFunctionMetrics", ValidationException)
        fn = self._fn(p)
        out = {"FunctionName": fn.name, "Metrics": fn.metrics.as_dict()}
        out["Metrics"]["AsyncEventsQueued"] = self.async_queue.count(fn)
        out["EventSourceMappings"] = [
            m.metrics(now) for m in self.mappings.values() if m.function is fn and not m.gone
        ]
        return out

    def list_function_invocations(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """msgsim's own: the function's most recent invocations (up to 100), oldest first, each
        with its request id, outcome and captured log output."""
        check_known(
            p,
            frozenset({"FunctionName", "MaxItems"}),
            "ListFunctionInvocations",
            ValidationException,
        )
        fn = self._fn(p)
        max_items = _int(p, "MaxItems", "maxItems", 1, 100) or 100
        recent = list(fn.recent)[-max_items:]
        return {"Invocations": [r.describe() for r in recent]}

    def stats(self) -> dict[str, int]:
        return {
            "functions": len(self.functions),
            "event_source_mappings": len(self.mappings),
            "async_events_queued": len(self.async_queue),
        }


def _precondition(fn: Function) -> BrokerError:
    err = BrokerError(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
        "GetAlias API to retrieve the latest Revision Id",
        code="PreconditionFailedException",
    )
    err.http_status = 412  # type: ignore[misc]
    return err


def _parse_payload(data: bytes) -> Any:
    if not data.strip():
        return {}
    try:
        return json.loads(data)
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
        return json.loads(base64.b64decode(value, validate=True))
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _filters(criteria: Any) -> tuple[dict[str, Any], list[FilterPolicy]]:
    if not isinstance(criteria, Mapping) or not criteria.keys() <= {"Filters"}:
        raise InvalidParameterValueException("FilterCriteria takes Filters.")
    filters = criteria.get("Filters") or []
    if not isinstance(filters, (list, tuple)):
        raise InvalidParameterValueException("FilterCriteria.Filters must be a list.")
    if len(filters) > limits.LAMBDA_ESM_FILTERS_MAX:
        raise InvalidParameterValueException(
            f"The maximum number of filters is {limits.LAMBDA_ESM_FILTERS_MAX}."
        )
    parsed = []
    for f in filters:
        if (
            not isinstance(f, Mapping)
            or not f.keys() <= {"Pattern"}
            or type(f.get("Pattern")) is not str
        ):
            raise InvalidParameterValueException('Each filter is {"Pattern": "<JSON>"}.')
        try:
            parsed.append(FilterPolicy.parse(f["Pattern"], SCOPE_BODY))
        except BrokerError as err:
            raise InvalidParameterValueException(
                f"Invalid filter pattern definition. {err.message}"
            ) from None
    clean = {"Filters": [{"Pattern": f["Pattern"]} for f in filters]}
    return clean, parsed


def _record(
    svc: LambdaService, event: AsyncEvent, outcome: Outcome | None, condition: str, now: float
) -> dict[str, Any]:
    """The invocation record Lambda sends to an async destination."""
    fn = event.function
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_z(svc.epoch, now),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": f"{fn.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": event.payload,
    }
    if outcome is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not outcome.ok:
            context["functionError"] = "Unhandled"
            record["responsePayload"] = outcome.error_payload()
        else:
            record["responsePayload"] = outcome.payload
        record["responseContext"] = context
    return record
