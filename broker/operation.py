"""What an operation may hand back to the runtime besides a response dict.

Operations are synchronous and sans-IO. When one must wait (a long poll) it returns a
:class:`Park`; when it starts background work (a message move task) it queues a :class:`Job`.
The runtime does the waiting and the pacing; the service decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Park:
    """ "Nothing yet; ask again by ``deadline``, or sooner if ``key`` is touched or a timer is due."""

    __slots__ = ("deadline", "key", "next_timer", "retry")

    def __init__(
        self,
        deadline: float,
        key: Any,
        retry: Callable[[float, bool], dict[str, Any] | None],
        next_timer: Callable[[], float | None],
    ) -> None:
        self.deadline = deadline
        self.key = key
        #: retry(now, final) -> response, or None to keep waiting (never None when final)
        self.retry = retry
        self.next_timer = next_timer


class Job:
    """Background work paced by the runtime: ``step(now)`` every ``interval`` seconds until it
    returns True (done)."""

    __slots__ = ("interval", "step")

    def __init__(self, step: Callable[[float], bool], interval: float = 1.0) -> None:
        self.step = step
        self.interval = interval
