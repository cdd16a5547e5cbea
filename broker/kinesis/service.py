"""Kinesis Data Streams operations: validation at the boundary, AWS-shaped dicts in and out.

Every operation takes ``(params, now)`` and either returns the response dict or raises
:class:`~msgsim.broker.errors.BrokerError`; it checks the whole request before it changes anything. Shape
errors (a missing member, a value out of its range or pattern) are ``ValidationException`` with
AWS's "1 validation error detected" wording; semantic ones are ``InvalidArgumentException``.
Streams are named by ``StreamName`` or ``StreamARN`` (both: they must agree).

Shard iterators are self-contained tokens (stream incarnation, shard, position, time of issue,
and a keyed checksum), so minting one per GetRecords costs no memory and a stale or forged one is
recognised: it expires 5 minutes after issue and dies with its stream.
"""

from __future__ import annotations

import base64
import hashlib
import re
from bisect import bisect_right
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from .. import limits
from ..clock import Epoch
from ..errors import (
    ExpiredIteratorException,
    ExpiredNextTokenException,
    InvalidArgumentException,
    LimitExceededException,
    ProvisionedThroughputExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from ..params import check_known, safe_repr
from .fanout import ShardFeed, Subscribe
from .shard import SEQ_BASE, SEQ_MAX, Shard, seq_shard_index
from .stream import (
    ACTIVE,
    CREATING,
    DELETED,
    DELETING,
    HASH_MAX,
    UPDATING,
    Consumer,
    Stream,
    hash_key,
    utc_from_ms,
)

PROVISIONED = "PROVISIONED"
ON_DEMAND = "ON_DEMAND"
ITERATOR_TYPES = frozenset(
    {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP", "TRIM_HORIZON", "LATEST"}
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
_NAME_RE = re.compile(r"[a-zA-Z0-9_.\-]{1,128}\Z")
_SEQ_RE = re.compile(r"(0|[1-9][0-9]{0,128})\Z")
_HASH_RE = re.compile(r"(0|[1-9][0-9]{0,38})\Z")
_SHARD_ID_RE = re.compile(r"[a-zA-Z0-9_.\-]{1,128}\Z")
_ARN_RE = re.compile(
    r"arn:aws[a-z\-]*:kinesis:([a-z0-9\-]+):([0-9]{12}):stream/([a-zA-Z0-9_.\-]+)\Z"
)
_CONSUMER_ARN_RE = re.compile(
    r"(arn:aws[a-z\-]*:kinesis:[a-z0-9\-]+:[0-9]{12}:stream/[a-zA-Z0-9_.\-]+)"
    r"/consumer/([a-zA-Z0-9_.\-]+):([0-9]{1,20})\Z"
)
_TOKEN_KEY = b"msgsim-kinesis-token-v1"  # integrity, not secrecy: a checksum users cannot forge
_TOKEN_MAX_LEN = 512
_STREAM_KEYS = frozenset({"StreamName", "StreamARN"})
_RECORD_KEYS = frozenset({"Data", "PartitionKey", "ExplicitHashKey"})


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


# ---------------------------------------------------------------------- shape checks
def _invalid(field: str, value: Any, constraint: str) -> ValidationException:
    shown = value if type(value) is str and len(value) <= 200 else safe_repr(value)
    return ValidationException(
        f"1 validation error detected: Value '{shown}' at '{field}' failed to satisfy "
        f"constraint: {constraint}"
    )


def _field(name: str) -> str:
    return name[0].lower() + name[1:]


def _str(p: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = p.get(name)
    if value is None:
        if required:
            raise _invalid(_field(name), None, "Member must not be null")
        return None
    if type(value) is not str:
        raise _invalid(_field(name), value, "Member must be a string")
    return value


def _name(p: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = _str(p, name, required=required)
    if value is not None and not _NAME_RE.match(value):
        if not 1 <= len(value) <= limits.KINESIS_STREAM_NAME_MAX:
            raise _invalid(_field(name), value, "Member must have length between 1 and 128")
        raise _invalid(
            _field(name), value, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )
    return value


def _int(
    p: Mapping[str, Any], name: str, lo: int, hi: int | None = None, *, required: bool = False
) -> int | None:
    value = p.get(name)
    if value is None:
        if required:
            raise _invalid(_field(name), None, "Member must not be null")
        return None
    if type(value) is not int:
        raise _invalid(_field(name), value, "Member must be an integer")
    if value < lo:
        raise _invalid(_field(name), value, f"Member must have value greater than or equal to {lo}")
    if hi is None:
        hi = 2**31 - 1  # AWS's Integer members are 32-bit
    if value > hi:
        raise _invalid(_field(name), value, f"Member must have value less than or equal to {hi}")
    return value


def _next_token(p: Mapping[str, Any]) -> str | None:
    value = _str(p, "NextToken", required=False)
    if value is not None and not 1 <= len(value) <= 1_048_576:
        raise _invalid("nextToken", value, "Member must have length between 1 and 1048576")
    return value


def _timestamp(p: Mapping[str, Any], name: str) -> datetime | None:
    """A timestamp as boto3 takes it: a datetime (naive means UTC) or Unix seconds."""
    value = p.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if type(value) in (int, float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise _invalid(_field(name), value, "Member must be a timestamp")


def _data(value: Any, field: str) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if type(value) is str:
        try:
            return value.encode()
        except UnicodeEncodeError:
            raise _invalid(field, value, "Member must be valid Unicode text") from None
    if value is None:
        raise _invalid(field, None, "Member must not be null")
    raise _invalid(field, value, "Member must be a blob (bytes)")


def _token(*parts: object) -> str:
    body = "|".join(map(str, parts))
    mac = hashlib.blake2b(body.encode(), key=_TOKEN_KEY, digest_size=9).hexdigest()
    return base64.b64encode(f"{body}|{mac}".encode()).decode()


def _untoken(token: str, fields: int, ints: tuple[int, ...] = ()) -> list[str] | None:
    """The fields of a token made by :func:`_token`, or None if it is not one (wrong checksum,
    wrong number of fields, or a field at an index in ``ints`` that is not a plain integer)."""
    if not 1 <= len(token) <= 4096:
        return None
    try:
        text = base64.b64decode(token, validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    body, _, mac = text.rpartition("|")
    want = hashlib.blake2b(body.encode(), key=_TOKEN_KEY, digest_size=9).hexdigest()
    parts = body.split("|")
    if mac != want or len(parts) != fields:
        return None
    for i in ints:
        if not (parts[i].isascii() and parts[i].isdigit() and len(parts[i]) < 30):
            return None
    return parts


class KinesisService:
    """Kinesis Data Streams for one account in one region."""

    def __init__(
        self,
        *,
        epoch: Epoch,
        region: str,
        account_id: str,
        options: KinesisOptions | None = None,
    ) -> None:
        self.epoch = epoch
        self.region = region
        self.account_id = account_id
        self.options = options or KinesisOptions()
        self.streams: dict[str, Stream] = {}
        self.by_incarnation: dict[int, Stream] = {}
        self._incarnations = 0
        #: keys (shards) whose subscribers should look again (the runtime wakes them)
        self.touched: set[Any] = set()
        self.jobs: list[Any] = []
        self.operations: dict[str, Callable[[Mapping[str, Any], float], Any]] = {
            "CreateStream": self.create_stream,
            "DeleteStream": self.delete_stream,
            "DescribeStream": self.describe_stream,
            "DescribeStreamSummary": self.describe_stream_summary,
            "ListStreams": self.list_streams,
            "ListShards": self.list_shards,
            "PutRecord": self.put_record,
            "PutRecords": self.put_records,
            "GetShardIterator": self.get_shard_iterator,
            "GetRecords": self.get_records,
            "SplitShard": self.split_shard,
            "MergeShards": self.merge_shards,
            "UpdateShardCount": self.update_shard_count,
            "IncreaseStreamRetentionPeriod": self.increase_stream_retention_period,
            "DecreaseStreamRetentionPeriod": self.decrease_stream_retention_period,
            "UpdateStreamMode": self.update_stream_mode,
            "RegisterStreamConsumer": self.register_stream_consumer,
            "DeregisterStreamConsumer": self.deregister_stream_consumer,
            "ListStreamConsumers": self.list_stream_consumers,
            "DescribeStreamConsumer": self.describe_stream_consumer,
            "SubscribeToShard": self.subscribe_to_shard,
            "AddTagsToStream": self.add_tags_to_stream,
            "RemoveTagsFromStream": self.remove_tags_from_stream,
            "ListTagsForStream": self.list_tags_for_stream,
        }

    # ------------------------------------------------------------------ helpers
    def arn(self, name: str) -> str:
        return f"arn:aws:kinesis:{self.region}:{self.account_id}:stream/{name}"

    def _not_found(self, name: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Stream {name} under account {self.account_id} not found."
        )

    def _lookup(self, name: str, now: float) -> Stream | None:
        stream = self.streams.get(name)
        if stream is not None and stream.due <= now:
            stream.advance(now)
            if stream.status is DELETED:
                return None
        return stream

    def _stream(self, p: Mapping[str, Any], now: float, *, live: bool = False) -> Stream:
        """The stream named by StreamName and/or StreamARN. ``live``: it must be ACTIVE or
        UPDATING (reads and writes; a stream still CREATING or already DELETING is not found)."""
        name = p.get("StreamName")
        arn = p.get("StreamARN")
        if name is not None:
            name = _name(p, "StreamName")
        if arn is not None:
            if type(arn) is not str:
                raise _invalid("streamARN", arn, "Member must be a string")
            m = _ARN_RE.match(arn)
            if m is None:
                raise _invalid(
                    "streamARN",
                    arn,
                    "Member must satisfy regular expression pattern: "
                    "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
                )
            if name is not None and name != m.group(3):
                raise InvalidArgumentException(
                    f"StreamARN {arn} and StreamName {name} do not name the same stream."
                )
            if m.group(1) != self.region or m.group(2) != self.account_id:
                raise ResourceNotFoundException(
                    f"Stream {m.group(3)} under account {m.group(2)} not found."
                )
            name = m.group(3)
        if name is None:
            raise InvalidArgumentException("Either StreamName or StreamARN must be provided.")
        stream = self._lookup(name, now)
        if stream is None or (live and not stream.readable):
            raise self._not_found(name)
        return stream

    def _must_be_active(self, stream: Stream) -> None:
        if stream.status is not ACTIVE:
            raise ResourceInUseException(
                f"Stream {stream.name} under account {self.account_id} not ACTIVE, "
                f"instead in state {stream.status}"
            )

    def _shard(self, stream: Stream, shard_id: str) -> Shard:
        shard = stream.shards.get(shard_id)
        if shard is None or stream.status is CREATING:
            raise ResourceNotFoundException(
                f"Shard {shard_id} in stream {stream.name} under account {self.account_id} "
                "does not exist"
            )
        return shard

    def _shard_id(self, p: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
        value = _str(p, name, required=required)
        if value is not None and not _SHARD_ID_RE.match(value):
            raise _invalid(_field(name), value, "Member must have length between 1 and 128")
        return value

    def _live_streams(self, now: float) -> list[Stream]:
        return [s for s in [self._lookup(n, now) for n in list(self.streams)] if s is not None]

    def _check_shard_quota(self, more: int, now: float) -> None:
        total = sum(s.open_count for s in self._live_streams(now))
        if total + more > self.options.shard_limit:
            raise LimitExceededException(
                f"This request would exceed the shard limit for the account {self.account_id} "
                f"in {self.region}. Current shard count for the account: {total}. Limit: "
                f"{self.options.shard_limit}. Number of additional shards that would have "
                f"resulted from this request: {more}."
            )

    def _ms(self, now: float) -> int:
        return self.epoch.wall_ms(now)

    def _clock_at(self, when: datetime) -> float:
        return self.epoch.clock_at(when.timestamp())

    def millis_behind(self, shard: Shard, pos: int, now: float) -> int:
        """How far a reader at ``pos`` is behind the tip: 0 when caught up, else the age of the
        oldest record it has not read."""
        arrival = shard.arrival_ms_at(pos)
        if arrival is None:
            return 0
        return max(0, int(self._ms(now) - arrival))

    def child_shards(self, stream: Stream, shard: Shard) -> list[dict[str, Any]]:
        sid = shard.id
        return [
            s.child_view()
            for s in stream.shards.values()
            if s.parent_id == sid or s.adjacent_parent_id == sid
        ]

    def _summary_fields(self, stream: Stream) -> dict[str, Any]:
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

    def _visible_shards(self, stream: Stream) -> list[Shard]:
        # AWS lists no shards until the stream is ACTIVE.
        return [] if stream.status is CREATING else list(stream.shards.values())

    # ------------------------------------------------------------------ streams
    def create_stream(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """A new stream, CREATING until ``create_delay`` has passed, then ACTIVE. PROVISIONED
        takes ShardCount; ON_DEMAND starts with 4 shards (4 MiB/s of writes) as AWS's does."""
        check_known(
            p,
            frozenset(
                {
                    "StreamName",
                    "ShardCount",
                    "StreamModeDetails",
                    "Tags",
                    "MaxRecordSizeInKiB",
                    "WarmThroughputMiBps",
                }
            ),
            "CreateStream",
            ValidationException,
        )
        name = _name(p, "StreamName")
        assert name is not None
        mode = self._mode(p)
        shard_count = _int(p, "ShardCount", 1)
        kib = _int(
            p,
            "MaxRecordSizeInKiB",
            limits.KINESIS_MAX_RECORD_SIZE_KIB_MIN,
            limits.KINESIS_MAX_RECORD_SIZE_KIB_MAX,
        )
        _int(p, "WarmThroughputMiBps", 0)
        tags = self._tags(p.get("Tags"), {}, "tags")
        if mode == ON_DEMAND:
            shard_count = limits.KINESIS_ON_DEMAND_INITIAL_SHARDS
            on_demand = sum(1 for s in self._live_streams(now) if s.mode == ON_DEMAND)
            if on_demand >= self.options.on_demand_stream_limit:
                raise LimitExceededException(
                    f"Account {self.account_id} already has {on_demand} ON_DEMAND streams; the "
                    f"limit is {self.options.on_demand_stream_limit}."
                )
        elif shard_count is None:
            raise InvalidArgumentException("ShardCount is required for a PROVISIONED stream.")
        if self._lookup(name, now) is not None:
            raise ResourceInUseException(
                f"Stream {name} under account {self.account_id} already exists."
            )
        self._check_shard_quota(shard_count, now)
        self._incarnations += 1
        stream = Stream(
            name=name,
            arn=self.arn(name),
            incarnation=self._incarnations,
            mode=mode,
            shard_count=shard_count,
            now=now,
            epoch=self.epoch,
            ready_at=now + self.options.create_delay,
            max_record_kib=kib or limits.KINESIS_MAX_RECORD_SIZE_KIB_DEFAULT,
            tags=tags,
        )
        self.streams[name] = stream
        self.by_incarnation[stream.incarnation] = stream
        return {}

    def _mode(self, p: Mapping[str, Any], *, required: bool = False) -> str:
        details = p.get("StreamModeDetails")
        if details is None:
            if required:
                raise _invalid("streamModeDetails", None, "Member must not be null")
            return PROVISIONED
        if not isinstance(details, Mapping):
            raise _invalid("streamModeDetails", details, "Member must be a structure")
        check_known(details, frozenset({"StreamMode"}), "StreamModeDetails", ValidationException)
        mode = details.get("StreamMode")
        if type(mode) is not str or mode not in (PROVISIONED, ON_DEMAND):
            raise _invalid(
                "streamModeDetails.streamMode",
                mode,
                "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
            )
        return mode

    def delete_stream(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """DELETING for ``delete_delay``, then gone. A stream with registered consumers is only
        deleted with EnforceConsumerDeletion (AWS's ResourceInUseException otherwise)."""
        check_known(
            p, _STREAM_KEYS | {"EnforceConsumerDeletion"}, "DeleteStream", ValidationException
        )
        enforce = p.get("EnforceConsumerDeletion")
        if enforce is None:
            enforce = False
        if type(enforce) is not bool:
            raise _invalid("enforceConsumerDeletion", enforce, "Member must be a boolean")
        stream = self._stream(p, now)
        if stream.status is DELETING:
            raise self._not_found(stream.name)
        if stream.status is CREATING:
            self._must_be_active(stream)
        if stream.consumers and not enforce:
            raise ResourceInUseException(
                f"Stream {stream.name} under account {self.account_id} has registered "
                "consumers; delete them first or set EnforceConsumerDeletion."
            )
        stream.fire("delete")
        # Subscribers wake, find the stream gone and fail with ResourceNotFoundException.
        self.touched.update(stream.shards.values())

        def gone(at: float) -> None:
            stream.fire("deleted")
            if self.streams.get(stream.name) is stream:
                del self.streams[stream.name]
            self.by_incarnation.pop(stream.incarnation, None)

        stream.schedule(now + self.options.delete_delay, gone)
        return {}

    def describe_stream(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            _STREAM_KEYS | {"Limit", "ExclusiveStartShardId"},
            "DescribeStream",
            ValidationException,
        )
        limit = _int(p, "Limit", 1, 10_000) or 100
        after = self._shard_id(p, "ExclusiveStartShardId", required=False)
        stream = self._stream(p, now)
        shards = self._visible_shards(stream)
        if after is not None:
            shards = [s for s in shards if s.id > after]
        desc = self._summary_fields(stream)
        desc["Shards"] = [s.describe() for s in shards[:limit]]
        desc["HasMoreShards"] = len(shards) > limit
        return {"StreamDescription": desc}

    def describe_stream_summary(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, _STREAM_KEYS, "DescribeStreamSummary", ValidationException)
        stream = self._stream(p, now)
        desc = self._summary_fields(stream)
        desc["OpenShardCount"] = 0 if stream.status is CREATING else stream.open_count
        desc["ConsumerCount"] = len(stream.consumers)
        desc["MaxRecordSizeInKiB"] = stream.max_record_kib
        return {"StreamDescriptionSummary": desc}

    def list_streams(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"Limit", "ExclusiveStartStreamName", "NextToken"}),
            "ListStreams",
            ValidationException,
        )
        limit = _int(p, "Limit", 1, 10_000) or 100
        start = _name(p, "ExclusiveStartStreamName", required=False)
        token = _next_token(p)
        if token is not None:
            parts = _untoken(token, 3, ints=(2,))
            if parts is None or parts[0] != "streams":
                raise InvalidArgumentException(f"Invalid NextToken: {token}")
            if now - int(parts[2]) / 1e6 > limits.KINESIS_NEXT_TOKEN_TTL:
                raise ExpiredNextTokenException(f"NextToken has expired: {token}")
            start = parts[1]
        names = sorted(s.name for s in self._live_streams(now))
        if start is not None:
            names = [n for n in names if n > start]
        page = names[:limit]
        out: dict[str, Any] = {
            "StreamNames": page,
            "HasMoreStreams": len(names) > limit,
            "StreamSummaries": [
                {
                    "StreamName": n,
                    "StreamARN": self.streams[n].arn,
                    "StreamStatus": self.streams[n].status,
                    "StreamModeDetails": {"StreamMode": self.streams[n].mode},
                    "StreamCreationTimestamp": self.streams[n].created_ts,
                }
                for n in page
            ],
        }
        if len(names) > limit:
            out["NextToken"] = _token("streams", page[-1], int(now * 1e6))
        return out

    def list_shards(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Shards of a stream, filtered as ShardFilter says, paginated by NextToken (valid for
        300 s, and given without StreamName)."""
        check_known(
            p,
            _STREAM_KEYS
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
        limit = _int(p, "MaxResults", 1, 10_000) or 1000
        token = _next_token(p)
        after = self._shard_id(p, "ExclusiveStartShardId", required=False)
        _timestamp(p, "StreamCreationTimestamp")
        if token is not None:
            if p.get("StreamName") is not None or p.get("ExclusiveStartShardId") is not None:
                raise InvalidArgumentException(
                    "NextToken and StreamName or ExclusiveStartShardId cannot be provided together."
                )
            parts = _untoken(token, 6, ints=(1, 3))
            if parts is None or parts[0] != "shards":
                raise InvalidArgumentException(f"Invalid NextToken: {token}")
            if now - int(parts[3]) / 1e6 > limits.KINESIS_NEXT_TOKEN_TTL:
                raise ExpiredNextTokenException(f"NextToken has expired: {token}")
            stream = self.by_incarnation.get(int(parts[1]))
            if stream is None:
                raise ResourceNotFoundException("The stream this NextToken lists no longer exists.")
            stream.advance(now)
            after = parts[2]
            # The token keeps the first page's filter (its type and argument).
            kind, arg = parts[4], parts[5]
            if kind and kind not in SHARD_FILTER_TYPES:
                raise InvalidArgumentException(f"Invalid NextToken: {token}")
        else:
            stream = self._stream(p, now)
            kind, arg = self._parse_filter(p.get("ShardFilter"))
        shards = self._filter_shards(stream, kind, arg, now)
        if after:
            shards = [s for s in shards if s.id > after]
        page = shards[:limit]
        out: dict[str, Any] = {"Shards": [s.describe() for s in page]}
        if len(shards) > limit:
            out["NextToken"] = _token(
                "shards", stream.incarnation, page[-1].id, int(now * 1e6), kind, arg
            )
        return out

    def _parse_filter(self, spec: Any) -> tuple[str, str]:
        """A ShardFilter as (type, argument): the shard id for AFTER_SHARD_ID, Unix seconds for
        the timestamp types, else ''; ('', '') for none."""
        if spec is None:
            return "", ""
        if not isinstance(spec, Mapping):
            raise _invalid("shardFilter", spec, "Member must be a structure")
        check_known(
            spec, frozenset({"Type", "ShardId", "Timestamp"}), "ShardFilter", ValidationException
        )
        kind = spec.get("Type")
        if type(kind) is not str or kind not in SHARD_FILTER_TYPES:
            raise _invalid(
                "shardFilter.type",
                kind,
                "Member must satisfy enum value set: ["
                + ", ".join(sorted(SHARD_FILTER_TYPES))
                + "]",
            )
        if kind == "AFTER_SHARD_ID":
            sid = self._shard_id(spec, "ShardId", required=False)
            if sid is None:
                raise InvalidArgumentException("ShardFilter AFTER_SHARD_ID requires a ShardId.")
            return kind, sid
        if kind in ("AT_TIMESTAMP", "FROM_TIMESTAMP"):
            when = _timestamp(spec, "Timestamp")
            if when is None:
                raise InvalidArgumentException(f"ShardFilter {kind} requires a Timestamp.")
            return kind, repr(when.timestamp())
        return kind, ""

    def _filter_shards(self, stream: Stream, kind: str, arg: str, now: float) -> list[Shard]:
        shards = self._visible_shards(stream)
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
                t = max(self.epoch.clock_at(float(arg)), stream.created_at)
            except ValueError:
                raise InvalidArgumentException("Invalid NextToken.") from None
        if kind == "FROM_TIMESTAMP":
            return [s for s in shards if s.closed_at is None or s.closed_at > t]
        # AT_TRIM_HORIZON, AT_TIMESTAMP: the shards that were open at time t
        return [s for s in shards if s.created_at <= t and (s.closed_at is None or s.closed_at > t)]

    # ------------------------------------------------------------------ writes
    def _record_size(self, data: bytes, key: str, stream: Stream, i: int | None) -> int:
        size = len(data) + (len(key) if key.isascii() else len(key.encode()))
        if size > stream.max_record_bytes:
            where = "" if i is None else f" at index {i}"
            raise InvalidArgumentException(
                f"Record{where} is {size} bytes (data plus partition key); the limit for stream "
                f"{stream.name} is {stream.max_record_bytes} bytes."
            )
        return size

    def _partition_key(self, value: Any, field: str) -> str:
        if type(value) is not str:
            if value is None:
                raise _invalid(field, None, "Member must not be null")
            raise _invalid(field, value, "Member must be a string")
        if not 1 <= len(value) <= limits.KINESIS_PARTITION_KEY_MAX:
            raise _invalid(field, value, "Member must have length between 1 and 256")
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise _invalid(field, value, "Member must be valid Unicode text") from None
        return value

    def _explicit_hash(self, value: Any, field: str) -> int | None:
        if value is None:
            return None
        if type(value) is not str or not _HASH_RE.match(value):
            raise _invalid(
                field, value, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"
            )
        h = int(value)
        if h > HASH_MAX:
            raise InvalidArgumentException(
                f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, {HASH_MAX}]. "
                f"Specified value was {value}"
            )
        return h

    def _seq(self, value: Any, field: str) -> int:
        """A sequence number as a client passes it: a decimal string."""
        if type(value) is not str or not _SEQ_RE.match(value):
            raise _invalid(
                field, value, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})"
            )
        return int(value)

    def _throttled(self, stream: Stream, shard: Shard) -> str:
        return (
            f"Rate exceeded for shard {shard.id} in stream {stream.name} under account "
            f"{self.account_id}."
        )

    def put_record(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """One record to the shard owning MD5(PartitionKey) (or ExplicitHashKey). With
        SequenceNumberForOrdering the new record's sequence number is greater than it."""
        if not p.keys() <= _PUT_RECORD_KEYS:
            check_known(p, _PUT_RECORD_KEYS, "PutRecord", ValidationException)
        data = _data(p.get("Data"), "data")
        key = self._partition_key(p.get("PartitionKey"), "partitionKey")
        explicit = self._explicit_hash(p.get("ExplicitHashKey"), "explicitHashKey")
        ordering = p.get("SequenceNumberForOrdering")
        if ordering is not None:
            raw = ordering
            ordering = self._seq(ordering, "sequenceNumberForOrdering")
        stream = self._stream(p, now, live=True)
        # A number beyond any this stream has minted cannot be an earlier record's; refusing it
        # keeps every number a later put may be asked to exceed within reach.
        if ordering is not None and ordering > max(s.last_seq for s in stream.shards.values()):
            raise InvalidArgumentException(
                f"SequenceNumberForOrdering {raw} is not a sequence number of stream "
                f"{stream.name} under account {self.account_id}."
            )
        size = self._record_size(data, key, stream, None)
        shard = stream.route(hash_key(key) if explicit is None else explicit)
        shard.trim(now - stream.retention)
        if self.options.enforce_throughput and not shard.admit_write(size, now):
            raise ProvisionedThroughputExceededException(self._throttled(stream, shard))
        ms = self._ms(now)
        seq = shard.next_seq(ms, ordering)
        shard.records.append(
            {
                "SequenceNumber": seq,
                "ApproximateArrivalTimestamp": utc_from_ms(ms),
                "Data": data,
                "PartitionKey": key,
            }
        )
        cum = shard.cum
        cum.append(cum[-1] + size)
        shard.note_batch(now)
        if shard.subscribers:
            self.touched.add(shard)
        return {"ShardId": shard.id, "SequenceNumber": seq, "EncryptionType": "NONE"}

    def put_records(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Up to 500 records (5 MiB in all). Each succeeds or fails on its own: a shard over its
        write budget fails just the records sent to it, with ErrorCode
        ProvisionedThroughputExceededException; the result list lines up with the request."""
        if not p.keys() <= _PUT_RECORDS_KEYS:
            check_known(p, _PUT_RECORDS_KEYS, "PutRecords", ValidationException)
        entries = p.get("Records")
        if type(entries) is not list:
            if entries is None:
                raise _invalid("records", None, "Member must not be null")
            if isinstance(entries, (str, bytes, Mapping)) or not hasattr(entries, "__iter__"):
                raise _invalid("records", entries, "Member must be a list")
            # Any iterable, but never more than one past the limit (it may be endless).
            entries = list(islice(entries, limits.KINESIS_PUT_RECORDS_MAX_RECORDS + 1))
        n = len(entries)
        if not 1 <= n <= limits.KINESIS_PUT_RECORDS_MAX_RECORDS:
            raise _invalid(
                "records",
                f"{n} records",
                "Member must have length less than or equal to 500"
                if n
                else "Member must have length greater than or equal to 1",
            )
        stream = self._stream(p, now, live=True)
        # Check every record before any is written: a bad one rejects the whole request.
        checked: list[tuple[bytes, str, int, int]] = []
        total = 0
        max_bytes = stream.max_record_bytes
        keys_ok = _RECORD_KEYS.issuperset
        for i, e in enumerate(entries):
            if type(e) is not dict and not isinstance(e, Mapping):
                raise _invalid(f"records.{i + 1}.member", e, "Member must be a structure")
            if not keys_ok(e):
                check_known(e, _RECORD_KEYS, "PutRecordsRequestEntry", ValidationException)
            data = e.get("Data")
            if type(data) is not bytes:
                data = _data(data, f"records.{i + 1}.member.data")
            key = e.get("PartitionKey")
            if type(key) is str and 0 < len(key) <= 256 and key.isascii():
                size = len(data) + len(key)
            else:
                key = self._partition_key(key, f"records.{i + 1}.member.partitionKey")
                size = len(data) + len(key.encode())
            if size > max_bytes:
                self._record_size(data, key, stream, i)
            total += size
            explicit = e.get("ExplicitHashKey")
            if explicit is None:
                h = hash_key(key)
            else:
                h = self._explicit_hash(explicit, f"records.{i + 1}.member.explicitHashKey")
            checked.append((data, key, size, h))  # type: ignore[arg-type]
        request_max = (
            limits.KINESIS_PUT_RECORDS_MAX_BYTES
            if stream.max_record_kib <= limits.KINESIS_MAX_RECORD_SIZE_KIB_DEFAULT
            else 2 * limits.KINESIS_PUT_RECORDS_MAX_BYTES
        )
        if total > request_max:
            raise InvalidArgumentException(
                f"Records total {total} bytes; a PutRecords request may carry at most "
                f"{request_max} bytes."
            )
        ms = self._ms(now)
        arrival = utc_from_ms(ms)
        enforce = self.options.enforce_throughput
        cutoff = now - stream.retention
        open_ = stream.open
        starts = [sh.start_key for sh in open_]
        single = open_[0] if len(open_) == 1 else None
        results: list[dict[str, Any]] = []
        append = results.append
        failed = 0
        # Per shard written: [sequence-number base for this instant, counter, records.append,
        # cum, shard id]. Minting inline (base + counter) is what makes a batch cheap.
        batches: dict[Shard, list[Any]] = {}
        for data, key, size, h in checked:
            shard = single or open_[bisect_right(starts, h) - 1]
            b = batches.get(shard)
            if b is None:
                shard.trim(cutoff)
                b = batches[shard] = [
                    shard.mint_base(ms),
                    shard.counter,
                    shard.records.append,
                    shard.cum,
                    shard.id,
                ]
            if enforce and not shard.admit_write(size, now):
                failed += 1
                append(
                    {
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": self._throttled(stream, shard),
                    }
                )
                continue
            c = b[1] = b[1] + 1
            seq = str(b[0] + c)
            b[2](
                {
                    "SequenceNumber": seq,
                    "ApproximateArrivalTimestamp": arrival,
                    "Data": data,
                    "PartitionKey": key,
                }
            )
            cum = b[3]
            cum.append(cum[-1] + size)
            append({"SequenceNumber": seq, "ShardId": b[4]})
        for shard, b in batches.items():
            shard.end_batch(b[0], b[1], now)
            if shard.subscribers:
                self.touched.add(shard)
        return {"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}

    # ------------------------------------------------------------------ reads
    def _position(
        self,
        stream: Stream,
        shard: Shard,
        kind: Any,
        seq_value: Any,
        when_value: Any,
        field: str,
        seq_field: str,
    ) -> int:
        """The position an iterator (or a subscription) of ``kind`` starts at: O(log n)."""
        if type(kind) is not str or kind not in ITERATOR_TYPES:
            raise _invalid(
                field,
                kind,
                "Member must satisfy enum value set: [" + ", ".join(sorted(ITERATOR_TYPES)) + "]",
            )
        if kind == "TRIM_HORIZON":
            return shard.start_pos
        if kind == "LATEST":
            return shard.end_pos
        if kind == "AT_TIMESTAMP":
            when = _timestamp({"Timestamp": when_value}, "Timestamp")
            if when is None:
                raise InvalidArgumentException(
                    "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                    "Current request has no timestamp parameter."
                )
            return shard.pos_at_time(when)
        if seq_value is None:
            raise InvalidArgumentException(f"Must specify {seq_field} for iterator of type {kind}.")
        seq = self._seq(seq_value, _field(seq_field))
        if not SEQ_BASE <= seq < SEQ_MAX:
            raise InvalidArgumentException(
                f"{seq_field} {seq_value} used in GetShardIterator on shard {shard.id} in stream "
                f"{stream.name} under account {self.account_id} is invalid."
            )
        if seq_shard_index(seq) != shard.index:
            raise InvalidArgumentException(
                f"Invalid {seq_field}. It encodes shardId-{seq_shard_index(seq):012d}, while it "
                f"was used in a call to a shard with {shard.id}"
            )
        return shard.pos_at_seq(str(seq), kind == "AFTER_SEQUENCE_NUMBER")

    def get_shard_iterator(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """An iterator at TRIM_HORIZON, LATEST, AT/AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP; it
        expires 5 minutes after it is issued."""
        check_known(
            p,
            _STREAM_KEYS | {"ShardId", "ShardIteratorType", "StartingSequenceNumber", "Timestamp"},
            "GetShardIterator",
            ValidationException,
        )
        sid = self._shard_id(p, "ShardId")
        kind = p.get("ShardIteratorType")
        if kind is None:
            raise _invalid("shardIteratorType", None, "Member must not be null")
        stream = self._stream(p, now, live=True)
        shard = self._shard(stream, sid)  # type: ignore[arg-type]
        shard.trim(now - stream.retention)
        pos = self._position(
            stream,
            shard,
            kind,
            p.get("StartingSequenceNumber"),
            p.get("Timestamp"),
            "shardIteratorType",
            "StartingSequenceNumber",
        )
        return {"ShardIterator": self._iterator(stream, shard, pos, now)}

    def _iterator(self, stream: Stream, shard: Shard, pos: int, now: float) -> str:
        return _token("it", stream.incarnation, shard.index, pos, int(now * 1e6))

    def get_records(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Up to Limit (10,000) records and 10 MiB from the iterator's position, a
        NextShardIterator (none once a closed shard is read to its end, which also returns
        ChildShards) and MillisBehindLatest. O(log n + k) for k records."""
        check_known(
            p, frozenset({"ShardIterator", "Limit", "StreamARN"}), "GetRecords", ValidationException
        )
        token = _str(p, "ShardIterator")
        assert token is not None
        if not 1 <= len(token) <= _TOKEN_MAX_LEN:
            raise _invalid("shardIterator", token, "Member must have length between 1 and 512")
        limit = _int(p, "Limit", 1, limits.KINESIS_GET_RECORDS_LIMIT_MAX) or (
            limits.KINESIS_GET_RECORDS_LIMIT_MAX
        )
        parts = _untoken(token, 5, ints=(1, 2, 3, 4))
        if parts is None or parts[0] != "it":
            raise InvalidArgumentException(f"Invalid ShardIterator: {token}")
        _, inc, index, pos_s, issued_s = parts
        issued = int(issued_s) / 1e6
        stream = self.by_incarnation.get(int(inc))
        if stream is not None:
            stream.advance(now)
        if stream is None or not stream.readable:
            raise ResourceNotFoundException(
                "The stream this shard iterator belongs to no longer exists."
            )
        arn = p.get("StreamARN")
        if arn is not None and type(arn) is not str:
            raise _invalid("streamARN", arn, "Member must be a string")
        if arn is not None and arn != stream.arn:
            raise InvalidArgumentException(
                f"ShardIterator belongs to {stream.arn}, not to StreamARN {arn}."
            )
        if now - issued > limits.KINESIS_ITERATOR_TTL:
            raise ExpiredIteratorException(
                f"Iterator expired. The iterator was created at time "
                f"{self._ms(issued)} while right now it is {self._ms(now)} which is further "
                f"in the future than the tolerated delay of "
                f"{limits.KINESIS_ITERATOR_TTL * 1000} milliseconds."
            )
        shard = stream.by_index.get(int(index))
        if shard is None:
            raise ResourceNotFoundException(
                f"Shard shardId-{int(index):012d} in stream {stream.name} under account "
                f"{self.account_id} does not exist"
            )
        if self.options.enforce_throughput and not shard.admit_read(now):
            raise ProvisionedThroughputExceededException(self._throttled(stream, shard))
        shard.trim(now - stream.retention)
        records, pos, nbytes = shard.read(int(pos_s), limit, limits.KINESIS_GET_RECORDS_MAX_BYTES)
        if nbytes:
            shard.charge_read(nbytes)
        out: dict[str, Any] = {"Records": records}
        if not shard.is_open and pos >= shard.end_pos:
            out["MillisBehindLatest"] = 0
            out["ChildShards"] = self.child_shards(stream, shard)
        else:
            out["NextShardIterator"] = self._iterator(stream, shard, pos, now)
            out["MillisBehindLatest"] = self.millis_behind(shard, pos, now)
        return out

    # ------------------------------------------------------------------ Lambda event source mappings
    # A mapping reads a shard by position, not by iterator: its reader may wait for hours, and an
    # iterator would expire after 5 minutes. Reads still take the shard's read budget.
    def stream_by_arn(self, arn: str, now: float) -> Stream | None:
        m = _ARN_RE.match(arn)
        if m is None or m.group(1) != self.region or m.group(2) != self.account_id:
            return None
        stream = self._lookup(m.group(3), now)
        return stream if stream is not None and stream.readable else None

    def shards_of(self, stream: Stream, now: float) -> list[Shard]:
        """The stream's shards still within retention, parents before children."""
        for shard in stream.shards.values():
            shard.trim(now - stream.retention)
        return sorted(stream.shards.values(), key=lambda s: s.index)

    def shard_known(self, stream: Stream, shard_id: str, now: float) -> bool:
        return shard_id in stream.shards

    def start_position(
        self, stream: Stream, shard: Shard, kind: str, timestamp: float | None, now: float
    ) -> int:
        """Where a mapping starts reading a shard: TRIM_HORIZON, LATEST or AT_TIMESTAMP (Unix
        seconds)."""
        shard.trim(now - stream.retention)
        if kind == "TRIM_HORIZON":
            return shard.start_pos
        if kind == "AT_TIMESTAMP" and timestamp is not None:
            return shard.pos_at_time(datetime.fromtimestamp(timestamp, tz=UTC))
        return shard.end_pos

    def read_for_mapping(
        self, stream: Stream, shard: Shard, pos: int, now: float, limit: int = 10_000
    ) -> dict[str, Any]:
        """GetRecords by position: Records, Next (None at the end of a closed shard) and
        MillisBehindLatest. Raises ProvisionedThroughputExceededException like GetRecords."""
        if self.options.enforce_throughput and not shard.admit_read(now):
            raise ProvisionedThroughputExceededException(self._throttled(stream, shard))
        shard.trim(now - stream.retention)
        pos = max(pos, shard.start_pos)
        records, pos, nbytes = shard.read(pos, limit, limits.KINESIS_GET_RECORDS_MAX_BYTES)
        if nbytes:
            shard.charge_read(nbytes)
        if not shard.is_open and pos >= shard.end_pos:
            return {"Records": records, "Next": None, "MillisBehindLatest": 0}
        return {
            "Records": records,
            "Next": pos,
            "MillisBehindLatest": self.millis_behind(shard, pos, now),
        }

    # ------------------------------------------------------------------ resharding
    def _reshardable(self, stream: Stream, op: str) -> None:
        self._must_be_active(stream)
        if stream.mode == ON_DEMAND:
            raise ValidationException(
                f"{op} is not supported for stream {stream.name} under account "
                f"{self.account_id} because it is in ON_DEMAND mode."
            )

    def _update(self, stream: Stream, now: float, change: Callable[[float], None]) -> None:
        """UPDATING now; ``change`` happens when the stream turns ACTIVE again."""
        stream.fire("update")

        def done(at: float) -> None:
            if stream.status is UPDATING:
                change(at)
                stream.fire("updated")
                self.touched.update(stream.shards.values())

        stream.schedule(now + self.options.update_delay, done)

    def split_shard(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Close ShardToSplit and give its range to two children split at NewStartingHashKey."""
        check_known(
            p,
            _STREAM_KEYS | {"ShardToSplit", "NewStartingHashKey"},
            "SplitShard",
            ValidationException,
        )
        sid = self._shard_id(p, "ShardToSplit")
        raw = _str(p, "NewStartingHashKey")
        new_start = self._explicit_hash(raw, "newStartingHashKey")
        stream = self._stream(p, now)
        self._reshardable(stream, "SplitShard")
        shard = self._shard(stream, sid)  # type: ignore[arg-type]
        if not shard.is_open:
            raise InvalidArgumentException(
                f"Shard {shard.id} in stream {stream.name} under account {self.account_id} has "
                "already been merged or split, and thus is not eligible for splitting."
            )
        assert new_start is not None
        if not shard.start_key < new_start <= shard.end_key:
            raise InvalidArgumentException(
                f"NewStartingHashKey {raw} used in SplitShard() on shard {shard.id} in stream "
                f"{stream.name} under account {self.account_id} is not both greater than one "
                f"plus the shard's StartingHashKey {shard.start_key} and less than the shard's "
                f"EndingHashKey {shard.end_key}."
            )
        self._check_shard_quota(1, now)
        self._update(stream, now, lambda at: stream.split(shard, new_start, at))
        return {}

    def merge_shards(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Close two adjacent open shards and give their union to one child."""
        check_known(
            p,
            _STREAM_KEYS | {"ShardToMerge", "AdjacentShardToMerge"},
            "MergeShards",
            ValidationException,
        )
        sid = self._shard_id(p, "ShardToMerge")
        aid = self._shard_id(p, "AdjacentShardToMerge")
        stream = self._stream(p, now)
        self._reshardable(stream, "MergeShards")
        shard = self._shard(stream, sid)  # type: ignore[arg-type]
        adjacent = self._shard(stream, aid)  # type: ignore[arg-type]
        for s in (shard, adjacent):
            if not s.is_open:
                raise InvalidArgumentException(
                    f"Shard {s.id} in stream {stream.name} under account {self.account_id} has "
                    "already been merged or split, and thus is not eligible for merging."
                )
        if not (shard.end_key + 1 == adjacent.start_key or adjacent.end_key + 1 == shard.start_key):
            raise InvalidArgumentException(
                f"Shards {shard.id} and {adjacent.id} in stream {stream.name} under account "
                f"{self.account_id} are not an adjacent pair of shards eligible for merging."
            )
        self._update(stream, now, lambda at: stream.merge(shard, adjacent, at))
        return {}

    def update_shard_count(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Reshard uniformly to TargetShardCount (UNIFORM_SCALING): at most double, at least half
        the open shards, at most 10 times in a rolling 24 hours."""
        check_known(
            p,
            _STREAM_KEYS | {"TargetShardCount", "ScalingType"},
            "UpdateShardCount",
            ValidationException,
        )
        target = _int(p, "TargetShardCount", 1, limits.KINESIS_SHARDS_PER_STREAM_MAX, required=True)
        scaling = p.get("ScalingType")
        if scaling != "UNIFORM_SCALING":
            raise _invalid(
                "scalingType", scaling, "Member must satisfy enum value set: [UNIFORM_SCALING]"
            )
        stream = self._stream(p, now)
        self._reshardable(stream, "UpdateShardCount")
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
                f"Stream {stream.name} under account {self.account_id} has already been "
                f"rescaled {len(window)} times in the last 24 hours."
            )
        if target > current:
            self._check_shard_quota(target - current, now)
        window.append(now)
        self._update(stream, now, lambda at: stream.rescale(target, at))
        return {
            "StreamName": stream.name,
            "CurrentShardCount": current,
            "TargetShardCount": target,
            "StreamARN": stream.arn,
        }

    def _retention(self, p: Mapping[str, Any], now: float, op: str) -> tuple[Stream, int]:
        check_known(p, _STREAM_KEYS | {"RetentionPeriodHours"}, op, ValidationException)
        hours = _int(p, "RetentionPeriodHours", 1, 8_760, required=True)
        assert hours is not None
        stream = self._stream(p, now)
        self._must_be_active(stream)
        if hours < limits.KINESIS_RETENTION_HOURS_MIN:
            raise InvalidArgumentException(
                f"Minimum allowed retention period is {limits.KINESIS_RETENTION_HOURS_MIN} "
                f"hours. Requested retention period (in hours): {hours}"
            )
        return stream, hours

    def increase_stream_retention_period(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Longer retention (up to 8,760 h). Records already past the old period stay gone."""
        stream, hours = self._retention(p, now, "IncreaseStreamRetentionPeriod")
        if hours < stream.retention_hours:
            raise InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not be "
                f"shorter than existing retention period ({stream.retention_hours} hours). Use "
                "DecreaseRetentionPeriod API."
            )
        stream.set_retention(hours, now)
        return {}

    def decrease_stream_retention_period(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Shorter retention (down to 24 h); older records become inaccessible at once."""
        stream, hours = self._retention(p, now, "DecreaseStreamRetentionPeriod")
        if hours > stream.retention_hours:
            raise InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not be "
                f"longer than existing retention period ({stream.retention_hours} hours). Use "
                "IncreaseRetentionPeriod API."
            )
        stream.set_retention(hours, now)
        stream.trim_all(now)
        return {}

    def update_stream_mode(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Switch between PROVISIONED and ON_DEMAND (StreamARN only; twice per 24 hours)."""
        check_known(
            p,
            frozenset({"StreamARN", "StreamModeDetails", "WarmThroughputMiBps"}),
            "UpdateStreamMode",
            ValidationException,
        )
        if p.get("StreamARN") is None:
            raise _invalid("streamARN", None, "Member must not be null")
        mode = self._mode(p, required=True)
        stream = self._stream({"StreamARN": p["StreamARN"]}, now)
        self._must_be_active(stream)
        if mode == stream.mode:
            raise InvalidArgumentException(
                f"Stream {stream.name} under account {self.account_id} is already in {mode} mode."
            )
        window = stream.mode_switches
        while window and window[0] <= now - 86_400:
            window.popleft()
        if len(window) >= limits.KINESIS_STREAM_MODE_SWITCHES_PER_DAY:
            raise LimitExceededException(
                f"Stream {stream.name} under account {self.account_id} has already switched "
                f"capacity mode {len(window)} times in the last 24 hours."
            )
        window.append(now)

        def switch(at: float) -> None:
            stream.mode = mode

        self._update(stream, now, switch)
        return {}

    # ------------------------------------------------------------------ consumers
    def _consumer_name(self, p: Mapping[str, Any], required: bool) -> str | None:
        value = _str(p, "ConsumerName", required=required)
        if value is not None and not _NAME_RE.match(value):
            raise _invalid(
                "consumerName",
                value,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            )
        return value

    def _consumer(self, p: Mapping[str, Any], now: float) -> tuple[Stream, Consumer]:
        """The consumer named by ConsumerARN, or by StreamARN and ConsumerName."""
        carn = _str(p, "ConsumerARN", required=False)
        name = self._consumer_name(p, required=False)
        if carn is not None:
            m = _CONSUMER_ARN_RE.match(carn)
            if m is None:
                raise _invalid(
                    "consumerARN",
                    carn,
                    "Member must satisfy regular expression pattern: "
                    "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/"
                    "[a-zA-Z0-9_.-]+:[0-9]+",
                )
            stream = self._stream({"StreamARN": m.group(1)}, now)
            consumer = stream.consumers.get(m.group(2))
            if consumer is None or consumer.arn != carn:
                raise ResourceNotFoundException(f"Consumer {carn} not found.")
            return stream, consumer
        if p.get("StreamARN") is None or name is None:
            raise InvalidArgumentException(
                "Either ConsumerARN, or both StreamARN and ConsumerName, must be provided."
            )
        stream = self._stream({"StreamARN": p["StreamARN"]}, now)
        consumer = stream.consumers.get(name)
        if consumer is None:
            raise ResourceNotFoundException(f"Consumer {name} under stream {stream.arn} not found.")
        return stream, consumer

    def register_stream_consumer(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """An enhanced fan-out consumer: CREATING for ``consumer_delay``, then ACTIVE; at most 20
        per stream."""
        check_known(
            p,
            frozenset({"StreamARN", "ConsumerName", "Tags"}),
            "RegisterStreamConsumer",
            ValidationException,
        )
        if p.get("StreamARN") is None:
            raise _invalid("streamARN", None, "Member must not be null")
        name = self._consumer_name(p, required=True)
        assert name is not None
        self._tags(p.get("Tags"), {}, "tags")
        stream = self._stream({"StreamARN": p["StreamARN"]}, now)
        if not stream.readable:
            self._must_be_active(stream)
        if name in stream.consumers:
            raise ResourceInUseException(
                f"Consumer {name} under stream {stream.arn} already exists."
            )
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
        consumer = Consumer(name, stream.arn, utc_from_ms(self._ms(now) // 1000 * 1000))
        stream.consumers[name] = consumer

        def ready(at: float) -> None:
            if consumer.status is CREATING:
                consumer.fire("created")

        stream.schedule(now + self.options.consumer_delay, ready)
        return {"Consumer": consumer.describe()}

    def deregister_stream_consumer(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"StreamARN", "ConsumerName", "ConsumerARN"}),
            "DeregisterStreamConsumer",
            ValidationException,
        )
        stream, consumer = self._consumer(p, now)
        if consumer.status is DELETING:
            raise ResourceInUseException(f"Consumer {consumer.arn} is already being deleted.")
        consumer.fire("delete")
        for _, feed in consumer.subscriptions.values():
            if not feed.done:
                self.touched.add(feed.key)

        def gone(at: float) -> None:
            consumer.fire("deleted")
            if stream.consumers.get(consumer.name) is consumer:
                del stream.consumers[consumer.name]

        stream.schedule(now + self.options.consumer_delay, gone)
        return {}

    def list_stream_consumers(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"StreamARN", "NextToken", "MaxResults", "StreamCreationTimestamp"}),
            "ListStreamConsumers",
            ValidationException,
        )
        if p.get("StreamARN") is None:
            raise _invalid("streamARN", None, "Member must not be null")
        limit = _int(p, "MaxResults", 1, 10_000) or 100
        token = _next_token(p)
        _timestamp(p, "StreamCreationTimestamp")
        stream = self._stream({"StreamARN": p["StreamARN"]}, now)
        after = ""
        if token is not None:
            parts = _untoken(token, 4, ints=(1, 3))
            if parts is None or parts[0] != "consumers" or parts[1] != str(stream.incarnation):
                raise InvalidArgumentException(f"Invalid NextToken: {token}")
            if now - int(parts[3]) / 1e6 > limits.KINESIS_NEXT_TOKEN_TTL:
                raise ExpiredNextTokenException(f"NextToken has expired: {token}")
            after = parts[2]
        names = sorted(n for n in stream.consumers if n > after)
        page = names[:limit]
        out: dict[str, Any] = {"Consumers": [stream.consumers[n].describe() for n in page]}
        if len(names) > limit:
            out["NextToken"] = _token("consumers", stream.incarnation, page[-1], int(now * 1e6))
        return out

    def describe_stream_consumer(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"StreamARN", "ConsumerName", "ConsumerARN"}),
            "DescribeStreamConsumer",
            ValidationException,
        )
        stream, consumer = self._consumer(p, now)
        desc = consumer.describe()
        desc["StreamARN"] = stream.arn
        return {"ConsumerDescription": desc}

    def subscribe_to_shard(self, p: Mapping[str, Any], now: float) -> Subscribe:
        """Push a shard's records to an ACTIVE consumer for 5 minutes (see
        :mod:`msgsim.broker.kinesis.fanout`). The same consumer and shard again within 5 s is refused
        with ResourceInUseException; later, the new subscription takes over."""
        check_known(
            p,
            frozenset({"ConsumerARN", "ShardId", "StartingPosition"}),
            "SubscribeToShard",
            ValidationException,
        )
        if p.get("ConsumerARN") is None:
            raise _invalid("consumerARN", None, "Member must not be null")
        sid = self._shard_id(p, "ShardId")
        start = p.get("StartingPosition")
        if start is None:
            raise _invalid("startingPosition", None, "Member must not be null")
        if not isinstance(start, Mapping):
            raise _invalid("startingPosition", start, "Member must be a structure")
        check_known(
            start,
            frozenset({"Type", "SequenceNumber", "Timestamp"}),
            "StartingPosition",
            ValidationException,
        )
        stream, consumer = self._consumer({"ConsumerARN": p["ConsumerARN"]}, now)
        if consumer.status is not ACTIVE:
            raise ResourceInUseException(
                f"Consumer {consumer.arn} is not ACTIVE, instead in state {consumer.status}."
            )
        if not stream.readable:
            raise self._not_found(stream.name)
        shard = self._shard(stream, sid)  # type: ignore[arg-type]
        shard.trim(now - stream.retention)
        pos = self._position(
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
                self.touched.add(old.key)
        feed = ShardFeed(self, stream, consumer, shard, pos, now)
        consumer.subscriptions[shard.id] = (now, feed)
        return Subscribe(feed)

    # ------------------------------------------------------------------ tags
    def _tags(self, value: Any, existing: dict[str, str], field: str) -> dict[str, str]:
        """Validated tags merged over ``existing`` (a new dict); at most 50 per stream."""
        if value is None:
            return dict(existing)
        if not isinstance(value, Mapping):
            raise _invalid(field, value, "Member must be a map of tag keys to values")
        merged = dict(existing)
        for k, v in value.items():
            if type(k) is not str or not 1 <= len(k) <= limits.KINESIS_TAG_KEY_MAX:
                raise _invalid(f"{field}.key", k, "Member must have length between 1 and 128")
            if type(v) is not str or len(v) > limits.KINESIS_TAG_VALUE_MAX:
                raise _invalid(f"{field}.value", v, "Member must have length between 0 and 256")
            if k.startswith("aws:"):
                raise InvalidArgumentException(f"Tag key {k} uses the reserved prefix aws:.")
            merged[k] = v
        if len(merged) > limits.KINESIS_TAGS_PER_STREAM:
            raise LimitExceededException(
                f"A stream may have at most {limits.KINESIS_TAGS_PER_STREAM} tags; this request "
                f"would leave {len(merged)}."
            )
        return merged

    def add_tags_to_stream(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, _STREAM_KEYS | {"Tags"}, "AddTagsToStream", ValidationException)
        tags = p.get("Tags")
        if tags is None:
            raise _invalid("tags", None, "Member must not be null")
        if isinstance(tags, Mapping) and not 1 <= len(tags) <= limits.KINESIS_TAGS_PER_CALL:
            raise _invalid("tags", f"{len(tags)} tags", "Member must have length between 1 and 10")
        stream = self._stream(p, now)
        stream.tags = self._tags(tags, stream.tags, "tags")
        return {}

    def remove_tags_from_stream(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, _STREAM_KEYS | {"TagKeys"}, "RemoveTagsFromStream", ValidationException)
        keys = p.get("TagKeys")
        if keys is None:
            raise _invalid("tagKeys", None, "Member must not be null")
        if not isinstance(keys, (list, tuple)) or not all(type(k) is str for k in keys):
            raise _invalid("tagKeys", keys, "Member must be a list of strings")
        if not 1 <= len(keys) <= limits.KINESIS_TAGS_PER_CALL:
            raise _invalid(
                "tagKeys", f"{len(keys)} keys", "Member must have length between 1 and 10"
            )
        stream = self._stream(p, now)
        for k in keys:
            stream.tags.pop(k, None)
        return {}

    def list_tags_for_stream(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            _STREAM_KEYS | {"ExclusiveStartTagKey", "Limit"},
            "ListTagsForStream",
            ValidationException,
        )
        limit = _int(p, "Limit", 1, 50) or 50
        after = _str(p, "ExclusiveStartTagKey", required=False)
        stream = self._stream(p, now)
        keys = sorted(k for k in stream.tags if after is None or k > after)
        return {
            "Tags": [{"Key": k, "Value": stream.tags[k]} for k in keys[:limit]],
            "HasMoreTags": len(keys) > limit,
        }


_PUT_RECORD_KEYS = _STREAM_KEYS | {
    "Data",
    "PartitionKey",
    "ExplicitHashKey",
    "SequenceNumberForOrdering",
}
_PUT_RECORDS_KEYS = _STREAM_KEYS | {"Records"}
