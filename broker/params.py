"""Checks for request parameters at the operation boundary.

Every operation validates its whole request before it changes anything, so an invalid request
changes nothing. These helpers raise :class:`~msgsim.broker.errors.BrokerError` with the AWS code and a
message that says what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from .errors import BrokerError, InvalidParameterValue, MissingParameter


def safe_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` for an error message: never raises (an int of more than 4,300 digits
    cannot be printed) and never runs to megabytes."""
    try:
        text = repr(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_known(
    params: Mapping[str, Any],
    allowed: frozenset[str],
    operation: str,
    error: type[BrokerError] = InvalidParameterValue,
) -> None:
    """Reject parameters the operation does not take (boto3 rejects them before sending), with
    ``error`` (SQS: InvalidParameterValue; SNS passes InvalidParameter)."""
    if not params.keys() <= allowed:
        unknown = sorted(map(safe_repr, set(params) - allowed))  # names need not be strings
        raise error(
            f"Unknown parameter in input to {operation}: {', '.join(unknown)}; "
            f"must be one of: {', '.join(sorted(allowed))}"
        )


def required_str(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise MissingParameter(f"The request must contain the parameter {name}.")
    if type(value) is not str:
        raise InvalidParameterValue(
            f"Value for parameter {name} is invalid. Reason: expected a string, got "
            f"{type(value).__name__}."
        )
    return value


def optional_str(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if type(value) is not str:
        raise InvalidParameterValue(
            f"Value for parameter {name} is invalid. Reason: expected a string, got "
            f"{type(value).__name__}."
        )
    return value


def optional_int(
    params: Mapping[str, Any], name: str, lo: int, hi: int, reason: str | None = None
) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    return check_int(value, name, lo, hi, reason)


def check_int(value: Any, name: str, lo: int, hi: int, reason: str | None = None) -> int:
    """An integer parameter within ``lo..hi``. Strictly an int: boto3 refuses a digit string
    before sending (the broker's type check says so first, in botocore's words), and a bool,
    which botocore lets through as an int, is no number of seconds or messages to AWS."""
    if type(value) is not int:
        raise InvalidParameterValue(
            f"Value {safe_repr(value)} for parameter {name} is invalid. Reason: must be an integer."
        )
    if not lo <= value <= hi:
        raise InvalidParameterValue(
            f"Value {safe_repr(value)} for parameter {name} is invalid. Reason: "
            + (reason or f"Must be >= {lo} and <= {hi}, if provided.")
        )
    return value


def str_list(params: Mapping[str, Any], name: str, *, required: bool = False) -> list[str]:
    value = params.get(name)
    if value is None:
        if required:
            raise MissingParameter(f"The request must contain the parameter {name}.")
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidParameterValue(
            f"Value for parameter {name} is invalid. Reason: expected a list of strings."
        )
    out = list(value)
    for item in out:
        if type(item) is not str:
            raise InvalidParameterValue(
                f"Value for parameter {name} is invalid. Reason: expected a list of strings."
            )
    return out


def str_map(params: Mapping[str, Any], name: str) -> dict[str, str]:
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameterValue(
            f"Value for parameter {name} is invalid. Reason: expected a map of strings."
        )
    for k, v in value.items():
        if type(k) is not str or type(v) is not str:
            raise InvalidParameterValue(
                f"Value for parameter {name} is invalid. Reason: keys and values must be strings."
            )
    return dict(value)


def entries(params: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = params.get(name)
    if value is None:
        raise MissingParameter(f"The request must contain the parameter {name}.")
    if type(value) is not list and (
        isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable)
    ):
        raise InvalidParameterValue(
            f"Value for parameter {name} is invalid. Reason: expected a list of entries."
        )
    # Any iterable, but bounded: an endless one must not hang the broker (batches take 10).
    out = value if type(value) is list else list(islice(value, 1_001))
    for item in out:
        if type(item) is not dict and not isinstance(item, Mapping):
            raise InvalidParameterValue(
                f"Value for parameter {name} is invalid. Reason: each entry must be a map."
            )
    return out
