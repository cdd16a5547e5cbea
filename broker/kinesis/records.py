"""Kinesis operations on records: PutRecord, PutRecords, GetShardIterator and GetRecords.

These are the hot paths, so they stay flat: each is one function ``(account, params, now)``
that validates the whole request, then writes or reads a :class:`~.shard.Shard` directly
(PutRecords mints a batch's sequence numbers inline). A put routes by MD5 of the partition key
(or ExplicitHashKey) to the open shard owning that hash key; with throughput enforced, a shard
over its write budget refuses the record (PutRecord: ProvisionedThroughputExceededException;
PutRecords: just the records sent to that shard fail, in place in the result list).

Reads go through self-contained shard iterators (:mod:`.tokens`): a GetRecords costs O(log n + k)
for k records, returns at most 10,000 records and 10 MiB, and at the end of a closed shard
returns ChildShards instead of a NextShardIterator.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from itertools import islice
from typing import Any

from .. import limits
from ..errors import (
    ExpiredIteratorException,
    InvalidArgumentException,
    ProvisionedThroughputExceededException,
    ResourceNotFoundException,
    ValidationException,
)
from ..params import check_known
from .shard import SEQ_BASE, SEQ_MAX, Shard, seq_shard_index
from .state import KinesisState
from .stream import Stream, hash_key, utc_from_ms
from .tokens import ITERATOR_MAX_LEN, make_token, read_token
from .validate import (
    STREAM_KEYS,
    blob,
    explicit_hash,
    field_name,
    integer,
    invalid,
    partition_key,
    sequence_number,
    shard_id_member,
    string,
    timestamp,
)

ITERATOR_TYPES = frozenset(
    {"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP", "TRIM_HORIZON", "LATEST"}
)
_RECORD_KEYS = frozenset({"Data", "PartitionKey", "ExplicitHashKey"})
_PUT_RECORD_KEYS = STREAM_KEYS | {
    "Data",
    "PartitionKey",
    "ExplicitHashKey",
    "SequenceNumberForOrdering",
}
_PUT_RECORDS_KEYS = STREAM_KEYS | {"Records"}


# ---------------------------------------------------------------------- writes
def _record_size(data: bytes, key: str, stream: Stream, i: int | None) -> int:
    size = len(data) + (len(key) if key.isascii() else len(key.encode()))
    if size > stream.max_record_bytes:
        where = "" if i is None else f" at index {i}"
        raise InvalidArgumentException(
            f"Record{where} is {size} bytes (data plus partition key); the limit for stream "
            f"{stream.name} is {stream.max_record_bytes} bytes."
        )
    return size


def put_record(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """One record to the shard owning MD5(PartitionKey) (or ExplicitHashKey). With
    SequenceNumberForOrdering the new record's sequence number is greater than it."""
    if not p.keys() <= _PUT_RECORD_KEYS:
        check_known(p, _PUT_RECORD_KEYS, "PutRecord", ValidationException)
    data = blob(p.get("Data"), "data")
    key = partition_key(p.get("PartitionKey"), "partitionKey")
    explicit = explicit_hash(p.get("ExplicitHashKey"), "explicitHashKey")
    ordering = p.get("SequenceNumberForOrdering")
    if ordering is not None:
        raw = ordering
        ordering = sequence_number(ordering, "sequenceNumberForOrdering")
    stream = kinesis.stream(p, now, live=True)
    # A number beyond any this stream has minted cannot be an earlier record's; refusing it
    # keeps every number a later put may be asked to exceed within reach.
    if ordering is not None and ordering > max(s.last_seq for s in stream.shards.values()):
        raise InvalidArgumentException(
            f"SequenceNumberForOrdering {raw} is not a sequence number of stream "
            f"{stream.name} under account {kinesis.account_id}."
        )
    size = _record_size(data, key, stream, None)
    shard = stream.route(hash_key(key) if explicit is None else explicit)
    shard.trim(now - stream.retention)
    if kinesis.options.enforce_throughput and not shard.admit_write(size, now):
        raise ProvisionedThroughputExceededException(kinesis.throttle_message(stream, shard))
    ms = kinesis.ms(now)
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
        kinesis.touched.add(shard)
    return {"ShardId": shard.id, "SequenceNumber": seq, "EncryptionType": "NONE"}


def put_records(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Up to 500 records (5 MiB in all). Each succeeds or fails on its own: a shard over its
    write budget fails just the records sent to it, with ErrorCode
    ProvisionedThroughputExceededException; the result list lines up with the request."""
    if not p.keys() <= _PUT_RECORDS_KEYS:
        check_known(p, _PUT_RECORDS_KEYS, "PutRecords", ValidationException)
    entries = p.get("Records")
    if type(entries) is not list:
        if entries is None:
            raise invalid("records", None, "Member must not be null")
        if isinstance(entries, (str, bytes, Mapping)) or not hasattr(entries, "__iter__"):
            raise invalid("records", entries, "Member must be a list")
        # Any iterable, but never more than one past the limit (it may be endless).
        entries = list(islice(entries, limits.KINESIS_PUT_RECORDS_MAX_RECORDS + 1))
    n = len(entries)
    if not 1 <= n <= limits.KINESIS_PUT_RECORDS_MAX_RECORDS:
        raise invalid(
            "records",
            f"{n} records",
            "Member must have length less than or equal to 500"
            if n
            else "Member must have length greater than or equal to 1",
        )
    stream = kinesis.stream(p, now, live=True)
    # Check every record before any is written: a bad one rejects the whole request.
    checked: list[tuple[bytes, str, int, int]] = []
    total = 0
    max_bytes = stream.max_record_bytes
    keys_ok = _RECORD_KEYS.issuperset
    for i, e in enumerate(entries):
        if type(e) is not dict and not isinstance(e, Mapping):
            raise invalid(f"records.{i + 1}.member", e, "Member must be a structure")
        if not keys_ok(e):
            check_known(e, _RECORD_KEYS, "PutRecordsRequestEntry", ValidationException)
        data = e.get("Data")
        if type(data) is not bytes:
            data = blob(data, f"records.{i + 1}.member.data")
        key = e.get("PartitionKey")
        if type(key) is str and 0 < len(key) <= 256 and key.isascii():
            size = len(data) + len(key)
        else:
            key = partition_key(key, f"records.{i + 1}.member.partitionKey")
            size = len(data) + len(key.encode())
        if size > max_bytes:
            _record_size(data, key, stream, i)
        total += size
        explicit = e.get("ExplicitHashKey")
        if explicit is None:
            h = hash_key(key)
        else:
            h = explicit_hash(explicit, f"records.{i + 1}.member.explicitHashKey")
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
    ms = kinesis.ms(now)
    arrival = utc_from_ms(ms)
    enforce = kinesis.options.enforce_throughput
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
                    "ErrorMessage": kinesis.throttle_message(stream, shard),
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
            kinesis.touched.add(shard)
    return {"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}


# ---------------------------------------------------------------------- reads
def iterator_position(
    kinesis: KinesisState,
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
        raise invalid(
            field,
            kind,
            "Member must satisfy enum value set: [" + ", ".join(sorted(ITERATOR_TYPES)) + "]",
        )
    if kind == "TRIM_HORIZON":
        return shard.start_pos
    if kind == "LATEST":
        return shard.end_pos
    if kind == "AT_TIMESTAMP":
        when = timestamp({"Timestamp": when_value}, "Timestamp")
        if when is None:
            raise InvalidArgumentException(
                "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                "Current request has no timestamp parameter."
            )
        return shard.pos_at_time(when)
    if seq_value is None:
        raise InvalidArgumentException(f"Must specify {seq_field} for iterator of type {kind}.")
    seq = sequence_number(seq_value, field_name(seq_field))
    if not SEQ_BASE <= seq < SEQ_MAX:
        raise InvalidArgumentException(
            f"{seq_field} {seq_value} used in GetShardIterator on shard {shard.id} in stream "
            f"{stream.name} under account {kinesis.account_id} is invalid."
        )
    if seq_shard_index(seq) != shard.index:
        raise InvalidArgumentException(
            f"Invalid {seq_field}. It encodes shardId-{seq_shard_index(seq):012d}, while it "
            f"was used in a call to a shard with {shard.id}"
        )
    return shard.pos_at_seq(str(seq), kind == "AFTER_SEQUENCE_NUMBER")


def _iterator(stream: Stream, shard: Shard, pos: int, now: float) -> str:
    return make_token("it", stream.incarnation, shard.index, pos, int(now * 1e6))


def get_shard_iterator(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """An iterator at TRIM_HORIZON, LATEST, AT/AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP; it
    expires 5 minutes after it is issued."""
    check_known(
        p,
        STREAM_KEYS | {"ShardId", "ShardIteratorType", "StartingSequenceNumber", "Timestamp"},
        "GetShardIterator",
        ValidationException,
    )
    sid = shard_id_member(p, "ShardId")
    kind = p.get("ShardIteratorType")
    if kind is None:
        raise invalid("shardIteratorType", None, "Member must not be null")
    stream = kinesis.stream(p, now, live=True)
    shard = kinesis.shard(stream, sid)  # type: ignore[arg-type]
    shard.trim(now - stream.retention)
    pos = iterator_position(
        kinesis,
        stream,
        shard,
        kind,
        p.get("StartingSequenceNumber"),
        p.get("Timestamp"),
        "shardIteratorType",
        "StartingSequenceNumber",
    )
    return {"ShardIterator": _iterator(stream, shard, pos, now)}


def get_records(kinesis: KinesisState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Up to Limit (10,000) records and 10 MiB from the iterator's position, a
    NextShardIterator (none once a closed shard is read to its end, which also returns
    ChildShards) and MillisBehindLatest. O(log n + k) for k records."""
    check_known(
        p, frozenset({"ShardIterator", "Limit", "StreamARN"}), "GetRecords", ValidationException
    )
    token = string(p, "ShardIterator")
    assert token is not None
    if not 1 <= len(token) <= ITERATOR_MAX_LEN:
        raise invalid("shardIterator", token, "Member must have length between 1 and 512")
    limit = integer(p, "Limit", 1, limits.KINESIS_GET_RECORDS_LIMIT_MAX) or (
        limits.KINESIS_GET_RECORDS_LIMIT_MAX
    )
    parts = read_token(token, 5, ints=(1, 2, 3, 4))
    if parts is None or parts[0] != "it":
        raise InvalidArgumentException(f"Invalid ShardIterator: {token}")
    _, inc, index, pos_s, issued_s = parts
    issued = int(issued_s) / 1e6
    stream = kinesis.by_incarnation.get(int(inc))
    if stream is not None:
        stream.advance(now)
    if stream is None or not stream.readable:
        raise ResourceNotFoundException(
            "The stream this shard iterator belongs to no longer exists."
        )
    arn = p.get("StreamARN")
    if arn is not None and type(arn) is not str:
        raise invalid("streamARN", arn, "Member must be a string")
    if arn is not None and arn != stream.arn:
        raise InvalidArgumentException(
            f"ShardIterator belongs to {stream.arn}, not to StreamARN {arn}."
        )
    if now - issued > limits.KINESIS_ITERATOR_TTL:
        raise ExpiredIteratorException(
            f"Iterator expired. The iterator was created at time "
            f"{kinesis.ms(issued)} while right now it is {kinesis.ms(now)} which is further "
            f"in the future than the tolerated delay of "
            f"{limits.KINESIS_ITERATOR_TTL * 1000} milliseconds."
        )
    shard = stream.by_index.get(int(index))
    if shard is None:
        raise ResourceNotFoundException(
            f"Shard shardId-{int(index):012d} in stream {stream.name} under account "
            f"{kinesis.account_id} does not exist"
        )
    if kinesis.options.enforce_throughput and not shard.admit_read(now):
        raise ProvisionedThroughputExceededException(kinesis.throttle_message(stream, shard))
    shard.trim(now - stream.retention)
    records, pos, nbytes = shard.read(int(pos_s), limit, limits.KINESIS_GET_RECORDS_MAX_BYTES)
    if nbytes:
        shard.charge_read(nbytes)
    out: dict[str, Any] = {"Records": records}
    if not shard.is_open and pos >= shard.end_pos:
        out["MillisBehindLatest"] = 0
        out["ChildShards"] = kinesis.child_shards(stream, shard)
    else:
        out["NextShardIterator"] = _iterator(stream, shard, pos, now)
        out["MillisBehindLatest"] = kinesis.millis_behind(shard, pos, now)
    return out
