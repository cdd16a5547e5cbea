"""Shape checks of Kinesis request members, with AWS's wording.

A shape error (a member missing, of the wrong type, out of its range or pattern) is a
``ValidationException`` worded as AWS words it: "1 validation error detected: Value '...' at
'member' failed to satisfy constraint: ...", with the member named in lower camel case. A value
of the right shape that makes no sense (a hash key past 2^128 - 1) is an
``InvalidArgumentException``. Every check here reads a value and returns it or raises; none
changes anything, so an operation can check its whole request before it acts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import limits
from ..errors import (
    InvalidArgumentException,
    LimitExceededException,
    ValidationException,
)
from ..params import safe_repr
from .stream import HASH_MAX

#: The members that name a stream (both may be given: they must agree).
STREAM_KEYS = frozenset({"StreamName", "StreamARN"})

_NAME_RE = re.compile(r"[a-zA-Z0-9_.\-]{1,128}\Z")
_SEQ_RE = re.compile(r"(0|[1-9][0-9]{0,128})\Z")
_HASH_RE = re.compile(r"(0|[1-9][0-9]{0,38})\Z")
_SHARD_ID_RE = re.compile(r"[a-zA-Z0-9_.\-]{1,128}\Z")


def invalid(field: str, value: Any, constraint: str) -> ValidationException:
    shown = value if type(value) is str and len(value) <= 200 else safe_repr(value)
    return ValidationException(
        f"1 validation error detected: Value '{shown}' at '{field}' failed to satisfy "
        f"constraint: {constraint}"
    )


def field_name(name: str) -> str:
    """How AWS names a member in a validation message: ``StreamName`` -> ``streamName``."""
    return name[0].lower() + name[1:]


def string(p: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = p.get(name)
    if value is None:
        if required:
            raise invalid(field_name(name), None, "Member must not be null")
        return None
    if type(value) is not str:
        raise invalid(field_name(name), value, "Member must be a string")
    return value


def stream_name(p: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = string(p, name, required=required)
    if value is not None and not _NAME_RE.match(value):
        if not 1 <= len(value) <= limits.KINESIS_STREAM_NAME_MAX:
            raise invalid(field_name(name), value, "Member must have length between 1 and 128")
        raise invalid(
            field_name(name),
            value,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        )
    return value


def consumer_name(p: Mapping[str, Any], required: bool) -> str | None:
    value = string(p, "ConsumerName", required=required)
    if value is not None and not _NAME_RE.match(value):
        raise invalid(
            "consumerName",
            value,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        )
    return value


def shard_id_member(p: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """A member that holds a shard id (ShardId, ShardToSplit, ExclusiveStartShardId, ...)."""
    value = string(p, name, required=required)
    if value is not None and not _SHARD_ID_RE.match(value):
        raise invalid(field_name(name), value, "Member must have length between 1 and 128")
    return value


def integer(
    p: Mapping[str, Any], name: str, lo: int, hi: int | None = None, *, required: bool = False
) -> int | None:
    value = p.get(name)
    if value is None:
        if required:
            raise invalid(field_name(name), None, "Member must not be null")
        return None
    if type(value) is not int:
        raise invalid(field_name(name), value, "Member must be an integer")
    if value < lo:
        raise invalid(
            field_name(name), value, f"Member must have value greater than or equal to {lo}"
        )
    if hi is None:
        hi = 2**31 - 1  # AWS's Integer members are 32-bit
    if value > hi:
        raise invalid(field_name(name), value, f"Member must have value less than or equal to {hi}")
    return value


def next_token(p: Mapping[str, Any]) -> str | None:
    value = string(p, "NextToken", required=False)
    if value is not None and not 1 <= len(value) <= 1_048_576:
        raise invalid("nextToken", value, "Member must have length between 1 and 1048576")
    return value


def timestamp(p: Mapping[str, Any], name: str) -> datetime | None:
    """A timestamp as boto3 takes it: a datetime (naive means UTC) or Unix seconds."""
    value = p.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if type(value) in (int, float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise invalid(field_name(name), value, "Member must be a timestamp")


def blob(value: Any, field: str) -> bytes:
    """A record's Data: bytes as given, or a string's UTF-8."""
    if type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if type(value) is str:
        try:
            return value.encode()
        except UnicodeEncodeError:
            raise invalid(field, value, "Member must be valid Unicode text") from None
    if value is None:
        raise invalid(field, None, "Member must not be null")
    raise invalid(field, value, "Member must be a blob (bytes)")


def partition_key(value: Any, field: str) -> str:
    if type(value) is not str:
        if value is None:
            raise invalid(field, None, "Member must not be null")
        raise invalid(field, value, "Member must be a string")
    if not 1 <= len(value) <= limits.KINESIS_PARTITION_KEY_MAX:
        raise invalid(field, value, "Member must have length between 1 and 256")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise invalid(field, value, "Member must be valid Unicode text") from None
    return value


def explicit_hash(value: Any, field: str) -> int | None:
    """An ExplicitHashKey (or NewStartingHashKey): a decimal string within the hash-key space."""
    if value is None:
        return None
    if type(value) is not str or not _HASH_RE.match(value):
        raise invalid(
            field, value, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"
        )
    h = int(value)
    if h > HASH_MAX:
        raise InvalidArgumentException(
            f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, {HASH_MAX}]. "
            f"Specified value was {value}"
        )
    return h


def sequence_number(value: Any, field: str) -> int:
    """A sequence number as a client passes it: a decimal string."""
    if type(value) is not str or not _SEQ_RE.match(value):
        raise invalid(
            field, value, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})"
        )
    return int(value)


def merged_tags(value: Any, existing: dict[str, str], field: str) -> dict[str, str]:
    """Validated tags merged over ``existing`` (a new dict); at most 50 per stream."""
    if value is None:
        return dict(existing)
    if not isinstance(value, Mapping):
        raise invalid(field, value, "Member must be a map of tag keys to values")
    merged = dict(existing)
    for k, v in value.items():
        if type(k) is not str or not 1 <= len(k) <= limits.KINESIS_TAG_KEY_MAX:
            raise invalid(f"{field}.key", k, "Member must have length between 1 and 128")
        if type(v) is not str or len(v) > limits.KINESIS_TAG_VALUE_MAX:
            raise invalid(f"{field}.value", v, "Member must have length between 0 and 256")
        if k.startswith("aws:"):
            raise InvalidArgumentException(f"Tag key {k} uses the reserved prefix aws:.")
        merged[k] = v
    if len(merged) > limits.KINESIS_TAGS_PER_STREAM:
        raise LimitExceededException(
            f"A stream may have at most {limits.KINESIS_TAGS_PER_STREAM} tags; this request "
            f"would leave {len(merged)}."
        )
    return merged
