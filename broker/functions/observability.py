"""msgsim's own Lambda operations (not in AWS): a function's counters and recent invocations.

They read what the runtime recorded (:class:`~.model.Metrics`, the invocations kept on the
function) and change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationException
from ..params import check_known
from .shapes import integer
from .state import LambdaState


def get_function_metrics(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A function's counters, and the iterator age of its Kinesis mappings."""
    check_known(p, frozenset({"FunctionName"}), "GetFunctionMetrics", ValidationException)
    fn = lam.named_function(p)
    out = {"FunctionName": fn.name, "Metrics": fn.metrics.as_dict()}
    out["Metrics"]["AsyncEventsQueued"] = lam.async_queue.count(fn)
    out["EventSourceMappings"] = [
        m.metrics(now) for m in lam.mappings.values() if m.function is fn and not m.gone
    ]
    return out


def list_function_invocations(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The function's most recent invocations (up to 100), oldest first, each with its request
    id, outcome and captured log output."""
    check_known(
        p,
        frozenset({"FunctionName", "MaxItems"}),
        "ListFunctionInvocations",
        ValidationException,
    )
    fn = lam.named_function(p)
    max_items = integer(p, "MaxItems", "maxItems", 1, 100) or 100
    recent = list(fn.recent)[-max_items:]
    return {"Invocations": [r.describe() for r in recent]}
