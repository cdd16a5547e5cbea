"""Publishing: Publish and PublishBatch.

Publish validates the whole request, then hands one delivery per matching confirmed subscription
to :mod:`.delivery`, in subscription order, and answers without waiting for any of them. A FIFO
topic answers a SequenceNumber and drops a duplicate within the five-minute deduplication
interval, answering the first copy's ids. Publish to a PhoneNumber sends one SMS (to the outbox).
PublishBatch takes 1 to 10 entries with distinct ids, 256 KiB in total; each entry succeeds or
fails on its own, in request order.

Matching: unfiltered subscriptions are the topic's ``plain`` list; filtered ones are found by the
topic's :class:`~msgsim.broker.filters.PolicyIndex`, so non-matching filtered subscriptions cost
almost nothing per publish.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    BrokerError,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    ParameterValueInvalid,
    TooManyEntriesInBatchRequest,
)
from ..ids import uuid4_from
from ..params import parse_json
from .delivery import attempt
from .message_attributes import message_attributes
from .model import Delivery, Published, Topic
from .params import PHONE, check_known, invalid, str_param, utf8_size
from .state import SnsState

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_TOKEN = re.compile(r"[!-~]{1,128}")
_PUBLISH = frozenset(
    {
        "TopicArn",
        "TargetArn",
        "PhoneNumber",
        "Message",
        "Subject",
        "MessageStructure",
        "MessageAttributes",
        "MessageDeduplicationId",
        "MessageGroupId",
    }
)
#: the fields of a PublishBatch entry: a message's, without its destination
_ENTRY = (_PUBLISH - {"TopicArn", "TargetArn", "PhoneNumber"}) | {"Id"}


def publish(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Validates the whole request, then delivers to every matching subscription (see
    :mod:`.delivery`). FIFO topics answer a SequenceNumber and drop a duplicate within five
    minutes, answering the first copy's ids."""
    check_known(p, _PUBLISH, "Publish")
    given = [n for n in ("TopicArn", "TargetArn", "PhoneNumber") if p.get(n) is not None]
    if len(given) != 1:
        raise invalid(
            "TopicArn or TargetArn Reason: exactly one of TopicArn, TargetArn and "
            "PhoneNumber must be given"
        )
    if given[0] == "PhoneNumber":
        return _publish_sms(sns, p, now)
    topic = sns.topic_for(p, given[0])
    prepared = _prepare(topic, p, now)
    result, _ = _publish_prepared(sns, topic, prepared, now)
    return result


def _publish_sms(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    phone = str_param(p, "PhoneNumber")
    if not PHONE.fullmatch(phone.replace("-", "").replace(" ", "")):  # type: ignore[union-attr]
        raise invalid(f"PhoneNumber Reason: {phone} is not valid to publish to")
    message = _message_text(p)
    _subject(p)
    if p.get("MessageStructure") is not None:
        _check_structure(p.get("MessageStructure"))
        _, per = _structure(message)
        message = per.get("sms") if type(per.get("sms")) is str else per["default"]
    utf8_size(message, "Message")
    message_attributes(p.get("MessageAttributes"))
    message_id = uuid4_from(sns.rng)
    sns.outbox.append(
        {
            "Protocol": "sms",
            "Endpoint": phone,
            "Type": "Notification",
            "MessageId": message_id,
            "Body": message,
            "Timestamp": sns.now_iso(now),
        }
    )
    return {"MessageId": message_id}


def _subject(p: Mapping[str, Any]) -> str | None:
    """Subject: printable ASCII under 100 characters, no line breaks, not starting with a
    space."""
    subject = p.get("Subject")
    if subject is not None and (
        type(subject) is not str
        or not subject
        or len(subject) > limits.SNS_SUBJECT_MAX_LENGTH
        or not subject.isascii()
        or not subject.isprintable()
        or not subject[0].strip()
    ):
        raise invalid("Subject")
    return subject


def _check_structure(structure: Any) -> None:
    if structure != "json":
        raise invalid("MessageStructure Reason: the only supported value is json")


def _message_text(p: Mapping[str, Any]) -> str:
    message = p.get("Message")
    if message is None:
        raise invalid("Message Reason: the request must contain the parameter Message")
    if type(message) is not str:
        raise invalid("Message Reason: must be a string")
    if not message:
        raise invalid("Empty message")
    return message


def _structure(message: str) -> tuple[str, dict[str, Any]]:
    try:
        doc = parse_json(message)
    except ValueError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if type(doc) is not dict:
        raise invalid("Message Structure - JSON message body failed to parse")
    default = doc.get("default")
    if type(default) is not str:
        raise invalid("Message Structure - No default entry in JSON message body")
    for text in doc.values():
        if type(text) is str:
            utf8_size(text, "Message")
    return default, doc


def _prepare(
    topic: Topic, p: Mapping[str, Any], now: float
) -> tuple[str, str | None, dict | None, dict | None, str | None, str | None, int, bool]:
    """Validate one message; (message, subject, attributes, per-protocol texts, group id,
    dedup id, size, all ASCII). Changes nothing."""
    message = _message_text(p)
    subject = _subject(p)
    per_protocol = None
    structure = p.get("MessageStructure")
    if structure is not None:
        _check_structure(structure)
        message_default, per_protocol = _structure(message)
    attributes = message_attributes(p.get("MessageAttributes"))
    # Sizes in UTF-8 bytes (an ASCII string's length is its size); "ascii" notes whether
    # the envelope of this message can hold nothing SQS refuses (see delivery._to_sqs).
    ascii = message.isascii()
    size = len(message) if ascii else utf8_size(message, "Message")
    if attributes:
        for name, attr in attributes.items():
            data_type = attr["DataType"]
            size += len(name) + (len(data_type) if data_type.isascii() else len(data_type.encode()))
            value = attr.get("StringValue")
            if value is None:
                size += len(attr["BinaryValue"])
            elif value.isascii():
                size += len(value)
            else:
                ascii = False
                try:
                    size += len(value.encode())
                except UnicodeEncodeError:
                    raise ParameterValueInvalid(
                        f"The message attribute '{name}' must contain valid UTF-8 text."
                    ) from None
    if size > limits.SNS_MESSAGE_SIZE_MAX:
        raise invalid("Message too long")
    group_id = p.get("MessageGroupId")
    dedup_id = p.get("MessageDeduplicationId")
    if group_id is not None and (type(group_id) is not str or not _FIFO_TOKEN.fullmatch(group_id)):
        raise invalid(
            "MessageGroupId Reason: MessageGroupId can only contain up to 128 alphanumeric "
            "and punctuation characters"
        )
    if topic.fifo:
        if group_id is None:
            raise invalid("The MessageGroupId parameter is required for FIFO topics")
        if dedup_id is None:
            if not topic.content_based_dedup:
                raise invalid(
                    "The topic should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            dedup_id = hashlib.sha256(message.encode("utf-8", "surrogatepass")).hexdigest()
        elif type(dedup_id) is not str or not _FIFO_TOKEN.fullmatch(dedup_id):
            raise invalid(
                "MessageDeduplicationId Reason: MessageDeduplicationId can only contain up "
                "to 128 alphanumeric and punctuation characters"
            )
    elif dedup_id is not None:
        raise invalid(
            "MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
            "parameter that is not valid for this topic type"
        )
    if per_protocol is not None:
        ascii = ascii and all(type(v) is not str or v.isascii() for v in per_protocol.values())
        return (
            message_default,
            subject,
            attributes,
            per_protocol,
            group_id,
            dedup_id,
            size,
            ascii,
        )
    return message, subject, attributes, None, group_id, dedup_id, size, ascii


def _publish_prepared(
    sns: SnsState, topic: Topic, prepared: tuple, now: float
) -> tuple[dict[str, Any], Published | None]:
    message, subject, attributes, per_protocol, group_id, dedup_id, _, ascii = prepared
    sequence = None
    if topic.fifo:
        key = dedup_id
        if topic.attributes.get("FifoThroughputScope") == "MessageGroup":
            key = f"{group_id}\x00{dedup_id}"
        _expire_dedup(topic, now)
        seen = topic.dedup.get(key)
        if seen is not None:
            return {"MessageId": seen[1], "SequenceNumber": seen[2]}, None
        topic.sequence += 1
        sequence = str(10_000_000_000_000_000_000 + topic.sequence)
    message_id = uuid4_from(sns.rng)
    if topic.fifo:
        expires = now + limits.DEDUPLICATION_INTERVAL
        topic.dedup[key] = (expires, message_id, sequence)  # type: ignore[index]
        topic.dedup_order.append((expires, key))  # type: ignore[arg-type]
    pub = Published(
        message_id,
        topic.arn,
        message,
        subject,
        attributes,
        sns.now_iso(now),
        per_protocol,
        group_id,
        dedup_id,
        sequence,
        ascii,
    )
    _fan_out(sns, topic, pub, now)
    result = {"MessageId": message_id}
    if sequence is not None:
        result["SequenceNumber"] = sequence
    return result, pub


def _expire_dedup(topic: Topic, now: float) -> None:
    order = topic.dedup_order
    if not order or order[0][0] > now:
        return
    drop = 0
    for expires, key in order:
        if expires > now:
            break
        drop += 1
        entry = topic.dedup.get(key)
        if entry is not None and entry[0] == expires:
            del topic.dedup[key]
    del order[:drop]


def _fan_out(sns: SnsState, topic: Topic, pub: Published, now: float) -> None:
    """One delivery per matching confirmed subscription, in subscription order."""
    targets = topic.plain
    if len(topic.filtered):
        body = pub.message
        matched = topic.filtered.match(pub.attributes or {}, body)
        if matched:
            subs = sns.subscriptions
            chosen = [subs[arn] for arn in matched]
            if targets:
                chosen += targets
                chosen.sort(key=lambda s: s.serial)
            targets = chosen
    for sub in targets:
        attempt(sns, Delivery(sub, pub, "Notification"), now)


def publish_batch(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """1 to 10 entries with distinct ids, 256 KiB in total; each entry succeeds or fails on
    its own, in order (a FIFO topic keeps the entries' order within each group)."""
    check_known(p, frozenset({"TopicArn", "PublishBatchRequestEntries"}), "PublishBatch")
    topic = sns.topic_for(p)
    raw = p.get("PublishBatchRequestEntries")
    if raw is None:
        raise invalid("PublishBatchRequestEntries Reason: the parameter is required")
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, list | tuple):
        raise invalid("PublishBatchRequestEntries Reason: must be a list of entries")
    batch = list(raw)
    if not batch:
        raise EmptyBatchRequest(
            "The batch request doesn't contain any entries", query_code="EmptyBatchRequest"
        )
    if len(batch) > limits.BATCH_ENTRIES_MAX:
        raise TooManyEntriesInBatchRequest(
            f"The batch request contains more entries than permissible: at most "
            f"{limits.BATCH_ENTRIES_MAX}",
            query_code="TooManyEntriesInBatchRequest",
        )
    seen: set[str] = set()
    for entry in batch:
        if not isinstance(entry, Mapping):
            raise invalid("PublishBatchRequestEntries Reason: each entry must be a map")
        entry_id = entry.get("Id")
        if type(entry_id) is not str or not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long.",
                query_code="InvalidBatchEntryId",
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(
                "Two or more batch entries in the request have the same Id.",
                query_code="BatchEntryIdsNotDistinct",
            )
        seen.add(entry_id)
    items: list[Any] = []
    total = 0
    for entry in batch:
        try:
            check_known(entry, _ENTRY, "PublishBatch entry")
            prepared = _prepare(topic, entry, now)
        except BrokerError as err:
            items.append(err)
            continue
        total += prepared[6]
        items.append(prepared)
    if total > limits.SNS_MESSAGE_SIZE_MAX:
        raise BatchRequestTooLong(
            "The length of all the messages put together is more than the limit.",
            query_code="BatchRequestTooLong",
        )
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry, item in zip(batch, items, strict=True):
        if isinstance(item, BrokerError):
            failed.append(
                {
                    "Id": entry["Id"],
                    "Code": item.code,
                    "Message": item.message,
                    "SenderFault": item.sender_fault,
                }
            )
            continue
        result, _ = _publish_prepared(sns, topic, item, now)
        ok.append({"Id": entry["Id"], **result})
    return {"Successful": ok, "Failed": failed}
