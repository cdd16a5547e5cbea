"""Small helpers shared by the functions (Lambda) integration tests."""

from __future__ import annotations

import json

REGION = "us-east-1"
ACCOUNT = "000000000000"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def ok_handler(event, context):
    return {"ok": True}


async def make_queue(sqs, name: str, **attributes) -> tuple[str, str]:
    """Create a queue; its (url, arn)."""
    attrs = {k: str(v) for k, v in attributes.items()}
    url = (await sqs.create_queue(QueueName=name, Attributes=attrs))["QueueUrl"]
    r = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, r["Attributes"]["QueueArn"]


def redrive(dlq_arn: str, max_receive_count: int) -> str:
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})


async def drain(sqs, url: str, **kwargs) -> list[dict]:
    """Receive every visible message (all attributes), without deleting them."""
    kwargs.setdefault("MessageSystemAttributeNames", ["All"])
    kwargs.setdefault("MessageAttributeNames", ["All"])
    out: list[dict] = []
    while True:
        r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs)
        msgs = r.get("Messages", [])
        if not msgs:
            return out
        out.extend(msgs)


async def counts(sqs, url: str) -> tuple[int, int]:
    """(visible, in flight) as GetQueueAttributes reports them."""
    r = await sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    a = r["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])
