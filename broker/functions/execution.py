"""Running one handler as Lambda's Python runtime does, and what it came to.

:func:`call_handler` calls ``handler(event, context)`` on the trio thread (DESIGN.md: under the
autojump clock a thread would let the clock jump while it runs) and turns what happens into an
:class:`~.outcome.Outcome`: the result as JSON; a function error with errorType, errorMessage and
stackTrace (the traceback below the runtime's frame) when it raises; ``Runtime.MarshalError``
for a result that is not JSON; ``Runtime.ExitError`` for ``sys.exit()``; a timeout
(``Sandbox.Timedout``) past the deadline. An ``async def`` handler is cancelled at the deadline;
a plain one cannot be stopped midway, so one that ran past it is counted as a timeout and its
result discarded. The error lines Lambda writes go to the invocation's log buffer.

The broker's runner and remote workers (:func:`run_invocation`) share it, so a handler behaves
the same wherever it runs.
"""

from __future__ import annotations

import inspect
import json
import traceback
from collections.abc import Callable
from typing import Any

import trio

from ..clock import Epoch
from .capture import capturing
from .context import LambdaContext
from .handlers import HandlerError
from .outcome import FUNCTION_ERROR, OK, TIMEOUT, Outcome
from .workers import reply_from_outcome


async def call_handler(
    handler: Callable[..., Any],
    event: Any,
    context: Any,
    request_id: str,
    deadline: float,
    timeout: float,
    buf: list[str],
    *,
    in_thread: bool = False,
) -> Outcome:
    """Run a handler as Lambda's Python runtime does and say what it came to: its result as JSON,
    a function error (errorType, errorMessage, stackTrace), or a timeout past ``deadline``.
    Shared by the broker's runner and remote workers. ``in_thread``: a plain handler runs in a
    worker thread (the daemon), so blocking it holds up nothing else; at the deadline its
    invocation times out and the thread is left to finish alone."""
    try:
        timed_out = False
        if in_thread and not inspect.iscoroutinefunction(handler):
            with trio.move_on_at(deadline) as scope:
                result, raised = await trio.to_thread.run_sync(
                    _call_catching, handler, event, context, abandon_on_cancel=True
                )
            if scope.cancelled_caught:
                return timeout_error(request_id, timeout, buf)
            if raised is not None:
                # Re-raised from here: the traceback loses _call_catching's frame and gains
                # this one, which the stack trace below leaves out, as on the trio thread.
                raise raised.with_traceback(raised.__traceback__.tb_next)
        else:
            result = handler(event, context)
        if inspect.isawaitable(result):
            with trio.move_on_at(deadline) as scope:
                result = await result
            timed_out = scope.cancelled_caught
        if timed_out or trio.current_time() > deadline:
            return timeout_error(request_id, timeout, buf)
        if result is None:
            return Outcome(OK, None, raw=b"null")
        try:
            raw = json.dumps(result, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            return Outcome(
                FUNCTION_ERROR,
                error_type="Runtime.MarshalError",
                error_message=f"Unable to marshal response: {exc}",
            )
        return Outcome(OK, raw=raw)
    except HandlerError as exc:
        return handler_error(exc, buf)
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


def _call_catching(
    handler: Callable[..., Any], event: Any, context: Any
) -> tuple[Any, BaseException | None]:
    """In a worker thread: the handler's result, or what it raised (SystemExit included, which
    must not end the thread's machinery)."""
    try:
        return handler(event, context), None
    except BaseException as exc:
        return None, exc


def timeout_error(request_id: str, timeout: float, buf: list[str]) -> Outcome:
    """The outcome of a run past the function's Timeout, logged as Lambda logs it."""
    message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
    buf.append(f"{message}\n")
    return Outcome(TIMEOUT, error_type="Sandbox.Timedout", error_message=message)


def handler_error(exc: HandlerError, buf: list[str]) -> Outcome:
    """The outcome of a handler that could not be loaded, logged as Lambda logs it."""
    buf.append(f"[ERROR] {exc.error_type}: {exc.message}\n")
    return Outcome(FUNCTION_ERROR, error_type=exc.error_type, error_message=exc.message)
