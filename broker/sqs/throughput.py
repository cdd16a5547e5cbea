"""FIFO throughput quotas, applied only when the broker enforces them
(``SqsOptions(enforce_throughput=True)``).

AWS allows 300 transactions per second per API action on a FIFO queue: per queue in normal mode,
per message group in high-throughput mode. Each (queue, action[, group]) counts its calls in the
current whole second of the broker's clock; the 301st is ThrottlingException and counts nothing.
Callers check the option first, so an unenforced broker pays nothing here.
"""

from __future__ import annotations

from .. import limits
from ..errors import ThrottlingException
from .queue import Queue
from .state import SqsState


def throttle(
    sqs: SqsState, queue: Queue, action: str, now: float, group: str | None = None
) -> None:
    """FIFO quotas when enforced: 300 transactions per second per API action, per queue in
    normal mode and per message group in high-throughput mode."""
    key = (queue.uid, action, group if queue.high_throughput else None)
    window = sqs.rate_windows.get(key)
    second = float(int(now))
    if window is None or window[0] != second:
        sqs.rate_windows[key] = [second, 1]
        return
    if window[1] >= limits.FIFO_TRANSACTIONS_PER_SECOND:
        raise ThrottlingException(
            f"Rate exceeded: {limits.FIFO_TRANSACTIONS_PER_SECOND} {action} transactions per "
            "second for this FIFO queue" + (" message group." if group else ".")
        )
    window[1] += 1
