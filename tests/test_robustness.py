"""Bad input at the operation boundary: only BrokerError reaches a client, and a rejected request
changes nothing."""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError

URL = "https://sqs.us-east-1.amazonaws.com/000000000000/"
PARAM_NAMES = [
    "QueueUrl",
    "QueueName",
    "Attributes",
    "tags",
    "Tags",
    "TagKeys",
    "MessageBody",
    "DelaySeconds",
    "MessageAttributes",
    "MessageSystemAttributes",
    "MessageGroupId",
    "MessageDeduplicationId",
    "Entries",
    "ReceiptHandle",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxNumberOfMessages",
    "AttributeNames",
    "MessageAttributeNames",
    "MessageSystemAttributeNames",
    "ReceiveRequestAttemptId",
    "QueueNamePrefix",
    "MaxResults",
    "NextToken",
    "SourceArn",
    "DestinationArn",
    "MaxNumberOfMessagesPerSecond",
    "TaskHandle",
    "Bogus",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.sampled_from(
        [
            URL + "std",
            URL + "q.fifo",
            URL + "missing",
            "std",
            "arn:aws:sqs:us-east-1:000000000000:std",
            "arn:aws:sqs:us-east-1:000000000000:dlq",
            "AQEBAAAAAQ==",
            "All",
            "String",
            "\x00",
            "",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from([*PARAM_NAMES, "Id", "DataType", "StringValue"]), inner, max_size=4
        ),
    ),
    max_leaves=8,
)
requests = st.tuples(
    st.sampled_from(
        [
            "CreateQueue",
            "DeleteQueue",
            "GetQueueUrl",
            "ListQueues",
            "GetQueueAttributes",
            "SetQueueAttributes",
            "SendMessage",
            "SendMessageBatch",
            "ReceiveMessage",
            "DeleteMessage",
            "DeleteMessageBatch",
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
            "PurgeQueue",
            "TagQueue",
            "UntagQueue",
            "ListQueueTags",
            "ListDeadLetterSourceQueues",
            "StartMessageMoveTask",
            "ListMessageMoveTasks",
            "CancelMessageMoveTask",
            "NoSuchOperation",
        ]
    ),
    st.dictionaries(st.sampled_from(PARAM_NAMES), values, max_size=5),
)


def fingerprint(broker: Broker) -> object:
    sqs = broker.sqs
    return sorted(
        (
            name,
            tuple(sorted(q.attrs.items())),
            tuple(sorted(q.tags.items())),
            q.n_available,
            q.n_inflight,
            q.n_delayed,
            q.last_purge,
        )
        for name, q in sqs.queues.items()
    )


async def _scenario(operation: str, params: dict) -> None:
    async with Broker.open(seed=3) as broker:
        sqs = InProcessClient(broker).client("sqs")
        await sqs.create_queue(QueueName="dlq")
        await sqs.create_queue(
            QueueName="std",
            Attributes={
                "RedrivePolicy": '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq",'
                '"maxReceiveCount":"2"}'
            },
        )
        await sqs.create_queue(
            QueueName="q.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )
        await sqs.send_message(QueueUrl=URL + "std", MessageBody="a")
        await sqs.send_message(QueueUrl=URL + "q.fifo", MessageBody="b", MessageGroupId="g")
        await sqs.receive_message(QueueUrl=URL + "std")
        before = fingerprint(broker)
        try:
            await broker.call("sqs", operation, params)
        except BrokerError as err:
            assert err.code != "InternalFailure", err.message  # a defect of ours, not bad input
            assert err.code and isinstance(err.message, str)
            assert fingerprint(broker) == before, f"{operation} failed with {err} but changed state"


@settings(
    max_examples=int(os.environ.get("MSGSIM_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(requests)
def test_any_request_gets_a_response_or_a_broker_error_and_errors_change_nothing(request):
    operation, params = request
    trio.run(_scenario, operation, params, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_unknown_service_and_operation_are_broker_errors(broker):
    with pytest.raises(BrokerError) as err:
        await broker.call("nope", "Foo", {})
    assert err.value.code == "InvalidAction"
    with pytest.raises(BrokerError) as err:
        await broker.call("sqs", "Foo", {})
    assert err.value.code == "InvalidAction"
    with pytest.raises(BrokerError):
        await broker.call("sqs", "ListQueues", ["not", "a", "map"])  # type: ignore[arg-type]


async def test_client_rejects_positional_arguments_and_unknown_methods(sqs):
    """Mistakes in the calling code fail as with boto3 (tests/adapters/test_client.py)."""
    with pytest.raises(TypeError):
        await sqs.list_queues("positional")
    with pytest.raises(AttributeError):
        sqs.sned_message  # noqa: B018 - a typo is an AttributeError, as with boto3


async def test_a_bug_inside_an_operation_surfaces_as_internal_failure(broker, monkeypatch):
    """No exception other than BrokerError reaches a client, even from a defect of ours."""

    def broken(params, now):
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(broker.sqs.operations, "ListQueues", broken)
    with pytest.raises(BrokerError) as err:
        await broker.call("sqs", "ListQueues", {})
    assert err.value.code == "InternalFailure"
    assert err.value.sender_fault is False
