"""Event source mappings from Kinesis data streams to functions, through the boto3-shaped client on
the virtual clock: the Kinesis event a handler receives, starting positions, batching, in-order
retries, OnFailure records, bisecting, partial batch responses, tumbling windows, parallelization,
resharding, filtering, the iterator age, disabling and deleting, and the Kinesis-only settings'
validation.

Each test states the AWS behaviour it checks (AWS Lambda developer guide, "Using Lambda with
Kinesis Data Streams" and its pages on parameters, discarded records, partial batch responses,
stateful processing and event filtering; the CreateEventSourceMapping reference). Every test names
``autojump_clock`` itself (see tests/sqs/test_batch.py). The sans-IO core
(``KinesisShardSource``) has its own unit tests in test_kinesis_source.py; these tests go through
the broker: the shard reader, the stream, the function runner and the OnFailure delivery.

Most tests write their records before creating the mapping (TRIM_HORIZON): the reader then finds
them on its first reads; others write once the mapping has caught up (polled about once a
second, as Lambda does).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from itertools import pairwise

import pytest
import trio
from lambda_helpers import drain, function_arn, make_queue

from msgsim.broker import BrokerError

REGION = "us-east-1"
ACCOUNT = "000000000000"
EPOCH = 1_735_689_600.0  # the broker's Unix time at clock 0 (2025-01-01T00:00:00Z)
STREAM = "s"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{STREAM}"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# --- fixtures and helpers -------------------------------------------------------------------------
# Everything runs on ``fbroker`` (Kinesis throughput limits off): ``kin`` comes from conftest, the
# Lambda and SQS clients below talk to the same broker.


@pytest.fixture
def lam(faws):
    return faws.client("lambda")


@pytest.fixture
def sqs(faws):
    return faws.client("sqs")


def data_of(record: dict) -> str:
    return base64.b64decode(record["kinesis"]["data"]).decode()


class Recorder:
    """An (async) handler recording each invocation: start, end, event and request id.

    ``delay`` seconds of sleep make it slow; ``behaviour(event, n)`` (n counts invocations from
    1) answers, or raises to fail the invocation.
    """

    def __init__(self, behaviour=None, delay: float = 0.0):
        self.behaviour = behaviour
        self.delay = delay
        self.calls: list[dict] = []

    async def __call__(self, event, context):
        call = {
            "start": trio.current_time(),
            "end": None,
            "event": event,
            "request_id": context.aws_request_id,
        }
        self.calls.append(call)
        n = len(self.calls)
        if self.delay:
            await trio.sleep(self.delay)
        call["end"] = trio.current_time()
        if self.behaviour is not None:
            return self.behaviour(event, n)
        return None

    @property
    def batches(self) -> list[list[str]]:
        """The data of each invocation's records, as text."""
        return [[data_of(r) for r in c["event"]["Records"]] for c in self.calls]

    @property
    def flat(self) -> list[str]:
        return [d for batch in self.batches for d in batch]

    @property
    def starts(self) -> list[float]:
        return [c["start"] for c in self.calls]


def fail(event, n):
    raise RuntimeError("batch failed")


async def setup(lam, kin, handler, *, shards: int = 1, timeout: int = 30, **fn_kwargs) -> None:
    """A stream ``s`` (ACTIVE) and a function ``f``; the clock is then at 1.0."""
    await kin.create_stream(StreamName=STREAM, ShardCount=shards)
    await trio.sleep(1)  # CREATING -> ACTIVE
    await lam.create_function(FunctionName="f", Handler=handler, Timeout=timeout, **fn_kwargs)


async def put(kin, *datas: str, key: str = "k") -> list[dict]:
    """PutRecord each datum in turn (same partition key: one shard, in order)."""
    return [
        await kin.put_record(StreamName=STREAM, Data=d.encode(), PartitionKey=key) for d in datas
    ]


async def create_mapping(lam, **params) -> dict:
    params.setdefault("StartingPosition", "TRIM_HORIZON")
    return await lam.create_event_source_mapping(
        EventSourceArn=STREAM_ARN, FunctionName="f", **params
    )


async def error_code(call, **params) -> str:
    with pytest.raises(BrokerError) as e:
        await call(**params)
    return e.value.code


async def on_failure_records(sqs, url: str) -> list[dict]:
    return [json.loads(m["Body"]) for m in await drain(sqs, url)]


async def mapping_metrics(lam) -> dict:
    return (await lam.get_function_metrics(FunctionName="f"))["EventSourceMappings"][0]


def iso_ms(clock: float) -> str:
    """How destination records write a time: 2025-01-01T00:00:01.500Z."""
    ms = round((EPOCH + clock) * 1000)
    stamp = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z"


# --- the Kinesis event ----------------------------------------------------------------------------


async def test_kinesis_event_has_the_aws_record_shape(autojump_clock, lam, kin, fbroker):
    """AWS: the event is {"Records": [...]}; each record is {kinesis: {kinesisSchemaVersion "1.0",
    partitionKey, sequenceNumber, data (base64), approximateArrivalTimestamp (Unix seconds, a
    number)}, eventSource "aws:kinesis", eventVersion "1.0", eventID "<shard id>:<sequence
    number>", eventName "aws:kinesis:record", invokeIdentityArn, awsRegion, eventSourceARN}."""
    rec = Recorder()
    await setup(lam, kin, rec)
    first = await kin.put_record(
        StreamName=STREAM, Data=b"Hello, this is a test.", PartitionKey="1"
    )
    await trio.sleep(0.25)
    second = await kin.put_record(StreamName=STREAM, Data=b"\x00\xff\x10", PartitionKey="key-2")
    await trio.sleep(2)
    await create_mapping(lam)
    await fbroker.settle()
    assert len(rec.calls) == 1
    event = rec.calls[0]["event"]
    assert set(event) == {"Records"}
    records = event["Records"]
    assert len(records) == 2
    for record, sent, key, data, arrival in (
        (records[0], first, "1", b"Hello, this is a test.", 1.0),
        (records[1], second, "key-2", b"\x00\xff\x10", 1.25),
    ):
        identity = record.pop("invokeIdentityArn")
        assert isinstance(identity, str) and identity.startswith(f"arn:aws:iam::{ACCOUNT}:role/")
        assert record == {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": key,
                "sequenceNumber": sent["SequenceNumber"],
                "data": base64.b64encode(data).decode(),
                "approximateArrivalTimestamp": EPOCH + arrival,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{sent['ShardId']}:{sent['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "awsRegion": REGION,
            "eventSourceARN": STREAM_ARN,
        }
        assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)


async def test_invoke_identity_arn_is_the_functions_execution_role(
    autojump_clock, lam, kin, fbroker
):
    """AWS: a Kinesis record's invokeIdentityArn is the ARN of the function's execution role
    (the developer guide's example: arn:aws:iam::123456789012:role/lambda-role)."""
    rec = Recorder()
    role = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
    await setup(lam, kin, rec, Role=role)
    await put(kin, "x")
    await create_mapping(lam)
    await fbroker.settle()
    assert rec.calls[0]["event"]["Records"][0]["invokeIdentityArn"] == role


# --- starting positions ---------------------------------------------------------------------------


async def test_trim_horizon_delivers_the_records_already_in_the_stream(
    autojump_clock, lam, kin, fbroker
):
    """AWS: StartingPosition TRIM_HORIZON starts with the oldest record in the shard: records
    written before the mapping existed are delivered, in order."""
    rec = Recorder()
    await setup(lam, kin, rec)
    await put(kin, *(f"r{i}" for i in range(5)))
    await trio.sleep(30)
    await create_mapping(lam)
    await fbroker.settle()
    assert rec.batches == [["r0", "r1", "r2", "r3", "r4"]]
    await trio.sleep(60)
    assert len(rec.calls) == 1  # a successful batch is not delivered again


async def test_caught_up_mapping_delivers_new_records_within_about_a_second(
    autojump_clock, lam, kin, fbroker
):
    """AWS: "Lambda polls each shard in your Kinesis stream for records at a base rate of once
    per second": a record written to a caught-up mapping's stream reaches the function about a
    second later at the latest."""
    rec = Recorder()
    await setup(lam, kin, rec)
    await create_mapping(lam)
    await fbroker.settle()
    await trio.sleep(10)
    written_at = trio.current_time()
    await put(kin, "later")
    await trio.sleep(1.5)
    await fbroker.settle()
    assert rec.batches == [["later"]]
    assert rec.starts[0] <= written_at + 1.0


async def test_latest_delivers_only_records_written_after_the_mapping(
    autojump_clock, lam, kin, fbroker
):
    """AWS: StartingPosition LATEST starts just after the most recent record: records already in
    the stream are not delivered, records written afterwards are."""
    rec = Recorder()
    await setup(lam, kin, rec)
    await put(kin, "old-1", "old-2")
    await create_mapping(lam, StartingPosition="LATEST")
    await fbroker.settle()
    await trio.sleep(5)
    await put(kin, "new-1", "new-2")
    await trio.sleep(1.5)
    await fbroker.settle()
    assert rec.flat == ["new-1", "new-2"]


async def test_at_timestamp_starts_at_the_first_record_at_or_after_the_timestamp(
    autojump_clock, lam, kin, fbroker
):
    """AWS: StartingPosition AT_TIMESTAMP with StartingPositionTimestamp (Unix seconds) starts
    reading at the first record that arrived at or after that time."""
    rec = Recorder()
    await setup(lam, kin, rec)
    for i in range(4):  # arrivals at clock 1, 2, 3, 4
        await put(kin, f"r{i}")
        await trio.sleep(1)
    m = await create_mapping(
        lam,
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=datetime.fromtimestamp(EPOCH + 2, UTC),
    )
    assert m["StartingPosition"] == "AT_TIMESTAMP"
    await fbroker.settle()
    assert rec.flat == ["r1", "r2", "r3"]


# --- batching -------------------------------------------------------------------------------------


async def test_batch_size_caps_the_records_of_each_invocation(autojump_clock, lam, kin, fbroker):
    """AWS: BatchSize is the most records Lambda sends in one invocation; the shard's records go
    in order, batch after batch."""
    rec = Recorder()
    await setup(lam, kin, rec)
    data = [f"r{i}" for i in range(25)]
    await kin.put_records(
        StreamName=STREAM, Records=[{"Data": d.encode(), "PartitionKey": "k"} for d in data]
    )
    await create_mapping(lam, BatchSize=10)
    await fbroker.settle()
    assert [len(b) for b in rec.batches] == [10, 10, 5]
    assert rec.flat == data


async def test_batching_window_gathers_records_until_it_ends(autojump_clock, lam, kin, fbroker):
    """AWS: with MaximumBatchingWindowInSeconds, Lambda gathers records for up to that long
    before invoking the function: records written while the window is open join the batch, and
    the batch is invoked when the window ends (it is not full)."""
    rec = Recorder()
    await setup(lam, kin, rec)
    await put(kin, "r0")
    start = trio.current_time()
    await create_mapping(lam, BatchSize=100, MaximumBatchingWindowInSeconds=5)
    await fbroker.settle()
    await trio.sleep(2)
    await put(kin, "r1")
    await trio.sleep(2)
    await put(kin, "r2")
    await trio.sleep(0.9)
    assert rec.calls == []  # 4.9 s into the window
    await trio.sleep(1)
    await fbroker.settle()
    assert rec.batches == [["r0", "r1", "r2"]]
    assert rec.starts == [start + 5]


async def test_a_full_batch_does_not_wait_for_the_batching_window(
    autojump_clock, lam, kin, fbroker
):
    """AWS: Lambda invokes the function when the batch is full (BatchSize) even if the batching
    window has not ended."""
    rec = Recorder()
    await setup(lam, kin, rec)
    await put(kin, "a", "b", "c", "d")
    start = trio.current_time()
    await create_mapping(lam, BatchSize=3, MaximumBatchingWindowInSeconds=60)
    await fbroker.settle()
    assert rec.batches == [["a", "b", "c"]]
    assert rec.starts == [start]
    await trio.sleep(61)
    await fbroker.settle()
    assert rec.batches == [["a", "b", "c"], ["d"]]
    assert rec.starts[1] == start + 60


# --- errors, retries, OnFailure -------------------------------------------------------------------


async def test_a_failing_batch_blocks_its_shard_and_is_retried_until_it_succeeds(
    autojump_clock, lam, kin, fbroker
):
    """AWS: Lambda processes a shard's records in order; when the function returns an error it
    retries the whole batch (MaximumRetryAttempts -1 by default: until it succeeds or the records
    expire), and no later record of the shard is delivered until it succeeds."""

    def behaviour(event, n):
        if n <= 3:
            raise RuntimeError(f"attempt {n} fails")

    rec = Recorder(behaviour)
    await setup(lam, kin, rec)
    await put(kin, *(f"r{i}" for i in range(6)))
    await create_mapping(lam, BatchSize=2)
    await trio.sleep(60)
    await fbroker.settle()
    assert rec.batches == [["r0", "r1"]] * 4 + [["r2", "r3"], ["r4", "r5"]]
    starts = rec.starts
    assert all(a < b for a, b in pairwise(starts[:4]))  # each retry comes later
    metrics = await mapping_metrics(lam)
    assert (metrics["Batches"], metrics["FailedBatches"]) == (6, 3)


async def test_retry_attempts_exhausted_sends_batch_info_to_on_failure_and_moves_on(
    autojump_clock, lam, kin, sqs, fbroker
):
    """AWS: after MaximumRetryAttempts retries the batch is discarded; the OnFailure destination
    (an SQS queue) gets a JSON record with requestContext {requestId, functionArn, condition
    RetryAttemptsExhausted, approximateInvokeCount}, responseContext {statusCode,
    executedVersion, functionError}, version "1.0", timestamp and KinesisBatchInfo {shardId,
    startSequenceNumber, endSequenceNumber, approximateArrivalOfFirstRecord,
    approximateArrivalOfLastRecord, batchSize, streamArn} -- not the data. The shard then goes on
    with its next records."""

    def behaviour(event, n):
        if data_of(event["Records"][0]) == "bad":
            raise RuntimeError("cannot process")

    rec = Recorder(behaviour)
    await setup(lam, kin, rec)
    url, queue_arn = await make_queue(sqs, "failures")
    sent = await put(kin, "bad")
    await trio.sleep(0.5)
    sent += await put(kin, "also-bad")
    await trio.sleep(0.5)
    await put(kin, "good-1", "good-2")
    m = await create_mapping(
        lam,
        BatchSize=2,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    assert m["DestinationConfig"] == {"OnFailure": {"Destination": queue_arn}}
    assert m["MaximumRetryAttempts"] == 2
    await trio.sleep(60)
    await fbroker.settle()
    assert rec.batches == [["bad", "also-bad"]] * 3 + [["good-1", "good-2"]]
    [record] = await on_failure_records(sqs, url)
    failed_ids = {c["request_id"] for c in rec.calls[:3]}
    assert record["requestContext"]["requestId"] in failed_ids
    record["requestContext"]["requestId"] = "-"
    assert ISO_MS.match(record.pop("timestamp"))
    assert record == {
        "requestContext": {
            "requestId": "-",
            "functionArn": function_arn("f"),
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "KinesisBatchInfo": {
            "shardId": sent[0]["ShardId"],
            "startSequenceNumber": sent[0]["SequenceNumber"],
            "endSequenceNumber": sent[1]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso_ms(1.0),
            "approximateArrivalOfLastRecord": iso_ms(1.5),
            "batchSize": 2,
            "streamArn": STREAM_ARN,
        },
    }


async def test_records_older_than_maximum_record_age_are_skipped_and_reported(
    autojump_clock, lam, kin, sqs, fbroker
):
    """AWS: MaximumRecordAgeInSeconds is the maximum age of a record Lambda sends to the
    function: older records are discarded without invoking it, and the OnFailure destination gets
    their batch info (condition RecordAgeExceeded); newer records are processed."""
    rec = Recorder()
    await setup(lam, kin, rec)
    url, queue_arn = await make_queue(sqs, "failures")
    old = await put(kin, "old-1", "old-2")
    await trio.sleep(99)  # clock 100: the old records are 99 s old
    await put(kin, "fresh")
    await create_mapping(
        lam,
        MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    await trio.sleep(5)
    await fbroker.settle()
    assert rec.flat == ["fresh"]
    [record] = await on_failure_records(sqs, url)
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    info = record["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == old[0]["SequenceNumber"]
    assert info["endSequenceNumber"] == old[1]["SequenceNumber"]
    assert info["batchSize"] == 2
    assert info["streamArn"] == STREAM_ARN


async def test_bisect_on_function_error_isolates_a_poison_record(
    autojump_clock, lam, kin, sqs, fbroker
):
    """AWS: with BisectBatchOnFunctionError a failed batch is split in two and each half retried
    (splitting uses no retry attempt), so a bad record ends alone in a batch: it alone is
    discarded (to OnFailure once its retries are used) and every other record is processed, in
    order."""

    def behaviour(event, n):
        if any(data_of(r) == "poison" for r in event["Records"]):
            raise ValueError("poison record")

    rec = Recorder(behaviour)
    await setup(lam, kin, rec)
    url, queue_arn = await make_queue(sqs, "failures")
    data = ["r0", "r1", "r2", "r3", "r4", "poison", "r6", "r7"]
    sent = await put(kin, *data)
    await create_mapping(
        lam,
        BatchSize=8,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    await trio.sleep(120)
    await fbroker.settle()
    batches = rec.batches
    assert batches[0] == data
    assert all(len(b) < 8 for b in batches[1:])
    assert ["poison"] in batches
    succeeded = [d for b in batches if "poison" not in b for d in b]
    assert succeeded == [d for d in data if d != "poison"]
    [record] = await on_failure_records(sqs, url)
    info = record["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sent[5]["SequenceNumber"]


async def test_report_batch_item_failures_retries_from_the_failed_sequence_number(
    autojump_clock, lam, kin, fbroker
):
    """AWS: with FunctionResponseTypes ReportBatchItemFailures the function returns
    {"batchItemFailures": [{"itemIdentifier": <sequence number>}]}; Lambda checkpoints before
    that record and retries from it: the records before it are not delivered again."""
    seqs: list[str] = []

    def behaviour(event, n):
        if n == 1:
            return {"batchItemFailures": [{"itemIdentifier": seqs[2]}]}
        return {"batchItemFailures": []}

    rec = Recorder(behaviour)
    await setup(lam, kin, rec)
    seqs += [r["SequenceNumber"] for r in await put(kin, *(f"r{i}" for i in range(5)))]
    m = await create_mapping(lam, BatchSize=5, FunctionResponseTypes=["ReportBatchItemFailures"])
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    await trio.sleep(30)
    await fbroker.settle()
    assert rec.batches == [["r0", "r1", "r2", "r3", "r4"], ["r2", "r3", "r4"]]


# --- tumbling windows -----------------------------------------------------------------------------


def counting(event, n):
    """A tumbling-window handler: counts the window's records in its state."""
    return {"state": {"count": event["state"].get("count", 0) + len(event["Records"])}}


async def test_tumbling_window_passes_the_state_to_the_next_invocation_of_the_window(
    autojump_clock, lam, kin, fbroker
):
    """AWS: with TumblingWindowInSeconds, records are grouped by arrival into windows; each
    invocation gets the window {start, end}, the state the previous invocation of the window
    returned ({} for a new window), shardId, eventSourceARN, isFinalInvokeForWindow and
    isWindowTerminatedEarly; exactly one invocation of a window is its final one, the last."""
    rec = Recorder(counting)
    await setup(lam, kin, rec)
    sent = await put(kin, "w0-a")  # arrival clock 1: window [0, 30)
    await trio.sleep(1)
    await put(kin, "w0-b", "w0-c")  # clock 2
    await trio.sleep(29)
    await put(kin, "w1-a")  # clock 31: window [30, 60)
    m = await create_mapping(lam, BatchSize=1, TumblingWindowInSeconds=30)
    assert m["TumblingWindowInSeconds"] == 30
    await fbroker.settle()
    events = [c["event"] for c in rec.calls]
    window0 = {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T00:00:30Z"}
    window1 = {"start": "2025-01-01T00:00:30Z", "end": "2025-01-01T00:01:00Z"}
    first = [e for e in events if e["window"] == window0]
    assert [data_of(r) for e in first for r in e["Records"]] == ["w0-a", "w0-b", "w0-c"]
    for e in events:
        assert e["shardId"] == sent[0]["ShardId"]
        assert e["eventSourceARN"] == STREAM_ARN
        assert e["isWindowTerminatedEarly"] is False
    # The state handed on within the window: {} first, then what the previous call returned.
    expected_state: dict = {}
    for e in first:
        assert e["state"] == expected_state
        expected_state = counting(e, 0)["state"]
    assert [e["isFinalInvokeForWindow"] for e in first].count(True) == 1
    assert first[-1]["isFinalInvokeForWindow"] is True
    # The next window starts from an empty state, after every invocation of the first.
    second = [e for e in events if e["window"] == window1]
    assert events[: len(first)] == first
    assert second and second[0]["state"] == {}
    assert [data_of(r) for r in second[0]["Records"]] == ["w1-a"]


async def test_tumbling_window_gets_a_final_invocation_when_it_ends(
    autojump_clock, lam, kin, fbroker
):
    """AWS: at the end of a tumbling window Lambda invokes the function with
    isFinalInvokeForWindow true and the window's state, even when no record of a later window
    has arrived."""
    rec = Recorder(counting)
    await setup(lam, kin, rec)
    await put(kin, "a", "b")  # clock 1: window [0, 30)
    await create_mapping(lam, TumblingWindowInSeconds=30)
    await fbroker.settle()
    await trio.sleep(35)
    await fbroker.settle()
    finals = [c["event"] for c in rec.calls if c["event"]["isFinalInvokeForWindow"]]
    assert len(finals) == 1
    assert finals[0]["window"]["end"] == "2025-01-01T00:00:30Z"
    records = [c["event"]["Records"] for c in rec.calls]
    assert sum(len(r) for r in records) == 2


# --- parallelization ------------------------------------------------------------------------------


async def test_parallelization_factor_runs_batches_of_one_shard_concurrently_in_key_order(
    autojump_clock, lam, kin, fbroker
):
    """AWS: ParallelizationFactor (up to 10) processes several batches of one shard at once
    while keeping records of a partition key in order: a key's records are delivered in order
    and never in two batches at the same time."""
    rec = Recorder(delay=1.0)
    await setup(lam, kin, rec)
    keys = [f"k{i}" for i in range(8)]
    await kin.put_records(
        StreamName=STREAM,
        Records=[
            {"Data": f"{key}#{n}".encode(), "PartitionKey": key} for n in range(3) for key in keys
        ],
    )
    await create_mapping(lam, BatchSize=2, ParallelizationFactor=4)
    await trio.sleep(60)
    await fbroker.settle()
    assert sorted(rec.flat) == sorted(f"{key}#{n}" for key in keys for n in range(3))
    metrics = (await lam.get_function_metrics(FunctionName="f"))["Metrics"]
    assert metrics["MaxConcurrentExecutions"] > 1
    for key in keys:
        seen = [d for d in rec.flat if d.startswith(f"{key}#")]
        assert seen == [f"{key}#{n}" for n in range(3)]
        spans = sorted(
            (c["start"], c["end"])
            for c, batch in zip(rec.calls, rec.batches, strict=True)
            if any(d.startswith(f"{key}#") for d in batch)
        )
        assert all(end <= start for (_, end), (start, _) in pairwise(spans))


# --- resharding -----------------------------------------------------------------------------------


async def _reshard(kin, how: str) -> None:
    if how == "split_shard":
        await kin.split_shard(
            StreamName=STREAM, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
        )
    elif how == "merge_shards":
        await kin.merge_shards(
            StreamName=STREAM,
            ShardToMerge="shardId-000000000000",
            AdjacentShardToMerge="shardId-000000000001",
        )
    else:
        await kin.update_shard_count(
            StreamName=STREAM, TargetShardCount=2, ScalingType="UNIFORM_SCALING"
        )
    await trio.sleep(1)  # UPDATING -> ACTIVE


@pytest.mark.parametrize(
    ("how", "shards"), [("split_shard", 1), ("merge_shards", 2), ("update_shard_count", 1)]
)
async def test_parent_shard_records_are_all_processed_before_child_shard_records(
    autojump_clock, lam, kin, fbroker, how, shards
):
    """AWS: after a stream is resharded (SplitShard, MergeShards, UpdateShardCount), Lambda
    finishes the records of a parent shard before it processes any record of its child shards,
    so order per partition key holds across the reshard."""
    rec = Recorder(delay=0.5)
    await setup(lam, kin, rec, shards=shards)
    keys = [f"key-{i}" for i in range(6)]
    parents = {r["ShardId"] for key in keys for r in await put(kin, f"{key}@parent", key=key)}
    await _reshard(kin, how)
    children = {r["ShardId"] for key in keys for r in await put(kin, f"{key}@child", key=key)}
    assert parents.isdisjoint(children)
    await create_mapping(lam, BatchSize=1)
    await trio.sleep(60)
    await fbroker.settle()
    assert sorted(rec.flat) == sorted(
        f"{key}@{kind}" for key in keys for kind in ("parent", "child")
    )
    parent_end = max(
        c["end"] for c, b in zip(rec.calls, rec.batches, strict=True) if "@parent" in b[0]
    )
    child_start = min(
        c["start"] for c, b in zip(rec.calls, rec.batches, strict=True) if "@child" in b[0]
    )
    assert parent_end <= child_start
    shard_of = {
        data_of(r): r["eventID"].split(":")[0] for c in rec.calls for r in c["event"]["Records"]
    }
    assert {shard_of[f"{key}@parent"] for key in keys} == parents
    assert {shard_of[f"{key}@child"] for key in keys} == children


# --- filtering ------------------------------------------------------------------------------------


async def test_filter_criteria_match_json_data_and_skip_the_others(
    autojump_clock, lam, kin, fbroker
):
    """AWS: Kinesis mappings filter on the data key: JSON data is matched as an object under
    "data"; records that match no pattern (data that is not JSON cannot match) are not delivered
    and the iterator moves past them (they are never retried)."""
    rec = Recorder()
    await setup(lam, kin, rec)
    data = [
        json.dumps({"order": {"type": "buy", "n": 1}}),
        json.dumps({"order": {"type": "sell", "n": 2}}),
        "plain text, not JSON",
        json.dumps({"order": {"type": "buy", "n": 4}}),
        json.dumps({"other": True}),
    ]
    await put(kin, *data)
    pattern = json.dumps({"data": {"order": {"type": ["buy"]}}})
    m = await create_mapping(lam, FilterCriteria={"Filters": [{"Pattern": pattern}]})
    assert m["FilterCriteria"] == {"Filters": [{"Pattern": pattern}]}
    await fbroker.settle()
    await trio.sleep(60)
    await fbroker.settle()
    assert rec.flat == [data[0], data[3]]
    assert len(rec.calls) == 1


async def test_filtered_out_records_are_counted_in_the_mapping_metrics(
    autojump_clock, lam, kin, fbroker
):
    """AWS: records dropped by the filter criteria are counted (the FilteredOutEventCount
    event source mapping metric; msgsim's GetFunctionMetrics FilteredRecords)."""
    rec = Recorder()
    await setup(lam, kin, rec)
    await put(kin, json.dumps({"k": "keep"}), json.dumps({"k": "drop"}), "not json")
    pattern = json.dumps({"data": {"k": ["keep"]}})
    await create_mapping(lam, FilterCriteria={"Filters": [{"Pattern": pattern}]})
    await fbroker.settle()
    assert len(rec.flat) == 1
    assert (await mapping_metrics(lam))["FilteredRecords"] == 2


# --- the iterator age -----------------------------------------------------------------------------


async def test_iterator_age_grows_while_a_slow_function_falls_behind(
    autojump_clock, lam, kin, fbroker
):
    """AWS: the IteratorAge metric is the age of the last record of the batch sent to the
    function; it grows while a slow function falls behind its stream (msgsim shows it as
    IteratorAgeMilliseconds of the mapping in GetFunctionMetrics)."""
    rec = Recorder(delay=5.0)
    await setup(lam, kin, rec)
    await put(kin, *(f"r{i}" for i in range(4)))
    await create_mapping(lam, BatchSize=1)
    await trio.sleep(0.5)  # r0 is being processed (settle would wait for all four batches)
    assert (await mapping_metrics(lam))["IteratorAgeMilliseconds"] == 0
    ages = []
    for _ in range(3):
        await trio.sleep(5)
        ages.append((await mapping_metrics(lam))["IteratorAgeMilliseconds"])
    assert ages[0] < ages[1] < ages[2]
    assert ages[2] >= 10_000
    await trio.sleep(30)
    assert rec.flat == ["r0", "r1", "r2", "r3"]


async def test_iterator_age_is_measured_when_the_batch_is_sent(autojump_clock, lam, kin, fbroker):
    """AWS: IteratorAge "measures the amount of time between when a stream receives the record
    and when the event source mapping sends the event to the function"."""
    rec = Recorder(delay=10.0)
    await setup(lam, kin, rec)
    await put(kin, "r0")  # arrives at clock 1
    await trio.sleep(4)
    await create_mapping(lam)  # sent at clock 5
    await trio.sleep(11)
    await fbroker.settle()
    assert len(rec.calls) == 1
    assert (await mapping_metrics(lam))["IteratorAgeMilliseconds"] == 4000


# --- disabling and deleting -----------------------------------------------------------------------


async def test_disabling_stops_delivery_and_enabling_resumes_where_it_stopped(
    autojump_clock, lam, kin, fbroker
):
    """AWS: UpdateEventSourceMapping Enabled=false pauses the mapping (no more invocations after
    the one in progress); Enabled=true resumes from where it stopped: every record after the
    last processed one is delivered, none twice, in order."""
    rec = Recorder(delay=2.0)
    await setup(lam, kin, rec)
    await put(kin, "r0", "r1", "r2")
    m = await create_mapping(lam, BatchSize=1)
    await trio.sleep(0.5)  # r0 is being processed
    r = await lam.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    assert r["State"] == "Disabled"
    await put(kin, "r3")
    await trio.sleep(60)
    await fbroker.settle()
    assert rec.flat == ["r0"]
    r = await lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    assert r["State"] == "Enabled"
    await trio.sleep(30)
    await fbroker.settle()
    assert rec.flat == ["r0", "r1", "r2", "r3"]


async def test_updated_retry_settings_apply_to_a_shard_being_processed(
    autojump_clock, lam, kin, sqs, fbroker
):
    """AWS: UpdateEventSourceMapping changes the settings of a running mapping: a shard blocked
    by a failing batch (MaximumRetryAttempts -1) gives the batch up once MaximumRetryAttempts is
    lowered, reports it to the new OnFailure destination and goes on."""

    def behaviour(event, n):
        if data_of(event["Records"][0]) == "poison":
            raise RuntimeError("poison")

    rec = Recorder(behaviour)
    await setup(lam, kin, rec)
    url, queue_arn = await make_queue(sqs, "failures")
    await put(kin, "poison", "next")
    m = await create_mapping(lam, BatchSize=1)
    await trio.sleep(30)
    assert set(rec.flat) == {"poison"}  # blocked
    await lam.update_event_source_mapping(
        UUID=m["UUID"],
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    await trio.sleep(300)
    await fbroker.settle()
    assert rec.flat[-1] == "next"
    assert len(await on_failure_records(sqs, url)) == 1


async def test_deleting_the_mapping_stops_delivery(autojump_clock, lam, kin, fbroker):
    """AWS: after DeleteEventSourceMapping Lambda stops reading the stream: records not yet
    processed are not delivered."""
    rec = Recorder(delay=2.0)
    await setup(lam, kin, rec)
    await put(kin, "r0", "r1", "r2")
    m = await create_mapping(lam, BatchSize=1)
    await trio.sleep(0.5)  # r0 is being processed
    await lam.delete_event_source_mapping(UUID=m["UUID"])
    await put(kin, "r3")
    await trio.sleep(60)
    await fbroker.settle()
    assert rec.flat == ["r0"]
    assert (await lam.list_event_source_mappings())["EventSourceMappings"] == []


# --- the mapping API and validation ---------------------------------------------------------------


async def test_kinesis_mapping_defaults(autojump_clock, lam, kin):
    """AWS ("Lambda parameters for Kinesis event source mappings"): BatchSize 100,
    MaximumBatchingWindowInSeconds 0, ParallelizationFactor 1, BisectBatchOnFunctionError false,
    MaximumRetryAttempts -1, MaximumRecordAgeInSeconds -1, TumblingWindowInSeconds 0; the mapping
    shows its StartingPosition and is Enabled."""
    await setup(lam, kin, Recorder())
    m = await create_mapping(lam, StartingPosition="LATEST")
    assert m["EventSourceArn"] == STREAM_ARN
    assert m["FunctionArn"] == function_arn("f")
    assert m["State"] == "Enabled"
    assert m["StartingPosition"] == "LATEST"
    assert m["BatchSize"] == 100
    assert m["MaximumBatchingWindowInSeconds"] == 0
    assert m["ParallelizationFactor"] == 1
    assert m["BisectBatchOnFunctionError"] is False
    assert m["MaximumRetryAttempts"] == -1
    assert m["MaximumRecordAgeInSeconds"] == -1
    assert m["TumblingWindowInSeconds"] == 0
    assert m["FunctionResponseTypes"] == []
    assert await lam.get_event_source_mapping(UUID=m["UUID"]) == m


async def test_kinesis_settings_at_their_documented_bounds_are_accepted(autojump_clock, lam, kin):
    """AWS: for Kinesis, BatchSize up to 10,000 (no batching window needed), ParallelizationFactor
    up to 10, MaximumRetryAttempts -1..10,000, MaximumRecordAgeInSeconds -1 or 60..604,800,
    TumblingWindowInSeconds up to 900 (15 minutes), MaximumBatchingWindowInSeconds up to 300."""
    await setup(lam, kin, Recorder())
    m = await create_mapping(
        lam,
        BatchSize=10_000,
        ParallelizationFactor=10,
        MaximumRetryAttempts=10_000,
        MaximumRecordAgeInSeconds=604_800,
        TumblingWindowInSeconds=900,
    )
    assert (m["BatchSize"], m["ParallelizationFactor"]) == (10_000, 10)
    assert (m["MaximumRetryAttempts"], m["MaximumRecordAgeInSeconds"]) == (10_000, 604_800)
    assert m["TumblingWindowInSeconds"] == 900
    r = await lam.update_event_source_mapping(
        UUID=m["UUID"],
        MaximumRecordAgeInSeconds=60,
        MaximumRetryAttempts=-1,
        MaximumBatchingWindowInSeconds=300,
        ParallelizationFactor=1,
    )
    assert (r["MaximumRecordAgeInSeconds"], r["MaximumRetryAttempts"]) == (60, -1)
    assert (r["MaximumBatchingWindowInSeconds"], r["ParallelizationFactor"]) == (300, 1)
    assert r["BatchSize"] == 10_000  # kept


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"StartingPosition": None}, "InvalidParameterValueException"),
        ({"StartingPosition": "OLDEST"}, "ValidationException"),
        ({"StartingPosition": "AT_TIMESTAMP"}, "InvalidParameterValueException"),
        ({"ParallelizationFactor": 0}, "ValidationException"),
        ({"ParallelizationFactor": 11}, "ValidationException"),
        ({"MaximumRetryAttempts": -2}, "ValidationException"),
        ({"MaximumRetryAttempts": 10_001}, "ValidationException"),
        ({"MaximumRecordAgeInSeconds": -2}, "ValidationException"),
        ({"MaximumRecordAgeInSeconds": 604_801}, "ValidationException"),
        ({"TumblingWindowInSeconds": 901}, "ValidationException"),
        ({"BatchSize": 0}, "ValidationException"),
        ({"BatchSize": 10_001}, "ValidationException"),
        ({"MaximumBatchingWindowInSeconds": 301}, "ValidationException"),
        ({"ScalingConfig": {"MaximumConcurrency": 5}}, "InvalidParameterValueException"),
        ({"FunctionResponseTypes": ["Nope"]}, "ValidationException"),
    ],
    ids=[
        "starting-position-missing",
        "starting-position-unknown",
        "at-timestamp-without-timestamp",
        "parallelization-0",
        "parallelization-11",
        "retries-minus-2",
        "retries-10001",
        "record-age-minus-2",
        "record-age-604801",
        "tumbling-901",
        "batch-0",
        "batch-10001",
        "window-301",
        "scaling-config",
        "response-types",
    ],
)
async def test_invalid_kinesis_mapping_is_rejected_and_not_created(
    autojump_clock, lam, kin, params, expected
):
    """AWS: StartingPosition is required for a Kinesis source (TRIM_HORIZON, LATEST or
    AT_TIMESTAMP, the last with StartingPositionTimestamp); ParallelizationFactor is 1..10,
    MaximumRetryAttempts -1..10,000, MaximumRecordAgeInSeconds -1..604,800,
    TumblingWindowInSeconds 0..900, BatchSize 1..10,000, the batching window 0..300 s (values
    outside the API's ranges are ValidationException); ScalingConfig is for SQS only. Nothing is
    created."""
    await setup(lam, kin, Recorder())
    params = {"StartingPosition": "TRIM_HORIZON", **params}
    if params["StartingPosition"] is None:
        del params["StartingPosition"]
    code = await error_code(
        lam.create_event_source_mapping, EventSourceArn=STREAM_ARN, FunctionName="f", **params
    )
    assert code == expected
    assert (await lam.list_event_source_mappings())["EventSourceMappings"] == []


@pytest.mark.parametrize("age", [0, 59])
async def test_maximum_record_age_below_60_seconds_is_rejected(autojump_clock, lam, kin, age):
    """AWS: MaximumRecordAgeInSeconds is -1 (infinite) or at least 60 seconds; other values are
    refused (AWS does not document which of its two parameter errors it answers)."""
    await setup(lam, kin, Recorder())
    code = await error_code(
        lam.create_event_source_mapping,
        EventSourceArn=STREAM_ARN,
        FunctionName="f",
        StartingPosition="TRIM_HORIZON",
        MaximumRecordAgeInSeconds=age,
    )
    assert code in {"ValidationException", "InvalidParameterValueException"}
    assert (await lam.list_event_source_mappings())["EventSourceMappings"] == []


async def test_invalid_kinesis_mapping_update_changes_nothing(autojump_clock, lam, kin):
    """AWS: an UpdateEventSourceMapping with an out-of-range Kinesis setting is refused as a
    whole: valid settings given with it are not applied."""
    await setup(lam, kin, Recorder())
    m = await create_mapping(lam, BatchSize=5)
    for params in (
        {"BatchSize": 7, "ParallelizationFactor": 11},
        {"BatchSize": 7, "MaximumRetryAttempts": -2},
        {"BatchSize": 7, "TumblingWindowInSeconds": 901},
    ):
        code = await error_code(lam.update_event_source_mapping, UUID=m["UUID"], **params)
        assert code == "ValidationException"
    assert await lam.get_event_source_mapping(UUID=m["UUID"]) == m
