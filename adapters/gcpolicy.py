"""The daemon's garbage-collector policy: stored messages are long-lived, so stop rescanning them.

CPython's cycle collector walks every tracked object of the oldest generation in each full
collection, and it runs one whenever the objects promoted there since the last exceed a quarter
of those that survived it. A broker holding a million queued messages (each a tracked object)
therefore rescans all of them again and again as the queue grows: measured in ``msgsim serve``
under ``python -m bench tcp``, full collections took 130-220 ms each and about a tenth of the
daemon's time.

:class:`LongLivedObjects` moves what survives a full collection into the permanent generation
(:func:`gc.freeze`), so later full collections look only at what arrived since. Frozen objects are
still freed by reference counting the moment nothing refers to them (a deleted or received
message goes at once, as before). Only garbage that reference counting cannot free, a reference
cycle among frozen objects, waits: now and then the policy unfreezes everything first, so that
one full collection looks at the whole heap again. That complete collection comes at most once
every ``every`` seconds, and later still if the last one took long: never more than
``1 / patience`` of the time (a complete scan of a million messages takes a fraction of a
second). Cyclic garbage thus outlives its use by a minute or so, as it may under the default
policy, while the stored messages are scanned about once instead of four or five times.

The process-wide collector is the daemon's to tune: :func:`msgsim.adapters.cli.serve` installs the
policy for its run. A broker embedded in someone else's process (tests, in-process clients)
keeps the interpreter's defaults.
"""

from __future__ import annotations

import gc
import time
from typing import Any

__all__ = ["LongLivedObjects"]


class LongLivedObjects:
    """A context manager: while entered, survivors of full collections are frozen (see module)."""

    def __init__(
        self,
        *,
        every: float = 60.0,
        patience: float = 50.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.every = every
        self.patience = patience
        self._clock = clock
        self._frozen = False  # whether anything is frozen (counting them walks them all)
        self._next_complete = 0.0  # clock time from which a full collection sees everything
        self._complete_since: float | None = None  # start of the complete collection under way
        #: Full collections seen, and how many of them were complete (for tests and stats).
        self.full_collections = 0
        self.complete_collections = 0

    def __enter__(self) -> LongLivedObjects:
        self._next_complete = self._clock() + self.every
        gc.callbacks.append(self._on_collection)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_collection)
        gc.unfreeze()  # give the process its collector back as it was

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        now = self._clock()
        if phase == "start":
            if not self._frozen or now >= self._next_complete:
                self._complete_since = now
                gc.unfreeze()  # this one looks at everything, cycles among old objects too
                self._frozen = False
            return
        self.full_collections += 1
        if self._complete_since is not None:
            self.complete_collections += 1
            self._next_complete = now + max(
                self.every, self.patience * (now - self._complete_since)
            )
            self._complete_since = None
        gc.freeze()  # what survived a full collection is left out of the next ones
        self._frozen = True
