"""Transport: a broker daemon reached over TCP (protocol: docs/protocol.md).

``async with TcpClient.connect("127.0.0.1", 4650) as aws: sqs = aws.client("sqs")`` gives the
same surface as :class:`~msgsim.adapters.InProcessClient`: the same methods, response dicts and
:class:`~msgsim.broker.errors.BrokerError` subclasses (rebuilt from the error's code).

- Many calls may be in flight on the one connection; each is answered when it completes.
- If the connection drops (the daemon restarted), calls in flight fail with
  ``ServiceUnavailable`` and the next call connects again (for up to ``reconnect_timeout``
  seconds), re-registering the functions this client serves. Nothing is retried on its own: a
  call that failed may or may not have been done, as with AWS after a dropped connection.
- A Lambda handler given as a callable (``create_function(Handler=fn, ...)``) runs here, in
  this process: the client serves that function as a remote worker (see :meth:`serve_function`).
- Lambda's Invoke ``Payload`` comes back as bytes that also ``read()``; SubscribeToShard's
  ``EventStream`` is an async iterator of events, as in-process.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from msgsim.broker.errors import BrokerError, InvalidParameterValue, ServiceUnavailable, from_dict
from msgsim.broker.functions.capture import install_capture, uninstall_capture
from msgsim.broker.functions.execution import run_invocation
from msgsim.broker.functions.handlers import handler_label
from msgsim.broker.functions.invoke import InvokePayload

from . import wire
from .client import ServiceClient, unknown_service
from .tokens import TOKEN_ENV, find_token
from .wire import PROTOCOL_VERSION, FrameDecoder, FramingError, encode

log = logging.getLogger("msgsim.tcp_client")


Connector = Callable[[], Awaitable[trio.abc.Stream]]


class _Call:
    """One request's answer and the one task that waits for it (lighter than a trio.Event,
    which is made and set once per request)."""

    __slots__ = ("_waiter", "done", "error", "result")

    def __init__(self) -> None:
        self.done = False
        self.result: Any = None
        self.error: BrokerError | None = None
        self._waiter: trio.lowlevel.Task | None = None

    def finish(self) -> None:
        """The answer is in (``result`` or ``error``): wake the waiter."""
        if self.done:
            return
        self.done = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            trio.lowlevel.reschedule(waiter)

    async def wait(self) -> None:
        if self.done:
            await trio.lowlevel.checkpoint()
            return
        self._waiter = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._waiter = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)


class _Served:
    """A function this client serves as a remote worker."""

    __slots__ = ("concurrency", "handler", "name")

    def __init__(self, name: str, handler: Callable[..., Any], concurrency: int | None) -> None:
        self.name = name
        self.handler = handler
        self.concurrency = concurrency


class TcpClient:
    """A connection (re-made as needed) to a broker daemon. Open with :meth:`connect`."""

    def __init__(
        self,
        connector: Connector,
        nursery: trio.Nursery,
        *,
        token: str | None = None,
        reconnect_timeout: float = 10.0,
    ) -> None:
        self._connector = connector
        self._nursery = nursery
        self.token = token
        self.reconnect_timeout = reconnect_timeout
        self._conn: _Connection | None = None
        self._connecting = trio.Lock()
        self._ops: dict[str, list[str]] = {}
        self._served: dict[str, _Served] = {}
        self._capturing = False
        #: The server's welcome (version, limits) from the latest connection.
        self.welcome: dict[str, Any] = {}

    # ------------------------------------------------------------------ opening
    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        host: str = "127.0.0.1",
        port: int = 4650,
        *,
        token: str | None = None,
        reconnect_timeout: float = 10.0,
    ) -> AsyncIterator[TcpClient]:
        """Connect to ``msgsim serve`` at ``host:port``. ``token`` defaults to the
        ``MSGSIM_TOKEN`` environment variable, else, for a daemon on this machine, the token it
        wrote to its private file (:func:`~.tokens.default_token_path`)."""
        if token is None:
            token = find_token(host, port)

        async def connector() -> trio.abc.Stream:
            return await trio.open_tcp_stream(host, port)

        async with cls.over(connector, token=token, reconnect_timeout=reconnect_timeout) as c:
            yield c

    @classmethod
    @asynccontextmanager
    async def over(
        cls, connector: Connector, *, token: str | None = None, reconnect_timeout: float = 10.0
    ) -> AsyncIterator[TcpClient]:
        """A client over any trio stream ``connector()`` makes (tests use memory streams)."""
        if token is None:
            token = os.environ.get(TOKEN_ENV) or None
        try:
            async with trio.open_nursery() as nursery:
                client = cls(connector, nursery, token=token, reconnect_timeout=reconnect_timeout)
                try:
                    await client._connection(first=True)
                    yield client
                finally:
                    nursery.cancel_scope.cancel()
                    if client._capturing:
                        uninstall_capture()
        except BaseExceptionGroup as group:
            # The client's own tasks never raise: what comes out is the caller's exception (or
            # a failed connect), so let it through as itself, not wrapped in a group.
            raise _single(group) from None

    # ------------------------------------------------------------------ the transport
    def operations(self, service: str) -> Collection[str]:
        ops = self._ops.get(service)
        if ops is None:
            raise unknown_service(service, self._ops)
        return ops

    def client(self, service: str) -> ServiceClient:
        return ServiceClient(self, service)

    async def call(
        self, service: str, operation: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Perform one operation on the daemon; raises BrokerError."""
        params = {} if params is None else params
        if not isinstance(params, Mapping):  # as the broker answers it, before anything is sent
            raise InvalidParameterValue("Request parameters must be a map of names to values.")
        if service == "lambda" and operation in _HANDLER_OPS:
            return await self._lambda_handler_call(operation, params)
        conn = await self._connection()
        return await conn.request(service, operation, params)

    async def settle(self) -> None:
        """:meth:`Broker.settle` on the daemon: every delivery due by now is made or scheduled."""
        await self.call("admin", "Settle", {})

    async def aclose(self) -> None:
        self._nursery.cancel_scope.cancel()

    # ------------------------------------------------------------------ remote workers
    async def serve_function(
        self, function_name: str, handler: Callable[..., Any], *, concurrency: int | None = 1
    ) -> None:
        """Serve ``function_name``'s invocations from this process with ``handler(event,
        context)`` (plain or ``async def``), as a Lambda execution environment does through the
        runtime API. ``concurrency``: invocations at once (None: as many as the broker sends).
        The broker applies the function's Timeout, concurrency and retries; if this client goes
        away mid-invocation, that invocation fails. Served again after a reconnect."""
        if not self._capturing:
            install_capture()
            self._capturing = True
        served = _Served(function_name, handler, concurrency)
        old = self._served.get(function_name)
        self._served[function_name] = served
        conn = await self._connection()
        if old is not None:
            await conn.deregister(old)
        await conn.register(served)

    async def serve_forever(self) -> None:
        """Keep serving the functions registered with :meth:`serve_function` until cancelled:
        whenever the connection drops, connect again (retrying for ever) and re-register."""
        while True:
            try:
                conn = await self._connection()
            except ServiceUnavailable as exc:
                log.warning("%s; retrying", exc.message)
                await trio.sleep(1)
                continue
            await conn.closed.wait()
            log.warning("lost the connection to the broker; reconnecting")

    async def stop_serving(self, function_name: str) -> None:
        served = self._served.pop(function_name, None)
        if served is not None and self._conn is not None and self._conn.alive:
            await self._conn.deregister(served)

    async def _lambda_handler_call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Create/Update/DeleteFunction: a callable Handler is served from here."""
        name = _function_name(params.get("FunctionName"))
        handler = params.get("Handler")
        conn = await self._connection()
        if operation == "DeleteFunction":
            result = await conn.request("lambda", operation, params)
            if name is not None:
                await self.stop_serving(name)
            return result
        if name is None or not callable(handler):
            if callable(handler):  # no name to serve: the broker refuses the request
                params = {**params, "Handler": handler_label(handler)}
            result = await conn.request("lambda", operation, params)
            if name is not None and "Handler" in params:
                await self.stop_serving(name)  # an import string now: the broker runs it
            return result
        previous = self._served.get(name)
        await self.serve_function(name, handler, concurrency=None)
        try:
            return await conn.request(
                "lambda", operation, {**params, "Handler": handler_label(handler)}
            )
        except BrokerError:
            if previous is None:
                await self.stop_serving(name)
            else:
                await self.serve_function(name, previous.handler, concurrency=previous.concurrency)
            raise

    # ------------------------------------------------------------------ connections
    async def _connection(self, first: bool = False) -> _Connection:
        conn = self._conn
        if conn is not None and conn.alive:
            return conn
        async with self._connecting:
            conn = self._conn
            if conn is not None and conn.alive:
                return conn
            deadline = trio.current_time() + (0 if first else self.reconnect_timeout)
            delay = 0.05
            while True:
                try:
                    conn = await self._open()
                    break
                except (
                    OSError,
                    trio.BrokenResourceError,
                    trio.ClosedResourceError,
                    ServiceUnavailable,
                ) as exc:
                    if trio.current_time() + delay > deadline:
                        raise ServiceUnavailable(
                            f"Cannot connect to the broker: {exc}. Is `msgsim serve` running?"
                        ) from None
                    await trio.sleep(delay)
                    delay = min(delay * 2, 1.0)
            self._conn = conn
            for served in list(self._served.values()):
                await conn.register(served)
            return conn

    async def _open(self) -> _Connection:
        stream = await self._connector()
        conn = _Connection(self, stream)
        try:
            await stream.send_all(
                encode({"t": wire.HELLO, "v": PROTOCOL_VERSION, "token": self.token})
            )
            welcome = await conn.read_welcome()
        except BaseException:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
            raise
        self.welcome = welcome
        ops = welcome.get("ops")
        if isinstance(ops, dict):
            self._ops = {str(k): list(v) for k, v in ops.items()}
        self._nursery.start_soon(conn.run)
        return conn


_HANDLER_OPS = frozenset({"CreateFunction", "UpdateFunctionConfiguration", "DeleteFunction"})


def _function_name(value: Any) -> str | None:
    """The function name in a FunctionName (a name, an ARN or a partial ARN)."""
    if not isinstance(value, str) or not value:
        return None
    if "function:" in value:
        return value.split("function:", 1)[1].split(":", 1)[0]
    return value.split(":", 1)[0]


class _EventStream:
    """SubscribeToShard's EventStream over the wire: events as the daemon pushes them."""

    def __init__(self, conn: _Connection, rid: int) -> None:
        self._conn = conn
        self._rid = rid
        self._send, self._recv = trio.open_memory_channel[tuple[str, Any]](math.inf)
        self._ended = False

    def push(self, kind: str, value: Any) -> None:
        try:
            self._send.send_nowait((kind, value))
        except trio.BrokenResourceError:
            pass

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._ended:
            raise StopAsyncIteration
        kind, value = await self._recv.receive()
        if kind == "ev":
            return value
        self._ended = True
        self._conn.streams.pop(self._rid, None)
        if value is not None:
            raise value
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._ended:
            self._ended = True
            self._conn.streams.pop(self._rid, None)
            if self._conn.alive:
                self._conn.send({"t": "cancel", "id": self._rid})

    async def __aenter__(self) -> _EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Connection:
    """One TCP connection: a reader task, a writer task and the calls in flight."""

    def __init__(self, client: TcpClient, stream: trio.abc.Stream) -> None:
        self.client = client
        self.stream = stream
        self.decoder = FrameDecoder()
        self.alive = True
        self.closed = trio.Event()  # set once the connection is lost
        self.calls: dict[int, _Call] = {}
        self.streams: dict[int, _EventStream] = {}
        self.invocations: dict[int, trio.CancelScope] = {}
        self.workers: dict[int, _Served] = {}  # WorkerId -> what it serves
        self._ids: dict[str, int] = {}  # function name -> WorkerId
        self._next = 0
        self._out: list[bytes] = []
        self._wake = trio.Event()
        self._backlog: list[dict[str, Any]] = []
        # ev/end frames of a subscription that arrive before its response is handed out
        self._early: dict[int, list[tuple[str, Any]]] = {}
        self._tasks: trio.Nursery | None = None

    async def read_welcome(self) -> dict[str, Any]:
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                raise ServiceUnavailable("The broker closed the connection during the hello.")
            try:
                messages = self.decoder.feed(data)
            except FramingError as exc:
                raise ServiceUnavailable(f"The broker's answer cannot be read: {exc}") from None
            if messages:
                first, self._backlog = messages[0], messages[1:]
                if first.get("t") == wire.FATAL:
                    raise from_dict(first.get("e") or {})
                if first.get("t") != wire.WELCOME:
                    raise ServiceUnavailable(f"Expected a welcome, got {first.get('t')!r}.")
                return first

    # ------------------------------------------------------------------ requests
    def send(self, message: dict[str, Any]) -> None:
        self.send_frame(encode(message))

    def send_frame(self, frame: bytes) -> None:
        self._out.append(frame)
        self._wake.set()

    async def request(self, service: str, operation: str, params: Any) -> dict[str, Any]:
        if not self.alive:
            raise ServiceUnavailable("The connection to the broker was lost.")
        self._next += 1
        rid = self._next
        try:
            frame = encode(
                {"t": wire.REQUEST, "id": rid, "svc": service, "op": operation, "p": params}
            )
        except Exception as exc:  # a parameter msgpack cannot carry
            raise InvalidParameterValue(
                f"Cannot send the parameters of {operation}: {exc}"
            ) from None
        call = _Call()
        self.calls[rid] = call
        self.send_frame(frame)
        try:
            await call.wait()
        except trio.Cancelled:
            # trio's rule: a cancelled operation either happened or did not. Ask the server to
            # stop it and wait for its answer: a result means it happened (a long poll that
            # had already taken messages hands them over); anything else means it did not.
            if not call.done and self.alive:
                self.send({"t": "cancel", "id": rid})
                with trio.CancelScope(shield=True):
                    await call.wait()
            if call.error is not None or not isinstance(call.result, dict):
                raise
        finally:
            self.calls.pop(rid, None)
        if call.error is not None:
            raise call.error
        result = call.result
        if not isinstance(result, dict):
            raise ServiceUnavailable("The broker's answer is not a map.")
        if service == "lambda" and operation == "Invoke" and "Payload" in result:
            result["Payload"] = InvokePayload(result["Payload"] or b"")
        elif operation == "SubscribeToShard" and isinstance(result.get("EventStream"), dict):
            stream = self.streams[rid] = _EventStream(self, rid)
            result["EventStream"] = stream
            for kind, value in self._early.pop(rid, []):
                stream.push(kind, value)
        return result

    async def register(self, served: _Served) -> None:
        result = await self.request(
            "worker", "Register", {"FunctionName": served.name, "Concurrency": served.concurrency}
        )
        wid = int(result["WorkerId"])
        self.workers[wid] = served
        self._ids[served.name] = wid

    async def deregister(self, served: _Served) -> None:
        wid = self._ids.get(served.name)
        if wid is not None and self.workers.get(wid) is served:
            del self._ids[served.name]
            del self.workers[wid]
            await self.request("worker", "Deregister", {"WorkerId": wid})

    # ------------------------------------------------------------------ tasks
    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._tasks = nursery
                nursery.start_soon(self._writer)
                self._dispatch(self._backlog)
                self._backlog = []
                await self._reader()
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as group:
            # The reader and the writer run in a nursery, so a reset arrives as a group (one
            # failure each, at times): the calls in flight fail, the client's block goes on.
            exc = _single(group)
            self._lost(ServiceUnavailable(f"The connection to the broker was lost: {exc}"))
        finally:
            self._lost(ServiceUnavailable("The connection to the broker was lost."))
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self.stream)

    async def _writer(self) -> None:
        stream = self.stream
        while True:
            if not self._out:
                await self._wake.wait()
                self._wake = trio.Event()
                continue
            batch = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            await stream.send_all(batch)

    async def _reader(self) -> None:
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                return
            try:
                messages = self.decoder.feed(data)
            except FramingError as exc:
                self._dispatch(exc.messages)
                self._lost(ServiceUnavailable(f"The broker's answer cannot be read: {exc}"))
                return
            self._dispatch(messages)
            if not self.alive:
                return

    def _dispatch(self, messages: list[dict[str, Any]]) -> None:
        calls = self.calls
        for m in messages:
            t = m.get("t")
            if t == wire.RESPONSE:
                call = calls.get(m.get("id"))  # type: ignore[arg-type]
                if call is None:
                    if "e" in m:
                        log.warning("the broker refused a message: %s", m["e"])
                    continue
                err = m.get("e")
                if err is not None:
                    call.error = from_dict(err if isinstance(err, dict) else {})
                else:
                    call.result = m.get("r")
                call.finish()
            elif t == "ev" or t == "end":
                rid = m.get("id")
                value = m.get("ev") if t == "ev" else _end_error(m)
                stream = self.streams.get(rid)  # type: ignore[arg-type]
                if stream is not None:
                    stream.push(t, value)
                elif rid in calls:  # before the response was handed out
                    self._early.setdefault(rid, []).append((t, value))  # type: ignore[arg-type]
            elif t == "inv" and self._tasks is not None:
                self._tasks.start_soon(self._invocation, m)
            elif t == "cancel":
                scope = self.invocations.get(m.get("id"))  # type: ignore[arg-type]
                if scope is not None:
                    scope.cancel()
            elif t == wire.FATAL:
                self._lost(from_dict(m.get("e") or {}))
                return

    async def _invocation(self, m: dict[str, Any]) -> None:
        iid = m.get("id")
        served = self.workers.get(m.get("w"))  # type: ignore[arg-type]
        request = m.get("req")
        if served is None or not isinstance(request, dict):
            reply: dict[str, Any] = {
                "status": "error",
                "error_type": "Runtime.ExitError",
                "error_message": "This worker no longer serves the function.",
                "log": "",
            }
        else:
            with trio.CancelScope() as scope:
                self.invocations[iid] = scope  # type: ignore[index]
                try:
                    reply = await run_invocation(served.handler, request)
                finally:
                    self.invocations.pop(iid, None)  # type: ignore[arg-type]
            if scope.cancelled_caught:
                return  # the broker gave up on it (timeout): nobody waits for the reply
        if self.alive:
            self.send({"t": "done", "id": iid, "reply": reply})

    def _lost(self, error: BrokerError) -> None:
        if not self.alive:
            return
        self.alive = False
        self.closed.set()
        for call in list(self.calls.values()):
            if not call.done:
                call.error = error
                call.finish()
        for stream in list(self.streams.values()):
            stream.push("end", error)
        self._wake.set()
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()


def _single(group: BaseExceptionGroup) -> BaseException:
    """The one exception inside (nested) single-member groups, else the group itself."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _end_error(m: dict[str, Any]) -> BrokerError | None:
    e = m.get("e")
    return from_dict(e) if isinstance(e, dict) else None
