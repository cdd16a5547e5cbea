"""The Broker: owns the services, a nursery for background work, and the one way in.

``await broker.call(service, operation, params)`` is the only entry point: every adapter (the
in-process client, TCP, HTTP) goes through it. The runtime reads the clock, hands ``now`` to the
sans-IO services, parks long polls until something they wait for may have happened, and paces
background jobs (message move tasks) on trio's clock -- real or virtual alike. For SNS it makes
the HTTP/S deliveries the service asks for (with httpx, on trio) and runs scheduled retries when
they fall due; :meth:`Broker.settle` waits until every delivery due by now has been made or has
failed into its retry schedule.
"""

from __future__ import annotations

import copy
import logging
import os
import random
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from types import MethodType
from typing import Any

import httpx
import trio
import trio.testing

from . import limits
from .clock import Epoch, warn_if_real_clock_in_tests
from .errors import BrokerError, InternalFailure, InvalidAction, InvalidParameterValue
from .functions.async_events import invoke_event
from .functions.handlers import HandlerRoots
from .functions.invoke import RunHandler
from .functions.options import LambdaOptions
from .functions.runner import FunctionRunner
from .functions.service import LambdaService
from .kinesis.fanout import ShardFeed, Subscribe
from .kinesis.options import KinesisOptions
from .kinesis.service import KinesisService
from .operation import Job, Park
from .shapes import check_types
from .sns.model import HttpRequest
from .sns.options import SnsOptions
from .sns.service import SnsService
from .sqs.options import SqsOptions
from .sqs.service import SqsService
from .waiting import Lines, Place

log = logging.getLogger("msgsim.broker")

#: What :meth:`Broker.call_now` hands back when the operation must wait.
Pending = Park | RunHandler


class Broker:
    """A simulated AWS account in one region. Create with :meth:`Broker.open`."""

    def __init__(
        self,
        *,
        nursery: trio.Nursery,
        seed: int,
        epoch: Epoch,
        region: str,
        account_id: str,
        sqs_options: SqsOptions,
        sns_options: SnsOptions | None = None,
        kinesis_options: KinesisOptions | None = None,
        lambda_options: LambdaOptions | None = None,
    ) -> None:
        self.seed = seed
        #: The broker's one source of randomness: ids, receipt handles, sampling.
        self.rng = random.Random(seed)
        self.epoch = epoch
        self.region = region
        self.account_id = account_id
        self._nursery = nursery
        self.sqs = SqsService(
            rng=self.rng, epoch=epoch, region=region, account_id=account_id, options=sqs_options
        )
        self.sns = SnsService(
            rng=self.rng,
            epoch=epoch,
            region=region,
            account_id=account_id,
            sqs=self.sqs,
            options=sns_options,
        )
        self.kinesis = KinesisService(
            epoch=epoch, region=region, account_id=account_id, options=kinesis_options
        )
        self.functions = LambdaService(
            rng=self.rng,
            epoch=epoch,
            region=region,
            account_id=account_id,
            options=lambda_options,
            queue_exists=self.sqs.queue_by_arn,
            stream_exists=self.kinesis.stream_by_arn,
            topic_exists=lambda arn: arn in self.sns.topics,
        )
        self.sns.invoke_lambda = MethodType(invoke_event, self.functions)
        # The runner gets what it needs from the runtime passed in; it never imports the runtime.
        self.runner = FunctionRunner(
            self.functions,
            spawn=nursery.start_soon,
            call=self.call,
            sqs=self.sqs,
            kinesis=self.kinesis,
            wake=self._wake,
            place=self._place,
            lot=self._lot,
        )
        self.services: dict[str, Any] = {
            "sqs": self.sqs,
            "sns": self.sns,
            "kinesis": self.kinesis,
            "lambda": self.functions,
        }
        self._lots: dict[tuple[str, Any], trio.lowlevel.ParkingLot] = {}
        #: SQS consumers compete for messages: they wait in line, woken one at a time
        self.lines = Lines()
        self.requests = 0
        #: Set by :meth:`drain`: long polls answer at once and no new ones wait.
        self.draining = False
        # SNS deliveries: HTTP POSTs in flight, the retry timer and settle()'s waiters.
        self._http: httpx.AsyncClient | None = None
        self._inflight = 0
        self._idle = trio.lowlevel.ParkingLot()
        self._timer_kick = trio.Event()
        self._timer_due: float | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        seed: int = 0,
        epoch: float | None = None,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        *,
        at_least_once: bool = False,
        enforce_throughput: bool | None = None,
        sns_options: SnsOptions | None = None,
        kinesis_options: KinesisOptions | None = None,
        lambda_options: LambdaOptions | None = None,
        handler_roots: Iterable[str | os.PathLike[str]] | None = None,
    ) -> AsyncIterator[Broker]:
        """Run a broker for the duration of the ``async with`` block.

        ``seed`` seeds the broker's only RNG: the same seed, calls and clock give the same
        results byte for byte. ``epoch`` is the Unix time at which the broker starts (default:
        wall time on a real clock, 2025-01-01T00:00:00Z on a virtual clock).
        ``at_least_once`` turns on AWS's standard-queue delivery behaviours (duplicates,
        best-effort order, sampling short polls); off, a standard queue delivers each message
        once, in send order. ``enforce_throughput`` applies throughput quotas: True or False for
        every service; None (the default) leaves SQS FIFO quotas off and Kinesis shard limits on
        (as ``kinesis_options`` says, when given). ``sns_options`` raises SNS's adjustable quotas
        (topics, filter policies); ``kinesis_options`` tunes Kinesis (delays, quotas);
        ``lambda_options`` tunes functions (account concurrency, cold starts, mapping delays).
        ``handler_roots`` names the folders import-string handlers may load from (the
        standard library and site-packages only if named; see
        :mod:`msgsim.broker.functions.handlers`); None, the default, loads any importable module,
        since in-process the code that opened the broker chose its handlers. ``msgsim serve``
        passes its ``--handlers``.

        While the broker runs, ``sys.stdout`` is a proxy that captures what Lambda handlers print
        (per invocation) and passes everything else through; a root logging handler does the same
        for handlers' log records.
        """
        warn_if_real_clock_in_tests()
        if kinesis_options is None:
            kinesis_options = KinesisOptions()
        if handler_roots is not None:
            lambda_options = copy.copy(lambda_options) if lambda_options else LambdaOptions()
            lambda_options.handler_roots = HandlerRoots(handler_roots)
        if enforce_throughput is not None:
            kinesis_options.enforce_throughput = enforce_throughput
        async with trio.open_nursery() as nursery:
            broker = cls(
                nursery=nursery,
                seed=seed,
                epoch=Epoch.start(epoch),
                region=region,
                account_id=account_id,
                sqs_options=SqsOptions(
                    at_least_once=at_least_once, enforce_throughput=bool(enforce_throughput)
                ),
                sns_options=sns_options,
                kinesis_options=kinesis_options,
                lambda_options=lambda_options,
            )
            nursery.start_soon(broker._retry_timer)
            nursery.start_soon(broker.runner.dispatcher)
            broker.runner.install()
            try:
                yield broker
            finally:
                broker.runner.uninstall()
                nursery.cancel_scope.cancel()
                if broker._http is not None:
                    with trio.CancelScope(shield=True):
                        await broker._http.aclose()

    async def call(
        self, service: str, operation: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Perform one AWS operation and return its response dict; raises BrokerError."""
        result = self.call_now(service, operation, params)
        if type(result) is dict:
            return result
        return await self.finish(service, result)

    def call_now(
        self, service: str, operation: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | Pending:
        """The synchronous half of :meth:`call`: the response dict when the operation is done at
        once (most are), else a pending result to hand to :meth:`finish` (a long poll, a
        synchronous Lambda invoke, a shard subscription). Raises BrokerError.

        Adapters that multiplex many requests (the TCP server) answer the first kind inline and
        start a task only for the second."""
        svc = self.services.get(service)
        if svc is None:
            raise InvalidAction(
                f"Unknown service {service!r}; this broker serves: {', '.join(self.services)}."
            )
        op = svc.operations.get(operation)
        if op is None:
            raise InvalidAction(f"The action {operation} is not valid for this endpoint.")
        if params is None:
            params = {}
        elif type(params) is not dict and not isinstance(params, Mapping):
            raise InvalidParameterValue("Request parameters must be a map of names to values.")
        self.requests += 1
        try:
            check_types(service, operation, params)  # as boto3 does before it sends
            result = op(params, trio.current_time())
        except BrokerError:
            raise
        except Exception as exc:  # a bug of ours must never reach a client as anything else
            log.exception("internal failure in %s.%s", service, operation)
            raise InternalFailure(f"Internal failure in {operation}: {exc!r}") from exc
        finally:
            if svc.touched:
                self._wake(service, svc)
            if svc.jobs:
                self._start_jobs(service, svc)
            if svc is self.sns:
                self._after_sns()
            elif svc is self.functions:
                self.runner.after_call()
        if type(result) is Subscribe:
            return {"EventStream": EventStream(self, service, svc, result.feed)}
        return result

    async def finish(self, service: str, pending: Pending) -> dict[str, Any]:
        """Wait for a pending result of :meth:`call_now` and return the response dict."""
        if type(pending) is RunHandler:
            return await self.runner.invoke_sync(pending)
        if type(pending) is Park:
            return await self._park(service, self.services[service], pending)
        return pending  # type: ignore[return-value]

    def drain(self) -> None:
        """The broker is about to stop: parked long polls answer now with what they have (an
        empty receive, as when their wait time ends) and shard subscriptions end."""
        self.draining = True
        for lot in self._lots.values():
            lot.unpark_all()
        self.lines.wake_all()

    # ------------------------------------------------------------------ long polls
    def _wake(self, name: str, svc: Any) -> None:
        if svc is self.sqs:
            # A queue's consumers compete: wake the first in line; if there is more to take,
            # each that takes some wakes the next (see broker/waiting.py).
            lines = self.lines
            for key in svc.touched:
                lines.wake((name, key))
            svc.touched.clear()
            for key in svc.gone:  # deleted queues: every waiter answers now
                lines.wake_all((name, key))
            svc.gone.clear()
            return
        lots = self._lots
        for key in svc.touched:
            lot = lots.get((name, key))
            if lot is not None:
                lot.unpark_all()
        svc.touched.clear()

    async def _park(self, name: str, svc: Any, park: Park) -> dict[str, Any]:
        """Wait for a long poll's answer. It looks again before each wait (not only when woken),
        so whatever arrived since the operation last looked -- the TCP server may hold a poll
        for an in-flight slot between the two -- is never missed."""
        lot_key = (name, park.key)
        with self._place(lot_key) if svc is self.sqs else nullcontext() as place:
            while True:
                now = trio.current_time()
                final = now >= park.deadline or self.draining
                try:
                    result = park.retry(now, final)
                except BrokerError:
                    raise
                except Exception as exc:
                    log.exception("internal failure in %s long poll", name)
                    raise InternalFailure(f"Internal failure: {exc!r}") from exc
                finally:
                    if svc.touched:
                        self._wake(name, svc)
                if result is not None:
                    return result
                if place is None:
                    await self._wait(lot_key, park.deadline, park.next_timer())
                else:
                    await place.wait(park.deadline, park.next_timer())

    def _place(self, lot_key: tuple[str, Any]) -> AbstractContextManager[Place]:
        """A place in ``lot_key``'s line of competing consumers, for one whole wait."""
        return self.lines.place(lot_key)

    async def _wait(self, lot_key: tuple[str, Any], deadline: float, timer: float | None) -> None:
        """Until ``lot_key`` is touched, a timer is due or the deadline."""
        wake_at = deadline if timer is None else min(deadline, timer)
        with self._lot(lot_key) as lot, trio.move_on_at(wake_at):
            await lot.park()

    @contextmanager
    def _lot(self, lot_key: tuple[str, Any]) -> Iterator[trio.lowlevel.ParkingLot]:
        """The live waiting list of ``lot_key``, which ``_wake`` wakes when the key is touched;
        made if there is none, retired on leaving if left empty. The list is fetched anew for
        each wait, and retired only if it is still the live one: waiters woken together leave
        and re-park one after another, and a waiter leaving its old, empty list must not retire
        the new one that another has already parked on (it would never hear the next touch)."""
        lots = self._lots
        lot = lots.get(lot_key)
        if lot is None:
            lot = lots[lot_key] = trio.lowlevel.ParkingLot()
        try:
            yield lot
        finally:
            if not lot and lots.get(lot_key) is lot:
                del lots[lot_key]

    # ------------------------------------------------------------------ background jobs
    def _start_jobs(self, name: str, svc: Any) -> None:
        jobs, svc.jobs = svc.jobs, []
        for job in jobs:
            self._nursery.start_soon(self._run_job, name, svc, job)

    async def _run_job(self, name: str, svc: Any, job: Job) -> None:
        while True:
            try:
                done = job.step(trio.current_time())
            except Exception:
                log.exception("background job of %s failed", name)
                done = True
            if svc.touched:
                self._wake(name, svc)
            if done:
                return
            await trio.sleep(job.interval)

    # ------------------------------------------------------------------ SNS deliveries
    def _after_sns(self) -> None:
        """Apply what SNS asked for: wake queues it delivered into, start its HTTP POSTs, and
        re-arm the retry timer if a retry is now due sooner."""
        sqs = self.sqs
        if sqs.touched:
            self._wake("sqs", sqs)
        if self.functions.kicked or self.functions.outbox:
            self.runner.after_call()
        sns = self.sns
        if sns.outbound:
            requests, sns.outbound = sns.outbound, []
            for request in requests:
                self._inflight += 1
                self._nursery.start_soon(self._post, request)
        due = sns.next_due()
        if due is not None and (self._timer_due is None or due < self._timer_due):
            self._timer_kick.set()

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            # Timeouts are applied on trio's clock (virtual in tests), not by httpx.
            self._http = httpx.AsyncClient(timeout=None, follow_redirects=False)
        return self._http

    async def _post(self, request: HttpRequest) -> None:
        status: int | None = None
        try:
            with trio.move_on_after(limits.SNS_HTTP_DELIVERY_TIMEOUT):
                response = await self._http_client().post(
                    request.url, content=request.body.encode(), headers=request.headers
                )
                status = response.status_code
        except (httpx.HTTPError, OSError) as exc:
            log.info("SNS delivery to %s failed: %r", request.url, exc)
        except Exception:
            log.exception("SNS delivery to %s failed", request.url)
        finally:
            self._inflight -= 1
        try:
            self.sns.http_result(request, status, trio.current_time())
        except Exception:
            log.exception("internal failure recording an SNS delivery")
        self._after_sns()
        if self._inflight == 0:
            self._idle.unpark_all()

    async def _retry_timer(self) -> None:
        """Run SNS retries when they fall due, on trio's clock."""
        while True:
            self._timer_kick = trio.Event()
            self._timer_due = due = self.sns.next_due()
            if due is None:
                await self._timer_kick.wait()
            else:
                with trio.move_on_at(due):
                    await self._timer_kick.wait()
            self._timer_due = None
            try:
                self.sns.run_due(trio.current_time())
            except Exception:
                log.exception("internal failure running SNS retries")
            self._after_sns()

    async def settle(self) -> None:
        """Return once every delivery and invocation due by now has been made or has failed
        into its retry schedule: publish or send, ``await broker.settle()``, then assert -- no
        sleeping or polling. That covers SNS deliveries, async Lambda events whose time has
        come, mapping pollers with messages or records to take, and handlers in progress.
        Retries scheduled for later are not waited for (advance the clock for those)."""
        sns = self.sns
        runner = self.runner
        while True:
            now = trio.current_time()
            sns.run_due(now)
            self._after_sns()
            runner.after_call()
            if self._inflight:
                await self._idle.park()
                continue
            if runner.busy:
                await runner.wait_idle()
                continue
            due = sns.next_due()
            if due is not None and due <= trio.current_time():
                continue
            lambda_due = self.functions.async_queue.next_due()
            if lambda_due is not None and lambda_due <= trio.current_time():
                await trio.lowlevel.checkpoint()  # the dispatcher takes it from here
                if runner.busy:
                    continue
            # Let every task that can run without the clock moving (pollers woken by a send,
            # the dispatcher) run until all are blocked again.
            await trio.testing.wait_all_tasks_blocked()
            if (
                not self._inflight
                and not sns.outbound
                and not runner.busy
                and not self.functions.kicked
                and not self.functions.outbox
            ):
                return


class EventStream:
    """SubscribeToShard's ``EventStream``: an async iterator of ``{"SubscribeToShardEvent":
    {...}}`` events, pushed as records reach the shard, for the subscription's 5 minutes.
    Errors (a takeover, the stream or consumer deleted) raise BrokerError from ``__anext__``.
    ``aclose()`` (or leaving ``async with``) ends the subscription early."""

    def __init__(self, broker: Broker, name: str, svc: Any, feed: ShardFeed) -> None:
        self._broker = broker
        self._name = name
        self._svc = svc
        self._feed = feed

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        broker, feed, svc, name = self._broker, self._feed, self._svc, self._name
        lot_key = (name, feed.key)
        while True:
            try:
                event = feed.poll(trio.current_time())
            except BrokerError:
                raise
            except Exception as exc:
                log.exception("internal failure in %s subscription", name)
                feed.close()
                raise InternalFailure(f"Internal failure: {exc!r}") from exc
            finally:
                if svc.touched:
                    broker._wake(name, svc)
            if event is not None:
                return event
            if feed.done or broker.draining:
                raise StopAsyncIteration
            await broker._wait(lot_key, feed.deadline, feed.next_timer())

    async def aclose(self) -> None:
        self._feed.close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
