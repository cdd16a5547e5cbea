"""Identifiers drawn from the broker's one seeded RNG, so a run is reproducible by its seed."""

from __future__ import annotations

import random

# The RFC 4122 variant nibble (10xx) for each hex digit the RNG may produce there.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4_from(rng: random.Random) -> str:
    """A version-4 UUID string whose bits come from ``rng``."""
    h = "%032x" % rng.getrandbits(128)  # noqa: UP031 -- %-formatting is the fastest here
    return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], _VARIANT[h[16]], h[17:20], h[20:])  # noqa: UP031
