"""Smoke tests for `python -m bench` (sqs, sns, kinesis, functions, tcp): each runs with tiny
counts and returns or prints every figure. They check the shape of the results, never their
speed."""

from __future__ import annotations

import math
import sys
from pathlib import Path

# bench/ is not an installed package; make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import sqs as bench_sqs
from bench import tcp as bench_tcp

TINY = bench_sqs.Config(
    sends=30,
    batch_messages=50,
    receive_messages=60,
    fifo_groups=7,
    small_depth=20,
    large_depth=200,
    scaling_rounds=5,
    warmup=10,
)


def _run_bench(*args: str) -> tuple[str, dict]:
    """``python -m bench ARGS`` (with --json) as a subprocess: its output and its JSON."""
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    return out, json.loads(out[out.index("\n{") :])


def _positive(x: object) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def test_bench_sqs_msgsim_part_returns_every_figure():
    """Benchmarks never assert on time; this only guards the code from rotting."""
    results = bench_sqs.run_all(TINY, moto=False)
    ms = results["msgsim"]
    for kind in ("standard", "fifo"):
        for key in bench_sqs.THROUGHPUT_KEYS:
            assert _positive(ms[kind][key]), (kind, key, ms[kind][key])
    assert ms["standard"]["counts"] == {
        "sends": 30,
        "batch_messages": 50,
        "received": 60,
        "repeats": 5,
    }
    assert ms["standard"]["send_message_per_s_median"] <= ms["standard"]["send_message_per_s"]
    assert ms["fifo"]["groups"] == 7
    scaling = ms["scaling"]
    for size, depth in (("small", 20), ("large", 200)):
        s = scaling[size]
        assert s["depth"] == depth
        for key in ("send_us", "receive_delete_us_per_msg", "traced_bytes_per_msg"):
            assert _positive(s[key]), (size, key, s[key])
        assert isinstance(s["bytes_per_msg_beyond_body"], float)
    assert set(scaling["ratio_large_over_small"]) == {"send", "receive_delete"}
    assert all(_positive(v) for v in scaling["ratio_large_over_small"].values())
    assert "moto" not in results
    report = bench_sqs.format_report(results)
    assert "SendMessageBatch" in report and "queued" in report


def test_bench_sns_returns_every_figure():
    """`python -m bench sns` with tiny counts: every configuration reports a positive rate."""
    from bench import sns as bench_sns

    tiny = bench_sns.Config(
        fanouts=(1, 3),
        filtered=(1, 5),
        deliveries_per_pass=30,
        min_publishes=10,
        max_publishes=30,
        fifo_publishes=20,
        fifo_groups=3,
        repeats=1,
    )
    results = bench_sns.run_all(tiny, progress=lambda _: None)
    assert [r["subscriptions"] for r in results["fanout"]] == [1, 3]
    assert [r["subscriptions"] for r in results["filtered"]] == [1, 5]
    for r in results["fanout"] + results["filtered"]:
        assert _positive(r["publishes_per_s"])
        assert r["deliveries_per_s"] == r["publishes_per_s"] * r["matching_per_publish"]
    assert _positive(results["fifo"]["publishes_per_s"])
    assert "filtered subscriptions" in bench_sns.format_report(results)


def test_bench_kinesis_quick_prints_every_figure(capsys):
    """`python -m bench kinesis --quick`, run in-process through the CLI entry point: it runs and
    prints every figure with a mark next to its target. Speed is never asserted."""
    from bench.__main__ import main

    assert main(["kinesis", "--quick"]) == 0
    out = capsys.readouterr().out
    for name in (
        "PutRecord (single records)",
        "PutRecords (500 per call)",
        "GetRecords (Limit 10,000, 4 shards)",
        "GetShardIterator AT_SEQUENCE_NUMBER",
        "GetRecords(Limit 100)",
    ):
        assert name in out, name
    assert out.count("PASS") + out.count("BELOW") == 5


def test_bench_functions_quick_prints_every_figure(capsys):
    """`python -m bench functions --quick --json`: sync and async invokes and both mappings run
    to the end (the SQS queue drained, every Kinesis record handled) and each prints a positive
    figure. Speed is never asserted."""
    import json

    from bench.__main__ import main

    assert main(["functions", "--quick", "--json"]) == 0
    out = capsys.readouterr().out
    for name in ("sync Invoke", "async Invoke", "SQS mapping", "Kinesis mapping"):
        assert name in out, name
    results = json.loads(out[out.index("{") :])
    for key in (
        "sync_invokes_per_s",
        "async_invokes_per_s",
        "sqs_records_per_s",
        "kinesis_records_per_s",
    ):
        assert _positive(results[key]), (key, results[key])


def test_bench_tcp_quick_json_reports_every_figure():
    """`python -m bench tcp --quick --json` as a subprocess: it starts the daemon and the echo
    server in their own processes, ends them, and prints every figure for both (positive) and a
    mark per target. Speed is never asserted."""
    out, results = _run_bench("tcp", "--quick", "--json")
    for side in ("msgsim", "echo"):
        for key in bench_tcp.FIGURES:
            assert _positive(results[side][key]), (side, key, results[side][key])
        cost = results[side][bench_tcp.BATCH_CPU]  # None only without Linux's /proc
        assert cost is None or (isinstance(cost, float) and cost >= 0), (side, cost)
    assert all(_positive(v) for v in results["ratios"].values())
    assert set(results["targets"]) == {
        "p50_at_most_2x_echo",
        "window_at_least_half_echo",
        "batch10_at_least_100k",
    }
    assert all(mark in ("PASS", "MISS") for mark in results["targets"].values())
    assert out.count("PASS") + out.count("MISS") >= 3


def test_bench_limits_quick_json_reports_every_figure():
    """`python -m bench limits --quick --json` as a subprocess: it starts and ends its own
    daemons and prints every probe's figures; with the limits, the amplification frames are
    refused. Memory is reported, never asserted."""
    out, results = _run_bench("limits", "--quick", "--json")
    results = results["this"]
    assert _positive(results["idle"]["bytes_per_idle_connection"])
    assert results["flood"]["flood_daemon_alive"] is True
    for key in ("amplification_one_array", "amplification_spread"):
        assert results[key]["answer"] == "FrameTooComplex", results[key]
    assert results["unread_answers"]["requests_handled"] >= 1
    assert "pipelined ReceiveMessage" in out
    assert _positive(results["parked_polls"]["parked_median_s"])
    assert len(results["slow_worker"]["growth_after_cycles_bytes"]) == 2
    assert "parked polls" in out and "worker that never reads" in out
    for probe, key in (
        ("memory_per_parked_poll", "bytes_per_parked_poll"),
        ("memory_per_queued_message", "bytes_per_queued_message"),
        ("memory_per_queue", "bytes_per_queue"),
    ):
        assert isinstance(results[probe][key], float), (probe, results[probe])
    assert results["memory_per_queued_message"]["queued"] == 2_000
    assert "memory per parked long poll" in out and "memory per queue" in out
