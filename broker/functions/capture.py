"""Per-invocation capture of what a handler prints and logs, as Lambda writes it to the log.

While any broker (or remote worker) runs, ``sys.stdout`` and ``sys.stderr`` are proxies and the
root logger has a handler: output written inside an invocation goes to that invocation's log
buffer (Lambda captures both streams; a log record is written as
``[LEVEL]\\t<UTC timestamp>Z\\t<request id>\\t<message>``, as Lambda's Python runtime does);
output written anywhere else passes through untouched. A context variable selects the
invocation, so handlers running concurrently (in different trio tasks) never mix their logs.
The hooks are process-wide and refcounted: installed by the first user, removed by the last.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import trio

from ..clock import Epoch
from .shapes import iso_z


class Capture:
    """Where an invocation's output goes: its log lines, its request id, the broker's epoch."""

    __slots__ = ("buf", "epoch", "request_id")

    def __init__(self, buf: list[str], request_id: str, epoch: Epoch) -> None:
        self.buf = buf
        self.request_id = request_id
        self.epoch = epoch


#: The invocation whose log this task writes to, if any. The runner sets and resets it around
#: each run directly (its hot path); elsewhere use :func:`capturing`.
current_capture: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "msgsim_lambda_capture", default=None
)


class _StreamProxy(io.TextIOBase):
    """sys.stdout or sys.stderr while a broker runs: what an invocation writes goes to its log
    (Lambda captures both streams), anything else goes through."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def write(self, text: str) -> int:
        capture = current_capture.get()
        if capture is None:
            return self.target.write(text)
        capture.buf.append(text)
        return len(text)

    def flush(self) -> None:
        if current_capture.get() is None:
            self.target.flush()

    def isatty(self) -> bool:
        return False


class _LogHandler(logging.Handler):
    """Lambda's Python runtime writes log records into the function's log stream as
    ``[LEVEL]\\t<UTC timestamp>Z\\t<request id>\\t<message>``."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = current_capture.get()
        if capture is None:
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        stamp = iso_z(capture.epoch, trio.current_time())
        capture.buf.append(f"[{record.levelname}]\t{stamp}\t{capture.request_id}\t{text}\n")


class _Installed:
    """The process-wide capture hooks, shared by every open broker (installed once)."""

    users = 0
    stdout: _StreamProxy | None = None
    stderr: _StreamProxy | None = None
    handler: _LogHandler | None = None

    @classmethod
    def acquire(cls) -> None:
        cls.users += 1
        if cls.users > 1:
            return
        cls.stdout = _StreamProxy(sys.stdout)
        cls.stderr = _StreamProxy(sys.stderr)
        sys.stdout = cls.stdout  # type: ignore[assignment]
        sys.stderr = cls.stderr  # type: ignore[assignment]
        cls.handler = _LogHandler()
        logging.getLogger().addHandler(cls.handler)

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users > 0:
            return
        if cls.stdout is not None and sys.stdout is cls.stdout:
            sys.stdout = cls.stdout.target
        if cls.stderr is not None and sys.stderr is cls.stderr:
            sys.stderr = cls.stderr.target
        if cls.handler is not None:
            logging.getLogger().removeHandler(cls.handler)
        cls.stdout = cls.stderr = cls.handler = None


@contextlib.contextmanager
def capturing(buf: list[str], request_id: str, epoch: Epoch) -> Iterator[None]:
    """Within the block (in this task), what is printed or logged goes to ``buf`` as Lambda
    writes it to the invocation's log. The hooks must be installed (:func:`install_capture`)."""
    token = current_capture.set(Capture(buf, request_id, epoch))
    try:
        yield
    finally:
        current_capture.reset(token)


def install_capture() -> None:
    """Install the process-wide capture hooks (refcounted; undo with :func:`uninstall_capture`)."""
    _Installed.acquire()


def uninstall_capture() -> None:
    _Installed.release()
