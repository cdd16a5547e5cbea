"""Lambda in one account and region: its functions, their concurrency, and what the runtime must do.

:class:`LambdaState` holds the sans-IO state every Lambda operation shares: the functions and
event source mappings, the internal queue of asynchronous events, the account's concurrency
(``unreserved_running`` of the shared pool, ``reserved_total`` set aside), and the requests it
leaves for the runtime (``outbox`` deliveries, ``new_mappings`` to start, ``kicked`` when async
events may start). It answers the questions the operation modules ask the same way: which
function a FunctionName (name, ARN or partial ARN) names, whether a destination exists.

Concurrency follows Lambda: an account limit (ConcurrentExecutions) shared by every function
without reserved concurrency; a function with reserved concurrency N runs at most N at once, and
those N are set aside from the shared pool. :meth:`LambdaState.acquire` and
:meth:`~LambdaState.release` are the only ways a unit is taken and given back; a unit given
back goes to a waiting async event first.

Sans-IO: nothing here awaits, reads a clock or runs a handler.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from .. import limits
from ..clock import Epoch
from ..errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    TooManyRequestsException,
    ValidationException,
)
from .mappings import EventSourceMapping
from .model import AsyncQueue, Function
from .options import LambdaOptions
from .shapes import invalid

# Name, ARN or partial ARN, with an optional qualifier (Lambda's FunctionName pattern).
_FUNCTION_REF = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>[^:]+))?"
)


class Delivery:
    """Something the runtime must send for the functions service: a destination record, a
    dead-letter message, or an OnFailure record of a mapping."""

    __slots__ = ("attributes", "body", "source", "target")

    def __init__(
        self, target: str, body: str, source: str, attributes: dict[str, Any] | None = None
    ) -> None:
        self.target = target  # SQS queue, SNS topic or Lambda function ARN
        self.body = body  # JSON text
        self.source = source  # the function ARN the delivery is for (metrics)
        self.attributes = attributes  # SQS/SNS message attributes (dead-letter messages)


class LambdaState:
    """The simulated Lambda of one account and region: state, lookups and concurrency."""

    def __init__(
        self,
        *,
        rng: random.Random,
        epoch: Epoch,
        region: str,
        account_id: str,
        options: LambdaOptions | None = None,
        queue_exists: Callable[[str], Any] | None = None,
        stream_exists: Callable[[str, float], Any] | None = None,
        topic_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.rng = rng
        self.epoch = epoch
        self.region = region
        self.account_id = account_id
        self.options = options or LambdaOptions()
        # Lookups into the other services (set by the runtime): a queue by ARN (or None), a
        # stream by ARN (or None), whether a topic exists.
        self.queue_exists = queue_exists or (lambda arn: None)
        self.stream_exists = stream_exists or (lambda arn, now: None)
        self.topic_exists = topic_exists or (lambda arn: False)
        self.functions: dict[str, Function] = {}
        self.mappings: dict[str, EventSourceMapping] = {}
        self.async_queue = AsyncQueue()
        self.unreserved_running = 0
        self.reserved_total = 0
        #: Deliveries for the runtime to make (destinations, dead-letter queues).
        self.outbox: list[Delivery] = []
        #: Mappings created since the runtime last looked (it starts their pollers).
        self.new_mappings: list[EventSourceMapping] = []
        #: Set when async events were queued (the runtime's dispatcher re-arms).
        self.kicked = False
        # The runtime's interface shared with the other services.
        self.touched: set[Any] = set()
        self.jobs: list[Any] = []

    def stats(self) -> dict[str, int]:
        return {
            "functions": len(self.functions),
            "event_source_mappings": len(self.mappings),
            "async_events_queued": len(self.async_queue),
        }

    # ------------------------------------------------------------------ lookups
    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def _not_found(self, ref: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Function not found: {ref}")

    def function_by_ref(self, ref: Any, qualifier: Any = None) -> Function:
        """The function named by a name, ARN or partial ARN (``$LATEST`` is the only version)."""
        if type(ref) is not str or not ref:
            raise invalid(ref, "functionName", "Member must have length greater than or equal to 1")
        m = _FUNCTION_REF.fullmatch(ref)
        if m is None or len(ref) > 170:
            raise invalid(
                ref,
                "functionName",
                "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
                "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)"
                "(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            )
        name = m.group("name")
        if len(name) > limits.LAMBDA_FUNCTION_NAME_MAX:
            raise invalid(ref, "functionName", "Member must have length less than or equal to 64")
        qual = m.group("qualifier") or qualifier
        if (m.group("region") not in (None, self.region)) or (
            m.group("account") not in (None, self.account_id)
        ):
            raise self._not_found(self.arn(name))
        fn = self.functions.get(name)
        if fn is None:
            raise self._not_found(self.arn(name) + (f":{qual}" if qual else ""))
        if qual is not None and qual != "$LATEST":
            if type(qual) is not str:
                raise invalid(qual, "qualifier", "Member must be a string")
            raise self._not_found(f"{fn.arn}:{qual}")
        return fn

    def named_function(self, p: Mapping[str, Any]) -> Function:
        """The function a request names (FunctionName, and Qualifier if given)."""
        if "FunctionName" not in p:
            raise ValidationException("The request must contain the parameter FunctionName.")
        return self.function_by_ref(p["FunctionName"], p.get("Qualifier"))

    def check_target(self, arn: Any, what: str, *, allow_lambda: bool = True) -> None:
        """A destination or dead-letter target must be an existing SQS queue or SNS topic (or,
        for destinations, a function) of this account."""
        if type(arn) is not str:
            raise InvalidParameterValueException(f"{what} must be an ARN string.")
        if arn.startswith("arn:aws:sqs:"):
            if self.queue_exists(arn) is None:
                raise InvalidParameterValueException(
                    f"The destination ARN {arn} is invalid: the queue does not exist."
                )
            return
        if arn.startswith("arn:aws:sns:"):
            if not self.topic_exists(arn):
                raise InvalidParameterValueException(
                    f"The destination ARN {arn} is invalid: the topic does not exist."
                )
            return
        if allow_lambda and arn.startswith("arn:aws:lambda:"):
            self.function_by_ref(arn)
            return
        kinds = (
            "an SQS queue, an SNS topic or a Lambda function"
            if allow_lambda
            else ("an SQS queue or an SNS topic")
        )
        raise InvalidParameterValueException(f"The {what} {arn} is invalid: it must be {kinds}.")

    def check_visibility(self, queue_arn: str, timeout: int) -> None:
        """A function's timeout may not exceed the visibility timeout of a queue mapped to it."""
        queue = self.queue_exists(queue_arn)
        if queue is not None and queue.visibility_timeout < timeout:
            raise InvalidParameterValueException(
                f"Queue visibility timeout: {queue.visibility_timeout} seconds is less than "
                f"Function timeout: {timeout} seconds"
            )

    # ------------------------------------------------------------------ concurrency
    @property
    def unreserved_pool(self) -> int:
        return self.options.account_concurrency - self.reserved_total

    def acquire(self, fn: Function) -> str | None:
        """Take one unit of concurrency for ``fn``: None, or the throttle reason."""
        if fn.reserved is not None:
            if fn.running >= fn.reserved:
                fn.metrics.throttles += 1
                return "ReservedFunctionConcurrentInvocationLimitExceeded"
        elif self.unreserved_running >= self.unreserved_pool:
            fn.metrics.throttles += 1
            return "ConcurrentInvocationLimitExceeded"
        else:
            self.unreserved_running += 1
        fn.running += 1
        m = fn.metrics
        m.concurrent_executions = fn.running
        if fn.running > m.max_concurrent_executions:
            m.max_concurrent_executions = fn.running
        return None

    def saturated(self, fn: Function) -> bool:
        """Whether a run of ``fn`` would find no unit free."""
        if fn.reserved is not None:
            return fn.running >= fn.reserved
        return self.unreserved_running >= self.unreserved_pool

    def release(self, fn: Function) -> None:
        """A run of ``fn`` ended: its unit of concurrency goes to a waiting async event of
        ``fn``, or (a unit of the shared pool) of another function without a reservation."""
        fn.running -= 1
        fn.metrics.concurrent_executions = fn.running
        queue = self.async_queue
        if fn.reserved is None:
            self.unreserved_running -= 1
        if queue.unpark(fn):
            self.kicked = True
        elif fn.reserved is None and queue.waiting_functions:
            for other in list(queue.waiting_functions):
                if (other.reserved is None or other.deleted) and queue.unpark(other):
                    self.kicked = True
                    break

    def wake_waiting(self) -> None:
        """Hand every free unit of concurrency to a waiting async event: after a reservation
        changed, a function was deleted, or an event given a unit expired instead of running.
        Events of a function with reserved concurrency 0 all go (to fail for good)."""
        queue = self.async_queue
        if not queue.waiting_functions:
            return
        shared = self.unreserved_pool - self.unreserved_running
        for fn in list(queue.waiting_functions):
            if fn.reserved is None:
                n = shared
            elif fn.reserved == 0:
                n = len(fn.waiting)
            else:
                n = fn.reserved - fn.running
            got = queue.unpark(fn, max(n, 0)) if n > 0 or fn.deleted else 0
            if fn.reserved is None:
                shared -= got
            if got:
                self.kicked = True

    def throttled_error(self, fn: Function, reason: str) -> TooManyRequestsException:
        err = TooManyRequestsException(f"Rate Exceeded. Reason: {reason}")
        err.reason = reason  # type: ignore[attr-defined]
        return err

    def move_pool(self, fn: Function, reserved: int | None) -> None:
        """Switch ``fn`` between the shared pool and its own reservation, carrying the
        executions in progress with it."""
        if fn.reserved is None and reserved is not None:
            self.unreserved_running -= fn.running
        elif fn.reserved is not None and reserved is None:
            self.unreserved_running += fn.running
        self.reserved_total += (reserved or 0) - (fn.reserved or 0)
        fn.reserved = reserved
        self.kicked = True  # units may have come free for waiting events
