"""Functions benchmark: invocations/s for sync and async invoke, and records/s through SQS and
Kinesis event source mappings, each with a no-op handler.

msgsim runs in process on trio's MockClock (autojump), through the boto3-shaped client where a
client is involved. Figures only: nothing asserts on speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from typing import Any

import trio

from bench.common import progress, run_virtual, timed_report
from msgsim.adapters import InProcessClient
from msgsim.broker import Broker


def noop(event: Any, context: Any) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Config:
    sync: int = 20_000
    async_: int = 20_000
    sqs_records: int = 100_000
    kinesis_records: int = 100_000
    batch: int = 100
    repeats: int = 3


FULL = Config()
QUICK = Config(sync=1_000, async_=1_000, sqs_records=2_000, kinesis_records=2_000, repeats=1)


async def _sync(cfg: Config) -> float:
    async with Broker.open(seed=0) as broker:
        lam = InProcessClient(broker).client("lambda")
        await lam.create_function(FunctionName="noop", Handler=noop)
        for _ in range(100):
            await lam.invoke(FunctionName="noop", Payload=b"{}")
        start = time.perf_counter()
        for _ in range(cfg.sync):
            await lam.invoke(FunctionName="noop", Payload=b"{}")
        return cfg.sync / (time.perf_counter() - start)


async def _async(cfg: Config) -> float:
    async with Broker.open(seed=0) as broker:
        lam = InProcessClient(broker).client("lambda")
        await lam.create_function(FunctionName="noop", Handler=noop)
        start = time.perf_counter()
        for _ in range(cfg.async_):
            await lam.invoke(FunctionName="noop", InvocationType="Event", Payload=b"{}")
        await broker.settle()
        elapsed = time.perf_counter() - start
        metrics = (await lam.get_function_metrics(FunctionName="noop"))["Metrics"]
        assert metrics["Invocations"] == cfg.async_, metrics
        return cfg.async_ / elapsed


async def _sqs(cfg: Config) -> float:
    async with Broker.open(seed=0) as broker:
        aws = InProcessClient(broker)
        lam, sqs = aws.client("lambda"), aws.client("sqs")
        await lam.create_function(FunctionName="noop", Handler=noop)
        url = (await sqs.create_queue(QueueName="src"))["QueueUrl"]
        arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        body = "m" * 100
        ids = [str(i) for i in range(10)]
        for _ in range(0, cfg.sqs_records, 10):
            await sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": j, "MessageBody": body} for j in ids]
            )
        start = time.perf_counter()
        await lam.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName="noop",
            BatchSize=cfg.batch,
            MaximumBatchingWindowInSeconds=1,
        )
        while True:
            await broker.settle()
            attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))[
                "Attributes"
            ]
            if (
                attrs["ApproximateNumberOfMessages"] == "0"
                and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
            ):
                break
            await trio.sleep(1)
        return cfg.sqs_records / (time.perf_counter() - start)


async def _kinesis(cfg: Config) -> float:
    async with Broker.open(seed=0, enforce_throughput=False) as broker:
        aws = InProcessClient(broker)
        lam, kin = aws.client("lambda"), aws.client("kinesis")
        await lam.create_function(FunctionName="noop", Handler=noop)
        await kin.create_stream(StreamName="s", ShardCount=1)
        await trio.sleep(1)
        arn = (await kin.describe_stream_summary(StreamName="s"))["StreamDescriptionSummary"][
            "StreamARN"
        ]
        data = b"m" * 100
        for _ in range(0, cfg.kinesis_records, 500):
            await kin.put_records(
                StreamName="s",
                Records=[{"Data": data, "PartitionKey": str(k)} for k in range(500)],
            )
        start = time.perf_counter()
        await lam.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName="noop",
            BatchSize=cfg.batch,
            StartingPosition="TRIM_HORIZON",
        )
        while True:
            await broker.settle()
            m = (await lam.get_function_metrics(FunctionName="noop"))["EventSourceMappings"][0]
            if m["Records"] >= cfg.kinesis_records:
                break
            await trio.sleep(1)
        return cfg.kinesis_records / (time.perf_counter() - start)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = QUICK if args.quick else FULL

    def collect() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, fn, label in (
            ("sync_invokes_per_s", _sync, "sync invoke"),
            ("async_invokes_per_s", _async, "async invoke"),
            ("sqs_records_per_s", _sqs, "SQS mapping"),
            ("kinesis_records_per_s", _kinesis, "Kinesis mapping"),
        ):
            progress(label)
            out[key] = max(run_virtual(fn, cfg) for _ in range(cfg.repeats))
        out["config"] = dataclasses.asdict(cfg)
        return out

    def report(r: dict[str, Any]) -> str:
        return "\n".join(
            [
                f"msgsim functions benchmark: in-process, trio MockClock; Python "
                f"{platform.python_version()}, {os.cpu_count()} CPUs; no-op handler",
                "",
                f"  sync Invoke (RequestResponse)      invokes/s   {r['sync_invokes_per_s']:>10,.0f}"
                "   (target >= 20,000)",
                f"  async Invoke (Event), to settled   invokes/s   {r['async_invokes_per_s']:>10,.0f}",
                f"  SQS mapping, BatchSize {cfg.batch:<4}        records/s   "
                f"{r['sqs_records_per_s']:>10,.0f}   (target >= 50,000)",
                f"  Kinesis mapping, BatchSize {cfg.batch:<4}    records/s   "
                f"{r['kinesis_records_per_s']:>10,.0f}   (target >= 50,000)",
                f"  (best of {cfg.repeats}; {cfg.sync:,} sync, {cfg.async_:,} async, "
                f"{cfg.sqs_records:,} SQS and {cfg.kinesis_records:,} Kinesis records)",
            ]
        )

    return timed_report(collect, report, args.json)
