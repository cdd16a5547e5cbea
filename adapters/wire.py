"""The TCP protocol's framing and messages, sans-IO (spec: docs/protocol.md).

A frame is a 4-byte big-endian length followed by that many bytes of msgpack encoding one map.
:class:`FrameDecoder` turns received bytes into messages and :func:`encode` turns a message into
a frame; neither touches a socket, so the server, the client and the tests share them.

Binary values stay binary (msgpack bin); timestamps travel as msgpack's Timestamp extension and
come back as timezone-aware datetimes.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Mapping
from typing import Any

import msgpack

#: The protocol version this module speaks (the hello and welcome carry it).
PROTOCOL_VERSION = 1
#: Default largest frame (payload bytes after the length prefix) either side accepts.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
#: Default number of requests one connection may have in flight before the server stops reading.
DEFAULT_MAX_IN_FLIGHT = 256

_LENGTH = struct.Struct(">I")
HEADER_SIZE = _LENGTH.size

# Message types (the "t" key of every message).
HELLO = "hello"  # client -> server, first frame: {"v": version, "token": str | None}
WELCOME = "welcome"  # server -> client: {"v", "server", "max_frame", "max_in_flight"}
REQUEST = "req"  # {"id": int, "svc": str, "op": str, "p": map}
RESPONSE = "res"  # {"id": int, "r": map} or {"id": int, "e": error}
FATAL = "fatal"  # server -> client, last frame before closing: {"e": error}


class FramingError(Exception):
    """The byte stream cannot be read as frames any more (the connection must close).

    ``code`` is the error code the final error frame carries."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: Complete messages that arrived before the bad frame (the receiver still owes them
        #: what it owes any message: an answer).
        self.messages: list[dict[str, Any]] = []


class FrameDecoder:
    """Incremental decoder: :meth:`feed` bytes as they arrive, get back complete messages.

    A frame longer than ``max_frame``, or one whose payload is not exactly one msgpack map,
    raises :class:`FramingError`; after that the decoder is unusable (framing is lost)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._need: int | None = None  # payload length of the frame being read
        self._broken = False

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a returned message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if self._broken:
            raise FramingError("FramingLost", "The connection's framing was lost earlier.")
        buf = self._buf
        buf += data
        out: list[dict[str, Any]] = []
        pos = 0
        try:
            while True:
                if self._need is None:
                    if len(buf) - pos < HEADER_SIZE:
                        break
                    (need,) = _LENGTH.unpack_from(buf, pos)
                    if need > self.max_frame:
                        raise FramingError(
                            "FrameTooLarge",
                            f"A frame of {need} bytes is over the limit of {self.max_frame}.",
                        )
                    pos += HEADER_SIZE
                    self._need = need
                need = self._need
                if len(buf) - pos < need:
                    break
                payload = bytes(buf[pos : pos + need])
                pos += need
                self._need = None
                out.append(decode_payload(payload))
        except FramingError as exc:
            self._broken = True
            exc.messages = out
            raise
        finally:
            if pos:
                del buf[:pos]
        return out


def decode_payload(payload: bytes) -> dict[str, Any]:
    """One frame's payload as a message map; FramingError if it is not exactly one map."""
    try:
        obj = msgpack.unpackb(
            payload, raw=False, timestamp=3, strict_map_key=False, unicode_errors="surrogatepass"
        )
    except Exception as exc:  # msgpack raises several types (ExtraData, FormatError, ValueError)
        raise FramingError("MalformedFrame", f"The frame is not msgpack: {exc}") from None
    if not isinstance(obj, dict):
        raise FramingError(
            "MalformedFrame", f"A frame must hold a msgpack map, not {type(obj).__name__}."
        )
    return obj


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as a frame (length prefix included)."""
    packers = _packers
    try:
        payload = packers.strict.pack(message)
    except UnicodeEncodeError:
        # A lone surrogate reaches the broker, which refuses it as AWS does (not the wire).
        # msgpack's strict UTF-8 is its fast path, so the lenient packer is the second try.
        payload = packers.lenient.pack(message)
    finally:
        if packers.read:
            packers.read.clear()
    if len(payload) > _PACKER_KEEPS:
        packers.__init__()  # a packer keeps its largest buffer: let a big one go
    return _LENGTH.pack(len(payload)) + payload


_PACKER_KEEPS = 1 << 20


class _Packers(threading.local):
    """One pair of reusable packers per thread (making a Packer per frame costs as much as
    packing a small response; a Packer resets itself after an error)."""

    def __init__(self) -> None:
        #: What ``_default`` read from payload streams during this encode: a second try must
        #: not read them again.
        self.read: dict[int, bytes] = {}
        self.strict = msgpack.Packer(use_bin_type=True, datetime=True, default=_default)
        self.lenient = msgpack.Packer(
            use_bin_type=True, datetime=True, default=_default, unicode_errors="surrogatepass"
        )


def _default(obj: Any) -> Any:
    """Values msgpack does not know: anything with ``read()`` (a payload stream) as its bytes,
    sets and tuples as arrays."""
    read = getattr(obj, "read", None)
    if callable(read):
        memo = _packers.read
        data = memo.get(id(obj))
        if data is None:
            data = read()
            if not isinstance(data, bytes):
                data = str(data).encode("utf-8", "surrogatepass")
            memo[id(obj)] = data
        return data
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} on the wire")


_packers = _Packers()


def error_map(
    code: str, message: str, sender_fault: bool = True, query_code: str | None = None
) -> dict[str, Any]:
    """An error as the protocol carries it (``query_code``: the legacy query-protocol code)."""
    out: dict[str, Any] = {"code": code, "message": message, "sender_fault": sender_fault}
    if query_code is not None:
        out["query_code"] = query_code
    return out


__all__ = [
    "DEFAULT_MAX_FRAME",
    "DEFAULT_MAX_IN_FLIGHT",
    "FATAL",
    "HEADER_SIZE",
    "HELLO",
    "PROTOCOL_VERSION",
    "REQUEST",
    "RESPONSE",
    "WELCOME",
    "FrameDecoder",
    "FramingError",
    "decode_payload",
    "encode",
    "error_map",
]
