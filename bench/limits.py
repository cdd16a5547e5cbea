"""Daemon limits: what clients can make `msgsim serve` hold (memory), before and after the limits.

Each probe of issue 18 runs against a fresh daemon (its own process, started and ended here by
its id, on a loopback port) and reads the daemon's resident memory from /proc (Linux): VmRSS
before, and VmHWM, the peak, after. Figures, for each daemon given:

  * memory per idle connection (N connections past their hello, RSS growth / N);
  * peak growth under a pre-login flood: C connections each sending one large frame (a map
    holding one binary) as their first frame, in slices, never saying hello;
  * peak growth from one frame of empty arrays sent after the hello (one array of them, and
    the same spread over arrays of 65,535), the decoding amplification;
  * peak growth and requests handled when P pipelined ReceiveMessage requests for 10 x 1 MiB
    messages are sent in one write and their answers never read;
  * SendMessage latency (median, p99) with no long poll parked, then with 10,000 parked on the
    queue (200 per connection);
  * resident memory growth after a function worker that never reads is sent 200 async events
    of 256 KiB, and after each of 4 cycles of such a worker connecting and disconnecting;
  * memory per parked long poll (10,000 ReceiveMessage polls parked on one queue, RSS growth /
    10,000, the connections they came on already open), per queued 1 KiB message (100,000 sent
    in batches of 10) and per queue (1,000 created).

``--baseline PYTHON`` runs every probe also with another interpreter (e.g. the venv of a main
checkout, whose `msgsim` is the code before the limits), taking turns probe by probe, so both
see the same machine. Figures only: nothing asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.tcp import _process
from msgsim.adapters import wire
from msgsim.adapters.tokens import find_token

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")


def hello(token: str | None) -> bytes:
    return wire.encode({"t": wire.HELLO, "v": wire.PROTOCOL_VERSION, "token": token})


@dataclasses.dataclass(frozen=True)
class Config:
    idle_connections: int = 200
    flood_connections: int = 32
    flood_frame: int = 16 * 1024 * 1024 - 64
    amplification_frame: int = 16 * 1024 * 1024 - 64
    pipelined: int = 100
    message_size: int = 1024 * 1024 - 1024
    parked_polls: int = 10_000
    sends: int = 40
    worker_events: int = 200
    worker_event_size: int = 256 * 1024
    worker_cycles: int = 4
    memory_polls: int = 10_000
    queued_messages: int = 100_000
    queued_message_size: int = 1024
    queues: int = 1_000


QUICK = Config(
    idle_connections=20,
    flood_connections=4,
    flood_frame=1 << 20,
    amplification_frame=1 << 20,
    pipelined=10,
    message_size=100_000,
    parked_polls=200,
    sends=5,
    worker_events=20,
    worker_event_size=64 * 1024,
    worker_cycles=1,
    memory_polls=200,
    queued_messages=2_000,
    queues=50,
)


# ------------------------------------------------------------------ the daemon and its memory
@dataclasses.dataclass
class Daemon:
    proc: subprocess.Popen
    host: str
    port: int
    #: The hello to send: with the daemon's default token (from its private file, as
    #: TcpClient finds it), or none for a daemon that keeps no token (an older msgsim).
    hello: bytes = hello(None)

    def memory(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in bytes."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
        return fields["VmRSS"], fields["VmHWM"]

    def alive(self) -> bool:
        return self.proc.poll() is None


@contextlib.contextmanager
def daemon(python: str, *args: str) -> Iterator[Daemon]:
    """``msgsim serve`` run by ``python`` on a free loopback port, ended when done."""
    serve = ["-m", "msgsim.adapters.cli", "serve", "--port", "0", *args]
    with _process("msgsim serve", serve, python) as server:
        token = find_token(server.host, server.port)
        yield Daemon(server.proc, server.host, server.port, hello(token))


def connect(d: Daemon, *, hello: bool = True) -> socket.socket:
    s = socket.create_connection((d.host, d.port), timeout=10)
    if hello:
        s.sendall(d.hello)
        decoder = wire.FrameDecoder(2**32)
        while not decoder.feed(s.recv(65536)):
            pass
    return s


def call(s: socket.socket, svc: str, op: str, p: dict[str, Any]) -> dict[str, Any]:
    s.sendall(wire.encode({"t": "req", "id": 1, "svc": svc, "op": op, "p": p}))
    decoder = wire.FrameDecoder(2**32)
    while True:
        data = s.recv(1 << 20)
        if not data:
            raise ConnectionError("closed")
        got = decoder.feed(data)
        if got:
            return got[0]


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)


# ------------------------------------------------------------------ probes
def idle_connection_bytes(python: str, cfg: Config) -> dict[str, Any]:
    with daemon(python) as d:
        settle()
        before, _ = d.memory()
        socks = [connect(d) for _ in range(cfg.idle_connections)]
        settle()
        after, _ = d.memory()
        for s in socks:
            s.close()
    return {"bytes_per_idle_connection": (after - before) / cfg.idle_connections}


def _send_slowly(socks: list[socket.socket], frame: bytes, slice_size: int = 256 * 1024) -> int:
    """Send ``frame`` on every socket, a slice at a time round-robin; how many got it whole."""
    whole = 0
    alive = list(socks)
    for pos in range(0, len(frame), slice_size):
        for s in list(alive):
            try:
                s.sendall(frame[pos : pos + slice_size])
            except OSError:
                alive.remove(s)
        time.sleep(0.01)
    whole = len(alive)
    return whole


def prelogin_flood(python: str, cfg: Config) -> dict[str, Any]:
    payload_len = cfg.flood_frame
    data = b"x" * (payload_len - 16)
    message = wire.encode({"t": "hello", "pad": data})
    with daemon(python) as d:
        settle()
        before, _ = d.memory()
        socks = [connect(d, hello=False) for _ in range(cfg.flood_connections)]
        sent = _send_slowly(socks, message)
        settle(0.5)
        _, peak = d.memory()
        alive = d.alive()
        for s in socks:
            s.close()
    return {
        "flood_peak_growth_bytes": peak - before,
        "flood_frames_sent_whole": sent,
        "flood_daemon_alive": alive,
    }


def _empties(n: int, spread: int | None) -> bytes:
    if spread is None:
        body = b"\xdd" + struct.pack(">I", n) + b"\x90" * n
    else:
        chunks = n // (spread + 3)
        body = b"\xdd" + struct.pack(">I", chunks)
        body += (b"\xdc" + struct.pack(">H", spread) + b"\x90" * spread) * chunks
    payload = b"\x83\xa1t\xa3req\xa2id\x01\xa1p" + body
    return struct.pack(">I", len(payload)) + payload


def amplification(python: str, cfg: Config, spread: int | None) -> dict[str, Any]:
    frame = _empties(cfg.amplification_frame - 32, spread)
    with daemon(python) as d:
        settle()
        before, _ = d.memory()
        s = connect(d)
        start = time.perf_counter()
        s.sendall(frame)
        s.settimeout(60)
        answer = b""
        with contextlib.suppress(OSError):
            answer = s.recv(65536)
        seconds = time.perf_counter() - start
        settle()
        _, peak = d.memory()
        s.close()
        code = None
        for m in wire.FrameDecoder(2**32).feed(answer) if answer[:4] else []:
            code = (m.get("e") or {}).get("code")
    return {"peak_growth_bytes": peak - before, "answer": code, "seconds": seconds}


def unread_answers(python: str, cfg: Config) -> dict[str, Any]:
    with daemon(python) as d:
        admin = connect(d)
        created = call(
            admin,
            "sqs",
            "CreateQueue",
            {"QueueName": "big", "Attributes": {"MaximumMessageSize": "1048576"}},
        )
        url = created["r"]["QueueUrl"]
        for _ in range(10):
            call(
                admin,
                "sqs",
                "SendMessage",
                {"QueueUrl": url, "MessageBody": "m" * cfg.message_size},
            )
        base = call(admin, "admin", "Stats", {})["r"]["Requests"]
        settle()
        before, _ = d.memory()
        s = connect(d)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        receive = {"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0}
        s.sendall(
            b"".join(
                wire.encode(
                    {"t": "req", "id": i, "svc": "sqs", "op": "ReceiveMessage", "p": receive}
                )
                for i in range(cfg.pipelined)
            )
        )
        settle(2.0)
        _, peak = d.memory()
        handled = call(admin, "admin", "Stats", {})["r"]["Requests"] - base - 1
        s.close()
        admin.close()
    return {"peak_growth_bytes": peak - before, "requests_handled": handled}


POLLS_PER_CONNECTION = 200  # under the daemon's 256 requests in flight per connection


def _send_latencies(admin: socket.socket, url: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        call(admin, "sqs", "SendMessage", {"QueueUrl": url, "MessageBody": f"m{i}"})
        out.append(time.perf_counter() - start)
    return out


def _median_p99(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return xs[len(xs) // 2], xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]


def parked_polls(python: str, cfg: Config) -> dict[str, Any]:
    """SendMessage round trips with no poll parked, then with ``parked_polls`` ReceiveMessage
    long polls (WaitTimeSeconds 20) parked on the queue: each send hands one message to one."""
    with daemon(python) as d:
        admin = connect(d)
        url = call(admin, "sqs", "CreateQueue", {"QueueName": "lp"})["r"]["QueueUrl"]
        idle = _send_latencies(admin, url, cfg.sends)
        call(admin, "sqs", "PurgeQueue", {"QueueUrl": url})
        poll = {"QueueUrl": url, "WaitTimeSeconds": 20}
        socks = []
        for first in range(0, cfg.parked_polls, POLLS_PER_CONNECTION):
            s = connect(d)
            n = min(POLLS_PER_CONNECTION, cfg.parked_polls - first)
            s.sendall(
                b"".join(
                    wire.encode(
                        {"t": "req", "id": i, "svc": "sqs", "op": "ReceiveMessage", "p": poll}
                    )
                    for i in range(n)
                )
            )
            socks.append(s)
        settle(1.0 + cfg.parked_polls / 2000)  # every poll parked (10,000: about 5 s)
        busy = _send_latencies(admin, url, cfg.sends)
        for s in socks:
            s.close()
        admin.close()
    m0, p0 = _median_p99(idle)
    m1, p1 = _median_p99(busy)
    return {"idle_median_s": m0, "idle_p99_s": p0, "parked_median_s": m1, "parked_p99_s": p1}


def _slow_worker(d: Daemon) -> socket.socket:
    """A worker of function ``f`` that registers, then never reads (a small receive buffer)."""
    s = connect(d)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    call(s, "worker", "Register", {"FunctionName": "f", "Concurrency": 1000})
    return s


def slow_worker(python: str, cfg: Config) -> dict[str, Any]:
    """RSS growth after ``worker_events`` async invokes of ``worker_event_size`` bytes to a worker
    that never reads, and after each of ``worker_cycles`` cycles of: such a worker connects,
    gets as many events, disconnects. Events the daemon keeps for a later retry count too (as
    they would on AWS); what a gone worker's connection buffered should not."""
    with daemon(python) as d:
        admin = connect(d)
        call(admin, "lambda", "CreateFunction", {"FunctionName": "f", "Handler": "no_such.handler"})
        pad = "x" * cfg.worker_event_size

        def events() -> None:
            for i in range(cfg.worker_events):
                p = {
                    "FunctionName": "f",
                    "InvocationType": "Event",
                    "Payload": json.dumps({"i": i, "pad": pad}).encode(),
                }
                call(admin, "lambda", "Invoke", p)

        settle()
        before, _ = d.memory()
        growth = []
        connected = 0
        for cycle in range(cfg.worker_cycles + 1):
            worker = _slow_worker(d)
            events()
            settle(1.0)
            if cycle == 0:
                connected = d.memory()[0] - before
            worker.close()
            settle(1.0)
            growth.append(d.memory()[0] - before)
        admin.close()
    return {"connected_growth_bytes": connected, "growth_after_cycles_bytes": growth}


def _pipeline(s: socket.socket, svc: str, op: str, params: list[dict[str, Any]]) -> None:
    """Send one request per item of ``params``, at most POLLS_PER_CONNECTION in flight, and read
    every answer; raise if one is an error."""
    decoder = wire.FrameDecoder(2**32)
    for first in range(0, len(params), POLLS_PER_CONNECTION):
        chunk = params[first : first + POLLS_PER_CONNECTION]
        s.sendall(
            b"".join(
                wire.encode({"t": "req", "id": i, "svc": svc, "op": op, "p": p})
                for i, p in enumerate(chunk)
            )
        )
        answers: list[dict[str, Any]] = []
        while len(answers) < len(chunk):
            data = s.recv(1 << 20)
            if not data:
                raise ConnectionError("closed")
            answers += decoder.feed(data)
        errors = [a["e"] for a in answers if a.get("e")]
        if errors:
            raise RuntimeError(f"{op}: {errors[0]}")


def memory_per_parked_poll(python: str, cfg: Config) -> dict[str, Any]:
    """RSS growth / ``memory_polls`` once that many long polls are parked on one queue; the
    connections they come on (200 polls each) are opened, past their hello, before measuring."""
    with daemon(python) as d:
        admin = connect(d)
        url = call(admin, "sqs", "CreateQueue", {"QueueName": "lp"})["r"]["QueueUrl"]
        n_conns = -(-cfg.memory_polls // POLLS_PER_CONNECTION)
        socks = [connect(d) for _ in range(n_conns)]
        settle(1.0)
        before, _ = d.memory()
        poll = {"QueueUrl": url, "WaitTimeSeconds": 20}
        for k, s in enumerate(socks):
            n = min(POLLS_PER_CONNECTION, cfg.memory_polls - k * POLLS_PER_CONNECTION)
            s.sendall(
                b"".join(
                    wire.encode(
                        {"t": "req", "id": i, "svc": "sqs", "op": "ReceiveMessage", "p": poll}
                    )
                    for i in range(n)
                )
            )
        settle(1.0 + cfg.memory_polls / 2000)  # every poll parked (10,000: about 5 s)
        after, _ = d.memory()
        for s in socks:
            s.close()
        admin.close()
    return {"bytes_per_parked_poll": (after - before) / cfg.memory_polls}


def memory_per_queued_message(python: str, cfg: Config) -> dict[str, Any]:
    """RSS growth / ``queued_messages`` once that many messages of ``queued_message_size`` bytes
    are queued in one standard queue (SendMessageBatch, 10 a call)."""
    with daemon(python) as d:
        admin = connect(d)
        url = call(admin, "sqs", "CreateQueue", {"QueueName": "depth"})["r"]["QueueUrl"]
        body = "m" * cfg.queued_message_size
        batches = [
            {
                "QueueUrl": url,
                "Entries": [{"Id": str(j), "MessageBody": body} for j in range(10)],
            }
            for _ in range(cfg.queued_messages // 10)
        ]
        settle()
        before, _ = d.memory()
        _pipeline(admin, "sqs", "SendMessageBatch", batches)
        settle()
        after, _ = d.memory()
        attrs = call(
            admin,
            "sqs",
            "GetQueueAttributes",
            {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]},
        )
        queued = int(attrs["r"]["Attributes"]["ApproximateNumberOfMessages"])
        admin.close()
    return {"bytes_per_queued_message": (after - before) / queued, "queued": queued}


def memory_per_queue(python: str, cfg: Config) -> dict[str, Any]:
    """RSS growth / ``queues`` once that many (empty, standard) queues are created."""
    with daemon(python) as d:
        admin = connect(d)
        call(admin, "sqs", "CreateQueue", {"QueueName": "warm"})
        settle()
        before, _ = d.memory()
        _pipeline(admin, "sqs", "CreateQueue", [{"QueueName": f"q{i}"} for i in range(cfg.queues)])
        settle()
        after, _ = d.memory()
        admin.close()
    return {"bytes_per_queue": (after - before) / cfg.queues}


PROBES: dict[str, Callable[[str, Config], dict[str, Any]]] = {
    "idle": idle_connection_bytes,
    "flood": prelogin_flood,
    "amplification_one_array": lambda py, cfg: amplification(py, cfg, None),
    "amplification_spread": lambda py, cfg: amplification(py, cfg, 65535),
    "unread_answers": unread_answers,
    "parked_polls": parked_polls,
    "slow_worker": slow_worker,
    "memory_per_parked_poll": memory_per_parked_poll,
    "memory_per_queued_message": memory_per_queued_message,
    "memory_per_queue": memory_per_queue,
}


def run_all(cfg: Config, pythons: dict[str, str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {name: {} for name in pythons}
    for probe, fn in PROBES.items():
        for name, python in pythons.items():  # taking turns, probe by probe
            results[name][probe] = fn(python, cfg)
    return results


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def format_report(results: dict[str, dict[str, Any]], cfg: Config) -> str:
    lines = []
    for name, r in results.items():
        lines.append(f"== {name}")
        lines.append(
            f"  memory per idle connection: {r['idle']['bytes_per_idle_connection']:,.0f} B"
        )
        f = r["flood"]
        lines.append(
            f"  pre-login flood ({cfg.flood_connections} x {cfg.flood_frame:,} B first frames): "
            f"peak +{_mb(f['flood_peak_growth_bytes'])}, frames sent whole "
            f"{f['flood_frames_sent_whole']}, daemon alive {f['flood_daemon_alive']}"
        )
        for key, label in (
            ("amplification_one_array", "one array of empty arrays"),
            ("amplification_spread", "empty arrays in arrays of 65,535"),
        ):
            a = r[key]
            lines.append(
                f"  amplification, {cfg.amplification_frame:,} B frame, {label}: peak "
                f"+{_mb(a['peak_growth_bytes'])}, answer {a['answer']}, {a['seconds']:.2f} s"
            )
        u = r["unread_answers"]
        lines.append(
            f"  {cfg.pipelined} pipelined ReceiveMessage of 10 x {cfg.message_size:,} B, unread: "
            f"peak +{_mb(u['peak_growth_bytes'])}, requests handled {u['requests_handled']}"
        )
        lp = r["parked_polls"]
        lines.append(
            f"  SendMessage latency, no poll parked: median {lp['idle_median_s'] * 1e3:.2f} ms, "
            f"p99 {lp['idle_p99_s'] * 1e3:.2f} ms; with {cfg.parked_polls:,} parked polls: "
            f"median {lp['parked_median_s'] * 1e3:.2f} ms, p99 {lp['parked_p99_s'] * 1e3:.2f} ms"
        )
        w = r["slow_worker"]
        cycles = ", ".join(f"+{_mb(g)}" for g in w["growth_after_cycles_bytes"])
        lines.append(
            f"  worker that never reads, {cfg.worker_events} async events of "
            f"{cfg.worker_event_size:,} B: +{_mb(w['connected_growth_bytes'])} while connected; "
            f"after it left, then after each of {cfg.worker_cycles} more connect/disconnect "
            f"cycles: {cycles}"
        )
        lines.append(
            f"  memory per parked long poll ({cfg.memory_polls:,} parked): "
            f"{r['memory_per_parked_poll']['bytes_per_parked_poll']:,.0f} B"
        )
        q = r["memory_per_queued_message"]
        lines.append(
            f"  memory per queued {cfg.queued_message_size:,} B message ({q['queued']:,} queued): "
            f"{q['bytes_per_queued_message']:,.0f} B"
        )
        lines.append(
            f"  memory per queue ({cfg.queues:,} queues): "
            f"{r['memory_per_queue']['bytes_per_queue']:,.0f} B"
        )
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--baseline",
        metavar="PYTHON",
        help="also probe the daemon this interpreter runs (e.g. a main checkout's venv)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    if not Path("/proc/self/status").exists():
        print("bench limits reads memory from /proc: Linux only", file=sys.stderr)
        return 2
    cfg = QUICK if args.quick else Config()
    pythons = {"this": sys.executable}
    if args.baseline:
        pythons = {"baseline": args.baseline, **pythons}
    for name, python in pythons.items():
        where = subprocess.run(
            [
                python,
                "-c",
                "import msgsim.adapters, os; print(os.path.dirname(msgsim.adapters.__file__))",
            ],
            capture_output=True,
            text=True,
            cwd="/",
        ).stdout.strip()
        print(f"{name}: {python} (msgsim.adapters from {where})")
    results = run_all(cfg, pythons)
    print(format_report(results, cfg))
    if args.json:
        print(json.dumps(results, indent=1))
    return 0
