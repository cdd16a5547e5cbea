"""The context object a handler receives, as Lambda's Python runtime builds it."""

from __future__ import annotations

from typing import Any

import trio

from .model import Function


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
        self._clock = trio.lowlevel.current_clock()

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
        self._clock = trio.lowlevel.current_clock()
        return self

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's Timeout, on the broker's clock."""
        # The clock itself, not trio.current_time(): a handler may run in a worker thread.
        return max(0, int((self._deadline - self._clock.current_time()) * 1000))
