"""Event source mappings from SQS queues to functions, through the boto3-shaped client on the
virtual clock: the mapping API and its validation, how batches are taken, deleted, retried,
dead-lettered, filtered and gathered, and the SQS event a handler receives.

Each test states the AWS behaviour it checks (AWS Lambda developer guide, "Using Lambda with
Amazon SQS", and the CreateEventSourceMapping reference). Every test names ``autojump_clock``
itself (see tests/sqs/test_batch.py).
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_helpers import counts, drain, function_arn, make_queue, redrive

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError
from msgsim.broker.functions.options import LambdaOptions


@pytest.fixture
def lam(aws):
    return aws.client("lambda")


class Batches:
    """A handler recording each batch (time, records); ``behaviour(records, n)`` answers."""

    def __init__(self, behaviour=None):
        self.batches: list[tuple[float, list[dict]]] = []
        self.behaviour = behaviour

    def __call__(self, event, context):
        records = event["Records"]
        self.batches.append((trio.current_time(), records))
        if self.behaviour is not None:
            return self.behaviour(records, len(self.batches))
        return None

    @property
    def bodies(self) -> list[list[str]]:
        return [[r["body"] for r in records] for _, records in self.batches]

    @property
    def flat(self) -> list[str]:
        return [b for batch in self.bodies for b in batch]

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self.batches]


def fail(records, n):
    raise RuntimeError("batch failed")


async def error_code(call, **params) -> str:
    with pytest.raises(BrokerError) as e:
        await call(**params)
    return e.value.code


async def setup(lam, sqs, handler, queue="src", fn="f", timeout=3, **queue_attrs):
    """A queue and a function: the queue's (url, arn)."""
    url, arn = await make_queue(sqs, queue, **queue_attrs)
    await lam.create_function(FunctionName=fn, Handler=handler, Timeout=timeout)
    return url, arn


async def send_all(sqs, url, bodies, **kwargs):
    for body in bodies:
        await sqs.send_message(QueueUrl=url, MessageBody=body, **kwargs)


# --- the mapping API ------------------------------------------------------------------------------


async def test_create_get_list_delete_mapping(autojump_clock, lam, sqs):
    """AWS: CreateEventSourceMapping answers the mapping (UUID, BatchSize 10 by default,
    MaximumBatchingWindowInSeconds 0, EventSourceArn, FunctionArn, State); Get answers the same;
    List filters by function or source; Delete answers State Deleting and the mapping is then
    not found."""
    _, arn = await setup(lam, sqs, Batches())
    m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    assert m["BatchSize"] == 10
    assert m["MaximumBatchingWindowInSeconds"] == 0
    assert m["EventSourceArn"] == arn
    assert m["FunctionArn"] == function_arn("f")
    assert m["State"] == "Enabled"
    assert m["FunctionResponseTypes"] == []
    assert m["EventSourceMappingArn"].endswith(f":event-source-mapping:{m['UUID']}")
    got = await lam.get_event_source_mapping(UUID=m["UUID"])
    assert got == m
    assert (await lam.list_event_source_mappings(FunctionName="f"))["EventSourceMappings"] == [m]
    assert (await lam.list_event_source_mappings(EventSourceArn=arn))["EventSourceMappings"] == [m]
    _, other = await make_queue(sqs, "other")
    assert (await lam.list_event_source_mappings(EventSourceArn=other))["EventSourceMappings"] == []
    deleted = await lam.delete_event_source_mapping(UUID=m["UUID"])
    assert deleted["State"] == "Deleting"
    code = await error_code(lam.get_event_source_mapping, UUID=m["UUID"])
    assert code == "ResourceNotFoundException"
    assert (await lam.list_event_source_mappings())["EventSourceMappings"] == []
    code = await error_code(lam.delete_event_source_mapping, UUID=m["UUID"])
    assert code == "ResourceNotFoundException"


async def test_list_mappings_paginates(autojump_clock, lam, sqs):
    """AWS: ListEventSourceMappings returns at most MaxItems mappings and a NextMarker while
    more remain."""
    await lam.create_function(FunctionName="f", Handler=Batches())
    uuids = []
    for i in range(5):
        _, arn = await make_queue(sqs, f"q{i}")
        m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
        uuids.append(m["UUID"])
    seen, marker = [], None
    while True:
        kwargs = {"MaxItems": 2} if marker is None else {"MaxItems": 2, "Marker": marker}
        page = await lam.list_event_source_mappings(**kwargs)
        assert len(page["EventSourceMappings"]) <= 2
        seen.extend(m["UUID"] for m in page["EventSourceMappings"])
        marker = page.get("NextMarker")
        if marker is None:
            break
    assert sorted(seen) == sorted(uuids)


async def test_mapping_states_pass_through_creating_disabling_enabling_deleting(
    autojump_clock, connect
):
    """AWS: a new mapping is Creating, then Enabled; disabling passes through Disabling to
    Disabled, enabling through Enabling to Enabled, an update through Updating; deletion shows
    Deleting until the mapping is gone. An update during a passing state is refused with
    ResourceInUseException."""
    async with Broker.open(seed=0, lambda_options=LambdaOptions(mapping_delay=2)) as b:
        aws = await connect(b)
        lam, sqs = aws.client("lambda"), aws.client("sqs")
        _, arn = await setup(lam, sqs, Batches())
        m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
        uuid = m["UUID"]

        async def state():
            return (await lam.get_event_source_mapping(UUID=uuid))["State"]

        assert m["State"] == "Creating"
        code = await error_code(lam.update_event_source_mapping, UUID=uuid, BatchSize=5)
        assert code == "ResourceInUseException"
        await trio.sleep(2)
        assert await state() == "Enabled"
        r = await lam.update_event_source_mapping(UUID=uuid, Enabled=False)
        assert r["State"] == "Disabling"
        await trio.sleep(2)
        assert await state() == "Disabled"
        r = await lam.update_event_source_mapping(UUID=uuid, Enabled=True)
        assert r["State"] == "Enabling"
        await trio.sleep(2)
        assert await state() == "Enabled"
        r = await lam.update_event_source_mapping(UUID=uuid, BatchSize=5)
        assert (r["State"], r["BatchSize"]) == ("Updating", 5)
        await trio.sleep(2)
        assert await state() == "Enabled"
        r = await lam.delete_event_source_mapping(UUID=uuid)
        assert r["State"] == "Deleting"
        assert await state() == "Deleting"
        await trio.sleep(2)
        code = await error_code(lam.get_event_source_mapping, UUID=uuid)
        assert code == "ResourceNotFoundException"


async def test_mapping_created_disabled(autojump_clock, lam, sqs, broker):
    """AWS: a mapping created with Enabled=false is Disabled and takes no messages."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", Enabled=False)
    assert m["State"] == "Disabled"
    await sqs.send_message(QueueUrl=url, MessageBody="x")
    await broker.settle()
    await trio.sleep(60)
    assert rec.batches == []
    assert await counts(sqs, url) == (1, 0)


async def test_update_mapping_settings(autojump_clock, lam, sqs):
    """AWS: UpdateEventSourceMapping changes BatchSize, MaximumBatchingWindowInSeconds,
    FunctionResponseTypes and FilterCriteria, keeping what is not given."""
    _, arn = await setup(lam, sqs, Batches())
    m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=5)
    pattern = json.dumps({"body": {"k": ["v"]}})
    r = await lam.update_event_source_mapping(
        UUID=m["UUID"],
        BatchSize=50,
        MaximumBatchingWindowInSeconds=3,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": pattern}]},
    )
    assert r["BatchSize"] == 50
    assert r["MaximumBatchingWindowInSeconds"] == 3
    assert r["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert r["FilterCriteria"] == {"Filters": [{"Pattern": pattern}]}
    r = await lam.update_event_source_mapping(UUID=m["UUID"], BatchSize=40)
    assert (r["BatchSize"], r["MaximumBatchingWindowInSeconds"]) == (40, 3)
    assert await lam.get_event_source_mapping(UUID=m["UUID"]) == r


async def test_invalid_mapping_update_changes_nothing(autojump_clock, lam, sqs):
    """AWS: an UpdateEventSourceMapping with an invalid value is refused as a whole: valid
    settings given with it are not applied."""
    _, arn = await setup(lam, sqs, Batches())
    m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=5)
    for params, expected in (
        ({"BatchSize": 0, "MaximumBatchingWindowInSeconds": 7}, "ValidationException"),
        (
            {"BatchSize": 11, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
            "InvalidParameterValueException",
        ),
        ({"BatchSize": 7, "TumblingWindowInSeconds": 5}, "InvalidParameterValueException"),
        ({"BatchSize": 7, "FunctionName": "missing"}, "ResourceNotFoundException"),
    ):
        code = await error_code(lam.update_event_source_mapping, UUID=m["UUID"], **params)
        assert code == expected
    assert await lam.get_event_source_mapping(UUID=m["UUID"]) == m


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"BatchSize": 0}, "ValidationException"),
        ({"BatchSize": 10001}, "ValidationException"),
        ({"BatchSize": 11}, "InvalidParameterValueException"),
        ({"BatchSize": 11, "MaximumBatchingWindowInSeconds": 0}, "InvalidParameterValueException"),
        ({"MaximumBatchingWindowInSeconds": 301}, "ValidationException"),
        ({"StartingPosition": "LATEST"}, "InvalidParameterValueException"),
        ({"ParallelizationFactor": 2}, "InvalidParameterValueException"),
        ({"BisectBatchOnFunctionError": True}, "InvalidParameterValueException"),
        ({"MaximumRetryAttempts": 1}, "InvalidParameterValueException"),
        ({"MaximumRecordAgeInSeconds": 60}, "InvalidParameterValueException"),
        ({"TumblingWindowInSeconds": 5}, "InvalidParameterValueException"),
        (
            {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:x"}}},
            "InvalidParameterValueException",
        ),
        ({"FunctionResponseTypes": ["Nope"]}, "ValidationException"),
        (
            {"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}},
            "InvalidParameterValueException",
        ),
        ({"ScalingConfig": {"MaximumConcurrency": 1}}, "ValidationException"),
    ],
    ids=[
        "batch0",
        "batch10001",
        "batch11-no-window",
        "batch11-window0",
        "window301",
        "starting-position",
        "parallelization",
        "bisect",
        "retries",
        "record-age",
        "tumbling",
        "destination",
        "response-types",
        "bad-filter",
        "max-concurrency1",
    ],
)
async def test_invalid_sqs_mapping_is_rejected_and_not_created(
    autojump_clock, lam, sqs, params, expected
):
    """AWS: BatchSize is 1..10000 and the batching window 0..300 s (ValidationException); over 10
    messages a batch needs MaximumBatchingWindowInSeconds >= 1; Kinesis-only parameters are not
    supported for an SQS source (InvalidParameterValueException); ScalingConfig's
    MaximumConcurrency is 2..1000. Nothing is created."""
    _, arn = await setup(lam, sqs, Batches())
    code = await error_code(
        lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="f", **params
    )
    assert code == expected
    assert (await lam.list_event_source_mappings())["EventSourceMappings"] == []


async def test_batch_over_10_with_window_is_accepted(autojump_clock, lam, sqs):
    """AWS: a standard queue takes BatchSize up to 10,000 with a batching window of 1 s or more."""
    _, arn = await setup(lam, sqs, Batches())
    m = await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=10000, MaximumBatchingWindowInSeconds=1
    )
    assert (m["BatchSize"], m["MaximumBatchingWindowInSeconds"]) == (10000, 1)


async def test_fifo_queue_batch_size_at_most_10(autojump_clock, lam, sqs):
    """AWS: for a FIFO queue the maximum BatchSize is 10 (InvalidParameterValueException)."""
    _, arn = await setup(lam, sqs, Batches(), queue="src.fifo", FifoQueue="true")
    code = await error_code(
        lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="f", BatchSize=11
    )
    assert code == "InvalidParameterValueException"
    m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=10)
    assert m["BatchSize"] == 10


async def test_fifo_queue_has_no_batching_window(autojump_clock, lam, sqs):
    """AWS: "Batching window is not supported for FIFO queues": a FIFO mapping with
    MaximumBatchingWindowInSeconds > 0 is refused with InvalidParameterValueException."""
    _, arn = await setup(lam, sqs, Batches(), queue="src.fifo", FifoQueue="true")
    code = await error_code(
        lam.create_event_source_mapping,
        EventSourceArn=arn,
        FunctionName="f",
        MaximumBatchingWindowInSeconds=5,
    )
    assert code == "InvalidParameterValueException"


async def test_function_timeout_over_queue_visibility_timeout_is_rejected(autojump_clock, lam, sqs):
    """AWS: a mapping is refused when the function's Timeout exceeds the queue's visibility
    timeout (InvalidParameterValueException), and a mapped function's Timeout cannot then be
    raised above it."""
    _, arn = await setup(lam, sqs, Batches(), timeout=60, VisibilityTimeout=30)
    code = await error_code(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="f")
    assert code == "InvalidParameterValueException"
    assert (await lam.list_event_source_mappings())["EventSourceMappings"] == []
    await lam.update_function_configuration(FunctionName="f", Timeout=30)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    code = await error_code(lam.update_function_configuration, FunctionName="f", Timeout=31)
    assert code == "InvalidParameterValueException"
    assert (await lam.get_function_configuration(FunctionName="f"))["Timeout"] == 30


async def test_duplicate_mapping_is_resource_conflict(autojump_clock, lam, sqs):
    """AWS: a second mapping of the same queue to the same function fails with
    ResourceConflictException; the same queue may map to another function."""
    _, arn = await setup(lam, sqs, Batches())
    await lam.create_function(FunctionName="g", Handler=Batches())
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    code = await error_code(lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="f")
    assert code == "ResourceConflictException"
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="g")
    assert len((await lam.list_event_source_mappings())["EventSourceMappings"]) == 2


async def test_unknown_queue_or_function_is_rejected(autojump_clock, lam, sqs):
    """AWS: a mapping of a queue that does not exist is InvalidParameterValueException; of a
    function that does not exist, ResourceNotFoundException; an unknown UUID,
    ResourceNotFoundException."""
    _, arn = await setup(lam, sqs, Batches())
    missing = "arn:aws:sqs:us-east-1:000000000000:missing"
    code = await error_code(
        lam.create_event_source_mapping, EventSourceArn=missing, FunctionName="f"
    )
    assert code == "InvalidParameterValueException"
    code = await error_code(
        lam.create_event_source_mapping, EventSourceArn=arn, FunctionName="nope"
    )
    assert code == "ResourceNotFoundException"
    code = await error_code(
        lam.get_event_source_mapping, UUID="00000000-0000-4000-8000-000000000000"
    )
    assert code == "ResourceNotFoundException"
    assert (await lam.list_event_source_mappings())["EventSourceMappings"] == []


# --- processing -----------------------------------------------------------------------------------


async def test_successful_batch_is_deleted(autojump_clock, lam, sqs, broker):
    """AWS: when the function succeeds Lambda deletes the batch's messages from the queue."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)]
    )
    await broker.settle()
    assert rec.bodies == [["m0", "m1", "m2"]]
    assert await counts(sqs, url) == (0, 0)
    await trio.sleep(100)
    assert len(rec.batches) == 1


async def test_failed_batch_returns_after_visibility_timeout(autojump_clock, lam, sqs, broker):
    """AWS: when the function fails, the batch's messages stay in the queue and become visible
    again after the visibility timeout; the retry sees ApproximateReceiveCount incremented and
    the same ApproximateFirstReceiveTimestamp."""
    rec = Batches(lambda records, n: fail(records, n) if n == 1 else None)
    url, arn = await setup(lam, sqs, rec, VisibilityTimeout=20)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    await broker.settle()
    assert await counts(sqs, url) == (0, 1)
    await trio.sleep(19)
    assert len(rec.batches) == 1
    await trio.sleep(2)
    assert rec.times == [0, 20]
    first, second = rec.batches[0][1][0], rec.batches[1][1][0]
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert second["attributes"]["ApproximateReceiveCount"] == "2"
    assert (
        first["attributes"]["ApproximateFirstReceiveTimestamp"]
        == second["attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    assert first["messageId"] == second["messageId"]
    assert first["receiptHandle"] != second["receiptHandle"]
    assert await counts(sqs, url) == (0, 0)


async def test_failing_messages_go_to_the_queues_dlq(autojump_clock, lam, sqs):
    """AWS: messages of batches that keep failing are moved by SQS to the queue's dead-letter
    queue once their receive count exceeds maxReceiveCount; Lambda stops seeing them."""
    rec = Batches(fail)
    dlq_url, dlq_arn = await make_queue(sqs, "dlq")
    url, arn = await setup(lam, sqs, rec, VisibilityTimeout=10, RedrivePolicy=redrive(dlq_arn, 3))
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await sqs.send_message(QueueUrl=url, MessageBody="poison")
    await trio.sleep(200)
    assert rec.times == [0, 10, 20]
    assert await counts(sqs, url) == (0, 0)
    dead = await drain(sqs, dlq_url)
    assert [m["Body"] for m in dead] == ["poison"]
    mapping = (await lam.get_function_metrics(FunctionName="f"))["EventSourceMappings"][0]
    assert (mapping["Batches"], mapping["FailedBatches"]) == (3, 3)


async def test_timed_out_batch_is_a_failure(autojump_clock, lam, sqs):
    """AWS: a batch whose invocation times out is a failed batch: nothing is deleted."""
    calls = []

    async def slow(event, context):
        calls.append(trio.current_time())
        if len(calls) == 1:
            await trio.sleep(10)

    url, arn = await make_queue(sqs, "src", VisibilityTimeout=20)
    await lam.create_function(FunctionName="f", Handler=slow, Timeout=2)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await sqs.send_message(QueueUrl=url, MessageBody="m")
    await trio.sleep(100)
    assert calls == [0, 20]
    assert await counts(sqs, url) == (0, 0)


async def test_report_batch_item_failures_deletes_only_successes(autojump_clock, lam, sqs, broker):
    """AWS: with FunctionResponseTypes ReportBatchItemFailures, the messages the function names
    in batchItemFailures stay in the queue (returning after the visibility timeout) and the
    others are deleted."""

    def handler(records, n):
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in records if r["body"].startswith("bad")
            ]
        }

    rec = Batches(handler)
    url, arn = await setup(lam, sqs, rec, VisibilityTimeout=30)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    await sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "MessageBody": b} for i, b in enumerate(["a", "bad1", "c", "bad2"])
        ],
    )
    await broker.settle()
    assert rec.bodies == [["a", "bad1", "c", "bad2"]]
    assert await counts(sqs, url) == (0, 2)
    await trio.sleep(31)
    assert rec.bodies[1:] == [["bad1", "bad2"]]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in rec.batches[1][1]] == ["2", "2"]


@pytest.mark.parametrize(
    "answer",
    [{}, None, {"batchItemFailures": []}, {"batchItemFailures": None}],
    ids=["empty-object", "null", "empty-list", "null-list"],
)
async def test_report_batch_item_failures_empty_answer_is_full_success(
    autojump_clock, lam, sqs, broker, answer
):
    """AWS: an empty or null response, or an empty or null batchItemFailures list, counts as
    complete success: the whole batch is deleted."""
    rec = Batches(lambda records, n: answer)
    url, arn = await setup(lam, sqs, rec)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    await send_all(sqs, url, ["a", "b"])
    await broker.settle()
    assert await counts(sqs, url) == (0, 0)


@pytest.mark.parametrize(
    "answer",
    [
        "not an object",
        {"batchItemFailures": "x"},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"wrongKey": "x"}]},
        {"batchItemFailures": [{"itemIdentifier": "no-such-message-id"}]},
    ],
    ids=["string", "not-list", "empty-id", "null-id", "bad-key", "unknown-id"],
)
async def test_malformed_batch_item_failures_fail_the_whole_batch(
    autojump_clock, lam, sqs, broker, answer
):
    """AWS: Lambda treats the batch as a complete failure when the response is not a valid
    partial-batch response: an empty or null itemIdentifier, a bad key, or an id that is not in
    the batch. No message is deleted."""
    rec = Batches(lambda records, n: answer if n == 1 else None)
    url, arn = await setup(lam, sqs, rec, VisibilityTimeout=30)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    await sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "a"}, {"Id": "1", "MessageBody": "b"}]
    )
    await broker.settle()
    assert await counts(sqs, url) == (0, 2)
    await trio.sleep(31)
    assert rec.bodies == [["a", "b"], ["a", "b"]]
    assert await counts(sqs, url) == (0, 0)


async def test_batch_item_failures_ignored_without_the_response_type(
    autojump_clock, lam, sqs, broker
):
    """AWS: without ReportBatchItemFailures the function's answer is ignored: a successful
    invocation deletes the whole batch."""
    rec = Batches(
        lambda records, n: {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    )
    url, arn = await setup(lam, sqs, rec)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await send_all(sqs, url, ["a"])
    await broker.settle()
    assert await counts(sqs, url) == (0, 0)


async def test_fifo_order_per_group_is_kept_across_batches_and_retries(
    autojump_clock, lam, sqs, broker
):
    """AWS: with a FIFO queue Lambda processes each message group in order: batches of a group
    follow one another, and a failed batch is retried before later messages of its group."""
    failed_once = set()

    def handler(records, n):
        bodies = [r["body"] for r in records]
        if "a5" in bodies and "a5" not in failed_once:
            failed_once.add("a5")
            raise RuntimeError("a5 fails once")

    rec = Batches(handler)
    url, arn = await setup(lam, sqs, rec, queue="src.fifo", FifoQueue="true", VisibilityTimeout=10)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=3)
    sent = {"a": [f"a{i}" for i in range(12)], "b": [f"b{i}" for i in range(12)]}
    for i in range(12):
        for group in ("a", "b"):
            await sqs.send_message(
                QueueUrl=url,
                MessageBody=sent[group][i],
                MessageGroupId=group,
                MessageDeduplicationId=sent[group][i],
            )
    await broker.settle()
    await trio.sleep(100)
    assert failed_once == {"a5"}
    failed = next(i for i, b in enumerate(rec.bodies) if "a5" in b)  # the one failed batch
    for group in ("a", "b"):
        done = [
            r["body"]
            for i, (_, records) in enumerate(rec.batches)
            if i != failed
            for r in records
            if r["attributes"]["MessageGroupId"] == group
        ]
        assert done == sent[group]
    assert await counts(sqs, url) == (0, 0)


async def test_filter_criteria_invokes_matching_and_deletes_the_rest(
    autojump_clock, lam, sqs, broker
):
    """AWS: with FilterCriteria the function gets only messages matching a pattern (JSON bodies
    by their fields, plain-text bodies as strings); an SQS message that matches no pattern is
    deleted from the queue without invoking the function."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    await lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="f",
        FilterCriteria={
            "Filters": [
                {"Pattern": json.dumps({"body": {"kind": ["keep"]}})},
                {"Pattern": json.dumps({"body": ["plain-keep"]})},
            ]
        },
    )
    bodies = [
        json.dumps({"kind": "keep", "n": 1}),
        json.dumps({"kind": "drop", "n": 2}),
        "plain-keep",
        "plain-drop",
    ]
    await sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
    )
    await broker.settle()
    assert rec.flat == [bodies[0], "plain-keep"]
    assert await counts(sqs, url) == (0, 0)
    await sqs.send_message(QueueUrl=url, MessageBody="plain-drop")
    await broker.settle()
    await trio.sleep(60)
    assert len(rec.flat) == 2
    assert await counts(sqs, url) == (0, 0)
    mapping = (await lam.get_function_metrics(FunctionName="f"))["EventSourceMappings"][0]
    assert mapping["FilteredRecords"] == 3


async def test_batching_window_gathers_up_to_batch_size(autojump_clock, lam, sqs, broker):
    """AWS: with MaximumBatchingWindowInSeconds Lambda gathers messages until the batch is full
    (invoking at once) or the window ends (invoking with what it has)."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    for start in range(0, 25, 10):
        await sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(start + 10, 25))
            ],
        )
    await trio.sleep(1)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=20, MaximumBatchingWindowInSeconds=5
    )
    await trio.sleep(30)
    assert sorted(len(b) for b in rec.bodies) == [5, 20]
    by_size = {len(records): t for t, records in rec.batches}
    assert by_size[20] == 1  # full: no wait
    assert by_size[5] == 6  # window of 5 s
    assert sorted(rec.flat) == sorted(f"m{i}" for i in range(25))


async def test_batching_window_holds_a_partial_batch_until_it_ends(
    autojump_clock, lam, sqs, broker
):
    """AWS: with MaximumBatchingWindowInSeconds, a batch that is not full is invoked only when
    the window (counted from the first message's receipt) ends, not at once."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=10, MaximumBatchingWindowInSeconds=10
    )
    await trio.sleep(2)
    await sqs.send_message(QueueUrl=url, MessageBody="first")
    await broker.settle()
    await trio.sleep(9)
    assert rec.batches == []
    await trio.sleep(2)
    assert rec.batches == [(12, rec.batches[0][1])]
    assert rec.bodies == [["first"]]
    assert await counts(sqs, url) == (0, 0)


async def test_disabling_stops_invocations_and_enabling_resumes(autojump_clock, lam, sqs, broker):
    """AWS: a mapping updated to Enabled=false stops polling (messages stay in the queue); set
    back to Enabled=true it processes them."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await send_all(sqs, url, ["before"])
    await broker.settle()
    assert rec.flat == ["before"]
    r = await lam.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    assert r["State"] == "Disabled"
    await send_all(sqs, url, ["while-off-1", "while-off-2"])
    await broker.settle()
    await trio.sleep(120)
    assert rec.flat == ["before"]
    assert await counts(sqs, url) == (2, 0)
    r = await lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    assert r["State"] == "Enabled"
    await broker.settle()
    assert sorted(rec.flat) == ["before", "while-off-1", "while-off-2"]
    assert await counts(sqs, url) == (0, 0)


async def test_updating_a_disabled_mapping_does_not_poll(autojump_clock, connect):
    """AWS: changing the settings of a Disabled mapping (e.g. its BatchSize) leaves it disabled:
    no message is taken while the update is applied nor after."""
    async with Broker.open(seed=0, lambda_options=LambdaOptions(mapping_delay=5)) as b:
        aws = await connect(b)
        lam, sqs = aws.client("lambda"), aws.client("sqs")
        rec = Batches()
        url, arn = await setup(lam, sqs, rec)
        m = await lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName="f", Enabled=False
        )
        await trio.sleep(5)
        assert (await lam.get_event_source_mapping(UUID=m["UUID"]))["State"] == "Disabled"
        await send_all(sqs, url, ["x"])
        await b.settle()
        await lam.update_event_source_mapping(UUID=m["UUID"], BatchSize=5)
        await b.settle()
        await trio.sleep(60)
        assert (await lam.get_event_source_mapping(UUID=m["UUID"]))["State"] == "Disabled"
        assert rec.batches == []
        await lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
        await trio.sleep(10)
        assert rec.flat == ["x"]


async def test_deleting_the_mapping_stops_invocations(autojump_clock, lam, sqs, broker):
    """AWS: after DeleteEventSourceMapping the queue is no longer polled."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    m = await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await lam.delete_event_source_mapping(UUID=m["UUID"])
    await send_all(sqs, url, ["x"])
    await broker.settle()
    await trio.sleep(60)
    assert rec.batches == []
    assert await counts(sqs, url) == (1, 0)


async def test_throttled_function_leaves_messages_in_queue(autojump_clock, lam, sqs, broker):
    """AWS: when the function is throttled (reserved concurrency 0) the messages are not lost:
    they return to the queue and are processed once concurrency is available."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec, VisibilityTimeout=10)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=0)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await send_all(sqs, url, ["t"])
    await broker.settle()
    await trio.sleep(25)
    assert rec.batches == []
    await lam.delete_function_concurrency(FunctionName="f")
    await trio.sleep(30)
    assert rec.flat == ["t"]
    assert await counts(sqs, url) == (0, 0)


async def test_sqs_mapping_starts_with_five_concurrent_batches(autojump_clock, lam, sqs):
    """AWS: an SQS event source mapping starts with five pollers, so up to five batches run at
    once at first."""

    async def slow(event, context):
        await trio.sleep(10)

    url, arn = await make_queue(sqs, "src")
    await lam.create_function(FunctionName="f", Handler=slow, Timeout=20)
    await sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
    )
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
    await trio.sleep(5)
    m = (await lam.get_function_metrics(FunctionName="f"))["Metrics"]
    assert m["ConcurrentExecutions"] == 5
    await trio.sleep(60)
    assert await counts(sqs, url) == (0, 0)


async def test_scaling_config_maximum_concurrency_caps_concurrent_batches(autojump_clock, lam, sqs):
    """AWS: ScalingConfig MaximumConcurrency limits how many invocations the mapping runs at
    once, even while the queue keeps a backlog for minutes."""

    async def slow(event, context):
        await trio.sleep(10)

    url, arn = await make_queue(sqs, "src")
    await lam.create_function(FunctionName="f", Handler=slow, Timeout=20)
    for start in range(0, 60, 10):
        await sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)],
        )
    m = await lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="f",
        BatchSize=1,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    assert m["ScalingConfig"] == {"MaximumConcurrency": 2}
    await trio.sleep(400)
    metrics = (await lam.get_function_metrics(FunctionName="f"))["Metrics"]
    assert metrics["MaxConcurrentExecutions"] == 2
    assert metrics["Invocations"] == 60
    assert await counts(sqs, url) == (0, 0)


# --- the SQS event --------------------------------------------------------------------------------


async def test_sqs_event_record_shape(autojump_clock, lam, sqs, broker):
    """AWS: each SQS record is {messageId, receiptHandle, body, attributes {ApproximateReceiveCount,
    SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp}, messageAttributes {name:
    {stringValue | binaryValue, stringListValues [], binaryListValues [], dataType}}, md5OfBody,
    eventSource aws:sqs, eventSourceARN, awsRegion} (plus md5OfMessageAttributes when the
    message has attributes)."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec)
    await trio.sleep(2.5)
    await sqs.send_message(QueueUrl=url, MessageBody="plain")
    await sqs.send_message(
        QueueUrl=url,
        MessageBody="with attributes",
        MessageAttributes={
            "s": {"DataType": "String", "StringValue": "v"},
            "n": {"DataType": "Number", "StringValue": "12"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    received = await sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )
    sent = {m["Body"]: m for m in received["Messages"]}
    assert len(sent) == 2
    await trio.sleep(1)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await broker.settle()
    records = {r["body"]: r for r in rec.batches[0][1]}
    plain = records["plain"]
    assert set(plain) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert plain["messageId"] == sent["plain"]["MessageId"]
    assert isinstance(plain["receiptHandle"], str) and plain["receiptHandle"]
    assert plain["md5OfBody"] == hashlib.md5(b"plain").hexdigest()
    assert plain["eventSource"] == "aws:sqs"
    assert plain["eventSourceARN"] == arn
    assert plain["awsRegion"] == "us-east-1"
    assert plain["messageAttributes"] == {}
    assert plain["attributes"] == {
        "ApproximateReceiveCount": "2",
        "SentTimestamp": str(1735689600000 + 2500),
        "SenderId": "000000000000",
        "ApproximateFirstReceiveTimestamp": str(1735689600000 + 2500),
    }
    attrs = records["with attributes"]
    assert attrs["messageAttributes"] == {
        "s": {
            "stringValue": "v",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "n": {
            "stringValue": "12",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        },
        "b": {
            "binaryValue": base64.b64encode(b"\x00\x01").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert attrs["md5OfMessageAttributes"] == sent["with attributes"]["MD5OfMessageAttributes"]


async def test_sqs_fifo_event_record_attributes(autojump_clock, lam, sqs, broker):
    """AWS: a FIFO queue's records also carry SequenceNumber, MessageGroupId and
    MessageDeduplicationId in attributes."""
    rec = Batches()
    url, arn = await setup(lam, sqs, rec, queue="src.fifo", FifoQueue="true")
    r = await sqs.send_message(
        QueueUrl=url, MessageBody="x", MessageGroupId="g1", MessageDeduplicationId="d1"
    )
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f")
    await broker.settle()
    record = rec.batches[0][1][0]
    assert record["eventSourceARN"] == arn
    assert record["attributes"] == {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1735689600000",
        "SequenceNumber": r["SequenceNumber"],
        "MessageGroupId": "g1",
        "SenderId": "000000000000",
        "MessageDeduplicationId": "d1",
        "ApproximateFirstReceiveTimestamp": "1735689600000",
    }


# --- nothing is lost -----------------------------------------------------------------------------


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_messages=st.integers(min_value=1, max_value=25),
    batch_size=st.integers(min_value=1, max_value=10),
    partial=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_random_failures_never_lose_a_message(n_messages, batch_size, partial, seed):
    """AWS: with an SQS source and a redrive policy, every message either is processed
    successfully (at least once) or ends in the dead-letter queue, however the function fails:
    none is lost."""
    import random

    async def scenario():
        rng = random.Random(seed)
        succeeded: set[str] = set()

        def handler(event, context):
            records = event["Records"]
            if partial:
                failures = []
                for r in records:
                    if rng.random() < 0.4:
                        failures.append({"itemIdentifier": r["messageId"]})
                    else:
                        succeeded.add(r["body"])
                return {"batchItemFailures": failures}
            if rng.random() < 0.4:
                raise RuntimeError("random failure")
            succeeded.update(r["body"] for r in records)
            return None

        async with Broker.open(seed=seed % 1000) as b:
            aws = InProcessClient(b)
            lam, sqs = aws.client("lambda"), aws.client("sqs")
            dlq_url, dlq_arn = await make_queue(sqs, "dlq")
            url, arn = await make_queue(
                sqs, "src", VisibilityTimeout=5, RedrivePolicy=redrive(dlq_arn, 3)
            )
            await lam.create_function(FunctionName="f", Handler=handler)
            await lam.create_event_source_mapping(
                EventSourceArn=arn,
                FunctionName="f",
                BatchSize=batch_size,
                FunctionResponseTypes=["ReportBatchItemFailures"] if partial else [],
            )
            bodies = [f"m{i}" for i in range(n_messages)]
            await send_all(sqs, url, bodies)
            await b.settle()
            await trio.sleep(60)
            assert await counts(sqs, url) == (0, 0)
            dead = [m["Body"] for m in await drain(sqs, dlq_url)]
            assert len(dead) == len(set(dead))
            assert set(bodies) == succeeded | set(dead)
            assert not succeeded & set(dead)

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
