"""Pieces every benchmark uses: progress lines on stderr and runs on trio's virtual clock."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def run_virtual(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run `fn(*args)` under trio on a MockClock that jumps whenever all tasks wait."""
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))
