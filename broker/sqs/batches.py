"""Batches: SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch.

A batch is checked as a whole first (1 to 10 entries, distinct well-formed ids, and for sends
the total size); a request that fails those checks changes nothing. Then each entry succeeds or
fails on its own, in request order, with the verdict the single-message operation would give
(:mod:`.sending`, :mod:`.receiving`), and is reported under Successful or Failed.

The common SendMessageBatch -- a standard queue without a default delay, entries of only an Id and
an ASCII body -- is checked as a whole in one pass and stored as one record (a Pack, see
:mod:`.queue`): the daemon's hottest path. Anything else takes the entry-by-entry path, which
reaches the same outcome.
"""

from __future__ import annotations

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
    MissingParameter,
    TooManyEntriesInBatchRequest,
)
from ..ids import uuid4_batch
from ..params import check_known, entries
from .addressing import parse_receipt_handle, ready
from .message import first_forbidden_char, md5_for
from .queue import Queue
from .receiving import change_visibility
from .sending import SEND_ENTRY, enqueue, prepare
from .state import SqsState
from .throughput import throttle

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_BATCH_ID_TEXT = re.compile(r"[A-Za-z0-9_-]+")  # the characters of several ids, joined

_SEND_BATCH = frozenset({"QueueUrl", "Entries"})


def send_message_batch(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, _SEND_BATCH, "SendMessageBatch")
    queue = ready(sqs, p, now)
    if not queue.fifo and not queue.delay:
        fast = _send_plain_batch(sqs, queue, p.get("Entries"), now)
        if fast is not None:
            return fast
    batch = _batch_entries(p)
    ids: list[str] = []
    items: list[Any] = []  # a prepared message, or the BrokerError of a failed entry
    total = 0
    allowed = SEND_ENTRY
    for entry in batch:
        if not entry.keys() <= allowed:
            check_known(entry, allowed, "SendMessageBatch entry")
        try:
            item = prepare(sqs, queue, entry, now, True)
        except BrokerError as err:
            if queue.fifo and "MessageGroupId" in err.message and err.code != "MissingParameter":
                raise  # AWS fails the whole FIFO batch when an entry lacks MessageGroupId
            item = err
        else:
            total += item[3]
        ids.append(entry["Id"])
        items.append(item)
    if total > queue.max_size:
        raise BatchRequestTooLong(
            f"Batch requests cannot be longer than {queue.max_size} bytes. You have sent "
            f"{total} bytes."
        )
    if sqs.options.enforce_throughput and queue.fifo:
        throttle(sqs, queue, "SendMessageBatch", now)
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry_id, item in zip(ids, items, strict=True):
        if type(item) is not tuple:
            failed.append(_failure(entry_id, item))
            continue
        result = enqueue(sqs, queue, item, now)
        result["Id"] = entry_id
        ok.append(result)
    if ok:
        sqs.touched.add(queue.uid)
    return {"Successful": ok, "Failed": failed}


def _send_plain_batch(sqs: SqsState, queue: Queue, batch: Any, now: float) -> dict[str, Any] | None:
    """The common batch, checked as a whole rather than entry by entry: a standard queue
    without a default delay, and a list of 1 to 10 entries that carry only a distinct,
    well-formed Id and an ASCII MessageBody without forbidden control characters, together
    within the size limit. Anything else answers None before changing anything, and the
    general path validates it entry by entry with the same outcome."""
    if type(batch) is not list or not 0 < len(batch) <= limits.BATCH_ENTRIES_MAX:
        return None
    n = len(batch)
    ids = [e["Id"] for e in batch if type(e) is dict and len(e) == 2 and "Id" in e]
    if len(ids) != n:
        return None
    try:
        bodies = [e["MessageBody"] for e in batch]
    except KeyError:
        return None
    types = set(map(type, ids))
    types.update(map(type, bodies))
    if types != {str}:
        return None
    text = "".join(bodies)
    id_text = "".join(ids)
    if (
        not text.isascii()  # so that its length is its size in bytes
        or not all(bodies)
        or len(text) > queue.max_size
        or first_forbidden_char(text) is not None
        or not all(ids)
        or max(map(len, ids)) > 80
        or len(set(ids)) != n
        or not ((id_text.isascii() and id_text.isalnum()) or _BATCH_ID_TEXT.fullmatch(id_text))
    ):
        return None
    md5 = md5_for(max(map(len, bodies)))
    digests = [md5(body.encode()).digest() for body in bodies]
    message_ids = uuid4_batch(sqs.rng, n)
    queue.send_plain(message_ids, bodies, digests, now)
    sqs.touched.add(queue.uid)
    return {
        "Successful": [
            {"MD5OfMessageBody": d.hex(), "MessageId": m, "Id": i}
            for i, d, m in zip(ids, digests, message_ids, strict=True)
        ],
        "Failed": [],
    }


def _batch_entries(p: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    batch = entries(p, "Entries")
    if not batch:
        raise EmptyBatchRequest("There should be at least one entry in the request.")
    if len(batch) > limits.BATCH_ENTRIES_MAX:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {limits.BATCH_ENTRIES_MAX}. You have "
            f"sent {len(batch)}."
        )
    seen: set[str] = set()
    for entry in batch:
        entry_id = entry.get("Id")
        if entry_id is None:
            raise MissingParameter("The request must contain the parameter Entries.N.Id.")
        if type(entry_id) is not str or not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long."
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return batch


def delete_message_batch(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl", "Entries"}), "DeleteMessageBatch")
    queue = ready(sqs, p, now)
    batch = _batch_entries(p)
    if sqs.options.enforce_throughput and queue.fifo:
        throttle(sqs, queue, "DeleteMessageBatch", now)
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    deleted = False
    for entry in batch:
        try:
            check_known(entry, frozenset({"Id", "ReceiptHandle"}), "DeleteMessageBatch entry")
            serial, gen = parse_receipt_handle(sqs.seal, queue, entry.get("ReceiptHandle"))
            deleted = queue.delete(serial, gen) or deleted
        except BrokerError as err:
            failed.append(_failure(entry["Id"], err))
            continue
        ok.append({"Id": entry["Id"]})
    if deleted and queue.fifo:
        sqs.touched.add(queue.uid)
    return {"Successful": ok, "Failed": failed}


def change_message_visibility_batch(
    sqs: SqsState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl", "Entries"}), "ChangeMessageVisibilityBatch")
    queue = ready(sqs, p, now)
    batch = _batch_entries(p)
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in batch:
        try:
            check_known(
                entry,
                frozenset({"Id", "ReceiptHandle", "VisibilityTimeout"}),
                "ChangeMessageVisibilityBatch entry",
            )
            change_visibility(sqs, queue, entry, now)
        except BrokerError as err:
            failed.append(_failure(entry["Id"], err))
            continue
        ok.append({"Id": entry["Id"]})
    return {"Successful": ok, "Failed": failed}


def _failure(entry_id: str, err: BrokerError) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "SenderFault": err.sender_fault,
        "Code": err.code,
        "Message": err.message,
    }
