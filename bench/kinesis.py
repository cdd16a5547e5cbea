"""Kinesis benchmark: PutRecord, PutRecords and GetRecords, msgsim in-process (trio MockClock).

Prints, on a 4-shard stream with Kinesis throughput limits off (``enforce_throughput=False``),
through the boto3-shaped in-process client, each figure next to its target:
  * PutRecord/s: single records, 100-byte data, varied partition keys;
  * records/s through PutRecords with 500 records per call;
  * records/s read back through GetRecords(Limit=10,000) across the 4 shards, from TRIM_HORIZON,
    following NextShardIterator;
  * the cost of GetShardIterator(AT_SEQUENCE_NUMBER) at a random position and of one
    GetRecords(Limit=100) call from there, with 10,000 versus 1,000,000 records in the shard:
    it should be flat (O(log n) to find the position, O(k) to return k records).

Partition keys cycle through 100,000 distinct keys (``--keys``); every record pays its MD5
(the broker keeps no cache of key hashes). Request
parameters are built before the clock starts. Wall time is measured with time.perf_counter;
the broker runs on trio's virtual clock, so nothing waits on broker timers. Each figure is the
best of ``--repeat`` passes (default 3). Figures only: nothing asserts on speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import trio

from bench.common import progress as _progress
from bench.common import run_virtual as _run_virtual
from bench.common import timed_report
from msgsim.adapters import InProcessClient
from msgsim.broker import Broker
from msgsim.broker.limits import KINESIS_HASH_KEY_MAX

STREAM = "bench"
SHARDS = 4
#: ExplicitHashKeys that route to shard 0 and shard 1 of a 4-shard stream (depth figures).
SHARD0_KEY = "0"
SHARD1_KEY = str((KINESIS_HASH_KEY_MAX + 1) // SHARDS)

TARGETS = {
    "put_record_per_s": 40_000,
    "put_records_per_s": 300_000,
    "get_records_per_s": 1_000_000,
    "depth_ratio": 1.5,  # cost at the large depth over the small one, at most
}


@dataclasses.dataclass(frozen=True)
class Config:
    put_records: int = 50_000  # single PutRecord calls per pass
    batch_records: int = 500_000  # records through PutRecords per pass
    batch_size: int = 500
    read_records: int = 400_000  # records in the stream, read back per pass
    read_limit: int = 10_000
    data_bytes: int = 100
    partition_keys: int = 100_000  # distinct partition keys, cycled
    small_depth: int = 10_000
    large_depth: int = 1_000_000
    probes: int = 2_000  # random positions per block, at each depth
    probe_limit: int = 100
    warmup: int = 500
    repeats: int = 3  # passes (blocks, for the depth figures); the best is reported


FULL = Config()
QUICK = Config(
    put_records=2_000,
    batch_records=10_000,
    read_records=20_000,
    partition_keys=70_000,
    small_depth=1_000,
    large_depth=20_000,
    probes=200,
    warmup=100,
)


class _Keys:
    """Partition keys, cycled through one process-wide list (built once, outside the timing)."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._next = 0

    def take(self, n: int, distinct: int) -> list[str]:
        if len(self._keys) != distinct:
            self._keys = [f"user-{i:08d}" for i in range(distinct)]
            self._next = 0
        keys, start = self._keys, self._next
        out = [keys[(start + i) % distinct] for i in range(n)]
        self._next = (start + n) % distinct
        return out


_KEYS = _Keys()


def _batches(keys: list[str], data: bytes, size: int, **extra: str) -> list[list[dict[str, Any]]]:
    return [
        [{"Data": data, "PartitionKey": k, **extra} for k in keys[i : i + size]]
        for i in range(0, len(keys), size)
    ]


async def _open_stream(broker: Broker) -> Any:
    kinesis = InProcessClient(broker).client("kinesis")
    await kinesis.create_stream(StreamName=STREAM, ShardCount=SHARDS)
    await trio.sleep(1)  # virtual time: the stream is ACTIVE after create_delay
    return kinesis


async def _put_all(kinesis: Any, batches: list[list[dict[str, Any]]]) -> list[str]:
    """PutRecords every batch; the sequence numbers, in order."""
    seqs: list[str] = []
    for entries in batches:
        resp = await kinesis.put_records(StreamName=STREAM, Records=entries)
        if resp["FailedRecordCount"]:
            raise RuntimeError(f"PutRecords failed: {resp['Records'][:3]}")
        seqs.extend(r["SequenceNumber"] for r in resp["Records"])
    return seqs


# -- throughput ----------------------------------------------------------------------


async def _put_record_pass(cfg: Config, data: bytes) -> float:
    warm = _KEYS.take(cfg.warmup, cfg.partition_keys)
    keys = _KEYS.take(cfg.put_records, cfg.partition_keys)
    async with Broker.open(seed=0, enforce_throughput=False) as broker:
        kinesis = await _open_stream(broker)
        put = kinesis.put_record
        for k in warm:
            await put(StreamName=STREAM, Data=data, PartitionKey=k)
        gc.collect()
        start = time.perf_counter()
        for k in keys:
            await put(StreamName=STREAM, Data=data, PartitionKey=k)
        elapsed = time.perf_counter() - start
    return len(keys) / elapsed


async def _put_records_pass(cfg: Config, data: bytes) -> float:
    warm = _batches(_KEYS.take(cfg.warmup, cfg.partition_keys), data, cfg.batch_size)
    batches = _batches(_KEYS.take(cfg.batch_records, cfg.partition_keys), data, cfg.batch_size)
    async with Broker.open(seed=0, enforce_throughput=False) as broker:
        kinesis = await _open_stream(broker)
        await _put_all(kinesis, warm)
        put = kinesis.put_records
        gc.collect()
        start = time.perf_counter()
        for entries in batches:
            resp = await put(StreamName=STREAM, Records=entries)
            if resp["FailedRecordCount"]:
                raise RuntimeError(f"PutRecords failed: {resp['Records'][:3]}")
        elapsed = time.perf_counter() - start
    return cfg.batch_records / elapsed


async def _read_all(kinesis: Any, limit: int) -> int:
    """Every record of every shard, from TRIM_HORIZON, following NextShardIterator until a
    call returns nothing."""
    get = kinesis.get_records
    read = 0
    for i in range(SHARDS):
        resp = await kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=f"shardId-{i:012d}", ShardIteratorType="TRIM_HORIZON"
        )
        it = resp["ShardIterator"]
        while True:
            resp = await get(ShardIterator=it, Limit=limit)
            n = len(resp["Records"])
            if not n:
                break
            read += n
            it = resp["NextShardIterator"]
    return read


async def _get_records_passes(cfg: Config, data: bytes) -> list[float]:
    batches = _batches(_KEYS.take(cfg.read_records, cfg.partition_keys), data, cfg.batch_size)
    rates = []
    async with Broker.open(seed=0, enforce_throughput=False) as broker:
        kinesis = await _open_stream(broker)
        await _put_all(kinesis, batches)
        del batches
        await _read_all(kinesis, cfg.read_limit)  # warm-up
        for _ in range(cfg.repeats):
            gc.collect()
            start = time.perf_counter()
            read = await _read_all(kinesis, cfg.read_limit)
            elapsed = time.perf_counter() - start
            if read != cfg.read_records:
                raise RuntimeError(f"read {read} records of {cfg.read_records}")
            rates.append(read / elapsed)
    return rates


# -- cost by depth -------------------------------------------------------------------


async def _depth_blocks(cfg: Config, data: bytes) -> dict[str, Any]:
    """Shard 1 holds ``small_depth`` records and shard 0 ``large_depth`` (ExplicitHashKey
    routes them), in one stream; blocks at the two depths alternate, so drift over the run
    (CPU, other processes) falls on both alike."""
    small_seqs: list[str] = []
    large_seqs: list[str] = []
    async with Broker.open(seed=0, enforce_throughput=False) as broker:
        kinesis = await _open_stream(broker)
        for depth, hash_key, seqs in (
            (cfg.small_depth, SHARD1_KEY, small_seqs),
            (cfg.large_depth, SHARD0_KEY, large_seqs),
        ):
            # Fill in slices, so the request dicts never all exist at once.
            step = 100 * cfg.batch_size
            for lo in range(0, depth, step):
                keys = _KEYS.take(min(step, depth - lo), cfg.partition_keys)
                seqs += await _put_all(
                    kinesis, _batches(keys, data, cfg.batch_size, ExplicitHashKey=hash_key)
                )
        shards = {
            "small": ("shardId-000000000001", small_seqs),
            "large": ("shardId-000000000000", large_seqs),
        }
        rng = random.Random(0)
        gsi, get = kinesis.get_shard_iterator, kinesis.get_records
        limit = cfg.probe_limit

        async def block(which: str) -> tuple[float, float]:
            shard_id, seqs = shards[which]
            starts = [seqs[rng.randrange(len(seqs) - limit)] for _ in range(cfg.probes)]
            its = []
            t0 = time.perf_counter()
            for seq in starts:
                resp = await gsi(
                    StreamName=STREAM,
                    ShardId=shard_id,
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    StartingSequenceNumber=seq,
                )
                its.append(resp["ShardIterator"])
            t1 = time.perf_counter()
            got = 0
            for it in its:
                got += len((await get(ShardIterator=it, Limit=limit))["Records"])
            t2 = time.perf_counter()
            if got != limit * cfg.probes:
                raise RuntimeError(f"{which}: read {got} records, expected {limit * cfg.probes}")
            return (t1 - t0) / cfg.probes * 1e6, (t2 - t1) / cfg.probes * 1e6

        blocks: dict[str, list[tuple[float, float]]] = {"small": [], "large": []}
        await block("small")  # warm-up
        await block("large")
        gc.collect()
        for _ in range(cfg.repeats):
            for which in ("small", "large"):
                blocks[which].append(await block(which))
    out: dict[str, Any] = {}
    for which, depth in (("small", cfg.small_depth), ("large", cfg.large_depth)):
        iters = [b[0] for b in blocks[which]]
        gets = [b[1] for b in blocks[which]]
        out[which] = {
            "depth": depth,
            "get_shard_iterator_us": min(iters),
            "get_records_us": min(gets),
            "get_records_us_per_record": min(gets) / limit,
            "get_shard_iterator_us_median": statistics.median(iters),
            "get_records_us_median": statistics.median(gets),
        }
    out["ratio_large_over_small"] = {
        "get_shard_iterator": out["large"]["get_shard_iterator_us"]
        / out["small"]["get_shard_iterator_us"],
        "get_records": out["large"]["get_records_us"] / out["small"]["get_records_us"],
    }
    return out


# -- driver --------------------------------------------------------------------------


def _best(rates: list[float]) -> dict[str, float]:
    return {"best": max(rates), "median": statistics.median(rates)}


def run_all(cfg: Config, progress: Callable[[str], None] = _progress) -> dict[str, Any]:
    data = b"d" * cfg.data_bytes
    results: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "targets": TARGETS,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    progress(f"PutRecord, {cfg.put_records:,} records x {cfg.repeats} passes")
    results["put_record_per_s"] = _best(
        [_run_virtual(_put_record_pass, cfg, data) for _ in range(cfg.repeats)]
    )
    progress(f"PutRecords({cfg.batch_size}), {cfg.batch_records:,} records x {cfg.repeats} passes")
    results["put_records_per_s"] = _best(
        [_run_virtual(_put_records_pass, cfg, data) for _ in range(cfg.repeats)]
    )
    progress(f"GetRecords({cfg.read_limit:,}), {cfg.read_records:,} records x {cfg.repeats} passes")
    results["get_records_per_s"] = _best(_run_virtual(_get_records_passes, cfg, data))
    gc.collect()
    progress(
        f"GetShardIterator + GetRecords({cfg.probe_limit}) at depths {cfg.small_depth:,} and "
        f"{cfg.large_depth:,} (filling)"
    )
    results["depth"] = _run_virtual(_depth_blocks, cfg, data)
    gc.collect()
    return results


# -- output --------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "PASS" if ok else "BELOW"


def _short(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n:,}"


def format_report(results: dict[str, Any]) -> str:
    cfg = results["config"]
    t = results["targets"]
    lines = [
        "msgsim Kinesis benchmark: in-process client, trio MockClock(autojump_threshold=0), "
        f"{SHARDS}-shard stream, throughput limits off; Python {results['python']}, "
        f"{results['cpus']} CPUs",
        "",
        f"{'Throughput (' + str(cfg['data_bytes']) + ' B data)':<52}{'records/s':>12}"
        f"{'target':>14}",
    ]
    rows = (
        ("put_record_per_s", "PutRecord (single records)"),
        ("put_records_per_s", f"PutRecords ({cfg['batch_size']} per call)"),
        ("get_records_per_s", f"GetRecords (Limit {cfg['read_limit']:,}, {SHARDS} shards)"),
    )
    for key, label in rows:
        value, target = results[key]["best"], t[key]
        lines.append(
            f"  {label:<50}{value:>12,.0f}{'>= ' + format(target, ','):>14}  {_mark(value >= target)}"
        )
    lines.append(
        f"  (per pass: {cfg['put_records']:,} PutRecord calls; {cfg['batch_records']:,} records "
        f"through PutRecords; {cfg['read_records']:,} records\n"
        "   read from TRIM_HORIZON following NextShardIterator; "
        f"{cfg['partition_keys']:,} distinct partition keys, cycled;\n"
        f"   best of {cfg['repeats']} passes)"
    )

    d = results["depth"]
    small, large, ratio = d["small"], d["large"], d["ratio_large_over_small"]
    s_lbl, l_lbl = _short(small["depth"]), _short(large["depth"])
    r_target = t["depth_ratio"]
    W = 12
    lines += [
        "",
        f"{'Cost by depth (records in the shard)':<45}{s_lbl:>{W}}{l_lbl:>{W}}"
        f"{'ratio':>{W}}{'target':>{W}}",
    ]
    get_label = f"GetRecords(Limit {cfg['probe_limit']})"
    for name, key, rkey in (
        ("GetShardIterator AT_SEQUENCE_NUMBER", "get_shard_iterator_us", "get_shard_iterator"),
        (get_label, "get_records_us", "get_records"),
    ):
        r = ratio[rkey]
        lines.append(
            f"  {name:<36}{'µs/call':>7}{small[key]:>{W}.1f}{large[key]:>{W}.1f}{r:>{W}.2f}"
            f"{'<= ' + str(r_target):>{W}}  {_mark(r <= r_target)}"
        )
    lines += [
        f"  {get_label:<36}{'µs/rec':>7}{small['get_records_us_per_record']:>{W}.2f}"
        f"{large['get_records_us_per_record']:>{W}.2f}",
        f"  ({cfg['probes']:,} random positions per block; blocks at the two depths alternate "
        f"(two shards of one stream);\n   best of {cfg['repeats']} blocks. "
        "Targets: O(log n) to find a position, O(k) to return k records)",
    ]
    return "\n".join(lines)


# -- command line --------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument(
        "--repeat", type=int, default=3, metavar="N", help="passes per figure; the best is shown"
    )
    parser.add_argument(
        "--keys",
        type=int,
        default=None,
        metavar="N",
        help="distinct partition keys, cycled (default 100,000)",
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = QUICK if args.quick else FULL
    cfg = dataclasses.replace(cfg, repeats=max(1, args.repeat))
    if args.keys is not None:
        cfg = dataclasses.replace(cfg, partition_keys=max(1, args.keys))
    return timed_report(lambda: run_all(cfg), format_report, args.json)
