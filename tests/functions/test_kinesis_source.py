"""The sans-IO core of a Kinesis event source mapping (:mod:`msgsim.broker.functions.kinesis_source`).

Unit tests name the AWS behaviour they check (Lambda developer guide: "Using Lambda with
Kinesis", "Retain discarded batch records", "Configuring partial batch response", "Implementing
stateful Kinesis processing", "Using event filtering with a Kinesis event source"). The state
machine at the end feeds random records and outcomes and checks the ordering and accounting
invariants after every step.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from msgsim.broker import limits
from msgsim.broker.filters import FilterPolicy
from msgsim.broker.functions.kinesis_source import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    RETRY_BACKOFF_BASE,
    Batch,
    IllegalLaneTransition,
    KinesisShardSource,
    KinesisSourceConfig,
)
from msgsim.broker.functions.outcome import Outcome

EPOCH = 1_735_689_600.0  # 2025-01-01T00:00:00Z at broker clock 0 (a multiple of 60 and 900)
ACCOUNT = "123456789012"
REGION = "us-east-2"
SHARD = "shardId-000000000006"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/lambda-stream"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:consumer"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
SEQ0 = 49590338271490256608559692538361571095921575989136588898

OK = Outcome("ok", request_id="req-ok")
ERROR = Outcome("error", error_type="Boom", error_message="boom", request_id="req-err")
TIMEOUT = Outcome("timeout", request_id="req-timeout")
THROTTLED = Outcome("throttled")


def make(**settings: Any) -> KinesisShardSource:
    return KinesisShardSource(
        KinesisSourceConfig(**settings),
        shard_id=SHARD,
        stream_arn=STREAM,
        function_arn=FUNCTION,
        region=REGION,
        mapping_uuid="a1b2c3d4-0000-4000-8000-000000000000",
        epoch_offset=EPOCH,
    )


class Shard:
    """Mints GetRecords-shaped records with increasing sequence numbers."""

    def __init__(self) -> None:
        self.count = 0

    def records(
        self, n: int, *, at: float = 0.0, key: str | None = None, data: bytes | None = None
    ) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            i = self.count
            self.count += 1
            out.append(
                {
                    "SequenceNumber": str(SEQ0 + i),
                    "ApproximateArrivalTimestamp": datetime.fromtimestamp(
                        round(EPOCH + at, 3), UTC
                    ),
                    "Data": data if data is not None else json.dumps({"n": i}).encode(),
                    "PartitionKey": key if key is not None else f"key-{i}",
                }
            )
        return out


def seqs(batch: Batch) -> list[str]:
    return [r["SequenceNumber"] for r in batch.records]


def drain(source: KinesisShardSource, now: float) -> list[Batch]:
    out = []
    while (batch := source.next_batch(now)) is not None:
        out.append(batch)
    return out


def keys_on_lanes(lanes: int) -> dict[int, str]:
    """One partition key per lane, found with the documented lane rule (crc32 % factor)."""
    found: dict[int, str] = {}
    i = 0
    while len(found) < lanes:
        key = f"pk{i}"
        found.setdefault(zlib.crc32(key.encode()) % lanes, key)
        i += 1
    return found


# -- the event --------------------------------------------------------------------------------------
def test_event_records_have_the_aws_kinesis_record_shape() -> None:
    source = make()
    raw = Shard().records(1, at=12.345, key="1", data=b"Hello, this is a test.")
    source.add_records(raw, 12.5, 0)
    batch = source.next_batch(12.5)
    assert batch is not None and batch.attempt == 1 and batch.records == raw
    seq = str(SEQ0)
    assert batch.event == {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "1",
                    "sequenceNumber": seq,
                    "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
                    "approximateArrivalTimestamp": EPOCH + 12.345,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD}:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/msgsim-lambda",
                "awsRegion": REGION,
                "eventSourceARN": STREAM,
            }
        ]
    }
    assert base64.b64decode(batch.event["Records"][0]["kinesis"]["data"]) == raw[0]["Data"]


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6),
    data=st.binary(max_size=40),
    at=st.floats(0, 10_000, allow_nan=False),
    tumbling=st.sampled_from([0, 60]),
)
def test_payload_bytes_is_the_exact_json_size_of_the_event(
    keys: list[str], data: bytes, at: float, tumbling: int
) -> None:
    source = make(batch_size=10, tumbling_window=tumbling)
    shard = Shard()
    for key in keys:
        source.add_records(shard.records(1, at=at, key=key, data=data), at, 0)
    batch = source.next_batch(at + 1)
    assert batch is not None
    assert batch.payload_bytes == len(json.dumps(batch.event))


# -- batching ---------------------------------------------------------------------------------------
def test_batch_size_caps_each_batch_and_window_zero_sends_what_is_buffered() -> None:
    source = make(batch_size=100)
    shard = Shard()
    source.add_records(shard.records(250), 0.0, 0)
    sizes = []
    while (batch := source.next_batch(0.0)) is not None:
        sizes.append(len(batch.records))
        assert source.next_batch(0.0) is None  # one batch in flight per lane
        assert source.complete(batch, OK, 0.0) == []
    assert sizes == [100, 100, 50]
    assert source.checkpoint == str(SEQ0 + 249)


def test_batching_window_holds_a_partial_batch_until_the_window_elapses() -> None:
    source = make(batch_size=10, batching_window=5.0)
    shard = Shard()
    source.add_records(shard.records(3, at=10.0), 10.0, 0)
    assert source.next_batch(10.0) is None
    assert source.next_timer() == 15.0
    source.add_records(shard.records(2, at=12.0), 12.0, 0)
    assert source.next_batch(14.9) is None
    assert source.next_timer() == 15.0  # the window counts from the first buffered record
    batch = source.next_batch(15.0)
    assert batch is not None and len(batch.records) == 5


def test_a_full_batch_does_not_wait_for_the_batching_window() -> None:
    source = make(batch_size=4, batching_window=300.0)
    source.add_records(Shard().records(6), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None and len(batch.records) == 4
    source.complete(batch, OK, 0.0)
    assert source.next_batch(0.0) is None
    assert source.next_timer() == 300.0


def test_end_of_shard_sends_a_partial_batch_at_once() -> None:
    source = make(batch_size=10, batching_window=60.0)
    source.add_records(Shard().records(2), 0.0, 0)
    assert source.next_batch(0.0) is None
    source.end_of_shard()
    batch = source.next_batch(0.0)
    assert batch is not None and len(batch.records) == 2
    assert not source.done
    source.complete(batch, OK, 0.0)
    assert source.done


def test_batches_stay_within_the_6mb_synchronous_payload_limit() -> None:
    source = make(batch_size=100)
    source.add_records(Shard().records(10, data=b"x" * 1_000_000), 0.0, 0)
    sizes = []
    while (batch := source.next_batch(0.0)) is not None:
        assert len(json.dumps(batch.event)) <= limits.LAMBDA_SYNC_PAYLOAD_MAX
        sizes.append(len(batch.records))
        source.complete(batch, OK, 0.0)
    assert sizes == [4, 4, 2]  # 1 MB of data is ~1.33 MB of base64


def test_a_record_larger_than_the_payload_limit_is_sent_alone() -> None:
    source = make(batch_size=100)
    shard = Shard()
    source.add_records(shard.records(1) + shard.records(1, data=b"y" * 5_000_000), 0.0, 0)
    source.add_records(shard.records(1), 0.0, 0)
    sizes = []
    while (batch := source.next_batch(0.0)) is not None:
        sizes.append(len(batch.records))
        source.complete(batch, OK, 0.0)
    assert sizes == [1, 1, 1]


# -- lanes ------------------------------------------------------------------------------------------
def test_parallelization_factor_runs_one_batch_per_lane_with_each_key_on_one_lane() -> None:
    source = make(batch_size=10, parallelization_factor=3)
    lanes = keys_on_lanes(3)
    shard = Shard()
    for _ in range(2):
        for key in lanes.values():
            source.add_records(shard.records(2, key=key), 0.0, 0)
    assert {source.lane_of(key): key for key in lanes.values()} == lanes
    batches = drain(source, 0.0)
    assert sorted(b.lane for b in batches) == [0, 1, 2]
    for batch in batches:
        assert {r["PartitionKey"] for r in batch.records} == {lanes[batch.lane]}
        assert len(batch.records) == 4
    assert drain(source, 0.0) == []


def test_a_failing_batch_blocks_its_lane_but_not_the_other_lanes() -> None:
    source = make(batch_size=2, parallelization_factor=2)
    lanes = keys_on_lanes(2)
    shard = Shard()
    source.add_records(shard.records(2, key=lanes[0]) + shard.records(4, key=lanes[1]), 0.0, 0)
    source.add_records(shard.records(2, key=lanes[0]), 0.0, 0)
    first = {b.lane: b for b in drain(source, 0.0)}
    source.complete(first[0], ERROR, 0.0)
    source.complete(first[1], OK, 0.0)
    batch = source.next_batch(0.5)
    assert batch is not None and batch.lane == 1  # lane 0 waits for its retry, lane 1 goes on
    source.complete(batch, OK, 0.5)
    assert source.next_batch(0.5) is None
    assert source.checkpoint is None  # the failing batch holds the shard's checkpoint
    retry = source.next_batch(RETRY_BACKOFF_BASE)
    assert retry is not None and retry.lane == 0 and retry.attempt == 2
    assert seqs(retry) == seqs(first[0])
    source.complete(retry, OK, 1.0)
    assert source.checkpoint == str(SEQ0 + 5)
    last = source.next_batch(1.0)
    assert last is not None and seqs(last) == [str(SEQ0 + 6), str(SEQ0 + 7)]


def test_wants_records_stops_reading_while_a_failing_batch_holds_the_checkpoint() -> None:
    source = make(batch_size=2)
    shard = Shard()
    source.add_records(shard.records(2), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    source.complete(batch, ERROR, 0.0)
    while source.wants_records():
        source.add_records(shard.records(1), 0.0, 0)
    assert shard.count == 8  # read ahead: four batches' worth
    retry = source.next_batch(1.0)
    assert retry is not None
    source.complete(retry, OK, 1.0)
    assert source.wants_records()


# -- filtering --------------------------------------------------------------------------------------
def test_filter_criteria_drop_records_whose_data_does_not_match() -> None:
    policy = FilterPolicy.parse('{"data": {"order": {"type": ["buy"]}}}', "MessageBody")
    source = make(batch_size=10, filters=[policy])
    shard = Shard()
    buy = json.dumps({"record": 1, "order": {"type": "buy"}}).encode()
    sell = json.dumps({"record": 2, "order": {"type": "sell"}}).encode()
    source.add_records(shard.records(1, data=sell), 0.0, 0)
    assert source.checkpoint == str(SEQ0)  # nothing before it: the checkpoint passes it at once
    source.add_records(shard.records(1, data=buy) + shard.records(1, data=b"not json"), 0.0, 0)
    source.add_records(shard.records(1, data=buy), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None and seqs(batch) == [str(SEQ0 + 1), str(SEQ0 + 3)]
    assert source.stats["records_filtered"] == 2
    source.end_of_shard()
    source.complete(batch, OK, 0.0)
    assert source.checkpoint == str(SEQ0 + 3)
    assert source.done


def test_a_record_is_kept_when_any_filter_matches() -> None:
    filters = [
        FilterPolicy.parse('{"data": {"kind": ["a"]}}', "MessageBody"),
        FilterPolicy.parse('{"data": {"kind": ["b"]}}', "MessageBody"),
    ]
    source = make(filters=filters)
    shard = Shard()
    for kind in "abc":
        source.add_records(shard.records(1, data=json.dumps({"kind": kind}).encode()), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None and len(batch.records) == 2
    source.complete(batch, OK, 0.0)
    assert source.checkpoint == str(SEQ0 + 2)


# -- failures ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("failure", [ERROR, TIMEOUT], ids=["function-error", "timeout"])
def test_a_failed_batch_is_retried_whole_after_an_exponential_backoff(failure: Outcome) -> None:
    source = make(batch_size=3)
    source.add_records(Shard().records(3), 0.0, 0)
    now = 0.0
    batch = source.next_batch(now)
    assert batch is not None
    for attempt, wait in ((2, 1.0), (3, 2.0), (4, 4.0)):
        assert source.complete(batch, failure, now) == []
        assert source.next_timer() == now + wait
        assert source.next_batch(now + wait - 0.01) is None
        now += wait
        retry = source.next_batch(now)
        assert retry is not None and retry.attempt == attempt and seqs(retry) == seqs(batch)
        batch = retry
    source.complete(batch, OK, now)
    assert source.checkpoint == str(SEQ0 + 2)
    assert source.stats["retries"] == 3


def test_retries_stop_after_maximum_retry_attempts_with_an_on_failure_record() -> None:
    source = make(batch_size=2, maximum_retry_attempts=2, destination_on_failure=DLQ)
    shard = Shard()
    source.add_records(shard.records(2, at=1.5), 2.0, 0)
    source.add_records(shard.records(1, at=2.0), 2.0, 0)
    now = 2.0
    sent: list[dict[str, Any]] = []
    for _ in range(3):
        batch = source.next_batch(now)
        assert batch is not None and len(batch.records) == 2
        sent = source.complete(batch, ERROR, now)
        now += 10.0
    assert sent == [
        {
            "requestContext": {
                "requestId": "req-err",
                "functionArn": FUNCTION,
                "condition": RETRY_ATTEMPTS_EXHAUSTED,
                "approximateInvokeCount": 3,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": "2025-01-01T00:00:22.000Z",
            "KinesisBatchInfo": {
                "shardId": SHARD,
                "startSequenceNumber": str(SEQ0),
                "endSequenceNumber": str(SEQ0 + 1),
                "approximateArrivalOfFirstRecord": "2025-01-01T00:00:01.500Z",
                "approximateArrivalOfLastRecord": "2025-01-01T00:00:01.500Z",
                "batchSize": 2,
                "streamArn": STREAM,
            },
        }
    ]
    assert source.checkpoint == str(SEQ0 + 1)  # discarded records are behind the checkpoint
    assert source.stats["records_failed"] == 2
    batch = source.next_batch(now)  # the shard goes on
    assert batch is not None and seqs(batch) == [str(SEQ0 + 2)] and batch.attempt == 1


def test_maximum_retry_attempts_zero_gives_up_after_the_first_failure() -> None:
    source = make(maximum_retry_attempts=0, destination_on_failure=DLQ)
    source.add_records(Shard().records(1), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    (record,) = source.complete(batch, TIMEOUT, 0.0)
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"
    source.end_of_shard()
    assert source.done


def test_without_a_destination_discarded_records_are_counted_not_reported() -> None:
    source = make(maximum_retry_attempts=0)
    source.add_records(Shard().records(4), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    assert source.complete(batch, ERROR, 0.0) == []
    assert source.stats["records_failed"] == 4
    assert source.checkpoint == str(SEQ0 + 3)


def test_retries_stop_when_the_records_would_exceed_the_maximum_record_age() -> None:
    source = make(maximum_record_age=60, destination_on_failure=DLQ)
    source.add_records(Shard().records(2, at=0.0), 0.0, 0)
    batch = source.next_batch(58.0)
    assert batch is not None
    assert source.complete(batch, ERROR, 58.0) == []  # retry due at 59 s: still young enough
    batch = source.next_batch(59.0)
    assert batch is not None
    (record,) = source.complete(batch, ERROR, 59.0)  # the retry would be at 61 s: too old
    assert record["requestContext"]["condition"] == RECORD_AGE_EXCEEDED
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert source.checkpoint == str(SEQ0 + 1)


def test_records_older_than_the_maximum_age_are_discarded_before_their_first_invoke() -> None:
    source = make(batch_size=10, maximum_record_age=60, destination_on_failure=DLQ)
    shard = Shard()
    source.add_records(shard.records(3, at=0.0) + shard.records(2, at=50.0), 100.0, 0)
    batch = source.next_batch(100.0)
    assert batch is not None and seqs(batch) == [str(SEQ0 + 3), str(SEQ0 + 4)]
    (record,) = source.take_failures()
    assert record["requestContext"]["condition"] == RECORD_AGE_EXCEEDED
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["KinesisBatchInfo"]["batchSize"] == 3
    assert source.take_failures() == []
    assert source.checkpoint == str(SEQ0 + 2)
    source.end_of_shard()
    source.complete(batch, OK, 100.0)
    assert source.done


def test_next_timer_wakes_up_when_a_buffered_record_reaches_the_maximum_age() -> None:
    source = make(batch_size=10, batching_window=300.0, maximum_record_age=60)
    shard = Shard()
    source.add_records(shard.records(1, at=0.0) + shard.records(1, at=50.0), 100.0, 0)
    assert source.next_timer() == 60.0  # before the batching window's 400 s
    assert source.next_batch(100.0) is None
    assert source.stats["records_failed"] == 1
    assert source.next_timer() == 110.0
    assert source.next_batch(110.0) is None
    assert source.stats["records_failed"] == 2 and source.next_timer() is None


def test_throttles_are_retried_without_using_retry_attempts() -> None:
    source = make(maximum_retry_attempts=0, destination_on_failure=DLQ)
    source.add_records(Shard().records(2), 0.0, 0)
    now = 0.0
    for _ in range(5):
        batch = source.next_batch(now)
        assert batch is not None
        assert source.complete(batch, THROTTLED, now) == []
        timer = source.next_timer()
        assert timer is not None
        now = timer
    batch = source.next_batch(now)
    assert batch is not None and batch.attempt == 6
    (record,) = source.complete(batch, ERROR, now)
    assert record["requestContext"]["approximateInvokeCount"] == 1  # throttles never ran
    assert source.stats["throttles"] == 5


def test_a_throttled_batch_is_given_up_when_its_records_exceed_the_maximum_age() -> None:
    source = make(maximum_record_age=60, destination_on_failure=DLQ)
    source.add_records(Shard().records(1, at=0.0), 0.0, 0)
    batch = source.next_batch(59.5)
    assert batch is not None
    (record,) = source.complete(batch, THROTTLED, 59.5)
    assert record["requestContext"]["condition"] == RECORD_AGE_EXCEEDED
    assert record["responseContext"] == {"statusCode": 429}


def test_bisect_on_function_error_retries_the_halves_in_order() -> None:
    source = make(batch_size=4, bisect_on_error=True)
    source.add_records(Shard().records(4), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    source.complete(batch, ERROR, 0.0)
    first = source.next_batch(1.0)
    assert first is not None and seqs(first) == seqs(batch)[:2] and first.attempt == 2
    assert source.next_batch(1.0) is None  # the second half waits for the first
    source.complete(first, OK, 1.0)
    assert source.checkpoint == str(SEQ0 + 1)
    second = source.next_batch(1.0)
    assert second is not None and seqs(second) == seqs(batch)[2:]
    assert source.stats["bisections"] == 1 and source.stats["retries"] == 0


def test_bisecting_uses_no_retry_attempts_so_a_poison_record_is_isolated() -> None:
    source = make(
        batch_size=8, bisect_on_error=True, maximum_retry_attempts=0, destination_on_failure=DLQ
    )
    source.add_records(Shard().records(8), 0.0, 0)
    poison = str(SEQ0 + 5)
    now, reports, delivered = 0.0, [], []
    while (batch := source.next_batch(now)) is not None or source.next_timer() is not None:
        if batch is None:
            now = source.next_timer() or now
            continue
        if poison in seqs(batch):
            reports += source.complete(batch, ERROR, now)
        else:
            delivered += seqs(batch)
            reports += source.complete(batch, OK, now)
    assert [r["KinesisBatchInfo"]["startSequenceNumber"] for r in reports] == [poison]
    assert [r["KinesisBatchInfo"]["batchSize"] for r in reports] == [1]
    assert delivered == [str(SEQ0 + i) for i in range(8) if i != 5]
    assert source.stats["bisections"] == 3  # 8 -> 4 -> 2 -> 1


# -- ReportBatchItemFailures ------------------------------------------------------------------------
def test_partial_batch_response_checkpoints_before_the_lowest_failed_sequence_number() -> None:
    source = make(batch_size=5, report_batch_item_failures=True)
    source.add_records(Shard().records(5), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    failed = [{"itemIdentifier": str(SEQ0 + 3)}, {"itemIdentifier": str(SEQ0 + 1)}]
    assert source.complete(batch, Outcome("ok", {"batchItemFailures": failed}), 0.0) == []
    assert source.checkpoint == str(SEQ0)
    retry = source.next_batch(RETRY_BACKOFF_BASE)
    assert retry is not None and seqs(retry) == seqs(batch)[1:] and retry.attempt == 2
    assert source.stats["retries"] == 1


def test_a_partial_batch_response_uses_a_retry_attempt() -> None:
    source = make(
        batch_size=4,
        report_batch_item_failures=True,
        maximum_retry_attempts=0,
        destination_on_failure=DLQ,
    )
    source.add_records(Shard().records(4), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    payload = {"batchItemFailures": [{"itemIdentifier": str(SEQ0 + 2)}]}
    (record,) = source.complete(batch, Outcome("ok", payload), 0.0)
    assert record["KinesisBatchInfo"]["startSequenceNumber"] == str(SEQ0 + 2)
    assert record["KinesisBatchInfo"]["batchSize"] == 2
    assert "functionError" not in record["responseContext"]
    assert source.stats["records_delivered"] == 2 and source.stats["records_failed"] == 2


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, {"other": 1}],
    ids=["null-response", "empty-response", "empty-list", "null-list", "no-list"],
)
def test_an_empty_or_null_batch_item_failures_list_is_a_complete_success(payload: Any) -> None:
    source = make(report_batch_item_failures=True)
    source.add_records(Shard().records(3), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    source.complete(batch, Outcome("ok", payload), 0.0)
    assert source.checkpoint == str(SEQ0 + 2)
    assert source.next_timer() is None


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": "42"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemId": str(SEQ0)}]},
        {"batchItemFailures": [str(SEQ0)]},
        {"batchItemFailures": "all"},
        "not an object",
    ],
    ids=["unknown-id", "empty-id", "null-id", "bad-key", "bare-id", "not-a-list", "not-object"],
)
def test_an_unusable_partial_batch_response_fails_the_whole_batch(payload: Any) -> None:
    source = make(report_batch_item_failures=True, bisect_on_error=True)
    source.add_records(Shard().records(4), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    source.complete(batch, Outcome("ok", payload), 0.0)
    assert source.checkpoint is None
    retry = source.next_batch(1.0)
    assert retry is not None and len(retry.records) == 2  # a failed batch, so it is bisected


def test_batch_item_failures_are_ignored_without_report_batch_item_failures() -> None:
    source = make()
    source.add_records(Shard().records(2), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    payload = {"batchItemFailures": [{"itemIdentifier": str(SEQ0)}]}
    source.complete(batch, Outcome("ok", payload), 0.0)
    assert source.checkpoint == str(SEQ0 + 1)


def test_partial_response_with_bisect_retries_only_the_remaining_records() -> None:
    source = make(batch_size=6, report_batch_item_failures=True, bisect_on_error=True)
    source.add_records(Shard().records(6), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    payload = {"batchItemFailures": [{"itemIdentifier": str(SEQ0 + 2)}]}
    source.complete(batch, Outcome("ok", payload), 0.0)
    retry = source.next_batch(1.0)
    assert retry is not None and seqs(retry) == seqs(batch)[2:]
    assert source.stats["bisections"] == 0


# -- tumbling windows -------------------------------------------------------------------------------
def state_of(batch: Batch) -> dict[str, Any]:
    return batch.event["state"]


def test_tumbling_window_carries_state_and_ends_with_a_final_invoke() -> None:
    source = make(batch_size=2, tumbling_window=60)
    shard = Shard()
    source.add_records(shard.records(3, at=1.0), 1.0, 0)
    first = source.next_batch(1.0)
    assert first is not None and len(first.records) == 2
    assert first.event["window"] == {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T00:01:00Z"}
    assert state_of(first) == {}
    assert first.event["shardId"] == SHARD and first.event["eventSourceARN"] == STREAM
    assert first.event["isFinalInvokeForWindow"] is False
    assert first.event["isWindowTerminatedEarly"] is False
    source.complete(first, Outcome("ok", {"state": {"count": 2}}), 1.0)
    second = source.next_batch(1.0)
    assert second is not None and state_of(second) == {"count": 2} and not second.final
    source.complete(second, Outcome("ok", {"state": {"count": 3}}), 1.0)
    assert source.next_batch(30.0) is None  # the window is still open
    source.add_records([], 61.0, 0)  # a read after the window's end found nothing new
    final = source.next_batch(61.0)
    assert final is not None and final.records == [] and final.final
    assert final.event["Records"] == [] and state_of(final) == {"count": 3}
    assert final.event["isFinalInvokeForWindow"] is True
    source.complete(final, Outcome("ok", {"state": {}}), 61.0)
    source.add_records(shard.records(1, at=62.0), 62.0, 0)
    fresh = source.next_batch(62.0)
    assert fresh is not None and state_of(fresh) == {}
    assert fresh.event["window"]["start"] == "2025-01-01T00:01:00Z"


def test_a_batch_never_spans_two_windows_and_the_last_of_a_closed_window_is_final() -> None:
    source = make(batch_size=10, tumbling_window=60)
    shard = Shard()
    source.add_records(shard.records(2, at=58.0) + shard.records(2, at=61.0), 61.5, 1000)
    first = source.next_batch(61.5)
    assert first is not None and seqs(first) == [str(SEQ0), str(SEQ0 + 1)]
    assert first.final  # a later window's record was read: nothing more can join this window
    source.complete(first, Outcome("ok", {"state": {"sum": 2}}), 61.5)
    second = source.next_batch(61.5)
    assert second is not None and len(second.records) == 2 and state_of(second) == {}
    assert not second.final


def test_a_tumbling_response_without_state_is_a_failed_invocation() -> None:
    source = make(tumbling_window=60)
    source.add_records(Shard().records(1), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    source.complete(batch, Outcome("ok", {"batchItemFailures": []}), 0.0)
    assert source.checkpoint is None
    retry = source.next_batch(1.0)
    assert retry is not None and retry.attempt == 2


def test_tumbling_state_over_1mb_terminates_the_window_early() -> None:
    source = make(batch_size=1, tumbling_window=900)
    source.add_records(Shard().records(2), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    big = {"blob": "x" * 1_100_000}
    source.complete(batch, Outcome("ok", {"state": big}), 0.0)
    final = source.next_batch(0.0)
    assert final is not None and final.records == [] and final.final
    assert final.event["isWindowTerminatedEarly"] is True and state_of(final) == big
    source.complete(final, Outcome("ok", {"state": {}}), 0.0)
    rest = source.next_batch(0.0)
    assert rest is not None and len(rest.records) == 1 and state_of(rest) == {}


def test_the_end_of_the_shard_closes_the_tumbling_window() -> None:
    source = make(batch_size=10, tumbling_window=300)
    source.add_records(Shard().records(2), 0.0, 1000)
    batch = source.next_batch(0.0)
    assert batch is not None and not batch.final
    source.complete(batch, Outcome("ok", {"state": {"n": 2}}), 0.0)
    source.end_of_shard()
    assert not source.done  # the window still owes its final invocation
    final = source.next_batch(0.0)
    assert final is not None and final.final and state_of(final) == {"n": 2}
    source.complete(final, Outcome("ok", {"state": {}}), 0.0)
    assert source.done


# -- bookkeeping ------------------------------------------------------------------------------------
def test_done_only_once_the_shard_ended_and_every_record_is_settled() -> None:
    source = make(batch_size=2)
    source.add_records(Shard().records(3), 0.0, 0)
    assert not source.done
    source.end_of_shard()
    assert not source.wants_records()
    batches = []
    while (batch := source.next_batch(0.0)) is not None:
        assert not source.done
        batches.append(batch)
        source.complete(batch, OK, 0.0)
    assert len(batches) == 2 and source.done


def test_iterator_age_is_the_age_of_the_last_record_handed_to_the_function() -> None:
    source = make(batch_size=2)
    assert source.iterator_age_ms(5.0) == 0.0
    source.add_records(Shard().records(2, at=1.0) + Shard().records(1, at=3.0), 4.0, 0)
    batch = source.next_batch(4.0)
    assert batch is not None
    assert source.iterator_age_ms(4.5) == pytest.approx(3500.0)


def test_on_failure_record_names_the_numeric_version_that_ran() -> None:
    source = KinesisShardSource(
        KinesisSourceConfig(maximum_retry_attempts=0, destination_on_failure=DLQ),
        shard_id=SHARD,
        stream_arn=STREAM,
        function_arn=FUNCTION + ":7",
        region=REGION,
        mapping_uuid="m",
        epoch_offset=EPOCH,
    )
    source.add_records(Shard().records(1), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    (record,) = source.complete(batch, Outcome("error"), 0.0)
    assert record["responseContext"]["executedVersion"] == "7"
    assert record["requestContext"]["requestId"]  # made up, deterministically, when unknown


def test_completing_a_batch_that_is_not_in_flight_is_a_defect() -> None:
    source = make()
    source.add_records(Shard().records(1), 0.0, 0)
    batch = source.next_batch(0.0)
    assert batch is not None
    source.complete(batch, OK, 0.0)
    with pytest.raises(IllegalLaneTransition):
        source.complete(batch, OK, 0.0)


# -- the state machine ------------------------------------------------------------------------------
KEYS = "abcdefgh"
KEEP = FilterPolicy.parse('{"data": {"keep": [true]}}', "MessageBody")


class KinesisSourceMachine(RuleBasedStateMachine):
    """Random reads, time, batches and outcomes; the model records each record's fate as the
    outcomes the machine chose imply it, and the invariants compare."""

    @initialize(
        lanes=st.integers(1, 4),
        batch_size=st.integers(1, 5),
        window=st.sampled_from([0.0, 2.0]),
        bisect=st.booleans(),
        retries=st.sampled_from([-1, 0, 1, 3]),
        age=st.sampled_from([-1, 60]),
        rbif=st.booleans(),
        filtered=st.booleans(),
        tumbling=st.sampled_from([0, 0, 30]),
    )
    def setup(
        self,
        lanes: int,
        batch_size: int,
        window: float,
        bisect: bool,
        retries: int,
        age: int,
        rbif: bool,
        filtered: bool,
        tumbling: int,
    ) -> None:
        self.source = make(
            batch_size=batch_size,
            batching_window=window,
            parallelization_factor=lanes,
            bisect_on_error=bisect,
            maximum_retry_attempts=retries,
            maximum_record_age=age,
            report_batch_item_failures=rbif,
            tumbling_window=tumbling,
            filters=[KEEP] if filtered else [],
            destination_on_failure=DLQ,
        )
        self.lanes = lanes
        self.rbif = rbif
        self.filtered = filtered
        self.tumbling = tumbling
        self.shard = Shard()
        self.now = 0.0
        self.ended = False
        self.order: list[str] = []  # every sequence number read, in shard order
        self.key: dict[str, str] = {}
        self.fate: dict[str, str] = {}  # "delivered" | "filtered" | "failed"
        self.lane_seqs: dict[int, list[str]] = defaultdict(list)  # unfiltered, per lane
        self.inflight: dict[int, Batch] = {}
        self.delivered: dict[str, list[int]] = defaultdict(list)  # key -> shard positions
        self.position: dict[str, int] = {}
        self.checkpoint: str | None = None
        self.delivered_count = 0
        self.failed_count = 0

    # -- rules -----------------------------------------------------------------------------------
    @precondition(lambda self: not self.ended and self.source.wants_records())
    @rule(
        keys=st.lists(st.sampled_from(KEYS), max_size=6),
        keep=st.lists(st.booleans(), min_size=6, max_size=6),
        lag=st.sampled_from([0.0, 0.0, 5.0, 90.0]),
        caught_up=st.booleans(),
    )
    def read(self, keys: list[str], keep: list[bool], lag: float, caught_up: bool) -> None:
        records = []
        for key, kept in zip(keys, keep, strict=False):
            data = json.dumps({"keep": kept}).encode() if kept or key < "d" else b"\x00raw"
            (record,) = self.shard.records(1, at=max(0.0, self.now - lag), key=key, data=data)
            seq = record["SequenceNumber"]
            self.position[seq] = len(self.order)
            self.order.append(seq)
            self.key[seq] = key
            if self.filtered and not kept:
                self.fate[seq] = "filtered"
            else:
                self.lane_seqs[zlib.crc32(key.encode()) % self.lanes].append(seq)
            records.append(record)
        self.source.add_records(records, self.now, 0 if caught_up else 1000)

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 20.0, 61.0]))
    def tick(self, dt: float) -> None:
        self.now += dt

    @rule()
    def poll(self) -> None:
        batch = self.source.next_batch(self.now)
        self.absorb(self.source.take_failures())
        if batch is not None:
            self.check_offer(batch)

    @precondition(lambda self: not self.ended)
    @rule()
    def end(self) -> None:
        self.source.end_of_shard()
        self.ended = True

    @precondition(lambda self: self.inflight)
    @rule(
        data=st.data(),
        kind=st.sampled_from(["ok", "ok", "partial", "unknown", "error", "timeout", "throttled"]),
    )
    def finish(self, data: st.DataObject, kind: str) -> None:
        batch = self.inflight[data.draw(st.sampled_from(sorted(self.inflight)))]
        failed: list[int] = []
        if kind == "partial" and batch.records:
            failed = data.draw(
                st.lists(st.integers(0, len(batch.records) - 1), min_size=1, max_size=3)
            )
        self.finish_batch(batch, kind, failed)

    # -- the model -----------------------------------------------------------------------------
    def outcome(self, batch: Batch, kind: str, failed: list[int]) -> Outcome:
        if kind in ("error", "timeout", "throttled"):
            return Outcome(kind)
        payload: dict[str, Any] = {}
        if self.tumbling:
            payload["state"] = {"seen": len(batch.records)}
        if kind == "partial":
            ids = [batch.records[i]["SequenceNumber"] for i in failed]
            payload["batchItemFailures"] = [{"itemIdentifier": i} for i in ids]
        elif kind == "unknown":
            payload["batchItemFailures"] = [{"itemIdentifier": "1"}]
        return Outcome("ok", payload)

    def finish_batch(self, batch: Batch, kind: str, failed: list[int]) -> None:
        del self.inflight[batch.id]
        out = self.source.complete(batch, self.outcome(batch, kind, failed), self.now)
        done_upto = 0
        if kind == "ok" or (kind in ("partial", "unknown") and not self.rbif):
            done_upto = len(batch.records)
        elif kind == "partial" and self.rbif:
            done_upto = min(failed) if failed else len(batch.records)
        for record in batch.records[:done_upto]:
            seq = record["SequenceNumber"]
            assert seq not in self.fate, f"{seq} delivered after being {self.fate.get(seq)}"
            self.fate[seq] = "delivered"
            self.delivered_count += 1
            positions = self.delivered[self.key[seq]]
            assert not positions or positions[-1] < self.position[seq], "key order broken"
            positions.append(self.position[seq])
        self.absorb(out)

    def absorb(self, reports: list[dict[str, Any]]) -> None:
        """Mark the records an OnFailure record names as failed (they were all unsettled)."""
        for report in reports:
            info = report["KinesisBatchInfo"]
            assert info["shardId"] == SHARD and info["streamArn"] == STREAM
            first, last = info["startSequenceNumber"], info["endSequenceNumber"]
            lane = zlib.crc32(self.key[first].encode()) % self.lanes
            named = [s for s in self.lane_seqs[lane] if int(first) <= int(s) <= int(last)]
            assert len(named) == info["batchSize"]
            for seq in named:
                assert seq not in self.fate, f"{seq} reported failed after {self.fate[seq]}"
                self.fate[seq] = "failed"
                self.failed_count += 1

    def check_offer(self, batch: Batch) -> None:
        """A batch holds the next unsettled records of its lane, nothing else of that lane runs,
        and its payload size is exact."""
        assert batch.id not in self.inflight
        assert all(b.lane != batch.lane for b in self.inflight.values())
        got = seqs(batch)
        lane = self.lane_seqs[batch.lane]
        unsettled = [s for s in lane if s not in self.fate]
        assert got == unsettled[: len(got)], (got, unsettled)
        assert batch.payload_bytes == len(json.dumps(batch.event))
        assert len(got) <= self.source.config.batch_size
        if not got:
            assert self.tumbling and batch.final
        self.inflight[batch.id] = batch

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def checkpoint_is_the_settled_prefix_and_never_goes_back(self) -> None:
        if not hasattr(self, "source"):
            return
        expected = None
        for seq in self.order:
            if seq not in self.fate:
                break
            expected = seq
        assert self.source.checkpoint == expected
        if self.checkpoint is not None:
            assert expected is not None and int(expected) >= int(self.checkpoint)
        self.checkpoint = expected

    @invariant()
    def counters_agree_with_the_model(self) -> None:
        if not hasattr(self, "source"):
            return
        stats = self.source.stats
        assert stats["records_delivered"] == self.delivered_count
        assert stats["records_failed"] == self.failed_count
        assert stats["records_filtered"] == sum(f == "filtered" for f in self.fate.values())

    @invariant()
    def done_means_everything_settled(self) -> None:
        if hasattr(self, "source") and self.source.done:
            assert self.ended and not self.inflight
            assert all(seq in self.fate for seq in self.order)

    def teardown(self) -> None:
        """Let every batch succeed from here on: the shard must finish with every record
        delivered, filtered or reported."""
        if not hasattr(self, "source"):
            return
        if not self.ended:
            self.end()
        for _ in range(1_000):
            if self.source.done:
                break
            for batch in list(self.inflight.values()):
                self.finish_batch(batch, "ok", [])
            self.poll()
            if not self.inflight:
                timer = self.source.next_timer()
                if timer is None:
                    break  # nothing in flight, nothing due: stuck unless done
                self.now = max(self.now, timer)
        assert self.source.done, self.source.stats
        assert all(seq in self.fate for seq in self.order)
        self.checkpoint_is_the_settled_prefix_and_never_goes_back()
        self.counters_agree_with_the_model()


KinesisSourceMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_kinesis_source_state_machine = KinesisSourceMachine.TestCase
