"""Bad input at the Kinesis operation boundary: only BrokerError reaches a client, with a Kinesis
error code (never InternalFailure), and a rejected request changes nothing.

Each fuzz example opens a broker on the virtual clock with a seeded account: stream ``s`` (two
shards, shard 0 split into 2 and 3, records in every shard, tags, an ACTIVE consumer ``c`` and a
CREATING consumer ``d``), an ON_DEMAND stream ``od``, a stream ``new`` still CREATING and a stream
``gone`` DELETING. It then makes one to four requests through ``broker.call`` (with the odd
virtual sleep between them, so iterators and NextTokens expire, streams settle and records age
out), so later requests meet what earlier ones changed. A request is any Kinesis operation with
the parameters it takes, drawn mostly from plausible values -- the setup's real shard ids,
sequence numbers, iterators, NextTokens and consumer ARNs, often as-is and sometimes tampered
with -- and otherwise from near misses and hostile junk (None, bools, huge and negative ints,
NaN, infinities, empty, NUL and very long strings, bytes, bytearrays, memoryviews, lists, dicts,
datetimes of any year and zone); then up to two mutations drop a parameter, replace one with
junk or add one the operation does not take. SubscribeToShard's EventStream is read for a
couple of events. Before and after each rejected request the test reads everything a client can
observe (ListStreams; per stream DescribeStream, DescribeStreamSummary, every record from
TRIM_HORIZON of every shard, ListStreamConsumers and ListTagsForStream) and compares. Reads spend
the per-shard read budget, so a quarter of the examples run with throughput enforced (exercising
ProvisionedThroughputExceededException) and compare everything but the records.

A deterministic sweep then spoils one field at a time of a request each operation accepts, with
every value of ``HOSTILE``; and explicit tests take the nastiest cases one by one: NextTokens and
shard iterators that are valid base64 but tampered with, timestamps of the years 1 and 9999,
Records as a tuple or a generator (refused, as boto3 refuses it), Data as bytearray or str (a
memoryview is refused as boto3 refuses it), partition keys counted in UTF-8 bytes against the
1 MiB record limit.

The explicit tests at the end pin down the bugs this fuzz found (unhashable enum values, lone
surrogates, unprintably long integers, ListShards tokens of edge-year filters, endless Records
iterables, non-ASCII digits), now fixed. ``MSGSIM_FUZZ_EXAMPLES`` sets the number of examples
(default 200).
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from msgsim.broker import Broker, BrokerError

REGION = "us-east-1"
ACCOUNT = "000000000000"
MIB = 1024 * 1024
HASH_MAX = 2**128 - 1
H1 = str(2**127)  # first hash key of shard 1 (of two uniform shards)
H_SPLIT = str(2**126)  # where setup splits shard 0
SHARD = [f"shardId-{i:012d}" for i in range(6)]
T0 = datetime(2025, 1, 1, tzinfo=UTC)  # the virtual clock's epoch: wall time at clock time 0

KINESIS_ERRORS = frozenset(
    {
        "ValidationException",
        "InvalidArgumentException",
        "ResourceNotFoundException",
        "ResourceInUseException",
        "LimitExceededException",
        "ExpiredIteratorException",
        "ExpiredNextTokenException",
        "ProvisionedThroughputExceededException",
    }
)


def arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


ARN_S = arn("s")

#: ``STREAM`` stands for StreamName and/or StreamARN (drawn together, see ``requests``).
STREAM = "<stream>"
#: Parameters each operation takes; the first ``REQUIRED[op]`` are always drawn (before mutation).
OPERATION_PARAMS: dict[str, list[str]] = {
    "CreateStream": [
        "StreamName",
        "ShardCount",
        "StreamModeDetails",
        "Tags",
        "MaxRecordSizeInKiB",
        "WarmThroughputMiBps",
    ],
    "DeleteStream": [STREAM, "EnforceConsumerDeletion"],
    "DescribeStream": [STREAM, "Limit", "ExclusiveStartShardId"],
    "DescribeStreamSummary": [STREAM],
    "ListStreams": ["Limit", "ExclusiveStartStreamName", "NextToken"],
    "ListShards": [
        STREAM,
        "NextToken",
        "ExclusiveStartShardId",
        "MaxResults",
        "StreamCreationTimestamp",
        "ShardFilter",
    ],
    "PutRecord": [STREAM, "Data", "PartitionKey", "ExplicitHashKey", "SequenceNumberForOrdering"],
    "PutRecords": [STREAM, "Records"],
    "GetShardIterator": [
        STREAM,
        "ShardId",
        "ShardIteratorType",
        "StartingSequenceNumber",
        "Timestamp",
    ],
    "GetRecords": ["ShardIterator", "Limit", "StreamARN"],
    "SplitShard": [STREAM, "ShardToSplit", "NewStartingHashKey"],
    "MergeShards": [STREAM, "ShardToMerge", "AdjacentShardToMerge"],
    "UpdateShardCount": [STREAM, "TargetShardCount", "ScalingType"],
    "IncreaseStreamRetentionPeriod": [STREAM, "RetentionPeriodHours"],
    "DecreaseStreamRetentionPeriod": [STREAM, "RetentionPeriodHours"],
    "UpdateStreamMode": ["StreamARN", "StreamModeDetails"],
    "RegisterStreamConsumer": ["StreamARN", "ConsumerName", "Tags"],
    "DeregisterStreamConsumer": ["ConsumerARN", "StreamARN", "ConsumerName"],
    "ListStreamConsumers": ["StreamARN", "NextToken", "MaxResults", "StreamCreationTimestamp"],
    "DescribeStreamConsumer": ["ConsumerARN", "StreamARN", "ConsumerName"],
    "SubscribeToShard": ["ConsumerARN", "ShardId", "StartingPosition"],
    "AddTagsToStream": [STREAM, "Tags"],
    "RemoveTagsFromStream": [STREAM, "TagKeys"],
    "ListTagsForStream": [STREAM, "ExclusiveStartTagKey", "Limit"],
}
REQUIRED: dict[str, int] = {
    "CreateStream": 2,
    "DeleteStream": 1,
    "DescribeStream": 1,
    "DescribeStreamSummary": 1,
    "ListShards": 1,
    "PutRecord": 3,
    "PutRecords": 2,
    "GetShardIterator": 3,
    "GetRecords": 1,
    "SplitShard": 3,
    "MergeShards": 3,
    "UpdateShardCount": 3,
    "IncreaseStreamRetentionPeriod": 2,
    "DecreaseStreamRetentionPeriod": 2,
    "UpdateStreamMode": 2,
    "RegisterStreamConsumer": 2,
    "DeregisterStreamConsumer": 1,
    "ListStreamConsumers": 1,
    "DescribeStreamConsumer": 1,
    "SubscribeToShard": 3,
    "AddTagsToStream": 2,
    "RemoveTagsFromStream": 2,
}
PARAM_NAMES = sorted(
    {n for names in OPERATION_PARAMS.values() for n in names if n != STREAM}
    | {"StreamName", "StreamARN", "Bogus"}
)


# --------------------------------------------------------------------------- references
class Ref:
    """A value known only once the broker is set up (a sequence number, an iterator, a token),
    optionally twisted (see :func:`twist`)."""

    def __init__(self, name: str, how: str = "") -> None:
        self.name = name
        self.how = how

    def __repr__(self) -> str:
        return f"Ref({self.name!r}{', ' + repr(self.how) if self.how else ''})"


class Gen(list):
    """A list handed to the broker as a one-shot generator."""

    def __repr__(self) -> str:
        return f"Gen({list.__repr__(self)})"


def twist(value: Any, how: str) -> Any:
    """``value`` as given, or a near miss of it: ``x`` appends a character, ``cut`` drops the last
    one, ``flip`` changes the middle one (a digit to another digit), ``tamper`` makes a token
    valid base64 of a well-formed body with one field changed but the old checksum (and a decimal
    number one larger)."""
    if not how or not isinstance(value, str) or not value:
        return value
    if how == "x":
        return value + "x"
    if how == "cut":
        return value[:-1]
    if how == "flip":
        i = len(value) // 2
        c = value[i]
        new = str((int(c) + 1) % 10) if c in "0123456789" else ("B" if c == "A" else "A")
        return value[:i] + new + value[i + 1 :]
    assert how == "tamper", how
    if value.isdigit():
        return str(int(value) + 1)
    try:
        text = base64.b64decode(value, validate=True).decode()
    except ValueError:
        return value + "0"
    parts = text.split("|")
    if len(parts) < 3:
        return value + "0"
    parts[-2] += "0"  # the time of issue: ten times later, checksum unchanged
    return base64.b64encode("|".join(parts).encode()).decode()


def resolve(value: Any, refs: dict[str, Any]) -> Any:
    if isinstance(value, Ref):
        return twist(refs[value.name], value.how)
    if isinstance(value, Gen):
        items = [resolve(v, refs) for v in value]
        return (item for item in items)
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {resolve(k, refs): resolve(v, refs) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- known bugs
# --------------------------------------------------------------------------- junk
DATETIMES = [
    datetime.min,
    datetime.max,
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
    datetime(1970, 1, 1),
    datetime(2025, 1, 1),
    T0 + timedelta(seconds=1),
    T0 - timedelta(days=365),
    T0 + timedelta(days=365 * 50),
]
long_words = st.builds(lambda n: "x" * n, st.sampled_from([129, 257, 513, 100_000]))
words = long_words | st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "é",
        "日本",
        "s",
        "s ",
        "S",
        "0",
        "-1",
        "01",
        "1e3",
        "NaN",
        "null",
        "true",
        "AAAA",
        "====",
        base64.b64encode(b"it|1|0|0|0|deadbeef").decode(),
        base64.b64encode(b"\xff\xfe|").decode(),
        "TRIM_HORIZON",
        "LATEST",
        "AT_TIMESTAMP",
        "AFTER_SHARD_ID",
        "UNIFORM_SCALING",
        "ON_DEMAND",
        "PROVISIONED",
        "Bogus",
        SHARD[0],
        SHARD[5],
        ARN_S,
        ARN_S + "/consumer/c:1",
        "2025-01-01T00:00:00Z",
    ]
)
datetimes = st.one_of(
    st.sampled_from(DATETIMES),
    st.datetimes(),
    st.datetimes(
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12, minutes=30))]
        )
    ),
)
refs = st.builds(
    Ref,
    st.sampled_from(
        [
            "seq:0a",
            "seq:1a",
            "seq:3a",
            "seq:start0",
            "it:1",
            "it:end0",
            "tok:shards",
            "tok:consumers",
            "carn:c",
            "ts:0a",
            "last:NextToken",
            "last:ShardIterator",
        ]
    ),
    st.sampled_from(["", "", "x", "cut", "flip", "tamper"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63), 10**30, 2**128]),
    st.builds(pow, st.just(10), st.sampled_from([100, 1000])),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    words,
    st.binary(max_size=8),
    st.builds(bytearray, st.binary(max_size=4)),
    st.builds(memoryview, st.binary(max_size=4)),
    datetimes,
    refs,
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [*PARAM_NAMES, "Type", "StreamMode", "SequenceNumber", "Key", "Value"]
                ),
                st.integers(0, 2),
                st.none(),
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=6,
)


# --------------------------------------------------------------------------- plausible values
def seq_refs(how: st.SearchStrategy[str]) -> st.SearchStrategy[Ref]:
    names = ["seq:0a", "seq:0b", "seq:1a", "seq:2a", "seq:3a", "seq:start0", "last:SequenceNumber"]
    return st.builds(Ref, st.sampled_from(names), how)


EXACT = st.just("")
NEAR = st.sampled_from(["x", "cut", "flip", "tamper"])
stream_names = st.sampled_from(["s", "s", "s", "s", "od", "new", "gone", "missing"])
shard_ids = st.sampled_from([*SHARD[:4], *SHARD])  # 4 and 5 do not exist
iterator_types = st.sampled_from(
    ["TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"]
)
near_timestamps = st.one_of(
    st.builds(lambda s: T0 + timedelta(seconds=s), st.floats(-3600, 100_000)),
    st.builds(lambda s: (T0 + timedelta(seconds=s)).replace(tzinfo=None), st.floats(0, 10)),
    st.floats(T0.timestamp() - 10, T0.timestamp() + 100_000),
    st.integers(int(T0.timestamp()) - 10, int(T0.timestamp()) + 10),
    st.just(Ref("ts:0a")),
)
data_values = st.sampled_from(
    [b"d", b"", b"\x00\xff", bytearray(b"ba"), "text", "é", "", b"x" * 1000]
)
partition_keys = st.sampled_from(["k", "k1", "é", "日本", "é" * 256, "x" * 256, "\x00", " "])
hash_keys = st.sampled_from(["0", "1", H_SPLIT, H1, str(HASH_MAX)])
good_entry = st.fixed_dictionaries(
    {"Data": data_values, "PartitionKey": partition_keys},
    optional={"ExplicitHashKey": hash_keys},
)
starting_positions = st.one_of(
    st.fixed_dictionaries({"Type": st.sampled_from(["TRIM_HORIZON", "LATEST"])}),
    st.fixed_dictionaries(
        {
            "Type": st.sampled_from(["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"]),
            "SequenceNumber": seq_refs(EXACT),
        }
    ),
    st.fixed_dictionaries({"Type": st.just("AT_TIMESTAMP"), "Timestamp": near_timestamps}),
)
shard_filters = st.one_of(
    st.fixed_dictionaries(
        {"Type": st.sampled_from(["AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST"])}
    ),
    st.fixed_dictionaries({"Type": st.just("AFTER_SHARD_ID"), "ShardId": shard_ids}),
    st.fixed_dictionaries(
        {"Type": st.sampled_from(["AT_TIMESTAMP", "FROM_TIMESTAMP"]), "Timestamp": near_timestamps}
    ),
)

GOOD: dict[str, st.SearchStrategy[Any]] = {
    "StreamName": stream_names,
    "StreamARN": stream_names.map(arn),
    "ShardCount": st.sampled_from([1, 1, 2, 3]),
    "StreamModeDetails": st.sampled_from(
        [{"StreamMode": "PROVISIONED"}, {"StreamMode": "ON_DEMAND"}]
    ),
    "Tags": st.dictionaries(
        st.sampled_from(["k", "k2", "k3", "é"]), st.sampled_from(["v", "", "w"]), min_size=1
    ),
    "MaxRecordSizeInKiB": st.sampled_from([1024, 2048, 10240]),
    "WarmThroughputMiBps": st.sampled_from([0, 1]),
    "Data": data_values,
    "PartitionKey": partition_keys,
    "ExplicitHashKey": hash_keys,
    "SequenceNumberForOrdering": seq_refs(EXACT),
    "Records": st.one_of(
        st.lists(good_entry, min_size=1, max_size=5),
        st.lists(good_entry, min_size=1, max_size=3).map(Gen),
        st.lists(good_entry, min_size=1, max_size=3).map(tuple),
    ),
    "ShardId": shard_ids,
    "ShardIteratorType": iterator_types,
    "StartingSequenceNumber": seq_refs(EXACT),
    "Timestamp": near_timestamps,
    "ShardIterator": st.builds(
        Ref,
        st.sampled_from(
            ["it:0", "it:1", "it:2", "it:3", "it:end0", "it:gone", "last:ShardIterator"]
        ),
    ),
    "Limit": st.sampled_from([1, 2, 100, 10_000]),
    "NextToken": st.builds(
        Ref, st.sampled_from(["tok:shards", "tok:streams", "tok:consumers", "last:NextToken"])
    ),
    "MaxResults": st.sampled_from([1, 2, 100]),
    "ExclusiveStartShardId": shard_ids,
    "StreamCreationTimestamp": near_timestamps,
    "ShardFilter": shard_filters,
    "ShardToSplit": shard_ids,
    "NewStartingHashKey": st.sampled_from(["1", str(2**125), str(2**127 + 5), H1, str(HASH_MAX)]),
    "ShardToMerge": shard_ids,
    "AdjacentShardToMerge": shard_ids,
    "TargetShardCount": st.integers(1, 8),
    "ScalingType": st.just("UNIFORM_SCALING"),
    "RetentionPeriodHours": st.sampled_from([24, 25, 48, 168, 8760]),
    "ConsumerName": st.sampled_from(["c", "d", "e", "f"]),
    "ConsumerARN": st.builds(Ref, st.sampled_from(["carn:c", "carn:c", "carn:d"])),
    "StartingPosition": starting_positions,
    "TagKeys": st.lists(st.sampled_from(["k", "k2", "nope"]), min_size=1, max_size=3),
    "ExclusiveStartTagKey": st.sampled_from(["k", "a", "", "zz"]),
    "EnforceConsumerDeletion": st.booleans(),
    "ExclusiveStartStreamName": stream_names,
}

# --------------------------------------------------------------------------- near misses
bad_names = st.sampled_from(["", "x" * 129, "bad name", "s\x00", "é", "s/", "\ud800", "s" * 128])
bad_arns = st.sampled_from(
    [
        arn(""),
        arn("x" * 200),
        arn("bad name"),
        "arn:aws:kinesis:eu-west-1:000000000000:stream/s",
        "arn:aws:kinesis:us-east-1:111111111111:stream/s",
        "arn:aws:kinesis:us-east-1:000000000000:s",
        "arn:aws:sqs:us-east-1:000000000000:s",
        "arn:aws-cn:kinesis:us-east-1:000000000000:stream/s",
        ARN_S + "/consumer/c:1",
        ARN_S + "\n",
        "s",
    ]
)
bad_shard_ids = st.sampled_from(
    ["", "shardId-0", "x" * 129, "shardId-000000000099", SHARD[0] + " ", "\ud800", "shardId-é"]
)
bad_seqs = st.one_of(
    seq_refs(NEAR),
    st.sampled_from(
        ["", "0", "-1", "01", "1" * 130, "49" + "9" * 54, "4" * 57, "1.5", " 1", "1١", "٤٩"]
    ),
)
bad_timestamps = st.one_of(
    datetimes,
    st.sampled_from(
        [math.nan, math.inf, -math.inf, 1e20, -1e20, 2**70, -(2**70), "2025-01-01", True, b"1"]
    ),
)
bad_tokens = st.one_of(
    st.builds(
        Ref,
        st.sampled_from(
            [
                "tok:shards",
                "tok:streams",
                "tok:consumers",
                "it:1",
                "it:gone",
                "last:NextToken",
                "last:ShardIterator",
            ]
        ),
        st.sampled_from(["", "x", "cut", "flip", "tamper", "tamper"]),
    ),
    words,
)
bad_data = st.sampled_from(
    [b"x" * (MIB + 1), b"x" * (MIB - 1), "é" * (MIB // 2), "\ud800", None, 5, [b"x"], {"Data": b""}]
)
bad_keys = st.sampled_from(["", "x" * 257, "é" * 257, "\ud800", "k\ud800", b"k", 5, None])
bad_hashes = st.sampled_from(
    ["-1", "01", "1" * 40, str(HASH_MAX + 1), "", " 1", "1١", "1.0", "0x1", 5, 2**127]
)
bad_entry = st.one_of(
    good_entry,
    st.fixed_dictionaries(
        {
            "Data": st.one_of(data_values, bad_data, junk),
            "PartitionKey": st.one_of(partition_keys, bad_keys, junk),
        },
        optional={"ExplicitHashKey": st.one_of(bad_hashes, junk), "Bogus": junk},
    ),
    junk,
)
bad_records = st.one_of(
    st.lists(bad_entry, max_size=4),
    st.lists(bad_entry, min_size=1, max_size=3).map(Gen),
    st.just([{"Data": b"", "PartitionKey": "k"}] * 501),
    st.just([{"Data": b"x" * (MIB - 1), "PartitionKey": "k"}] * 6),  # over 5 MiB in all
    st.just([{"Data": b"x" * (MIB - 1), "PartitionKey": "é"}]),  # 1 MiB + 1 byte, in UTF-8
    st.sampled_from(["", b"", {}, bytearray(b"ab"), 0]),
)
bad_tags = st.one_of(
    st.sampled_from(
        [
            {},
            {"": "v"},
            {"k" * 129: "v"},
            {"k": "v" * 257},
            {"aws:x": "v"},
            {"k": None},
            {1: "v"},
            {None: "v"},
            [{"Key": "k", "Value": "v"}],
            {f"k{i}": "" for i in range(11)},
            {f"t{i}": "" for i in range(51)},
        ]
    ),
    st.dictionaries(st.one_of(words, st.text(max_size=3)), junk, min_size=1, max_size=3),
)
bad_filters = st.one_of(
    st.sampled_from(
        [
            {},
            {"Type": "AFTER_SHARD_ID"},
            {"Type": "AT_TIMESTAMP"},
            {"Type": "FROM_TIMESTAMP", "Timestamp": None},
            {"Type": "at_latest"},
            {"Type": "AT_LATEST", "Bogus": 1},
            "AT_LATEST",
        ]
    ),
    st.fixed_dictionaries(
        {"Type": st.one_of(st.sampled_from(["AFTER_SHARD_ID", "AT_TIMESTAMP"]), junk)},
        optional={"ShardId": st.one_of(bad_shard_ids, junk), "Timestamp": bad_timestamps},
    ),
)
bad_positions = st.one_of(
    st.sampled_from(
        [
            {},
            {"Type": "AT_SEQUENCE_NUMBER"},
            {"Type": "AT_TIMESTAMP"},
            {"Type": "latest"},
            {"Type": "LATEST", "Bogus": 1},
            "LATEST",
        ]
    ),
    st.fixed_dictionaries(
        {"Type": st.one_of(iterator_types, junk)},
        optional={"SequenceNumber": bad_seqs, "Timestamp": bad_timestamps},
    ),
)

BAD: dict[str, st.SearchStrategy[Any]] = {
    "StreamName": bad_names,
    "StreamARN": bad_arns,
    "ShardCount": st.sampled_from([0, -1, 501, 10**6, 1.0, "1"]),
    "StreamModeDetails": st.sampled_from(
        [{}, {"StreamMode": "provisioned"}, {"StreamMode": None}, {"Bogus": 1}, "ON_DEMAND"]
    ),
    "Tags": bad_tags,
    "MaxRecordSizeInKiB": st.sampled_from([0, 1023, 10241, -1]),
    "WarmThroughputMiBps": st.sampled_from([-1, 1.5]),
    "Data": bad_data,
    "PartitionKey": bad_keys,
    "ExplicitHashKey": bad_hashes,
    "SequenceNumberForOrdering": bad_seqs,
    "Records": bad_records,
    "ShardId": bad_shard_ids,
    "ShardIteratorType": st.sampled_from(["latest", "", "AT_SEQUENCE", "AFTER_SHARD_ID"]),
    "StartingSequenceNumber": bad_seqs,
    "Timestamp": bad_timestamps,
    "ShardIterator": bad_tokens,
    "Limit": st.sampled_from([0, -1, 10_001, 10**9]),
    "NextToken": bad_tokens,
    "MaxResults": st.sampled_from([0, -1, 10_001]),
    "ExclusiveStartShardId": bad_shard_ids,
    "StreamCreationTimestamp": bad_timestamps,
    "ShardFilter": bad_filters,
    "ShardToSplit": bad_shard_ids,
    "NewStartingHashKey": st.one_of(bad_hashes, st.sampled_from(["0", H_SPLIT, str(2**126 - 1)])),
    "ShardToMerge": bad_shard_ids,
    "AdjacentShardToMerge": bad_shard_ids,
    "TargetShardCount": st.sampled_from([0, -1, 9, 100, 10_001]),
    "ScalingType": st.sampled_from(["uniform_scaling", "", "UNIFORM"]),
    "RetentionPeriodHours": st.sampled_from([0, 1, 23, 8761, -1]),
    "ConsumerName": st.sampled_from(["", "x" * 129, "bad name", "é", "c:1", "\ud800"]),
    "ConsumerARN": st.one_of(
        st.builds(Ref, st.sampled_from(["carn:c", "carn:d"]), NEAR),
        st.sampled_from([ARN_S, ARN_S + "/consumer/c", ARN_S + "/consumer/zz:1", ""]),
    ),
    "StartingPosition": bad_positions,
    "TagKeys": st.sampled_from([[], ["k"] * 11, [1], "k", ["\ud800"], [None], ("k",)]),
    "ExclusiveStartTagKey": st.sampled_from(["\ud800", "x" * 200]),
    "EnforceConsumerDeletion": st.sampled_from(["true", 1, 0]),
    "ExclusiveStartStreamName": bad_names,
}


def good(operation: str, name: str) -> st.SearchStrategy[Any]:
    if operation == "CreateStream" and name == "StreamName":
        return st.sampled_from(["n1", "n1", "n2.x", "A-b_c", "s", "gone", "new"])
    return GOOD[name]


#: How a parameter's value is drawn (Hypothesis's one_of does not weigh its branches).
KINDS = ["good"] * 8 + ["bad"] * 2 + ["junk"]


def value(draw: st.DrawFn, operation: str, name: str) -> Any:
    kind = draw(st.sampled_from(KINDS))
    if kind == "good":
        return draw(good(operation, name))
    return draw(BAD[name] if kind == "bad" else junk)


MUTATIONS = [(), (), (), (), (), (), ("drop",), ("junk",), ("stray",), ("junk", "stray")]
#: Operations with much to validate or to do come up more often.
OPERATIONS = [
    *sorted(OPERATION_PARAMS),
    "PutRecord",
    "PutRecords",
    "PutRecords",
    "GetShardIterator",
    "GetShardIterator",
    "GetRecords",
    "GetRecords",
    "ListShards",
    "ListShards",
    "SubscribeToShard",
    "SubscribeToShard",
    "SplitShard",
    "UpdateShardCount",
]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[Any, Any]]:
    operation = draw(st.sampled_from(OPERATIONS))
    names = OPERATION_PARAMS[operation]
    required = names[: REQUIRED.get(operation, 0)]
    optional = [n for n in names[len(required) :] if draw(st.sampled_from([False, False, True]))]
    chosen = [*required, *optional]
    params: dict[Any, Any] = {}
    for name in chosen:
        if name != STREAM:
            params[name] = value(draw, operation, name)
            continue
        how = draw(st.sampled_from(["name"] * 6 + ["arn"] * 3 + ["both", "none"]))
        if how in ("name", "both"):
            params["StreamName"] = value(draw, operation, "StreamName")
        if how in ("arn", "both"):
            params["StreamARN"] = value(draw, operation, "StreamARN")
    if operation in ("DeregisterStreamConsumer", "DescribeStreamConsumer") and draw(st.booleans()):
        del params["ConsumerARN"]  # by StreamARN and ConsumerName instead
        params["StreamARN"] = value(draw, operation, "StreamARN")
        params["ConsumerName"] = value(draw, operation, "ConsumerName")
    for mutation in draw(st.sampled_from(MUTATIONS)):
        if mutation == "stray":
            params[draw(st.sampled_from([*PARAM_NAMES, 0, None]))] = draw(junk)
        elif params:
            victim = draw(st.sampled_from(sorted(params, key=repr)))
            if mutation == "drop":
                del params[victim]
            else:
                params[victim] = draw(junk)
    return ("call", operation, params)


sleeps = st.builds(lambda s: ("sleep", s), st.sampled_from([0.3, 1.0, 6.0, 301.0, 86_401.0]))
steps = st.lists(st.one_of(requests(), requests(), requests(), sleeps), min_size=1, max_size=4)


# --------------------------------------------------------------------------- the scenario
async def _setup(broker: Broker) -> dict[str, Any]:
    """The account every example starts from; returns the values :class:`Ref` names."""

    async def call(operation: str, **params: Any) -> dict[str, Any]:
        return await broker.call("kinesis", operation, params)

    async def put(data: bytes, key: str, explicit: str) -> str:
        r = await call(
            "PutRecord", StreamName="s", Data=data, PartitionKey=key, ExplicitHashKey=explicit
        )
        return r["SequenceNumber"]

    async def iterator(shard: str, kind: str = "TRIM_HORIZON", name: str = "s") -> str:
        r = await call("GetShardIterator", StreamName=name, ShardId=shard, ShardIteratorType=kind)
        return r["ShardIterator"]

    refs: dict[str, Any] = {}
    await call("CreateStream", StreamName="s", ShardCount=2, Tags={"k": "v", "k2": ""})
    await call("CreateStream", StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    await call("CreateStream", StreamName="gone", ShardCount=1)
    await trio.sleep(1)
    desc = await call("DescribeStream", StreamName="s")
    refs["seq:start0"] = desc["StreamDescription"]["Shards"][0]["SequenceNumberRange"][
        "StartingSequenceNumber"
    ]
    refs["seq:0a"] = await put(b"a", "k", "0")
    await trio.sleep(0.25)
    refs["seq:0b"] = await put(b"\x00\xff", "é", "1")
    refs["seq:1a"] = await put(b"b", "k1", H1)
    refs["it:gone"] = await iterator(SHARD[0], name="gone")
    await call("SplitShard", StreamName="s", ShardToSplit=SHARD[0], NewStartingHashKey=H_SPLIT)
    await trio.sleep(1)
    refs["seq:2a"] = await put(b"c", "k2", "0")
    refs["seq:3a"] = await put(b"d" * 100, "k3", str(2**126 + 1))
    r = await call("RegisterStreamConsumer", StreamARN=ARN_S, ConsumerName="c")
    refs["carn:c"] = r["Consumer"]["ConsumerARN"]
    await trio.sleep(1)
    r = await call("RegisterStreamConsumer", StreamARN=ARN_S, ConsumerName="d")
    refs["carn:d"] = r["Consumer"]["ConsumerARN"]  # CREATING
    for i in range(4):
        refs[f"it:{i}"] = await iterator(SHARD[i])
    refs["it:end0"] = await iterator(SHARD[0], "LATEST")  # the end of a closed shard
    r = await call("GetRecords", ShardIterator=refs["it:0"], Limit=1)
    refs["ts:0a"] = r["Records"][0]["ApproximateArrivalTimestamp"]
    refs["tok:shards"] = (await call("ListShards", StreamName="s", MaxResults=1))["NextToken"]
    refs["tok:streams"] = (await call("ListStreams", Limit=1))["NextToken"]
    refs["tok:consumers"] = (await call("ListStreamConsumers", StreamARN=ARN_S, MaxResults=1))[
        "NextToken"
    ]
    await call("CreateStream", StreamName="new", ShardCount=1)  # CREATING for 0.5 s
    await call("DeleteStream", StreamName="gone")  # DELETING for 0.5 s
    refs["last:NextToken"] = refs["tok:shards"]
    refs["last:ShardIterator"] = refs["it:1"]
    refs["last:SequenceNumber"] = refs["seq:1a"]
    return refs


def remember(result: Mapping[str, Any], refs: dict[str, Any]) -> None:
    """Keep the tokens and numbers a response hands out, for later requests (``last:*``)."""
    for key, name in (
        ("NextToken", "last:NextToken"),
        ("ShardIterator", "last:ShardIterator"),
        ("NextShardIterator", "last:ShardIterator"),
        ("SequenceNumber", "last:SequenceNumber"),
    ):
        if isinstance(result.get(key), str):
            refs[name] = result[key]


def note(text: str) -> None:
    """A Hypothesis event, when in a Hypothesis test."""
    try:
        event(text)
    except InvalidArgument:
        pass


def check_error(err: BrokerError, operation: str) -> None:
    assert err.code != "InternalFailure", f"{operation}: {err.message}"  # a defect of ours
    assert err.code in KINESIS_ERRORS, f"{operation}: {err!r} is not a Kinesis error"
    assert isinstance(err.message, str) and err.message, repr(err)


async def observe(broker: Broker, *, reads: bool = True) -> list[Any]:
    """Everything a client can see of the account, as plain comparable data. ``reads``: read
    every shard from TRIM_HORIZON (which spends the read budget when throughput is enforced)."""

    async def call(operation: str, **params: Any) -> Any:
        try:
            return await broker.call("kinesis", operation, params)
        except BrokerError as err:
            check_error(err, f"observing with {operation}")
            return ("error", err.code)

    out: list[Any] = []
    listed = await call("ListStreams", Limit=10_000)
    out.append(listed)
    for name in listed["StreamNames"]:
        desc = await call("DescribeStream", StreamName=name, Limit=10_000)
        out += [
            desc,
            await call("DescribeStreamSummary", StreamName=name),
            await call("ListStreamConsumers", StreamARN=arn(name), MaxResults=10_000),
            await call("ListTagsForStream", StreamName=name, Limit=50),
        ]
        if not reads:
            continue
        for shard in desc["StreamDescription"]["Shards"]:
            r = await call(
                "GetShardIterator",
                StreamName=name,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )
            records: list[Any] = [] if isinstance(r, dict) else [r]
            it = r.get("ShardIterator") if isinstance(r, dict) else None
            while it is not None:
                r = await call("GetRecords", ShardIterator=it)
                if not isinstance(r, dict):
                    records.append(r)
                    break
                records += r["Records"]
                it = r.get("NextShardIterator") if r["Records"] else None
            out.append((shard["ShardId"], records))
    return out


async def drain(result: Mapping[str, Any]) -> None:
    """Read a couple of events from a SubscribeToShard response's EventStream."""
    events = result["EventStream"]
    try:
        n = 0
        with trio.move_on_after(6):
            async for e in events:
                assert set(e) == {"SubscribeToShardEvent"}, e
                assert isinstance(e["SubscribeToShardEvent"]["Records"], list)
                n += 1
                if n == 2:
                    break
        note(f"SubscribeToShard: {n} events")
    except BrokerError as err:
        check_error(err, "SubscribeToShard's EventStream")
        note(f"SubscribeToShard events: {err.code}")
    finally:
        await events.aclose()


async def attempt(
    broker: Broker,
    operation: str,
    params: Any,
    refs: dict[str, Any],
    *,
    reads: bool = True,
    before: list[Any] | None = None,
) -> tuple[str, list[Any] | None]:
    """One request: it succeeds, or it fails with a Kinesis error and changes nothing. Returns
    the outcome and, after a failure, the account as :func:`observe` saw it (unchanged, so the
    caller may pass it as ``before`` to the next request when no time has passed)."""
    if before is None:
        before = await observe(broker, reads=reads)
    try:
        result = await broker.call("kinesis", operation, params)
    except BrokerError as err:
        check_error(err, operation)
        after = await observe(broker, reads=reads)
        assert after == before, f"{operation} failed with {err} but changed state"
        return err.code, after
    except Exception as exc:  # pragma: no cover - what the test is for
        raise AssertionError(f"{operation} raised {exc!r}, not a BrokerError") from exc
    if operation == "SubscribeToShard":
        await drain(result)
    else:
        assert isinstance(result, dict), result
        remember(result, refs)
    return "ok", None


async def _scenario(enforce: bool, plan: list[tuple[Any, ...]]) -> None:
    async with Broker.open(seed=5, enforce_throughput=enforce) as broker:
        refs = await _setup(broker)
        for step in plan:
            if step[0] == "sleep":
                await trio.sleep(step[1])
                continue
            _, operation, raw = step
            outcome = await attempt(broker, operation, resolve(raw, refs), refs, reads=not enforce)
            event(f"{operation}: {outcome}")


@settings(
    max_examples=int(os.environ.get("MSGSIM_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from([False, False, False, True]), steps)
def test_any_kinesis_request_gets_a_response_or_a_kinesis_error_and_errors_change_nothing(
    enforce, plan
):
    trio.run(_scenario, enforce, plan, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_the_fuzz_covers_every_kinesis_operation(broker):
    assert set(broker.kinesis.operations) == set(OPERATION_PARAMS)
    assert set(GOOD) == set(BAD) == set(PARAM_NAMES) - {"Bogus"}


async def test_the_fuzzed_setup_is_what_the_fuzz_assumes():
    async with Broker.open(seed=5, enforce_throughput=False) as broker:
        refs = await _setup(broker)
        streams = broker.kinesis.streams
        assert {n: s.status for n, s in streams.items()} == {
            "s": "ACTIVE",
            "od": "ACTIVE",
            "gone": "DELETING",
            "new": "CREATING",
        }
        s = streams["s"]
        assert list(s.shards) == SHARD[:4] and not s.shards[SHARD[0]].is_open
        assert [len(s.shards[sid]) for sid in SHARD[:4]] == [2, 1, 1, 1]
        assert {n: c.status for n, c in s.consumers.items()} == {"c": "ACTIVE", "d": "CREATING"}
        assert all(isinstance(v, (str, datetime)) for v in refs.values())
        state = await observe(broker)
        assert sum(len(records) for _, records in state[-4:]) >= 4


# --------------------------------------------------------------------------- one field at a time
#: A request each operation accepts in the seeded account (the sweep spoils one field at a time).
BASE: dict[str, dict[str, Any]] = {
    "CreateStream": {"StreamName": "n1", "ShardCount": 1},
    "DeleteStream": {"StreamName": "od"},
    "DescribeStream": {"StreamName": "s"},
    "DescribeStreamSummary": {"StreamName": "s"},
    "ListStreams": {},
    "ListShards": {"StreamName": "s"},
    "PutRecord": {"StreamName": "s", "Data": b"d", "PartitionKey": "k"},
    "PutRecords": {"StreamName": "s", "Records": [{"Data": b"d", "PartitionKey": "k"}]},
    "GetShardIterator": {
        "StreamName": "s",
        "ShardId": SHARD[1],
        "ShardIteratorType": "TRIM_HORIZON",
    },
    "GetRecords": {"ShardIterator": Ref("it:1")},
    "SplitShard": {
        "StreamName": "s",
        "ShardToSplit": SHARD[1],
        "NewStartingHashKey": str(2**127 + 2**126),
    },
    "MergeShards": {"StreamName": "s", "ShardToMerge": SHARD[2], "AdjacentShardToMerge": SHARD[3]},
    "UpdateShardCount": {
        "StreamName": "s",
        "TargetShardCount": 4,
        "ScalingType": "UNIFORM_SCALING",
    },
    "IncreaseStreamRetentionPeriod": {"StreamName": "s", "RetentionPeriodHours": 48},
    "DecreaseStreamRetentionPeriod": {"StreamName": "s", "RetentionPeriodHours": 24},
    "UpdateStreamMode": {
        "StreamARN": arn("od"),
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
    },
    "RegisterStreamConsumer": {"StreamARN": ARN_S, "ConsumerName": "e"},
    "DeregisterStreamConsumer": {"ConsumerARN": Ref("carn:c")},
    "ListStreamConsumers": {"StreamARN": ARN_S},
    "DescribeStreamConsumer": {"ConsumerARN": Ref("carn:c")},
    "SubscribeToShard": {
        "ConsumerARN": Ref("carn:c"),
        "ShardId": SHARD[1],
        "StartingPosition": {"Type": "TRIM_HORIZON"},
    },
    "AddTagsToStream": {"StreamName": "s", "Tags": {"k3": "v"}},
    "RemoveTagsFromStream": {"StreamName": "s", "TagKeys": ["k2"]},
    "ListTagsForStream": {"StreamName": "s"},
}
HOSTILE: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    -(2**70),
    1.5,
    math.nan,
    -math.inf,
    "",
    "\x00",
    "\ud800",
    "é",
    "x" * 600,
    b"",
    b"\xff",
    bytearray(b"x"),
    memoryview(b"x"),
    [],
    [None],
    ["x"],
    {},
    {"Type": "LATEST"},
    {"Bogus": 1},
    datetime.min,
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
    datetime(2025, 1, 1),
    Ref("it:1", "tamper"),
    Ref("tok:shards"),
    Ref("seq:1a", "flip"),
    Ref("carn:c", "x"),
    Gen([{"Data": b"g", "PartitionKey": "g"}]),
]


@pytest.mark.parametrize("operation", sorted(BASE))
async def test_every_parameter_of_every_operation_meets_every_hostile_value(operation):
    names = [n for n in OPERATION_PARAMS[operation] if n != STREAM]
    if STREAM in OPERATION_PARAMS[operation]:
        names += ["StreamName", "StreamARN"]
    async with Broker.open(seed=5, enforce_throughput=False) as broker:
        refs = await _setup(broker)
        outcome, state = await attempt(broker, operation, resolve(BASE[operation], refs), refs)
        assert outcome == "ok"
        for name in [*names, "Bogus"]:
            for bad in HOSTILE:
                params = {**BASE[operation], name: bad}
                _, state = await attempt(
                    broker, operation, resolve(params, refs), refs, before=state
                )


# --------------------------------------------------------------------------- the nastiest cases
@pytest.fixture
async def seeded():
    """The fuzz's seeded account (throughput not enforced): (broker, refs)."""
    async with Broker.open(seed=5, enforce_throughput=False) as broker:
        yield broker, await _setup(broker)


async def call(broker: Broker, operation: str, **params: Any) -> dict[str, Any]:
    return await broker.call("kinesis", operation, params)


async def rejected(
    broker: Broker, code: str, operation: str, params: Mapping[Any, Any] | None = None, **kw: Any
) -> BrokerError:
    """The request (``params`` and/or keywords) fails with ``code`` and changes nothing a client
    can see."""
    before = await observe(broker)
    with pytest.raises(BrokerError) as info:
        await broker.call("kinesis", operation, {**(params or {}), **kw})
    assert info.value.code == code, repr(info.value)
    assert await observe(broker) == before
    return info.value


def retoken(token: str, field: int, new: str) -> str:
    """``token`` with one field of its body replaced: valid base64, a well-formed body, the old
    checksum."""
    parts = base64.b64decode(token, validate=True).decode().split("|")
    parts[field] = new
    return base64.b64encode("|".join(parts).encode()).decode()


async def read_from(broker: Broker, iterator: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while iterator:
        r = await call(broker, "GetRecords", ShardIterator=iterator)
        out += r["Records"]
        iterator = r.get("NextShardIterator") if r["Records"] else None
    return out


async def records_of(broker: Broker, shard: str, name: str = "s") -> list[dict[str, Any]]:
    r = await call(
        broker, "GetShardIterator", StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    return await read_from(broker, r["ShardIterator"])


NEXT_TOKENS = [
    ("ListShards", "tok:shards", {}),
    ("ListStreams", "tok:streams", {}),
    ("ListStreamConsumers", "tok:consumers", {"StreamARN": ARN_S}),
]


@pytest.mark.parametrize(("operation", "ref", "extra"), NEXT_TOKENS)
async def test_a_tampered_next_token_is_invalid_argument(seeded, operation, ref, extra):
    broker, refs = seeded
    token = refs[ref]
    assert await call(broker, operation, NextToken=token, **extra)  # as issued, it works
    forged = [  # valid base64 of a body of the right shape, and a stale checksum
        twist(token, "flip"),
        twist(token, "tamper"),  # the time of issue
        retoken(token, 1, "zzz"),  # where the next page starts
        retoken(token, 0, "it"),  # another kind of token
        base64.b64encode(base64.b64decode(token)[:-1]).decode(),
        refs["it:1"],  # an iterator is no NextToken
    ]
    for bad in forged:
        assert base64.b64decode(bad, validate=True)
    for bad in [*forged, twist(token, "cut"), twist(token, "x"), token + "\n", "é"]:
        err = await rejected(broker, "InvalidArgumentException", operation, NextToken=bad, **extra)
        assert "NextToken" in err.message
    await trio.sleep(301)
    await rejected(broker, "ExpiredNextTokenException", operation, NextToken=token, **extra)


async def test_a_tampered_shard_iterator_is_invalid_argument(seeded):
    broker, refs = seeded
    it = refs["it:1"]
    assert [r["Data"] for r in await read_from(broker, it)] == [b"b"]
    for bad in [
        twist(it, "flip"),
        twist(it, "tamper"),
        twist(it, "cut"),
        retoken(it, 3, "1"),  # the position
        retoken(it, 2, "0"),  # the shard
        retoken(it, 1, "2"),  # the stream
        retoken(it, 4, "9" * 30),  # issued in the far future: never expires
        refs["tok:shards"],
        base64.b64encode(b"it|1|1|0|0").decode(),
        "=" * 8,
    ]:
        await rejected(broker, "InvalidArgumentException", "GetRecords", ShardIterator=bad)
    await rejected(broker, "ValidationException", "GetRecords", ShardIterator="")
    await rejected(broker, "ValidationException", "GetRecords", ShardIterator=it + "A" * 512)
    await rejected(broker, "ValidationException", "GetRecords", ShardIterator=it.encode())
    await rejected(
        broker, "InvalidArgumentException", "GetRecords", ShardIterator=it, StreamARN=arn("od")
    )
    await rejected(broker, "ResourceNotFoundException", "GetRecords", ShardIterator=refs["it:gone"])
    await trio.sleep(301)
    await rejected(broker, "ExpiredIteratorException", "GetRecords", ShardIterator=it)


ABSURD_YEARS = [
    (datetime.min, "first"),
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), "first"),
    (datetime(1, 1, 1, tzinfo=UTC), "first"),
    (-62135596800, "first"),  # 0001-01-01 in Unix seconds
    (0, "first"),
    (datetime.max, "none"),
    (datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))), "none"),
    (253402300799.0, "none"),  # 9999-12-31T23:59:59Z
]


@pytest.mark.parametrize(("when", "expect"), ABSURD_YEARS)
async def test_at_timestamp_of_an_absurd_year_is_the_trim_horizon_or_the_tip(seeded, when, expect):
    broker, refs = seeded
    r = await call(
        broker,
        "GetShardIterator",
        StreamName="s",
        ShardId=SHARD[0],
        ShardIteratorType="AT_TIMESTAMP",
        Timestamp=when,
    )
    got = [x["Data"] for x in await read_from(broker, r["ShardIterator"])]
    assert got == ([b"a", b"\x00\xff"] if expect == "first" else [])
    filtered = await call(
        broker,
        "ListShards",
        StreamName="s",
        ShardFilter={"Type": "AT_TIMESTAMP", "Timestamp": when},
    )
    open_then = [SHARD[0], SHARD[1]] if expect == "first" else SHARD[1:4]
    assert [s["ShardId"] for s in filtered["Shards"]] == open_then
    consumer = await call(
        broker,
        "SubscribeToShard",
        ConsumerARN=refs["carn:c"],
        ShardId=SHARD[0],
        StartingPosition={"Type": "AT_TIMESTAMP", "Timestamp": when},
    )
    async with consumer["EventStream"] as events:
        first = await events.__anext__()
    assert [x["Data"] for x in first["SubscribeToShardEvent"]["Records"]] == got


@pytest.mark.parametrize(
    "when", [math.nan, math.inf, -math.inf, 1e20, -1e20, 2**70, True, "2025-01-01", b"0", [0]]
)
async def test_a_timestamp_that_is_no_time_is_a_validation_error(seeded, when):
    broker, _ = seeded
    await rejected(
        broker,
        "ValidationException",
        "GetShardIterator",
        StreamName="s",
        ShardId=SHARD[0],
        ShardIteratorType="AT_TIMESTAMP",
        Timestamp=when,
    )
    await rejected(
        broker,
        "ValidationException",
        "ListShards",
        StreamName="s",
        ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": when},
    )


async def test_records_may_be_a_list_or_tuple_and_one_bad_record_writes_none(seeded):
    broker, _ = seeded
    entries = [
        {"Data": f"r{i}".encode(), "PartitionKey": "k", "ExplicitHashKey": H1} for i in range(3)
    ]
    r = await call(broker, "PutRecords", StreamName="s", Records=entries)
    assert r["FailedRecordCount"] == 0 and len(r["Records"]) == 3
    r = await call(broker, "PutRecords", StreamName="s", Records=tuple(entries[:1]))
    assert r["FailedRecordCount"] == 0
    written = [x["Data"] for x in await records_of(broker, SHARD[1])]
    assert written == [b"b", b"r0", b"r1", b"r2", b"r0"]
    poisoned = [*entries, {"Data": b"x", "PartitionKey": ""}, *entries]
    err = await rejected(
        broker, "ValidationException", "PutRecords", StreamName="s", Records=poisoned
    )
    assert "records.4.member.partitionKey" in err.message
    # Any other iterable is refused as boto3 refuses it (botocore takes a list or a tuple).
    err = await rejected(
        broker, "ValidationException", "PutRecords", StreamName="s", Records=iter(entries)
    )
    assert err.message.startswith("Invalid type for parameter Records, value: <list_iterator")
    assert err.message.endswith("valid types: <class 'list'>, <class 'tuple'>")
    for records in [
        "abc",
        b"abc",
        bytearray(b"ab"),  # iterable, of ints
        {"Data": b"x", "PartitionKey": "k"},
        5,
        None,
        iter([]),
        [],
    ]:
        await rejected(broker, "ValidationException", "PutRecords", StreamName="s", Records=records)


@pytest.mark.parametrize(
    ("data", "stored"),
    [
        (b"bytes", b"bytes"),
        (bytearray(b"array"), b"array"),
        ("é text", "é text".encode()),
        ("", b""),
    ],
)
async def test_data_may_be_bytes_bytearray_or_str(seeded, data, stored):
    broker, _ = seeded
    await call(broker, "PutRecord", StreamName="s", Data=data, PartitionKey="k", ExplicitHashKey=H1)
    await call(
        broker,
        "PutRecords",
        StreamName="s",
        Records=[{"Data": data, "PartitionKey": "k", "ExplicitHashKey": H1}],
    )
    assert [r["Data"] for r in await records_of(broker, SHARD[1])] == [b"b", stored, stored]
    assert all(type(r["Data"]) is bytes for r in await records_of(broker, SHARD[1]))


@pytest.mark.parametrize(
    "data",
    [
        memoryview(b"view"),
        memoryview(b"-s-l-i-c-e-")[1::2],
        memoryview(bytearray(b"\x01\x00\x02\x00")).cast("H"),
    ],
    ids=["view", "slice", "cast"],
)
async def test_a_memoryview_as_data_is_refused_as_boto3_refuses_it(seeded, data):
    """botocore takes bytes, bytearray, str or a file-like object for a blob, not a memoryview;
    nothing is written."""
    broker, _ = seeded
    err = await rejected(
        broker, "ValidationException", "PutRecord", StreamName="s", Data=data, PartitionKey="k"
    )
    assert err.message.startswith("Invalid type for parameter Data, value: <memory at ")
    assert err.message.endswith(
        "type: <class 'memoryview'>, valid types: <class 'bytes'>, <class 'bytearray'>, "
        "file-like object"
    )
    err = await rejected(
        broker,
        "ValidationException",
        "PutRecords",
        StreamName="s",
        Records=[{"Data": b"ok", "PartitionKey": "k"}, {"Data": data, "PartitionKey": "k"}],
    )
    assert err.message.startswith("Invalid type for parameter Records[1].Data, value: <memory")


async def test_a_non_ascii_partition_key_counts_in_utf8_bytes_against_the_record_limit(seeded):
    broker, _ = seeded
    data = b"x" * (MIB - 256)
    for key in ["a" * 256, "é" * 128, "日" * 85]:  # 256, 256 and 255 bytes: 1 MiB at most
        await call(broker, "PutRecord", StreamName="s", Data=data, PartitionKey=key)
        await call(
            broker, "PutRecords", StreamName="s", Records=[{"Data": data, "PartitionKey": key}]
        )
    for key in ["é" * 129, "é" * 256, "日" * 86, "😀" * 65]:  # 258, 512, 258 and 260 bytes
        err = await rejected(
            broker,
            "InvalidArgumentException",
            "PutRecord",
            StreamName="s",
            Data=data,
            PartitionKey=key,
        )
        assert str(MIB - 256 + len(key.encode())) in err.message
        await rejected(
            broker,
            "InvalidArgumentException",
            "PutRecords",
            StreamName="s",
            Records=[{"Data": b"", "PartitionKey": "k"}, {"Data": data, "PartitionKey": key}],
        )
    # A str Data counts in UTF-8 too.
    await rejected(
        broker,
        "InvalidArgumentException",
        "PutRecord",
        StreamName="s",
        Data="é" * (MIB // 2),
        PartitionKey="k",
    )
    # Partition keys are at most 256 characters, whatever their bytes.
    await rejected(
        broker, "ValidationException", "PutRecord", StreamName="s", Data=b"", PartitionKey="é" * 257
    )


# --------------------------------------------------------------------------- known bugs
@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("GetShardIterator", {"StreamName": "s", "ShardId": SHARD[1], "ShardIteratorType": []}),
        ("ListShards", {"StreamName": "s", "ShardFilter": {"Type": {}}}),
        (
            "SubscribeToShard",
            {
                "ConsumerARN": Ref("carn:c"),
                "ShardId": SHARD[1],
                "StartingPosition": {"Type": ["LATEST"]},
            },
        ),
    ],
)
async def test_an_unhashable_enum_value_is_a_validation_error(seeded, operation, params):
    broker, refs = seeded
    await rejected(broker, "ValidationException", operation, **resolve(params, refs))


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("PutRecord", {"Data": "\ud800", "PartitionKey": "k"}),
        ("PutRecord", {"Data": b"", "PartitionKey": "k\ud800"}),
        ("PutRecords", {"Records": [{"Data": b"", "PartitionKey": "\udfff"}]}),
    ],
)
async def test_a_lone_surrogate_in_data_or_partition_key_is_a_validation_error(
    seeded, operation, params
):
    broker, _ = seeded
    await rejected(broker, "ValidationException", operation, StreamName="s", **params)


@pytest.mark.parametrize(
    "when",
    [datetime.max.replace(tzinfo=UTC), datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))],
)
async def test_list_shards_next_token_of_a_filter_at_year_1_or_9999(seeded, when):
    broker, _ = seeded
    spec = {"Type": "FROM_TIMESTAMP", "Timestamp": when}
    first = await call(broker, "ListShards", StreamName="s", ShardFilter=spec, MaxResults=1)
    try:
        second = await call(broker, "ListShards", NextToken=first["NextToken"])
    except BrokerError as err:
        pytest.fail(f"the second page failed: {err!r}")
    assert [s["ShardId"] for s in first["Shards"] + second["Shards"]] == [
        s["ShardId"]
        for s in (await call(broker, "ListShards", StreamName="s", ShardFilter=spec))["Shards"]
    ]


BIG = 10**5000  # more digits than int.__str__ will print (sys.get_int_max_str_digits())


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("CreateStream", {"StreamName": "n1", "ShardCount": BIG}),
        ("DescribeStream", {"StreamName": "s", "Limit": -BIG}),
        ("PutRecords", {"StreamName": "s", "Records": [BIG]}),
        (
            "GetShardIterator",
            {
                "StreamName": "s",
                "ShardId": SHARD[1],
                "ShardIteratorType": "AT_TIMESTAMP",
                "Timestamp": BIG,
            },
        ),
        ("DescribeStream", {"StreamName": "s", BIG: 1}),
    ],
)
async def test_an_int_too_long_to_print_is_a_validation_error(seeded, operation, params):
    broker, _ = seeded
    await rejected(broker, "ValidationException", operation, params)


async def test_records_are_not_drawn_from_an_iterable_past_the_limit(seeded):
    broker, _ = seeded
    drawn = 0

    def endless():
        nonlocal drawn
        while True:
            drawn += 1
            if drawn > 10_000:  # stands in for forever
                raise RuntimeError("PutRecords kept drawing records")
            yield {"Data": b"", "PartitionKey": "k"}

    await rejected(broker, "ValidationException", "PutRecords", StreamName="s", Records=endless())
    assert drawn <= 501


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("PutRecord", {"Data": b"", "PartitionKey": "k", "ExplicitHashKey": "1\u0661"}),
        ("PutRecord", {"Data": b"", "PartitionKey": "k", "SequenceNumberForOrdering": "4\u0669"}),
        (
            "SplitShard",
            {"ShardToSplit": SHARD[1], "NewStartingHashKey": "2" + "\u0660" * 38},
        ),
    ],
)
async def test_non_ascii_digits_are_no_number(seeded, operation, params):
    broker, _ = seeded
    await rejected(broker, "ValidationException", operation, StreamName="s", **params)
