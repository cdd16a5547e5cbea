"""Queue attributes: names, ranges, defaults and how each one is validated.

Values are kept as AWS returns them (strings). :func:`validate` turns a request's attribute map
into canonical strings or raises the AWS error without changing anything; :func:`apply` copies the
typed values the queue core needs onto a :class:`~msgsim.broker.sqs.queue.Queue`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import limits
from ..errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValue
from ..params import int_text, parse_json, safe_repr

#: Attributes computed by SQS; GetQueueAttributes returns them, Set/Create reject them.
READ_ONLY = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)

#: Settable attributes and their defaults (None: absent unless set).
DEFAULTS: dict[str, str | None] = {
    "DelaySeconds": str(limits.DELAY_SECONDS_DEFAULT),
    "MaximumMessageSize": str(limits.MAXIMUM_MESSAGE_SIZE_DEFAULT),
    "MessageRetentionPeriod": str(limits.MESSAGE_RETENTION_PERIOD_DEFAULT),
    "ReceiveMessageWaitTimeSeconds": str(limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_DEFAULT),
    "VisibilityTimeout": str(limits.VISIBILITY_TIMEOUT_DEFAULT),
    "SqsManagedSseEnabled": "true",
    "Policy": None,
    "RedrivePolicy": None,
    "RedriveAllowPolicy": None,
    "KmsMasterKeyId": None,
    "KmsDataKeyReusePeriodSeconds": None,
}
FIFO_DEFAULTS: dict[str, str] = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
FIFO_ONLY = frozenset(FIFO_DEFAULTS)
ALL_NAMES = frozenset(READ_ONLY) | frozenset(DEFAULTS) | FIFO_ONLY

_RANGES = {
    "DelaySeconds": (limits.DELAY_SECONDS_MIN, limits.DELAY_SECONDS_MAX),
    "MaximumMessageSize": (limits.MAXIMUM_MESSAGE_SIZE_MIN, limits.MAXIMUM_MESSAGE_SIZE_MAX),
    "MessageRetentionPeriod": (
        limits.MESSAGE_RETENTION_PERIOD_MIN,
        limits.MESSAGE_RETENTION_PERIOD_MAX,
    ),
    "ReceiveMessageWaitTimeSeconds": (
        limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MIN,
        limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MAX,
    ),
    "VisibilityTimeout": (limits.VISIBILITY_TIMEOUT_MIN, limits.VISIBILITY_TIMEOUT_MAX),
    "KmsDataKeyReusePeriodSeconds": (
        limits.KMS_DATA_KEY_REUSE_PERIOD_SECONDS_MIN,
        limits.KMS_DATA_KEY_REUSE_PERIOD_SECONDS_MAX,
    ),
}


def _bad(name: str, reason: str | None = None) -> InvalidAttributeValue:
    msg = f"Invalid value for the parameter {name}."
    if reason:
        msg = f"Invalid value for the parameter {name}. Reason: {reason}"
    return InvalidAttributeValue(msg)


def _int(name: str, value: str) -> str:
    lo, hi = _RANGES[name]
    n = int_text(value, lo, hi)
    if n is None:
        raise _bad(name, f"Must be an integer from {lo} to {hi}.")
    return str(n)


def _bool(name: str, value: str) -> str:
    v = value.lower()
    if v not in ("true", "false"):
        raise _bad(name, "Must be true or false.")
    return v


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def check(name: str, value: str) -> str:
        if value not in allowed:
            raise _bad(name, f"Must be one of {', '.join(allowed)}.")
        return value

    return check


def _policy(name: str, value: str) -> str:
    if value == "":
        return value
    try:
        doc = parse_json(value)
    except ValueError:
        raise _bad(name, "The policy is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise _bad(name, "The policy must be a JSON object.")
    return value


def _text(name: str, value: str) -> str:
    return value


_CHECKS: dict[str, Callable[[str, str], str]] = {
    **{n: _int for n in _RANGES},
    "SqsManagedSseEnabled": _bool,
    "ContentBasedDeduplication": _bool,
    "FifoQueue": _bool,
    "DeduplicationScope": _choice("messageGroup", "queue"),
    "FifoThroughputLimit": _choice("perQueue", "perMessageGroupId"),
    "Policy": _policy,
    "KmsMasterKeyId": _text,
    # RedrivePolicy and RedriveAllowPolicy need the service (other queues): see service.py.
    "RedrivePolicy": _text,
    "RedriveAllowPolicy": _text,
}


def validate(raw: Mapping[str, Any], *, fifo: bool, creating: bool) -> dict[str, str]:
    """Canonical strings for a request's queue attributes, or the AWS error."""
    out: dict[str, str] = {}
    for name, value in raw.items():
        if name in READ_ONLY or name not in ALL_NAMES:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name in FIFO_ONLY and not fifo:
            if name == "FifoQueue" and not creating:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
            if name != "FifoQueue":
                raise InvalidAttributeName(
                    f"You can specify the {name} only when FifoQueue is set to true."
                )
        if type(value) is not str:
            if type(value) is bool:
                value = "true" if value else "false"
            elif type(value) is int:
                value = str(value)
            else:
                raise _bad(name, "Attribute values must be strings.")
        out[name] = _CHECKS[name](name, value)
    if not creating and "FifoQueue" in out and out["FifoQueue"] != "true":
        raise _bad("FifoQueue", "Modifying queue type is not supported.")
    if out.get("SqsManagedSseEnabled") == "true" and out.get("KmsMasterKeyId"):
        raise InvalidAttributeName(
            "You can use one type of server-side encryption (SSE) at one time. You can either "
            "enable KMS SSE or SQS SSE."
        )
    return out


def parse_redrive_policy(value: str) -> tuple[str, int] | None:
    """(deadLetterTargetArn, maxReceiveCount) from a RedrivePolicy string; None for ''."""
    if value == "":
        return None
    prefix = f"Value {value} for parameter RedrivePolicy is invalid. Reason: "
    try:
        doc = parse_json(value)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise InvalidParameterValue(
            "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid "
            "JSON map."
        )
    for key in ("deadLetterTargetArn", "maxReceiveCount"):
        if key not in doc:
            raise InvalidParameterValue(
                prefix + f"Redrive policy does not contain mandatory attribute: {key}."
            )
    if set(doc) - {"deadLetterTargetArn", "maxReceiveCount"}:
        raise InvalidParameterValue(
            prefix + "Only following attributes are supported: [maxReceiveCount, "
            "deadLetterTargetArn]."
        )
    arn = doc["deadLetterTargetArn"]
    if not isinstance(arn, str) or not arn.startswith("arn:") or arn.count(":") != 5:
        raise InvalidParameterValue(prefix + "Invalid value for deadLetterTargetArn.")
    given = count = doc["maxReceiveCount"]
    if isinstance(count, str):
        count = int_text(count, limits.MAX_RECEIVE_COUNT_MIN, limits.MAX_RECEIVE_COUNT_MAX)
    if type(count) is not int or not (
        limits.MAX_RECEIVE_COUNT_MIN <= count <= limits.MAX_RECEIVE_COUNT_MAX
    ):
        raise InvalidParameterValue(
            prefix + f"Invalid value for maxReceiveCount: {_shown(given)}, valid values are from "
            f"{limits.MAX_RECEIVE_COUNT_MIN} to {limits.MAX_RECEIVE_COUNT_MAX} both inclusive."
        )
    return arn, count


def _shown(value: Any) -> str:
    """A maxReceiveCount as the message shows it: a string as it is, bounded; else its repr."""
    if type(value) is str:
        return value if len(value) <= 100 else value[:97] + "..."
    return safe_repr(value, 100)


def parse_redrive_allow_policy(value: str) -> tuple[str, frozenset[str]] | None:
    """(redrivePermission, sourceQueueArns) from a RedriveAllowPolicy string; None for ''."""
    if value == "":
        return None
    unsupported = InvalidParameterValue(
        "Invalid value for the parameter RedriveAllowPolicy. Reason: Amazon SQS can't create the "
        "redrive allow policy, as it's in an unsupported format."
    )
    try:
        doc = parse_json(value)
    except ValueError:
        raise unsupported from None
    if not isinstance(doc, dict) or set(doc) - {"redrivePermission", "sourceQueueArns"}:
        raise unsupported
    permission = doc.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise unsupported
    arns = doc.get("sourceQueueArns")
    prefix = (
        f"Value {value} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't "
        "create the redrive allow policy. "
    )
    if arns is not None and permission != "byQueue":
        raise InvalidParameterValue(
            prefix + "To specify one or more source queue ARNs, you must set redrivePermission "
            "to byQueue."
        )
    if permission == "byQueue":
        if not isinstance(arns, list) or not arns or not all(isinstance(a, str) for a in arns):
            raise InvalidParameterValue(
                prefix + "When you specify the byQueue permission type, you must also specify "
                "one or more sourceQueueArns values."
            )
        if len(arns) > limits.REDRIVE_ALLOW_SOURCE_QUEUE_ARNS_MAX:
            raise InvalidParameterValue(
                prefix + "The maximum number of source queue ARNs you can specify is "
                f"{limits.REDRIVE_ALLOW_SOURCE_QUEUE_ARNS_MAX}."
            )
    return permission, frozenset(arns or ())


def apply(queue: Any, values: Mapping[str, str]) -> None:
    """Copy typed configuration onto the queue core from canonical attribute strings."""
    get = values.get
    queue.visibility_timeout = int(get("VisibilityTimeout", limits.VISIBILITY_TIMEOUT_DEFAULT))
    queue.retention = int(get("MessageRetentionPeriod", limits.MESSAGE_RETENTION_PERIOD_DEFAULT))
    queue.delay = int(get("DelaySeconds", limits.DELAY_SECONDS_DEFAULT))
    queue.max_size = int(get("MaximumMessageSize", limits.MAXIMUM_MESSAGE_SIZE_DEFAULT))
    queue.wait_time = int(
        get("ReceiveMessageWaitTimeSeconds", limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_DEFAULT)
    )
    queue.content_based_dedup = get("ContentBasedDeduplication") == "true"
    queue.dedup_per_group = get("DeduplicationScope") == "messageGroup"
    queue.high_throughput = (
        queue.dedup_per_group and get("FifoThroughputLimit") == "perMessageGroupId"
    )
    redrive = parse_redrive_policy(get("RedrivePolicy", ""))
    queue.redrive_target_arn = redrive[0] if redrive else None
    queue.max_receive_count = redrive[1] if redrive else 0
    allow = parse_redrive_allow_policy(get("RedriveAllowPolicy", ""))
    queue.redrive_allow = allow
