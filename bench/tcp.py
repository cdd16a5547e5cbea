"""TCP benchmark: SendMessage and SendMessageBatch through `msgsim serve`, next to an echo floor.

Prints, for the daemon (``python -m msgsim serve --port 0``, its own process) and, next to
each figure, for a bare msgpack echo server (``python -m bench.tcp --echo-server``, its own
process) that the SAME :class:`~msgsim.adapters.tcp_client.TcpClient` drives:

  * SendMessage round-trip latency p50/p99 (one connection, one request in flight) and
    requests/s for that;
  * SendMessage/s with 64 requests in flight on one connection (64 trio tasks, one client);
  * SendMessage/s over 8 connections, 8 tasks each (the same total window of 64);
  * messages/s through SendMessageBatch of 10 entries over one connection, with the same 64
    requests in flight as the pipelined SendMessage figure;

then the ratios against the targets (p50 RTT at most 2x the echo floor's; 64-in-flight
SendMessage/s at least 50% of the echo floor's; SendMessageBatch(10) at least 100,000 msgs/s on
one connection), each marked PASS or MISS.

The echo server speaks just enough of docs/protocol.md (hello -> welcome, req -> res) with the
same framing (adapters.wire's FrameDecoder and encode) and answers each request with a fixed
result map of a real response's size: the floor is the client, the framing and the loopback
socket, with no broker. Both servers run on the real clock in processes this benchmark starts
and ends by their ids; the client runs here. Each figure is timed in slices that take turns
between the two servers, so that both see the same machine. Figures only: nothing asserts on
speed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio

from msgsim.adapters import wire
from msgsim.adapters.daemon_process import end_process
from msgsim.adapters.tcp_client import TOKEN_ENV, TcpClient
from msgsim.adapters.tcp_server import FLUSH_BYTES, FLUSH_EVERY
from msgsim.adapters.wire import DEFAULT_MAX_FRAME, DEFAULT_MAX_IN_FLIGHT, FrameDecoder, encode

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
BODY = "m" * 100  # the ~100-byte body the other SQS benchmarks send
IDS = tuple(str(i) for i in range(10))  # batch entry ids
_LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")

# Shapes of real answers (a uuid4 MessageId and a hex MD5), fixed: the echo server does no work.
_MESSAGE_ID = "82e2e662-f728-44fa-8248-5e3a0a5d2f34"
_MD5 = "849bf892633e0d683c1d0e1d7f9c03b8"
_SEND_RESULT = {"MD5OfMessageBody": _MD5, "MessageId": _MESSAGE_ID}
_ECHO_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/echo"
_ECHO_WELCOME = {
    "t": wire.WELCOME,
    "v": wire.PROTOCOL_VERSION,
    "server": "bench-echo",
    "max_frame": DEFAULT_MAX_FRAME,
    "max_in_flight": DEFAULT_MAX_IN_FLIGHT,
    "ops": {"sqs": ["CreateQueue", "SendMessage", "SendMessageBatch"]},
}


@dataclasses.dataclass(frozen=True)
class Config:
    duration: float = 3.0  # seconds each figure is timed, per server
    slices: int = 6  # ... in this many slices, taking turns between the daemon and the echo
    warmup: float = 0.3  # seconds of the same load before each figure
    window: int = 64  # SendMessage requests in flight on one connection
    connections: int = 8  # connections sharing the same total window
    batch_window: int = 64  # SendMessageBatch(10) requests in flight on one connection


FULL = Config()
QUICK = Config(duration=0.25, slices=2, warmup=0.05)


# -- the echo floor ------------------------------------------------------------------------


def _echo_result(message: dict[str, Any]) -> dict[str, Any]:
    op = message.get("op")
    if op == "SendMessage":
        return _SEND_RESULT
    if op == "SendMessageBatch":
        entries = (message.get("p") or {}).get("Entries") or []
        return {
            "Successful": [
                {"MD5OfMessageBody": _MD5, "MessageId": _MESSAGE_ID, "Id": e.get("Id")}
                for e in entries
            ],
            "Failed": [],
        }
    if op == "CreateQueue":
        return {"QueueUrl": _ECHO_QUEUE_URL}
    return {}


async def _echo_connection(stream: trio.SocketStream) -> None:
    """hello -> welcome, req -> res. Answers go out as the daemon's do: those of one read in
    one write, or every FLUSH_EVERY answers (or FLUSH_BYTES) when a read brought more."""
    decoder = FrameDecoder()
    try:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            frames = []
            queued = 0
            for m in decoder.feed(data):
                t = m.get("t")
                if t == wire.REQUEST:
                    frame = encode({"t": wire.RESPONSE, "id": m.get("id"), "r": _echo_result(m)})
                elif t == wire.HELLO:
                    frame = encode(_ECHO_WELCOME)
                else:
                    continue
                frames.append(frame)
                queued += len(frame)
                if len(frames) >= FLUSH_EVERY or queued >= FLUSH_BYTES:
                    await stream.send_all(b"".join(frames))
                    frames = []
                    queued = 0
            if frames:
                await stream.send_all(b"".join(frames) if len(frames) > 1 else frames[0])
    except (trio.BrokenResourceError, trio.ClosedResourceError, wire.FramingError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def echo_server(port: int = 0) -> None:
    """Serve the echo protocol on 127.0.0.1:port until SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, _echo_connection, port, host=HOST)
            )
            bound = listeners[0].socket.getsockname()
            print(f"bench echo listening on {bound[0]}:{bound[1]}", flush=True)
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


# -- server processes ------------------------------------------------------------------------


@dataclasses.dataclass
class _Server:
    name: str
    proc: subprocess.Popen
    host: str
    port: int


@contextlib.contextmanager
def _process(name: str, args: list[str], python: str = sys.executable) -> Iterator[_Server]:
    """Start ``python ARGS`` in the repository root, wait for its "listening on HOST:PORT"
    line, and end it (by its id: SIGTERM, then wait) when done. Another interpreter than this
    one runs outside the repository, with its own ``msgsim`` (another checkout's venv)."""
    env = dict(os.environ)
    own = python == sys.executable
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]) if own else ""
    env.pop(TOKEN_ENV, None)
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [python, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
            cwd=ROOT if own else "/",
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            m = _LISTENING.search(line)
            if m is None:
                proc.wait(timeout=10)
                err.seek(0)
                raise RuntimeError(f"{name} did not start: {line!r} {err.read()}")
            yield _Server(name, proc, m.group(1), int(m.group(2)))
        finally:
            end_process(proc, timeout=15)
            if proc.stdout is not None:
                proc.stdout.close()


# -- the measurements --------------------------------------------------------------------------


async def _create_queue(sqs: Any, name: str) -> str:
    return (await sqs.create_queue(QueueName=name))["QueueUrl"]


async def _sequential(sqs: Any, url: str, duration: float) -> tuple[list[int], float]:
    """SendMessage one at a time for ``duration`` seconds: round trips (ns) and elapsed s."""
    rtts: list[int] = []
    clock = time.perf_counter_ns
    deadline = clock() + int(duration * 1e9)
    start = clock()
    while True:
        t0 = clock()
        await sqs.send_message(QueueUrl=url, MessageBody=BODY)
        t1 = clock()
        rtts.append(t1 - t0)
        if t1 >= deadline:
            return rtts, (t1 - start) / 1e9


async def _windowed(
    clients: list[Any], per_client: int, url: str, duration: float, batch: bool
) -> tuple[int, float]:
    """``per_client`` tasks per client, each sending (SendMessage, or SendMessageBatch of 10)
    back to back until ``duration`` seconds pass: messages sent and elapsed seconds."""
    sent = 0
    deadline = time.perf_counter() + duration
    entries = [{"Id": i, "MessageBody": BODY} for i in IDS]

    async def loop(sqs: Any) -> None:
        nonlocal sent
        n = 0
        clock = time.perf_counter
        if batch:
            while clock() < deadline:
                result = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
                n += len(result["Successful"])
        else:
            while clock() < deadline:
                await sqs.send_message(QueueUrl=url, MessageBody=BODY)
                n += 1
        sent += n

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for sqs in clients:
            for _ in range(per_client):
                nursery.start_soon(loop, sqs)
    return sent, time.perf_counter() - start


async def _depth(sqs: Any, url: str) -> int:
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


async def measure(servers: list[_Server], cfg: Config, progress: Any) -> dict[str, dict[str, Any]]:
    """Every figure for every server. Each figure is timed in ``cfg.slices`` slices that take
    turns between the servers, so that both see the same machine (a shared or virtual machine
    drifts by more than the difference being measured). On the daemon, each queue's depth
    checks the count sent."""
    out: dict[str, dict[str, Any]] = {s.name: {} for s in servers}
    slice_s = cfg.duration / cfg.slices
    async with contextlib.AsyncExitStack() as stack:
        sqs: dict[str, list[Any]] = {}
        for server in servers:
            clients = [
                await stack.enter_async_context(TcpClient.connect(server.host, server.port))
                for _ in range(cfg.connections)
            ]
            sqs[server.name] = [c.client("sqs") for c in clients]

        def turns() -> Iterator[_Server]:
            for i in range(cfg.slices):  # alternate who goes first, too
                yield from servers if i % 2 == 0 else reversed(servers)

        async def check(server: _Server, url: str, sent: int) -> None:
            if server.name == "msgsim":
                depth = await _depth(sqs[server.name][0], url)
                if depth != sent:
                    raise RuntimeError(f"{url}: {sent} messages sent but {depth} queued")

        progress("SendMessage, one in flight")
        urls, sent = {}, {}
        rtts: dict[str, list[int]] = {s.name: [] for s in servers}
        elapsed = dict.fromkeys(out, 0.0)
        for server in servers:
            first = sqs[server.name][0]
            urls[server.name] = await _create_queue(first, "sequential")
            warm, _ = await _sequential(first, urls[server.name], cfg.warmup)
            sent[server.name] = len(warm)
        for server in turns():
            got, took = await _sequential(sqs[server.name][0], urls[server.name], slice_s)
            rtts[server.name] += got
            elapsed[server.name] += took
        for server in servers:
            times = rtts[server.name]
            await check(server, urls[server.name], sent[server.name] + len(times))
            q = statistics.quantiles(times, n=100, method="inclusive")
            out[server.name]["send_p50_us"] = statistics.median(times) / 1e3
            out[server.name]["send_p99_us"] = q[98] / 1e3
            out[server.name]["send_sequential_per_s"] = len(times) / elapsed[server.name]

        for key, conns, per_conn, batch, label in (
            ("send_window_per_s", 1, cfg.window, False, f"SendMessage, {cfg.window} in flight"),
            (
                "send_connections_per_s",
                cfg.connections,
                cfg.window // cfg.connections,
                False,
                f"SendMessage, {cfg.connections} connections",
            ),
            (
                "batch10_msgs_per_s",
                1,
                cfg.batch_window,
                True,
                f"SendMessageBatch(10), {cfg.batch_window} in flight",
            ),
        ):
            progress(label)
            elapsed = dict.fromkeys(out, 0.0)
            for server in servers:
                chosen = sqs[server.name][:conns]
                urls[server.name] = await _create_queue(chosen[0], key.replace("_", "-"))
                sent[server.name], _ = await _windowed(
                    chosen, per_conn, urls[server.name], cfg.warmup, batch
                )
            timed = dict.fromkeys(out, 0)
            cpu: dict[str, float | None] = dict.fromkeys(out, 0.0)
            for server in turns():
                cpu_before = _cpu_seconds(server.proc.pid)
                n, took = await _windowed(
                    sqs[server.name][:conns], per_conn, urls[server.name], slice_s, batch
                )
                cpu_after = _cpu_seconds(server.proc.pid)
                timed[server.name] += n
                elapsed[server.name] += took
                spent = cpu[server.name]
                if spent is None or cpu_before is None or cpu_after is None:
                    cpu[server.name] = None
                else:
                    cpu[server.name] = spent + cpu_after - cpu_before
            for server in servers:
                await check(server, urls[server.name], sent[server.name] + timed[server.name])
                out[server.name][key] = timed[server.name] / elapsed[server.name]
                if batch:
                    spent = cpu[server.name]
                    out[server.name][BATCH_CPU] = (
                        None if spent is None else spent / (timed[server.name] / 10) * 1e6
                    )
    return out


FIGURES = (
    "send_p50_us",
    "send_p99_us",
    "send_sequential_per_s",
    "send_window_per_s",
    "send_connections_per_s",
    "batch10_msgs_per_s",
)
BATCH_TARGET = 100_000
#: The server process's CPU time (user + system) per SendMessageBatch(10) during that figure's
#: slices, in µs: what a batch costs the server, whatever the client and the machine's other
#: load cost meanwhile. 10 / this is the batches' messages per CPU-second of the server: its
#: capacity with a whole CPU to itself. (/proc's clock ticks are 10 ms: within a few % over 3 s.)
BATCH_CPU = "batch10_server_cpu_us"


def _cpu_seconds(pid: int | str = "self") -> float | None:
    """CPU seconds (user + system) a process used so far; None without Linux's /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _machine_busy_seconds() -> float | None:
    """CPU seconds every process of the machine used so far; None without Linux's /proc."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait
    except (OSError, ValueError, IndexError):
        return None


def run_all(cfg: Config, progress: Any = lambda _: None) -> dict[str, Any]:
    with (
        _process(
            "msgsim", ["-m", "msgsim.adapters.cli", "serve", "--host", HOST, "--port", "0"]
        ) as d,
        _process("echo", ["-m", "bench.tcp", "--echo-server"]) as e,
    ):
        # The client and the server need a CPU each: CPU time other processes took meanwhile
        # says how far to trust the figures.
        pids = ("self", d.proc.pid, e.proc.pid)
        before = [_machine_busy_seconds(), *map(_cpu_seconds, pids)]
        start = time.perf_counter()
        figures = trio.run(measure, [d, e], cfg, progress)
        wall = time.perf_counter() - start
        after = [_machine_busy_seconds(), *map(_cpu_seconds, pids)]
    msgsim, echo = figures["msgsim"], figures["echo"]
    other_load = None
    if None not in before and None not in after:
        ours = sum(a - b for a, b in zip(after[1:], before[1:], strict=True))
        other_load = max(0.0, (after[0] - before[0] - ours) / wall)
    ratios = {
        "p50_over_echo": msgsim["send_p50_us"] / echo["send_p50_us"],
        "window_over_echo": msgsim["send_window_per_s"] / echo["send_window_per_s"],
        "batch10_over_target": msgsim["batch10_msgs_per_s"] / BATCH_TARGET,
    }
    if msgsim.get(BATCH_CPU):
        ratios["batch10_daemon_capacity_msgs_per_cpu_s"] = 10 / msgsim[BATCH_CPU] * 1e6
    targets = {
        "p50_at_most_2x_echo": ratios["p50_over_echo"] <= 2.0,
        "window_at_least_half_echo": ratios["window_over_echo"] >= 0.5,
        "batch10_at_least_100k": msgsim["batch10_msgs_per_s"] >= BATCH_TARGET,
    }
    return {
        "msgsim": msgsim,
        "echo": echo,
        "ratios": ratios,
        "targets": {k: "PASS" if v else "MISS" for k, v in targets.items()},
        "other_load_cpus": other_load,
        "config": dataclasses.asdict(cfg),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def format_report(r: dict[str, Any]) -> str:
    ms, echo, cfg = r["msgsim"], r["echo"], r["config"]
    w, per = cfg["window"], cfg["window"] // cfg["connections"]
    labels = {
        "send_p50_us": ("SendMessage RTT p50, 1 in flight", "us"),
        "send_p99_us": ("SendMessage RTT p99, 1 in flight", "us"),
        "send_sequential_per_s": ("SendMessage, 1 in flight", "req/s"),
        "send_window_per_s": (f"SendMessage, {w} in flight, 1 conn", "msgs/s"),
        "send_connections_per_s": (
            f"SendMessage, {cfg['connections']} conns x {per} in flight",
            "msgs/s",
        ),
        "batch10_msgs_per_s": (
            f"SendMessageBatch(10), {cfg['batch_window']} in flight, 1 conn",
            "msgs/s",
        ),
    }
    lines = [
        f"msgsim TCP benchmark: daemon and echo floor each in their own process, client here, "
        f"loopback; Python {r['python']}, {r['cpus']} CPUs; {len(BODY)}-byte bodies, "
        f"{cfg['duration']:g} s per figure and server, in {cfg['slices']} slices taking turns",
        "",
        f"  {'':<46}{'':<7}{'msgsim':>12}{'echo floor':>12}{'msgsim/echo':>13}",
    ]
    for key in FIGURES:
        label, unit = labels[key]
        fmt = ",.1f" if key.endswith("_us") else ",.0f"
        lines.append(
            f"  {label:<46}{unit:<7}{ms[key]:>12{fmt}}{echo[key]:>12{fmt}}"
            f"{ms[key] / echo[key]:>12.2f}x"
        )
    cost = [side.get(BATCH_CPU) for side in (ms, echo)]
    if None not in cost:
        lines.append(
            f"  {'  server CPU per SendMessageBatch(10)':<46}{'us':<7}{cost[0]:>12,.1f}"
            f"{cost[1]:>12,.1f}{cost[0] / cost[1] if cost[1] else math.inf:>12.2f}x"
        )
    ratios, marks = r["ratios"], r["targets"]
    lines += [
        "",
        "  Targets",
        f"    p50 RTT at most 2x the echo floor's          {ratios['p50_over_echo']:>6.2f}x"
        f"   {marks['p50_at_most_2x_echo']}",
        f"    SendMessage/s, {w} in flight, >= 50% of echo   "
        f"{ratios['window_over_echo'] * 100:>6.1f}%   {marks['window_at_least_half_echo']}",
        f"    SendMessageBatch(10) >= 100,000 msgs/s, 1 conn "
        f"{ms['batch10_msgs_per_s']:>8,.0f}   {marks['batch10_at_least_100k']}",
    ]
    capacity = ratios.get("batch10_daemon_capacity_msgs_per_cpu_s")
    if capacity is not None:
        lines.append(
            f"      (the daemon's own cost: {capacity:,.0f} msgs per CPU-second of the daemon "
            "in batches of 10, its capacity with a CPU to itself)"
        )
    if r["other_load_cpus"] is not None:
        lines += [
            "",
            f"  Other processes used {r['other_load_cpus']:.2f} CPUs meanwhile (of "
            f"{r['cpus']}; the client and each server want one: figures are noisy if this is "
            "high)",
        ]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per figure (default 3; quick 0.25)"
    )


def run(args: argparse.Namespace) -> int:
    from bench.common import progress, timed_report

    cfg = QUICK if args.quick else FULL
    if args.duration is not None:
        if args.duration <= 0:
            raise SystemExit("--duration must be positive")
        cfg = dataclasses.replace(cfg, duration=args.duration)
    return timed_report(lambda: run_all(cfg, progress), format_report, args.json)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tcp", description="the TCP benchmark's echo server"
    )
    parser.add_argument("--echo-server", action="store_true", required=True)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    args = parser.parse_args(argv)
    trio.run(echo_server, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
