"""One message move task (StartMessageMoveTask): the record ListMessageMoveTasks reports.

A task lives RUNNING until it has moved what was available when it started (COMPLETED), a queue
it needs is gone or a message has nowhere to return to (FAILED), or CancelMessageMoveTask stops
it (CANCELLED). Those three are final. The moving itself is :mod:`.redrive`'s, paced by the
runtime once a second.
"""

from __future__ import annotations

from typing import Any

from .. import limits


class MoveTask:
    """A StartMessageMoveTask in progress or finished."""

    __slots__ = (
        "cancelled",
        "destination_arn",
        "failure",
        "handle",
        "moved",
        "rate",
        "rate_given",
        "source_arn",
        "started_ms",
        "status",
        "to_move",
    )

    def __init__(self, handle: str, source_arn: str, destination_arn: str | None) -> None:
        self.handle = handle
        self.source_arn = source_arn
        self.destination_arn = destination_arn
        self.rate = limits.MESSAGE_MOVE_DEFAULT_PER_SECOND
        self.rate_given = False
        self.status = "RUNNING"
        self.moved = 0
        self.to_move = 0
        self.started_ms = 0
        self.failure: str | None = None
        self.cancelled = False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.status == "RUNNING":
            out["TaskHandle"] = self.handle
        out["Status"] = self.status
        out["SourceArn"] = self.source_arn
        if self.destination_arn is not None:
            out["DestinationArn"] = self.destination_arn
        if self.rate_given:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        out["ApproximateNumberOfMessagesMoved"] = self.moved
        out["ApproximateNumberOfMessagesToMove"] = self.to_move
        if self.failure:
            out["FailureReason"] = self.failure
        out["StartedTimestamp"] = self.started_ms
        return out
