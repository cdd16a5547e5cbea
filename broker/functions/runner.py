"""The runtime half of Lambda: runs handlers, drains the async queue, starts mapping pollers.

:class:`FunctionRunner` does what the sans-IO Lambda core (:class:`~.service.LambdaService`)
decides: it runs a synchronous Invoke the runtime hands it, starts every async event the core
says may run (:func:`~.async_events.start_due`) and reports each outcome back, makes the
deliveries the core puts in its outbox (destinations, dead-letter messages, OnFailure records),
and runs one poller task per event source mapping (:mod:`.sqs_poller`, :mod:`.kinesis_poller`).

Handlers run on the trio thread (:mod:`.execution`), or in a remote worker attached to their
function (:mod:`.workers`); what they print and log is captured per invocation
(:mod:`.capture`) and kept with the invocation's record for ListFunctionInvocations. An
import-string handler loads from the broker's handler roots only, when it has them
(:class:`~.handlers.HandlerRoots`). A function a worker has served never falls back to running
its handler here once its workers are gone: a handler written for a worker may block, and on the
trio thread it would stop the whole broker. Until a worker serves it again, a synchronous Invoke
fails with ResourceNotReadyException, a mapping's batch is throttled (retried), and an async event
goes back to its queue without counting as an attempt (:func:`~.async_events.defer_event`).

The runner never imports the runtime that owns it: the Broker passes in what it needs -- a way to
start background tasks, ``call`` for deliveries through SQS and SNS, the SQS and Kinesis cores the
pollers read, and the waiting lists of long polls -- so data flows one way, from the runtime into
this package.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import trio

from ..errors import BrokerError, ResourceNotReadyException
from ..ids import uuid4_from
from .async_events import defer_event, finish_event, invoke_event, start_due
from .capture import Capture, current_capture, install_capture, uninstall_capture
from .context import LambdaContext
from .execution import call_handler, handler_error, timeout_error
from .handlers import HandlerError, resolve
from .invoke import RunHandler, finish_sync
from .kinesis_poller import KinesisForMappings, KinesisPoller
from .mappings import EventSourceMapping
from .model import AsyncEvent, Function
from .outcome import FUNCTION_ERROR, THROTTLED, Outcome
from .polling import MappingWatch
from .service import LambdaService
from .sqs_poller import SqsForMappings, SqsPoller, WaitingPlace
from .state import Delivery
from .workers import Worker, WorkerLost, WorkerPool, outcome_from_reply

log = logging.getLogger("msgsim.functions")


class _Invocation:
    """One invocation as ListFunctionInvocations shows it; the log text is built on demand."""

    __slots__ = ("buf", "cold", "fn", "init", "outcome", "request_id", "source", "start")

    def __init__(
        self,
        fn: Function,
        request_id: str,
        source: str,
        outcome: Outcome,
        start: float,
        cold: bool,
        init: float,
        buf: list[str],
    ) -> None:
        self.fn = fn
        self.request_id = request_id
        self.source = source
        self.outcome = outcome
        self.start = start
        self.cold = cold
        self.init = init
        self.buf = buf

    def log(self) -> str:
        """The invocation's log as Lambda writes it: START, the handler's output, END, REPORT."""
        rid = self.request_id
        ms = self.outcome.duration * 1000
        return (
            f"START RequestId: {rid} Version: $LATEST\n"
            + "".join(self.buf)
            + f"END RequestId: {rid}\n"
            + f"REPORT RequestId: {rid}\tDuration: {ms:.2f} ms\tBilled Duration: "
            f"{max(1, math.ceil(ms))} ms\tMemory Size: {self.fn.config['MemorySize']} MB"
            + (f"\tInit Duration: {self.init * 1000:.2f} ms" if self.init else "")
            + "\n"
        )

    def describe(self) -> dict[str, Any]:
        o = self.outcome
        return {
            "RequestId": self.request_id,
            "Source": self.source,
            "Status": o.status,
            "StartTime": self.start,
            "DurationMs": round(o.duration * 1000, 3),
            "ColdStart": self.cold,
            "ErrorType": o.error_type,
            "Log": self.log(),
        }


class FunctionRunner:
    """Owned by the Broker; runs everything the Lambda service decides."""

    def __init__(
        self,
        svc: LambdaService,
        *,
        spawn: Callable[..., None],
        call: Callable[[str, str, Mapping[str, Any]], Awaitable[dict[str, Any]]],
        sqs: SqsForMappings,
        kinesis: KinesisForMappings,
        wake: Callable[[str, Any], None],
        place: Callable[[tuple[str, Any]], AbstractContextManager[WaitingPlace]],
        lot: Callable[[tuple[str, Any]], AbstractContextManager[trio.lowlevel.ParkingLot]],
    ) -> None:
        self.svc = svc
        #: start a background task in the broker's nursery: spawn(async_fn, *args)
        self._spawn = spawn
        #: the broker's own front door, for deliveries (SendMessage, Publish)
        self._call_service = call
        self._queue_by_arn = sqs.queue_by_arn
        self.busy = 0  # handlers running (settle waits for them)
        self._idle = trio.lowlevel.ParkingLot()
        self._kick = trio.Event()
        self._installed = False
        #: Remote workers serving functions, by function name (see :mod:`.workers`).
        self.workers: dict[str, WorkerPool] = {}
        #: Every function name a worker has served: those run only in workers, never here.
        self.served: set[str] = set()
        #: Pollers waiting for a mapping to change.
        self._watch = MappingWatch()
        self._sqs_poller = SqsPoller(
            sqs=sqs,
            region=svc.region,
            watch=self._watch,
            invoke=self.invoke_batch,
            wake=wake,
            place=place,
        )
        self._kinesis_poller = KinesisPoller(
            kinesis=kinesis,
            region=svc.region,
            epoch=svc.epoch,
            watch=self._watch,
            invoke=self.invoke_batch,
            send=self._send,
            lot=lot,
        )

    # ------------------------------------------------------------------ lifetime
    def install(self) -> None:
        """Start capturing handler output (sys.stdout and sys.stderr proxies, a root logging
        handler); shared with any other open broker."""
        if not self._installed:
            self._installed = True
            install_capture()

    def uninstall(self) -> None:
        if self._installed:
            self._installed = False
            uninstall_capture()

    def after_call(self) -> None:
        """Apply what a Lambda operation (or an SNS delivery) asked for."""
        svc = self.svc
        if svc.kicked:
            svc.kicked = False
            self._kick.set()
        if svc.new_mappings:
            mappings, svc.new_mappings = svc.new_mappings, []
            for mapping in mappings:
                self._spawn(self._run_mapping, mapping)
        watch = self._watch
        if watch.waiters:
            watch.notify(svc.mappings)
        if svc.outbox:
            deliveries, svc.outbox = svc.outbox, []
            for delivery in deliveries:
                self._spawn(self._deliver, delivery)

    async def wait_idle(self) -> None:
        """Until no handler is running."""
        if self.busy:
            await self._idle.park()

    # ------------------------------------------------------------------ running a handler
    async def run(
        self,
        fn: Function,
        event: Any,
        request_id: str,
        source: str,
        client_context: Any = None,
    ) -> tuple[Outcome, _Invocation]:
        """Run ``fn``'s handler once (concurrency already taken). Returns the outcome and the
        invocation's record (whose ``log()`` is the text Lambda would write)."""
        svc = self.svc
        self.busy += 1
        buf: list[str] = []
        token = current_capture.set(Capture(buf, request_id, svc.epoch))
        start = trio.current_time()
        try:
            env_id, cold = fn.take_environment(start, svc.options.environment_idle)
            init = 0.0
            if cold:
                fn.metrics.cold_starts += 1
                if svc.options.cold_start > 0:
                    await trio.sleep(svc.options.cold_start)
                    init = svc.options.cold_start
            began = trio.current_time()
            deadline = began + fn.timeout
            context = LambdaContext(fn, request_id, deadline, client_context)
            outcome = await self._call(fn, event, context, request_id, deadline, buf)
            end = trio.current_time()
            outcome.duration = end - began
            outcome.request_id = request_id
            fn.release_environment(env_id, end)
        finally:
            current_capture.reset(token)
            self.busy -= 1
            if not self.busy:
                self._idle.unpark_all()
        fn.record(outcome)
        entry = _Invocation(fn, request_id, source, outcome, svc.epoch.wall(start), cold, init, buf)
        fn.recent.append(entry)
        return outcome, entry

    async def _call(
        self,
        fn: Function,
        event: Any,
        context: LambdaContext,
        request_id: str,
        deadline: float,
        buf: list[str],
    ) -> Outcome:
        pool = self.workers.get(fn.name)
        if pool or fn.name in self.served:
            # Never a fallback to the handler here: an empty pool fails as a lost worker.
            pool = pool or WorkerPool()
            return await self._call_remote(pool, fn, event, context, request_id, deadline, buf)
        try:
            handler = resolve(fn, self.svc.options.handler_roots)
        except HandlerError as exc:
            return handler_error(exc, buf)
        return await call_handler(
            handler,
            event,
            context,
            request_id,
            deadline,
            fn.timeout,
            buf,
            in_thread=self.svc.options.handler_threads,
        )

    async def _call_remote(
        self,
        pool: WorkerPool,
        fn: Function,
        event: Any,
        context: LambdaContext,
        request_id: str,
        deadline: float,
        buf: list[str],
    ) -> Outcome:
        """Hand the invocation to a worker (DESIGN: the broker keeps the Timeout)."""
        now = trio.current_time()
        request = {
            "event": event,
            "context": context.fields(),
            "timeout": fn.timeout,
            "remaining_ms": max(0, int((deadline - now) * 1000)),
            "wall": self.svc.epoch.wall(now),
        }
        with trio.move_on_at(deadline) as scope:
            try:
                reply = await pool.invoke(request)
            except WorkerLost:
                message = (
                    f"RequestId: {request_id} Error: Runtime exited without providing a reason"
                )
                buf.append(f"{message}\n")
                return Outcome(
                    FUNCTION_ERROR, error_type="Runtime.ExitError", error_message=message
                )
        if scope.cancelled_caught or trio.current_time() > deadline:
            return timeout_error(request_id, fn.timeout, buf)
        outcome, text = outcome_from_reply(reply)
        buf.append(text)
        return outcome

    def attach_worker(self, function_name: str, worker: Worker, capacity: int | None) -> Any:
        """A worker now serves ``function_name`` (existing or not yet created); returns the
        handle :meth:`detach_worker` takes."""
        pool = self.workers.get(function_name)
        if pool is None:
            pool = self.workers[function_name] = WorkerPool()
        self.served.add(function_name)
        return pool.attach(worker, capacity)

    def detach_worker(self, function_name: str, handle: Any) -> None:
        pool = self.workers.get(function_name)
        if pool is not None:
            pool.detach(handle)
            if not pool:
                del self.workers[function_name]

    def worker_gone(self, fn: Function) -> bool:
        """Whether ``fn`` is served by workers and none is attached now."""
        return fn.name in self.served and not self.workers.get(fn.name)

    def _no_worker_message(self, fn: Function) -> str:
        return (
            f"Function {fn.name} is served by msgsim workers and none is connected: start one "
            f"('msgsim worker --function {fn.name} ...'); the daemon never runs it itself."
        )

    async def invoke_sync(self, run: RunHandler) -> dict[str, Any]:
        fn = run.function
        if self.worker_gone(fn):
            raise ResourceNotReadyException(self._no_worker_message(fn))
        reason = self.svc.acquire(fn)
        if reason is not None:
            raise self.svc.throttled_error(fn, reason)
        try:
            outcome, entry = await self.run(
                fn, run.event, run.request_id, "sync", run.client_context
            )
        finally:
            self.svc.release(fn)
            self.after_call()  # a waiting async event may start now
        return finish_sync(run, outcome, entry.log)

    async def invoke_batch(self, fn: Function, event: Any, source: str) -> Outcome:
        """A poller's synchronous invocation: a THROTTLED outcome when no concurrency is free,
        or no worker serves a function that workers serve (the poller retries the batch)."""
        if self.worker_gone(fn):
            fn.metrics.throttles += 1
            return Outcome(
                THROTTLED,
                error_type="ResourceNotReadyException",
                error_message=self._no_worker_message(fn),
            )
        reason = self.svc.acquire(fn)
        if reason is not None:
            return Outcome(THROTTLED, error_type="TooManyRequestsException", error_message=reason)
        try:
            outcome, _ = await self.run(fn, event, self._request_id(), source)
        finally:
            self.svc.release(fn)
            self.after_call()  # a waiting async event may start now
        return outcome

    def _request_id(self) -> str:
        return uuid4_from(self.svc.rng)

    # ------------------------------------------------------------------ async events
    async def dispatcher(self) -> None:
        """Start every async event that is due, as concurrency allows; sleep until the next."""
        svc = self.svc
        queue = svc.async_queue
        while True:
            self._kick = trio.Event()
            for event in start_due(svc, trio.current_time()):
                self.busy += 1  # counted until its task starts running the handler
                self._spawn(self._run_event, event)
            self.after_call()
            due = queue.next_due()
            if due is None:
                await self._kick.wait()
            else:
                with trio.move_on_at(due):
                    await self._kick.wait()

    async def _run_event(self, event: AsyncEvent) -> None:
        self.busy -= 1
        if self.worker_gone(event.function):
            defer_event(self.svc, event, trio.current_time())
            self._kick.set()
            self.after_call()
            return
        try:
            outcome, _ = await self.run(event.function, event.payload, event.request_id, "async")
        except Exception as exc:  # a defect of ours: count it as a failed attempt
            log.exception("internal failure running an async event")
            outcome = Outcome(
                FUNCTION_ERROR, error_type="ServiceException", error_message=repr(exc)
            )
        finish_event(self.svc, event, outcome, trio.current_time())
        self._kick.set()
        self.after_call()

    # ------------------------------------------------------------------ deliveries
    async def _deliver(self, delivery: Delivery) -> None:
        """Send a destination record, a dead-letter message or an OnFailure record."""
        target = delivery.target
        svc = self.svc
        fn = svc.functions.get(delivery.source.rsplit(":", 1)[-1])
        try:
            if target.startswith("arn:aws:sqs:"):
                queue = self._queue_by_arn(target)
                if queue is None:
                    raise BrokerError("queue does not exist", code="QueueDoesNotExist")
                if queue.fifo:  # AWS: destinations and dead-letter queues must be standard
                    raise BrokerError("FIFO queues are not supported", code="InvalidParameter")
                params: dict[str, Any] = {"QueueUrl": queue.url, "MessageBody": delivery.body}
                if delivery.attributes:
                    params["MessageAttributes"] = delivery.attributes
                await self._call_service("sqs", "SendMessage", params)
            elif target.startswith("arn:aws:sns:"):
                if target.endswith(".fifo"):
                    raise BrokerError("FIFO topics are not supported", code="InvalidParameter")
                params = {"TopicArn": target, "Message": delivery.body}
                if delivery.attributes:
                    params["MessageAttributes"] = delivery.attributes
                await self._call_service("sns", "Publish", params)
            else:
                invoke_event(svc, target, json.loads(delivery.body), trio.current_time())
                self.after_call()
            if fn is not None:
                fn.metrics.destination_deliveries += 1
        except BrokerError as err:
            log.info("Lambda delivery to %s failed: %s", target, err)
            if fn is not None:
                fn.metrics.destination_failures += 1

    def _send(self, delivery: Delivery) -> None:
        self._spawn(self._deliver, delivery)

    # ------------------------------------------------------------------ mappings
    async def _run_mapping(self, mapping: EventSourceMapping) -> None:
        """Run a mapping until it is deleted. A defect of ours stops this mapping (logged and
        shown in LastProcessingResult), never the broker."""
        try:
            if mapping.kind == "sqs":
                await self._sqs_poller.run(mapping)
            else:
                await self._kinesis_poller.run(mapping)
        except Exception as exc:
            log.exception("internal failure in event source mapping %s", mapping.uuid)
            mapping.last_result = f"PROBLEM: internal failure: {exc!r}"


__all__ = ["FunctionRunner"]
