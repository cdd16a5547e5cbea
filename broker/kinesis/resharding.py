"""Kinesis resharding: SplitShard, MergeShards and UpdateShardCount.

A reshard makes the stream UPDATING at once and takes effect when it turns ACTIVE again, after
``update_delay`` (as in AWS: until then writes go to the parents). The parents close then and
keep their records until retention ends; readers follow lineage through ``ChildShards``. Only a
PROVISIONED stream that is ACTIVE may be resharded, and every request is checked against the
account's shard quota before anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import InvalidArgumentException, LimitExceededException, ValidationException
from ..params import check_known
from .state import KinesisState
from .stream import ON_DEMAND, Stream
from .validate import STREAM_KEYS, explicit_hash, integer, invalid, shard_id_member, string


def _reshardable(kinesis: KinesisState, stream: Stream, op: str) -> None:
    kinesis.must_be_active(stream)
    if stream.mode == ON_DEMAND:
        raise ValidationException(
            f"{op} is not supported for stream {stream.name} under account "
            f"{kinesis.account_id} because it is in ON_DEMAND mode."
        )


def split_shard(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Close ShardToSplit and give its range to two children split at NewStartingHashKey."""
    check_known(
        p,
        STREAM_KEYS | {"ShardToSplit", "NewStartingHashKey"},
        "SplitShard",
        ValidationException,
    )
    sid = shard_id_member(p, "ShardToSplit")
    raw = string(p, "NewStartingHashKey")
    new_start = explicit_hash(raw, "newStartingHashKey")
    stream = kinesis.stream(p, now)
    _reshardable(kinesis, stream, "SplitShard")
    shard = kinesis.shard(stream, sid)  # type: ignore[arg-type]
    if not shard.is_open:
        raise InvalidArgumentException(
            f"Shard {shard.id} in stream {stream.name} under account {kinesis.account_id} has "
            "already been merged or split, and thus is not eligible for splitting."
        )
    assert new_start is not None
    if not shard.start_key < new_start <= shard.end_key:
        raise InvalidArgumentException(
            f"NewStartingHashKey {raw} used in SplitShard() on shard {shard.id} in stream "
            f"{stream.name} under account {kinesis.account_id} is not both greater than one "
            f"plus the shard's StartingHashKey {shard.start_key} and less than the shard's "
            f"EndingHashKey {shard.end_key}."
        )
    kinesis.check_shard_quota(1, now)
    kinesis.start_update(stream, now, lambda at: stream.split(shard, new_start, at))
    return {}


def merge_shards(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Close two adjacent open shards and give their union to one child."""
    check_known(
        p,
        STREAM_KEYS | {"ShardToMerge", "AdjacentShardToMerge"},
        "MergeShards",
        ValidationException,
    )
    sid = shard_id_member(p, "ShardToMerge")
    aid = shard_id_member(p, "AdjacentShardToMerge")
    stream = kinesis.stream(p, now)
    _reshardable(kinesis, stream, "MergeShards")
    shard = kinesis.shard(stream, sid)  # type: ignore[arg-type]
    adjacent = kinesis.shard(stream, aid)  # type: ignore[arg-type]
    for s in (shard, adjacent):
        if not s.is_open:
            raise InvalidArgumentException(
                f"Shard {s.id} in stream {stream.name} under account {kinesis.account_id} has "
                "already been merged or split, and thus is not eligible for merging."
            )
    if not (shard.end_key + 1 == adjacent.start_key or adjacent.end_key + 1 == shard.start_key):
        raise InvalidArgumentException(
            f"Shards {shard.id} and {adjacent.id} in stream {stream.name} under account "
            f"{kinesis.account_id} are not an adjacent pair of shards eligible for merging."
        )
    kinesis.start_update(stream, now, lambda at: stream.merge(shard, adjacent, at))
    return {}


def update_shard_count(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Reshard uniformly to TargetShardCount (UNIFORM_SCALING): at most double, at least half
    the open shards, at most 10 times in a rolling 24 hours."""
    check_known(
        p,
        STREAM_KEYS | {"TargetShardCount", "ScalingType"},
        "UpdateShardCount",
        ValidationException,
    )
    target = integer(p, "TargetShardCount", 1, limits.KINESIS_SHARDS_PER_STREAM_MAX, required=True)
    scaling = p.get("ScalingType")
    if scaling != "UNIFORM_SCALING":
        raise invalid(
            "scalingType", scaling, "Member must satisfy enum value set: [UNIFORM_SCALING]"
        )
    stream = kinesis.stream(p, now)
    _reshardable(kinesis, stream, "UpdateShardCount")
    assert target is not None
    current = stream.open_count
    if target > 2 * current:
        raise LimitExceededException(
            f"UpdateShardCount cannot scale up over double your current open shard count. "
            f"Current open shard count: {current} Target shard count: {target}"
        )
    if 2 * target < current:
        raise LimitExceededException(
            f"UpdateShardCount cannot scale down below half your current open shard count. "
            f"Current open shard count: {current} Target shard count: {target}"
        )
    window = stream.shard_count_updates
    while window and window[0] <= now - 86_400:
        window.popleft()
    if len(window) >= limits.KINESIS_UPDATE_SHARD_COUNT_PER_DAY:
        raise LimitExceededException(
            f"Stream {stream.name} under account {kinesis.account_id} has already been "
            f"rescaled {len(window)} times in the last 24 hours."
        )
    if target > current:
        kinesis.check_shard_quota(target - current, now)
    window.append(now)
    kinesis.start_update(stream, now, lambda at: stream.rescale(target, at))
    return {
        "StreamName": stream.name,
        "CurrentShardCount": current,
        "TargetShardCount": target,
        "StreamARN": stream.arn,
    }
