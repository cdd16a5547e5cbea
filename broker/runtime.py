"""The Broker: owns the services, a nursery for background work, and the one way in.

``await broker.call(service, operation, params)`` is the only entry point: every adapter (the
in-process client, TCP, HTTP) goes through it. The runtime reads the clock, hands ``now`` to the
sans-IO services, parks long polls until something they wait for may have happened, and paces
background jobs (message move tasks) on trio's clock -- real or virtual alike.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from .clock import Epoch
from .errors import BrokerError, InternalFailure, InvalidAction, InvalidParameterValue
from .operation import Job, Park
from .sqs.service import SqsOptions, SqsService

log = logging.getLogger("msgsim.broker")


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
        self.services: dict[str, Any] = {"sqs": self.sqs}
        self._lots: dict[tuple[str, Any], trio.lowlevel.ParkingLot] = {}
        self.requests = 0

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
        enforce_throughput: bool = False,
    ) -> AsyncIterator[Broker]:
        """Run a broker for the duration of the ``async with`` block.

        ``seed`` seeds the broker's only RNG: the same seed, calls and clock give the same
        results byte for byte. ``epoch`` is the Unix time at which the broker starts (default:
        wall time on a real clock, 2025-01-01T00:00:00Z on a virtual clock).
        ``at_least_once`` turns on AWS's standard-queue delivery behaviours (duplicates,
        best-effort order, sampling short polls); off, a standard queue delivers each message
        once, in send order. ``enforce_throughput`` applies FIFO throughput quotas.
        """
        async with trio.open_nursery() as nursery:
            broker = cls(
                nursery=nursery,
                seed=seed,
                epoch=Epoch.start(epoch),
                region=region,
                account_id=account_id,
                sqs_options=SqsOptions(
                    at_least_once=at_least_once, enforce_throughput=enforce_throughput
                ),
            )
            try:
                yield broker
            finally:
                nursery.cancel_scope.cancel()

    async def call(
        self, service: str, operation: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Perform one AWS operation and return its response dict; raises BrokerError."""
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
        elif not isinstance(params, Mapping):
            raise InvalidParameterValue("Request parameters must be a map of names to values.")
        self.requests += 1
        try:
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
        if type(result) is Park:
            return await self._park(service, svc, result)
        return result

    # ------------------------------------------------------------------ long polls
    def _wake(self, name: str, svc: Any) -> None:
        lots = self._lots
        for key in svc.touched:
            lot = lots.get((name, key))
            if lot is not None:
                lot.unpark_all()
        svc.touched.clear()

    async def _park(self, name: str, svc: Any, park: Park) -> dict[str, Any]:
        lot_key = (name, park.key)
        lot = self._lots.get(lot_key)
        if lot is None:
            lot = self._lots[lot_key] = trio.lowlevel.ParkingLot()
        try:
            while True:
                wake_at = park.deadline
                timer = park.next_timer()
                if timer is not None and timer < wake_at:
                    wake_at = timer
                with trio.move_on_at(wake_at):
                    await lot.park()
                now = trio.current_time()
                final = now >= park.deadline
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
        finally:
            if not lot:
                self._lots.pop(lot_key, None)

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
