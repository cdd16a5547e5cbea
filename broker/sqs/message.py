"""SQS messages: the stored record, and the pure functions AWS defines over messages.

MD5 digests, size accounting and content rules follow the SQS API reference:

* ``MD5OfMessageBody`` is the hex MD5 of the UTF-8 body.
* ``MD5OfMessageAttributes`` (and ``MD5OfMessageSystemAttributes``) hash, for each attribute in
  name order: the 4-byte big-endian length and bytes of the name, the same for the data type,
  one transport byte (1 for String/Number, 2 for Binary) and the length-prefixed value.
* The size of a message is its UTF-8 body plus, for each message attribute, the bytes of its
  name, its data type and its value. System attributes (AWSTraceHeader) do not count.
* A body may only contain #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF;
  anything else is ``InvalidMessageContents``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from operator import attrgetter
from struct import pack
from typing import Any

# Message lifecycle. A message is in exactly one state; the allowed moves are the table below.
DELAYED = 0  # sent with a delay that has not elapsed
AVAILABLE = 1  # receivable
INFLIGHT = 2  # received, invisible until its visibility deadline
DELETED = 3  # deleted by a receipt handle, or purged
EXPIRED = 4  # retention period over
MOVED = 5  # moved to a dead-letter queue (or by a move task) -- lives on in the other queue

STATE_NAMES = ("DELAYED", "AVAILABLE", "INFLIGHT", "DELETED", "EXPIRED", "MOVED")

#: Allowed transitions of a message's life (from -> to). Terminal states have no way out.
TRANSITIONS: dict[int, frozenset[int]] = {
    DELAYED: frozenset({AVAILABLE, DELETED, EXPIRED}),
    AVAILABLE: frozenset({INFLIGHT, DELETED, EXPIRED, MOVED}),
    INFLIGHT: frozenset({AVAILABLE, DELETED, EXPIRED}),
    DELETED: frozenset(),
    EXPIRED: frozenset(),
    MOVED: frozenset(),
}
LIVE_STATES = frozenset({DELAYED, AVAILABLE, INFLIGHT})
#: TRANSITIONS indexed by state, for the hot path.
ALLOWED: tuple[frozenset[int], ...] = tuple(TRANSITIONS[s] for s in range(len(STATE_NAMES)))


class IllegalTransition(RuntimeError):
    """A message was asked to make a move its lifecycle table does not allow (a defect)."""


def illegal(msg: Message, new_state: int) -> IllegalTransition:
    return IllegalTransition(
        f"{msg!r} cannot move from {STATE_NAMES[msg.state]} to {STATE_NAMES[new_state]}"
    )


class Extra:
    """The rarely set parts of a message: attributes, FIFO ids, dead-letter origin. They live out
    of line so that a plain message stays small: every slot of a queued Message costs memory and
    garbage-collector time for as long as the message is stored."""

    __slots__ = (
        "attributes",
        "dedup_id",
        "md5_attributes",
        "md5_system",
        "origin",
        "sequence_number",
        "system",
    )

    def __init__(self) -> None:
        self.attributes: dict[str, Any] | None = None
        self.md5_attributes: str | None = None
        self.system: dict[str, Any] | None = None
        self.md5_system: str | None = None
        self.dedup_id: str | None = None
        self.sequence_number: str | None = None
        #: ARN of the queue a dead-lettered message came from (DeadLetterQueueSourceArn)
        self.origin: str | None = None

    def copy(self) -> Extra:
        e = Extra()
        for name in Extra.__slots__:
            setattr(e, name, getattr(self, name))
        return e


def _out_of_line(name: str) -> Any:
    """A Message attribute kept in its Extra (None while the message has none)."""
    read = attrgetter(name)

    def get(self: Message) -> Any:
        extra = self.extra
        return None if extra is None else read(extra)

    def put(self: Message, value: Any) -> None:
        extra = self.extra
        if extra is None:
            if value is None:
                return
            extra = self.extra = Extra()
        setattr(extra, name, value)

    return property(get, put, doc=f"The message's {name} (stored in its Extra).")


class Message:
    """One stored message. Plain slots class: it is the unit of memory per queued message."""

    __slots__ = (
        "body",
        "deadline_cap",
        "extra",
        "first_receive",
        "group_id",
        "md5_body",
        "message_id",
        "receive_count",
        "sent_at",
        "serial",
        "state",
        "visible_at",
    )

    attributes = _out_of_line("attributes")
    md5_attributes = _out_of_line("md5_attributes")
    system = _out_of_line("system")
    md5_system = _out_of_line("md5_system")
    dedup_id = _out_of_line("dedup_id")
    sequence_number = _out_of_line("sequence_number")
    origin = _out_of_line("origin")

    def __init__(
        self,
        message_id: str,
        body: str,
        md5_body: bytes,
        sent_at: float,
        attributes: dict[str, Any] | None = None,
        md5_attributes: str | None = None,
        system: dict[str, Any] | None = None,
        md5_system: str | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        sequence_number: str | None = None,
    ) -> None:
        self.message_id = message_id
        self.body = body
        self.md5_body = md5_body  # the 16-byte digest: half the memory of its hex string
        self.sent_at = sent_at
        self.group_id = group_id
        self.serial = 0
        self.state = AVAILABLE
        self.receive_count = 0
        self.first_receive: float | None = None
        self.visible_at = 0.0
        self.deadline_cap = 0.0
        self.extra: Extra | None = None
        if attributes or system or dedup_id is not None or sequence_number is not None:
            extra = self.extra = Extra()
            extra.attributes = attributes
            extra.md5_attributes = md5_attributes
            extra.system = system
            extra.md5_system = md5_system
            extra.dedup_id = dedup_id
            extra.sequence_number = sequence_number

    def __repr__(self) -> str:
        return (
            f"Message({self.message_id!r}, serial={self.serial}, "
            f"state={STATE_NAMES[self.state]}, receives={self.receive_count})"
        )

    def copy(self) -> Message:
        """A fresh record of the same message (same id, body, attributes and receive count)."""
        m = Message(self.message_id, self.body, self.md5_body, self.sent_at, group_id=self.group_id)
        if self.extra is not None:
            m.extra = self.extra.copy()
        m.receive_count = self.receive_count
        m.first_receive = self.first_receive
        return m


# Characters AWS rejects in a message body (the complement of the allowed XML character ranges).
_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


#: Maps each ASCII control character AWS forbids (all below 0x20 but tab, LF and CR) to 0x80 and
#: every other byte to itself: ASCII bytes stay ASCII after ``translate`` exactly when none of them
#: is forbidden. One table pass in C costs half of ``str.isprintable`` and, unlike it, lets DEL
#: (0x7F, which AWS allows) through.
CONTROL_TO_HIGH = bytes(0x80 if i < 0x20 and i not in (0x09, 0x0A, 0x0D) else i for i in range(256))


def first_forbidden_char(body: str) -> str | None:
    """The first character of ``body`` that AWS does not allow, or None."""
    if body.isascii() and body.encode().translate(CONTROL_TO_HIGH).isascii():
        return None
    m = _FORBIDDEN.search(body)
    return m.group() if m else None


try:  # CPython's built-in MD5 has less per-call overhead than OpenSSL's for small inputs
    from _md5 import md5 as _small_md5
except ImportError:  # pragma: no cover - CPython builds without it
    _small_md5 = hashlib.md5


def md5_for(size: int) -> Callable[[bytes], Any]:
    """The MD5 constructor that is quicker for data of ``size`` bytes."""
    return _small_md5 if size < 4096 else hashlib.md5


def md5_hex(data: bytes) -> str:
    return md5_for(len(data))(data).hexdigest()


def md5_digest(data: bytes) -> bytes:
    return md5_for(len(data))(data).digest()


def attribute_value_bytes(attr: dict[str, Any]) -> bytes:
    """The value bytes of a validated attribute (UTF-8 string or raw binary)."""
    if attr["DataType"].startswith("Binary"):
        return attr["BinaryValue"]
    return attr["StringValue"].encode("utf-8")


def md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    """MD5OfMessageAttributes as SQS computes it (see module docstring)."""
    parts: list[bytes] = []
    for name in sorted(attributes):
        attr = attributes[name]
        data_type: str = attr["DataType"]
        nb = name.encode("utf-8")
        tb = data_type.encode("utf-8")
        parts.append(pack(">I", len(nb)))
        parts.append(nb)
        parts.append(pack(">I", len(tb)))
        parts.append(tb)
        if data_type.startswith("Binary"):
            vb = attr["BinaryValue"]
            parts.append(b"\x02")
        else:
            vb = attr["StringValue"].encode("utf-8")
            parts.append(b"\x01")
        parts.append(pack(">I", len(vb)))
        parts.append(vb)
    return hashlib.md5(b"".join(parts)).hexdigest()


def attributes_size(attributes: dict[str, dict[str, Any]]) -> int:
    """Bytes that message attributes add to a message's size, as SQS counts them."""
    n = 0
    for name, attr in attributes.items():
        n += len(name.encode("utf-8")) + len(attr["DataType"].encode("utf-8"))
        n += len(attribute_value_bytes(attr))
    return n


def body_size(body: str) -> int:
    return len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))
