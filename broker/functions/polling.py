"""What the event source mapping pollers share: waiting for a mapping to change, and the
invocation they make.

A poller (:mod:`.sqs_poller`, :mod:`.kinesis_poller`) runs while its mapping exists. When the
mapping is disabled, its function deleted, or it is in a passing state (Creating, Enabling,
Updating, ...), the poller waits on the :class:`MappingWatch` until the mapping changes (an
operation bumps its ``version``) or the passing state ends; the runner tells the watch after
every Lambda operation (:meth:`MappingWatch.notify`).

A poller invokes through an :data:`InvokeBatch` the runner hands it: a synchronous invocation
that takes a unit of concurrency, or a THROTTLED outcome when none is free.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import trio

from .mappings import EventSourceMapping
from .model import Function
from .outcome import Outcome

#: ``invoke(function, event, source)``: run one batch; THROTTLED when no concurrency is free.
InvokeBatch = Callable[[Function, Any, str], Awaitable[Outcome]]


class MappingWatch:
    """Pollers waiting for their mapping to change, each with the mapping version it saw."""

    def __init__(self) -> None:
        #: mapping uuid -> (event to set, the mapping version the poller saw)
        self.waiters: dict[str, list[tuple[trio.Event, int]]] = {}

    def notify(self, mappings: Mapping[str, EventSourceMapping]) -> None:
        """Wake every poller whose mapping is no longer the version it saw (or is gone)."""
        for uuid, waiters in list(self.waiters.items()):
            mapping = mappings.get(uuid)
            version = -1 if mapping is None else mapping.version
            still = []
            for event, seen in waiters:
                if seen != version:
                    event.set()
                else:
                    still.append((event, seen))
            if still:
                self.waiters[uuid] = still
            else:
                del self.waiters[uuid]

    @contextlib.contextmanager
    def watching(self, mapping: EventSourceMapping, event: trio.Event) -> Iterator[None]:
        """While inside, ``event`` is set when the mapping changes (enabled, updated,
        deleted)."""
        entry = (event, mapping.version)
        self.waiters.setdefault(mapping.uuid, []).append(entry)
        try:
            yield
        finally:
            waiters = self.waiters.get(mapping.uuid)
            if waiters is not None and entry in waiters:
                waiters.remove(entry)
                if not waiters:
                    del self.waiters[mapping.uuid]

    async def wait(self, mapping: EventSourceMapping) -> None:
        """Wait until the mapping changes (enabled, updated, deleted) or a passing state ends."""
        event = trio.Event()
        now = trio.current_time()
        wake = mapping._due if mapping._target is not None else math.inf
        with self.watching(mapping, event), trio.move_on_at(max(wake, now)):
            await event.wait()
        mapping.advance(trio.current_time())


def usable(mapping: EventSourceMapping, now: float) -> bool:
    """Whether the mapping should poll now: enabled, and its function not deleted."""
    mapping.advance(now)
    fn = mapping.function
    return mapping.active and not fn.deleted
