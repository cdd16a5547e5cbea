"""Enhanced fan-out: one SubscribeToShard subscription, as a sans-IO feed of events.

The operation hands the runtime a :class:`Subscribe`; the runtime turns it into the response's
``EventStream``, an async iterator that asks :meth:`ShardFeed.poll` for the next event and parks
until the shard is written to, a timer is due, or the subscription ends. The feed decides what to
send: an event as soon as records are there (at most 2 MiB per second per consumer and shard when
throughput is enforced), an empty event when the subscriber has been idle for
``EMPTY_EVENT_INTERVAL`` (so it sees ``MillisBehindLatest`` and can checkpoint the
``ContinuationSequenceNumber``), and at the end of a closed shard a last event naming its
``ChildShards``. A subscription lasts 5 minutes, ends early if another subscription for the same
consumer and shard takes over (the old one then fails with ResourceInUseException), and fails with
ResourceNotFoundException if its stream or consumer goes away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import limits
from ..errors import ResourceInUseException, ResourceNotFoundException
from .stream import ACTIVE

if TYPE_CHECKING:
    from .shard import Shard
    from .state import KinesisState
    from .stream import Consumer, Stream

#: msgsim's choice: how long a caught-up subscriber waits before an empty event.
EMPTY_EVENT_INTERVAL = 5.0


class Subscribe:
    """What SubscribeToShard returns to the runtime: a feed to stream to the caller."""

    __slots__ = ("feed",)

    def __init__(self, feed: ShardFeed) -> None:
        self.feed = feed


class ShardFeed:
    """The state of one subscription: where it reads, when it ends, what it may send."""

    def __init__(
        self,
        kinesis: KinesisState,
        stream: Stream,
        consumer: Consumer,
        shard: Shard,
        pos: int,
        now: float,
    ) -> None:
        self._kinesis = kinesis
        self._stream = stream
        self._consumer = consumer
        self.shard = shard
        #: the runtime parks the subscriber on this key; writes to the shard touch it
        self.key = shard
        self.pos = pos
        self.deadline = now + limits.KINESIS_SUBSCRIPTION_SECONDS
        self.done = False
        self.taken_over = False
        self._last_event: float | None = None
        self._budget = 0.0  # byte debt at 2 MiB/s, as for GetRecords
        self._budget_t = now
        shard.subscribers += 1

    def close(self) -> None:
        if not self.done:
            self.done = True
            self.shard.subscribers -= 1

    def next_timer(self) -> float | None:
        """When the feed may have something to send without a write to the shard."""
        times = [self._stream.due]
        if self._last_event is not None:
            times.append(self._last_event + EMPTY_EVENT_INTERVAL)
        if self._budget < 0:
            times.append(self._budget_t - self._budget / limits.KINESIS_EFO_BYTES_PER_SECOND)
        return min(times)

    def poll(self, now: float) -> dict[str, Any] | None:
        """The next event, or None for nothing yet (or the subscription is over: ``done``)."""
        if self.done:
            return None
        if self.taken_over:
            self.close()
            raise ResourceInUseException(
                f"Another active subscription exists for consumer {self._consumer.arn} "
                f"and shard {self.shard.id}; this one was taken over."
            )
        if now >= self.deadline:
            self.close()
            return None
        kinesis, stream, shard = self._kinesis, self._stream, self.shard
        stream.advance(now)
        if (
            kinesis.by_incarnation.get(stream.incarnation) is not stream
            or not stream.readable
            or stream.consumers.get(self._consumer.name) is not self._consumer
            or self._consumer.status is not ACTIVE
            or stream.shards.get(shard.id) is not shard
        ):
            self.close()
            raise ResourceNotFoundException(
                f"Consumer {self._consumer.arn} or shard {shard.id} of stream {stream.name} "
                f"under account {kinesis.account_id} no longer exists."
            )
        shard.trim(now - stream.retention)
        enforce = kinesis.options.enforce_throughput
        if enforce:
            dt = now - self._budget_t
            self._budget = min(0.0, self._budget + dt * limits.KINESIS_EFO_BYTES_PER_SECOND)
            self._budget_t = now
            if self._budget < 0:
                return None
        pos = max(self.pos, shard.start_pos)
        end = shard.end_pos
        at_end_of_closed = not shard.is_open and pos >= end
        idle_due = self._last_event is None or now >= self._last_event + EMPTY_EVENT_INTERVAL
        if pos >= end and not at_end_of_closed and not idle_due:
            return None
        max_bytes = (
            limits.KINESIS_EFO_BYTES_PER_SECOND if enforce else limits.KINESIS_GET_RECORDS_MAX_BYTES
        )
        records, pos, nbytes = shard.read(pos, limits.KINESIS_GET_RECORDS_LIMIT_MAX, max_bytes)
        self.pos = pos
        if enforce:
            self._budget -= nbytes
        self._last_event = now
        event: dict[str, Any] = {
            "Records": records,
            "ContinuationSequenceNumber": shard.seq_before(pos),
            "MillisBehindLatest": kinesis.millis_behind(shard, pos, now),
        }
        if not shard.is_open and pos >= shard.end_pos:
            # The shard's end: ChildShards and no continuation point (how KCL and others tell).
            event["ContinuationSequenceNumber"] = None
            event["ChildShards"] = kinesis.child_shards(stream, shard)
            self.close()
        return {"SubscribeToShardEvent": event}
