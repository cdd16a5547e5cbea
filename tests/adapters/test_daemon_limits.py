"""What a client may make ``msgsim serve`` hold, over real sockets (docs/protocol.md, Limits).

Each test reproduces a probe of issue 18 that exhausted the daemon: bytes buffered before the
hello and in total, a frame that decodes to many times its size or nests deep, answers nobody
reads, connections nobody closes, and accept() failing with EMFILE. Plain synchronous tests with
stdlib sockets: every read has a timeout, so a hang is a failure; real clock, loopback only, and
every process is started here and ended by its id.
"""

from __future__ import annotations

import resource
import signal
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trio
from daemon import Daemon, daemon, start_daemon, stop

from msgsim.adapters import TcpClient, wire

pytestmark = pytest.mark.real_clock

#: Real seconds within which something "prompt" must happen (the machine may be busy).
PROMPT = 5.0
HELLO = wire.encode({"t": wire.HELLO, "v": wire.PROTOCOL_VERSION, "token": None})


class Raw:
    """One socket to the daemon, reading frames with a client's decoder."""

    def __init__(self, d: Daemon, *, hello: bool = True, timeout: float = PROMPT) -> None:
        self.sock = socket.create_connection((d.host, d.port), timeout=timeout)
        self.decoder = wire.FrameDecoder(2**32)
        self.inbox: list[dict[str, Any]] = []
        if hello:
            self.sock.sendall(HELLO)
            assert self.recv()["t"] == wire.WELCOME

    def recv(self) -> dict[str, Any] | None:
        """The next message; None once the daemon closed the connection."""
        while not self.inbox:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.inbox += self.decoder.feed(data)
        return self.inbox.pop(0)

    def call(self, svc: str, op: str, p: dict[str, Any], rid: int = 1) -> dict[str, Any]:
        self.sock.sendall(wire.encode({"t": "req", "id": rid, "svc": svc, "op": op, "p": p}))
        m = self.recv()
        assert m is not None and m["t"] == "res" and m["id"] == rid, m
        return m

    def fatal(self) -> dict[str, Any]:
        """Read up to the daemon's fatal frame (the last it sends) and its close."""
        while (m := self.recv()) is not None:
            if m["t"] == wire.FATAL:
                assert self.recv() is None
                return m["e"]
        pytest.fail("the daemon closed the connection without a fatal frame")

    def close(self) -> None:
        self.sock.close()


@contextmanager
def raw(d: Daemon, **kw: Any) -> Iterator[Raw]:
    c = Raw(d, **kw)
    try:
        yield c
    finally:
        c.close()


def frame_of(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def ended(d: Daemon) -> str:
    """Stop ``d`` (SIGTERM, waited for) and return its log (stderr)."""
    d.signal(signal.SIGTERM)
    d.wait()
    log = d.errors()
    stop(d.proc)
    return log


def requests_read(d: Daemon) -> int:
    """Requests the daemon has read since it started (Stats), less this Stats request."""
    with raw(d) as c:
        return c.call("admin", "Stats", {})["r"]["Requests"] - 1


@pytest.fixture(scope="module")
def shared():
    with daemon() as d:
        yield d


def test_before_its_hello_a_connection_may_send_only_a_small_frame(shared):
    """The probe: 32 connections each buffered a 16 MiB frame before saying hello. Now a frame
    over HELLO_MAX_FRAME before the hello is refused at its length prefix, at once."""
    with raw(shared, hello=False) as c:
        c.sock.sendall(struct.pack(">I", wire.HELLO_MAX_FRAME + 1) + b"\x00" * 1000)
        err = c.fatal()
    assert err["code"] == "FrameTooLarge" and "before the hello" in err["message"]
    with raw(shared) as c:  # a hello of ordinary size is still welcome; then frames of any size
        got = c.call("sqs", "NoSuchOperation", {"pad": b"x" * (1 << 20)})
        assert got["e"]["code"] == "InvalidAction"


def test_a_frame_of_empty_arrays_or_deep_nesting_gets_a_fatal_frame(shared):
    """The probe: a frame of empty arrays decoded to about 75 times its size (a 16 MiB hello
    peaked the daemon at 1.28 GB). Now decoding stops at one value per BYTES_PER_VALUE bytes,
    and nesting past MAX_DEPTH is refused before anything walks it: a fatal frame each."""
    n = 1 << 20
    empties = b"\x81\xa1p\xdd" + struct.pack(">I", n) + b"\x90" * n  # {"p": [[], [], ...]}
    deep = b"\x81\xa1p" + b"\x91" * 900 + b"\xc0"  # {"p": [[[...nil...]]]}, 901 levels
    for payload in (empties, deep):
        with raw(shared) as c:
            c.sock.sendall(frame_of(payload))
            assert c.fatal()["code"] == "FrameTooComplex"
    with raw(shared) as c:  # the daemon goes on
        assert c.call("admin", "Health", {})["r"]["Status"] == "ok"


def test_answers_nobody_reads_stop_the_reading_of_pipelined_requests(shared):
    """The probe: 100 pipelined ReceiveMessage requests (one read) for 10 large messages, never
    read, grew the daemon by 1 GB, since the outbound limit was checked only between reads.
    Now it is checked after each request: the daemon handles a few and waits."""
    body = "b" * 200_000
    with raw(shared) as c:
        url = c.call("sqs", "CreateQueue", {"QueueName": "unread-answers"})["r"]["QueueUrl"]
        for i in range(10):
            c.call("sqs", "SendMessage", {"QueueUrl": url, "MessageBody": body}, rid=i + 2)
    before = requests_read(shared)
    receive = {"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0}
    pipelined = b"".join(
        wire.encode({"t": "req", "id": i, "svc": "sqs", "op": "ReceiveMessage", "p": receive})
        for i in range(100)
    )
    with raw(shared) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.sock.sendall(pipelined)  # 100 answers of 2 MB each: 200 MB if all were made
        time.sleep(0.5)
        handled = requests_read(shared) - before - 1  # less requests_read's own Stats
        assert 1 <= handled <= 12, handled
        got = 0
        while got < 100:  # reading them, the client gets every answer
            m = c.recv()
            assert m is not None and m["t"] == "res" and len(m["r"]["Messages"]) == 10
            got += 1


def test_large_frames_share_a_buffer_budget_and_wait_for_it():
    """Beyond OWN_BUFFER, a frame's bytes are reserved from --max-buffered before they are read:
    with room for two 1 MiB frames, a third waits until one of the first two is complete."""
    size = 1 << 20
    with daemon("--max-frame", str(size), "--max-buffered", str(2 * size)) as d:
        frames = [
            wire.encode(
                {"t": "req", "id": i, "svc": "sqs", "op": "Nope", "p": {"pad": b"x" * (size - 100)}}
            )
            for i in range(3)
        ]
        with raw(d) as a, raw(d) as b, raw(d, timeout=0.8) as c:
            a.sock.sendall(frames[0][: size // 2])
            b.sock.sendall(frames[1][: size // 2])
            time.sleep(0.3)  # both reservations are held
            c.sock.sendall(frames[2][:200_000])
            with pytest.raises(TimeoutError):
                c.recv()  # not read: no answer even to what it could have read
            a.sock.sendall(frames[0][size // 2 :])
            assert a.recv()["e"]["code"] == "InvalidAction"
            c.sock.settimeout(PROMPT)
            c.sock.sendall(frames[2][200_000:])
            assert c.recv()["e"]["code"] == "InvalidAction"
            b.sock.sendall(frames[1][size // 2 :])
            assert b.recv()["e"]["code"] == "InvalidAction"


def test_connections_over_the_limit_get_a_fatal_frame_and_one_log_line():
    d = start_daemon("--max-connections", "3")
    try:
        held = [Raw(d) for _ in range(3)]
        for _ in range(3):
            with raw(d, hello=False) as extra:
                extra.sock.sendall(HELLO)
                err = extra.fatal()
            assert err["code"] == "ServiceUnavailable" and "limit of 3" in err["message"]
        held.pop().close()
        deadline = time.monotonic() + PROMPT
        while True:  # the daemon notices the close, then serves a new connection
            with raw(d, hello=False) as again:
                again.sock.sendall(HELLO)
                if again.recv()["t"] == wire.WELCOME:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for c in held:
            c.close()
        log = ended(d)
    finally:
        stop(d.proc)
    assert log.count("at the limit of 3 connections") == 1, log


async def test_idle_connections_are_closed_but_not_one_waiting_on_a_long_poll():
    """--idle-timeout: a connection that asks nothing gets a fatal IdleTimeout; one with a long
    poll in flight is not idle; a TcpClient closed for idleness reconnects on its next call."""
    with daemon("--idle-timeout", "0.5") as d:
        async with TcpClient.connect(d.host, d.port) as aws:
            sqs = aws.client("sqs")
            url = (await sqs.create_queue(QueueName="idle"))["QueueUrl"]
            with raw(d) as idle, raw(d) as polling:
                polling.sock.sendall(
                    wire.encode(
                        {
                            "t": "req",
                            "id": 1,
                            "svc": "sqs",
                            "op": "ReceiveMessage",
                            "p": {"QueueUrl": url, "WaitTimeSeconds": 2},
                        }
                    )
                )
                start = time.monotonic()
                err = await trio.to_thread.run_sync(idle.fatal)
                assert err["code"] == "IdleTimeout"
                assert 0.4 < time.monotonic() - start < PROMPT
                answer = await trio.to_thread.run_sync(polling.recv)
                assert answer["t"] == "res" and answer["r"] == {}  # the poll ran its 2 s
                assert time.monotonic() - start > 1.5
                assert (await trio.to_thread.run_sync(polling.fatal))["code"] == "IdleTimeout"
            await trio.sleep(1)  # the client's own connection is closed meanwhile
            await sqs.send_message(QueueUrl=url, MessageBody="after a reconnect")
            got = await sqs.receive_message(QueueUrl=url)
            assert got["Messages"][0]["Body"] == "after a reconnect"
        d.signal()
        d.wait()
        assert "closing a connection idle for 0.5 seconds" in d.errors()


def _few_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))


def test_emfile_on_accept_backs_off_with_one_log_line_and_recovers():
    """The probe: at its open-file limit the daemon logged an EMFILE traceback ten times a
    second. Now accept() backs off (100 ms doubling) with one line, and recovers."""
    d = start_daemon("--max-connections", "1000", preexec_fn=_few_files)
    socks: list[socket.socket] = []
    try:
        for _ in range(60):  # more than the daemon has descriptors for
            socks.append(socket.create_connection((d.host, d.port), timeout=PROMPT))
        time.sleep(1.5)
        for s in socks:
            s.close()
        socks.clear()
        deadline = time.monotonic() + PROMPT
        while True:
            try:
                with raw(d, timeout=1.0):
                    break
            except (TimeoutError, ConnectionError, AssertionError):
                assert time.monotonic() < deadline
        log = ended(d)
    finally:
        for s in socks:
            s.close()
        stop(d.proc)
    assert log.count("cannot accept connections: EMFILE") == 1, log
    assert "Traceback" not in log, log
    assert "accepting connections again" in log, log
