"""A small HTTP server for tests of SNS's HTTP/S delivery, on trio and h11.

:func:`serve_endpoint` binds ``127.0.0.1`` on a free port and serves until its block exits. The
:class:`Endpoint` it yields records every request and answers with scripted status codes::

    async with serve_endpoint("/hook") as endpoint:
        endpoint.respond(500, 500)          # two failures, then 200s
        ...                                 # subscribe endpoint.url, publish
        await endpoint.wait_for(3)
        assert endpoint.requests[2].json()["Type"] == "Notification"

Connections are kept alive (HTTP/1.1, h11 starts a new cycle after every response) so a pooled
client such as ``httpx.AsyncClient`` reuses one connection; every answer carries an empty body
and its ``Content-Length``. The server speaks plain HTTP only. It uses real sockets, so tests
that use it run on the real clock (``@pytest.mark.real_clock``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio

__all__ = ["Endpoint", "Request", "serve_endpoint"]

_RECEIVE_SIZE = 65_536


@attrs.frozen
class Request:
    """One request the endpoint received."""

    method: str
    #: The request target as sent: the path and any query string.
    path: str
    #: Header names lower-cased; a repeated header keeps its values joined by ", ".
    headers: dict[str, str]
    body: bytes
    #: Which TCP connection carried it (0 for the endpoint's first connection, and so on).
    connection: int
    #: When it arrived, on the trio clock.
    time: float = 0.0

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class Endpoint:
    """The server side of one test endpoint; see the module docstring."""

    def __init__(self, url: str) -> None:
        #: ``http://127.0.0.1:<port>/<path>``
        self.url = url
        #: Every request received, in order of arrival.
        self.requests: list[Request] = []
        #: Seconds (on the trio clock) to wait before answering each request.
        self.delay: float = 0.0
        #: TCP connections accepted so far.
        self.connections = 0
        self._statuses: deque[int] = deque()
        self._arrivals = trio.lowlevel.ParkingLot()

    def respond(self, *statuses: int) -> None:
        """Answer the next requests with ``statuses``, in order; after them, 200.

        Statuses queue up behind any not used yet. Each must be a final status (200-599).
        """
        for status in statuses:
            if not 200 <= status <= 599:
                raise ValueError(f"a final HTTP status is 200-599, got {status}")
        self._statuses.extend(statuses)

    async def wait_for(self, n: int) -> None:
        """Return once ``n`` requests in all have been received."""
        while len(self.requests) < n:
            await self._arrivals.park()

    async def _serve(self, stream: trio.SocketStream) -> None:
        number = self.connections
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(stream, conn, number)
                if request is None:
                    return
                self.requests.append(request)
                self._arrivals.unpark_all()
                if self.delay > 0:
                    await trio.sleep(self.delay)
                status = self._statuses.popleft() if self._statuses else 200
                response = h11.Response(status_code=status, headers=[("content-length", "0")])
                await stream.send_all(conn.send(response) + conn.send(h11.EndOfMessage()))
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return  # either side asked to close ("Connection: close", HTTP/1.0)
                conn.start_next_cycle()
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # a client that hangs up or speaks nonsense just loses its connection
        finally:
            await stream.aclose()

    async def _read_request(
        self, stream: trio.SocketStream, conn: h11.Connection, number: int
    ) -> Request | None:
        """The next complete request on ``conn``, or None when the client closed."""
        head = await _next_event(stream, conn)
        if not isinstance(head, h11.Request):
            return None
        body = bytearray()
        while True:
            event = await _next_event(stream, conn)
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return None
        headers: dict[str, str] = {}
        for name, value in head.headers:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        return Request(
            method=head.method.decode("ascii"),
            path=head.target.decode("latin-1"),
            headers=headers,
            body=bytes(body),
            connection=number,
            time=trio.current_time(),
        )


async def _next_event(stream: trio.SocketStream, conn: h11.Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        # b"" at end of stream tells h11 the client closed its side.
        conn.receive_data(await stream.receive_some(_RECEIVE_SIZE))


@asynccontextmanager
async def serve_endpoint(path: str = "/hook") -> AsyncIterator[Endpoint]:
    """Serve an :class:`Endpoint` on ``127.0.0.1`` (a free port) until the block exits.

    On exit the server stops accepting and drops its open connections.
    """
    if not path.startswith("/"):
        path = "/" + path
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    endpoint = Endpoint(f"http://127.0.0.1:{port}{path}")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, endpoint._serve, listeners)
        try:
            yield endpoint
        finally:
            nursery.cancel_scope.cancel()
