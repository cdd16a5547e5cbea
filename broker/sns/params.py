"""SNS's reading of request parameters, and its wording when one is wrong.

SNS answers most bad parameters with InvalidParameter, worded "Invalid parameter: <what>"
(sometimes "<Name> Reason: <why>"); these helpers keep that wording in one place. Also here: the
NextToken paging the List operations share, and the ARN and phone-number shapes more than one
operation checks.
"""

from __future__ import annotations

import base64
import bisect
import re
from collections.abc import Callable, Mapping
from typing import Any

from .. import limits
from ..errors import InvalidParameter
from ..params import check_known as _check_known

#: An SQS queue ARN: (region, account, queue name, ".fifo" or None).
SQS_ARN = re.compile(r"arn:aws:sqs:([a-z0-9-]+):([0-9]{12}):([A-Za-z0-9_-]{1,80}(\.fifo)?)")
#: A phone number, once dashes and spaces are dropped.
PHONE = re.compile(r"\+?[0-9]{5,15}")


def invalid(what: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter: {what}")


def str_param(p: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = p.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} Reason: the request must contain the parameter {name}")
        return None
    if type(value) is not str:
        raise invalid(f"{name} Reason: must be a string, not {type(value).__name__}")
    return value


def check_known(p: Mapping[str, Any], allowed: frozenset[str], operation: str) -> None:
    _check_known(p, allowed, operation, InvalidParameter)


def utf8_size(text: str, what: str) -> int:
    """The UTF-8 length of ``text``; InvalidParameter if it holds a lone surrogate (a JSON
    ``\\ud800`` escape can smuggle one in), which no UTF-8 message can carry."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise invalid(f"{what} Reason: must be valid UTF-8 text") from None


def bool_attr(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise invalid(f"Attributes Reason: {name}: Invalid value [{value}]. Must be true or false.")
    return lowered == "true"


def paginate(items: list[Any], p: Mapping[str, Any], key: Callable[[Any], str]) -> tuple:
    """A page of ``items`` (sorted by ``key``) after the NextToken, and the next token."""
    token = str_param(p, "NextToken", required=False)
    start = 0
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            raise invalid("NextToken") from None
        start = bisect.bisect_right([key(i) for i in items], after)
    shown = items[start : start + limits.SNS_LIST_PAGE_SIZE]
    nxt = None
    if start + limits.SNS_LIST_PAGE_SIZE < len(items):
        nxt = base64.urlsafe_b64encode(key(shown[-1]).encode()).decode()
    return shown, nxt
