"""Shared fixtures: a broker on trio's virtual clock and boto3-shaped clients."""

from __future__ import annotations

import pytest

from adapters import InProcessClient
from broker import Broker


@pytest.fixture
async def broker(autojump_clock):
    async with Broker.open(seed=0) as b:
        yield b


@pytest.fixture
def aws(broker):
    return InProcessClient(broker)


@pytest.fixture
def sqs(aws):
    return aws.client("sqs")
