"""Kinesis enhanced fan-out consumers: register, deregister, describe, list, and SubscribeToShard.

A consumer is CREATING for ``consumer_delay``, then ACTIVE, at most 20 per stream (5 CREATING at
once); deregistering makes it DELETING for ``consumer_delay``, and its subscriptions fail with
ResourceNotFoundException. SubscribeToShard hands the runtime a :class:`~.fanout.Subscribe`
holding a :class:`~.fanout.ShardFeed`, which decides the events of the 5-minute subscription.
"""

from __future__ import annotations

import re
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
from .fanout import ShardFeed, Subscribe
from .records import iterator_position
from .state import KinesisState
from .stream import ACTIVE, CREATING, DELETING, Consumer, Stream, utc_from_ms
from .tokens import make_token, read_token
from .validate import (
    consumer_name,
    integer,
    invalid,
    merged_tags,
    next_token,
    shard_id_member,
    string,
    timestamp,
)

_CONSUMER_ARN_RE = re.compile(
    r"(arn:aws[a-z\-]*:kinesis:[a-z0-9\-]+:[0-9]{12}:stream/[a-zA-Z0-9_.\-]+)"
    r"/consumer/([a-zA-Z0-9_.\-]+):([0-9]{1,20})\Z"
)


def _consumer(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> tuple[Stream, Consumer]:
    """The consumer named by ConsumerARN, or by StreamARN and ConsumerName."""
    carn = string(p, "ConsumerARN", required=False)
    name = consumer_name(p, required=False)
    if carn is not None:
        m = _CONSUMER_ARN_RE.match(carn)
        if m is None:
            raise invalid(
                "consumerARN",
                carn,
                "Member must satisfy regular expression pattern: "
                "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
                "[a-zA-Z0-9_.-]+:[0-9]+",
            )
        stream = kinesis.stream({"StreamARN": m.group(1)}, now)
        consumer = stream.consumers.get(m.group(2))
        if consumer is None or consumer.arn != carn:
            raise ResourceNotFoundException(f"Consumer {carn} not found.")
        return stream, consumer
    if p.get("StreamARN") is None or name is None:
        raise InvalidArgumentException(
            "Either ConsumerARN, or both StreamARN and ConsumerName, must be provided."
        )
    stream = kinesis.stream({"StreamARN": p["StreamARN"]}, now)
    consumer = stream.consumers.get(name)
    if consumer is None:
        raise ResourceNotFoundException(f"Consumer {name} under stream {stream.arn} not found.")
    return stream, consumer


def register_stream_consumer(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """An enhanced fan-out consumer: CREATING for ``consumer_delay``, then ACTIVE; at most 20
    per stream."""
    check_known(
        p,
        frozenset({"StreamARN", "ConsumerName", "Tags"}),
        "RegisterStreamConsumer",
        ValidationException,
    )
    if p.get("StreamARN") is None:
        raise invalid("streamARN", None, "Member must not be null")
    name = consumer_name(p, required=True)
    assert name is not None
    merged_tags(p.get("Tags"), {}, "tags")
    stream = kinesis.stream({"StreamARN": p["StreamARN"]}, now)
    if not stream.readable:
        kinesis.must_be_active(stream)
    if name in stream.consumers:
        raise ResourceInUseException(f"Consumer {name} under stream {stream.arn} already exists.")
    creating = sum(1 for c in stream.consumers.values() if c.status is CREATING)
    if creating >= limits.KINESIS_CONSUMERS_CREATING_MAX:
        raise LimitExceededException(
            f"Stream {stream.arn} already has {creating} consumers in CREATING state; at "
            f"most {limits.KINESIS_CONSUMERS_CREATING_MAX} may be created at once."
        )
    if len(stream.consumers) >= limits.KINESIS_CONSUMERS_PER_STREAM:
        raise LimitExceededException(
            f"Stream {stream.arn} already has {len(stream.consumers)} registered consumers; "
            f"the limit is {limits.KINESIS_CONSUMERS_PER_STREAM}."
        )
    # Consumer ARNs carry the creation time in whole seconds.
    consumer = Consumer(name, stream.arn, utc_from_ms(kinesis.ms(now) // 1000 * 1000))
    stream.consumers[name] = consumer

    def ready(at: float) -> None:
        if consumer.status is CREATING:
            consumer.fire("created")

    stream.schedule(now + kinesis.options.consumer_delay, ready)
    return {"Consumer": consumer.describe()}


def deregister_stream_consumer(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"StreamARN", "ConsumerName", "ConsumerARN"}),
        "DeregisterStreamConsumer",
        ValidationException,
    )
    stream, consumer = _consumer(kinesis, p, now)
    if consumer.status is DELETING:
        raise ResourceInUseException(f"Consumer {consumer.arn} is already being deleted.")
    consumer.fire("delete")
    for _, feed in consumer.subscriptions.values():
        if not feed.done:
            kinesis.touched.add(feed.key)

    def gone(at: float) -> None:
        consumer.fire("deleted")
        if stream.consumers.get(consumer.name) is consumer:
            del stream.consumers[consumer.name]

    stream.schedule(now + kinesis.options.consumer_delay, gone)
    return {}


def list_stream_consumers(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"StreamARN", "NextToken", "MaxResults", "StreamCreationTimestamp"}),
        "ListStreamConsumers",
        ValidationException,
    )
    if p.get("StreamARN") is None:
        raise invalid("streamARN", None, "Member must not be null")
    limit = integer(p, "MaxResults", 1, 10_000) or 100
    token = next_token(p)
    timestamp(p, "StreamCreationTimestamp")
    stream = kinesis.stream({"StreamARN": p["StreamARN"]}, now)
    after = ""
    if token is not None:
        parts = read_token(token, 4, ints=(1, 3))
        if parts is None or parts[0] != "consumers" or parts[1] != str(stream.incarnation):
            raise InvalidArgumentException(f"Invalid NextToken: {token}")
        if now - int(parts[3]) / 1e6 > limits.KINESIS_NEXT_TOKEN_TTL:
            raise ExpiredNextTokenException(f"NextToken has expired: {token}")
        after = parts[2]
    names = sorted(n for n in stream.consumers if n > after)
    page = names[:limit]
    out: dict[str, Any] = {"Consumers": [stream.consumers[n].describe() for n in page]}
    if len(names) > limit:
        out["NextToken"] = make_token("consumers", stream.incarnation, page[-1], int(now * 1e6))
    return out


def describe_stream_consumer(
    kinesis: KinesisState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"StreamARN", "ConsumerName", "ConsumerARN"}),
        "DescribeStreamConsumer",
        ValidationException,
    )
    stream, consumer = _consumer(kinesis, p, now)
    desc = consumer.describe()
    desc["StreamARN"] = stream.arn
    return {"ConsumerDescription": desc}


def subscribe_to_shard(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> Subscribe:
    """Push a shard's records to an ACTIVE consumer for 5 minutes (see
    :mod:`msgsim.broker.kinesis.fanout`). The same consumer and shard again within 5 s is
    refused with ResourceInUseException; later, the new subscription takes over."""
    check_known(
        p,
        frozenset({"ConsumerARN", "ShardId", "StartingPosition"}),
        "SubscribeToShard",
        ValidationException,
    )
    if p.get("ConsumerARN") is None:
        raise invalid("consumerARN", None, "Member must not be null")
    sid = shard_id_member(p, "ShardId")
    start = p.get("StartingPosition")
    if start is None:
        raise invalid("startingPosition", None, "Member must not be null")
    if not isinstance(start, Mapping):
        raise invalid("startingPosition", start, "Member must be a structure")
    check_known(
        start,
        frozenset({"Type", "SequenceNumber", "Timestamp"}),
        "StartingPosition",
        ValidationException,
    )
    stream, consumer = _consumer(kinesis, {"ConsumerARN": p["ConsumerARN"]}, now)
    if consumer.status is not ACTIVE:
        raise ResourceInUseException(
            f"Consumer {consumer.arn} is not ACTIVE, instead in state {consumer.status}."
        )
    if not stream.readable:
        raise kinesis.not_found(stream.name)
    shard = kinesis.shard(stream, sid)  # type: ignore[arg-type]
    shard.trim(now - stream.retention)
    pos = iterator_position(
        kinesis,
        stream,
        shard,
        start.get("Type"),
        start.get("SequenceNumber"),
        start.get("Timestamp"),
        "startingPosition.type",
        "SequenceNumber",
    )
    previous = consumer.subscriptions.get(shard.id)
    if previous is not None:
        since, old = previous
        if now - since < limits.KINESIS_RESUBSCRIBE_INTERVAL:
            raise ResourceInUseException(
                f"Another active subscription exists for consumer {consumer.arn} and shard "
                f"{shard.id}; subscribe again 5 seconds or more after the last call."
            )
        if not old.done:
            old.taken_over = True
            kinesis.touched.add(old.key)
    feed = ShardFeed(kinesis, stream, consumer, shard, pos, now)
    consumer.subscriptions[shard.id] = (now, feed)
    return Subscribe(feed)
