"""msgsim's pytest plugin, installed with msgsim (entry point ``pytest11``).

Fixtures:

- ``msgsim_broker``: a fresh in-process :class:`~msgsim.Broker` for each test (and for each
  hypothesis example), on trio's virtual clock.
- ``aws``: an :class:`~msgsim.InProcessClient` for it: ``aws.client("sqs")``, ...
- ``msgsim_daemon``: a real ``msgsim serve --port 0 --clock virtual`` subprocess, stopped after
  the test; its log is shown when the test fails. ``async with msgsim_daemon.connect() as aws``.
- ``msgsim_seed``: the seed the broker or daemon of this test runs with.

Guarantees:

- A test that uses ``msgsim_broker`` or ``aws`` runs on ``MockClock(autojump_threshold=0)``
  without asking for a clock: five virtual days of ``trio.sleep`` take no real time. A test
  that asks for a clock itself, or through one of its fixtures, gets that clock.
- Every test has a seed: ``--msgsim-seed N`` for all tests, else ``@pytest.mark.msgsim(seed=N)``,
  else a number derived from the test's id (so a test sees the same run every time). A failing
  test's report names its seed and the command that replays it.
- ``@pytest.mark.msgsim(**options)`` passes options to :meth:`Broker.open` (``at_least_once``,
  ``enforce_throughput``, ``epoch``, ...); so does indirect parametrization of
  ``msgsim_broker`` with a dict. For ``msgsim_daemon``, ``daemon_args=[...]`` adds
  ``msgsim serve`` arguments.
- Hypothesis ``@given`` works with these fixtures as it is: pytest-trio sets up async fixtures
  anew for every example, so each example gets a fresh broker and hypothesis's
  function-scoped-fixture health check (which guards against fixtures shared between examples)
  is told so for tests whose function-scoped fixtures are all async.
- A Broker opened on the real clock inside a pytest test warns once, saying how to get the
  virtual clock.

The async fixtures need pytest-trio (``pip install 'msgsim[pytest]'``).
"""

from __future__ import annotations

import functools
import inspect
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import trio
import trio.testing

from msgsim.broker import clock as broker_clock

from .daemon_process import DaemonProcess

#: Fixtures that open an in-process broker: a test using one runs on the virtual clock.
BROKER_FIXTURES = frozenset({"msgsim_broker"})
#: Fixtures that make an async test a trio test (the daemon has a clock of its own, so a test
#: that only talks to it over a real socket keeps the real clock).
MSGSIM_FIXTURES = BROKER_FIXTURES | {"msgsim_daemon"}
#: Every fixture of this plugin (a failing test that used one reports its seed).

_SEED_KEY = pytest.StashKey[int]()
_DAEMON_KEY = pytest.StashKey[DaemonProcess]()

REAL_CLOCK_ADVICE = (
    "msgsim: this Broker runs on the real clock, so its timeouts, delays and long polls take "
    "real time. Use the msgsim_broker or aws fixture (virtual clock, no set-up), or ask for "
    "pytest-trio's autojump_clock fixture."
)


# --------------------------------------------------------------------------- configuration
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("msgsim")
    group.addoption(
        "--msgsim-seed",
        type=int,
        default=None,
        metavar="N",
        help="run every msgsim broker and daemon with seed N (replays a failing test's seed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "msgsim(**options): options for this test's msgsim broker (seed, at_least_once, "
        "enforce_throughput, epoch, ...) and daemon (seed, daemon_args)",
    )
    broker_clock.real_clock_advice = REAL_CLOCK_ADVICE


def pytest_unconfigure(config: pytest.Config) -> None:
    broker_clock.real_clock_advice = None


# --------------------------------------------------------------------------- clocks
def _pytest_trio() -> Any:
    try:
        import pytest_trio.plugin
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return pytest_trio.plugin


def _clock_in_fixtures(item: pytest.Item) -> trio.abc.Clock | None:
    """A clock that one of the test's fixtures asked for (pytest-trio only looks among the
    test's own arguments, and would otherwise run the test on the real clock)."""
    values = getattr(item, "funcargs", {})
    clocks = [v for v in values.values() if isinstance(v, trio.abc.Clock)]
    return clocks[0] if len(clocks) == 1 else None


def _run_for(item: pytest.Item, previous: Callable[..., Any], virtual: bool) -> Callable[..., Any]:
    def run(fn: Callable[[], Any], *, clock: trio.abc.Clock | None = None, **kwargs: Any) -> Any:
        if clock is None:
            clock = _clock_in_fixtures(item)
        if clock is None and virtual:
            clock = trio.testing.MockClock(autojump_threshold=0)
        return previous(fn, clock=clock, **kwargs)

    return run


def _previous_run(item: pytest.Item) -> Callable[..., Any]:
    for marker in item.iter_markers("trio"):
        if marker.kwargs.get("run") is not None:
            return marker.kwargs["run"]
    plugin = _pytest_trio()
    return plugin.choose_run(item.config) if plugin is not None else trio.run


def _test_function(item: pytest.Item) -> Callable[..., Any] | None:
    fn = getattr(item, "obj", None)
    hypothesis = getattr(fn, "hypothesis", None)
    return hypothesis.inner_test if hypothesis is not None else fn


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs after pytest-trio's trio-mode marking and conftest hooks: give the tests that use
    msgsim's broker the virtual clock, and any trio test whose fixture asked for a clock that
    clock."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        fn = _test_function(item)
        if fn is None or not inspect.iscoroutinefunction(fn):
            continue
        virtual = bool(names & BROKER_FIXTURES)
        trio_marked = item.get_closest_marker("trio") is not None
        if not (names & MSGSIM_FIXTURES or trio_marked):
            continue
        run = _run_for(item, _previous_run(item), virtual)
        item.add_marker(pytest.mark.trio(run=run), append=False)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """For ``@given`` tests, wrap the inner test here, before pytest-trio does (it leaves an
    already wrapped test alone), mending two things pytest-trio 0.8 gets wrong there: it always
    calls ``trio.run`` (ignoring the marker's runner, so the clock this plugin chose), and it
    reuses its fixture objects from one example to the next, so a fixture that depends on
    another (``aws`` on ``msgsim_broker``) would see the previous example's closed broker."""
    fn = getattr(item, "obj", None)
    hypothesis = getattr(fn, "hypothesis", None)
    plugin = _pytest_trio()
    if (
        hypothesis is not None
        and plugin is not None
        and item.get_closest_marker("trio") is not None
        and not getattr(hypothesis.inner_test, "_trio_test_runner_wrapped", False)
    ):
        _trust_async_fixtures(item)
        outer = item.obj
        item.obj = hypothesis.inner_test  # the factory takes the marker's runner for item.obj
        try:
            run_example = plugin._trio_test_runner_factory(item)
        finally:
            item.obj = outer

        @functools.wraps(run_example)
        def each_example(**kwargs: Any) -> Any:
            seen: set[int] = set()
            for value in kwargs.values():
                _fresh_fixture(plugin.TrioFixture, value, seen)
            return run_example(**kwargs)

        each_example._trio_test_runner_wrapped = True  # type: ignore[attr-defined]
        hypothesis.inner_test = each_example
    yield


def _fresh_fixture(kind: type, fixture: Any, seen: set[int]) -> None:
    """Give a pytest-trio fixture (and those it depends on) the state of a fixture that has not
    run yet, so each example sets it up anew and waits for its own dependencies."""
    if not isinstance(fixture, kind) or id(fixture) in seen:
        return
    seen.add(id(fixture))
    fixture.fixture_value = None
    fixture.setup_done = trio.Event()
    fixture._teardown_done = trio.Event()
    fixture.user_done_events = set()
    for value in fixture._pytest_kwargs.values():
        _fresh_fixture(kind, value, seen)


def _trust_async_fixtures(item: pytest.Item) -> None:
    """pytest-trio sets async fixtures up anew for each hypothesis example, so hypothesis's
    function-scoped-fixture health check does not apply to them. Tell hypothesis so when every
    function-scoped fixture the test takes is async; any other keeps the check."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # pragma: no cover
        return
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return
    argnames = set(inspect.signature(item.function).parameters)
    for name, defs in info.name2fixturedefs.items():
        if name not in argnames or not defs:
            continue
        fixturedef = defs[-1]
        if fixturedef.scope != "function":
            continue
        func = fixturedef.func
        if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
            return
    test = item.obj
    current = getattr(test, "_hypothesis_internal_use_settings", settings.default)
    if HealthCheck.function_scoped_fixture not in current.suppress_health_check:
        test._hypothesis_internal_use_settings = settings(
            current,
            suppress_health_check=[
                *current.suppress_health_check,
                HealthCheck.function_scoped_fixture,
            ],
        )


# --------------------------------------------------------------------------- seeds and options
def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("msgsim"))):  # closest wins
        if marker.args:
            raise pytest.UsageError("@pytest.mark.msgsim takes keyword options only")
        options.update(marker.kwargs)
    return options


@pytest.fixture
def msgsim_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test's broker and daemon: ``--msgsim-seed``, else the ``msgsim``
    marker's ``seed``, else a number derived from the test's id."""
    seed = request.config.getoption("msgsim_seed")
    if seed is None:
        seed = _marker_options(request).get("seed")
    if seed is None:
        seed = zlib.crc32(request.node.nodeid.encode())
    request.node.stash[_SEED_KEY] = seed
    return seed


@pytest.fixture
def msgsim_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The :meth:`Broker.open` options of this test's ``msgsim_broker`` (but the seed): the
    ``msgsim`` marker's, updated by an indirect parameter of ``msgsim_broker``. Checked before
    the test starts: an unknown option is an error of the test's set-up."""
    from msgsim.broker import shapes
    from msgsim.broker.runtime import Broker

    # Compile the request checks here, in set-up, not in the first example of a hypothesis
    # test, whose deadline would count it.
    shapes.preload()
    options = _marker_options(request)
    options.pop("daemon_args", None)
    options.pop("seed", None)
    callspec = getattr(request.node, "callspec", None)
    param = callspec.params.get("msgsim_broker") if callspec is not None else None
    if param is not None:
        if not isinstance(param, dict):
            raise pytest.UsageError(
                "parametrize msgsim_broker (indirect=True) with dicts of Broker.open options"
            )
        options.update(param)
    allowed = set(inspect.signature(Broker.open).parameters) - {"cls", "seed"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise pytest.UsageError(
            f"unknown msgsim option(s) {', '.join(unknown)}; Broker.open takes "
            f"{', '.join(sorted(allowed))} (and seed)"
        )
    return options


@pytest.fixture
async def msgsim_broker(msgsim_seed: int, msgsim_options: dict[str, Any]) -> AsyncIterator[Any]:
    """A fresh in-process broker on the virtual clock, closed after the test."""
    from msgsim.broker.runtime import Broker

    async with Broker.open(seed=msgsim_seed, **msgsim_options) as broker:
        yield broker


@pytest.fixture
async def aws(msgsim_broker: Any) -> Any:
    """A boto3-shaped client of ``msgsim_broker``: ``aws.client("sqs")``."""
    from .inprocess import InProcessClient

    return InProcessClient(msgsim_broker)


@pytest.fixture
def msgsim_daemon(
    request: pytest.FixtureRequest, msgsim_seed: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaemonProcess]:
    """A real ``msgsim serve`` subprocess on a free loopback port and the virtual clock, started
    in the project's root directory and stopped after the test."""
    extra = list(_marker_options(request).get("daemon_args", ()))
    log_path = tmp_path_factory.mktemp("msgsim-daemon") / "daemon.log"
    daemon = DaemonProcess.start(
        ["--clock", "virtual", "--seed", str(msgsim_seed), *extra],
        log_path=log_path,
        cwd=request.config.rootpath,
    )
    request.node.stash[_DAEMON_KEY] = daemon
    try:
        yield daemon
    finally:
        daemon.stop()


# --------------------------------------------------------------------------- failure reports
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    seed = item.stash.get(_SEED_KEY, None)
    if seed is not None:
        report.sections.append(
            (
                "msgsim",
                f"seed {seed}; replay with: pytest '{item.nodeid}' --msgsim-seed {seed}",
            )
        )
    daemon = item.stash.get(_DAEMON_KEY, None)
    if daemon is not None and call.when != "setup":
        report.sections.append(("msgsim daemon log", daemon.log()))


__all__ = ["aws", "msgsim_broker", "msgsim_daemon", "msgsim_options", "msgsim_seed"]
