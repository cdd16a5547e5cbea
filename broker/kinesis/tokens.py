"""Self-contained tokens: shard iterators and pagination NextTokens.

A token carries everything needed to resume (for a shard iterator: the stream's incarnation, the
shard, the position and the time of issue) plus a keyed checksum, so minting one per GetRecords
costs no memory, and a stale or forged one is recognised: an iterator expires 5 minutes after
issue and dies with its stream (a stream re-created under the same name is a new incarnation).
The checksum is for integrity, not secrecy: users can read a token but cannot make one.
"""

from __future__ import annotations

import base64
import hashlib

_TOKEN_KEY = b"msgsim-kinesis-token-v1"
#: AWS's ShardIterator length limit.
ITERATOR_MAX_LEN = 512


def make_token(*parts: object) -> str:
    body = "|".join(map(str, parts))
    mac = hashlib.blake2b(body.encode(), key=_TOKEN_KEY, digest_size=9).hexdigest()
    return base64.b64encode(f"{body}|{mac}".encode()).decode()


def read_token(token: str, fields: int, ints: tuple[int, ...] = ()) -> list[str] | None:
    """The fields of a token made by :func:`make_token`, or None if it is not one (wrong
    checksum, wrong number of fields, or a field at an index in ``ints`` that is not a plain
    integer)."""
    if not 1 <= len(token) <= 4096:
        return None
    try:
        text = base64.b64decode(token, validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    body, _, mac = text.rpartition("|")
    want = hashlib.blake2b(body.encode(), key=_TOKEN_KEY, digest_size=9).hexdigest()
    parts = body.split("|")
    if mac != want or len(parts) != fields:
        return None
    for i in ints:
        if not (parts[i].isascii() and parts[i].isdigit() and len(parts[i]) < 30):
            return None
    return parts
