"""Identifiers drawn from the broker's one seeded RNG, so a run is reproducible by its seed."""

from __future__ import annotations

import random


def uuid4_from(rng: random.Random) -> str:
    """A version-4 UUID string whose bits come from ``rng``."""
    n = rng.getrandbits(128)
    # Set the version (4) and the RFC 4122 variant bits, as uuid.uuid4() does.
    n = (n & ~(0xF000 << 64)) | (0x4000 << 64)
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
