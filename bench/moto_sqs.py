"""The moto baseline: the same SQS workloads against moto's in-process mock.

moto is synchronous and goes through botocore's full request path (serialize,
mocked HTTP, parse), so it is slow (a few hundred calls/s); counts are small.
Imported only when the moto comparison runs, so msgsim benchmarks work without
the ``bench`` extra installed.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from moto import mock_aws

BODY = "m" * 100  # ~100-byte body, as in the msgsim workloads


def run_moto(sends: int, batch_messages: int, receive_messages: int) -> dict[str, Any]:
    """Standard queue: SendMessage/s, messages/s via SendMessageBatch(10), and
    messages/s via ReceiveMessage(10) + DeleteMessageBatch on a pre-filled queue."""
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(key, value)
    with mock_aws():
        sqs = boto3.client(
            "sqs",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        url = sqs.create_queue(QueueName="bench-moto")["QueueUrl"]
        for _ in range(5):  # warm-up: first calls load botocore models
            sqs.send_message(QueueUrl=url, MessageBody=BODY)
        sqs.purge_queue(QueueUrl=url)

        start = time.perf_counter()
        for _ in range(sends):
            sqs.send_message(QueueUrl=url, MessageBody=BODY)
        send_s = time.perf_counter() - start

        url_b = sqs.create_queue(QueueName="bench-moto-batch")["QueueUrl"]
        batches = batch_messages // 10
        start = time.perf_counter()
        for b in range(batches):
            entries = [{"Id": str(i), "MessageBody": BODY} for i in range(10)]
            resp = sqs.send_message_batch(QueueUrl=url_b, Entries=entries)
            if resp.get("Failed"):
                raise RuntimeError(f"moto SendMessageBatch failed in batch {b}: {resp['Failed']}")
        batch_s = time.perf_counter() - start

        # A fresh queue pre-filled (untimed) with exactly `receive_messages`, then
        # timed ReceiveMessage(10) + DeleteMessageBatch until it is drained. moto's
        # receive scans the whole queue, so its cost grows with this depth.
        url_r = sqs.create_queue(QueueName="bench-moto-receive")["QueueUrl"]
        for start_i in range(0, receive_messages, 10):
            n = min(10, receive_messages - start_i)
            sqs.send_message_batch(
                QueueUrl=url_r, Entries=[{"Id": str(i), "MessageBody": BODY} for i in range(n)]
            )
        start = time.perf_counter()
        received = _receive_delete(sqs, url_r, receive_messages)
        recv_s = time.perf_counter() - start
    return {
        "send_message_per_s": sends / send_s,
        "send_batch_msgs_per_s": batches * 10 / batch_s,
        "receive_delete_msgs_per_s": received / recv_s,
        "counts": {
            "sends": sends,
            "batch_messages": batches * 10,
            "received": received,
            "receive_queue_depth": receive_messages,
        },
    }


def _receive_delete(sqs: Any, url: str, target: int) -> int:
    received = 0
    empty = 0
    while received < target:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        messages = resp.get("Messages", [])
        if not messages:
            empty += 1
            if empty > 100:
                raise RuntimeError(f"moto queue ran dry after {received} of {target}")
            continue
        empty = 0
        received += len(messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    return received
