"""A ``msgsim serve`` in a child process: started, found and stopped by the process that owns it.

Used by the pytest plugin's ``msgsim_daemon`` fixture. The daemon writes its banner and its log
into one file, so nothing it prints can fill a pipe and stall it, and the whole log can be shown
when a test fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tcp_client import TcpClient

_LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")


class DaemonProcess:
    """A running ``msgsim serve --port 0 ARGS``, started by :meth:`start` and ended (by its
    process id, never by name) by :meth:`stop`.

    ``host`` and ``port`` are where it listens; :meth:`connect` opens a :class:`TcpClient` to
    it; :meth:`log` is everything it printed so far.
    """

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, host: str, port: int):
        self.proc = proc
        self.log_path = log_path
        self.host = host
        self.port = port

    @classmethod
    def start(
        cls,
        args: Sequence[str] = (),
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> DaemonProcess:
        """Start the daemon and wait (up to ``timeout`` real seconds) until it says where it
        listens. Raises RuntimeError, with its log, if it exits or stays silent."""
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "msgsim", "serve", "--port", "0", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env if env is not None else dict(os.environ),
            )
        # The daemon's clock is its own; this wait is about a real process, so real time.
        deadline = time.monotonic() + timeout
        while True:
            text = log_path.read_text(errors="replace")
            found = _LISTENING.search(text)
            if found:
                return cls(proc, log_path, found.group(1), int(found.group(2)))
            if proc.poll() is not None or time.monotonic() > deadline:
                end_process(proc)
                raise RuntimeError(f"msgsim serve did not start:\n{log_path.read_text()}")
            time.sleep(0.01)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @asynccontextmanager
    async def connect(self, *, token: str | None = None) -> AsyncIterator[TcpClient]:
        """``async with daemon.connect() as aws:`` a :class:`TcpClient` to this daemon."""
        from .tcp_client import TcpClient

        async with TcpClient.connect(self.host, self.port, token=token) as client:
            yield client

    def log(self) -> str:
        """Everything the daemon printed so far (banner and log records)."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        """End the daemon: SIGTERM (a clean shutdown), SIGKILL if it lingers. Its exit code."""
        return end_process(self.proc)


def end_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """End a child process this process started, by its id: SIGTERM (a daemon's clean
    shutdown), then SIGKILL if it is still there after ``timeout`` seconds. Its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode
