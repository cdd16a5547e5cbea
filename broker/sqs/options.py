"""Broker-wide SQS behaviour switches, chosen when the broker opens (see ``Broker.open``).

Both default to off: a broker then behaves as the strictest reading of AWS's guarantees
(standard queues in send order, no duplicates; no throughput quotas), which keeps tests exact.
"""

from __future__ import annotations


class SqsOptions:
    """Broker-wide SQS behaviour switches (see ``Broker.open``)."""

    __slots__ = ("at_least_once", "enforce_throughput")

    def __init__(self, at_least_once: bool = False, enforce_throughput: bool = False) -> None:
        #: AWS's standard-queue behaviours: duplicates, best-effort order, sampling short polls.
        self.at_least_once = at_least_once
        #: FIFO throughput quotas (300 transactions/s per action per queue, or per message
        #: group in high-throughput mode) answered with ThrottlingException.
        self.enforce_throughput = enforce_throughput
