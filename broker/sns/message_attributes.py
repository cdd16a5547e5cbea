"""SNS message attributes: how Publish and PublishBatch validate them.

Types are String, String.Array (a JSON array of strings, numbers, booleans or nulls), Number and
Binary, each optionally with a custom ``.suffix``; names as SQS allows them. A bad attribute is
ParameterValueInvalid. Most publishers reuse a few attribute names, so names found valid are
remembered (a bounded set) and a plain String attribute under such a name is accepted at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ParameterValueInvalid
from ..params import as_binary, parse_json

_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|String\.Array|Number|Binary)(\..+)?")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")

#: Message attribute names already found valid (bounded): most publishers reuse a few names.
_VALID_ATTRIBUTE_NAMES: set[str] = set()


def message_attributes(raw: Any) -> dict[str, dict[str, Any]] | None:
    """SNS message attributes: String, String.Array (a JSON array), Number and Binary, each
    optionally with a custom type suffix; names as SQS allows them."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ParameterValueInvalid("MessageAttributes must be a map of names to values.")
    if not raw:
        return None
    out: dict[str, dict[str, Any]] = {}
    known = _VALID_ATTRIBUTE_NAMES
    for name, attr in raw.items():
        if name in known and type(attr) is dict and len(attr) == 2:
            # The common case: a plain String attribute under a name seen before.
            value = attr.get("StringValue")
            if attr.get("DataType") == "String" and type(value) is str and value:
                out[name] = {"DataType": "String", "StringValue": value}
                continue
        if (
            type(name) is not str
            or not _ATTR_NAME.fullmatch(name)
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
            or name.lower().startswith(("aws.", "amazon."))
        ):
            raise ParameterValueInvalid(
                f"The message attribute name '{name}' is invalid: names are 1 to 256 "
                "characters of A-Z, a-z, 0-9, underscore, hyphen and period, not starting or "
                "ending with a period, without consecutive periods, and not starting with "
                "AWS. or Amazon."
            )
        if len(known) < 10_000:
            known.add(name)
        if not isinstance(attr, Mapping) or set(attr) - {
            "DataType",
            "StringValue",
            "BinaryValue",
        }:
            raise ParameterValueInvalid(
                f"The message attribute '{name}' must be a map of DataType and StringValue or "
                "BinaryValue."
            )
        data_type = attr.get("DataType")
        if type(data_type) is not str or not _DATA_TYPE.fullmatch(data_type):
            raise ParameterValueInvalid(
                f"The message attribute '{name}' has an invalid message attribute type, the "
                "set of supported type prefixes is Binary, Number, and String."
            )
        if data_type.startswith("Binary"):
            value = as_binary(attr.get("BinaryValue"))
            if type(value) is not bytes or not value or "StringValue" in attr:
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' must contain non-empty message "
                    "attribute value for message attribute type 'Binary'."
                )
            out[name] = {"DataType": data_type, "BinaryValue": value}
            continue
        value = attr.get("StringValue")
        base = (
            data_type.split(".")[0] if not data_type.startswith("String.Array") else "String.Array"
        )
        if type(value) is not str or not value or "BinaryValue" in attr:
            raise ParameterValueInvalid(
                f"The message attribute '{name}' must contain non-empty message attribute "
                f"value for message attribute type '{base}'."
            )
        if base == "Number":
            if not _NUMBER.fullmatch(value) or not math.isfinite(float(value)):
                raise ParameterValueInvalid(
                    f"Could not cast message attribute '{name}' value to number."
                )
        elif base == "String.Array":
            try:
                items = parse_json(value)
            except ValueError:
                items = None
            if type(items) is not list or any(isinstance(i, dict | list) for i in items):
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' with type 'String.Array' has to be a "
                    "valid JSON array of strings, numbers, booleans or nulls."
                )
        out[name] = {"DataType": data_type, "StringValue": value}
    return out
