"""Checks for request parameters at the operation boundary.

Every operation validates its whole request before it changes anything, so an invalid request
changes nothing. These helpers raise :class:`~msgsim.broker.errors.BrokerError` with the AWS code and a
message that says what is allowed.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from .errors import BrokerError, InvalidParameterValue, MissingParameter


class _BoundedRepr(reprlib.Repr):
    """reprlib's repr, bounded in depth as well as width, and safe on any value: a value nested
    100,000 deep, an int of more than 4,300 digits (which Python refuses to print) or an object
    whose ``__repr__`` raises is shown by its type, never an exception."""

    def repr1(self, x: Any, level: int) -> str:
        try:
            return super().repr1(x, level)
        except Exception:  # RecursionError included
            return f"<unprintable {type(x).__name__}>"

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 64:  # printing a huge int costs quadratic time, or raises
            return f"<int of {x.bit_length()} bits>"
        return repr(x)


_repr = _BoundedRepr()
_repr.maxlevel = 4
_repr.maxstring = _repr.maxother = 120
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = _repr.maxfrozenset = 6


def safe_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)`` for an error message built from a client's value: never raises, never
    recurses deeper than a few levels whatever the nesting, and never runs to megabytes."""
    try:
        text = _repr.repr(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str | bytes) -> Any:
    """A client's JSON document, strictly: ``ValueError`` for anything that is not JSON, which
    includes NaN and Infinity (Python's extensions) and nesting too deep for Python's parser
    (its RecursionError), so callers answer it as the invalid input it is."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("the document is nested too deeply") from None


def int_text(text: str, lo: int, hi: int) -> int | None:
    """The integer a decimal string (ASCII digits, an optional minus, spaces around) spells, if
    it is within
    ``lo..hi``; else None. Never calls ``int()`` on more digits than a bound can have (Python
    refuses strings of more than 4,300 digits, with an exception)."""
    v = text.strip()
    digits = v[1:] if v[:1] == "-" else v
    if not digits.isdigit() or not digits.isascii():
        return None
    widest = max(len(str(abs(lo))), len(str(abs(hi))))
    if len(digits.lstrip("0")) > widest:
        return None
    n = int(v)
    return n if lo <= n <= hi else None


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


def as_binary(value: Any) -> Any:
    """A message attribute's BinaryValue as bytes: a bytearray or memoryview copied, text encoded
    as UTF-8 (as boto3 sends it). Anything else, a text with a lone surrogate included (no text
    at all), comes back as it is, for the caller to refuse with its service's words."""
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if type(value) is str:
        try:
            return value.encode()
        except UnicodeEncodeError:
            return value
    return value
