"""Sending: SendMessage, and the sends other services make into a queue (an SNS delivery).

:func:`prepare` validates one message against its queue and builds it without changing
anything; :func:`enqueue` then deduplicates (FIFO), numbers and stores it. SendMessageBatch
(:mod:`.batches`) uses the same two steps per entry, so a message is judged the same whichever
way it arrives. The common message (a standard queue, a body and nothing else) takes a fast path
through :func:`prepare` that reaches the same verdict with fewer checks.

Message attributes are validated here too (names, data types, values, AWS's size accounting).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import InvalidMessageContents, InvalidParameterValue, MissingParameter
from ..ids import uuid4_from
from ..params import as_binary, check_int, check_known, safe_repr
from .addressing import ready
from .message import (
    CONTROL_TO_HIGH,
    Message,
    attributes_size,
    first_forbidden_char,
    md5_digest,
    md5_of_attributes,
)
from .queue import Queue
from .state import SqsState
from .throughput import throttle

_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,250})?")
_FIFO_TOKEN = re.compile(r"[!-~]{1,128}")  # alphanumerics and punctuation
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

_SEND = frozenset(
    {
        "QueueUrl",
        "MessageBody",
        "DelaySeconds",
        "MessageAttributes",
        "MessageSystemAttributes",
        "MessageDeduplicationId",
        "MessageGroupId",
    }
)
#: the fields of a SendMessageBatch entry (used by :mod:`.batches`)
SEND_ENTRY = (_SEND - {"QueueUrl"}) | {"Id"}


def send_message(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    if not p.keys() <= _SEND:
        check_known(p, _SEND, "SendMessage")
    queue = ready(sqs, p, now)
    prepared = prepare(sqs, queue, p, now)
    if sqs.options.enforce_throughput and queue.fifo:
        throttle(sqs, queue, "SendMessage", now, prepared[0].group_id)
    sqs.touched.add(queue.uid)
    return enqueue(sqs, queue, prepared, now)


def deliver(sqs: SqsState, queue: Queue, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """SendMessage on behalf of another service (an SNS subscription): the queue's own rules
    apply (size, attributes, FIFO groups and deduplication); raises BrokerError."""
    queue.tick(now)
    prepared = prepare(sqs, queue, p, now)
    sqs.touched.add(queue.uid)
    return enqueue(sqs, queue, prepared, now)


def deliver_text(
    sqs: SqsState,
    queue: Queue,
    body: str,
    group_id: str | None,
    dedup_id: str | None,
    now: float,
    checked: bool = False,
) -> None:
    """SendMessage of a body another service built and validated (an SNS envelope): only
    the queue's own rules are checked here -- its size limit, the characters (unless
    ``checked``), a FIFO queue's group and deduplication. Raises BrokerError."""
    queue.tick(now)
    if not checked:
        _check_body_chars(body)
    data = body.encode()
    if len(data) > queue.max_size:
        raise _too_long(queue)
    dedup_key = None
    if queue.fifo:
        if group_id is None or dedup_id is None:
            raise MissingParameter("The request must contain the parameter MessageGroupId.")
        dedup_key = queue.dedup_key(group_id, dedup_id)
    msg = Message("", body, md5_digest(data), now, None, None, None, None, group_id, dedup_id)
    sqs.touched.add(queue.uid)
    enqueue(sqs, queue, (msg, queue.delay, dedup_key, len(data)), now)


def prepare(
    sqs: SqsState, queue: Queue, p: Mapping[str, Any], now: float, batch: bool = False
) -> tuple[Message, int, Any, int]:
    """Validate one message; (message, delay, dedup key, size). Changes nothing."""
    body = p.get("MessageBody")
    if len(p) == 2 and not queue.fifo and type(body) is str and body:
        # Fast path: only the body (plus QueueUrl or the batch entry Id).
        if body.isascii():
            data = body.encode()
            if len(data) <= queue.max_size and data.translate(CONTROL_TO_HIGH).isascii():
                return Message("", body, md5_digest(data), now), queue.delay, None, len(data)
    if body is None or body == "":
        raise MissingParameter("The request must contain the parameter MessageBody.")
    if type(body) is not str:
        raise InvalidParameterValue("The parameter MessageBody must be a string.")
    _check_body_chars(body)
    data = body.encode("utf-8", "surrogatepass")
    size = len(data)
    raw_attrs = p.get("MessageAttributes")
    attrs = md5_attrs = None
    if raw_attrs:
        attrs = _message_attributes(raw_attrs, "MessageAttributes")
        size += attributes_size(attrs)
        md5_attrs = md5_of_attributes(attrs)
    if size > queue.max_size:
        raise _too_long(queue)
    raw_system = p.get("MessageSystemAttributes")
    system = md5_system = None
    if raw_system:
        system = _message_attributes(raw_system, "MessageSystemAttributes")
        for name, attr in system.items():
            if name != "AWSTraceHeader" or attr["DataType"] != "String":
                raise InvalidParameterValue(
                    f"Message system attribute {name} is not supported: only AWSTraceHeader "
                    "(String) may be sent."
                )
        md5_system = md5_of_attributes(system)
    delay = p.get("DelaySeconds")
    group_id = p.get("MessageGroupId")
    dedup_id = p.get("MessageDeduplicationId")
    dedup_key = None
    if queue.fifo:
        if delay is not None and delay != 0:
            check_int(delay, "DelaySeconds", limits.DELAY_SECONDS_MIN, limits.DELAY_SECONDS_MAX)
            raise InvalidParameterValue(
                f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request "
                "include parameter that is not valid for this queue type."
            )
        delay = queue.delay
        if group_id is None or group_id == "":
            cls = InvalidParameterValue if batch else MissingParameter
            raise cls("The request must contain the parameter MessageGroupId.")
        check_fifo_token(group_id, "MessageGroupId")
        if dedup_id is None:
            if not queue.content_based_dedup:
                raise InvalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            dedup_id = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
        else:
            check_fifo_token(dedup_id, "MessageDeduplicationId")
        dedup_key = queue.dedup_key(group_id, dedup_id)
    else:
        if delay is None:
            delay = queue.delay
        else:
            delay = check_int(
                delay,
                "DelaySeconds",
                limits.DELAY_SECONDS_MIN,
                limits.DELAY_SECONDS_MAX,
                "DelaySeconds must be >= 0 and <= 900.",
            )
        if dedup_id is not None:
            raise InvalidParameterValue(
                f"Value {dedup_id} for parameter MessageDeduplicationId is invalid. Reason: "
                "The request includes a parameter that is not valid for this queue type."
            )
        if group_id is not None:
            check_fifo_token(group_id, "MessageGroupId")
    msg = Message(
        "",
        body,
        md5_digest(data),
        now,
        attrs,
        md5_attrs,
        system,
        md5_system,
        group_id,
        dedup_id,
    )
    return msg, delay, dedup_key, size


def enqueue(
    sqs: SqsState, queue: Queue, prepared: tuple[Message, int, Any, int], now: float
) -> dict[str, Any]:
    msg, delay, dedup_key, _ = prepared
    if dedup_key is not None:
        seen = queue.dedup_lookup(dedup_key, now)
        if seen is not None:
            out = {"MD5OfMessageBody": msg.md5_body.hex(), "MessageId": seen[0]}
            if msg.md5_attributes:
                out["MD5OfMessageAttributes"] = msg.md5_attributes
            if msg.md5_system:
                out["MD5OfMessageSystemAttributes"] = msg.md5_system
            if seen[1]:
                out["SequenceNumber"] = seen[1]
            return out
        msg.sequence_number = queue.next_sequence_number()
    msg.message_id = uuid4_from(sqs.rng)
    queue.send(msg, delay, now, dedup_key)  # callers mark the queue touched, once
    out = {"MD5OfMessageBody": msg.md5_body.hex(), "MessageId": msg.message_id}
    if msg.md5_attributes:
        out["MD5OfMessageAttributes"] = msg.md5_attributes
    if msg.md5_system:
        out["MD5OfMessageSystemAttributes"] = msg.md5_system
    if msg.sequence_number:
        out["SequenceNumber"] = msg.sequence_number
    return out


def check_fifo_token(value: Any, name: str) -> None:
    if type(value) is not str or not _FIFO_TOKEN.fullmatch(value):
        raise InvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: {name} can contain up "
            "to 128 alphanumeric and punctuation characters."
        )


def _message_attributes(raw: Any, param: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise InvalidParameterValue(f"{param} must be a map of names to attribute values.")
    if len(raw) > limits.MESSAGE_ATTRIBUTES_MAX:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(raw)}] exceeds the allowed maximum "
            f"[{limits.MESSAGE_ATTRIBUTES_MAX}]."
        )
    out: dict[str, dict[str, Any]] = {}
    for name, attr in raw.items():
        if (
            type(name) is not str
            or not _ATTR_NAME.fullmatch(name)
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise InvalidParameterValue(
                f"Message attribute name '{name}' is invalid: names are 1 to 256 characters "
                "of A-Z, a-z, 0-9, underscore, hyphen and period, not starting or ending with "
                "a period and without consecutive periods."
            )
        lower = name.lower()
        if lower.startswith("aws.") or lower.startswith("amazon."):
            raise InvalidParameterValue(
                f"Message attribute name '{name}' is reserved: names may not start with "
                "'AWS.' or 'Amazon.'."
            )
        if not isinstance(attr, Mapping):
            raise InvalidParameterValue(f"Message attribute '{name}' must be a map.")
        extra = set(attr) - {
            "DataType",
            "StringValue",
            "BinaryValue",
            "StringListValues",
            "BinaryListValues",
        }
        if extra:
            raise InvalidParameterValue(
                f"Message attribute '{name}' has unknown fields: "
                f"{', '.join(sorted(map(safe_repr, extra)))}."
            )
        data_type = attr.get("DataType")
        if not data_type:
            raise InvalidParameterValue(
                f"The message attribute '{name}' must contain a non-empty message attribute type."
            )
        if (
            type(data_type) is not str
            or len(data_type) > limits.MESSAGE_ATTRIBUTE_DATA_TYPE_MAX_LENGTH
            or not _DATA_TYPE.fullmatch(data_type)
        ):
            raise InvalidParameterValue(
                f"The type of message (user) attribute '{name}' is invalid. You must use only "
                "the following supported type prefixes: Binary, Number, String."
            )
        if attr.get("StringListValues") or attr.get("BinaryListValues"):
            raise InvalidParameterValue(
                f"Message attribute '{name}': StringListValues and BinaryListValues are "
                "reserved by AWS and not implemented."
            )
        if data_type.startswith("Binary"):
            value = as_binary(attr.get("BinaryValue"))
            if "StringValue" in attr or type(value) is not bytes or not value:
                raise InvalidParameterValue(
                    f"Message (user) attribute '{name}' must contain a non-empty value of "
                    "type 'Binary'."
                )
            out[name] = {"DataType": data_type, "BinaryValue": value}
            continue
        value = attr.get("StringValue")
        base = "Number" if data_type.startswith("Number") else "String"
        if "BinaryValue" in attr or type(value) is not str or not value:
            raise InvalidParameterValue(
                f"Message (user) attribute '{name}' must contain a non-empty value of type "
                f"'{base}'."
            )
        if first_forbidden_char(value) is not None:
            raise InvalidMessageContents(
                f"Message attribute '{name}' contains characters outside the allowed set."
            )
        if base == "Number":
            _check_number(name, value)
        out[name] = {"DataType": data_type, "StringValue": value}
    return out


def _check_number(name: str, value: str) -> None:
    v = value.strip()
    if not _NUMBER.fullmatch(v):
        raise InvalidParameterValue(
            f"Can't cast the value of message (user) attribute '{name}' to a number."
        )
    mantissa = v.lstrip("+-").split("e")[0].split("E")[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if len(digits) > limits.NUMBER_ATTRIBUTE_MAX_DIGITS:
        raise InvalidParameterValue(
            f"Value of message (user) attribute '{name}' has more than "
            f"{limits.NUMBER_ATTRIBUTE_MAX_DIGITS} significant digits."
        )
    number = float(v)
    if not (-1e128 <= number <= 1e126):
        raise InvalidParameterValue(
            f"Value of message (user) attribute '{name}' is outside the range -10^128 to 10^126."
        )


def _check_body_chars(body: str) -> None:
    bad = first_forbidden_char(body)  # itself quick on printable ASCII
    if bad is not None:
        raise InvalidMessageContents(
            f"Invalid characters found (U+{ord(bad):04X}). Valid unicode characters are "
            "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )


def _too_long(queue: Queue) -> InvalidParameterValue:
    return InvalidParameterValue(
        "One or more parameters are invalid. Reason: Message must be shorter than "
        f"{queue.max_size} bytes."
    )
