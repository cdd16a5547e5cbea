"""What the Kinesis tests share: names, ARNs and an error assertion (the ``fbroker`` and ``kin``
fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from msgsim.broker import BrokerError

ACCOUNT = "000000000000"
REGION = "us-east-1"


def arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


@contextmanager
def aws_error(code: str) -> Iterator[Any]:
    with pytest.raises(BrokerError) as info:
        yield info
    assert info.value.code == code, repr(info.value)
