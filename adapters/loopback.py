"""The TCP protocol without a socket: a :class:`TcpClient` talking to a :class:`TcpServer` for a
broker in this trio program over in-memory streams.

Every byte goes through the same framing, encoding and dispatch as over TCP, but nothing leaves
the process and nothing waits on the operating system, so it runs on trio's virtual clock. The
test suite runs its integration tests through it as well as in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

from msgsim.broker import Broker

from .tcp_client import TcpClient
from .tcp_server import TcpServer


@asynccontextmanager
async def open_loopback_client(broker: Broker, **server_options: Any) -> AsyncIterator[TcpClient]:
    """A TcpClient for ``broker`` through an in-memory connection to a TcpServer."""
    server = TcpServer(broker, **server_options)
    async with trio.open_nursery() as nursery:

        async def connector() -> trio.abc.Stream:
            client_end, server_end = trio.testing.memory_stream_pair()
            nursery.start_soon(server.handle, server_end)
            return client_end

        async with TcpClient.over(connector) as client:
            client.server = server  # type: ignore[attr-defined]
            yield client
        nursery.cancel_scope.cancel()
