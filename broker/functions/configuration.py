"""Lambda operations on functions: create, get, list, update, delete, and reserved concurrency.

Each operation is a function ``(account, params, now) -> response`` that checks the whole
request before it changes anything (:mod:`.service` binds them into the operation table). A
function has one version, ``$LATEST``; its configuration is the dict GetFunctionConfiguration
returns, and every update gives it a new RevisionId (UpdateFunctionConfiguration with a stale
RevisionId is PreconditionFailedException). A new Handler takes effect at the next invocation,
with no warm environment of the old code. Reserved concurrency must leave 100 units unreserved.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import (
    BrokerError,
    InvalidParameterValueException,
    ResourceConflictException,
    ValidationException,
)
from ..ids import uuid4_from
from ..params import check_known
from .handlers import (
    HANDLER_FORMS,
    HandlerError,
    check_handler_location,
    handler_label,
    parse_handler,
)
from .model import Function
from .shapes import integer, invalid, iso_ms, string
from .state import LambdaState

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_PYTHON_RUNTIMES = frozenset(
    {"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"}
)
DEFAULT_RUNTIME = "python3.12"

# The members CreateFunction and UpdateFunctionConfiguration both take.
_CONFIG = frozenset(
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
        "EphemeralStorage",
        "TracingConfig",
        "Layers",
        "KMSKeyArn",
        "VpcConfig",
        "LoggingConfig",
    }
)
_CREATE = _CONFIG | {"Code", "Publish", "Tags", "PackageType", "Architectures"}
_UPDATE = _CONFIG | {"RevisionId"}


# ---------------------------------------------------------------------- checks
def _check_handler(lam: LambdaState, handler: Any) -> Any:
    if callable(handler):
        return handler
    if type(handler) is not str or not handler or len(handler) > 128:
        raise InvalidParameterValueException(
            "Handler must be a callable handler(event, context) or an import string "
            "'package.module:function' of at most 128 characters."
        )
    if any(c.isspace() for c in handler):
        raise invalid(handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+")
    try:
        parse_handler(handler)
    except HandlerError:
        raise InvalidParameterValueException(
            f"Handler '{handler}' must name a module and a function: {HANDLER_FORMS}."
        ) from None
    roots = lam.options.handler_roots
    if roots is not None:
        try:
            check_handler_location(handler, roots)
        except HandlerError as exc:
            raise InvalidParameterValueException(exc.message) from None
    return handler


def _check_config(
    lam: LambdaState, p: Mapping[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """Validate the configurable fields present in ``p``; the new configuration values."""
    out: dict[str, Any] = {}
    runtime = string(p, "Runtime", "runtime")
    if runtime is not None:
        if runtime not in _PYTHON_RUNTIMES:
            raise InvalidParameterValueException(
                f"The runtime parameter of {runtime} is not supported by msgsim: handlers "
                f"run in Python ({', '.join(sorted(_PYTHON_RUNTIMES))})."
            )
        out["Runtime"] = runtime
    role = string(p, "Role", "role", 2048)
    if role is not None:
        if not re.fullmatch(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+", role):
            raise invalid(
                role,
                "role",
                "Member must satisfy regular expression pattern: "
                "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
            )
        out["Role"] = role
    description = string(p, "Description", "description", 256)
    if description is not None:
        out["Description"] = description
    timeout = integer(p, "Timeout", "timeout", limits.LAMBDA_TIMEOUT_MIN, limits.LAMBDA_TIMEOUT_MAX)
    if timeout is not None:
        out["Timeout"] = timeout
    memory = integer(
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
                raise invalid(
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
            lam.check_target(target, "DeadLetterConfig.TargetArn", allow_lambda=False)
            out["DeadLetterConfig"] = {"TargetArn": target}
        else:
            out["DeadLetterConfig"] = None
    return out


def _precondition(fn: Function) -> BrokerError:
    err = BrokerError(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
        "GetAlias API to retrieve the latest Revision Id",
        code="PreconditionFailedException",
    )
    err.http_status = 412  # type: ignore[misc]
    return err


def _configuration(fn: Function) -> dict[str, Any]:
    return json.loads(json.dumps(fn.config))  # a deep copy the caller may keep


# ---------------------------------------------------------------------- functions
def create_function(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, _CREATE, "CreateFunction", ValidationException)
    name = p.get("FunctionName")
    if type(name) is not str or not _NAME.fullmatch(name):
        raise invalid(
            name,
            "functionName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length "
            "between 1 and 64",
        )
    if "Handler" not in p:
        raise InvalidParameterValueException(
            "The Handler parameter is required: a callable, or 'package.module:function'."
        )
    handler = _check_handler(lam, p["Handler"])
    if p.get("PackageType") not in (None, "Zip"):
        raise InvalidParameterValueException("msgsim runs Zip package functions only.")
    changes = _check_config(lam, p, {})
    tags = p.get("Tags") or {}
    if not isinstance(tags, Mapping) or any(
        type(k) is not str or type(v) is not str for k, v in tags.items()
    ):
        raise InvalidParameterValueException("Tags must map strings to strings.")
    code = p.get("Code") or {}
    if not isinstance(code, Mapping):
        raise InvalidParameterValueException("Code must be a map.")
    if name in lam.functions:
        raise ResourceConflictException(f"Function already exist: {name}")
    zip_bytes = code.get("ZipFile")
    blob = (
        zip_bytes
        if isinstance(zip_bytes, bytes)
        else json.dumps({k: str(v) for k, v in code.items()}, sort_keys=True).encode()
    )
    arn = lam.arn(name)
    config: dict[str, Any] = {
        "FunctionName": name,
        "FunctionArn": arn,
        "Runtime": DEFAULT_RUNTIME,
        "Role": f"arn:aws:iam::{lam.account_id}:role/msgsim-lambda",
        "Handler": handler if isinstance(handler, str) else handler_label(handler),
        "CodeSize": len(blob),
        "Description": "",
        "Timeout": limits.LAMBDA_TIMEOUT_DEFAULT,
        "MemorySize": limits.LAMBDA_MEMORY_DEFAULT,
        "LastModified": iso_ms(lam.epoch, now),
        "CodeSha256": base64.b64encode(hashlib.sha256(blob).digest()).decode(),
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": uuid4_from(lam.rng),
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
    lam.functions[name] = fn
    return dict(config)


def get_function(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"FunctionName", "Qualifier"}), "GetFunction", ValidationException)
    fn = lam.named_function(p)
    out: dict[str, Any] = {
        "Configuration": _configuration(fn),
        "Code": {"RepositoryType": "S3", "Location": f"msgsim://lambda/{fn.name}"},
    }
    if fn.tags:
        out["Tags"] = dict(fn.tags)
    if fn.reserved is not None:
        out["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved}
    return out


def get_function_configuration(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"FunctionName", "Qualifier"}),
        "GetFunctionConfiguration",
        ValidationException,
    )
    return _configuration(lam.named_function(p))


def list_functions(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"Marker", "MaxItems", "MasterRegion", "FunctionVersion"}),
        "ListFunctions",
        ValidationException,
    )
    max_items = integer(p, "MaxItems", "maxItems", 1, 10_000) or 50
    marker = string(p, "Marker", "marker")
    names = sorted(lam.functions)
    start = 0
    if marker is not None:
        try:
            start = int(base64.b64decode(marker.encode(), validate=True).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidParameterValueException("Invalid Marker.") from None
        if not 0 <= start <= len(names):
            raise InvalidParameterValueException("Invalid Marker.")
    page = names[start : start + max_items]
    out: dict[str, Any] = {"Functions": [_configuration(lam.functions[n]) for n in page]}
    if start + max_items < len(names):
        out["NextMarker"] = base64.b64encode(str(start + max_items).encode()).decode()
    return out


def update_function_configuration(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, _UPDATE, "UpdateFunctionConfiguration", ValidationException)
    fn = lam.named_function(p)
    revision = p.get("RevisionId")
    if revision is not None and revision != fn.config["RevisionId"]:
        raise _precondition(fn)
    handler = _check_handler(lam, p["Handler"]) if "Handler" in p else None
    changes = _check_config(lam, p, fn.config)
    if "Timeout" in changes:
        # A function's timeout may not exceed the visibility timeout of a queue mapped to it.
        for mapping in lam.mappings.values():
            if mapping.function is fn and mapping.kind == "sqs":
                lam.check_visibility(mapping.source_arn, changes["Timeout"])
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
    fn.config["LastModified"] = iso_ms(lam.epoch, now)
    fn.config["RevisionId"] = uuid4_from(lam.rng)
    return _configuration(fn)


def delete_function(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"FunctionName", "Qualifier"}), "DeleteFunction", ValidationException)
    fn = lam.named_function(p)
    fn.deleted = True
    del lam.functions[fn.name]
    if fn.reserved is not None:
        lam.reserved_total -= fn.reserved
    lam.async_queue.unpark(fn)  # drops its waiting events
    lam.kicked = True  # a returned reservation may let other functions' events start
    # Mappings of a deleted function stay (AWS keeps them, failing); msgsim disables them.
    for mapping in lam.mappings.values():
        if mapping.function is fn:
            mapping.function_deleted(now)
    return {}


# ---------------------------------------------------------------------- concurrency
def put_function_concurrency(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"FunctionName", "ReservedConcurrentExecutions"}),
        "PutFunctionConcurrency",
        ValidationException,
    )
    fn = lam.named_function(p)
    if "ReservedConcurrentExecutions" not in p:
        raise ValidationException(
            "The request must contain the parameter ReservedConcurrentExecutions."
        )
    value = integer(p, "ReservedConcurrentExecutions", "reservedConcurrentExecutions", 0, 10**9)
    if value is None:
        raise invalid(None, "reservedConcurrentExecutions", "Member must not be null")
    others = lam.reserved_total - (fn.reserved or 0)
    unreserved = lam.options.account_concurrency - others - value
    if unreserved < limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN:
        raise InvalidParameterValueException(
            "Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of "
            f"[{limits.LAMBDA_UNRESERVED_CONCURRENCY_MIN}]."
        )
    lam.move_pool(fn, value)
    return {"ReservedConcurrentExecutions": value}


def get_function_concurrency(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"FunctionName"}), "GetFunctionConcurrency", ValidationException)
    fn = lam.named_function(p)
    return {} if fn.reserved is None else {"ReservedConcurrentExecutions": fn.reserved}


def delete_function_concurrency(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, frozenset({"FunctionName"}), "DeleteFunctionConcurrency", ValidationException)
    lam.move_pool(lam.named_function(p), None)
    return {}


def get_account_settings(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset(), "GetAccountSettings", ValidationException)
    return {
        "AccountLimit": {
            "ConcurrentExecutions": lam.options.account_concurrency,
            "UnreservedConcurrentExecutions": lam.unreserved_pool,
        },
        "AccountUsage": {"FunctionCount": len(lam.functions)},
    }
