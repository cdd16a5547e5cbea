"""Kinesis Data Streams: the operation table.

Every operation takes ``(params, now)`` and either returns the response dict or raises
:class:`~msgsim.broker.errors.BrokerError`; it checks the whole request before it changes
anything. Shape errors (a missing member, a value out of its range or pattern) are
``ValidationException`` with AWS's "1 validation error detected" wording; semantic ones are
``InvalidArgumentException``. Streams are named by ``StreamName`` or ``StreamARN`` (both: they
must agree). SubscribeToShard returns a :class:`~.fanout.Subscribe` that the runtime streams.

The table below is the whole API. Each entry is a plain function ``(account, params, now)`` of
the module that owns its part of the service, bound to the account as a method
(:func:`~msgsim.broker.operation.bind_operations`: no extra layer on the hot paths):

- :mod:`.streams` -- create, delete, describe, list, retention, capacity mode, tags
- :mod:`.records` -- PutRecord(s), shard iterators, GetRecords (the hot paths)
- :mod:`.resharding` -- SplitShard, MergeShards, UpdateShardCount
- :mod:`.consumers` -- enhanced fan-out consumers and SubscribeToShard (:mod:`.fanout`)

The state and the lookups they share are :class:`~.account.KinesisAccount`'s.
"""

from __future__ import annotations

from functools import cached_property

from ..operation import Operation, bind_operations
from . import consumers, records, resharding, streams
from .account import KinesisAccount


class KinesisService(KinesisAccount):
    """Kinesis Data Streams for one account in one region: its state (the account's) and its
    operation table. One object per service, as the runtime and the Lambda mappings expect (they
    read streams through the account's lookups); the table is all this subclass adds, and it
    lives here because the operations import the account, never the other way round."""

    @cached_property
    def operations(self) -> dict[str, Operation]:
        # Built on first use and then an ordinary attribute of the instance (cached_property
        # stores it in the instance's __dict__), so a lookup costs what it always did.
        return bind_operations(
            self,
            {
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
            },
        )
