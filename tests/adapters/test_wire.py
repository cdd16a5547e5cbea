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
        assert err.code in {"FrameTooLarge", "MalformedFrame"}


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
