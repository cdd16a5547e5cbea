"""Handler roots (broker/functions/handlers.py): a broker given ``handler_roots`` loads
import-string handlers only from modules inside those folders, by real path.

``msgsim serve`` runs with roots (``--handlers``, by default its start directory), so a client
cannot name ``cProfile.run`` as a handler and have the daemon run the source it sends as the
event. These tests run an in-process broker with roots on the virtual clock; the daemon's are in
tests/adapters/test_daemon_security.py. Each test writes its handler modules under a fresh name
in ``tmp_path``, so nothing is shared through ``sys.modules``.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import pytest

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError
from msgsim.broker.functions.handlers import (
    HandlerError,
    HandlerRoots,
    check_handler_location,
    resolve_handler,
)

_names = itertools.count()


def module_name(stem: str) -> str:
    return f"roots_{stem}_{os.getpid()}_{next(_names)}"


def write_module(folder: Path, name: str, source: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(source)


async def invoke(lam, name: str, payload) -> tuple[dict, object]:
    r = await lam.invoke(FunctionName=name, Payload=json.dumps(payload))
    return r, json.loads(r["Payload"].read())


@pytest.fixture
async def rooted(tmp_path):
    """A lambda client of a broker whose handlers load from ``tmp_path / "root"`` only."""
    root = tmp_path / "root"
    root.mkdir()
    async with Broker.open(handler_roots=[root]) as broker:
        yield InProcessClient(broker).client("lambda"), root


ATTACKS = [
    "cProfile.run",
    "profile.run",
    "cProfile:run",
    "json:loads",
    "os.system",
    "builtins.exec",
]


@pytest.mark.parametrize("handler", ATTACKS)
async def test_standard_library_handlers_are_refused_at_create(autojump_clock, rooted, handler):
    """CreateFunction with a Handler whose module is the standard library's or built in
    (imported already or not) is InvalidParameterValueException naming the roots, and no
    function exists."""
    lam, root = rooted
    with pytest.raises(BrokerError) as info:
        await lam.create_function(FunctionName="g", Handler=handler)
    assert info.value.code == "InvalidParameterValueException"
    assert str(root.resolve()) in str(info.value)
    assert "outside the handler roots" in str(info.value)
    assert (await lam.list_functions())["Functions"] == []


async def test_update_function_configuration_refuses_it_too(autojump_clock, rooted):
    lam, root = rooted
    name = module_name("ok")
    write_module(root, name, "def handler(event, context):\n    return 'ok'\n")
    await lam.create_function(FunctionName="g", Handler=f"{name}.handler")
    with pytest.raises(BrokerError) as info:
        await lam.update_function_configuration(FunctionName="g", Handler="cProfile.run")
    assert info.value.code == "InvalidParameterValueException"
    _, body = await invoke(lam, "g", {})
    assert body == "ok"


async def test_a_handler_inside_a_root_runs_and_imports_its_neighbours(autojump_clock, rooted):
    lam, root = rooted
    helper, name = module_name("helper"), module_name("main")
    write_module(root, helper, "def shout(s):\n    return s.upper()\n")
    write_module(
        root,
        name,
        f"import {helper}\ndef handler(event, context):\n    return {helper}.shout(event)\n",
    )
    sys.path.append(str(root))  # as msgsim serve does for its roots
    try:
        await lam.create_function(FunctionName="f", Handler=f"{name}:handler")
        _, body = await invoke(lam, "f", "hi")
    finally:
        sys.path.remove(str(root))
    assert body == "HI"


async def test_packages_and_namespace_packages_inside_a_root(autojump_clock, rooted):
    lam, root = rooted
    pkg, ns = module_name("pkg"), module_name("ns")
    (root / pkg).mkdir()
    (root / pkg / "__init__.py").write_text("")
    write_module(root / pkg, "sub", "def handler(event, context):\n    return 'pkg'\n")
    write_module(root / ns, "sub", "def handler(event, context):\n    return 'ns'\n")
    await lam.create_function(FunctionName="p", Handler=f"{pkg}.sub.handler")
    await lam.create_function(FunctionName="n", Handler=f"{ns}.sub:handler")
    assert (await invoke(lam, "p", {}))[1] == "pkg"
    assert (await invoke(lam, "n", {}))[1] == "ns"


@pytest.mark.parametrize(
    "source, handler",
    [
        ("import cProfile\n", "cProfile.run"),  # an imported module reached through a root one
        ("from cProfile import run\n", "run"),  # a callable defined outside, imported in
        ("def handler(e, c):\n    pass\n", "handler.__globals__.get"),  # dunder paths
    ],
)
async def test_reaching_past_the_root_through_a_module_in_it(
    autojump_clock, rooted, tmp_path, source, handler
):
    """A module inside a root does not lend its imports: the callable must be defined in a
    module inside a root. The attack's payload would create a file; it does not exist."""
    lam, root = rooted
    name = module_name("lender")
    write_module(root, name, source)
    await lam.create_function(FunctionName="g", Handler=f"{name}:{handler}")
    target = tmp_path / "pwned"
    r, body = await invoke(lam, "g", f"open({str(target)!r}, 'w').close()")
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] in ("Runtime.ImportModuleError", "Runtime.HandlerNotFound")
    assert not target.exists()


async def test_a_symlink_out_of_the_root_is_refused(autojump_clock, rooted, tmp_path):
    """The module's real path counts: a link inside the root to a file outside is outside."""
    lam, root = rooted
    outside = tmp_path / "outside"
    name = module_name("linked")
    write_module(outside, name, "def handler(event, context):\n    return 'ran'\n")
    (root / f"{name}.py").symlink_to(outside / f"{name}.py")
    await lam.create_function(FunctionName="g", Handler=f"{name}:handler")
    _, body = await invoke(lam, "g", {})
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "outside the handler roots" in body["errorMessage"]
    assert name not in sys.modules


async def test_an_unknown_module_is_accepted_for_a_worker_and_fails_without_one(
    autojump_clock, rooted
):
    """A module the broker cannot find may be a worker's: CreateFunction accepts it; invoked
    with no worker ever attached, it is Runtime.ImportModuleError naming the roots."""
    lam, root = rooted
    await lam.create_function(FunctionName="w", Handler="nowhere_to_be_found_xyz.handler")
    _, body = await invoke(lam, "w", {})
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert str(root.resolve()) in body["errorMessage"]


def test_roots_are_real_paths(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "b")
    roots = HandlerRoots([tmp_path / "a" / ".." / "b", tmp_path / "link"])
    assert roots.paths == (str((tmp_path / "b").resolve()),)
    assert roots.contains(str(tmp_path / "link" / "x.py"))
    assert not roots.contains(str(tmp_path / "bb" / "x.py"))  # a prefix is not a parent
    assert not roots.contains(str(tmp_path / "b" / ".." / "a" / "x.py"))


def test_the_standard_library_counts_when_named(tmp_path):
    """The owner may name the standard library's folder; then its modules load."""
    check_handler_location("cProfile.run", HandlerRoots([os.path.dirname(os.__file__)]))


def test_python_s_own_folders_stay_outside_a_root_that_holds_them(tmp_path):
    """A daemon started in a folder holding Python itself (the home folder with ~/.pyenv, a
    project with its .venv) does not serve the standard library or site-packages from it."""
    import trio

    everything = HandlerRoots(["/"])
    for spec in ("cProfile.run", "os.system"):
        with pytest.raises(HandlerError) as info:
            check_handler_location(spec, everything)
        assert "outside the handler roots" in info.value.message
    check_handler_location("trio.run", everything)  # site-packages: a worker may serve it
    with pytest.raises(HandlerError) as info:
        resolve_handler("trio.run", everything)  # but it does not load in the broker
    assert info.value.error_type == "Runtime.ImportModuleError"
    assert everything.contains(str(tmp_path / "mine.py"))
    assert not everything.contains(trio.__file__)


async def test_a_site_packages_handler_is_accepted_for_a_worker_but_not_run_here(
    autojump_clock, rooted
):
    """A package the broker could import from site-packages may be a worker's (the user's
    project installed in the daemon's environment): CreateFunction accepts it, and with no
    worker the invocation is Runtime.ImportModuleError naming the roots."""
    lam, root = rooted
    await lam.create_function(FunctionName="t", Handler="trio:run")
    _, body = await invoke(lam, "t", {})
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert str(root.resolve()) in body["errorMessage"]
