"""How a request names a queue (its URL, or its ARN) and a message (a receipt handle).

Each lookup either answers the queue or raises the error AWS gives for that way of naming it:
MissingParameter, InvalidAddress or QueueDoesNotExist for a URL; InvalidParameterValue or
ResourceNotFoundException for an ARN parameter; MissingParameter or ReceiptHandleIsInvalid for a
receipt handle. Nothing here changes state, except that :func:`ready` applies the queue's timers.

A receipt handle is the queue's uid, the message's serial and its receive count, sealed with a
CRC seeded from the broker's RNG: enough to tell garbage and other queues' handles (this is a
simulator, not a security boundary) at a fraction of an HMAC's cost. The receive count is the
handle's generation: each receive of the message supersedes the handles before it.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from collections.abc import Mapping
from struct import pack, unpack
from typing import Any
from zlib import crc32

from ..errors import (
    InvalidAddress,
    InvalidParameterValue,
    MissingParameter,
    QueueDoesNotExist,
    ReceiptHandleIsInvalid,
    ResourceNotFoundException,
)
from ..params import required_str
from .message import Message
from .queue import Queue
from .state import SqsState

_RECEIPT_PREFIX = "AQEB"


def queue_by_url(sqs: SqsState, url: Any) -> Queue:
    if type(url) is str:
        queue = sqs.by_url.get(url)
        if queue is not None:
            return queue
    if url is None or url == "":
        raise MissingParameter("The request must contain the parameter QueueUrl.")
    if type(url) is not str:
        raise InvalidAddress("The address of the queue must be a string URL.")
    parts = url.rstrip("/").rsplit("/", 2)
    if len(parts) < 3 or not parts[-1]:
        # Also accept a bare queue name, as several SDKs resolve names locally.
        if "/" not in url and url in sqs.queues:
            return sqs.queues[url]
        raise InvalidAddress(f"The address {url} is not valid for this endpoint.")
    account, name = parts[-2], parts[-1]
    queue = sqs.queues.get(name)
    if queue is None or account != sqs.account_id:
        raise QueueDoesNotExist("The specified queue does not exist.")
    return queue


def ready(sqs: SqsState, p: Mapping[str, Any], now: float) -> Queue:
    """The queue the request's QueueUrl names, with the timers due by ``now`` applied."""
    queue = queue_by_url(sqs, p.get("QueueUrl"))
    queue.tick(now)
    return queue


def queue_for_arn_param(sqs: SqsState, p: Mapping[str, Any], name: str) -> Queue:
    """The queue named by the ARN in parameter ``name`` (the message move task operations)."""
    arn = required_str(p, name)
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn":
        raise InvalidParameterValue(
            f"You must use this format to specify the {name}: "
            "arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
        )
    queue = sqs.by_arn.get(arn)
    if queue is None:
        raise ResourceNotFoundException(
            f"The resource that you specified for the {name} parameter doesn't exist."
        )
    return queue


def receipt_handle(seal: int, queue: Queue, msg: Message) -> str:
    """The handle of this receive of ``msg`` (``seal`` is :attr:`SqsState.seal`)."""
    raw = pack(">IQI", queue.uid, msg.serial, msg.receive_count)
    return _RECEIPT_PREFIX + b64encode(raw + pack(">I", crc32(raw, seal))).decode()


def parse_receipt_handle(seal: int, queue: Queue, handle: Any) -> tuple[int, int]:
    """(serial, generation) of a receipt handle issued by ``queue``."""
    if handle is None or handle == "":
        raise MissingParameter("The request must contain the parameter ReceiptHandle.")
    if type(handle) is not str or not handle.startswith(_RECEIPT_PREFIX):
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not valid.')
    try:
        data = b64decode(handle[4:], validate=True)
    except (binascii.Error, ValueError):
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not valid.') from None
    if len(data) != 20:
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not valid.')
    raw = data[:16]
    if crc32(raw, seal) != unpack(">I", data[16:])[0]:
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not valid.')
    uid, serial, gen = unpack(">IQI", raw)
    if uid != queue.uid:
        raise ReceiptHandleIsInvalid(f'The receipt handle "{handle}" is not valid for this queue.')
    return serial, gen
