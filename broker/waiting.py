"""Waiting lines of competing consumers: long polls and Lambda pollers parked on one SQS queue.

Consumers of a queue compete for its messages, so a send wakes one waiter, not all of them (with
10,000 parked polls, waking all cost every send 0.23 s of CPU). The rules that keep every message
reaching a waiter, and every waiter its turn:

- Waiters are served in arrival order. Each gets a place (an arrival number) when it first
  parks and keeps it: a waiter woken for nothing re-parks at its place, ahead of later arrivals.
- A touch (a send, a message made visible, a group unlocked) wakes the first waiter.
- A waiter that leaves the line for good (it got messages, its wait ended, it was cancelled)
  wakes the next one: if more is to be had, the next takes it, and so on, one at a time; the
  first that finds nothing re-parks, and the chain stops.
- Timers (a delayed message due, a visibility timeout lapsing) are watched by the first waiter
  only -- plus any later one that saw an earlier timer than the first had. A later waiter whose
  timer fires wakes the first instead of taking a message out of turn.
- Deleting the queue, and the broker draining, wake everyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any

import trio


class Line:
    """The parked waiters of one key, by arrival number (a heap with lazy deletion)."""

    __slots__ = ("_heap", "_parked", "armed")

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._parked: dict[int, trio.Event] = {}
        #: the timer the first waiter watches (None: none)
        self.armed: float | None = None

    def __len__(self) -> int:
        return len(self._parked)

    def first(self) -> int | None:
        heap, parked = self._heap, self._parked
        while heap and heap[0] not in parked:
            heappop(heap)
        return heap[0] if heap else None

    async def park(self, seq: int, wake_at: float) -> bool:
        """Wait at place ``seq`` until woken (True) or ``wake_at`` (False)."""
        parked = self._parked
        if len(self._heap) > 2 * len(parked) + 64:  # drop places of waiters long gone
            self._heap = sorted(parked)
        event = parked[seq] = trio.Event()
        heappush(self._heap, seq)
        try:
            with trio.move_on_at(wake_at):
                await event.wait()
        finally:
            if parked.get(seq) is event:
                del parked[seq]
        return event.is_set()

    def wake(self, n: int = 1) -> int:
        """Wake the first ``n`` waiters; how many were woken."""
        woken = 0
        while woken < n:
            seq = self.first()
            if seq is None:
                break
            heappop(self._heap)
            self._parked.pop(seq).set()
            woken += 1
        return woken

    def wake_all(self) -> int:
        parked = self._parked
        woken = len(parked)
        for seq in sorted(parked):
            parked[seq].set()
        parked.clear()
        self._heap.clear()
        return woken


class Place:
    """One waiter's place in a :class:`Line`, for the whole of its wait (see the module)."""

    __slots__ = ("_lines", "key", "seq")

    def __init__(self, lines: Lines, key: Any, seq: int) -> None:
        self._lines = lines
        self.key = key
        self.seq = seq

    async def wait(self, deadline: float, timer: float | None) -> None:
        """Until woken, the deadline, or (first in line) the timer."""
        lines, key, seq = self._lines, self.key, self.seq
        while True:
            # The line is fetched anew for each wait: an empty one is retired on leaving.
            line = lines.line(key)
            first = line.first()
            ahead = first is not None and first < seq
            watch = timer is not None and (not ahead or line.armed is None or timer < line.armed)
            if watch or not ahead:
                line.armed = timer
            try:
                woken = await line.park(seq, min(deadline, timer) if watch else deadline)
            finally:
                lines.retire(key, line)
            if woken or not watch or trio.current_time() >= deadline:
                return
            first = line.first()
            if first is None or first > seq:
                return  # first in line: look for what the timer brought
            # A timer fired while others were ahead: the first takes its turn (and looks at the
            # timers anew); this one waits on without a timer.
            lines.wakeups += line.wake(1)
            timer = None

    def leave(self) -> None:
        """This waiter is done: the next one gets its turn."""
        self._lines.wake(self.key, 1)


class Lines:
    """The waiting lines of a broker's competing consumers, by key."""

    def __init__(self) -> None:
        self._lines: dict[Any, Line] = {}
        self._arrivals = 0
        #: waiters woken so far (touches, turns passed on, timers handed to the first)
        self.wakeups = 0

    def line(self, key: Any) -> Line:
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = Line()
        return line

    def retire(self, key: Any, line: Line) -> None:
        if not line and self._lines.get(key) is line:
            del self._lines[key]

    @contextmanager
    def place(self, key: Any) -> Iterator[Place]:
        """A place at the end of ``key``'s line; leaving the block passes the turn on."""
        self._arrivals += 1
        place = Place(self, key, self._arrivals)
        try:
            yield place
        finally:
            place.leave()

    def wake(self, key: Any, n: int = 1) -> None:
        line = self._lines.get(key)
        if line is not None:
            self.wakeups += line.wake(n)

    def wake_all(self, key: Any | None = None) -> None:
        lines = self._lines.values() if key is None else [self._lines.get(key)]
        for line in lines:
            if line is not None:
                self.wakeups += line.wake_all()
