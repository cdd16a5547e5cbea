"""The broker daemon's TCP side: the msgpack protocol of docs/protocol.md over any trio stream.

:class:`TcpServer` owns a broker (or serves one it is given) and answers connections. It only
translates: every AWS operation goes through :meth:`Broker.call_now` / :meth:`Broker.finish`.

- Requests are answered as they complete. Most operations are done at once and are answered
  inline, in the order read; one that must wait (a long poll, a synchronous invoke, a shard
  subscription) gets a task and counts toward the connection's ``max_in_flight``. At the limit
  the server stops reading from that connection until answers go out (back-pressure), and it
  also stops handling requests while more than ``OUTBOUND_HIGH_WATER`` bytes of answers wait to
  be sent (checked after every request, so one read of many requests cannot pile up answers).
- Every input is bounded before it is buffered or decoded: a hello of at most
  ``wire.HELLO_MAX_FRAME`` bytes, then frames of ``max_frame``, decoded within the limits of
  :func:`wire.server_decoder`. A connection buffers up to ``OWN_BUFFER`` bytes of its own; a
  larger frame reserves its length from the server's ``max_buffered`` before its bytes are read
  (at the limit, such frames wait). At most ``max_connections`` connections are served (more
  get a ``fatal`` frame), and one with nothing in flight for ``idle_timeout`` seconds is closed.
- Bad input is answered, logged and changes nothing: an unknown service or operation or wrong
  parameters get a ``res`` with the AWS error; a map that is not a request gets a ``res`` with
  ``id`` nil; bytes that cannot be framed get a final ``fatal`` frame and the connection closes.
  Nothing a client sends can stop the server or disturb another connection.
- Remote function workers (``svc: worker``) attach to the broker as execution environments of
  a function (see :mod:`msgsim.broker.functions.workers`).
"""

from __future__ import annotations

import errno
import logging
import math
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

from msgsim.broker import Broker
from msgsim.broker.errors import (
    BrokerError,
    InternalFailure,
    InvalidAction,
    InvalidClientTokenId,
    InvalidParameterValue,
    RequestCanceled,
    ServiceUnavailable,
    UnsupportedOperation,
)
from msgsim.broker.functions.workers import WorkerLost
from msgsim.broker.params import check_known, safe_repr

from . import wire
from .wire import (
    DEFAULT_MAX_FRAME,
    DEFAULT_MAX_IN_FLIGHT,
    PROTOCOL_VERSION,
    FrameDecoder,
    FramingError,
    encode,
    error_map,
    server_decoder,
)

log = logging.getLogger("msgsim.tcp")

#: Stop reading a connection while this many bytes of answers wait to be sent to it.
OUTBOUND_HIGH_WATER = 4 * 1024 * 1024
#: While answering many requests read at once, hand the answers so far to the writer after this
#: many requests or once this many bytes of answers wait, so that the client works on them while
#: the rest are done: both processes busy at once rather than in turn.
FLUSH_EVERY = 16
FLUSH_BYTES = 8192
#: A connection must say hello within this many seconds (on the daemon's clock).
HELLO_TIMEOUT = 10.0
#: Bytes read from a socket at once; also what a connection may buffer without a reservation.
READ_SIZE = 65536
OWN_BUFFER = READ_SIZE
#: Default cap on the bytes of large frames being read, over every connection together.
DEFAULT_MAX_BUFFERED = 256 * 1024 * 1024
#: Default seconds a connection may be idle (no request read, nothing in flight, no answer
#: waiting to be sent, no function served) before the server closes it.
DEFAULT_IDLE_TIMEOUT = 600.0
#: Seconds a stopping server gives requests in flight to be answered (``msgsim serve --grace``).
DEFAULT_GRACE = 5.0
#: The connection limit when none is given: the open-file limit less this many descriptors for
#: the daemon's own use, and at most DEFAULT_MAX_CONNECTIONS_CAP.
FD_HEADROOM = 32
DEFAULT_MAX_CONNECTIONS_CAP = 1024
#: accept() failing for want of resources (EMFILE, ENFILE, ...): retry after a pause that starts
#: here and doubles up to ACCEPT_BACKOFF_MAX, logging one line per episode.
ACCEPT_BACKOFF_MIN = 0.1
ACCEPT_BACKOFF_MAX = 1.6
_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
#: The services the server answers besides the broker's own.
ADMIN = "admin"
WORKER = "worker"


def default_max_connections() -> int:
    """The connection limit derived from the open-file limit (RLIMIT_NOFILE): room for the
    daemon's own descriptors is kept, so a client over the limit still gets its ``fatal``
    frame rather than accept() failing with EMFILE."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # not on Unix
        return DEFAULT_MAX_CONNECTIONS_CAP
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS_CAP
    return max(1, min(DEFAULT_MAX_CONNECTIONS_CAP, soft - FD_HEADROOM))


class _ByteBudget:
    """Bytes shared by every connection's large frames, granted in arrival order: a reservation
    that does not fit waits, and so does every later one (a large frame is never overtaken for
    ever by small ones). A connection holds at most one reservation, for the frame it reads, and
    can always finish that frame, so waiting never deadlocks."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiters: deque[tuple[int, trio.Event]] = deque()

    async def acquire(self, n: int) -> None:
        if not self._waiters and self.used + n <= self.capacity:
            self.used += n
            return
        granted = trio.Event()
        waiter = (n, granted)
        self._waiters.append(waiter)
        try:
            await granted.wait()
        except BaseException:
            if granted.is_set():
                self.release(n)
            else:
                self._waiters.remove(waiter)
                self._grant()
            raise

    def release(self, n: int) -> None:
        self.used -= n
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self.used + self._waiters[0][0] <= self.capacity:
            n, granted = self._waiters.popleft()
            self.used += n
            granted.set()


def server_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("msgsim")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


#: The parameters each admin operation takes (others are refused, as every operation does).
_ADMIN_PARAMETERS = {"AdvanceClock": frozenset({"Seconds"})}


class TcpServer:
    """Serve a broker over the msgpack protocol.

    ``TcpServer(broker)`` serves a broker the caller runs (tests hand it memory streams with
    :meth:`handle`). ``TcpServer(seed=..., clock=...)`` owns its broker: :meth:`run` opens it
    and the admin ``Reset`` replaces it with a fresh one.
    """

    def __init__(
        self,
        broker: Broker | None = None,
        *,
        seed: int = 0,
        token: str | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        max_connections: int | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        grace: float = DEFAULT_GRACE,
        clock: trio.testing.MockClock | None = None,
        broker_options: dict[str, Any] | None = None,
    ) -> None:
        if not grace >= 0:  # also NaN
            raise ValueError(f"grace ({grace}) must be a number of seconds, 0 or more")
        if max_buffered < max_frame:
            raise ValueError(f"max_buffered ({max_buffered}) must hold a frame ({max_frame})")
        self.broker: Broker = broker  # type: ignore[assignment]  # set by run() when owned
        self._owned = broker is None
        self.seed = seed
        self.token = token
        self.max_frame = max_frame
        self.max_in_flight = max_in_flight
        #: Large frames being read reserve their length here (see ``OWN_BUFFER``).
        self.buffered = _ByteBudget(max_buffered)
        self.max_connections = (
            default_max_connections() if max_connections is None else max_connections
        )
        #: Seconds of idleness after which a connection is closed (None or 0: never).
        self.idle_timeout = idle_timeout or None
        #: Seconds :meth:`wait_idle` gives requests in flight once the server stops.
        self.grace = grace
        self._at_connection_limit = False
        #: The daemon's virtual clock (``--clock virtual``), or None on the real clock.
        self.clock = clock
        self.broker_options = broker_options or {}
        self.connections: set[_Connection] = set()
        self.requests = 0  # requests answered or in progress, over every connection
        self.closing = False
        self._reset = trio.Event()
        self._generation = 0
        self._new_broker = trio.Event()
        self._advance_lock = trio.Lock()
        self._workers: set[_RemoteWorker] = set()
        self.version = server_version()
        self._admin: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "Health": self._health,
            "Version": self._version,
            "Stats": self._stats,
            "Reset": self._reset_op,
            "AdvanceClock": self._advance_clock,
            "Settle": self._settle,
        }

    # ------------------------------------------------------------------ lifetime
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the owned broker until cancelled; ``Reset`` swaps in a fresh one."""
        started = False
        while True:
            async with Broker.open(seed=self.seed, **self.broker_options) as broker:
                self.broker = broker
                for worker in self._workers:
                    worker.attach()
                self._generation += 1
                self._new_broker.set()
                self._new_broker = trio.Event()
                if not started:
                    started = True
                    task_status.started()
                await self._reset.wait()
                self._reset = trio.Event()
                broker.drain()
                for worker in self._workers:
                    worker.detach()

    async def serve_tcp(
        self,
        host: str = "127.0.0.1",
        port: int = 4650,
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept connections on ``host:port`` (0: a free port) until cancelled."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        async with trio.open_nursery() as nursery:
            await self.serve_listeners(listeners, handler_nursery=nursery, task_status=task_status)

    async def serve_listeners(
        self,
        listeners: list[trio.SocketListener],
        *,
        handler_nursery: trio.Nursery,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept connections on ``listeners`` until cancelled, serving each in
        ``handler_nursery`` (as :func:`trio.serve_listeners`, with its own answer to accept()
        failing for want of file descriptors or memory: a pause growing from
        ``ACCEPT_BACKOFF_MIN`` to ``ACCEPT_BACKOFF_MAX`` seconds and one log line, not a
        traceback every 100 ms)."""
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(self._accept, listener, handler_nursery)
            task_status.started(listeners)

    async def _accept(self, listener: trio.SocketListener, handlers: trio.Nursery) -> None:
        backoff = 0.0
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                        raise
                    if not backoff:
                        log.error(
                            "cannot accept connections: %s (%s) with %d connections open; "
                            "retrying with pauses of up to %g s",
                            errno.errorcode[exc.errno],
                            os.strerror(exc.errno),
                            len(self.connections),
                            ACCEPT_BACKOFF_MAX,
                        )
                    backoff = min(ACCEPT_BACKOFF_MAX, backoff * 2 or ACCEPT_BACKOFF_MIN)
                    await trio.sleep(backoff)
                    continue
                if backoff:
                    log.warning("accepting connections again")
                    backoff = 0.0
                handlers.start_soon(self.handle, stream)

    @property
    def advancing(self) -> bool:
        """Whether AdvanceClock is moving the virtual clock (time passing then is no one's
        idleness)."""
        return self._advance_lock.locked()

    def begin_shutdown(self) -> None:
        """Stop taking requests; long polls answer now with what they have. Connections are
        still read until :meth:`wait_idle` ends the grace period, so every request a client
        has sent meanwhile (pipelined ones too) is answered ``ServiceUnavailable``, not lost."""
        self.closing = True
        if self.broker is not None:
            self.broker.drain()

    async def wait_idle(self, grace: float | None = None) -> None:
        """Wait up to ``grace`` seconds (default: the server's ``grace``) for requests in flight
        to be answered, then stop reading and cancel the rest: they are answered
        ``ServiceUnavailable`` where the connection still takes answers. Returns when every
        connection closed (or after as long again)."""
        if grace is None:
            grace = self.grace
        with trio.move_on_after(grace):
            while any(c.pending for c in self.connections):
                await trio.sleep(0.01)
        for conn in list(self.connections):
            conn.stop_reading()
            conn.abandon()
        with trio.move_on_after(grace):
            while self.connections:
                await trio.sleep(0.01)

    # ------------------------------------------------------------------ connections
    async def handle(self, stream: trio.abc.Stream) -> None:
        """Serve one connection until the client leaves, framing is lost or the server stops."""
        conn = _Connection(self, stream)
        over = len(self.connections) >= self.max_connections
        self.connections.add(conn)
        try:
            try:
                if over:
                    await conn.refuse_over_limit()
                else:
                    await conn.run()
            except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                pass  # the client went away: nothing to report
        except Exception:  # a defect of ours: this connection ends, the server goes on
            log.exception("connection failed")
        finally:
            self.connections.discard(conn)
            conn.release_workers()
            conn.release_buffer()
            if len(self.connections) < self.max_connections:
                self._at_connection_limit = False
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                try:
                    if conn.fatal_sent:
                        await _lingering_close(stream)
                    await stream.aclose()
                except Exception:
                    pass

    def welcome(self) -> dict[str, Any]:
        ops = {name: sorted(svc.operations) for name, svc in self.broker.services.items()}
        ops[ADMIN] = sorted(self._admin)
        return {
            "t": wire.WELCOME,
            "v": PROTOCOL_VERSION,
            "server": self.version,
            "max_frame": self.max_frame,
            "max_in_flight": self.max_in_flight,
            "ops": ops,
        }

    # ------------------------------------------------------------------ admin operations
    async def admin(self, op: Any, params: Any) -> dict[str, Any]:
        fn = self._admin.get(op) if isinstance(op, str) else None
        if fn is None:
            raise InvalidAction(
                f"The admin action {op} is not valid; admin actions: {', '.join(self._admin)}."
            )
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise InvalidParameterValue("Request parameters must be a map of names to values.")
        check_known(params, _ADMIN_PARAMETERS.get(op, frozenset()), op)
        return await fn(params)

    async def _health(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "Status": "draining" if self.closing else "ok",
            "Clock": "virtual" if self.clock is not None else "real",
            "Now": self.broker.epoch.wall(trio.current_time()),
        }

    async def _version(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Server": self.version, "Protocol": PROTOCOL_VERSION}

    async def _stats(self, p: dict[str, Any]) -> dict[str, Any]:
        b = self.broker
        sqs = b.sqs.stats()
        return {
            "Connections": len(self.connections),
            "Requests": self.requests,
            "RequestsInFlight": sum(c.pending for c in self.connections),
            "BrokerRequests": b.requests,
            "Queues": sqs["queues"],
            "Messages": sqs["messages"],
            "MessagesInFlight": sqs["inflight"],
            "Topics": len(b.sns.topics),
            "Streams": len(b.kinesis.streams),
            "Functions": len(b.functions.functions),
            "Workers": len(self._workers),
        }

    async def _reset_op(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self._owned:
            raise UnsupportedOperation("Reset needs a server that owns its broker (msgsim serve).")
        generation = self._generation
        self._reset.set()
        while self._generation == generation:
            await self._new_broker.wait()
        return {}

    async def _advance_clock(self, p: dict[str, Any]) -> dict[str, Any]:
        clock = self.clock
        if clock is None:
            raise UnsupportedOperation(
                "AdvanceClock needs the virtual clock (msgsim serve --clock virtual)."
            )
        seconds = p.get("Seconds")
        if (
            type(seconds) not in (int, float)
            or not math.isfinite(seconds)
            or seconds < 0
            or seconds > 10 * 365 * 86400
        ):
            raise InvalidParameterValue(
                "Seconds must be a number of seconds from 0 to 315360000 (10 years)."
            )
        async with self._advance_lock:
            # Step from one timer to the next (as pytest's autojump clock does) so everything
            # due on the way happens at its own time, not all at the end.
            target = trio.current_time() + seconds
            saved = clock.autojump_threshold
            clock.autojump_threshold = 0
            try:
                await trio.sleep_until(target)
            finally:
                clock.autojump_threshold = saved
        return {"Now": self.broker.epoch.wall(trio.current_time())}

    async def _settle(self, p: dict[str, Any]) -> dict[str, Any]:
        await self.broker.settle()
        return {}

    # ------------------------------------------------------------------ workers
    def register_worker(self, worker: _RemoteWorker) -> None:
        self._workers.add(worker)
        worker.attach()

    def deregister_worker(self, worker: _RemoteWorker) -> None:
        self._workers.discard(worker)
        worker.detach()


class _RemoteWorker:
    """One worker registration: a connection serving a function name."""

    def __init__(self, conn: _Connection, wid: int, function: str, capacity: int | None) -> None:
        self.conn = conn
        self.wid = wid
        self.function = function
        self.capacity = capacity
        self._handle: Any = None
        self._broker: Broker | None = None

    def attach(self) -> None:
        broker = self.conn.server.broker
        self._broker = broker
        self._handle = broker.runner.attach_worker(self.function, self, self.capacity)

    def detach(self) -> None:
        if self._broker is not None:
            self._broker.runner.detach_worker(self.function, self._handle)
            self._broker = None
            # The handle (the pool's slot) refers back to this worker: drop the cycle, or it
            # keeps the connection and all it buffered alive until the cyclic GC runs.
            self._handle = None

    async def invoke(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.conn.invoke_remote(self.wid, request)

    def congested(self) -> bool:
        """Back-pressure: no invocation goes to a worker that has not read what it was sent."""
        return self.conn.congested

    def ready(self) -> None:
        if self._broker is not None:
            pool = self._broker.runner.workers.get(self.function)
            if pool is not None:
                pool.ready()


class _Reply:
    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: Any = None


class _Connection:
    def __init__(self, server: TcpServer, stream: trio.abc.Stream) -> None:
        self.server = server
        self.stream = stream
        self.pending = 0  # requests in flight (tasks)
        self._slots = trio.Semaphore(server.max_in_flight)
        self._out: list[bytes] = []
        self._out_bytes = 0  # queued for the writer
        self._unsent = 0  # queued, or being sent by the writer: what back-pressure counts
        self._wake_writer = trio.Event()
        self._drained = trio.Event()
        self._closing = False  # the client left, framing was lost or the connection ends
        self._read_scope = trio.CancelScope()
        self._tasks: trio.Nursery | None = None
        self._ids: set[int] = set()  # request ids in flight
        self._scopes: dict[int, trio.CancelScope] = {}  # request tasks, by request id
        self._canceled: set[int] = set()  # ids the client cancelled
        self._workers: dict[int, _RemoteWorker] = {}
        self._invocations: dict[int, _Reply] = {}
        self._next_id = 0
        self._hello = False
        self.fatal_sent = False
        self._reserved = 0  # bytes of the server's buffer budget this connection holds
        self._reserving = False  # waiting for the budget: the server's delay, not idleness
        self._active_at = trio.current_time()  # when a message last arrived or an answer left
        self._idle_scope = trio.CancelScope()

    # ------------------------------------------------------------------ sending
    def send(self, message: dict[str, Any]) -> None:
        if self.fatal_sent:  # a fatal frame is the last one a client gets
            return
        try:
            frame = encode(message)
        except Exception as exc:  # a response we cannot encode: a defect of ours
            log.exception("cannot encode a %s message", message.get("t"))
            if message.get("t") != wire.RESPONSE:
                return
            frame = encode(
                {
                    "t": wire.RESPONSE,
                    "id": message.get("id"),
                    "e": error_map("InternalFailure", f"Cannot encode the response: {exc}", False),
                }
            )
        self._out.append(frame)
        self._out_bytes += len(frame)
        self._unsent += len(frame)
        self._wake_writer.set()

    def send_result(self, rid: int, result: dict[str, Any]) -> None:
        self.send({"t": wire.RESPONSE, "id": rid, "r": result})

    def send_error(self, rid: Any, err: BrokerError) -> None:
        self.send({"t": wire.RESPONSE, "id": rid, "e": _error(err)})

    async def _writer(self) -> None:
        """Send what is queued, many frames per write; return once closing and flushed."""
        stream = self.stream
        while True:
            if not self._out:
                self._drained.set()
                if self._closing:
                    return
                await self._wake_writer.wait()
                self._wake_writer = trio.Event()
                continue
            batch = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._out_bytes = 0
            await stream.send_all(batch)
            congested = self._unsent > OUTBOUND_HIGH_WATER
            self._unsent -= len(batch)
            self._active_at = trio.current_time()
            if congested and self._unsent <= OUTBOUND_HIGH_WATER:
                for worker in self._workers.values():
                    worker.ready()  # invocations held back for this worker may come now

    # ------------------------------------------------------------------ the connection
    async def run(self) -> None:
        async with trio.open_nursery() as outer:
            outer.start_soon(self._writer)
            if self.server.idle_timeout is not None:
                outer.start_soon(self._idle_watch, self.server.idle_timeout)
            try:
                async with trio.open_nursery() as tasks:
                    self._tasks = tasks
                    with self._read_scope:
                        await self._reader()
                    if self._closing:  # the client left or framing was lost: drop its work
                        tasks.cancel_scope.cancel()
                    # else the server is stopping: requests in flight answer first
            finally:
                self._closing = True
                self._idle_scope.cancel()
                self._wake_writer.set()
                # a client that does not read must not hold the connection open for ever
                outer.cancel_scope.deadline = trio.current_time() + 5

    @property
    def congested(self) -> bool:
        """More than OUTBOUND_HIGH_WATER bytes are unsent: the client is not reading."""
        return self._unsent > OUTBOUND_HIGH_WATER

    @property
    def serves_functions(self) -> bool:
        return bool(self._workers)

    def stop_reading(self) -> None:
        self._read_scope.cancel()

    async def refuse_over_limit(self) -> None:
        """The server serves ``max_connections`` already: a ``fatal`` frame, one log line for
        each time the limit is reached."""
        server = self.server
        if not server._at_connection_limit:
            server._at_connection_limit = True
            log.warning(
                "at the limit of %d connections: refusing new ones until one closes "
                "(msgsim serve --max-connections)",
                server.max_connections,
            )
        self._fatal(
            ServiceUnavailable.default_code,
            f"The daemon serves its limit of {server.max_connections} connections; "
            "try again later.",
        )
        with trio.move_on_after(1):
            await self.stream.send_all(b"".join(self._out))
        self._out.clear()

    async def _idle_watch(self, timeout: float) -> None:
        """Close the connection once it has been idle ``timeout`` seconds: no message read, no
        request in flight (a long poll or a subscription is not idleness), no answer waiting
        to be sent, no function served, not waiting for the buffer budget."""
        with self._idle_scope:
            while True:
                await trio.sleep_until(self._active_at + timeout)
                now = trio.current_time()
                if (
                    self.pending
                    or self._unsent
                    or self._workers
                    or self._reserving
                    or self.server.advancing
                ):
                    self._active_at = now
                elif now >= self._active_at + timeout:
                    log.warning("closing a connection idle for %g seconds", timeout)
                    self._fatal(
                        "IdleTimeout",
                        f"Nothing was asked for {timeout:g} seconds: the daemon closes idle "
                        "connections (msgsim serve --idle-timeout).",
                    )
                    self.stop_reading()
                    return

    def release_buffer(self) -> None:
        if self._reserved:
            self.server.buffered.release(self._reserved)
            self._reserved = 0

    async def _reserve(self, frame_length: int | None) -> None:
        """Hold what the frame being read will buffer beyond ``OWN_BUFFER`` from the server's
        budget before reading on (between frames: nothing). Waiting stops this connection's
        reading, so TCP's flow control holds the client back."""
        want = max(0, (frame_length or 0) - OWN_BUFFER)
        if want == self._reserved:
            return
        self.release_buffer()
        if want:
            self._reserving = True
            try:
                await self.server.buffered.acquire(want)
            finally:
                self._reserving = False
            self._reserved = want

    def abandon(self) -> None:
        """The server is out of patience: what is still in flight answers ServiceUnavailable."""
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()

    async def _reader(self) -> None:
        decoder = server_decoder(self.server.max_frame)
        with trio.move_on_after(HELLO_TIMEOUT) as hello_scope:
            while not self._hello and not self._closing:
                await self._read(decoder)
        if hello_scope.cancelled_caught:
            return self._fatal("RequestTimeout", "No hello within 10 seconds.")
        while not self._closing:
            await self._until_drained()
            await self._read(decoder)

    async def _until_drained(self) -> None:
        """While more than OUTBOUND_HIGH_WATER bytes of answers are unsent, wait until the
        writer has sent them all."""
        if self._unsent > OUTBOUND_HIGH_WATER:
            if self._drained.is_set():  # else the writer sets it when it next runs dry
                self._drained = trio.Event()
            await self._drained.wait()

    async def _read(self, decoder: FrameDecoder) -> None:
        """Read once and handle what arrived: the hello first, then requests. After a framing
        error the frames before the bad one are still handled, then the fatal frame goes out."""
        await self._reserve(decoder.frame_length)
        data = await self.stream.receive_some(READ_SIZE)
        if not data:
            self._closing = True
            return
        lost: FramingError | None = None
        try:
            messages = decoder.feed(data)
        except FramingError as exc:
            log.warning("connection closed: %s: %s", exc.code, exc.message)
            lost, messages = exc, exc.messages
        if messages:
            self._active_at = trio.current_time()
        if messages and not self._hello:
            if not self._greet(messages[0]):
                return
            messages = messages[1:]
        await self._handle_all(messages)
        if lost is not None:
            self._fatal(lost.code, lost.message)

    async def _let_writer_send(self) -> None:
        """Yield until the writer took the answers queued so far (it runs in the next scheduling
        batch, before or after this task; at most two turns, so a writer blocked on a client that
        does not read never makes this spin). Not a cancel point: cancellation still arrives where
        it did, so every request read is answered or refused as before."""
        for _ in range(2):
            if not self._out:
                return
            await trio.lowlevel.cancel_shielded_checkpoint()

    def _fatal(self, code: str, message: str) -> None:
        self.send({"t": wire.FATAL, "e": error_map(code, message)})
        self.fatal_sent = True
        self._closing = True

    def _greet(self, hello: dict[str, Any]) -> bool:
        server = self.server
        if hello.get("t") != wire.HELLO:
            self._fatal("HelloExpected", "The first frame must be a hello: {t: hello, v: 1}.")
            return False
        version = hello.get("v")
        if type(version) is not int or version != PROTOCOL_VERSION:  # not 1.0, not True
            self._fatal(
                "UnsupportedProtocolVersion",
                f"This server speaks protocol version {PROTOCOL_VERSION} (the integer), not "
                f"{safe_repr(version, 100)}.",
            )
            return False
        if server.token is not None and hello.get("token") != server.token:
            log.warning("connection refused: wrong or missing token")
            self._fatal(
                InvalidClientTokenId.default_code,
                "The security token included in the request is invalid.",
            )
            return False
        if server.closing:
            self._fatal(ServiceUnavailable.default_code, "The broker is shutting down.")
            return False
        self._hello = True
        self.send(server.welcome())
        return True

    async def _handle_all(self, messages: list[dict[str, Any]]) -> None:
        last = len(messages) - 1
        since_flush = 0
        for i, message in enumerate(messages):
            t = message.get("t")
            if t == wire.REQUEST:
                later = self._request(message)  # answered inline unless it must wait
                if later is not None:
                    try:
                        await self._spawn(*later)
                    except trio.Cancelled:  # the server stopped reading: answer what was read
                        self._refuse(messages[i:])
                        raise
                since_flush += 1
                if i != last and self._unsent > OUTBOUND_HIGH_WATER:
                    # answers pile up faster than the client reads them: no more requests
                    # until they are sent (an answer can be megabytes; requests are bytes)
                    try:
                        await self._until_drained()
                    except trio.Cancelled:
                        self._refuse(messages[i + 1 :])
                        raise
                    since_flush = 0
                elif (since_flush >= FLUSH_EVERY or self._out_bytes >= FLUSH_BYTES) and i != last:
                    since_flush = 0
                    await self._let_writer_send()
            elif t == "done":
                self._invocation_done(message)
            elif t == "cancel":
                rid = message.get("id")
                scope = self._scopes.get(rid) if type(rid) is int else None
                if scope is not None:  # else answered already: the answer is on its way
                    self._canceled.add(rid)  # type: ignore[arg-type]
                    scope.cancel()
            else:
                shown = safe_repr(t, 100)
                log.warning("a message of unknown type %s", shown)
                self.send_error(
                    None,
                    InvalidParameterValue(
                        f"Unknown message type {shown}; a client sends req, cancel or done."
                    ),
                )

    def _refuse(self, messages: list[dict[str, Any]]) -> None:
        """Requests read but not to be handled (the server stopped reading): ServiceUnavailable."""
        for m in messages:
            if m.get("t") == wire.REQUEST and type(m.get("id")) is int:
                self.send_error(m["id"], ServiceUnavailable("The broker is shutting down."))

    def _request(self, m: dict[str, Any]) -> tuple[int, Callable[[int, Any], Any], Any] | None:
        """Answer one request now, or return what to run in a task for it (``_spawn``'s
        arguments) when it must wait: a long poll, a synchronous invoke, a subscription."""
        server = self.server
        rid = m.get("id")
        if type(rid) is not int:
            log.warning("a request without an integer id")
            return self.send_error(
                None, InvalidParameterValue("A request needs an integer id (unique in flight).")
            )
        if rid in self._ids:
            return self.send_error(rid, InvalidParameterValue(f"Request id {rid} is in flight."))
        svc = m.get("svc")
        op = m.get("op")
        params = m.get("p")
        server.requests += 1
        if server.closing:
            return self.send_error(rid, ServiceUnavailable("The broker is shutting down."))
        if type(svc) is not str or type(op) is not str:
            return self.send_error(
                rid, InvalidParameterValue("A request names its svc and op as strings.")
            )
        if svc == ADMIN:
            return rid, self._answer, server.admin(op, params)
        if svc == WORKER:
            return self._worker_request(rid, op, params)
        try:
            result = server.broker.call_now(svc, op, params)
        except BrokerError as err:
            if err.code == "InvalidAction":  # not an operation at all: worth a line in the log
                log.info("request %s: %s", rid, err.message)
            return self.send_error(rid, err)
        if type(result) is dict:
            stream = result.get("EventStream")
            if stream is not None and hasattr(stream, "__anext__"):
                self.send_result(rid, {**result, "EventStream": {"stream": rid}})
                return rid, self._pump, stream
            return self.send_result(rid, result)
        return rid, self._answer, server.broker.finish(svc, result)

    async def _spawn(self, rid: int, job: Callable[[int, Any], Awaitable[None]], arg: Any) -> None:
        try:
            await self._slots.acquire()  # back-pressure: no reading while the window is full
        except trio.Cancelled:
            if hasattr(arg, "close"):
                arg.close()  # a coroutine that will never run
            raise
        self.pending += 1
        self._ids.add(rid)
        assert self._tasks is not None
        self._tasks.start_soon(self._track, rid, job, arg)

    async def _track(self, rid: int, job: Callable[[int, Any], Awaitable[None]], arg: Any) -> None:
        scope = self._scopes[rid] = trio.CancelScope()
        try:
            with scope:
                await job(rid, arg)
        finally:
            del self._scopes[rid]
            self._canceled.discard(rid)
            self._ids.discard(rid)
            self.pending -= 1
            self._slots.release()

    async def _answer(self, rid: int, work: Awaitable[dict[str, Any]]) -> None:
        answered = False
        try:
            result = await work
            self.send_result(rid, result)
            answered = True
        except BrokerError as err:
            self.send_error(rid, err)
            answered = True
        except Exception as exc:
            log.exception("request %s failed", rid)
            self.send_error(rid, InternalFailure(f"Internal failure: {exc!r}"))
            answered = True
        finally:
            if not answered:  # cancelled: by the client, or the server stopped first
                if rid in self._canceled:
                    self.send_error(rid, RequestCanceled("The request was cancelled."))
                else:
                    self.send_error(rid, ServiceUnavailable("The broker stopped before answering."))

    async def _pump(self, rid: int, stream: Any) -> None:
        """A shard subscription: an ``ev`` frame per event, then ``end`` (with ``e`` if the
        subscription failed). The client ends it early with ``cancel``."""
        end: dict[str, Any] = {"t": "end", "id": rid}
        try:
            async for event in stream:
                self.send({"t": "ev", "id": rid, "ev": event})
                await self._until_drained()  # a subscriber that does not read holds it back
        except BrokerError as err:
            end["e"] = _error(err)
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()
            self.send(end)

    # ------------------------------------------------------------------ workers
    def _worker_request(self, rid: int, op: str, p: Any) -> None:
        try:
            if not isinstance(p, dict):
                raise InvalidParameterValue("Request parameters must be a map of names to values.")
            if op == "Register":
                name = p.get("FunctionName")
                capacity = p.get("Concurrency")
                if type(name) is not str or not name or len(name) > 256:
                    raise InvalidParameterValue("FunctionName must be a function name.")
                if capacity is not None and (type(capacity) is not int or capacity < 1):
                    raise InvalidParameterValue("Concurrency must be an integer of 1 or more.")
                self._next_id += 1
                worker = _RemoteWorker(self, self._next_id, name, capacity)
                self._workers[worker.wid] = worker
                self.server.register_worker(worker)
                log.info("worker %s serves function %s", worker.wid, name)
                return self.send_result(rid, {"WorkerId": worker.wid})
            if op == "Deregister":
                wid = p.get("WorkerId")
                worker = self._workers.pop(wid, None) if type(wid) is int else None
                if worker is None:
                    raise InvalidParameterValue("No such WorkerId on this connection.")
                self.server.deregister_worker(worker)
                return self.send_result(rid, {})
            raise InvalidAction(f"The worker action {op} is not valid: Register or Deregister.")
        except BrokerError as err:
            self.send_error(rid, err)

    async def invoke_remote(self, wid: int, request: dict[str, Any]) -> dict[str, Any]:
        if self._closing:
            raise WorkerLost
        self._next_id += 1
        iid = self._next_id
        reply = self._invocations[iid] = _Reply()
        self.send({"t": "inv", "id": iid, "w": wid, "req": request})
        try:
            await reply.done.wait()
        except trio.Cancelled:
            if not self._closing:
                self.send({"t": "cancel", "id": iid})
            raise
        finally:
            self._invocations.pop(iid, None)
        if reply.value is None:
            raise WorkerLost
        return reply.value

    def _invocation_done(self, m: dict[str, Any]) -> None:
        iid = m.get("id")
        reply = self._invocations.get(iid) if type(iid) is int else None
        if reply is None:
            return  # cancelled (timed out) or unknown: nothing waits for it
        value = m.get("reply")
        reply.value = value if value is not None else {}
        reply.done.set()

    def release_workers(self) -> None:
        """The connection is gone: its workers stop serving and their invocations fail."""
        self._closing = True
        for worker in self._workers.values():
            self.server.deregister_worker(worker)
        self._workers.clear()
        for reply in self._invocations.values():
            reply.value = None
            reply.done.set()


def _error(err: BrokerError) -> dict[str, Any]:
    return error_map(err.code, err.message, err.sender_fault, err.query_code)


async def _lingering_close(stream: trio.abc.Stream) -> None:
    """After a fatal frame: stop sending and read what the client still sends (the rest of an
    oversized frame) until it closes, so the kernel does not answer unread bytes with a reset
    that would destroy the fatal frame before the client reads it. Bounded by the caller."""
    send_eof = getattr(stream, "send_eof", None)
    if send_eof is not None:
        await send_eof()
    discarded = 0
    while discarded < 64 * 1024 * 1024:
        data = await stream.receive_some(65536)
        if not data:
            return
        discarded += len(data)
