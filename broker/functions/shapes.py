"""Shapes of the Lambda API shared by its operations: member checks and timestamp forms.

A shape error (a member of the wrong type or out of its range) is a ``ValidationException``
worded as Lambda words it: "1 validation error detected: Value '...' at 'member' failed to
satisfy constraint: ...". Each check returns the member (None when absent) or raises; none
changes anything, so an operation can check its whole request before it acts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..clock import Epoch
from ..errors import ValidationException
from ..params import safe_repr


def invalid(value: Any, field: str, constraint: str) -> ValidationException:
    return ValidationException(
        f"1 validation error detected: Value '{safe_repr(value, 100)}' at '{field}' failed to "
        f"satisfy constraint: {constraint}"
    )


def integer(p: Mapping[str, Any], name: str, field: str, lo: int, hi: int) -> int | None:
    value = p.get(name)
    if value is None:
        return None
    if type(value) is not int:
        raise invalid(value, field, "Member must be an integer")
    if value < lo:
        raise invalid(value, field, f"Member must have value greater than or equal to {lo}")
    if value > hi:
        raise invalid(value, field, f"Member must have value less than or equal to {hi}")
    return value


def string(p: Mapping[str, Any], name: str, field: str, max_len: int | None = None) -> str | None:
    value = p.get(name)
    if value is None:
        return None
    if type(value) is not str:
        raise invalid(value, field, "Member must be a string")
    if max_len is not None and len(value) > max_len:
        raise invalid(value, field, f"Member must have length less than or equal to {max_len}")
    return value


def boolean(p: Mapping[str, Any], name: str, field: str) -> bool | None:
    value = p.get(name)
    if value is None:
        return None
    if type(value) is not bool:
        raise invalid(value, field, "Member must be a boolean")
    return value


def iso_ms(epoch: Epoch, now: float) -> str:
    """Lambda's LastModified form: 2025-01-01T00:00:00.000+0000."""
    dt = datetime.fromtimestamp(epoch.wall(now), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def iso_z(epoch: Epoch, now: float) -> str:
    """Destination records' and log lines' timestamp form: 2025-01-01T00:00:00.000Z."""
    dt = datetime.fromtimestamp(epoch.wall(now), tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
