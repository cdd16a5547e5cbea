"""Kinesis Data Streams: the operation table.

Every operation takes ``(params, now)`` and either returns the response dict or raises
:class:`~msgsim.broker.errors.BrokerError`; it checks the whole request before it changes
anything. Shape errors (a missing member, a value out of its range or pattern) are
``ValidationException`` with AWS's "1 validation error detected" wording; semantic ones are
``InvalidArgumentException``. Streams are named by ``StreamName`` or ``StreamARN`` (both: they
must agree). SubscribeToShard returns a :class:`~.fanout.Subscribe` that the runtime streams.

:data:`OPERATIONS` below is the whole API, by AWS name. Each entry is a plain function
``(kinesis, params, now)`` of the module that owns its part of the service:

- :mod:`.streams` -- create, delete, describe, list, retention, capacity mode, tags
- :mod:`.records` -- PutRecord(s), shard iterators, GetRecords (the hot paths)
- :mod:`.resharding` -- SplitShard, MergeShards, UpdateShardCount
- :mod:`.consumers` -- enhanced fan-out consumers and SubscribeToShard (:mod:`.fanout`)

The state and the lookups they share are :class:`~.state.KinesisState`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from types import MethodType
from typing import Any

from . import consumers, records, resharding, streams
from .state import KinesisState

#: AWS operation name -> its function, called as ``function(state, params, now)``.
OPERATIONS: dict[str, Callable[..., Any]] = {
    "CreateStream": streams.create_stream,
    "DeleteStream": streams.delete_stream,
    "DescribeStream": streams.describe_stream,
    "DescribeStreamSummary": streams.describe_stream_summary,
    "ListStreams": streams.list_streams,
    "ListShards": streams.list_shards,
    "PutRecord": records.put_record,
    "PutRecords": records.put_records,
    "GetShardIterator": records.get_shard_iterator,
    "GetRecords": records.get_records,
    "SplitShard": resharding.split_shard,
    "MergeShards": resharding.merge_shards,
    "UpdateShardCount": resharding.update_shard_count,
    "IncreaseStreamRetentionPeriod": streams.increase_stream_retention_period,
    "DecreaseStreamRetentionPeriod": streams.decrease_stream_retention_period,
    "UpdateStreamMode": streams.update_stream_mode,
    "RegisterStreamConsumer": consumers.register_stream_consumer,
    "DeregisterStreamConsumer": consumers.deregister_stream_consumer,
    "ListStreamConsumers": consumers.list_stream_consumers,
    "DescribeStreamConsumer": consumers.describe_stream_consumer,
    "SubscribeToShard": consumers.subscribe_to_shard,
    "AddTagsToStream": streams.add_tags_to_stream,
    "RemoveTagsFromStream": streams.remove_tags_from_stream,
    "ListTagsForStream": streams.list_tags_for_stream,
}


class KinesisService(KinesisState):
    """Kinesis Data Streams for one account in one region: its state and its operation table.
    It subclasses the state (rather than holding it) because the runtime and the Lambda mappings
    read the state's fields and lookups on the service itself; the table is all it adds, and it
    lives here because the operations import the state, never the other way round."""

    @cached_property
    def operations(self) -> dict[str, Callable[[Mapping[str, Any], float], Any]]:
        """:data:`OPERATIONS` bound to this service, as ``SqsService.operations`` is: bound
        methods, so Broker.call's one call per request costs what it did; made on first use,
        then a plain attribute."""
        return {name: MethodType(function, self) for name, function in OPERATIONS.items()}
