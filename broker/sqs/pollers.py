"""Lambda's pollers: how an event source mapping takes messages from a queue.

The functions service's pollers work inside the broker: there is no request to check and no
response to render. They take messages as a receive would (the queue's visibility timeout, its
redrive policy applied), build the records Lambda hands a handler, and delete what the handler
processed as DeleteMessageBatch would. :class:`~msgsim.broker.sqs.service.SqsService` offers
these as its methods ``receive_for_lambda``, ``lambda_record`` and ``delete_for_lambda``.
"""

from __future__ import annotations

from base64 import b64encode
from typing import Any

from ..errors import BrokerError
from .addressing import receipt_handle
from .message import Message
from .queue import Queue
from .state import SqsState


def receive_for_lambda(sqs: SqsState, queue: Queue, n: int, now: float) -> list[Message]:
    """Up to ``n`` messages for a poller, in flight for the queue's visibility timeout, with
    the redrive policy applied as for any receive."""
    queue.tick(now)
    redrive_to = None
    if queue.max_receive_count:
        redrive_to = sqs.by_arn.get(queue.redrive_target_arn)  # type: ignore[arg-type]
    got = queue.receive(now, n, queue.visibility_timeout, redrive_to)
    if redrive_to is not None:
        sqs.touched.add(redrive_to.uid)
    return got


def lambda_record(sqs: SqsState, queue: Queue, msg: Message, region: str) -> dict[str, Any]:
    """The record Lambda hands a handler for one received message (lower camelCase keys,
    the system attributes Lambda includes, message attributes with list fields)."""
    wall_ms = sqs.epoch.wall_ms
    extra = msg.extra
    attrs: dict[str, Any] = {
        "ApproximateReceiveCount": str(msg.receive_count),
        "SentTimestamp": str(wall_ms(msg.sent_at)),
    }
    if extra is None and msg.group_id is None:  # the common case: a plain message
        attrs["SenderId"] = sqs.account_id
        attrs["ApproximateFirstReceiveTimestamp"] = str(wall_ms(msg.first_receive))  # type: ignore[arg-type]
    else:
        if queue.fifo:
            attrs["SequenceNumber"] = msg.sequence_number
        if msg.group_id is not None:
            attrs["MessageGroupId"] = msg.group_id
        attrs["SenderId"] = sqs.account_id
        if queue.fifo:
            attrs["MessageDeduplicationId"] = msg.dedup_id
        attrs["ApproximateFirstReceiveTimestamp"] = str(wall_ms(msg.first_receive))  # type: ignore[arg-type]
        if msg.system:
            attrs["AWSTraceHeader"] = msg.system["AWSTraceHeader"]["StringValue"]
        if msg.origin is not None:
            attrs["DeadLetterQueueSourceArn"] = msg.origin
    record: dict[str, Any] = {
        "messageId": msg.message_id,
        "receiptHandle": receipt_handle(sqs.seal, queue, msg),
        "body": msg.body,
        "attributes": attrs,
        "messageAttributes": {},
        "md5OfBody": msg.md5_body.hex(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": region,
    }
    if extra is not None and extra.attributes:
        out = {}
        for name, value in extra.attributes.items():
            entry: dict[str, Any] = {"stringListValues": [], "binaryListValues": []}
            if "BinaryValue" in value:
                entry["binaryValue"] = b64encode(value["BinaryValue"]).decode()
            else:
                entry["stringValue"] = value.get("StringValue")
            entry["dataType"] = value["DataType"]
            out[name] = entry
        record["messageAttributes"] = out
        record["md5OfMessageAttributes"] = extra.md5_attributes
    return record


def delete_for_lambda(sqs: SqsState, queue: Queue, taken: list[tuple[Message, int]]) -> None:
    """Delete what a poller processed: (message, receive count when taken) pairs, as a
    DeleteMessageBatch with their receipt handles would (a superseded handle deletes
    nothing)."""
    deleted = False
    for msg, generation in taken:
        try:
            deleted = queue.delete(msg.serial, generation) or deleted
        except BrokerError:
            continue  # a lapsed FIFO handle: the message is back in the queue
    if deleted and queue.fifo:
        sqs.touched.add(queue.uid)
