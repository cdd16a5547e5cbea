"""The boto3-shaped client: every answer of the broker is a BrokerError, and a mistake in the
Python code itself fails as Python (and boto3) make it fail, before any request is made."""

from __future__ import annotations

import pytest

from msgsim import InProcessClient
from msgsim.adapters.client import unknown_service


async def test_an_unknown_service_is_a_value_error_naming_the_services_msgsim_simulates(
    broker, aws
):
    with pytest.raises(ValueError) as err:
        aws.client("sqss")
    message = str(err.value)
    assert message.startswith(
        "Unknown service 'sqss'; msgsim simulates these services: sqs, sns, kinesis, lambda"
    )
    assert message.endswith(" Did you mean 'sqs'?")
    assert broker.requests == 0


async def test_the_in_process_client_names_exactly_the_broker_s_services(broker):
    with pytest.raises(ValueError) as err:
        InProcessClient(broker).client("dynamodb")
    assert str(err.value) == (
        "Unknown service 'dynamodb'; msgsim simulates these services: sqs, sns, kinesis, lambda."
    )


def test_an_unknown_service_of_another_type_is_named_as_it_is():
    assert str(unknown_service(None, ["sqs"])) == (
        "Unknown service None; msgsim simulates these services: sqs."
    )


async def test_a_misspelled_method_is_an_attribute_error_naming_the_likely_one(broker, aws):
    sqs = aws.client("sqs")
    with pytest.raises(AttributeError) as err:
        sqs.sned_message  # noqa: B018
    assert str(err.value) == (
        "'sqs' client has no operation 'sned_message'. Did you mean 'send_message'?"
    )
    with pytest.raises(AttributeError) as err:
        sqs.frobnicate  # noqa: B018
    assert str(err.value) == "'sqs' client has no operation 'frobnicate'."
    assert not hasattr(sqs, "sned_message")
    assert broker.requests == 0


async def test_positional_arguments_are_a_type_error_as_in_boto3(broker, aws):
    with pytest.raises(TypeError) as err:
        await aws.client("sqs").list_queues("orders")
    assert str(err.value) == "list_queues() only accepts keyword arguments."
    assert broker.requests == 0
