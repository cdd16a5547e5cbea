"""What code a real ``msgsim serve`` runs (issue 18, code execution): import-string handlers
load only from the roots its owner names (``--handlers``, by default the directory it starts
in), and a function its workers served is never run by the daemon itself once they are gone.

Each test starts its own daemon (and workers) on a free loopback port and ends them by their
process id.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
import trio
from daemon import ROOT, daemon, start_worker, stop

from msgsim.adapters import TcpClient
from msgsim.broker import BrokerError

pytestmark = pytest.mark.real_clock

HANDLER_SOURCE = """
import os


def handler(event, context):
    return {"pid": os.getpid(), "event": event}
"""


@pytest.mark.parametrize("handler", ["cProfile.run", "profile.run", "builtins.exec"])
async def test_a_standard_library_handler_is_refused_and_nothing_runs(tmp_path, handler):
    """The attack: CreateFunction with Handler cProfile.run, then Invoke with Python source as
    the event, ran the source in the daemon. Now CreateFunction is InvalidParameterValueException
    naming the roots, and the payload (which would create a file) never runs."""
    target = tmp_path / "pwned"
    source = json.dumps(f"open({str(target)!r}, 'w').close()")
    with daemon() as d:
        async with TcpClient.connect(d.host, d.port) as aws:
            lam = aws.client("lambda")
            with pytest.raises(BrokerError) as info:
                await lam.create_function(FunctionName="g", Handler=handler)
            assert info.value.code == "InvalidParameterValueException"
            assert str(ROOT) in str(info.value)
            with pytest.raises(BrokerError) as info:
                await lam.invoke(FunctionName="g", Payload=source)
            assert info.value.code == "ResourceNotFoundException"
            await lam.create_function(FunctionName="h", Handler="nowhere_xyz_mod:handler")
            with pytest.raises(BrokerError):
                await lam.update_function_configuration(FunctionName="h", Handler=handler)
            r = await lam.invoke(FunctionName="h", Payload=source)
            assert json.loads(r["Payload"].read())["errorType"] == "Runtime.ImportModuleError"
    assert not target.exists()


async def test_a_handler_in_the_start_directory_runs_in_the_daemon(tmp_path):
    """By default the daemon's root is the directory it starts in: a handler module there
    runs, in the daemon's own process."""
    (tmp_path / "myhandlers.py").write_text(HANDLER_SOURCE)
    with daemon(cwd=tmp_path) as d:
        async with TcpClient.connect(d.host, d.port) as aws:
            lam = aws.client("lambda")
            await lam.create_function(FunctionName="f", Handler="myhandlers.handler")
            r = await lam.invoke(FunctionName="f", Payload=b'"hi"')
            assert json.loads(r["Payload"].read()) == {"pid": d.proc.pid, "event": "hi"}


async def test_handlers_names_the_roots(tmp_path):
    """``--handlers PATH`` (repeatable) replaces the default: the start directory no longer
    counts, a named folder does."""
    named = tmp_path / "named"
    named.mkdir()
    (named / "named_handlers.py").write_text(HANDLER_SOURCE)
    (tmp_path / "cwd_handlers.py").write_text(HANDLER_SOURCE)
    with daemon("--handlers", str(named), cwd=tmp_path) as d:
        async with TcpClient.connect(d.host, d.port) as aws:
            lam = aws.client("lambda")
            await lam.create_function(FunctionName="f", Handler="named_handlers:handler")
            r = await lam.invoke(FunctionName="f", Payload=b"1")
            assert json.loads(r["Payload"].read())["event"] == 1
            with pytest.raises(BrokerError) as info:  # python -m put it on sys.path: found
                await lam.create_function(FunctionName="g", Handler="cwd_handlers:handler")
            assert info.value.code == "InvalidParameterValueException"
            assert str(named) in str(info.value)


WORKER_ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "adapters")])}


async def test_a_dead_worker_does_not_make_the_daemon_run_the_handler(tmp_path):
    """The daemon could import the handler (its folder is a root), yet once the function's
    only worker is killed, an Invoke is ResourceNotReadyException, never a run in the daemon
    (a handler written for a worker may block, and in the daemon it would freeze everything);
    a new worker serves it again."""
    with daemon("--handlers", str(ROOT / "tests" / "adapters")) as d:
        worker = start_worker(d, "f", "worker_handlers:pid_handler", env=WORKER_ENV)
        try:
            async with TcpClient.connect(d.host, d.port) as aws:
                lam = aws.client("lambda")
                await lam.create_function(
                    FunctionName="f", Handler="worker_handlers:pid_handler", Timeout=10
                )
                r = await lam.invoke(FunctionName="f", Payload=b"{}")
                assert json.loads(r["Payload"].read())["pid"] == worker.pid
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
                with trio.fail_after(10):
                    while True:  # until the daemon has seen the connection close
                        try:
                            r = await lam.invoke(FunctionName="f", Payload=b"{}")
                        except BrokerError as exc:
                            assert exc.code == "ResourceNotReadyException"
                            break
                        assert json.loads(r["Payload"].read()).get("pid") != d.proc.pid
                        await trio.sleep(0.05)
                stop(worker)
                worker = start_worker(d, "f", "worker_handlers:pid_handler", env=WORKER_ENV)
                r = await lam.invoke(FunctionName="f", Payload=b"{}")
                assert json.loads(r["Payload"].read())["pid"] == worker.pid
        finally:
            stop(worker)
