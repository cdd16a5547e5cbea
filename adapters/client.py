"""A boto3-shaped async client over any transport.

``client.send_message(QueueUrl=..., MessageBody=...)`` becomes the operation ``SendMessage`` with
those parameters; the response is the AWS response dict and errors are BrokerError. Method names
are boto3's: the operation name in snake_case.

Every answer of the broker is a BrokerError. A mistake in the Python code itself fails as it
does with boto3, before any request: an unknown service name is a ValueError (:func:`unknown_service`
names the services there are), a misspelled method an AttributeError, a positional argument a
TypeError.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Protocol

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def method_name(operation: str) -> str:
    """boto3's method name for an operation: ``SendMessage`` -> ``send_message``."""
    return _CAMEL_BOUNDARY.sub("_", operation).lower()


def unknown_service(service: object, services: Iterable[str]) -> ValueError:
    """The error for ``aws.client(service)`` when there is no such service: it names the
    services there are (and the likely one, for a typo)."""
    names = list(services)
    listed = ", ".join(names) or "none (not connected)"
    hint = _did_you_mean(service, names)
    return ValueError(
        f"Unknown service {service!r}; msgsim simulates these services: {listed}.{hint}"
    )


def _did_you_mean(name: object, candidates: Iterable[str]) -> str:
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


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
            if name.startswith("__") or "_methods" not in self.__dict__:
                raise AttributeError(name) from None  # copy, pickle and friends probing
            raise AttributeError(
                f"{self._service!r} client has no operation {name!r}."
                f"{_did_you_mean(name, self._methods)}"
            ) from None
        transport = self._transport
        service = self._service

        async def method(*args: Any, **params: Any) -> dict[str, Any]:
            if args:  # boto3's words: a mistake in the code, not a request
                raise TypeError(f"{name}() only accepts keyword arguments.")
            return await transport.call(service, operation, params)

        method.__name__ = name
        method.__qualname__ = f"{self._service}.{name}"
        method.__doc__ = f"AWS {self._service.upper()} {operation}."
        setattr(self, name, method)
        return method

    def __repr__(self) -> str:
        return f"<{self._service} client via {type(self._transport).__name__}>"
