"""The only module that reads time.

Deadlines in msgsim are ``trio.current_time()`` values: seconds on trio's clock, which is the real
monotonic clock in a daemon and ``trio.testing.MockClock`` in tests and scenarios. User-visible
timestamps (SentTimestamp, CreatedTimestamp, ...) are the broker's *epoch* (wall-clock seconds at
clock time 0 of the broker) plus elapsed clock time, so on a virtual clock they advance with
virtual time and are reproducible.
"""

from __future__ import annotations

import time
import warnings

import attrs
import trio
import trio.testing

#: Epoch used on a virtual clock when the caller gives none: 2025-01-01T00:00:00Z. A fixed value
#: keeps runs byte-for-byte reproducible.
DEFAULT_VIRTUAL_EPOCH = 1_735_689_600.0


def now() -> float:
    """Current time on trio's clock (seconds, monotonic)."""
    return trio.current_time()


def wall_time() -> float:
    """Seconds since the Unix epoch, from the operating system (real clock only)."""
    return time.time()


def on_virtual_clock() -> bool:
    """Whether the running trio loop uses a mock clock."""
    return isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)


class RealClockWarning(UserWarning):
    """A broker runs on the real clock where the virtual one was probably meant (in a test)."""


#: Set by msgsim's pytest plugin while pytest runs: the advice given, once, when a broker opens
#: on the real clock there. None elsewhere (a daemon on the real clock is the normal case).
real_clock_advice: str | None = None
_warned_real_clock = False


def warn_if_real_clock_in_tests() -> None:
    """Warn once per process if a broker opens on the real clock inside a pytest run."""
    global _warned_real_clock
    if real_clock_advice is None or _warned_real_clock or on_virtual_clock():
        return
    _warned_real_clock = True
    warnings.warn(real_clock_advice, RealClockWarning, stacklevel=4)


@attrs.define(frozen=True)
class Epoch:
    """Maps trio clock values to Unix wall-clock seconds."""

    #: Wall-clock seconds at trio clock value ``origin``.
    wall_at_origin: float
    origin: float

    @classmethod
    def start(cls, epoch: float | None) -> Epoch:
        """An epoch anchored now: ``epoch`` if given, else wall time (real clock) or a fixed
        default (virtual clock)."""
        if epoch is None:
            epoch = DEFAULT_VIRTUAL_EPOCH if on_virtual_clock() else wall_time()
        return cls(wall_at_origin=float(epoch), origin=now())

    def wall(self, t: float) -> float:
        """Unix seconds for trio clock value ``t``."""
        return self.wall_at_origin + (t - self.origin)

    def wall_ms(self, t: float) -> int:
        """Unix milliseconds for trio clock value ``t``."""
        return int((self.wall_at_origin + (t - self.origin)) * 1000)

    def clock_at(self, wall_seconds: float) -> float:
        """The trio clock value at which wall time is ``wall_seconds``."""
        return wall_seconds - self.wall_at_origin + self.origin
