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
    if n not in _BATCH_MASKS:
        _BATCH_MASKS[n] = (
            sum(_KEEP << (128 * i) for i in range(n)),
            sum(_VERSION_VARIANT << (128 * i) for i in range(n)),
        )
    keep, version_variant = _BATCH_MASKS[n]
    h = (rng.getrandbits(128 * n) & keep | version_variant).to_bytes(16 * n, "big").hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-"
        f"{h[i + 20 : i + 32]}"
        for i in range(32 * (n - 1), -1, -32)
    ]


_BATCH_MASKS: dict[int, tuple[int, int]] = {}
