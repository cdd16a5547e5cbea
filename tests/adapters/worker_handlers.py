"""Handlers that ``msgsim worker`` subprocesses serve in tests/adapters/test_workers.py.

tests/adapters is not a package (no ``__init__.py``) and ``adapters`` is the project's own
package, so this module is imported by its bare name ``worker_handlers``: pytest puts
tests/adapters on ``sys.path`` for the test process, and the tests start workers with
tests/adapters added to their ``PYTHONPATH`` (``worker_handlers:pid_handler``).
"""

from __future__ import annotations

import os

import trio


async def pid_handler(event, context):
    """Say which process ran the invocation. With ``event["log"]`` (a file path), append
    ``start <pid> <request id>`` when it begins and ``end <pid> <request id>`` when it ends,
    so a test can see which worker holds an invocation; ``event["sleep"]`` seconds in between."""
    log = event.get("log") if isinstance(event, dict) else None
    pid = os.getpid()
    if log:
        with open(log, "a") as f:
            f.write(f"start {pid} {context.aws_request_id}\n")
    await trio.sleep(event.get("sleep", 0) if isinstance(event, dict) else 0)
    if log:
        with open(log, "a") as f:
            f.write(f"end {pid} {context.aws_request_id}\n")
    print(f"worker {pid} ran {context.aws_request_id}")
    return {"pid": pid, "request_id": context.aws_request_id}
