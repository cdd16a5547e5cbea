"""Transport: direct calls into a Broker running in this trio program."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from broker import Broker

from .client import ServiceClient


class InProcessClient:
    """``InProcessClient(broker).client("sqs")`` mirrors ``boto3.client("sqs")``, async."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def operations(self, service: str) -> Collection[str]:
        svc = self.broker.services.get(service)
        if svc is None:
            raise ValueError(
                f"Unknown service {service!r}; available: {', '.join(self.broker.services)}"
            )
        return svc.operations.keys()

    async def call(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.broker.call(service, operation, params)

    def client(self, service: str) -> ServiceClient:
        return ServiceClient(self, service)
