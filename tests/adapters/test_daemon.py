"""``msgsim serve`` as a real subprocess on a loopback port, reached with :class:`TcpClient`:
the banner and the bind address, clean shutdown on SIGINT and SIGTERM, requests answered as
they complete, the per-connection in-flight window, the token, the admin operations, error
codes, reconnecting to a restarted daemon and bytes that cannot be framed.

Everything here is about a real process and real sockets, so it runs on the real clock. Tests
that only read share one daemon per module; a test that stops its daemon, counts connections or
needs other options starts its own. Each test is independent of the others' order.
"""

from __future__ import annotations

import math
import signal
import socket
import struct
import time
from functools import partial

import pytest
import trio
import trio.testing
from daemon import Daemon, daemon, run_cli, start_daemon, stop

from msgsim.adapters import TcpClient
from msgsim.adapters.wire import FATAL, PROTOCOL_VERSION, WELCOME, FrameDecoder, encode
from msgsim.broker.errors import (
    BrokerError,
    InvalidAction,
    InvalidClientTokenId,
    InvalidParameterValue,
    QueueDoesNotExist,
    ServiceUnavailable,
    UnsupportedOperation,
)

pytestmark = pytest.mark.real_clock

#: Real seconds within which something "prompt" must happen (the machine may be busy).
PROMPT = 5.0


# ---------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def shared():
    """A real-clock daemon for tests that do not stop it or depend on its counters."""
    with daemon() as d:
        yield d


@pytest.fixture(scope="module")
def virtual():
    """A daemon on the virtual clock (``--clock virtual``), for AdvanceClock."""
    with daemon("--clock", "virtual") as d:
        yield d


async def wait_in_flight(admin, n: int) -> dict:
    """Poll Stats until the daemon has ``n`` requests in flight besides the Stats request
    itself (a Stats request is in flight while it runs, so it counts itself)."""
    with trio.fail_after(PROMPT):
        while True:
            stats = await admin.stats()
            if stats["RequestsInFlight"] == n + 1:
                return stats
            await trio.sleep(0.01)


class RequestsRead:
    """Counts the requests the daemon has read (Stats' ``Requests``) since it was made, less
    the Stats requests it made itself. Use it only while nothing else asks for Stats."""

    def __init__(self, admin) -> None:
        self.admin = admin
        self.base: int | None = None
        self.own = 0

    async def stats(self) -> tuple[int, dict]:
        stats = await self.admin.stats()
        self.own += 1
        if self.base is None:
            self.base = stats["Requests"]
        return stats["Requests"] - self.base - (self.own - 1), stats

    async def wait_for(self, n: int) -> None:
        with trio.fail_after(PROMPT):
            while (await self.stats())[0] < n:
                await trio.sleep(0.01)


async def read_messages(
    stream: trio.abc.Stream, decoder: FrameDecoder, n: int | None = None
) -> list[dict]:
    """The next ``n`` messages the daemon sends on a raw connection (None: every message until
    it closes the connection)."""
    messages: list[dict] = []
    with trio.fail_after(PROMPT):
        while n is None or len(messages) < n:
            data = await stream.receive_some(65536)
            if not data:
                break
            messages += decoder.feed(data)
    return messages


async def read_until_closed(stream: trio.abc.Stream) -> list[dict]:
    return await read_messages(stream, FrameDecoder())


async def stopped(d: Daemon, signum: int = signal.SIGTERM) -> tuple[int, str]:
    """Signal ``d``, wait for it to end; its exit code and stderr."""
    d.signal(signum)
    code = await trio.to_thread.run_sync(d.wait)
    return code, d.errors()


def hello(token: str | None = None) -> bytes:
    return encode({"t": "hello", "v": PROTOCOL_VERSION, "token": token})


async def open_raw(host: str, port: int) -> tuple[trio.SocketStream, FrameDecoder]:
    """A raw connection to the daemon, past its hello and welcome."""
    raw = await trio.open_tcp_stream(host, port)
    decoder = FrameDecoder()
    await raw.send_all(hello())
    [welcome] = await read_messages(raw, decoder, 1)
    assert welcome["t"] == WELCOME
    return raw, decoder


async def connect_error(host: str, port: int, **options) -> Exception:
    """The error ``TcpClient.connect`` fails with."""
    try:
        async with TcpClient.connect(host, port, **options):
            pass
    except Exception as exc:
        return exc
    pytest.fail(f"TcpClient.connect({host!r}, {port}, {options}) succeeded")


# ---------------------------------------------------------------------------- start-up
async def test_serve_port_0_prints_the_loopback_address_it_listens_on_and_that_port_works(
    shared,
):
    # The banner shows the bound socket's own address: loopback unless --host says otherwise.
    assert "listening on 127.0.0.1:" in shared.banner
    assert shared.host == "127.0.0.1"
    assert shared.port > 0
    assert shared.banner.startswith("msgsim serve: listening on 127.0.0.1:")
    assert "(clock: real; seed 0; msgsim " in shared.banner
    async with TcpClient.connect(shared.host, shared.port) as aws:
        assert aws.welcome["v"] == PROTOCOL_VERSION
        assert (await aws.client("admin").health())["Status"] == "ok"


async def test_the_virtual_clock_s_banner_says_it_runs_at_real_speed_unless_rate_says_otherwise(
    virtual,
):
    """``--clock virtual`` without ``--rate`` runs at real speed (a 20 s long poll takes 20 s);
    the start-up line says so, and that AdvanceClock jumps it."""
    assert virtual.banner.startswith(f"msgsim serve: listening on 127.0.0.1:{virtual.port} ")
    assert (
        "(clock: virtual, rate 1.0x, real speed: a 20 s long poll takes 20 s; --rate R runs it "
        "R times as fast and AdvanceClock jumps it; seed 0; msgsim "
    ) in virtual.banner


async def test_rate_runs_the_virtual_clock_that_many_times_as_fast_as_the_banner_says():
    with daemon("--clock", "virtual", "--rate", "100") as d:
        assert "(clock: virtual, rate 100.0x; AdvanceClock jumps it; seed 0;" in d.banner
        async with TcpClient.connect(d.host, d.port) as aws:
            sqs = aws.client("sqs")
            url = (await sqs.create_queue(QueueName="q"))["QueueUrl"]
            start = time.monotonic()
            assert await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20) == {}
            assert time.monotonic() - start < 20 / 4  # 0.2 s at 100x; far below 20 s


# ---------------------------------------------------------------------------- shutdown
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_signal_exits_0_answers_a_pending_long_poll_empty_at_once_and_refuses_new_connections(
    signum,
):
    d = start_daemon()
    try:
        async with TcpClient.connect(d.host, d.port) as aws:
            sqs = aws.client("sqs")
            url = (await sqs.create_queue(QueueName="shutdown"))["QueueUrl"]
            answer: dict = {}

            async def long_poll() -> None:
                answer["r"] = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
                answer["at"] = time.monotonic()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(long_poll)
                await wait_in_flight(aws.client("admin"), 1)
                signalled = time.monotonic()
                d.signal(signum)
            assert answer["r"] == {}  # as when its wait time ends: no error
            assert answer["at"] - signalled < PROMPT  # not the 20 s wait
            with pytest.raises(OSError):
                await trio.open_tcp_stream(d.host, d.port)
            code = await trio.to_thread.run_sync(d.wait)
        assert code == 0
        assert "msgsim stopped" in d.output()
        assert isinstance(await connect_error(d.host, d.port), ServiceUnavailable)
    finally:
        stop(d.proc)


# ---------------------------------------------------------------------------- multiplexing
async def test_requests_complete_behind_a_pending_long_poll_and_a_cancelled_poll_takes_nothing(
    shared,
):
    async with TcpClient.connect(shared.host, shared.port) as aws:
        sqs = aws.client("sqs")
        polled = (await sqs.create_queue(QueueName="multiplex-polled"))["QueueUrl"]
        other = (await sqs.create_queue(QueueName="multiplex-other"))["QueueUrl"]
        answer: dict = {}
        with trio.CancelScope() as poll_scope:
            async with trio.open_nursery() as nursery:

                async def long_poll() -> None:
                    answer["r"] = await sqs.receive_message(QueueUrl=polled, WaitTimeSeconds=20)

                nursery.start_soon(long_poll)
                await wait_in_flight(aws.client("admin"), 1)
                started = time.monotonic()
                async with trio.open_nursery() as burst:
                    for i in range(100):
                        burst.start_soon(
                            lambda i=i: sqs.send_message(QueueUrl=other, MessageBody=str(i))
                        )
                assert time.monotonic() - started < PROMPT
                assert not answer  # still waiting behind them, not in front
                attrs = await sqs.get_queue_attributes(
                    QueueUrl=other, AttributeNames=["ApproximateNumberOfMessages"]
                )
                assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "100"
                cancelled = time.monotonic()
                poll_scope.cancel()
        assert poll_scope.cancelled_caught
        assert not answer
        assert time.monotonic() - cancelled < PROMPT
        # The cancelled long poll did not happen: a message sent now is the next receive's,
        # received for the first time.
        await sqs.send_message(QueueUrl=polled, MessageBody="after the cancel")
        got = await sqs.receive_message(
            QueueUrl=polled, MessageSystemAttributeNames=["ApproximateReceiveCount"]
        )
        [message] = got["Messages"]
        assert message["Body"] == "after the cancel"
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"


async def test_max_in_flight_holds_a_third_long_poll_and_stops_reading_until_a_slot_frees():
    with daemon("--max-in-flight", "2") as d:
        async with (
            TcpClient.connect(d.host, d.port) as busy,
            TcpClient.connect(d.host, d.port) as other,
        ):
            assert busy.welcome["max_in_flight"] == 2
            sqs = busy.client("sqs")
            other_sqs = other.client("sqs")
            admin = other.client("admin")
            # One queue per long poll: which poll answers is then decided by what is sent where.
            urls = {
                n: (await sqs.create_queue(QueueName=f"window-{n}"))["QueueUrl"] for n in (1, 2, 3)
            }
            answers: dict[str, dict] = {}

            async def call(name: str, fn) -> None:
                answers[name] = await fn()

            async def answered(*names: str) -> None:
                with trio.fail_after(PROMPT):
                    while not set(names) <= answers.keys():
                        await trio.sleep(0.01)

            def long_poll(n: int):
                return partial(sqs.receive_message, QueueUrl=urls[n], WaitTimeSeconds=20)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, "poll-1", long_poll(1))
                nursery.start_soon(call, "poll-2", long_poll(2))
                await wait_in_flight(admin, 2)  # the window is full
                read = RequestsRead(admin)
                await read.stats()
                nursery.start_soon(call, "poll-3", long_poll(3))
                await trio.testing.wait_all_tasks_blocked()  # poll-3 is on the wire first
                nursery.start_soon(
                    call, "get-url", partial(sqs.get_queue_url, QueueName="window-1")
                )
                await read.wait_for(1)  # the daemon read poll-3 ...
                await trio.sleep(0.3)
                n_read, stats = await read.stats()
                assert n_read == 1  # ... and stopped reading: the GetQueueUrl waits unread
                assert stats["RequestsInFlight"] == 2 + 1  # poll-3 not started (+ this Stats)
                assert answers == {}

                # A message sent on another connection frees poll-1's slot: the daemon reads
                # again, starts poll-3 and answers the GetQueueUrl.
                await other_sqs.send_message(QueueUrl=urls[1], MessageBody="m1")
                await answered("poll-1", "get-url")
                assert answers.keys() == {"poll-1", "get-url"}
                assert [m["Body"] for m in answers["poll-1"]["Messages"]] == ["m1"]
                assert answers["get-url"]["QueueUrl"] == urls[1]
                await wait_in_flight(admin, 2)  # poll-2 and poll-3

                await other_sqs.send_message(QueueUrl=urls[3], MessageBody="m3")
                await answered("poll-3")
                assert [m["Body"] for m in answers["poll-3"]["Messages"]] == ["m3"]
                await other_sqs.send_message(QueueUrl=urls[2], MessageBody="m2")
                await answered("poll-2")
                assert [m["Body"] for m in answers["poll-2"]["Messages"]] == ["m2"]


async def test_a_second_long_poll_on_a_queue_gets_the_next_message_promptly(shared):
    async with TcpClient.connect(shared.host, shared.port) as aws:
        sqs = aws.client("sqs")
        url = (await sqs.create_queue(QueueName="two-consumers"))["QueueUrl"]
        answers: list[dict] = []

        async def long_poll() -> None:
            answers.append(await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))

        async def answered(n: int, timeout: float) -> None:
            with trio.fail_after(timeout):
                while len(answers) < n:
                    await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_poll)
            nursery.start_soon(long_poll)
            await wait_in_flight(aws.client("admin"), 2)
            await sqs.send_message(QueueUrl=url, MessageBody="m1")
            await answered(1, PROMPT)
            await trio.sleep(0.1)  # the other poll is waiting again
            await sqs.send_message(QueueUrl=url, MessageBody="m2")
            await answered(2, 2)  # not at the end of its 20 s wait
        assert [m["Body"] for a in answers for m in a["Messages"]] == ["m1", "m2"]


async def test_a_long_poll_held_by_back_pressure_sees_a_message_that_arrived_meanwhile():
    with daemon("--max-in-flight", "1") as d:
        async with (
            TcpClient.connect(d.host, d.port) as busy,
            TcpClient.connect(d.host, d.port) as other,
        ):
            sqs = busy.client("sqs")
            other_sqs = other.client("sqs")
            first_url = (await sqs.create_queue(QueueName="first"))["QueueUrl"]
            held_url = (await sqs.create_queue(QueueName="held"))["QueueUrl"]
            answers: dict[str, dict] = {}

            async def long_poll(url: str) -> None:
                answers[url] = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(long_poll, first_url)
                admin = other.client("admin")
                await wait_in_flight(admin, 1)  # the window is full
                read = RequestsRead(admin)
                await read.stats()
                nursery.start_soon(long_poll, held_url)
                await read.wait_for(1)  # the daemon read the held poll: it waits for a slot
                await other_sqs.send_message(QueueUrl=held_url, MessageBody="waiting for you")
                await other_sqs.send_message(QueueUrl=first_url, MessageBody="frees the slot")
                with trio.fail_after(2):  # not at the end of its 20 s wait
                    while held_url not in answers:
                        await trio.sleep(0.01)
            assert [m["Body"] for m in answers[first_url]["Messages"]] == ["frees the slot"]
            assert [m["Body"] for m in answers[held_url]["Messages"]] == ["waiting for you"]


# ---------------------------------------------------------------------------- token
async def test_token_flag_refuses_a_client_without_the_token_at_connect(monkeypatch):
    monkeypatch.delenv("MSGSIM_TOKEN", raising=False)
    with daemon("--token", "s3cret") as d:
        for token in (None, "wrong"):
            refused = await connect_error(d.host, d.port, token=token)
            assert isinstance(refused, InvalidClientTokenId)
            assert refused.code == "InvalidClientTokenId"
        async with TcpClient.connect(d.host, d.port, token="s3cret") as aws:
            assert (await aws.client("sqs").list_queues()) == {}


async def test_msgsim_token_environment_variable_sets_the_daemon_and_the_client_token(
    monkeypatch,
):
    with daemon(env={"MSGSIM_TOKEN": "s3cret"}) as d:
        monkeypatch.delenv("MSGSIM_TOKEN", raising=False)
        assert isinstance(await connect_error(d.host, d.port), InvalidClientTokenId)
        monkeypatch.setenv("MSGSIM_TOKEN", "s3cret")
        async with TcpClient.connect(d.host, d.port) as aws:
            assert aws.token == "s3cret"
            assert (await aws.client("admin").health())["Status"] == "ok"


async def test_a_failed_connect_raises_the_broker_error_itself():
    with socket.socket() as bound:  # bound and not listening: connections to it are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(ServiceUnavailable):
            async with TcpClient.connect("127.0.0.1", port):
                pass


# ---------------------------------------------------------------------------- CLI errors
async def test_serve_on_a_port_in_use_says_so_in_one_line_and_exits_1(shared):
    done = run_cli("serve", "--port", str(shared.port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"msgsim serve: cannot listen on 127.0.0.1:{shared.port}: [Errno 98] Address already in use"
    ]


async def test_worker_without_a_daemon_says_so_in_one_line_and_exits_1():
    with socket.socket() as bound:  # bound and not listening: connections to it are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        done = run_cli("worker", "--function", "f", "--port", str(port), "json:dumps")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("msgsim worker: ServiceUnavailable: Cannot connect to the broker")
    assert f"127.0.0.1:{port}" in line


async def test_worker_refused_its_token_says_so_in_one_line_and_exits_1(monkeypatch):
    monkeypatch.delenv("MSGSIM_TOKEN", raising=False)
    with daemon("--token", "s3cret") as d:
        done = run_cli("worker", "--function", "f", "--port", str(d.port), "json:dumps")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "msgsim worker: InvalidClientTokenId: The security token included in the request is "
        "invalid."
    ]


# ---------------------------------------------------------------------------- admin
async def test_admin_health_and_version(shared, virtual):
    async with TcpClient.connect(shared.host, shared.port) as aws:
        admin = aws.client("admin")
        health = await admin.health()
        assert health["Status"] == "ok"
        assert health["Clock"] == "real"
        assert abs(health["Now"] - time.time()) < 60  # Unix seconds, real time
        version = await admin.version()
        assert version["Protocol"] == 1
        assert isinstance(version["Server"], str) and version["Server"]
        assert version["Server"] == aws.welcome["server"]
    async with TcpClient.connect(virtual.host, virtual.port) as aws:
        assert (await aws.client("admin").health())["Clock"] == "virtual"


async def test_admin_stats_counts_connections_requests_queues_and_messages():
    with daemon() as d:
        async with TcpClient.connect(d.host, d.port) as aws:
            sqs = aws.client("sqs")
            urls = [(await sqs.create_queue(QueueName=n))["QueueUrl"] for n in ("s1", "s2")]
            for body in ("a", "b", "c"):
                await sqs.send_message(QueueUrl=urls[body == "c"], MessageBody=body)
            got = await sqs.receive_message(QueueUrl=urls[0])
            assert len(got["Messages"]) == 1
            stats = await aws.client("admin").stats()
    assert stats["Connections"] == 1
    assert stats["Requests"] == 2 + 3 + 1 + 1  # the Stats request counts itself
    assert stats["RequestsInFlight"] == 1  # the Stats request itself
    assert stats["Queues"] == 2
    assert stats["Messages"] == 3
    assert stats["MessagesInFlight"] == 1
    assert stats["Topics"] == stats["Streams"] == stats["Functions"] == 0


async def test_admin_reset_leaves_no_queue_topic_stream_or_function_and_the_connection_works(
    shared,
):
    async with TcpClient.connect(shared.host, shared.port) as aws:
        sqs = aws.client("sqs")
        url = (await sqs.create_queue(QueueName="reset-me"))["QueueUrl"]
        await sqs.send_message(QueueUrl=url, MessageBody="gone soon")
        await aws.client("sns").create_topic(Name="reset-topic")
        await aws.client("kinesis").create_stream(StreamName="reset-stream", ShardCount=1)
        await aws.client("lambda").create_function(
            FunctionName="reset-fn", Handler="reset_fn_module:handler"
        )
        admin = aws.client("admin")
        assert await admin.reset() == {}
        assert await sqs.list_queues() == {}
        assert (await aws.client("sns").list_topics())["Topics"] == []
        assert (await aws.client("kinesis").list_streams())["StreamNames"] == []
        assert (await aws.client("lambda").list_functions())["Functions"] == []
        with pytest.raises(QueueDoesNotExist):
            await sqs.get_queue_url(QueueName="reset-me")
        stats = await admin.stats()
        assert (stats["Queues"], stats["Messages"], stats["Topics"]) == (0, 0, 0)
        assert (stats["Streams"], stats["Functions"]) == (0, 0)


async def test_advance_clock_expires_a_message_after_the_default_retention_in_no_real_time(
    virtual,
):
    async with TcpClient.connect(virtual.host, virtual.port) as aws:
        sqs = aws.client("sqs")
        admin = aws.client("admin")
        url = (await sqs.create_queue(QueueName="retention"))["QueueUrl"]
        await sqs.send_message(QueueUrl=url, MessageBody="four days at most")
        before = (await admin.health())["Now"]
        started = time.monotonic()
        advanced = await admin.advance_clock(Seconds=14 * 86400)
        assert time.monotonic() - started < PROMPT
        assert advanced["Now"] - before >= 14 * 86400
        assert await sqs.receive_message(QueueUrl=url) == {}
        attrs = await sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        assert attrs["Attributes"] == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }


async def test_advance_clock_makes_a_delayed_message_receivable(virtual):
    async with TcpClient.connect(virtual.host, virtual.port) as aws:
        sqs = aws.client("sqs")
        admin = aws.client("admin")
        url = (await sqs.create_queue(QueueName="delayed"))["QueueUrl"]
        await sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
        assert await sqs.receive_message(QueueUrl=url) == {}
        # 10 s short of the delay (the virtual clock also moves with real time, so a margin)
        await admin.advance_clock(Seconds=890)
        assert await sqs.receive_message(QueueUrl=url) == {}
        await admin.advance_clock(Seconds=10)
        got = await sqs.receive_message(QueueUrl=url)
        assert [m["Body"] for m in got["Messages"]] == ["later"]


async def test_advance_clock_refuses_bad_seconds(virtual):
    async with TcpClient.connect(virtual.host, virtual.port) as aws:
        admin = aws.client("admin")
        for seconds in (-1, "x", math.inf, math.nan, None, True):
            with pytest.raises(InvalidParameterValue) as refused:
                await admin.advance_clock(Seconds=seconds)
            assert refused.value.code == "InvalidParameterValue"
        with pytest.raises(InvalidParameterValue):
            await admin.advance_clock()
        assert await admin.advance_clock(Seconds=0)


async def test_advance_clock_on_the_real_clock_is_unsupported(shared):
    async with TcpClient.connect(shared.host, shared.port) as aws:
        with pytest.raises(UnsupportedOperation) as refused:
            await aws.client("admin").advance_clock(Seconds=1)
        assert refused.value.code == "UnsupportedOperation"


# ---------------------------------------------------------------------------- errors
async def test_errors_keep_their_codes_over_tcp(shared):
    async with TcpClient.connect(shared.host, shared.port) as aws:
        sqs = aws.client("sqs")
        with pytest.raises(QueueDoesNotExist) as missing:
            await sqs.get_queue_url(QueueName="no-such-queue")
        assert missing.value.code == "QueueDoesNotExist"
        assert missing.value.query_code == "AWS.SimpleQueueService.NonExistentQueue"
        with pytest.raises(AttributeError):
            sqs.no_such_operation  # noqa: B018
        for service in ("sqs", "admin"):
            with pytest.raises(BrokerError) as unknown:
                await aws.call(service, "NoSuchOp", {})
            assert isinstance(unknown.value, InvalidAction)
            assert unknown.value.code == "InvalidAction"
        # the connection is unharmed
        assert (await aws.client("admin").health())["Status"] == "ok"


# ---------------------------------------------------------------------------- reconnect
async def test_client_reconnects_to_a_daemon_restarted_on_the_same_port():
    first = start_daemon()
    second: Daemon | None = None
    try:
        async with (
            TcpClient.connect(first.host, first.port) as aws,
            TcpClient.connect(first.host, first.port, reconnect_timeout=0.5) as impatient,
        ):
            sqs = aws.client("sqs")
            await sqs.create_queue(QueueName="before-restart")
            await impatient.client("admin").health()
            await trio.to_thread.run_sync(stop, first.proc)
            assert first.proc.returncode == 0

            # Down for longer than reconnect_timeout: ServiceUnavailable, after trying for it.
            with pytest.raises(ServiceUnavailable):  # (maybe the dropped connection's news)
                await impatient.client("sqs").list_queues()
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable) as down:
                await impatient.client("sqs").list_queues()
            assert down.value.code == "ServiceUnavailable"
            assert 0.2 <= time.monotonic() - started < PROMPT

            # Down for less than reconnect_timeout (10 s): a call made meanwhile succeeds.
            answer: dict = {}

            async def list_queues() -> None:
                answer["r"] = await sqs.list_queues()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(list_queues)
                await trio.sleep(0.2)
                assert not answer
                second = await trio.to_thread.run_sync(lambda: start_daemon(port=first.port))
            assert second.port == first.port
            assert answer["r"] == {}  # a fresh broker: the queue is gone
            with pytest.raises(QueueDoesNotExist):
                await sqs.get_queue_url(QueueName="before-restart")
            # and the impatient client is back too
            assert (await impatient.client("admin").health())["Status"] == "ok"
    finally:
        stop(first.proc)
        if second is not None:
            stop(second.proc)


# ---------------------------------------------------------------------------- framing
async def test_an_oversized_frame_gets_a_fatal_frame_closes_only_that_connection_and_is_logged():
    with daemon() as d:
        async with TcpClient.connect(d.host, d.port) as aws:
            sqs = aws.client("sqs")
            url = (await sqs.create_queue(QueueName="bystander"))["QueueUrl"]
            raw, decoder = await open_raw(d.host, d.port)
            async with raw:
                await raw.send_all(struct.pack(">I", 0xFFFFFFFF))
                [fatal] = await read_messages(raw, decoder)
            assert fatal["t"] == FATAL
            assert fatal["e"]["code"] == "FrameTooLarge"
            # the other connection goes on
            await sqs.send_message(QueueUrl=url, MessageBody="still here")
            got = await sqs.receive_message(QueueUrl=url)
            assert [m["Body"] for m in got["Messages"]] == ["still here"]
        code, errors = await stopped(d)
    assert code == 0
    [line] = [line for line in errors.splitlines() if "FrameTooLarge" in line]
    assert "WARNING" in line


async def test_an_oversized_frame_instead_of_a_hello_gets_a_fatal_frame(shared):
    raw = await trio.open_tcp_stream(shared.host, shared.port)
    async with raw:
        await raw.send_all(struct.pack(">I", 0xFFFFFFFF))
        [fatal] = await read_until_closed(raw)
    assert fatal["t"] == FATAL
    assert fatal["e"]["code"] == "FrameTooLarge"
    async with TcpClient.connect(shared.host, shared.port) as aws:
        assert (await aws.client("admin").health())["Status"] == "ok"


async def test_a_request_read_together_with_an_oversized_frame_is_still_answered(shared):
    raw, decoder = await open_raw(shared.host, shared.port)
    async with raw:
        create = {"QueueName": "read-with-garbage"}
        request = encode({"t": "req", "id": 1, "svc": "sqs", "op": "CreateQueue", "p": create})
        await raw.send_all(request + struct.pack(">I", 0xFFFFFFFF))  # one write, one read
        messages = await read_messages(raw, decoder)
    assert [m["t"] for m in messages] == ["res", FATAL]
    assert messages[0]["id"] == 1 and "QueueUrl" in messages[0]["r"]
    assert messages[1]["e"]["code"] == "FrameTooLarge"
    async with TcpClient.connect(shared.host, shared.port) as aws:
        await aws.client("sqs").get_queue_url(QueueName="read-with-garbage")


async def test_the_fatal_frame_is_the_last_frame_even_with_a_long_poll_in_flight(shared):
    async with TcpClient.connect(shared.host, shared.port) as aws:
        url = (await aws.client("sqs").create_queue(QueueName="fatal-last"))["QueueUrl"]
        raw, decoder = await open_raw(shared.host, shared.port)
        async with raw:
            poll = {"QueueUrl": url, "WaitTimeSeconds": 20}
            await raw.send_all(
                encode({"t": "req", "id": 1, "svc": "sqs", "op": "ReceiveMessage", "p": poll})
            )
            await wait_in_flight(aws.client("admin"), 1)
            await raw.send_all(struct.pack(">I", 0xFFFFFFFF))
            messages = await read_messages(raw, decoder)
    assert FATAL in [m["t"] for m in messages]
    assert messages[-1]["t"] == FATAL
    assert messages[-1]["e"]["code"] == "FrameTooLarge"


async def test_an_oversized_frame_instead_of_a_hello_is_logged():
    with daemon() as d:
        raw = await trio.open_tcp_stream(d.host, d.port)
        async with raw:
            await raw.send_all(struct.pack(">I", 0xFFFFFFFF))
            [fatal] = await read_until_closed(raw)
        assert fatal["e"]["code"] == "FrameTooLarge"
        code, errors = await stopped(d)
    assert code == 0
    [line] = [line for line in errors.splitlines() if "FrameTooLarge" in line]
    assert "WARNING" in line
