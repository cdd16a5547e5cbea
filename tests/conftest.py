"""Shared fixtures: a broker on trio's virtual clock and boto3-shaped clients.

pytest-trio only runs a test on a mock clock when the test function itself takes a clock
fixture, so :func:`pytest_collection_modifyitems` gives every other trio test a runner that
defaults to ``MockClock(autojump_threshold=0)``: sleeps, long polls and timeouts take virtual
time, never real time. A test that needs the real clock (real sockets) marks itself
``@pytest.mark.real_clock``.
"""

from __future__ import annotations

import importlib.abc
import inspect
import sys

import pytest
import trio
import trio.testing

from msgsim.adapters import InProcessClient, open_loopback_client
from msgsim.broker import Broker

pytest_plugins = ["pytester"]  # tests of msgsim's own pytest plugin


class _OneImportPath(importlib.abc.MetaPathFinder):
    """The repository's folders are importable only as ``msgsim.broker``, ``msgsim.adapters``
    and ``msgsim.scenarios``. The repository root is on ``sys.path`` (for ``bench``), so without
    this a stray ``import broker`` would load a second copy of every module (two BrokerError
    classes); here it fails loudly instead."""

    GENERIC = frozenset({"broker", "adapters", "scenarios"})

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.GENERIC:
            raise ImportError(
                f"import msgsim.{fullname}, not {fullname}: msgsim has one import path"
            )
        return None


sys.meta_path.insert(0, _OneImportPath())

#: The clients the integration tests run against: direct calls, and the TCP protocol (client,
#: framing, server) over an in-memory connection, so the same tests stay on the virtual clock.
CLIENT_KINDS = ["inprocess", "tcp"]


def pytest_configure(config):
    config.addinivalue_line("markers", "real_clock: run this trio test on the real clock")


def _run_on_virtual_clock(fn, *, clock=None, instruments=()):
    if clock is None:
        clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(fn, clock=clock, instruments=instruments)


def pytest_collection_modifyitems(items):
    for item in items:
        fn = getattr(item, "function", None)
        if fn is None or not inspect.iscoroutinefunction(fn):
            continue
        if item.get_closest_marker("real_clock"):
            continue
        item.add_marker(pytest.mark.trio(run=_run_on_virtual_clock), append=False)


@pytest.fixture
async def broker():
    async with Broker.open(seed=0) as b:
        yield b


async def _hold(broker, task_status=trio.TASK_STATUS_IGNORED):
    async with open_loopback_client(broker) as client:
        task_status.started(client)
        await trio.sleep_forever()


@pytest.fixture(params=CLIENT_KINDS)
def connect(request, nursery):
    """``aws = await connect(broker)``: a client of the kind under test (each test using this
    runs once per kind) for a broker the test opened."""

    async def connect(broker):
        if request.param == "inprocess":
            return InProcessClient(broker)
        return await nursery.start(_hold, broker)

    connect.kind = request.param
    return connect


@pytest.fixture
async def aws(broker, connect):
    return await connect(broker)


@pytest.fixture
def sqs(aws):
    return aws.client("sqs")


@pytest.fixture
def sns(aws):
    return aws.client("sns")


@pytest.fixture
def kinesis(aws):
    return aws.client("kinesis")


@pytest.fixture
async def fbroker():
    """A broker with throughput enforcement off (Kinesis shard limits), for functional tests."""
    async with Broker.open(seed=0, enforce_throughput=False) as b:
        yield b


@pytest.fixture
async def faws(fbroker, connect):
    """A client (of the kind under test) on :func:`fbroker`."""
    return await connect(fbroker)


@pytest.fixture
def kin(faws):
    """A Kinesis client on :func:`fbroker`."""
    return faws.client("kinesis")
