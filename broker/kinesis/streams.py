"""Kinesis operations on streams as a whole: create, delete, describe, list, retention, capacity
mode and tags.

Each operation is a function ``(account, params, now) -> response`` that checks the whole request
before it changes anything (:mod:`.service` binds them into the operation table). A stream lives
through CREATING, ACTIVE, UPDATING and DELETING as :mod:`.stream`'s transition table says; the
delays come from :class:`~.options.KinesisOptions`. ListStreams and ListShards hand out
NextTokens valid for 300 s (:mod:`.tokens`); a ListShards token names its stream's incarnation
and keeps the first page's ShardFilter, so it needs no StreamName.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import (
    ExpiredNextTokenException,
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from ..params import check_known
from .shard import Shard
from .state import KinesisState
from .stream import CREATING, DELETING, ON_DEMAND, PROVISIONED, Stream
from .tokens import make_token, read_token
from .validate import (
    STREAM_KEYS,
    integer,
    invalid,
    merged_tags,
    next_token,
    shard_id_member,
    stream_name,
    string,
    timestamp,
)

SHARD_FILTER_TYPES = frozenset(
    {
        "AFTER_SHARD_ID",
        "AT_TRIM_HORIZON",
        "FROM_TRIM_HORIZON",
        "AT_LATEST",
        "AT_TIMESTAMP",
        "FROM_TIMESTAMP",
    }
)
_CREATE_KEYS = frozenset(
    {
        "StreamName",
        "ShardCount",
        "StreamModeDetails",
        "Tags",
        "MaxRecordSizeInKiB",
        "WarmThroughputMiBps",
    }
)


# ---------------------------------------------------------------------- create, delete
def create_stream(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """A new stream, CREATING until ``create_delay`` has passed, then ACTIVE. PROVISIONED
    takes ShardCount; ON_DEMAND starts with 4 shards (4 MiB/s of writes) as AWS's does."""
    check_known(p, _CREATE_KEYS, "CreateStream", ValidationException)
    name = stream_name(p, "StreamName")
    assert name is not None
    mode = stream_mode(p)
    shard_count = integer(p, "ShardCount", 1)
    kib = integer(
        p,
        "MaxRecordSizeInKiB",
        limits.KINESIS_MAX_RECORD_SIZE_KIB_MIN,
        limits.KINESIS_MAX_RECORD_SIZE_KIB_MAX,
    )
    integer(p, "WarmThroughputMiBps", 0)
    tags = merged_tags(p.get("Tags"), {}, "tags")
    if mode == ON_DEMAND:
        shard_count = limits.KINESIS_ON_DEMAND_INITIAL_SHARDS
        on_demand = sum(1 for s in kinesis.live_streams(now) if s.mode == ON_DEMAND)
        if on_demand >= kinesis.options.on_demand_stream_limit:
            raise LimitExceededException(
                f"Account {kinesis.account_id} already has {on_demand} ON_DEMAND streams; the "
                f"limit is {kinesis.options.on_demand_stream_limit}."
            )
    elif shard_count is None:
        raise InvalidArgumentException("ShardCount is required for a PROVISIONED stream.")
    if kinesis.lookup(name, now) is not None:
        raise ResourceInUseException(
            f"Stream {name} under account {kinesis.account_id} already exists."
        )
    kinesis.check_shard_quota(shard_count, now)
    stream = Stream(
        name=name,
        arn=kinesis.arn(name),
        incarnation=kinesis.next_incarnation(),
        mode=mode,
        shard_count=shard_count,
        now=now,
        epoch=kinesis.epoch,
        ready_at=now + kinesis.options.create_delay,
        max_record_kib=kib or limits.KINESIS_MAX_RECORD_SIZE_KIB_DEFAULT,
        tags=tags,
    )
    kinesis.streams[name] = stream
    kinesis.by_incarnation[stream.incarnation] = stream
    return {}


def stream_mode(p: Mapping[str, Any], *, required: bool = False) -> str:
    """StreamModeDetails.StreamMode: PROVISIONED (the default) or ON_DEMAND."""
    details = p.get("StreamModeDetails")
    if details is None:
        if required:
            raise invalid("streamModeDetails", None, "Member must not be null")
        return PROVISIONED
    if not isinstance(details, Mapping):
        raise invalid("streamModeDetails", details, "Member must be a structure")
    check_known(details, frozenset({"StreamMode"}), "StreamModeDetails", ValidationException)
    mode = details.get("StreamMode")
    if type(mode) is not str or mode not in (PROVISIONED, ON_DEMAND):
        raise invalid(
            "streamModeDetails.streamMode",
            mode,
            "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
        )
    return mode


def delete_stream(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """DELETING for ``delete_delay``, then gone. A stream with registered consumers is only
    deleted with EnforceConsumerDeletion (AWS's ResourceInUseException otherwise)."""
    check_known(p, STREAM_KEYS | {"EnforceConsumerDeletion"}, "DeleteStream", ValidationException)
    enforce = p.get("EnforceConsumerDeletion")
    if enforce is None:
        enforce = False
    if type(enforce) is not bool:
        raise invalid("enforceConsumerDeletion", enforce, "Member must be a boolean")
    stream = kinesis.stream(p, now)
    if stream.status is DELETING:
        raise kinesis.not_found(stream.name)
    if stream.status is CREATING:
        kinesis.must_be_active(stream)
    if stream.consumers and not enforce:
        raise ResourceInUseException(
            f"Stream {stream.name} under account {kinesis.account_id} has registered "
            "consumers; delete them first or set EnforceConsumerDeletion."
        )
    stream.fire("delete")
    # Subscribers wake, find the stream gone and fail with ResourceNotFoundException.
    kinesis.touched.update(stream.shards.values())

    def gone(at: float) -> None:
        stream.fire("deleted")
        if kinesis.streams.get(stream.name) is stream:
            del kinesis.streams[stream.name]
        kinesis.by_incarnation.pop(stream.incarnation, None)

    stream.schedule(now + kinesis.options.delete_delay, gone)
    return {}


# ---------------------------------------------------------------------- describe, list
def _summary_fields(stream: Stream) -> dict[str, Any]:
    return {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "StreamStatus": stream.status,
        "StreamModeDetails": {"StreamMode": stream.mode},
        "RetentionPeriodHours": stream.retention_hours,
        "StreamCreationTimestamp": stream.created_ts,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
    }


def _visible_shards(stream: Stream) -> list[Shard]:
    # AWS lists no shards until the stream is ACTIVE.
    return [] if stream.status is CREATING else list(stream.shards.values())


def describe_stream(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(
        p,
        STREAM_KEYS | {"Limit", "ExclusiveStartShardId"},
        "DescribeStream",
        ValidationException,
    )
    limit = integer(p, "Limit", 1, 10_000) or 100
    after = shard_id_member(p, "ExclusiveStartShardId", required=False)
    stream = kinesis.stream(p, now)
    shards = _visible_shards(stream)
    if after is not None:
        shards = [s for s in shards if s.id > after]
    desc = _summary_fields(stream)
    desc["Shards"] = [s.describe() for s in shards[:limit]]
    desc["HasMoreShards"] = len(shards) > limit
    return {"StreamDescription": desc}


def describe_stream_summary(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, STREAM_KEYS, "DescribeStreamSummary", ValidationException)
    stream = kinesis.stream(p, now)
    desc = _summary_fields(stream)
    desc["OpenShardCount"] = 0 if stream.status is CREATING else stream.open_count
    desc["ConsumerCount"] = len(stream.consumers)
    desc["MaxRecordSizeInKiB"] = stream.max_record_kib
    return {"StreamDescriptionSummary": desc}


def list_streams(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"Limit", "ExclusiveStartStreamName", "NextToken"}),
        "ListStreams",
        ValidationException,
    )
    limit = integer(p, "Limit", 1, 10_000) or 100
    start = stream_name(p, "ExclusiveStartStreamName", required=False)
    token = next_token(p)
    if token is not None:
        parts = read_token(token, 3, ints=(2,))
        if parts is None or parts[0] != "streams":
            raise InvalidArgumentException(f"Invalid NextToken: {token}")
        if now - int(parts[2]) / 1e6 > limits.KINESIS_NEXT_TOKEN_TTL:
            raise ExpiredNextTokenException(f"NextToken has expired: {token}")
        start = parts[1]
    names = sorted(s.name for s in kinesis.live_streams(now))
    if start is not None:
        names = [n for n in names if n > start]
    page = names[:limit]
    streams = kinesis.streams
    out: dict[str, Any] = {
        "StreamNames": page,
        "HasMoreStreams": len(names) > limit,
        "StreamSummaries": [
            {
                "StreamName": n,
                "StreamARN": streams[n].arn,
                "StreamStatus": streams[n].status,
                "StreamModeDetails": {"StreamMode": streams[n].mode},
                "StreamCreationTimestamp": streams[n].created_ts,
            }
            for n in page
        ],
    }
    if len(names) > limit:
        out["NextToken"] = make_token("streams", page[-1], int(now * 1e6))
    return out


def list_shards(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Shards of a stream, filtered as ShardFilter says, paginated by NextToken (valid for
    300 s, and given without StreamName)."""
    check_known(
        p,
        STREAM_KEYS
        | {
            "NextToken",
            "ExclusiveStartShardId",
            "MaxResults",
            "StreamCreationTimestamp",
            "ShardFilter",
        },
        "ListShards",
        ValidationException,
    )
    limit = integer(p, "MaxResults", 1, 10_000) or 1000
    token = next_token(p)
    after = shard_id_member(p, "ExclusiveStartShardId", required=False)
    timestamp(p, "StreamCreationTimestamp")
    if token is not None:
        if p.get("StreamName") is not None or p.get("ExclusiveStartShardId") is not None:
            raise InvalidArgumentException(
                "NextToken and StreamName or ExclusiveStartShardId cannot be provided together."
            )
        parts = read_token(token, 6, ints=(1, 3))
        if parts is None or parts[0] != "shards":
            raise InvalidArgumentException(f"Invalid NextToken: {token}")
        if now - int(parts[3]) / 1e6 > limits.KINESIS_NEXT_TOKEN_TTL:
            raise ExpiredNextTokenException(f"NextToken has expired: {token}")
        stream = kinesis.by_incarnation.get(int(parts[1]))
        if stream is None:
            raise ResourceNotFoundException("The stream this NextToken lists no longer exists.")
        stream.advance(now)
        after = parts[2]
        # The token keeps the first page's filter (its type and argument).
        kind, arg = parts[4], parts[5]
        if kind and kind not in SHARD_FILTER_TYPES:
            raise InvalidArgumentException(f"Invalid NextToken: {token}")
    else:
        stream = kinesis.stream(p, now)
        kind, arg = _parse_filter(p.get("ShardFilter"))
    shards = _filter_shards(kinesis, stream, kind, arg, now)
    if after:
        shards = [s for s in shards if s.id > after]
    page = shards[:limit]
    out: dict[str, Any] = {"Shards": [s.describe() for s in page]}
    if len(shards) > limit:
        out["NextToken"] = make_token(
            "shards", stream.incarnation, page[-1].id, int(now * 1e6), kind, arg
        )
    return out


def _parse_filter(spec: Any) -> tuple[str, str]:
    """A ShardFilter as (type, argument): the shard id for AFTER_SHARD_ID, Unix seconds for
    the timestamp types, else ''; ('', '') for none."""
    if spec is None:
        return "", ""
    if not isinstance(spec, Mapping):
        raise invalid("shardFilter", spec, "Member must be a structure")
    check_known(
        spec, frozenset({"Type", "ShardId", "Timestamp"}), "ShardFilter", ValidationException
    )
    kind = spec.get("Type")
    if type(kind) is not str or kind not in SHARD_FILTER_TYPES:
        raise invalid(
            "shardFilter.type",
            kind,
            "Member must satisfy enum value set: [" + ", ".join(sorted(SHARD_FILTER_TYPES)) + "]",
        )
    if kind == "AFTER_SHARD_ID":
        sid = shard_id_member(spec, "ShardId", required=False)
        if sid is None:
            raise InvalidArgumentException("ShardFilter AFTER_SHARD_ID requires a ShardId.")
        return kind, sid
    if kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
        when = timestamp(spec, "Timestamp")
        if when is None:
            raise InvalidArgumentException(f"ShardFilter {kind} requires a Timestamp.")
        return kind, repr(when.timestamp())
    return kind, ""


def _filter_shards(
    kinesis: KinesisState, stream: Stream, kind: str, arg: str, now: float
) -> list[Shard]:
    shards = _visible_shards(stream)
    if not kind or kind == "FROM_TRIM_HORIZON":
        return shards
    if kind == "AFTER_SHARD_ID":
        return [s for s in shards if s.id > arg]
    if kind == "AT_LATEST":
        return [s for s in shards if s.is_open]
    if kind == "AT_TRIM_HORIZON":
        t = max(now - stream.retention, stream.created_at)
    else:
        try:
            t = max(kinesis.epoch.clock_at(float(arg)), stream.created_at)
        except ValueError:
            raise InvalidArgumentException("Invalid NextToken.") from None
    if kind == "FROM_TIMESTAMP":
        return [s for s in shards if s.closed_at is None or s.closed_at > t]
    # AT_TRIM_HORIZON, AT_TIMESTAMP: the shards that were open at time t
    return [s for s in shards if s.created_at <= t and (s.closed_at is None or s.closed_at > t)]


# ---------------------------------------------------------------------- retention, capacity mode
def _retention(
    kinesis: KinesisState, p: Mapping[str, Any], now: float, op: str
) -> tuple[Stream, int]:
    check_known(p, STREAM_KEYS | {"RetentionPeriodHours"}, op, ValidationException)
    hours = integer(p, "RetentionPeriodHours", 1, 8_760, required=True)
    assert hours is not None
    stream = kinesis.stream(p, now)
    kinesis.must_be_active(stream)
    if hours < limits.KINESIS_RETENTION_HOURS_MIN:
        raise InvalidArgumentException(
            f"Minimum allowed retention period is {limits.KINESIS_RETENTION_HOURS_MIN} "
            f"hours. Requested retention period (in hours): {hours}"
        )
    return stream, hours


def increase_stream_retention_period(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """Longer retention (up to 8,760 h). Records already past the old period stay gone."""
    stream, hours = _retention(kinesis, p, now, "IncreaseStreamRetentionPeriod")
    if hours < stream.retention_hours:
        raise InvalidArgumentException(
            f"Requested retention period ({hours} hours) for stream {stream.name} can not be "
            f"shorter than existing retention period ({stream.retention_hours} hours). Use "
            "DecreaseRetentionPeriod API."
        )
    stream.set_retention(hours, now)
    return {}


def decrease_stream_retention_period(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """Shorter retention (down to 24 h); older records become inaccessible at once."""
    stream, hours = _retention(kinesis, p, now, "DecreaseStreamRetentionPeriod")
    if hours > stream.retention_hours:
        raise InvalidArgumentException(
            f"Requested retention period ({hours} hours) for stream {stream.name} can not be "
            f"longer than existing retention period ({stream.retention_hours} hours). Use "
            "IncreaseRetentionPeriod API."
        )
    stream.set_retention(hours, now)
    stream.trim_all(now)
    return {}


def update_stream_mode(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Switch between PROVISIONED and ON_DEMAND (StreamARN only; twice per 24 hours)."""
    check_known(
        p,
        frozenset({"StreamARN", "StreamModeDetails", "WarmThroughputMiBps"}),
        "UpdateStreamMode",
        ValidationException,
    )
    if p.get("StreamARN") is None:
        raise invalid("streamARN", None, "Member must not be null")
    mode = stream_mode(p, required=True)
    stream = kinesis.stream({"StreamARN": p["StreamARN"]}, now)
    kinesis.must_be_active(stream)
    if mode == stream.mode:
        raise InvalidArgumentException(
            f"Stream {stream.name} under account {kinesis.account_id} is already in {mode} mode."
        )
    window = stream.mode_switches
    while window and window[0] <= now - 86_400:
        window.popleft()
    if len(window) >= limits.KINESIS_STREAM_MODE_SWITCHES_PER_DAY:
        raise LimitExceededException(
            f"Stream {stream.name} under account {kinesis.account_id} has already switched "
            f"capacity mode {len(window)} times in the last 24 hours."
        )
    window.append(now)

    def switch(at: float) -> None:
        stream.mode = mode

    kinesis.start_update(stream, now, switch)
    return {}


# ---------------------------------------------------------------------- tags
def add_tags_to_stream(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, STREAM_KEYS | {"Tags"}, "AddTagsToStream", ValidationException)
    tags = p.get("Tags")
    if tags is None:
        raise invalid("tags", None, "Member must not be null")
    if isinstance(tags, Mapping) and not 1 <= len(tags) <= limits.KINESIS_TAGS_PER_CALL:
        raise invalid("tags", f"{len(tags)} tags", "Member must have length between 1 and 10")
    stream = kinesis.stream(p, now)
    stream.tags = merged_tags(tags, stream.tags, "tags")
    return {}


def remove_tags_from_stream(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, STREAM_KEYS | {"TagKeys"}, "RemoveTagsFromStream", ValidationException)
    keys = p.get("TagKeys")
    if keys is None:
        raise invalid("tagKeys", None, "Member must not be null")
    if not isinstance(keys, (list, tuple)) or not all(type(key) is str for key in keys):
        raise invalid("tagKeys", keys, "Member must be a list of strings")
    if not 1 <= len(keys) <= limits.KINESIS_TAGS_PER_CALL:
        raise invalid("tagKeys", f"{len(keys)} keys", "Member must have length between 1 and 10")
    stream = kinesis.stream(p, now)
    for key in keys:
        stream.tags.pop(key, None)
    return {}


def list_tags_for_stream(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(
        p,
        STREAM_KEYS | {"ExclusiveStartTagKey", "Limit"},
        "ListTagsForStream",
        ValidationException,
    )
    limit = integer(p, "Limit", 1, 50) or 50
    after = string(p, "ExclusiveStartTagKey", required=False)
    stream = kinesis.stream(p, now)
    keys = sorted(key for key in stream.tags if after is None or key > after)
    return {
        "Tags": [{"Key": key, "Value": stream.tags[key]} for key in keys[:limit]],
        "HasMoreTags": len(keys) > limit,
    }
