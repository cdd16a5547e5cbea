"""The runtime side of a Kinesis event source mapping: one reader per shard, parents first.

Each shard is read into its sans-IO :class:`~.kinesis_source.KinesisShardSource`, which decides
batching, lanes (ParallelizationFactor), retries, bisection, checkpoints and tumbling windows;
this module does the waiting and the invoking. A child shard of a reshard starts only when its
parents are done (parent before child, as Lambda processes a resharded stream). A mapping reads
a shard by position, not by iterator (a reader may wait for hours; an iterator would expire);
a caught-up shard is polled about once a second, as Lambda does, and at once when a write lands.

It reads the Kinesis core through the small interface it declares (:class:`KinesisForMappings`),
so this package never imports the Kinesis service or the runtime.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import trio

from ..clock import Epoch
from ..errors import BrokerError
from .kinesis_source import KinesisShardSource, KinesisSourceConfig
from .mappings import EventSourceMapping
from .outcome import THROTTLED
from .polling import InvokeBatch, MappingWatch, usable
from .state import Delivery


class KinesisForMappings(Protocol):
    """What the readers need from the Kinesis core (msgsim.broker.kinesis's account has it)."""

    def stream_by_arn(self, arn: str, now: float) -> Any: ...

    def shards_of(self, stream: Any, now: float) -> list[Any]: ...

    def shard_known(self, stream: Any, shard_id: str, now: float) -> bool: ...

    def start_position(
        self, stream: Any, shard: Any, kind: str, timestamp: float | None, now: float
    ) -> int: ...

    def read_for_mapping(self, stream: Any, shard: Any, pos: int, now: float) -> dict[str, Any]: ...


class KinesisPoller:
    """Runs the Kinesis mappings of one broker (one :meth:`run` task per mapping)."""

    def __init__(
        self,
        *,
        kinesis: KinesisForMappings,
        region: str,
        epoch: Epoch,
        watch: MappingWatch,
        invoke: InvokeBatch,
        send: Callable[[Delivery], None],
        lot: Callable[[tuple[str, Any]], AbstractContextManager[trio.lowlevel.ParkingLot]],
    ) -> None:
        self._kinesis = kinesis
        self._region = region
        self._epoch = epoch
        self._watch = watch
        self._invoke = invoke
        #: starts delivering an OnFailure record (in the background)
        self._send = send
        #: the runtime's waiting list of a key; a put on a shard with subscribers wakes its list
        self._lot = lot

    async def run(self, mapping: EventSourceMapping) -> None:
        """Run a Kinesis mapping: one reader per shard; a child shard starts only when its
        parents are done (parent before child, as Lambda processes a resharded stream)."""
        kinesis = self._kinesis
        done: set[str] = set()
        started: set[str] = set()
        initial: set[str] | None = None  # shards there when the mapping started
        state = {"finished": trio.Event()}
        async with trio.open_nursery() as nursery:
            while not mapping.gone:
                now = trio.current_time()
                stream = kinesis.stream_by_arn(mapping.source_arn, now)
                if stream is None:
                    mapping.last_result = "PROBLEM: Stream not found."
                    await self._watch.wait(mapping)
                    continue
                shards = kinesis.shards_of(stream, now)
                if initial is None:
                    initial = {s.id for s in shards}
                for shard in shards:
                    sid = shard.id
                    if sid in started:
                        continue
                    parents = [
                        p
                        for p in (shard.parent_id, shard.adjacent_parent_id)
                        if p is not None and kinesis.shard_known(stream, p, now)
                    ]
                    if all(p in done for p in parents):
                        started.add(sid)

                        async def reader(
                            shard: Any = shard, first: bool = sid in initial, stream: Any = stream
                        ) -> None:
                            await self._shard(mapping, stream, shard, first)
                            done.add(shard.id)
                            state["finished"].set()

                        nursery.start_soon(reader)
                state["finished"] = trio.Event()
                with trio.move_on_after(60):
                    await state["finished"].wait()
            nursery.cancel_scope.cancel()

    async def _shard(
        self, mapping: EventSourceMapping, stream: Any, shard: Any, first: bool
    ) -> None:
        """Read one shard into its :class:`KinesisShardSource` and run the batches it forms.

        A shard there when the mapping started begins at StartingPosition (taken when the
        mapping first polls it); a child shard of a later reshard begins at its start (its
        parents were read to their end). UpdateEventSourceMapping settings apply from the next
        batch (ParallelizationFactor only to shards started after the update). A caught-up
        shard is polled about once a second, as Lambda does, and at once when a write lands.
        """
        kinesis = self._kinesis
        fn = mapping.function
        version = mapping.version
        source = KinesisShardSource(
            _kinesis_config(mapping.options),
            shard_id=shard.id,
            stream_arn=mapping.source_arn,
            function_arn=fn.arn,
            region=self._region,
            mapping_uuid=mapping.uuid,
            epoch_offset=self._epoch.wall(0.0),
            role=fn.config.get("Role"),
        )
        started = False
        position: int | None = None
        filtered = 0  # of source.stats["records_filtered"], already added to the mapping's
        running: set[int] = set()
        wake = trio.Event()

        def report(failures: list[dict[str, Any]]) -> None:
            target = mapping.options.on_failure
            for record in failures:
                if target:
                    self._send(Delivery(target, json.dumps(record), fn.arn))

        async with trio.open_nursery() as nursery:

            async def run_batch(batch: Any) -> None:
                outcome = await self._invoke(fn, batch.event, "kinesis")
                stats = mapping.stats
                stats["batches"] += 1
                stats["records"] += len(batch.records)
                if outcome.status == THROTTLED:
                    stats["throttles"] += 1
                elif not outcome.ok:
                    stats["failed_batches"] += 1
                report(source.complete(batch, outcome, trio.current_time()))
                mapping.last_result = "OK" if outcome.ok else "PROBLEM: Function call failed"
                running.discard(batch.id)
                wake.set()

            while not mapping.gone:
                now = trio.current_time()
                if not usable(mapping, now):
                    await self._watch.wait(mapping)
                    continue
                if mapping.version != version:
                    version = mapping.version
                    source.config = _kinesis_config(
                        mapping.options, source.config.parallelization_factor
                    )
                if not started:
                    started = True
                    position = kinesis.start_position(
                        stream,
                        shard,
                        mapping.options.starting_position if first else "TRIM_HORIZON",
                        mapping.options.starting_timestamp,
                        now,
                    )
                if position is not None and source.wants_records():
                    try:
                        got = kinesis.read_for_mapping(stream, shard, position, now)
                    except BrokerError as err:
                        if err.code == "ProvisionedThroughputExceededException":
                            await trio.sleep(1)
                            continue
                        mapping.last_result = f"PROBLEM: {err.code}"
                        return
                    # Empty caught-up reads matter too: they close tumbling windows on time.
                    source.add_records(got["Records"], now, got["MillisBehindLatest"])
                    position = got["Next"]
                    if position is None:
                        source.end_of_shard()
                    caught_up = not got["Records"]
                    if source.stats["records_filtered"] != filtered:
                        mapping.stats["filtered"] += source.stats["records_filtered"] - filtered
                        filtered = source.stats["records_filtered"]
                else:
                    caught_up = True
                while True:
                    now = trio.current_time()
                    batch = source.next_batch(now)
                    if batch is None:
                        break
                    # IteratorAge: the newest record's age when its batch is sent.
                    mapping.iterator_age[shard.id] = source.iterator_age_ms(now)
                    running.add(batch.id)
                    nursery.start_soon(run_batch, batch)
                report(source.take_failures())  # records too old before their first invoke
                if source.done and not running:
                    return
                if not caught_up and source.wants_records():
                    await trio.sleep(0)
                    continue
                read_at = trio.current_time()
                wake = trio.Event()
                polling = position is not None and source.wants_records()
                timer = source.next_timer()
                if polling and source.config.tumbling_window:
                    # An open window closes on a caught-up read after its end: keep reading.
                    timer = read_at + 1.0 if timer is None else min(timer, read_at + 1.0)
                await self._wait(mapping, shard, wake, timer, polling)
                # Lambda polls a caught-up shard about once a second: records written meanwhile
                # gather into one read rather than one read per write.
                if caught_up and polling and not wake.is_set():
                    await trio.sleep_until(read_at + 1.0)
                else:
                    await trio.sleep(0)

    async def _wait(
        self,
        mapping: EventSourceMapping,
        shard: Any,
        wake: trio.Event,
        timer: float | None,
        polling: bool,
    ) -> None:
        """Until a batch finishes (``wake``), the mapping changes, the source's timer is due,
        or (``polling``) a write lands on the shard."""
        deadline = math.inf if timer is None else timer
        with self._watch.watching(mapping, wake):
            if not polling:
                with trio.move_on_at(deadline):
                    await wake.wait()
                return
            shard.subscribers += 1  # a put on the shard now wakes its lot
            try:
                with self._lot(("kinesis", shard)) as lot, trio.move_on_at(deadline):
                    async with trio.open_nursery() as both:

                        async def on_lot() -> None:
                            await lot.park()
                            both.cancel_scope.cancel()

                        async def on_wake() -> None:
                            await wake.wait()
                            both.cancel_scope.cancel()

                        both.start_soon(on_lot)
                        both.start_soon(on_wake)
            finally:
                shard.subscribers -= 1


def _kinesis_config(opts: Any, parallelization_factor: int | None = None) -> KinesisSourceConfig:
    """A Kinesis mapping's settings as its shard sources take them."""
    return KinesisSourceConfig(
        batch_size=opts.batch_size,
        batching_window=float(opts.batching_window),
        parallelization_factor=parallelization_factor or opts.parallelization_factor,
        bisect_on_error=opts.bisect_on_error,
        maximum_retry_attempts=opts.maximum_retry_attempts,
        maximum_record_age=opts.maximum_record_age,
        report_batch_item_failures=opts.report_batch_item_failures,
        tumbling_window=opts.tumbling_window,
        filters=list(opts.filters),
        destination_on_failure=opts.on_failure,
    )
