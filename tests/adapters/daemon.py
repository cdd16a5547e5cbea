"""Start ``msgsim serve`` (and ``msgsim worker``) as real subprocesses on free loopback ports.

Tests that use these are about the socket, the process or signals, so they run on the real
clock (``@pytest.mark.real_clock``). Each process is started by the test and ended by its id.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from msgsim.adapters.daemon_process import end_process

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")


class Daemon:
    """A running ``msgsim serve``: ``host``, ``port``, and the process."""

    def __init__(self, proc: subprocess.Popen, host: str, port: int, banner: str) -> None:
        self.proc = proc
        self.host = host
        self.port = port
        self.banner = banner

    def signal(self, signum: int = signal.SIGINT) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15) -> int:
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        """stdout after the banner (call after the process ended)."""
        return self.proc.stdout.read() if self.proc.stdout else ""

    def errors(self) -> str:
        """stderr, where the daemon logs (call after the process ended)."""
        return self.proc.stderr.read() if self.proc.stderr else ""


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # No empty entry: Python reads one as the current directory, which would hide whether a
    # command puts that directory on the import path itself.
    paths = [str(ROOT), str(ROOT / "tests"), *env.get("PYTHONPATH", "").split(os.pathsep)]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("MSGSIM_TOKEN", None)
    env.update(extra or {})
    return env


def start_daemon(
    *args: str,
    env: dict[str, str] | None = None,
    port: int = 0,
    preexec_fn=None,
    cwd: Path = ROOT,
    default_token: bool = False,
) -> Daemon:
    """Start ``msgsim serve --port PORT ARGS`` in ``cwd`` and wait until it prints where it
    listens (``preexec_fn`` runs in the child before it starts: e.g. to lower its resource
    limits). Unless ``ARGS`` or ``env`` give a token, or ``default_token`` asks for the default
    one (a private file :class:`TcpClient` reads by itself), the daemon runs with
    ``--no-token``: the protocol tests speak raw frames with no token in their hello."""
    given = {"--token", "--token-file", "--no-token"}.intersection(args)
    if not (default_token or given or "MSGSIM_TOKEN" in (env or {})):
        args = (*args, "--no-token")
    proc = subprocess.Popen(
        [sys.executable, "-m", "msgsim.adapters.cli", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
        cwd=cwd,
        preexec_fn=preexec_fn,
    )
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line or time.monotonic() > deadline:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"msgsim serve did not start: {err}")
    m = _LISTENING.search(line)
    assert m, line
    return Daemon(proc, m.group(1), int(m.group(2)), line)


def stop(proc: subprocess.Popen) -> None:
    """End a process this test started (by its id): SIGTERM, then SIGKILL if it lingers."""
    end_process(proc)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``msgsim ARGS`` to its end (for commands that fail at once); its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "msgsim.adapters.cli", *args],
        capture_output=True,
        text=True,
        env=_env(env),
        cwd=ROOT,
        timeout=60,
    )


@contextmanager
def daemon(
    *args: str,
    env: dict[str, str] | None = None,
    port: int = 0,
    cwd: Path = ROOT,
    default_token: bool = False,
) -> Iterator[Daemon]:
    d = start_daemon(*args, env=env, port=port, cwd=cwd, default_token=default_token)
    try:
        yield d
    finally:
        stop(d.proc)


#: The ``msgsim`` console script of the environment running the tests.
MSGSIM_SCRIPT = Path(sys.executable).with_name("msgsim")


def start_worker(
    d: Daemon,
    function: str,
    handler: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    script: bool = False,
) -> subprocess.Popen:
    """Start ``msgsim worker --function FUNCTION HANDLER`` against ``d`` in ``cwd`` (``script``:
    as the ``msgsim`` console script a user runs, not ``python -m``, which puts the current
    directory on the import path by itself); returns once it printed that it serves the
    function."""
    command = [str(MSGSIM_SCRIPT)] if script else [sys.executable, "-m", "msgsim.adapters.cli"]
    proc = subprocess.Popen(
        [
            *command,
            "worker",
            "--function",
            function,
            "--port",
            str(d.port),
            *args,
            handler,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
        cwd=cwd,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving" not in line:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"msgsim worker did not start: {line!r} {err}")
    return proc
