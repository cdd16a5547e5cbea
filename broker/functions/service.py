"""Lambda: the operation table.

Sans-IO like every service: an operation takes the request parameters and ``now`` and returns
the response dict. Running user code is the runtime's job (:mod:`.runner`): ``Invoke`` with
RequestResponse returns a :class:`~.invoke.RunHandler` for the runtime to run; async events wait
in the state's :class:`~.model.AsyncQueue`, which the runtime's dispatcher drains
(:mod:`.async_events`).

Errors follow the Lambda API reference: shape violations are ``ValidationException`` ("1
validation error detected: Value ... at '...' failed to satisfy constraint: ..."), semantic ones
``InvalidParameterValueException``; unknown functions ``ResourceNotFoundException``; duplicates
``ResourceConflictException``; no free concurrency ``TooManyRequestsException``.

:data:`OPERATIONS` below is the whole API, by AWS name. Each entry is a plain function
``(lam, params, now)`` of the module that owns its part of the service:

- :mod:`.configuration` -- functions (create, get, list, update, delete) and concurrency
- :mod:`.invoke` -- Invoke (RequestResponse, Event, DryRun) and async invoke configuration
- :mod:`.mapping_api` -- event source mappings
- :mod:`.observability` -- msgsim's own: metrics and recent invocations

The state, lookups and concurrency accounting they share are :class:`~.state.LambdaState`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from types import MethodType
from typing import Any

from . import configuration, invoke, mapping_api, observability
from .state import LambdaState

#: AWS operation name -> its function, called as ``function(state, params, now)``.
OPERATIONS: dict[str, Callable[..., Any]] = {
    "CreateFunction": configuration.create_function,
    "GetFunction": configuration.get_function,
    "GetFunctionConfiguration": configuration.get_function_configuration,
    "ListFunctions": configuration.list_functions,
    "UpdateFunctionConfiguration": configuration.update_function_configuration,
    "DeleteFunction": configuration.delete_function,
    "PutFunctionConcurrency": configuration.put_function_concurrency,
    "GetFunctionConcurrency": configuration.get_function_concurrency,
    "DeleteFunctionConcurrency": configuration.delete_function_concurrency,
    "GetAccountSettings": configuration.get_account_settings,
    "PutFunctionEventInvokeConfig": invoke.put_function_event_invoke_config,
    "UpdateFunctionEventInvokeConfig": invoke.update_function_event_invoke_config,
    "GetFunctionEventInvokeConfig": invoke.get_function_event_invoke_config,
    "DeleteFunctionEventInvokeConfig": invoke.delete_function_event_invoke_config,
    "Invoke": invoke.invoke,
    "CreateEventSourceMapping": mapping_api.create_event_source_mapping,
    "UpdateEventSourceMapping": mapping_api.update_event_source_mapping,
    "DeleteEventSourceMapping": mapping_api.delete_event_source_mapping,
    "GetEventSourceMapping": mapping_api.get_event_source_mapping,
    "ListEventSourceMappings": mapping_api.list_event_source_mappings,
    # msgsim's own operations (not in AWS): observability.
    "GetFunctionMetrics": observability.get_function_metrics,
    "ListFunctionInvocations": observability.list_function_invocations,
}


class LambdaService(LambdaState):
    """The simulated Lambda of one account and region: its state and its operation table. It
    subclasses the state (rather than holding it) because the runtime and the runner drive the
    state's concurrency, async queue and outbox on the service itself; the table is all it adds,
    and it lives here because the operations import the state, never the other way round."""

    @cached_property
    def operations(self) -> dict[str, Callable[[Mapping[str, Any], float], Any]]:
        """:data:`OPERATIONS` bound to this service, as ``SqsService.operations`` is: bound
        methods, so Broker.call's one call per request costs what it did; made on first use,
        then a plain attribute."""
        return {name: MethodType(function, self) for name, function in OPERATIONS.items()}
