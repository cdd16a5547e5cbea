"""The runtime half of Lambda: runs handlers, drains the async queue, runs event source mappings.

Handlers run on the trio thread (DESIGN.md: under the autojump clock a thread would let the clock
jump while it runs). A plain ``def`` handler runs to completion; an ``async def`` handler is
awaited and is cancelled when it outlives the function's Timeout, which counts as a timeout
error. A plain handler cannot be stopped midway: one that ran longer than the Timeout on the
broker's clock is counted as a timeout and its result discarded.

Output a handler prints, and what it logs through :mod:`logging`, is captured per invocation
(a context variable selects the invocation, so concurrent handlers never mix their logs).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import io
import json
import logging
import math
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import trio

from .. import limits
from ..clock import Epoch
from ..errors import BrokerError
from ..filters import FilterPolicy
from ..ids import uuid4_from
from .kinesis_source import KinesisShardSource, KinesisSourceConfig
from .mappings import EventSourceMapping
from .model import AsyncEvent, Function
from .outcome import FUNCTION_ERROR, OK, THROTTLED, TIMEOUT, Outcome
from .service import Delivery, LambdaService, RunHandler, iso_z
from .workers import Worker, WorkerLost, WorkerPool, outcome_from_reply, reply_from_outcome

if TYPE_CHECKING:
    from ..runtime import Broker

log = logging.getLogger("msgsim.functions")


class _Capture:
    """Where an invocation's output goes: its log lines, its request id, the broker's epoch."""

    __slots__ = ("buf", "epoch", "request_id")

    def __init__(self, buf: list[str], request_id: str, epoch: Epoch) -> None:
        self.buf = buf
        self.request_id = request_id
        self.epoch = epoch


_capture: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar(
    "msgsim_lambda_capture", default=None
)


class _StreamProxy(io.TextIOBase):
    """sys.stdout or sys.stderr while a broker runs: what an invocation writes goes to its log
    (Lambda captures both streams), anything else goes through."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def write(self, text: str) -> int:
        capture = _capture.get()
        if capture is None:
            return self.target.write(text)
        capture.buf.append(text)
        return len(text)

    def flush(self) -> None:
        if _capture.get() is None:
            self.target.flush()

    def isatty(self) -> bool:
        return False


class _LogHandler(logging.Handler):
    """Lambda's Python runtime writes log records into the function's log stream as
    ``[LEVEL]\\t<UTC timestamp>Z\\t<request id>\\t<message>``."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _capture.get()
        if capture is None:
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        stamp = iso_z(capture.epoch, trio.current_time())
        capture.buf.append(f"[{record.levelname}]\t{stamp}\t{capture.request_id}\t{text}\n")


class _Installed:
    """The process-wide capture hooks, shared by every open broker (installed once)."""

    users = 0
    stdout: _StreamProxy | None = None
    stderr: _StreamProxy | None = None
    handler: _LogHandler | None = None

    @classmethod
    def acquire(cls) -> None:
        cls.users += 1
        if cls.users > 1:
            return
        cls.stdout = _StreamProxy(sys.stdout)
        cls.stderr = _StreamProxy(sys.stderr)
        sys.stdout = cls.stdout  # type: ignore[assignment]
        sys.stderr = cls.stderr  # type: ignore[assignment]
        cls.handler = _LogHandler()
        logging.getLogger().addHandler(cls.handler)

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users > 0:
            return
        if cls.stdout is not None and sys.stdout is cls.stdout:
            sys.stdout = cls.stdout.target
        if cls.stderr is not None and sys.stderr is cls.stderr:
            sys.stderr = cls.stderr.target
        if cls.handler is not None:
            logging.getLogger().removeHandler(cls.handler)
        cls.stdout = cls.stderr = cls.handler = None


class _Attributes:
    """An object whose attributes are a JSON object's members (Lambda's Python runtime turns
    the ClientContext and identity JSON into such objects); absent members read as None."""

    def __init__(self, members: dict[str, Any]) -> None:
        self.__dict__.update(members)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


class ClientContext(_Attributes):
    """``context.client_context``: ``.client`` (an object: installation_id, app_title, ...),
    ``.custom`` and ``.env`` (dicts), from the Invoke's base64 ClientContext JSON."""

    def __init__(self, members: dict[str, Any]) -> None:
        super().__init__({"client": None, "custom": None, "env": None, **members})
        if isinstance(self.client, dict):
            self.client = _Attributes(self.client)


class LambdaContext:
    """What Lambda's Python context object offers."""

    def __init__(
        self,
        fn: Function,
        request_id: str,
        deadline: float,
        client_context: Any = None,
    ) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = str(fn.config["MemorySize"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = f"2025/01/01/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None  # Cognito identity: only for calls through the AWS Mobile SDK
        self._client_context = client_context if isinstance(client_context, dict) else None
        self.client_context = (
            ClientContext(self._client_context) if self._client_context is not None else None
        )
        self._deadline = deadline

    _FIELDS = (
        "function_name",
        "function_version",
        "invoked_function_arn",
        "memory_limit_in_mb",
        "aws_request_id",
        "log_group_name",
        "log_stream_name",
    )

    def fields(self) -> dict[str, Any]:
        """The context as plain data (handed to a remote worker)."""
        out = {name: getattr(self, name) for name in self._FIELDS}
        out["client_context"] = self._client_context
        return out

    @classmethod
    def from_fields(cls, fields: dict[str, Any], deadline: float) -> LambdaContext:
        """A worker's context for an invocation described by :meth:`fields`."""
        self = cls.__new__(cls)
        for name in cls._FIELDS:
            setattr(self, name, str(fields.get(name) or ""))
        self.identity = None
        raw = fields.get("client_context")
        self._client_context = raw if isinstance(raw, dict) else None
        self.client_context = ClientContext(raw) if isinstance(raw, dict) else None
        self._deadline = deadline
        return self

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's Timeout, on the broker's clock."""
        return max(0, int((self._deadline - trio.current_time()) * 1000))


@contextlib.contextmanager
def capturing(buf: list[str], request_id: str, epoch: Epoch) -> Iterator[None]:
    """Within the block (in this task), what is printed or logged goes to ``buf`` as Lambda
    writes it to the invocation's log. The hooks must be installed (:func:`install_capture`)."""
    token = _capture.set(_Capture(buf, request_id, epoch))
    try:
        yield
    finally:
        _capture.reset(token)


def install_capture() -> None:
    """Install the process-wide capture hooks (refcounted; undo with :func:`uninstall_capture`)."""
    _Installed.acquire()


def uninstall_capture() -> None:
    _Installed.release()


def _resolve(fn: Function) -> Callable[..., Any]:
    handler = fn.handler
    if callable(handler):
        return handler
    if fn.resolved is None:
        fn.resolved = resolve_handler(handler)
    return fn.resolved


def resolve_handler(spec: str) -> Callable[..., Any]:
    """The callable an import string names (``package.module.function`` or
    ``package.module:function``); a function error (ImportModuleError, HandlerNotFound) if none."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
    else:
        module_name, _, attr = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise _HandlerError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise _HandlerError(
                "Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'"
            )
    if not callable(target):
        raise _HandlerError(
            "Runtime.HandlerNotFound", f"Handler '{attr}' on module '{module_name}' is not callable"
        )
    return target


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


class _HandlerError(Exception):
    """A handler that cannot be found or loaded (a function error of the runtime's)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class _SqsPollers:
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


class FunctionRunner:
    """Owned by the Broker; runs everything the Lambda service decides."""

    def __init__(self, broker: Broker, svc: LambdaService) -> None:
        self.broker = broker
        self.svc = svc
        self.busy = 0  # handlers running (settle waits for them)
        self._idle = trio.lowlevel.ParkingLot()
        self._kick = trio.Event()
        self._installed = False
        #: Remote workers serving functions, by function name (see :mod:`.workers`).
        self.workers: dict[str, WorkerPool] = {}
        #: Pollers waiting for a mapping to change: (event, the mapping version they saw).
        self._mapping_changed: dict[str, list[tuple[trio.Event, int]]] = {}

    # ------------------------------------------------------------------ lifetime
    def install(self) -> None:
        """Start capturing handler output (sys.stdout and sys.stderr proxies, a root logging
        handler); shared with any other open broker."""
        if not self._installed:
            self._installed = True
            _Installed.acquire()

    def uninstall(self) -> None:
        if self._installed:
            self._installed = False
            _Installed.release()

    def after_call(self) -> None:
        """Apply what a Lambda operation (or an SNS delivery) asked for."""
        svc = self.svc
        if svc.kicked:
            svc.kicked = False
            self._kick.set()
        if svc.new_mappings:
            mappings, svc.new_mappings = svc.new_mappings, []
            for mapping in mappings:
                self.broker._nursery.start_soon(self._run_mapping, mapping)
        for uuid, waiters in list(self._mapping_changed.items()):
            mapping = svc.mappings.get(uuid)
            version = -1 if mapping is None else mapping.version
            still = []
            for event, seen in waiters:
                if seen != version:
                    event.set()
                else:
                    still.append((event, seen))
            if still:
                self._mapping_changed[uuid] = still
            else:
                del self._mapping_changed[uuid]
        if svc.outbox:
            deliveries, svc.outbox = svc.outbox, []
            for delivery in deliveries:
                self.broker._nursery.start_soon(self._deliver, delivery)

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
        token = _capture.set(_Capture(buf, request_id, svc.epoch))
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
            _capture.reset(token)
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
        if pool:
            return await self._call_remote(pool, fn, event, context, request_id, deadline, buf)
        try:
            handler = _resolve(fn)
        except _HandlerError as exc:
            return _handler_error(exc, buf)
        return await call_handler(handler, event, context, request_id, deadline, fn.timeout, buf)

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
            return _timed_out(request_id, fn.timeout, buf)
        outcome, text = outcome_from_reply(reply)
        buf.append(text)
        return outcome

    def attach_worker(self, function_name: str, worker: Worker, capacity: int | None) -> Any:
        """A worker now serves ``function_name`` (existing or not yet created); returns the
        handle :meth:`detach_worker` takes."""
        pool = self.workers.get(function_name)
        if pool is None:
            pool = self.workers[function_name] = WorkerPool()
        return pool.attach(worker, capacity)

    def detach_worker(self, function_name: str, handle: Any) -> None:
        pool = self.workers.get(function_name)
        if pool is not None:
            pool.detach(handle)
            if not pool:
                del self.workers[function_name]

    async def invoke_sync(self, run: RunHandler) -> dict[str, Any]:
        fn = run.function
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
        return self.svc.finish_sync(run, outcome, entry.log)

    async def invoke_batch(self, fn: Function, event: Any, source: str) -> Outcome:
        """A poller's synchronous invocation: a THROTTLED outcome when no concurrency is free."""
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
            for event in svc.start_due(trio.current_time()):
                self.busy += 1  # counted until its task starts running the handler
                self.broker._nursery.start_soon(self._run_event, event)
            self.after_call()
            due = queue.next_due()
            if due is None:
                await self._kick.wait()
            else:
                with trio.move_on_at(due):
                    await self._kick.wait()

    async def _run_event(self, event: AsyncEvent) -> None:
        self.busy -= 1
        try:
            outcome, _ = await self.run(event.function, event.payload, event.request_id, "async")
        except Exception as exc:  # a defect of ours: count it as a failed attempt
            log.exception("internal failure running an async event")
            outcome = Outcome(
                FUNCTION_ERROR, error_type="ServiceException", error_message=repr(exc)
            )
        self.svc.finish_event(event, outcome, trio.current_time())
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
                queue = self.broker.sqs.queue_by_arn(target)
                if queue is None:
                    raise BrokerError("queue does not exist", code="QueueDoesNotExist")
                if queue.fifo:  # AWS: destinations and dead-letter queues must be standard
                    raise BrokerError("FIFO queues are not supported", code="InvalidParameter")
                params: dict[str, Any] = {"QueueUrl": queue.url, "MessageBody": delivery.body}
                if delivery.attributes:
                    params["MessageAttributes"] = delivery.attributes
                await self.broker.call("sqs", "SendMessage", params)
            elif target.startswith("arn:aws:sns:"):
                if target.endswith(".fifo"):
                    raise BrokerError("FIFO topics are not supported", code="InvalidParameter")
                params = {"TopicArn": target, "Message": delivery.body}
                if delivery.attributes:
                    params["MessageAttributes"] = delivery.attributes
                await self.broker.call("sns", "Publish", params)
            else:
                svc.invoke_event(target, json.loads(delivery.body), trio.current_time())
                self.after_call()
            if fn is not None:
                fn.metrics.destination_deliveries += 1
        except BrokerError as err:
            log.info("Lambda delivery to %s failed: %s", target, err)
            if fn is not None:
                fn.metrics.destination_failures += 1

    # ------------------------------------------------------------------ mappings: common
    async def _run_mapping(self, mapping: EventSourceMapping) -> None:
        """Run a mapping until it is deleted. A defect of ours stops this mapping (logged and
        shown in LastProcessingResult), never the broker."""
        try:
            if mapping.kind == "sqs":
                await self._sqs_mapping(mapping)
            else:
                await self._kinesis_mapping(mapping)
        except Exception as exc:
            log.exception("internal failure in event source mapping %s", mapping.uuid)
            mapping.last_result = f"PROBLEM: internal failure: {exc!r}"

    @contextlib.contextmanager
    def _watch(self, mapping: EventSourceMapping, event: trio.Event) -> Iterator[None]:
        """While inside, ``event`` is set when the mapping changes (enabled, updated,
        deleted)."""
        entry = (event, mapping.version)
        self._mapping_changed.setdefault(mapping.uuid, []).append(entry)
        try:
            yield
        finally:
            waiters = self._mapping_changed.get(mapping.uuid)
            if waiters is not None and entry in waiters:
                waiters.remove(entry)
                if not waiters:
                    del self._mapping_changed[mapping.uuid]

    async def _mapping_wait(self, mapping: EventSourceMapping) -> None:
        """Wait until the mapping changes (enabled, updated, deleted) or a passing state ends."""
        event = trio.Event()
        now = trio.current_time()
        wake = mapping._due if mapping._target is not None else math.inf
        with self._watch(mapping, event), trio.move_on_at(max(wake, now)):
            await event.wait()
        mapping.advance(trio.current_time())

    def _usable(self, mapping: EventSourceMapping, now: float) -> bool:
        mapping.advance(now)
        fn = mapping.function
        return mapping.active and not fn.deleted

    # ------------------------------------------------------------------ mappings: SQS
    async def _sqs_mapping(self, mapping: EventSourceMapping) -> None:
        """Run an SQS mapping: pollers that each take a batch, invoke, and delete what
        succeeded. As AWS describes the scaling: five concurrent batches to start; while
        messages are still available after a receive, up to 300 more pollers a minute, to
        ScalingConfig.MaximumConcurrency (or 1,250); a poller that finds the queue empty stops
        while there are more than five (scaling back when traffic is low), and pollers beyond a
        lowered MaximumConcurrency stop after their batch."""
        state = _SqsPollers(mapping)
        async with trio.open_nursery() as nursery:

            def spawn(n: int) -> None:
                for _ in range(n):
                    state.count += 1
                    nursery.start_soon(self._sqs_poller, mapping, state)

            spawn(state.base())
            while not mapping.gone:
                if state.count < state.base():  # MaximumConcurrency raised, or pollers ended
                    spawn(state.base() - state.count)
                await state.demand.wait()
                state.demand = trio.Event()
                await trio.sleep(60)
                room = state.cap() - state.count
                queue = self.broker.sqs.queue_by_arn(mapping.source_arn)
                backlog = queue is not None and queue.n_available > 0
                if room > 0 and backlog and not mapping.gone:
                    spawn(min(limits.LAMBDA_ESM_SQS_SCALE_UP_PER_MINUTE, room))
            nursery.cancel_scope.cancel()

    async def _sqs_receive(
        self, mapping: EventSourceMapping, n: int, state: _SqsPollers | None = None
    ) -> list[tuple[Any, int]] | None:
        """Receive up to ``n`` messages, waiting as long as it takes (an endless long poll that
        wakes only when a message may have become receivable). Each comes with its receive
        count when taken (the generation of its receipt handle, for the delete). With
        ``state``, None when this poller should stop instead of waiting (the mapping has more
        pollers than it needs while the queue is empty)."""
        broker = self.broker
        sqs = broker.sqs
        while True:
            now = trio.current_time()
            if not self._usable(mapping, now):
                await self._mapping_wait(mapping)
                continue
            queue = sqs.queue_by_arn(mapping.source_arn)
            if queue is None:
                mapping.last_result = "PROBLEM: The SQS queue does not exist."
                await self._mapping_wait(mapping)
                continue
            got = sqs.receive_for_lambda(queue, n, now)
            if sqs.touched:
                broker._wake("sqs", sqs)
            if got:
                if state is not None and queue.n_available and not state.idle:
                    state.demand.set()  # messages still available, every poller busy
                return [(m, m.receive_count) for m in got]
            if state is not None and state.count > state.base():
                return None
            # The broker's wait, as a long poll's: pollers woken together (a lapsed timer)
            # each re-park on the live waiting list, never one another retired.
            if state is not None:
                state.idle += 1
            try:
                await broker._wait(("sqs", queue.uid), math.inf, queue.next_timer())
            finally:
                if state is not None:
                    state.idle -= 1

    async def _sqs_poller(self, mapping: EventSourceMapping, state: _SqsPollers) -> None:
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
                    got = await self._sqs_receive(mapping, min(10, opts.batch_size), state)
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
                            more = await self._sqs_receive(
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
                await self._sqs_batch(mapping, batch)
        finally:
            state.count -= 1

    async def _sqs_batch(self, mapping: EventSourceMapping, taken: list[tuple[Any, int]]) -> None:
        """Invoke the function with one batch; delete what succeeded (or was filtered out)."""
        sqs = self.broker.sqs
        queue = sqs.queue_by_arn(mapping.source_arn)
        if queue is None:
            return
        region = self.svc.region
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
                self._sqs_delete(queue, drop)  # AWS deletes messages the filters leave out
            if not keep:
                return
            taken, records = keep, kept_records
        fn = mapping.function
        outcome = await self.invoke_batch(fn, {"Records": records}, "sqs")
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
        self._sqs_delete(queue, taken)

    def _sqs_delete(self, queue: Any, taken: list[tuple[Any, int]]) -> None:
        sqs = self.broker.sqs
        sqs.delete_for_lambda(queue, taken)
        if sqs.touched:
            self.broker._wake("sqs", sqs)

    # ------------------------------------------------------------------ mappings: Kinesis
    async def _kinesis_mapping(self, mapping: EventSourceMapping) -> None:
        """Run a Kinesis mapping: one reader per shard; a child shard starts only when its
        parents are done (parent before child, as Lambda processes a resharded stream)."""
        kinesis = self.broker.kinesis
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
                    await self._mapping_wait(mapping)
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
                            await self._kinesis_shard(mapping, stream, shard, first)
                            done.add(shard.id)
                            state["finished"].set()

                        nursery.start_soon(reader)
                state["finished"] = trio.Event()
                with trio.move_on_after(60):
                    await state["finished"].wait()
            nursery.cancel_scope.cancel()

    async def _kinesis_shard(
        self, mapping: EventSourceMapping, stream: Any, shard: Any, first: bool
    ) -> None:
        """Read one shard into its :class:`KinesisShardSource` and run the batches it forms.

        A shard there when the mapping started begins at StartingPosition (taken when the
        mapping first polls it); a child shard of a later reshard begins at its start (its
        parents were read to their end). UpdateEventSourceMapping settings apply from the next
        batch (ParallelizationFactor only to shards started after the update). A caught-up
        shard is polled about once a second, as Lambda does, and at once when a write lands.
        """
        broker = self.broker
        kinesis = broker.kinesis
        fn = mapping.function
        version = mapping.version
        source = KinesisShardSource(
            _kinesis_config(mapping.options),
            shard_id=shard.id,
            stream_arn=mapping.source_arn,
            function_arn=fn.arn,
            region=self.svc.region,
            mapping_uuid=mapping.uuid,
            epoch_offset=self.svc.epoch.wall(0.0),
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
                    broker._nursery.start_soon(
                        self._deliver, Delivery(target, json.dumps(record), fn.arn)
                    )

        async with trio.open_nursery() as nursery:

            async def run_batch(batch: Any) -> None:
                outcome = await self.invoke_batch(fn, batch.event, "kinesis")
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
                if not self._usable(mapping, now):
                    await self._mapping_wait(mapping)
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
                await self._kinesis_wait(mapping, shard, wake, timer, polling)
                # Lambda polls a caught-up shard about once a second: records written meanwhile
                # gather into one read rather than one read per write.
                if caught_up and polling and not wake.is_set():
                    await trio.sleep_until(read_at + 1.0)
                else:
                    await trio.sleep(0)

    async def _kinesis_wait(
        self,
        mapping: EventSourceMapping,
        shard: Any,
        wake: trio.Event,
        timer: float | None,
        polling: bool,
    ) -> None:
        """Until a batch finishes (``wake``), the mapping changes, the source's timer is due,
        or (``polling``) a write lands on the shard."""
        broker = self.broker
        deadline = math.inf if timer is None else timer
        with self._watch(mapping, wake):
            if not polling:
                with trio.move_on_at(deadline):
                    await wake.wait()
                return
            shard.subscribers += 1  # a put on the shard now wakes its lot
            try:
                with broker._lot(("kinesis", shard)) as lot, trio.move_on_at(deadline):
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


async def call_handler(
    handler: Callable[..., Any],
    event: Any,
    context: Any,
    request_id: str,
    deadline: float,
    timeout: float,
    buf: list[str],
) -> Outcome:
    """Run a handler as Lambda's Python runtime does and say what it came to: its result as JSON,
    a function error (errorType, errorMessage, stackTrace), or a timeout past ``deadline``.
    Shared by the broker's runner and remote workers."""
    try:
        result = handler(event, context)
        timed_out = False
        if inspect.isawaitable(result):
            with trio.move_on_at(deadline) as scope:
                result = await result
            timed_out = scope.cancelled_caught
        if timed_out or trio.current_time() > deadline:
            return _timed_out(request_id, timeout, buf)
        if result is None:
            return Outcome(OK, None, raw=b"null")
        try:
            raw = json.dumps(result, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            return Outcome(
                FUNCTION_ERROR,
                error_type="Runtime.MarshalError",
                error_message=f"Unable to marshal response: {exc}",
            )
        return Outcome(OK, raw=raw)
    except _HandlerError as exc:
        return _handler_error(exc, buf)
    except (Exception, SystemExit) as exc:
        if isinstance(exc, SystemExit):
            error_type = "Runtime.ExitError"
            message = (
                f"RequestId: {request_id} Error: Runtime exited with error: exit status {exc.code}"
            )
            stack: list[str] = []
        else:
            error_type = type(exc).__name__
            message = str(exc)
            stack = traceback.format_tb(exc.__traceback__)[1:]
        buf.append(
            f"[ERROR] {error_type}: {message}\nTraceback (most recent call last):\n"
            + "".join(stack)
        )
        return Outcome(
            FUNCTION_ERROR, error_type=error_type, error_message=message, stack_trace=stack
        )


async def run_invocation(handler: Callable[..., Any], request: dict[str, Any]) -> dict[str, Any]:
    """A remote worker's side of one invocation (see :mod:`.workers`): run ``handler`` on the
    request's event with a context like the broker's, capture its output, and return the reply.
    The capture hooks must be installed (:func:`install_capture`)."""
    fields = request.get("context")
    fields = fields if isinstance(fields, dict) else {}
    remaining = request.get("remaining_ms")
    remaining = remaining / 1000 if type(remaining) in (int, float) else 3.0
    timeout = request.get("timeout")
    timeout = float(timeout) if type(timeout) in (int, float) else remaining
    wall = request.get("wall")
    now = trio.current_time()
    deadline = now + remaining
    context = LambdaContext.from_fields(fields, deadline)
    request_id = context.aws_request_id
    epoch = Epoch(wall_at_origin=float(wall) if type(wall) in (int, float) else 0.0, origin=now)
    buf: list[str] = []
    with capturing(buf, request_id, epoch):
        outcome = await call_handler(
            handler, request.get("event"), context, request_id, deadline, timeout, buf
        )
    return reply_from_outcome(outcome, "".join(buf))


def _timed_out(request_id: str, timeout: float, buf: list[str]) -> Outcome:
    message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
    buf.append(f"{message}\n")
    return Outcome(TIMEOUT, error_type="Sandbox.Timedout", error_message=message)


def _handler_error(exc: _HandlerError, buf: list[str]) -> Outcome:
    buf.append(f"[ERROR] {exc.error_type}: {exc.message}\n")
    return Outcome(FUNCTION_ERROR, error_type=exc.error_type, error_message=exc.message)


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


__all__ = ["FunctionRunner", "LambdaContext"]
