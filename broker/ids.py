"""Identifiers drawn from the broker's one seeded RNG, so a run is reproducible by its seed."""

from __future__ import annotations

import random

# RFC 4122 version 4: the version nibble is 0100 and the variant bits are 10. Masking 128 random
# bits and setting those gives the same string as drawing them and then overwriting the digits.
_KEEP = ~(0xF << 76 | 0x3 << 62) & ((1 << 128) - 1)
_VERSION_VARIANT = 0x4 << 76 | 0x2 << 62


def uuid4_from(rng: random.Random) -> str:
    """A version-4 UUID string whose bits come from ``rng``."""
    h = (rng.getrandbits(128) & _KEEP | _VERSION_VARIANT).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid4_batch(rng: random.Random, n: int) -> list[str]:
    """``[uuid4_from(rng) for _ in range(n)]``, the same strings from one draw of ``rng``.

    ``getrandbits(128 * n)`` takes the same 32-bit words from the generator as ``n`` draws of 128
    bits and puts the first draw in the low bits, so the last UUID is at the front of the hex.
    """
    shape = _BATCH_SHAPES.get(n)
    if shape is None:
        shape = _BATCH_SHAPES[n] = (
            sum(_KEEP << (128 * i) for i in range(n)),
            sum(_VERSION_VARIANT << (128 * i) for i in range(n)),
            tuple(  # where each UUID's five groups are in the hex, first UUID first
                tuple(slice(i + a, i + b) for a, b in _GROUPS) for i in range(32 * (n - 1), -1, -32)
            ),
        )
    keep, version_variant, groups = shape
    h = (rng.getrandbits(128 * n) & keep | version_variant).to_bytes(16 * n, "big").hex()
    return [f"{h[a]}-{h[b]}-{h[c]}-{h[d]}-{h[e]}" for a, b, c, d, e in groups]


_GROUPS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))  # 8-4-4-4-12 hex digits
_BATCH_SHAPES: dict[int, tuple[int, int, tuple[tuple[slice, ...], ...]]] = {}
