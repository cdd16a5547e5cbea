"""SNS benchmark: Publish throughput into SQS subscriptions, msgsim in-process (trio MockClock).

Prints publishes/s (and deliveries/s) for:
  * a standard topic with 1, 10 and 100 SQS subscriptions, no filter policies (every
    subscription gets every message, in the JSON notification envelope);
  * the same counts of subscriptions where every one has a filter policy
    ({"customer": ["c<i>"], "kind": ["order"]}) and each message matches exactly one;
  * a topic with 1,000 and 10,000 such filtered subscriptions (SNS's default quota of 200
    filter policies per topic raised for the run, as AWS raises it on request);
  * a FIFO topic with one FIFO queue subscribed (1,000 groups, unique dedup ids).

Subscribed queues are purged between passes so memory stays flat. Wall time is measured with
time.perf_counter; nothing here waits on broker timers. Figures only: nothing asserts on speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from typing import Any

import trio
import trio.testing

from bench.common import progress as _progress
from bench.common import run_virtual as _run_virtual
from bench.common import timed_report
from msgsim.adapters import InProcessClient
from msgsim.broker import Broker
from msgsim.broker.sns.options import SnsOptions

BODY = "m" * 100


@dataclasses.dataclass(frozen=True)
class Config:
    fanouts: tuple[int, ...] = (1, 10, 100)
    filtered: tuple[int, ...] = (1, 10, 100, 1_000, 10_000)
    deliveries_per_pass: int = 40_000  # publishes per pass = this / matching subscriptions
    min_publishes: int = 400
    max_publishes: int = 20_000
    fifo_publishes: int = 10_000
    fifo_groups: int = 1_000
    repeats: int = 3  # passes; the best is reported


FULL = Config()
QUICK = Config(
    fanouts=(1, 10),
    filtered=(10, 1_000),
    deliveries_per_pass=2_000,
    min_publishes=100,
    max_publishes=2_000,
    fifo_publishes=1_000,
    repeats=1,
)


async def _setup(aws: InProcessClient, subs: int, filtered: bool, fifo: bool = False) -> tuple:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    suffix = ".fifo" if fifo else ""
    attrs = {"FifoTopic": "true"} if fifo else {}
    topic = (await sns.create_topic(Name=f"bench{suffix}", Attributes=attrs))["TopicArn"]
    urls = []
    for i in range(subs):
        qattrs = {"FifoQueue": "true"} if fifo else {}
        url = (await sqs.create_queue(QueueName=f"q{i}{suffix}", Attributes=qattrs))["QueueUrl"]
        arn = f"arn:aws:sqs:us-east-1:000000000000:q{i}{suffix}"
        sattrs = {}
        if filtered:
            sattrs["FilterPolicy"] = json.dumps({"customer": [f"c{i}"], "kind": ["order"]})
        await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=sattrs)
        urls.append(url)
    return topic, urls


async def _purge(aws: InProcessClient, urls: list[str]) -> None:
    sqs = aws.client("sqs")
    for url in urls:
        await sqs.purge_queue(QueueUrl=url)
    await trio.sleep(61)  # PurgeQueue may run once a minute per queue


async def _publish_rate(subs: int, filtered: bool, cfg: Config) -> dict[str, Any]:
    options = SnsOptions(
        filter_policies_per_topic=max(200, subs), filter_policies_per_account=max(10_000, subs)
    )
    async with Broker.open(seed=1, sns_options=options) as broker:
        aws = InProcessClient(broker)
        sns = aws.client("sns")
        topic, urls = await _setup(aws, subs, filtered)
        matching = 1 if filtered else subs
        count = max(cfg.min_publishes, min(cfg.max_publishes, cfg.deliveries_per_pass // matching))
        attrs = [
            {
                "customer": {"DataType": "String", "StringValue": f"c{i % subs}"},
                "kind": {"DataType": "String", "StringValue": "order"},
            }
            for i in range(min(count, 1_000))
        ]
        best = 0.0
        for _ in range(cfg.repeats):
            start = time.perf_counter()
            for i in range(count):
                await sns.publish(
                    TopicArn=topic, Message=BODY, MessageAttributes=attrs[i % len(attrs)]
                )
            elapsed = time.perf_counter() - start
            best = max(best, count / elapsed)
            await _purge(aws, urls)
        assert broker.sns.failed == 0
        return {
            "subscriptions": subs,
            "filtered": filtered,
            "matching_per_publish": matching,
            "publishes": count,
            "publishes_per_s": best,
            "deliveries_per_s": best * matching,
        }


async def _fifo_rate(cfg: Config) -> dict[str, Any]:
    async with Broker.open(seed=1) as broker:
        aws = InProcessClient(broker)
        sns = aws.client("sns")
        topic, urls = await _setup(aws, 1, False, fifo=True)
        best = 0.0
        n = 0
        for _ in range(cfg.repeats):
            start = time.perf_counter()
            for _ in range(cfg.fifo_publishes):
                await sns.publish(
                    TopicArn=topic,
                    Message=BODY,
                    MessageGroupId=f"g{n % cfg.fifo_groups}",
                    MessageDeduplicationId=f"d{n}",
                )
                n += 1
            best = max(best, cfg.fifo_publishes / (time.perf_counter() - start))
            await _purge(aws, urls)
        return {"publishes": cfg.fifo_publishes, "publishes_per_s": best}


def run_all(cfg: Config, progress: Any = _progress) -> dict[str, Any]:
    results: dict[str, Any] = {"fanout": [], "filtered": []}
    for subs in cfg.fanouts:
        progress(f"standard topic, {subs} SQS subscriptions, no filter")
        results["fanout"].append(_run_virtual(_publish_rate, subs, False, cfg))
    for subs in cfg.filtered:
        progress(f"standard topic, {subs} filtered SQS subscriptions, 1 matching")
        results["filtered"].append(_run_virtual(_publish_rate, subs, True, cfg))
    progress("FIFO topic, 1 FIFO queue")
    results["fifo"] = _run_virtual(_fifo_rate, cfg)
    results["python"] = platform.python_version()
    return results


def format_report(results: dict[str, Any]) -> str:
    lines = [
        "msgsim SNS benchmark: in-process client, trio MockClock(autojump_threshold=0); "
        f"Python {results['python']}",
        "",
        "Publish (100 B message, 2 attributes) to SQS subscriptions   publishes/s   deliveries/s",
    ]
    for r in results["fanout"]:
        lines.append(
            f"  {r['subscriptions']:>6,} subscriptions, no filter policy      "
            f"{r['publishes_per_s']:>12,.0f}   {r['deliveries_per_s']:>12,.0f}"
        )
    for r in results["filtered"]:
        lines.append(
            f"  {r['subscriptions']:>6,} filtered subscriptions, 1 matching "
            f"{r['publishes_per_s']:>12,.0f}   {r['deliveries_per_s']:>12,.0f}"
        )
    f = results["fifo"]
    lines.append(
        f"  FIFO topic -> 1 FIFO queue (unique dedup ids)    {f['publishes_per_s']:>12,.0f}"
    )
    lines.append("  (best of the passes; notification envelope, not raw delivery)")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = QUICK if args.quick else FULL
    return timed_report(lambda: run_all(cfg), format_report, args.json)
