"""Small helpers shared by the SNS integration tests."""

from __future__ import annotations

import json


async def make_topic(sns, name: str = "t", **attributes: str) -> str:
    return (await sns.create_topic(Name=name, Attributes=attributes))["TopicArn"]


async def make_queue(sqs, name: str = "q", **attributes: str) -> tuple[str, str]:
    """(queue URL, queue ARN)."""
    url = (await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"][
        "QueueArn"
    ]
    return url, arn


async def subscribe_queue(sns, sqs, topic_arn: str, name: str = "q", **attributes: str):
    """A queue subscribed to the topic: (queue URL, subscription ARN)."""
    fifo = name.endswith(".fifo")
    qattrs = {"FifoQueue": "true"} if fifo else {}
    url, arn = await make_queue(sqs, name, **qattrs)
    sub = await sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes
    )
    return url, sub["SubscriptionArn"]


async def drain(sqs, url: str, *, attributes: bool = False) -> list[dict]:
    """Receive and delete everything visible in the queue, in receive order."""
    out: list[dict] = []
    while True:
        kwargs: dict = {"MessageSystemAttributeNames": ["All"]}
        if attributes:
            kwargs["MessageAttributeNames"] = ["All"]
        got = (
            await sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, **kwargs
            )
        ).get("Messages", [])
        if not got:
            return out
        out += got
        await sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )


async def notifications(sqs, url: str) -> list[dict]:
    """The SNS envelopes waiting in a (non-raw) subscribed queue, parsed."""
    return [json.loads(m["Body"]) for m in await drain(sqs, url)]
