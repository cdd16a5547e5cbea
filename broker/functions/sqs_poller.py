"""The runtime side of an SQS event source mapping: pollers that receive, invoke and delete.

As AWS describes the scaling: five concurrent batches to start; while messages are still
available after a receive, up to 300 more pollers a minute, to ScalingConfig.MaximumConcurrency
(or 1,250); a poller that finds the queue empty stops while there are more than five (scaling
back when traffic is low), and pollers beyond a lowered MaximumConcurrency stop after their
batch. A batch gathers messages until BatchSize, the batching window or the 6 MB payload limit;
the function's answer decides what is deleted (everything on success; with
ReportBatchItemFailures, all but the items it names; nothing on a function error or a throttle,
so the messages return after their visibility timeout). Messages FilterCriteria leave out are
deleted without an invocation, as AWS does.

A poller waits for messages as a long poll does, parked on the queue's waiting list in the
runtime; it reads the SQS core through the small interface it declares (:class:`SqsForMappings`),
so this package never imports the SQS service or the runtime.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Protocol

import trio

from .. import limits
from ..filters import FilterPolicy
from .mappings import EventSourceMapping
from .outcome import THROTTLED
from .polling import InvokeBatch, MappingWatch, usable


class WaitingPlace(Protocol):
    """A waiter's place in the line of a queue's consumers (the runtime's)."""

    key: Any

    async def wait(self, deadline: float, timer: float | None) -> None: ...


class SqsForMappings(Protocol):
    """What the pollers need from the SQS core (msgsim.broker.sqs's SqsService has it)."""

    touched: set[Any]

    def queue_by_arn(self, arn: str) -> Any: ...

    def receive_for_lambda(self, queue: Any, n: int, now: float) -> list[Any]: ...

    def lambda_record(self, queue: Any, msg: Any, region: str) -> dict[str, Any]: ...

    def delete_for_lambda(self, queue: Any, taken: list[tuple[Any, int]]) -> None: ...


class _Pollers:
    """The pollers of one SQS mapping: how many run, and the signal to add more."""

    __slots__ = ("count", "demand", "idle", "mapping")

    def __init__(self, mapping: EventSourceMapping) -> None:
        self.mapping = mapping
        self.count = 0
        self.idle = 0  # pollers waiting on an empty queue
        self.demand = trio.Event()

    def cap(self) -> int:
        """At most this many concurrent batches: ScalingConfig.MaximumConcurrency, or 1,250."""
        return (
            self.mapping.options.maximum_concurrency
            or limits.LAMBDA_ESM_SQS_CONCURRENCY_DEFAULT_MAX
        )

    def base(self) -> int:
        """The pollers a mapping keeps while idle: five (fewer under a lower maximum)."""
        return min(limits.LAMBDA_ESM_SQS_INITIAL_POLLERS, self.cap())


class SqsPoller:
    """Runs the SQS mappings of one broker (one :meth:`run` task per mapping)."""

    def __init__(
        self,
        *,
        sqs: SqsForMappings,
        region: str,
        watch: MappingWatch,
        invoke: InvokeBatch,
        wake: Callable[[str, Any], None],
        place: Callable[[tuple[str, Any]], AbstractContextManager[WaitingPlace]],
    ) -> None:
        self._sqs = sqs
        self._region = region
        self._watch = watch
        self._invoke = invoke
        #: the runtime's wake(service name, service), and place(key): a place in the key's line
        #: of waiters (long polls and pollers), kept for a whole wait
        self._wake = wake
        self._place = place

    async def run(self, mapping: EventSourceMapping) -> None:
        """Run an SQS mapping until it is deleted: pollers that each take a batch, invoke, and
        delete what succeeded, scaled as the module says."""
        state = _Pollers(mapping)
        async with trio.open_nursery() as nursery:

            def spawn(n: int) -> None:
                for _ in range(n):
                    state.count += 1
                    nursery.start_soon(self._poller, mapping, state)

            spawn(state.base())
            while not mapping.gone:
                if state.count < state.base():  # MaximumConcurrency raised, or pollers ended
                    spawn(state.base() - state.count)
                await state.demand.wait()
                state.demand = trio.Event()
                await trio.sleep(60)
                room = state.cap() - state.count
                queue = self._sqs.queue_by_arn(mapping.source_arn)
                backlog = queue is not None and queue.n_available > 0
                if room > 0 and backlog and not mapping.gone:
                    spawn(min(limits.LAMBDA_ESM_SQS_SCALE_UP_PER_MINUTE, room))
            nursery.cancel_scope.cancel()

    async def _receive(
        self, mapping: EventSourceMapping, n: int, state: _Pollers | None = None
    ) -> list[tuple[Any, int]] | None:
        """Receive up to ``n`` messages, waiting as long as it takes (an endless long poll that
        wakes only when a message may have become receivable). Each comes with its receive
        count when taken (the generation of its receipt handle, for the delete). With
        ``state``, None when this poller should stop instead of waiting (the mapping has more
        pollers than it needs while the queue is empty)."""
        with ExitStack() as places:
            return await self._receive_in_line(mapping, n, state, places)

    async def _receive_in_line(
        self, mapping: EventSourceMapping, n: int, state: _Pollers | None, places: ExitStack
    ) -> list[tuple[Any, int]] | None:
        sqs = self._sqs
        place: WaitingPlace | None = None
        while True:
            now = trio.current_time()
            if not usable(mapping, now):
                await self._watch.wait(mapping)
                continue
            queue = sqs.queue_by_arn(mapping.source_arn)
            if queue is None:
                mapping.last_result = "PROBLEM: The SQS queue does not exist."
                await self._watch.wait(mapping)
                continue
            got = sqs.receive_for_lambda(queue, n, now)
            if sqs.touched:
                self._wake("sqs", sqs)
            if got:
                if state is not None and queue.n_available and not state.idle:
                    state.demand.set()  # messages still available, every poller busy
                return [(m, m.receive_count) for m in got]
            if state is not None and state.count > state.base():
                return None
            # The broker's wait, as a long poll's: in line with the queue's other consumers,
            # at the same place each time; leaving the line passes the turn on.
            key = ("sqs", queue.uid)
            if place is None or place.key != key:
                places.close()
                place = places.enter_context(self._place(key))
            if state is not None:
                state.idle += 1
            try:
                await place.wait(math.inf, queue.next_timer())
            finally:
                if state is not None:
                    state.idle -= 1

    async def _poller(self, mapping: EventSourceMapping, state: _Pollers) -> None:
        """Take batches until the mapping is deleted or this poller is not needed. A batch
        gathers messages until BatchSize, the batching window or the 6 MB payload limit; a
        message that would take the batch past 6 MB starts the next batch instead."""
        budget = limits.LAMBDA_SYNC_PAYLOAD_MAX
        overhead = limits.LAMBDA_ESM_SQS_RECORD_OVERHEAD
        carry: list[tuple[Any, int]] = []
        try:
            while not mapping.gone:
                if state.count > state.cap() and not carry:
                    return  # MaximumConcurrency was lowered
                opts = mapping.options
                if carry:
                    batch, carry = carry, []
                else:
                    got = await self._receive(mapping, min(10, opts.batch_size), state)
                    if got is None:
                        return
                    batch = got
                size = 0
                for i, (m, _) in enumerate(batch):
                    size += len(m.body) + overhead
                    if size > budget and i:
                        batch, carry = batch[:i], batch[i:]
                        break
                if (opts.batching_window > 0 or opts.batch_size > 10) and not carry:
                    deadline = trio.current_time() + opts.batching_window
                    while len(batch) < opts.batch_size and not carry:
                        more = None
                        with trio.move_on_at(deadline):
                            more = await self._receive(
                                mapping, min(10, opts.batch_size - len(batch))
                            )
                        if not more:
                            break  # the window ended
                        for i, item in enumerate(more):
                            size += len(item[0].body) + overhead
                            if size > budget:
                                carry = more[i:]
                                break
                            batch.append(item)
                await self._batch(mapping, batch)
        finally:
            state.count -= 1

    async def _batch(self, mapping: EventSourceMapping, taken: list[tuple[Any, int]]) -> None:
        """Invoke the function with one batch; delete what succeeded (or was filtered out)."""
        sqs = self._sqs
        queue = sqs.queue_by_arn(mapping.source_arn)
        if queue is None:
            return
        region = self._region
        records = [sqs.lambda_record(queue, m, region) for m, _ in taken]
        filters = mapping.options.filters
        if filters:
            keep: list[tuple[Any, int]] = []
            drop: list[tuple[Any, int]] = []
            kept_records = []
            for item, record in zip(taken, records, strict=True):
                if _matches(filters, record, "body"):
                    keep.append(item)
                    kept_records.append(record)
                else:
                    drop.append(item)
            mapping.stats["filtered"] += len(drop)
            if drop:
                self._delete(queue, drop)  # AWS deletes messages the filters leave out
            if not keep:
                return
            taken, records = keep, kept_records
        fn = mapping.function
        outcome = await self._invoke(fn, {"Records": records}, "sqs")
        mapping.stats["batches"] += 1
        mapping.stats["records"] += len(records)
        if outcome.status == THROTTLED:
            mapping.stats["throttles"] += 1
            # The messages stay in flight and return after the visibility timeout (their
            # receive count grows, as AWS warns); back off before polling again.
            await trio.sleep(1)
            return
        if outcome.failed:
            mapping.stats["failed_batches"] += 1
            mapping.last_result = "PROBLEM: Function call failed"
            return
        mapping.last_result = "OK"
        if mapping.options.report_batch_item_failures:
            failed = _item_failures(outcome.payload, {r["messageId"] for r in records})
            if failed is None:  # a malformed answer fails the whole batch
                mapping.stats["failed_batches"] += 1
                return
            if failed:
                taken = [item for item in taken if item[0].message_id not in failed]
        self._delete(queue, taken)

    def _delete(self, queue: Any, taken: list[tuple[Any, int]]) -> None:
        sqs = self._sqs
        sqs.delete_for_lambda(queue, taken)
        if sqs.touched:
            self._wake("sqs", sqs)


def _matches(filters: list[FilterPolicy], record: dict[str, Any], body_key: str) -> bool:
    """Whether a record passes FilterCriteria: any pattern matches. A JSON body is matched as
    the parsed object; a plain-text body as the string."""
    view = dict(record)
    body = record.get(body_key)
    if isinstance(body, str):
        try:
            view[body_key] = json.loads(body)
        except ValueError:
            pass
    return any(f.matches_body(view) for f in filters)


def _item_failures(payload: Any, ids: set[str]) -> set[str] | None:
    """The ids a ReportBatchItemFailures answer names; None when the answer is malformed (then
    the whole batch counts as failed, as AWS documents)."""
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return None
    items = payload.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    out = set()
    for item in items:
        if not isinstance(item, dict):
            return None
        ident = item.get("itemIdentifier")
        if not isinstance(ident, str) or not ident or ident not in ids:
            return None
        out.add(ident)
    return out
