"""What one invocation of a handler came to, as the runtime reports it to the sans-IO cores."""

from __future__ import annotations

import json
from typing import Any

#: The handler returned; ``payload`` is its return value after a JSON round trip.
OK = "ok"
#: The handler raised (Lambda's "Unhandled" function error), or its result was not JSON.
FUNCTION_ERROR = "error"
#: The handler ran past the function's Timeout and was stopped (also a function error).
TIMEOUT = "timeout"
#: No concurrency was free: the handler did not run (TooManyRequestsException for a caller).
THROTTLED = "throttled"

STATUSES = (OK, FUNCTION_ERROR, TIMEOUT, THROTTLED)
_UNDECODED = object()


class Outcome:
    """The result of one invocation attempt."""

    __slots__ = (
        "_payload",
        "duration",
        "error_message",
        "error_type",
        "raw",
        "request_id",
        "stack_trace",
        "status",
    )

    def __init__(
        self,
        status: str,
        payload: Any = None,
        *,
        error_type: str | None = None,
        error_message: str | None = None,
        stack_trace: list[str] | None = None,
        duration: float = 0.0,
        request_id: str = "",
        raw: bytes | None = None,
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown outcome status {status!r}")
        self.status = status
        #: The handler's result as JSON bytes (decoded into ``payload`` on first use).
        self.raw = raw
        self._payload = payload if raw is None else _UNDECODED
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace
        self.duration = duration
        self.request_id = request_id

    @property
    def payload(self) -> Any:
        """The handler's return value after a JSON round trip (what Lambda hands a caller)."""
        if self._payload is _UNDECODED:
            self._payload = json.loads(self.raw)  # type: ignore[arg-type]
        return self._payload

    @payload.setter
    def payload(self, value: Any) -> None:
        self._payload = value
        self.raw = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def failed(self) -> bool:
        """A function error or a timeout: the handler ran and did not succeed."""
        return self.status in (FUNCTION_ERROR, TIMEOUT)

    def error_payload(self) -> dict[str, Any]:
        """Lambda's error document: errorMessage, errorType and stackTrace."""
        return {
            "errorMessage": self.error_message or "",
            "errorType": self.error_type or "",
            "requestId": self.request_id,
            "stackTrace": list(self.stack_trace or []),
        }

    def __repr__(self) -> str:
        return f"Outcome({self.status!r}, payload={self.payload!r}, error={self.error_type!r})"
