"""Lambda's event source mapping operations: create, update, delete, get and list.

A mapping connects an SQS queue or a Kinesis stream to a function; the runtime's pollers
(:mod:`.sqs_poller`, :mod:`.kinesis_poller`) run it, and its life (Creating, Enabled, Updating,
Disabled, Deleting) is :class:`~.mappings.EventSourceMapping`'s. This module checks a request's
settings as Lambda does -- which ones each kind of source takes (StartingPosition and the retry
settings only a Kinesis source; ScalingConfig only SQS), their ranges, FilterCriteria patterns,
the OnFailure destination -- before it creates or changes anything, and lists the new mapping in
``new_mappings`` for the runtime to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import limits
from ..errors import (
    BrokerError,
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from ..filters import SCOPE_BODY, FilterPolicy
from ..ids import uuid4_from
from ..params import check_known
from .mappings import EventSourceMapping, MappingOptions
from .shapes import boolean, integer, invalid, string
from .state import LambdaState

#: Mapping settings only a Kinesis source takes.
_KINESIS_ONLY = frozenset(
    {
        "StartingPosition",
        "StartingPositionTimestamp",
        "ParallelizationFactor",
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "DestinationConfig",
        "TumblingWindowInSeconds",
    }
)
_ESM = (
    frozenset(
        {
            "EventSourceArn",
            "FunctionName",
            "Enabled",
            "BatchSize",
            "MaximumBatchingWindowInSeconds",
            "FilterCriteria",
            "FunctionResponseTypes",
            "ScalingConfig",
            "Tags",
            "MetricsConfig",
        }
    )
    | _KINESIS_ONLY
)


def _mapping_options(
    lam: LambdaState,
    p: Mapping[str, Any],
    kind: str,
    fifo: bool,
    base: MappingOptions | None,
    now: float,
) -> MappingOptions:
    """Validate the mapping settings in ``p`` over ``base`` (an update) or the defaults."""
    opts = base.copy() if base is not None else MappingOptions.defaults(kind)
    if kind == "sqs":
        for key in sorted(_KINESIS_ONLY):
            if p.get(key) is not None:
                raise InvalidParameterValueException(
                    f"Unsupported {key} parameter for this event source."
                )
    elif p.get("ScalingConfig") is not None:
        raise InvalidParameterValueException(
            "Unsupported ScalingConfig parameter for this event source."
        )
    batch = integer(p, "BatchSize", "batchSize", 1, limits.LAMBDA_ESM_BATCH_SIZE_MAX)
    if batch is not None:
        opts.batch_size = batch
    window = integer(
        p,
        "MaximumBatchingWindowInSeconds",
        "maximumBatchingWindowInSeconds",
        0,
        limits.LAMBDA_ESM_BATCHING_WINDOW_MAX,
    )
    if window is not None:
        opts.batching_window = window
    if kind == "sqs":
        if fifo and opts.batch_size > limits.LAMBDA_ESM_SQS_FIFO_BATCH_SIZE_MAX:
            raise InvalidParameterValueException(
                "BatchSize must be less than or equal to 10 for a FIFO queue event source."
            )
        if fifo and opts.batching_window:
            raise InvalidParameterValueException(
                "Batching window is not supported for FIFO queue event sources."
            )
        if opts.batch_size > 10 and opts.batching_window < 1:
            raise InvalidParameterValueException(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size "
                "is greater than 10"
            )
        scaling = p.get("ScalingConfig")
        if scaling is not None:
            if not isinstance(scaling, Mapping) or not scaling.keys() <= {"MaximumConcurrency"}:
                raise InvalidParameterValueException("ScalingConfig takes MaximumConcurrency.")
            opts.maximum_concurrency = integer(
                scaling,
                "MaximumConcurrency",
                "scalingConfig.maximumConcurrency",
                limits.LAMBDA_ESM_SQS_MAX_CONCURRENCY_MIN,
                limits.LAMBDA_ESM_SQS_MAX_CONCURRENCY_MAX,
            )
    else:
        position = p.get("StartingPosition")
        if position is not None:
            if base is not None:
                raise InvalidParameterValueException(
                    "StartingPosition cannot be changed after the mapping is created."
                )
            if position not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
                raise invalid(
                    position,
                    "startingPosition",
                    "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                )
            opts.starting_position = position
        if base is None and opts.starting_position is None:
            raise InvalidParameterValueException(
                "StartingPosition is required for a Kinesis event source."
            )
        stamp = p.get("StartingPositionTimestamp")
        if opts.starting_position == "AT_TIMESTAMP" and base is None:
            if stamp is None:
                raise InvalidParameterValueException(
                    "StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP."
                )
            if isinstance(stamp, datetime):
                seconds = (
                    stamp.timestamp() if stamp.tzinfo else stamp.replace(tzinfo=UTC).timestamp()
                )
            elif isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
                seconds = float(stamp)
            else:
                raise InvalidParameterValueException(
                    "StartingPositionTimestamp must be a datetime or Unix seconds."
                )
            if seconds > lam.epoch.wall(now):
                raise InvalidParameterValueException(
                    "StartingPositionTimestamp cannot be in the future."
                )
            opts.starting_timestamp = seconds
        elif stamp is not None and base is None:
            raise InvalidParameterValueException(
                "StartingPositionTimestamp is only valid with StartingPosition AT_TIMESTAMP."
            )
        factor = integer(
            p,
            "ParallelizationFactor",
            "parallelizationFactor",
            1,
            limits.LAMBDA_ESM_PARALLELIZATION_MAX,
        )
        if factor is not None:
            opts.parallelization_factor = factor
        bisect = boolean(p, "BisectBatchOnFunctionError", "bisectBatchOnFunctionError")
        if bisect is not None:
            opts.bisect_on_error = bisect
        retries = integer(
            p,
            "MaximumRetryAttempts",
            "maximumRetryAttempts",
            -1,
            limits.LAMBDA_ESM_RETRY_ATTEMPTS_MAX,
        )
        if retries is not None:
            opts.maximum_retry_attempts = retries
        age = integer(
            p,
            "MaximumRecordAgeInSeconds",
            "maximumRecordAgeInSeconds",
            -1,
            limits.LAMBDA_ESM_RECORD_AGE_MAX,
        )
        if age is not None:
            if age != -1 and age < limits.LAMBDA_ESM_RECORD_AGE_MIN:
                raise invalid(
                    age,
                    "maximumRecordAgeInSeconds",
                    "Member must be -1 or have value greater than or equal to 60",
                )
            opts.maximum_record_age = age
        tumbling = integer(
            p,
            "TumblingWindowInSeconds",
            "tumblingWindowInSeconds",
            0,
            limits.LAMBDA_ESM_TUMBLING_WINDOW_MAX,
        )
        if tumbling is not None:
            opts.tumbling_window = tumbling
        dest = p.get("DestinationConfig")
        if dest is not None:
            if (
                not isinstance(dest, Mapping)
                or not dest.keys() <= {"OnFailure", "OnSuccess"}
                or not all(isinstance(v, Mapping | None) for v in dest.values())
            ):
                raise InvalidParameterValueException(
                    "DestinationConfig takes OnFailure: {Destination: <ARN>}."
                )
            if (dest.get("OnSuccess") or {}).get("Destination"):
                raise InvalidParameterValueException(
                    "Unsupported DestinationConfig parameter for this event source: OnSuccess."
                )
            target = (dest.get("OnFailure") or {}).get("Destination")
            if target:
                lam.check_target(target, "OnFailure destination", allow_lambda=False)
            opts.on_failure = target or None
    types = p.get("FunctionResponseTypes")
    if types is not None:
        if not isinstance(types, (list, tuple)) or any(
            t != "ReportBatchItemFailures" for t in types
        ):
            raise invalid(
                types,
                "functionResponseTypes",
                "Member must satisfy enum value set: [ReportBatchItemFailures]",
            )
        opts.report_batch_item_failures = bool(types)
    criteria = p.get("FilterCriteria")
    if criteria is not None:
        opts.filter_criteria, opts.filters = _filters(criteria)
    return opts


def create_event_source_mapping(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, _ESM, "CreateEventSourceMapping", ValidationException)
    source = p.get("EventSourceArn")
    if type(source) is not str or not source:
        raise InvalidParameterValueException("EventSourceArn is required.")
    fn = lam.named_function(p)
    enabled = boolean(p, "Enabled", "enabled")
    if source.startswith("arn:aws:sqs:"):
        queue = lam.queue_exists(source)
        if queue is None:
            raise InvalidParameterValueException(
                "Error occurred while ReceiveMessage. SQS Error Code: "
                "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified "
                "queue does not exist for this wsdl version."
            )
        kind, fifo = "sqs", queue.fifo
        lam.check_visibility(source, fn.timeout)
    elif source.startswith("arn:aws:kinesis:"):
        if lam.stream_exists(source, now) is None:
            raise InvalidParameterValueException(f"Stream not found: {source}")
        kind, fifo = "kinesis", False
    else:
        raise InvalidParameterValueException(
            f"Unsupported event source: {source}. msgsim maps SQS queues and Kinesis streams."
        )
    opts = _mapping_options(lam, p, kind, fifo, None, now)
    for mapping in lam.mappings.values():
        if mapping.source_arn == source and mapping.function is fn and not mapping.gone:
            raise ResourceConflictException(
                f"An event source mapping with {kind.upper() if kind == 'sqs' else 'Kinesis'} "
                f'arn (" {source} ") and function (" {fn.name} ") already exists. Please '
                f"update or delete the existing mapping with UUID {mapping.uuid}"
            )
    uuid = uuid4_from(lam.rng)
    mapping = EventSourceMapping(
        uuid=uuid,
        arn=f"arn:aws:lambda:{lam.region}:{lam.account_id}:event-source-mapping:{uuid}",
        kind=kind,
        source_arn=source,
        function=fn,
        options=opts,
        enabled=True if enabled is None else enabled,
        now=now,
        delay=lam.options.mapping_delay,
        last_modified=lam.epoch.wall(now),
    )
    lam.mappings[uuid] = mapping
    lam.new_mappings.append(mapping)
    return mapping.describe(now)


def _mapping(lam: LambdaState, p: Mapping[str, Any], now: float) -> EventSourceMapping:
    uuid = p.get("UUID")
    if type(uuid) is not str or not uuid:
        raise ValidationException("The request must contain the parameter UUID.")
    mapping = lam.mappings.get(uuid)
    if mapping is not None:
        mapping.advance(now)
    if mapping is None or mapping.gone:
        raise ResourceNotFoundException(
            f"The resource you requested does not exist. (Service: Lambda, Status Code: 404, "
            f"Request ID: {uuid})"
        )
    return mapping


def update_event_source_mapping(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(
        p,
        (_ESM - {"EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "Tags"})
        | {"UUID"},
        "UpdateEventSourceMapping",
        ValidationException,
    )
    mapping = _mapping(lam, p, now)
    fn = mapping.function
    if "FunctionName" in p:
        fn = lam.named_function(p)
    fifo = False
    if mapping.kind == "sqs":
        queue = lam.queue_exists(mapping.source_arn)
        fifo = bool(queue is not None and queue.fifo)
        if fn is not mapping.function:
            lam.check_visibility(mapping.source_arn, fn.timeout)
    opts = _mapping_options(lam, p, mapping.kind, fifo, mapping.options, now)
    enabled = boolean(p, "Enabled", "enabled")
    mapping.update(fn, opts, enabled, now, lam.epoch.wall(now))
    return mapping.describe(now)


def delete_event_source_mapping(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, frozenset({"UUID"}), "DeleteEventSourceMapping", ValidationException)
    mapping = _mapping(lam, p, now)
    mapping.delete(now)
    out = mapping.describe(now)
    if mapping.gone:
        lam.mappings.pop(mapping.uuid, None)
    return out


def get_event_source_mapping(lam: LambdaState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"UUID"}), "GetEventSourceMapping", ValidationException)
    return _mapping(lam, p, now).describe(now)


def list_event_source_mappings(
    lam: LambdaState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"EventSourceArn", "FunctionName", "Marker", "MaxItems"}),
        "ListEventSourceMappings",
        ValidationException,
    )
    source = string(p, "EventSourceArn", "eventSourceArn")
    fn = lam.named_function(p) if p.get("FunctionName") is not None else None
    max_items = integer(p, "MaxItems", "maxItems", 1, 10_000) or 100
    marker = string(p, "Marker", "marker")
    chosen = []
    for mapping in list(lam.mappings.values()):
        mapping.advance(now)
        if mapping.gone:
            lam.mappings.pop(mapping.uuid, None)
            continue
        if source is not None and mapping.source_arn != source:
            continue
        if fn is not None and mapping.function is not fn:
            continue
        chosen.append(mapping)
    start = 0
    if marker is not None:
        ids = [m.uuid for m in chosen]
        if marker not in ids:
            raise InvalidParameterValueException("Invalid Marker.")
        start = ids.index(marker)
    page = chosen[start : start + max_items]
    out: dict[str, Any] = {"EventSourceMappings": [m.describe(now) for m in page]}
    if start + max_items < len(chosen):
        out["NextMarker"] = chosen[start + max_items].uuid
    return out


def _filters(criteria: Any) -> tuple[dict[str, Any], list[FilterPolicy]]:
    if not isinstance(criteria, Mapping) or not criteria.keys() <= {"Filters"}:
        raise InvalidParameterValueException("FilterCriteria takes Filters.")
    filters = criteria.get("Filters") or []
    if not isinstance(filters, (list, tuple)):
        raise InvalidParameterValueException("FilterCriteria.Filters must be a list.")
    if len(filters) > limits.LAMBDA_ESM_FILTERS_MAX:
        raise InvalidParameterValueException(
            f"The maximum number of filters is {limits.LAMBDA_ESM_FILTERS_MAX}."
        )
    parsed = []
    for f in filters:
        if (
            not isinstance(f, Mapping)
            or not f.keys() <= {"Pattern"}
            or type(f.get("Pattern")) is not str
        ):
            raise InvalidParameterValueException('Each filter is {"Pattern": "<JSON>"}.')
        try:
            parsed.append(FilterPolicy.parse(f["Pattern"], SCOPE_BODY))
        except BrokerError as err:
            raise InvalidParameterValueException(
                f"Invalid filter pattern definition. {err.message}"
            ) from None
    clean = {"Filters": [{"Pattern": f["Pattern"]} for f in filters]}
    return clean, parsed
