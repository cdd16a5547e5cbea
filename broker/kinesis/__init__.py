"""Kinesis Data Streams: ordered shards, iterators, resharding and enhanced fan-out.

- :mod:`.service` -- the operation table (:class:`~.service.KinesisService`), the one way in
- :mod:`.state` -- the streams of one account and the lookups every operation shares
- :mod:`.streams`, :mod:`.records`, :mod:`.resharding`, :mod:`.consumers` -- the operations
- :mod:`.stream`, :mod:`.shard` -- the sans-IO cores: a stream's lifecycle, a shard's records
- :mod:`.fanout` -- one SubscribeToShard subscription as a sans-IO feed of events
- :mod:`.validate`, :mod:`.tokens`, :mod:`.options` -- shape checks, self-contained tokens, tunables

Imports run one way: service -> the operations -> state -> the cores.
"""
