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
import stat

import pytest
import trio
from daemon import ROOT, daemon, run_cli, start_daemon, start_worker, stop

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


BLOCKING_SOURCE = """
import pathlib
import time


def block(event, context):
    time.sleep(event["seconds"])
    pathlib.Path(event["done"]).touch()
    return "woke"
"""


async def test_a_blocking_handler_in_the_daemon_holds_up_only_its_own_invocation(tmp_path):
    """A handler that blocks (written for a worker, say) runs in a thread of the daemon: other
    clients are answered meanwhile, and at its Timeout its invocation fails as Lambda's does."""
    (tmp_path / "slow.py").write_text(BLOCKING_SOURCE)
    with daemon(cwd=tmp_path) as d:
        async with TcpClient.connect(d.host, d.port) as aws:
            lam = aws.client("lambda")
            await lam.create_function(FunctionName="slow", Handler="slow.block", Timeout=1)
            got: dict = {}
            done = tmp_path / "done"

            async def invoke(seconds: float) -> None:
                event = {"seconds": seconds, "done": str(done)}
                r = await lam.invoke(FunctionName="slow", Payload=json.dumps(event))
                got[seconds] = (r.get("FunctionError"), json.loads(r["Payload"].read()))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(invoke, 3)
                await trio.sleep(0.3)
                health = await aws.client("admin").health()
                # answered while the handler still sleeps (a daemon it blocked answers after)
                assert health["Status"] == "ok" and not done.exists()
            assert got[3][1]["errorType"] == "Sandbox.Timedout"
            await invoke(0.01)
            assert got[0.01] == (None, "woke")


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
            await lam.create_function(FunctionName="g", Handler="cwd_handlers:handler")
            r = await lam.invoke(FunctionName="g", Payload=b"1")
            body = json.loads(r["Payload"].read())
            assert body["errorType"] == "Runtime.ImportModuleError"
            assert str(named) in body["errorMessage"]


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


# ---------------------------------------------------------------------------- the token
async def test_the_default_token_works_without_configuration(tmp_path, monkeypatch):
    """With no token given, the daemon makes one and keeps it in a private file
    ($XDG_RUNTIME_DIR/msgsim/PORT.token: folder 0700, file 0600) that TcpClient.connect and
    ``msgsim worker`` read by themselves; a client with another token is refused, and the file
    goes when the daemon stops."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.delenv("MSGSIM_TOKEN", raising=False)
    env = {"XDG_RUNTIME_DIR": str(run)}
    d = start_daemon(env=env, default_token=True)
    worker = None
    try:
        path = run / "msgsim" / f"{d.port}.token"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        token = path.read_text().strip()
        assert len(token) >= 32 and token not in d.banner
        assert token not in " ".join(d.proc.args)  # not in the process list
        refused = await connect_error(d.host, d.port, token="wrong")
        assert refused.code == "InvalidClientTokenId"
        worker = start_worker(d, "f", "worker_handlers:pid_handler", env={**WORKER_ENV, **env})
        async with TcpClient.connect(d.host, d.port) as aws:
            assert aws.token == token
            lam = aws.client("lambda")
            await lam.create_function(FunctionName="f", Handler="nowhere_xyz:handler")
            r = await lam.invoke(FunctionName="f", Payload=b"{}")
            assert json.loads(r["Payload"].read())["pid"] == worker.pid
    finally:
        if worker is not None:
            stop(worker)
        stop(d.proc)
    assert not path.exists()


async def connect_error(host: str, port: int, **options) -> BrokerError:
    with pytest.raises(BrokerError) as info:
        async with TcpClient.connect(host, port, **options):
            pass
    return info.value


def test_a_token_file_others_can_read_is_refused(tmp_path):
    """``--token-file`` must be private: mode 0644 is a usage error that says how to fix it."""
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    token_file.chmod(0o644)
    for command in (["serve", "--port", "0"], ["worker", "--function", "f", "json:dumps"]):
        done = run_cli(*command, "--token-file", str(token_file))
        assert done.returncode == 2
        assert "mode 0644" in done.stderr
        assert f"chmod 600 {token_file}" in done.stderr


async def test_a_private_token_file_sets_the_token(tmp_path, monkeypatch):
    monkeypatch.delenv("MSGSIM_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    token_file.chmod(0o600)
    with daemon("--token-file", str(token_file)) as d:
        assert (await connect_error(d.host, d.port, token="wrong")).code == "InvalidClientTokenId"
        async with TcpClient.connect(d.host, d.port, token="s3cret") as aws:
            assert (await aws.client("admin").health())["Status"] == "ok"


async def test_token_on_the_command_line_warns_and_no_token_writes_no_file(tmp_path):
    """--token still works, with a warning on stderr that other users can see it; --no-token
    writes no token file and lets any local client in."""
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    d = start_daemon("--token", "s3cret", env=env)
    stop_quietly(d)
    assert "--token is visible to every local user" in d.errors()
    stop(d.proc)  # ended already: closes its pipes
    with daemon("--no-token", env=env) as d:
        assert not (tmp_path / "msgsim" / f"{d.port}.token").exists()
        async with TcpClient.connect(d.host, d.port) as aws:
            assert (await aws.client("admin").health())["Status"] == "ok"


def stop_quietly(d) -> None:
    d.signal(signal.SIGTERM)
    d.wait()
