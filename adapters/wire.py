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
#: Largest first frame (the hello) a server reads from a connection that has not said hello yet.
HELLO_MAX_FRAME = 64 * 1024
#: Deepest nesting of maps and arrays a server decodes (the message map itself is level 1). AWS
#: request shapes nest fewer than 10 levels; Python code that recurses (repr, json, copy) fails
#: near 1,000.
MAX_DEPTH = 32
#: A server decodes at most one value (a map, an array, a scalar, a map key) per this many bytes
#: of a frame, and never fewer than ``VALUE_FLOOR``: a frame of empty arrays would otherwise
#: decode to about 75 times its size (each 1-byte empty array is a 56-byte list and a pointer).
BYTES_PER_VALUE = 16
VALUE_FLOOR = 64 * 1024

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

    A frame longer than ``max_frame`` (``first_max_frame`` for the first frame, when given: a
    server reads a small hello before it trusts a connection with more), or one whose payload
    is not exactly one msgpack map, raises :class:`FramingError`; after that the decoder is
    unusable (framing is lost).

    Decoding work is bounded by the frame's size N: no string, binary, extension or array may
    declare more than N bytes or elements nor a map more than N/2 pairs (msgpack checks each
    length before it allocates). With ``bytes_per_value`` the whole frame may decode to at most
    ``max(VALUE_FLOOR, N // bytes_per_value)`` values, and with ``max_depth`` maps and arrays
    may nest at most that deep; either violation is ``FrameTooComplex``, found while decoding
    (values) or before anything else walks the message (depth). A server sets both (see
    :func:`server_decoder`); a client trusts its server and decodes what it sends."""

    def __init__(
        self,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        first_max_frame: int | None = None,
        max_depth: int | None = None,
        bytes_per_value: int | None = None,
    ) -> None:
        self.max_frame = max_frame
        self.first_max_frame = first_max_frame
        self.max_depth = max_depth
        self.bytes_per_value = bytes_per_value
        self._buf = bytearray()
        self._need: int | None = None  # payload length of the frame being read
        self._first = True  # no frame decoded yet
        self._broken = False

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a returned message."""
        return len(self._buf)

    @property
    def frame_length(self) -> int | None:
        """The payload length of the frame being read (its length prefix has arrived and it is
        not complete yet), or None between frames: what the receiver will come to buffer."""
        return self._need

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
                    limit = self.max_frame
                    if self._first and self.first_max_frame is not None:
                        limit = min(limit, self.first_max_frame)
                    if need > limit:
                        first = " before the hello" if limit < self.max_frame else ""
                        raise FramingError(
                            "FrameTooLarge",
                            f"A frame of {need} bytes is over the limit of {limit}{first}.",
                        )
                    pos += HEADER_SIZE
                    self._need = need
                need = self._need
                if len(buf) - pos < need:
                    break
                payload = bytes(buf[pos : pos + need])
                pos += need
                self._need = None
                self._first = False
                out.append(decode_payload(payload, self.max_depth, self.bytes_per_value))
        except FramingError as exc:
            self._broken = True
            exc.messages = out
            raise
        finally:
            if pos:
                del buf[:pos]
        return out


def server_decoder(max_frame: int = DEFAULT_MAX_FRAME) -> FrameDecoder:
    """The decoder a server reads an untrusted connection with: a hello of at most
    ``HELLO_MAX_FRAME`` bytes first, then frames of ``max_frame``, nesting at most ``MAX_DEPTH``
    deep, at most one value per ``BYTES_PER_VALUE`` bytes."""
    return FrameDecoder(
        max_frame,
        first_max_frame=HELLO_MAX_FRAME,
        max_depth=MAX_DEPTH,
        bytes_per_value=BYTES_PER_VALUE,
    )


class _TooManyValues(Exception):
    pass


def decode_payload(
    payload: bytes, max_depth: int | None = None, bytes_per_value: int | None = None
) -> dict[str, Any]:
    """One frame's payload as a message map; FramingError if it is not exactly one map, or
    over the limits on nesting and values (see :class:`FrameDecoder`)."""
    n = len(payload)
    budget = n if bytes_per_value is None else max(VALUE_FLOOR, n // bytes_per_value)
    hooks: dict[str, Any] = {}
    if budget < n:
        # msgpack's limits bound each container; the budget bounds them all together. It is
        # counted as containers complete (each with its elements), so a frame of many small
        # containers stops at the budget, and one large one is refused by max_array_len or
        # max_map_len before it is allocated. A frame of at most `budget` bytes cannot hold
        # more values than it has bytes, so it needs no hooks (the common case costs nothing).
        left = budget

        def array(items: list[Any]) -> list[Any]:
            nonlocal left
            left -= len(items) + 1
            if left < 0:
                raise _TooManyValues
            return items

        def map_(pairs: dict[Any, Any]) -> dict[Any, Any]:
            nonlocal left
            left -= 2 * len(pairs) + 1
            if left < 0:
                raise _TooManyValues
            return pairs

        hooks = {"list_hook": array, "object_hook": map_}
    try:
        obj = msgpack.unpackb(
            payload,
            raw=False,
            timestamp=3,
            strict_map_key=False,
            unicode_errors="surrogatepass",
            max_str_len=n,
            max_bin_len=n,
            max_ext_len=n,
            max_array_len=min(n, budget),
            max_map_len=min(n, budget) // 2,
            **hooks,
        )
    except _TooManyValues:
        raise FramingError(
            "FrameTooComplex",
            f"A frame of {n} bytes decodes to more than {budget} values "
            f"(at most one per {bytes_per_value} bytes).",
        ) from None
    except msgpack.StackError:
        raise FramingError(
            "FrameTooComplex", "The frame nests deeper than msgpack reads."
        ) from None
    except Exception as exc:  # msgpack raises several types (ExtraData, FormatError, ValueError)
        if budget < n and "exceeds max_" in str(exc) and "_len(" in str(exc):
            # msgpack's words for a container declaring more elements than the budget allows
            raise FramingError(
                "FrameTooComplex", f"A frame of {n} bytes may hold at most {budget} values: {exc}"
            ) from None
        raise FramingError("MalformedFrame", f"The frame is not msgpack: {exc}") from None
    if not isinstance(obj, dict):
        raise FramingError(
            "MalformedFrame", f"A frame must hold a msgpack map, not {type(obj).__name__}."
        )
    if max_depth is not None and not _within_depth(obj, max_depth):
        raise FramingError(
            "FrameTooComplex", f"The frame nests maps and arrays more than {max_depth} deep."
        )
    return obj


_NESTED = (dict, list)


def _within_depth(message: dict[str, Any], max_depth: int) -> bool:
    """Whether maps and arrays nest at most ``max_depth`` deep, walking one level at a time
    (no recursion, and it stops at the first level too deep). Keys need no walk: msgpack
    refuses a map or an array as a map key (unhashable)."""
    level: list[Any] = [message]
    for _ in range(max_depth):
        below: list[Any] = []
        for c in level:
            below += [v for v in (c.values() if type(c) is dict else c) if type(v) in _NESTED]
        if not below:
            return True
        level = below
    return False


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
    "HELLO_MAX_FRAME",
    "MAX_DEPTH",
    "PROTOCOL_VERSION",
    "REQUEST",
    "RESPONSE",
    "WELCOME",
    "FrameDecoder",
    "FramingError",
    "decode_payload",
    "encode",
    "error_map",
    "server_decoder",
]
