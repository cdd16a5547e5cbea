"""Event source mappings: their settings and their life.

A mapping's state follows Lambda's: ``Creating`` then ``Enabled`` (or ``Disabled`` when created
with Enabled=false); an update passes through ``Updating``; disabling through ``Disabling``,
enabling through ``Enabling``; deletion through ``Deleting`` until the mapping is gone. Each
passing state lasts the service's ``mapping_delay`` and is applied lazily (``advance``), so the
runtime's pollers see the state a reader would see at the same moment.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import limits
from ..errors import ResourceInUseException
from ..filters import FilterPolicy

CREATING = "Creating"
ENABLING = "Enabling"
ENABLED = "Enabled"
DISABLING = "Disabling"
DISABLED = "Disabled"
UPDATING = "Updating"
DELETING = "Deleting"
GONE = "Gone"  # msgsim's: deleted for good (never shown)

#: Allowed moves. The passing states (Creating, Enabling, Disabling, Updating, Deleting) end on
#: their own after the mapping delay; the others change only by request.
TRANSITIONS: dict[str, frozenset[str]] = {
    CREATING: frozenset({ENABLED, DISABLED, DELETING}),
    ENABLING: frozenset({ENABLED, DELETING}),
    ENABLED: frozenset({DISABLING, UPDATING, DELETING}),
    DISABLING: frozenset({DISABLED, DELETING}),
    DISABLED: frozenset({ENABLING, UPDATING, DELETING}),
    UPDATING: frozenset({ENABLED, DISABLED, DELETING}),
    DELETING: frozenset({GONE}),
    GONE: frozenset(),
}


class IllegalMappingTransition(RuntimeError):
    """A mapping was asked to make a move its lifecycle table does not allow (a defect)."""


class MappingOptions:
    """The validated settings of a mapping (the service checks the ranges)."""

    def __init__(self) -> None:
        self.batch_size = 10
        self.batching_window = 0
        self.report_batch_item_failures = False
        self.filter_criteria: dict[str, Any] | None = None
        self.filters: list[FilterPolicy] = []
        # SQS
        self.maximum_concurrency: int | None = None
        # Kinesis
        self.starting_position: str | None = None
        self.starting_timestamp: float | None = None
        self.parallelization_factor = 1
        self.bisect_on_error = False
        self.maximum_retry_attempts = -1
        self.maximum_record_age = -1
        self.tumbling_window = 0
        self.on_failure: str | None = None

    @classmethod
    def defaults(cls, kind: str) -> MappingOptions:
        opts = cls()
        opts.batch_size = (
            limits.LAMBDA_ESM_SQS_BATCH_SIZE_DEFAULT
            if kind == "sqs"
            else limits.LAMBDA_ESM_KINESIS_BATCH_SIZE_DEFAULT
        )
        return opts

    def copy(self) -> MappingOptions:
        return copy.copy(self)


class EventSourceMapping:
    """One mapping from an SQS queue or a Kinesis stream to a function."""

    def __init__(
        self,
        *,
        uuid: str,
        arn: str,
        kind: str,
        source_arn: str,
        function: Any,
        options: MappingOptions,
        enabled: bool,
        now: float,
        delay: float,
        last_modified: float,
    ) -> None:
        self.uuid = uuid
        self.arn = arn
        self.kind = kind  # "sqs" or "kinesis"
        self.source_arn = source_arn
        self.function = function
        self.options = options
        self.delay = delay
        self.state = CREATING
        self.reason = "USER_INITIATED"
        self.last_modified = last_modified
        self.last_result = "No records processed"
        self._target = ENABLED if enabled else DISABLED
        self._due = now + delay
        #: Bumped at every change the runtime's pollers must notice.
        self.version = 0
        # Kinesis: iterator age (ms) per shard, for the IteratorAge metric.
        self.iterator_age: dict[str, float] = {}
        self.stats: dict[str, int] = {
            "batches": 0,
            "records": 0,
            "filtered": 0,
            "failed_batches": 0,
            "throttles": 0,
        }
        self.advance(now)

    # -- life -----------------------------------------------------------------------------------
    def _move(self, state: str) -> None:
        if state not in TRANSITIONS[self.state]:
            raise IllegalMappingTransition(f"mapping {self.uuid}: {self.state} -> {state}")
        self.state = state
        self.version += 1

    def advance(self, now: float) -> None:
        """Apply a passing state's end if it is due."""
        if self._target is not None and self._due <= now:
            target, self._target = self._target, None
            self._move(target)

    @property
    def gone(self) -> bool:
        return self.state == GONE

    @property
    def active(self) -> bool:
        """Whether pollers should take records now."""
        return self.state == ENABLED or (self.state == UPDATING and self._target == ENABLED)

    def _pass(self, passing: str, target: str, now: float) -> None:
        self._move(passing)
        self._target = target
        self._due = now + self.delay
        self.advance(now)

    def update(
        self, function: Any, options: MappingOptions, enabled: bool | None, now: float, wall: float
    ) -> None:
        if self.state in (CREATING, ENABLING, DISABLING, UPDATING, DELETING):
            raise ResourceInUseException(
                f"Cannot update the event source mapping because it is in use. State: {self.state}"
            )
        self.function = function
        self.options = options
        self.last_modified = wall
        self.version += 1
        if enabled is True and self.state == DISABLED:
            self._pass(ENABLING, ENABLED, now)
        elif enabled is False and self.state == ENABLED:
            self._pass(DISABLING, DISABLED, now)
        else:
            self._pass(UPDATING, self.state, now)

    def delete(self, now: float) -> None:
        if self.state == DELETING:
            return
        self._pass(DELETING, GONE, now)

    def function_deleted(self, now: float) -> None:
        """The function is gone: the mapping stops (AWS reports it as a problem)."""
        if self.state in (ENABLED, UPDATING, ENABLING, CREATING):
            self._target = None
            self.state = DISABLED
            self.version += 1
        self.reason = "USER_INITIATED"
        self.last_result = "PROBLEM: Function not found."

    # -- views ----------------------------------------------------------------------------------
    def describe(self, now: float) -> dict[str, Any]:
        self.advance(now)
        o = self.options
        out: dict[str, Any] = {
            "UUID": self.uuid,
            "BatchSize": o.batch_size,
            "MaximumBatchingWindowInSeconds": o.batching_window,
            "EventSourceArn": self.source_arn,
            "FunctionArn": self.function.arn,
            "LastModified": self.last_modified,
            "LastProcessingResult": self.last_result,
            "State": self.state if self.state != GONE else DELETING,
            "StateTransitionReason": self.reason,
            "FunctionResponseTypes": ["ReportBatchItemFailures"]
            if o.report_batch_item_failures
            else [],
            "EventSourceMappingArn": self.arn,
        }
        if o.filter_criteria is not None:
            out["FilterCriteria"] = copy.deepcopy(o.filter_criteria)
        if self.kind == "sqs":
            if o.maximum_concurrency is not None:
                out["ScalingConfig"] = {"MaximumConcurrency": o.maximum_concurrency}
        else:
            out.update(
                {
                    "StartingPosition": o.starting_position,
                    "ParallelizationFactor": o.parallelization_factor,
                    "BisectBatchOnFunctionError": o.bisect_on_error,
                    "MaximumRetryAttempts": o.maximum_retry_attempts,
                    "MaximumRecordAgeInSeconds": o.maximum_record_age,
                    "TumblingWindowInSeconds": o.tumbling_window,
                    "DestinationConfig": {
                        "OnFailure": {"Destination": o.on_failure} if o.on_failure else {}
                    },
                }
            )
            if o.starting_timestamp is not None:
                out["StartingPositionTimestamp"] = o.starting_timestamp
        return out

    def metrics(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "UUID": self.uuid,
            "EventSourceArn": self.source_arn,
            "State": self.state,
            "Batches": self.stats["batches"],
            "Records": self.stats["records"],
            "FilteredRecords": self.stats["filtered"],
            "FailedBatches": self.stats["failed_batches"],
            "Throttles": self.stats["throttles"],
        }
        if self.kind == "kinesis":
            out["IteratorAgeMilliseconds"] = max(self.iterator_age.values(), default=0.0)
        return out
