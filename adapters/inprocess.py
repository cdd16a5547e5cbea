"""Transport: direct calls into a Broker running in this trio program."""

from __future__ import annotations

from collections.abc import Collection

from msgsim.broker import Broker

from .client import ServiceClient, unknown_service


class InProcessClient:
    """``InProcessClient(broker).client("sqs")`` mirrors ``boto3.client("sqs")``, async."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        # No adapter layer to cross in-process: calls go straight to the broker's entry point.
        self.call = broker.call

    def operations(self, service: str) -> Collection[str]:
        svc = self.broker.services.get(service)
        if svc is None:
            raise unknown_service(service, self.broker.services)
        return svc.operations.keys()

    def client(self, service: str) -> ServiceClient:
        return ServiceClient(self, service)

    async def settle(self) -> None:
        """:meth:`Broker.settle`: wait until every delivery due by now is made or scheduled."""
        await self.broker.settle()
