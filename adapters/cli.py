"""The ``msgsim`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import trio
import trio.testing

from broker import Broker

from .inprocess import InProcessClient


def _version() -> str:
    try:
        return version("msgsim")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


async def demo(seed: int = 7, out=print) -> None:
    """A short story on the virtual clock: an order queue with a dead-letter queue, a consumer
    that cannot process one poison message, and a FIFO queue that keeps per-customer order.
    Hours of virtual time pass in milliseconds; the same seed prints the same ids."""
    async with Broker.open(seed=seed) as broker:
        sqs = InProcessClient(broker).client("sqs")
        start = trio.current_time()

        def say(text: str) -> None:
            out(f"[t={trio.current_time() - start:>8.1f}s] {text}")

        dlq_url = (await sqs.create_queue(QueueName="orders-dlq"))["QueueUrl"]
        dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        url = (
            await sqs.create_queue(
                QueueName="orders",
                Attributes={
                    "VisibilityTimeout": "30",
                    "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}',
                },
            )
        )["QueueUrl"]
        say(f"created {url} with dead-letter queue orders-dlq (maxReceiveCount 2)")

        for body in ("order-1: 2 apples", "order-2: POISON", "order-3: 1 pear"):
            sent = await sqs.send_message(QueueUrl=url, MessageBody=body)
            say(f"sent {body!r} as {sent['MessageId']}")
        await sqs.send_message(QueueUrl=url, MessageBody="order-4: 3 plums", DelaySeconds=90)
        say("sent 'order-4: 3 plums' with a 90 s delay")

        processed = 0
        while processed < 3:
            got = await sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=20,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            for m in got.get("Messages", []):
                count = m["Attributes"]["ApproximateReceiveCount"]
                if "POISON" in m["Body"]:
                    say(
                        f"consumer failed on {m['Body']!r} (receive #{count}); it reappears in 30 s"
                    )
                    continue
                await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                processed += 1
                say(f"processed and deleted {m['Body']!r} (receive #{count})")
            if not got:
                say("long poll returned empty after 20 s")

        got = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        say(f"orders now yields {len(got.get('Messages', []))} messages: the poison pill moved")
        dead = await sqs.receive_message(
            QueueUrl=dlq_url, MessageSystemAttributeNames=["DeadLetterQueueSourceArn"]
        )
        for m in dead.get("Messages", []):
            say(
                f"dead-letter queue holds {m['Body']!r} from "
                f"{m['Attributes']['DeadLetterQueueSourceArn']}"
            )

        fifo = (
            await sqs.create_queue(
                QueueName="payments.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )
        )["QueueUrl"]
        for customer, amount in [("alice", 10), ("bob", 5), ("alice", 20), ("bob", 7)]:
            await sqs.send_message(
                QueueUrl=fifo, MessageBody=f"{customer} pays {amount}", MessageGroupId=customer
            )
        dup = await sqs.send_message(
            QueueUrl=fifo, MessageBody="alice pays 10", MessageGroupId="alice"
        )
        say(f"re-sent 'alice pays 10' within 5 minutes: deduplicated to {dup['MessageId']}")
        order: list[str] = []
        while True:
            got = await sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)
            if not got:
                break
            for m in got["Messages"]:
                order.append(m["Body"])
                await sqs.delete_message(QueueUrl=fifo, ReceiptHandle=m["ReceiptHandle"])
        say(f"payments.fifo delivered, in per-customer order: {order}")
        await trio.sleep(14 * 24 * 3600)
        attrs = await sqs.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        say(
            "14 days later the dead-letter queue holds "
            f"{attrs['Attributes']['ApproximateNumberOfMessages']} messages (retention is 4 days)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="msgsim", description="Deterministic, virtual-time AWS messaging simulator."
    )
    parser.add_argument("--version", action="version", version=f"msgsim {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="a short run on the virtual clock that narrates itself")
    p_demo.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.command == "demo":
        trio.run(demo, args.seed, clock=trio.testing.MockClock(autojump_threshold=0))
        return 0
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
