"""The TCP protocol's framing (adapters/wire.py, spec in docs/protocol.md), sans-IO: messages
survive encoding and any split of the byte stream; anything that is not a frame of one msgpack
map, or a frame over the size limit, is a FramingError with the code the final error frame
carries, and never another exception."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgsim.adapters import wire

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=40)
    | st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
messages = st.dictionaries(st.text(max_size=8), values, max_size=6)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(messages, min_size=1, max_size=5), st.lists(st.integers(0, 10**6), max_size=12))
def test_messages_survive_any_split_of_the_stream(batch, cuts):
    stream = b"".join(wire.encode(m) for m in batch)
    decoder = wire.FrameDecoder()
    got = []
    for piece in split(stream, cuts):
        got.extend(decoder.feed(piece))
    assert got == batch
    assert decoder.buffered == 0


def test_binary_stays_binary_and_timestamps_come_back_as_aware_datetimes():
    at = datetime(2025, 1, 1, 0, 0, 1, 250000, tzinfo=UTC)
    (got,) = wire.FrameDecoder().feed(wire.encode({"Data": b"\x00\xff", "At": at, "S": "x"}))
    assert got == {"Data": b"\x00\xff", "At": at, "S": "x"}
    assert type(got["Data"]) is bytes and got["At"].tzinfo is not None


def test_a_payload_stream_is_sent_as_its_bytes():
    class Body:
        def read(self) -> bytes:
            return b'{"ok":true}'

    (got,) = wire.FrameDecoder().feed(wire.encode({"Payload": Body()}))
    assert got == {"Payload": b'{"ok":true}'}


def test_a_lone_surrogate_passes_and_a_payload_stream_is_read_once():
    """Text is packed as strict UTF-8 first; a lone surrogate (which the broker, not the wire,
    refuses) makes the encoder pack again, and a payload stream read on the first try must not
    be read again (a second read would give nothing)."""

    class Once:
        reads = 0

        def read(self) -> bytes:
            self.reads += 1
            return b"payload" if self.reads == 1 else b""

    body = Once()
    (got,) = wire.FrameDecoder().feed(wire.encode({"Payload": body, "Text": "a\ud800b"}))
    assert got == {"Payload": b"payload", "Text": "a\ud800b"}
    assert body.reads == 1


def test_the_reused_packers_are_clean_after_a_refused_value_and_a_large_frame():
    with pytest.raises(TypeError):
        wire.encode({"x": object()})
    big = {"Data": b"z" * (3 << 20)}
    small = {"t": "res", "id": 7, "r": {"ok": True}}
    for message in (small, big, small):
        assert wire.FrameDecoder(max_frame=4 << 20).feed(wire.encode(message)) == [message]
    assert wire.encode(small) == wire.encode(dict(small))


def test_frame_over_the_limit_fails_at_its_header_and_framing_is_lost():
    decoder = wire.FrameDecoder(max_frame=100)
    with pytest.raises(wire.FramingError) as info:
        decoder.feed(struct.pack(">I", 101))  # no payload needed to know
    assert info.value.code == "FrameTooLarge"
    with pytest.raises(wire.FramingError) as again:
        decoder.feed(wire.encode({"t": "req"}))
    assert again.value.code == "FramingLost"


def test_frame_at_the_limit_is_accepted():
    message = {"b": b"x" * 50}
    frame = wire.encode(message)
    decoder = wire.FrameDecoder(max_frame=len(frame) - wire.HEADER_SIZE)
    assert decoder.feed(frame) == [message]


@pytest.mark.parametrize(
    "payload",
    [
        msgpack.packb([1, 2]),  # not a map
        msgpack.packb("text"),
        msgpack.packb({"a": 1}) + b"\x01",  # trailing bytes
        b"\xc1",  # never used in msgpack
        b"",  # nothing
        msgpack.packb({"a": 1})[:-1],  # truncated inside the frame
    ],
)
def test_a_frame_that_is_not_exactly_one_map_is_malformed(payload):
    frame = struct.pack(">I", len(payload)) + payload
    with pytest.raises(wire.FramingError) as info:
        wire.FrameDecoder().feed(frame)
    assert info.value.code == "MalformedFrame"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 10**6), max_size=6))
def test_random_bytes_give_maps_or_a_framing_error_never_another_exception(data, cuts):
    decoder = wire.FrameDecoder(max_frame=1024)
    try:
        for piece in split(data, cuts):
            for message in decoder.feed(piece):
                assert isinstance(message, dict)
    except wire.FramingError as err:
        assert err.code in {"FrameTooLarge", "MalformedFrame", "FrameTooComplex"}


@settings(max_examples=100, deadline=None)
@given(messages, st.integers(0, 10**6), st.binary(min_size=1, max_size=3))
def test_a_mutated_frame_never_raises_anything_but_a_framing_error(message, where, junk):
    frame = bytearray(wire.encode(message))
    i = where % len(frame)
    frame[i : i + len(junk)] = junk
    decoder = wire.FrameDecoder(max_frame=4096)
    try:
        decoder.feed(bytes(frame))
    except wire.FramingError:
        pass


def test_values_the_wire_cannot_carry_are_refused_when_encoding():
    with pytest.raises(TypeError):
        wire.encode({"x": object()})
    with pytest.raises(TypeError):
        wire.encode({"x": datetime(2025, 1, 1)})  # naive: no instant to send


# ------------------------------------------------------------------ a server's decoding limits
def frame_of(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def nested(depth: int) -> dict:
    """A message whose maps and arrays nest ``depth`` deep (the message itself is level 1)."""
    inner: object = 1
    for i in range(depth - 1):
        inner = [inner] if i % 2 else {"k": inner}
    return {"t": "req", "p": inner}


def empty_arrays(n: int) -> bytes:
    """A map holding one array of ``n`` empty arrays: 1 byte each, 56 bytes each decoded."""
    return b"\x81\xa1a" + b"\xdd" + struct.pack(">I", n) + b"\x90" * n


HELLO = wire.encode({"t": "hello", "v": 1, "token": None})


def test_a_server_decoder_reads_a_small_first_frame_then_full_size_frames():
    """Before its hello a connection may send only a hello-sized frame; the limit is checked at
    the length prefix, so nothing of a larger frame is buffered. Frames after the first, even
    those that arrive in the same read as the hello, have the full limit."""
    decoder = wire.server_decoder(max_frame=1 << 20)
    with pytest.raises(wire.FramingError) as info:
        decoder.feed(struct.pack(">I", wire.HELLO_MAX_FRAME + 1))
    assert info.value.code == "FrameTooLarge" and "before the hello" in info.value.message
    big = {"t": "req", "b": b"x" * (wire.HELLO_MAX_FRAME * 4)}
    got = wire.server_decoder(max_frame=1 << 20).feed(HELLO + wire.encode(big))
    assert got == [{"t": "hello", "v": 1, "token": None}, big]


def test_frame_length_is_known_from_the_prefix_until_the_frame_is_complete():
    decoder = wire.FrameDecoder()
    frame = wire.encode({"b": b"x" * 1000})
    assert decoder.frame_length is None
    assert decoder.feed(frame[:10]) == []
    assert decoder.frame_length == len(frame) - wire.HEADER_SIZE
    assert decoder.feed(frame[10:]) == [{"b": b"x" * 1000}]
    assert decoder.frame_length is None


@pytest.mark.parametrize("depth", [1, 2, wire.MAX_DEPTH - 1, wire.MAX_DEPTH])
def test_nesting_up_to_the_depth_limit_is_decoded(depth):
    message = nested(depth)
    assert wire.server_decoder().feed(HELLO + wire.encode(message))[1] == message


@pytest.mark.parametrize("depth", [wire.MAX_DEPTH + 1, 200, 1000, 1100, 5000])
def test_nesting_past_the_depth_limit_is_a_framing_error(depth):
    """Past MAX_DEPTH, and past the 1,024 levels msgpack's own stack allows, the frame is
    FrameTooComplex (fatal): never a RecursionError later in whatever walks the message."""
    payload = b"\x81\xa1p" + b"\x91" * (depth - 1) + b"\xc0"  # {"p": [[[...nil...]]]}
    decoder = wire.server_decoder()
    decoder.feed(HELLO)
    with pytest.raises(wire.FramingError) as info:
        decoder.feed(frame_of(payload))
    assert info.value.code == "FrameTooComplex"
    assert wire.FrameDecoder().feed(frame_of(b"\x81\xa1p\x91\xc0")) == [{"p": [None]}]


def test_a_frame_of_empty_arrays_is_refused_before_it_decodes_to_many_times_its_size():
    """The amplification the probe found: 1-byte empty arrays decode to about 75 times their
    size. A server decoder stops at one value per BYTES_PER_VALUE bytes (and a single array
    declaring more is refused at its header); a client decoder, which trusts its server, reads it."""
    n = 4 * wire.VALUE_FLOOR
    payload = empty_arrays(n)
    decoder = wire.server_decoder()
    decoder.feed(HELLO)
    with pytest.raises(wire.FramingError) as info:
        decoder.feed(frame_of(payload))
    assert info.value.code == "FrameTooComplex"
    # the same values spread over arrays within each one's limit: the running count stops them
    chunk = wire.VALUE_FLOOR // 8
    spread = (
        b"\x81\xa1a\xdc"
        + struct.pack(">H", 32)
        + (b"\xdc" + struct.pack(">H", chunk) + b"\x90" * chunk) * 32
    )
    with pytest.raises(wire.FramingError) as info:
        wire.decode_payload(spread, wire.MAX_DEPTH, wire.BYTES_PER_VALUE)
    assert info.value.code == "FrameTooComplex"
    assert len(wire.FrameDecoder().feed(frame_of(payload))[0]["a"]) == n


def test_values_up_to_the_budget_are_decoded():
    n = wire.VALUE_FLOOR - 10  # the map, its key, the array and n arrays: within the floor
    got = wire.decode_payload(empty_arrays(n), wire.MAX_DEPTH, wire.BYTES_PER_VALUE)
    assert len(got["a"]) == n
    # a large frame of few values (the common large frame: one big binary) is not limited
    message = {"t": "req", "p": {"Data": b"x" * (8 * wire.VALUE_FLOOR)}}
    assert wire.decode_payload(wire.encode(message)[4:], wire.MAX_DEPTH, 16) == message


@settings(max_examples=100, deadline=None)
@given(messages, st.lists(st.integers(0, 10**6), max_size=6))
def test_a_server_decoder_reads_every_ordinary_message(message, cuts):
    """The limits never refuse what the protocol's messages look like (shallow, few values)."""
    decoder = wire.server_decoder()
    got = []
    for piece in split(HELLO + wire.encode(message), cuts):
        got.extend(decoder.feed(piece))
    assert got[1:] == [message]


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers(-100, 100) | st.text(max_size=3),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
        max_leaves=60,
    ),
    st.integers(1, 8),
)
def test_the_depth_limit_agrees_with_a_recursive_reading(value, max_depth):
    def depth(v: object) -> int:
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        return 0

    message = {"v": value}
    payload = wire.encode(message)[4:]
    try:
        assert wire.decode_payload(payload, max_depth) == message
        assert depth(message) <= max_depth
    except wire.FramingError as err:
        assert err.code == "FrameTooComplex"
        assert depth(message) > max_depth
