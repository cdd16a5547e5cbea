"""Pieces every benchmark uses: progress lines on stderr and runs on trio's virtual clock."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def run_virtual(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run `fn(*args)` under trio on a MockClock that jumps whenever all tasks wait."""
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


def timed_report(
    collect: Callable[[], dict[str, Any]],
    format_report: Callable[[dict[str, Any]], str],
    as_json: bool,
) -> int:
    """Run ``collect()``, print its report and total wall time (and the raw figures as JSON if
    asked); the exit code of a benchmark subcommand."""
    start = time.perf_counter()
    results = collect()
    results["wall_s"] = time.perf_counter() - start
    print(format_report(results))
    print(f"\n(total wall time {results['wall_s']:.1f} s)")
    if as_json:
        print(json.dumps(results, indent=2))
    return 0
