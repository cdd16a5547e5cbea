"""A boto3-shaped async client over any transport.

``client.send_message(QueueUrl=..., MessageBody=...)`` becomes the operation ``SendMessage`` with
those parameters; the response is the AWS response dict and errors are BrokerError. Method names
are boto3's: the operation name in snake_case.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from msgsim.broker.errors import InvalidParameterValue

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def method_name(operation: str) -> str:
    """boto3's method name for an operation: ``SendMessage`` -> ``send_message``."""
    return _CAMEL_BOUNDARY.sub("_", operation).lower()


class Transport(Protocol):
    def operations(self, service: str) -> Collection[str]: ...

    async def call(
        self, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]: ...


class ServiceClient:
    """One service's client: an async method per operation."""

    def __init__(self, transport: Transport, service: str) -> None:
        self._transport = transport
        self._service = service
        self._methods = {method_name(op): op for op in transport.operations(service)}

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._methods))

    def __getattr__(self, name: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        try:
            operation = self.__dict__["_methods"][name]
        except KeyError:
            raise AttributeError(f"{self._service!r} client has no operation {name!r}") from None
        transport = self._transport
        service = self._service

        async def method(*args: Any, **params: Any) -> dict[str, Any]:
            if args:
                raise InvalidParameterValue(
                    f"{name}() takes keyword arguments only (AWS parameter names)."
                )
            return await transport.call(service, operation, params)

        method.__name__ = name
        method.__qualname__ = f"{self._service}.{name}"
        method.__doc__ = f"AWS {self._service.upper()} {operation}."
        setattr(self, name, method)
        return method

    def __repr__(self) -> str:
        return f"<{self._service} client via {type(self._transport).__name__}>"
