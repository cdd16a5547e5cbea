"""SQS benchmark: msgsim's in-process client (trio MockClock), and moto for comparison.

Prints, for msgsim:
  * SendMessage/s, messages/s through SendMessageBatch(10), and messages/s through
    ReceiveMessage(10) + DeleteMessageBatch, on a standard and on a FIFO queue (messages
    spread over 1,000 MessageGroupIds, unique MessageDeduplicationIds);
  * cost per operation with 1,000 versus 1,000,000 messages queued, and traced memory
    per queued message beyond its body;
and the first three figures for moto in-process, with the ratio msgsim/moto.

Wall time is measured with time.perf_counter; the broker runs on trio's virtual clock,
so nothing here waits on broker timers. Figures only: nothing asserts on speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.common import progress as _progress
from bench.common import run_virtual as _run_virtual
from bench.common import timed_report
from msgsim.adapters import InProcessClient
from msgsim.broker import Broker

BODY = "m" * 100  # the ~100-byte body of the throughput and scaling workloads
IDS = tuple(str(i) for i in range(10))  # batch entry ids
SCALING_BLOCKS = 10  # per-op cost = best of this many blocks of rounds


@dataclasses.dataclass(frozen=True)
class Config:
    sends: int = 20_000  # timed single SendMessage calls
    batch_messages: int = 100_000  # messages sent through SendMessageBatch(10)
    receive_messages: int = 100_000  # messages drained by ReceiveMessage(10)+DeleteMessageBatch
    fifo_groups: int = 1_000
    small_depth: int = 1_000
    large_depth: int = 1_000_000
    scaling_rounds: int = 5_000  # rounds of 10 SendMessage + 1 ReceiveMessage(10)+delete
    memory_body_len: int = 16  # distinct fixed-length bodies for the memory fill
    warmup: int = 200
    repeats: int = 5  # throughput passes; the best is reported (timeit.repeat defaults to 5)
    moto_sends: int = 300
    moto_batch_messages: int = 300
    moto_receive_messages: int = 200


FULL = Config()
QUICK = Config(
    sends=2_000,
    batch_messages=10_000,
    receive_messages=10_000,
    large_depth=100_000,
    scaling_rounds=500,
    moto_sends=50,
    moto_batch_messages=50,
    moto_receive_messages=50,
)


# -- workload pieces ---------------------------------------------------------------


class _Sender:
    """Builds send parameters; on FIFO, spreads messages over groups with unique dedup ids."""

    def __init__(self, url: str, fifo: bool, groups: int) -> None:
        self.url = url
        self.fifo = fifo
        self.groups = groups
        self.seq = 0

    def _fifo_fields(self) -> dict[str, str]:
        n = self.seq
        self.seq += 1
        return {"MessageGroupId": f"g{n % self.groups}", "MessageDeduplicationId": f"d{n}"}

    async def singles(self, sqs: Any, count: int, body: str = BODY) -> None:
        url = self.url
        if self.fifo:
            for _ in range(count):
                await sqs.send_message(QueueUrl=url, MessageBody=body, **self._fifo_fields())
        else:
            for _ in range(count):
                await sqs.send_message(QueueUrl=url, MessageBody=body)

    async def batches(self, sqs: Any, count: int, body: Callable[[int], str] | None = None) -> int:
        """Send `count` messages (rounded up to whole batches of 10); returns the number sent."""
        sent = 0
        while sent < count:
            n = min(10, count - sent)
            entries = []
            for i in range(n):
                entry = {"Id": IDS[i], "MessageBody": BODY if body is None else body(sent + i)}
                if self.fifo:
                    entry.update(self._fifo_fields())
                entries.append(entry)
            resp = await sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if resp.get("Failed"):
                raise RuntimeError(f"SendMessageBatch failed: {resp['Failed'][:3]}")
            sent += n
        return sent


async def _receive_delete(sqs: Any, url: str, target: int) -> int:
    """ReceiveMessage(10) + DeleteMessageBatch of what came back, until `target` received."""
    received = 0
    empty = 0
    while received < target:
        resp = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        messages = resp.get("Messages")
        if not messages:
            empty += 1
            if empty > 1_000:
                raise RuntimeError(f"queue ran dry after {received} of {target} messages")
            continue
        empty = 0
        received += len(messages)
        resp = await sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": IDS[i], "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        if resp.get("Failed"):
            raise RuntimeError(f"DeleteMessageBatch failed: {resp['Failed'][:3]}")
    return received


async def _create(sqs: Any, name: str, fifo: bool) -> str:
    if fifo:
        resp = await sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})
    else:
        resp = await sqs.create_queue(QueueName=name)
    return resp["QueueUrl"]


# -- msgsim workloads --------------------------------------------------------------


async def _throughput_once(cfg: Config, fifo: bool) -> dict[str, float]:
    groups = cfg.fifo_groups
    async with Broker.open(seed=0) as broker:
        sqs = InProcessClient(broker).client("sqs")

        warm = _Sender(await _create(sqs, "bench-warmup", fifo), fifo, groups)
        await warm.singles(sqs, cfg.warmup)
        await warm.batches(sqs, cfg.warmup)
        await _receive_delete(sqs, warm.url, 2 * cfg.warmup)

        single = _Sender(await _create(sqs, "bench-single", fifo), fifo, groups)
        start = time.perf_counter()
        await single.singles(sqs, cfg.sends)
        send_s = time.perf_counter() - start

        batch = _Sender(await _create(sqs, "bench-batch", fifo), fifo, groups)
        start = time.perf_counter()
        batched = await batch.batches(sqs, cfg.batch_messages)
        batch_s = time.perf_counter() - start

        # Drain the batch queue (topped up, untimed, if the receive count is larger).
        if cfg.receive_messages > batched:
            await batch.batches(sqs, cfg.receive_messages - batched)
        start = time.perf_counter()
        received = await _receive_delete(sqs, batch.url, cfg.receive_messages)
        recv_s = time.perf_counter() - start
    return {
        "send_message_per_s": cfg.sends / send_s,
        "send_batch_msgs_per_s": batched / batch_s,
        "receive_delete_msgs_per_s": received / recv_s,
    }


async def _throughput(cfg: Config, fifo: bool) -> dict[str, Any]:
    """Each throughput figure is the best of `cfg.repeats` passes (a fresh broker each), as
    timeit reports its best: interference from other processes only ever slows a pass down.
    The median is kept in the JSON output."""
    passes = [await _throughput_once(cfg, fifo) for _ in range(cfg.repeats)]
    result: dict[str, Any] = {}
    for key in ("send_message_per_s", "send_batch_msgs_per_s", "receive_delete_msgs_per_s"):
        values = [p[key] for p in passes]
        result[key] = max(values)
        result[key.replace("_per_s", "_per_s_median")] = statistics.median(values)
    result["counts"] = {
        "sends": cfg.sends,
        "batch_messages": cfg.batch_messages,
        "received": cfg.receive_messages,
        "repeats": cfg.repeats,
    }
    if fifo:
        result["groups"] = cfg.fifo_groups
    return result


async def _scaling_at(cfg: Config, depth: int) -> dict[str, Any]:
    """Fill a standard queue to `depth` under tracemalloc, then time steady-state rounds."""
    body_len = cfg.memory_body_len
    async with Broker.open(seed=0) as broker:
        sqs = InProcessClient(broker).client("sqs")
        url = await _create(sqs, "bench-depth", fifo=False)
        filler = _Sender(url, fifo=False, groups=1)

        # Warm every code path before measuring memory, so lazily built state is not counted.
        await filler.singles(sqs, 20)
        await filler.batches(sqs, 20)
        await _receive_delete(sqs, url, 40)

        gc.collect()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        start = time.perf_counter()
        await filler.batches(sqs, depth, body=lambda i: f"{i:0{body_len}d}")
        fill_s = time.perf_counter() - start
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced_per_msg = (current - base) / depth

        async def round_() -> tuple[float, float]:
            t0 = time.perf_counter()
            for _ in range(10):
                await sqs.send_message(QueueUrl=url, MessageBody=BODY)
            t1 = time.perf_counter()
            await _receive_delete(sqs, url, 10)
            t2 = time.perf_counter()
            return t1 - t0, t2 - t1

        # Warm up, then time the rounds in blocks (see _per_op).
        for _ in range(max(10, cfg.scaling_rounds // 10)):
            await round_()
        blocks = min(SCALING_BLOCKS, cfg.scaling_rounds)
        per_block = cfg.scaling_rounds // blocks
        send_blocks, recv_blocks = [], []
        for _ in range(blocks):
            send_total = recv_total = 0.0
            for _ in range(per_block):
                s, r = await round_()
                send_total += s
                recv_total += r
            send_blocks.append(send_total / (10 * per_block) * 1e6)
            recv_blocks.append(recv_total / (10 * per_block) * 1e6)
    return {
        "depth": depth,
        **_per_op(send_blocks, recv_blocks),
        "traced_bytes_per_msg": traced_per_msg,
        "body_bytes": body_len,
        "bytes_per_msg_beyond_body": traced_per_msg - body_len,
        "peak_traced_bytes_per_msg": (peak - base) / depth,
        "fill_s_under_tracemalloc": fill_s,
    }


def _per_op(send_blocks: list[float], recv_blocks: list[float]) -> dict[str, Any]:
    # Best block, as timeit advises: slower blocks are mostly other processes on the
    # machine, not the broker. Medians are kept for the JSON reader.
    return {
        "send_us": min(send_blocks),
        "receive_delete_us_per_msg": min(recv_blocks),
        "send_us_median": statistics.median(send_blocks),
        "receive_delete_us_per_msg_median": statistics.median(recv_blocks),
        "send_us_blocks": send_blocks,
        "receive_delete_us_per_msg_blocks": recv_blocks,
    }


def run_msgsim(cfg: Config, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """All msgsim figures as a dict: standard, fifo, scaling."""
    progress("msgsim standard queue throughput")
    standard = _run_virtual(_throughput, cfg, False)
    progress(f"msgsim FIFO queue throughput ({cfg.fifo_groups} groups)")
    fifo = _run_virtual(_throughput, cfg, True)
    progress(f"msgsim scaling at depth {cfg.small_depth:,}")
    small = _run_virtual(_scaling_at, cfg, cfg.small_depth)
    progress(f"msgsim scaling at depth {cfg.large_depth:,} (filling under tracemalloc)")
    large = _run_virtual(_scaling_at, cfg, cfg.large_depth)
    gc.collect()
    # The small depth is cheap: measure it again after the large one and pool the blocks,
    # so drift over the run (CPU, allocator, neighbours) does not masquerade as scaling.
    progress(f"msgsim scaling at depth {cfg.small_depth:,} again")
    again = _run_virtual(_scaling_at, cfg, cfg.small_depth)
    small.update(
        _per_op(
            small["send_us_blocks"] + again["send_us_blocks"],
            small["receive_delete_us_per_msg_blocks"] + again["receive_delete_us_per_msg_blocks"],
        )
    )
    return {
        "standard": standard,
        "fifo": fifo,
        "scaling": {
            "small": small,
            "large": large,
            "ratio_large_over_small": {
                "send": large["send_us"] / small["send_us"],
                "receive_delete": large["receive_delete_us_per_msg"]
                / small["receive_delete_us_per_msg"],
            },
        },
    }


THROUGHPUT_KEYS = ("send_message_per_s", "send_batch_msgs_per_s", "receive_delete_msgs_per_s")
THROUGHPUT_LABELS = {
    "send_message_per_s": "SendMessage (100 B body)           msgs/s",
    "send_batch_msgs_per_s": "SendMessageBatch (10 per batch)    msgs/s",
    "receive_delete_msgs_per_s": "ReceiveMessage(10)+DeleteMsgBatch  msgs/s",
}


def run_all(cfg: Config, moto: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "msgsim": run_msgsim(cfg, _progress),
    }
    if moto:
        try:
            from bench.moto_sqs import run_moto
        except ImportError as exc:
            results["moto_error"] = f"moto unavailable ({exc}); install the 'bench' extra"
        else:
            _progress("moto standard queue throughput")
            m = run_moto(cfg.moto_sends, cfg.moto_batch_messages, cfg.moto_receive_messages)
            results["moto"] = m
            std = results["msgsim"]["standard"]
            results["ratio_msgsim_over_moto"] = {k: std[k] / m[k] for k in THROUGHPUT_KEYS}
    return results


# -- output ------------------------------------------------------------------------


def _short(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def format_report(results: dict[str, Any]) -> str:
    W, W1 = 14, 13  # numeric column width (W1: before a trailing "x")
    ms = results["msgsim"]
    cfg = results["config"]
    lines = [
        f"msgsim SQS benchmark: in-process client, trio MockClock(autojump_threshold=0); "
        f"Python {results['python']}, {results['cpus']} CPUs",
        "",
        f"{'Throughput':<42}{'standard':>{W}}{'FIFO':>{W}}",
    ]
    for k in THROUGHPUT_KEYS:
        lines.append(
            f"  {THROUGHPUT_LABELS[k]:<40}{ms['standard'][k]:>{W},.0f}{ms['fifo'][k]:>{W},.0f}"
        )
    c = ms["standard"]["counts"]
    lines.append(
        f"  ({c['sends']:,} sends, {c['batch_messages']:,} batched, {c['received']:,} received "
        f"from a pre-filled queue; best of {c['repeats']} passes;\n"
        f"   FIFO: {ms['fifo']['groups']:,} groups, unique dedup ids)"
    )

    sc = ms["scaling"]
    small, large, ratio = sc["small"], sc["large"], sc["ratio_large_over_small"]
    s_lbl, l_lbl = _short(small["depth"]), _short(large["depth"])
    lines += [
        "",
        f"{'Scaling, standard queue, by depth':<42}{s_lbl + ' queued':>{W}}"
        f"{l_lbl + ' queued':>{W}}{'ratio ' + l_lbl + '/' + s_lbl:>{W}}",
        f"  {'SendMessage                        µs/op':<40}"
        f"{small['send_us']:>{W}.1f}{large['send_us']:>{W}.1f}{ratio['send']:>{W}.2f}",
        f"  {'Receive(10)+DeleteBatch            µs/msg':<40}"
        f"{small['receive_delete_us_per_msg']:>{W}.1f}{large['receive_delete_us_per_msg']:>{W}.1f}"
        f"{ratio['receive_delete']:>{W}.2f}",
        f"  {'Memory beyond body                 B/msg':<40}"
        f"{small['bytes_per_msg_beyond_body']:>{W}.0f}{large['bytes_per_msg_beyond_body']:>{W}.0f}",
        f"  {'  (traced, body included           B/msg)':<40}"
        f"{small['traced_bytes_per_msg']:>{W}.0f}{large['traced_bytes_per_msg']:>{W}.0f}",
        f"  (rounds of 10 SendMessage + ReceiveMessage(10)+DeleteMessageBatch: "
        f"{cfg['scaling_rounds']:,} rounds per depth,",
        f"   best of {SCALING_BLOCKS} blocks per run; {s_lbl} run before and after {l_lbl}. Memory:",
        f"   tracemalloc over a fill with distinct {small['body_bytes']}-byte bodies, "
        f"minus the {small['body_bytes']} B body)",
    ]

    if "moto" in results:
        mo, rt = results["moto"], results["ratio_msgsim_over_moto"]
        lines += [
            "",
            f"{'msgsim vs moto, standard queue':<42}"
            f"{'msgsim':>{W}}{'moto':>{W}}{'msgsim/moto':>{W}}",
        ]
        for k in THROUGHPUT_KEYS:
            lines.append(
                f"  {THROUGHPUT_LABELS[k]:<40}{ms['standard'][k]:>{W},.0f}"
                f"{mo[k]:>{W},.1f}{rt[k]:>{W1},.0f}x"
            )
        mc = mo["counts"]
        lines.append(
            f"  (moto: {mc['sends']} sends, {mc['batch_messages']} batched, "
            f"{mc['received']} received from a {mc['receive_queue_depth']}-deep queue; "
            "moto's receive scans the queue)"
        )
    elif "moto_error" in results:
        lines += ["", results["moto_error"]]
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--no-moto", action="store_true", help="skip the moto comparison")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = QUICK if args.quick else FULL
    return timed_report(lambda: run_all(cfg, moto=not args.no_moto), format_report, args.json)
