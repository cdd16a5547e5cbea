"""What one invocation of a handler came to, as the runtime reports it to the sans-IO cores."""

from __future__ import annotations

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


class Outcome:
    """The result of one invocation attempt."""

    __slots__ = (
        "duration",
        "error_message",
        "error_type",
        "payload",
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
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown outcome status {status!r}")
        self.status = status
        self.payload = payload
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace
        self.duration = duration
        self.request_id = request_id

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
