"""The Kinesis behaviours a test or scenario may tune (:class:`KinesisOptions`)."""

from __future__ import annotations

from .. import limits


class KinesisOptions:
    """Kinesis behaviours a test or scenario may tune.

    ``enforce_throughput`` applies the per-shard read and write limits (on by default, as in
    AWS; switch off for pure functional tests). The delays are how long a stream stays CREATING,
    UPDATING (resharding, mode change) and DELETING and a consumer CREATING or DELETING; AWS takes
    seconds to minutes, msgsim defaults to half a second. ``shard_limit`` and
    ``on_demand_stream_limit`` are the account quotas."""

    def __init__(
        self,
        *,
        enforce_throughput: bool = True,
        create_delay: float = 0.5,
        update_delay: float = 0.5,
        delete_delay: float = 0.5,
        consumer_delay: float = 0.5,
        shard_limit: int = limits.KINESIS_SHARDS_PER_ACCOUNT,
        on_demand_stream_limit: int = limits.KINESIS_ON_DEMAND_STREAMS_PER_ACCOUNT,
    ) -> None:
        self.enforce_throughput = enforce_throughput
        self.create_delay = create_delay
        self.update_delay = update_delay
        self.delete_delay = delete_delay
        self.consumer_delay = consumer_delay
        self.shard_limit = shard_limit
        self.on_demand_stream_limit = on_demand_stream_limit
