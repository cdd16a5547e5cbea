"""Remote function workers (broker/functions/workers.py): a function's handler running in a
client of the TCP protocol instead of in the broker.

The first part runs on trio's virtual clock through loopback connections
(:func:`msgsim.adapters.open_loopback_client`): one client creates the function with an import-string
Handler that does not exist in the broker, other clients serve it with
:meth:`TcpClient.serve_function`, so every invocation that succeeds was run by a worker. The
broker keeps deciding everything else: the Timeout, reserved concurrency, async retries and
event source mappings; a worker that goes away mid-invocation fails that invocation
(``Runtime.ExitError``) and an async event is then retried on another worker, never lost.

The second part runs ``msgsim worker`` processes against a ``msgsim serve`` daemon on real
sockets (tests/adapters/worker_handlers.py is the handler module).
"""

from __future__ import annotations

import base64
import gc
import json
import os
import signal
import sys
import weakref
from collections import Counter
from pathlib import Path

import pytest
import trio
from daemon import ROOT, daemon, start_worker, stop

from msgsim.adapters import TcpClient, open_loopback_client, wire
from msgsim.adapters.tcp_server import OUTBOUND_HIGH_WATER, TcpServer
from msgsim.broker import BrokerError

MISSING = "fn_mod_not_in_the_broker.handler"  # what the broker would import without a worker
ARN_PREFIX = "arn:aws:sqs:us-east-1:000000000000:"


async def invoke_json(lam, name: str, event=None, **kwargs) -> tuple[dict, object]:
    r = await lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return r, json.loads(r["Payload"].read())


class Served:
    """A loopback client serving a function; ``stop()`` closes its connection."""

    def __init__(self, client: TcpClient, scope: trio.CancelScope) -> None:
        self.client = client
        self.scope = scope

    def stop(self) -> None:
        self.scope.cancel()


async def serve(nursery, broker, name: str, handler, concurrency: int | None = 1) -> Served:
    """Start a loopback client serving ``name`` with ``handler`` until ``.stop()``."""

    async def run(task_status=trio.TASK_STATUS_IGNORED):
        with trio.CancelScope() as scope:
            async with open_loopback_client(broker) as client:
                await client.serve_function(name, handler, concurrency=concurrency)
                task_status.started(Served(client, scope))
                await trio.sleep_forever()

    return await nursery.start(run)


class Recorder:
    """A worker handler that records (worker, virtual time, event, request id) per call."""

    def __init__(
        self, worker: str, calls: list, sleep: float = 0.0, started: trio.Event | None = None
    ):
        self.worker = worker
        self.calls = calls
        self.sleep = sleep
        self.started = started

    async def __call__(self, event, context):
        self.calls.append((self.worker, trio.current_time(), event, context.aws_request_id))
        if self.started is not None:
            self.started.set()
        print(f"{self.worker} handles {event}")
        await trio.sleep(self.sleep)
        return {"worker": self.worker, "event": event}


@pytest.fixture
async def admin(broker):
    async with open_loopback_client(broker) as client:
        yield client


@pytest.fixture
def lam(admin):
    return admin.client("lambda")


# ---------------------------------------------------------------------------------- invoke


async def test_sync_invoke_runs_on_the_worker_and_tails_its_log(broker, lam, nursery):
    """Invoke (RequestResponse) of a function a worker serves: the worker's handler gets the
    event and a context naming the function; its result is the Payload; LogType=Tail's log
    has the START/END/REPORT lines around what the worker printed."""
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=10)
    calls: list = []
    await serve(nursery, broker, "f", Recorder("w1", calls), concurrency=2)

    def named(event, context):
        print(f"context {context.function_name} {context.aws_request_id}")
        return {"fn": context.function_name, "left": context.get_remaining_time_in_millis()}

    r, body = await invoke_json(lam, "f", {"x": 1}, LogType="Tail")
    assert "FunctionError" not in r and r["StatusCode"] == 200
    assert body == {"worker": "w1", "event": {"x": 1}}
    assert [(w, e) for w, _, e, _ in calls] == [("w1", {"x": 1})]
    log = base64.b64decode(r["LogResult"]).decode()
    request_id = calls[0][3]
    assert f"START RequestId: {request_id}" in log
    assert "w1 handles {'x': 1}" in log
    assert f"END RequestId: {request_id}" in log and f"REPORT RequestId: {request_id}" in log

    await serve(nursery, broker, "g", named)
    await lam.create_function(FunctionName="g", Handler=MISSING, Timeout=7)
    r, body = await invoke_json(lam, "g", LogType="Tail")
    assert body["fn"] == "g" and 6000 < body["left"] <= 7000
    assert "context g " in base64.b64decode(r["LogResult"]).decode()


async def test_worker_exception_is_an_unhandled_function_error(broker, lam, nursery):
    """A worker's handler that raises: FunctionError Unhandled with the exception's type and
    message and a stack trace naming the handler's own code, as for an in-broker handler."""

    def failing(event, context):
        raise KeyError("missing thing") if event.get("key") else ValueError("boom")

    await lam.create_function(FunctionName="f", Handler=MISSING)
    await serve(nursery, broker, "f", failing)
    r, body = await invoke_json(lam, "f", LogType="Tail")
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom"
    assert body["stackTrace"] and all(isinstance(line, str) for line in body["stackTrace"])
    assert "in failing" in body["stackTrace"][-1]
    assert "[ERROR] ValueError: boom" in base64.b64decode(r["LogResult"]).decode()
    _, body = await invoke_json(lam, "f", {"key": 1})
    assert body["errorType"] == "KeyError"
    metrics = (await lam.get_function_metrics(FunctionName="f"))["Metrics"]
    assert (metrics["Invocations"], metrics["Errors"]) == (2, 2)


async def test_broker_applies_the_timeout_to_a_worker(broker, lam, nursery):
    """The broker keeps the function's Timeout: a worker handler still sleeping at Timeout=3
    is Sandbox.Timedout at 3 s (virtual), and the worker's handler is cancelled (it never
    finishes)."""
    finished = []

    async def slow(event, context):
        await trio.sleep(10)
        finished.append(True)
        return "late"

    await lam.create_function(FunctionName="slow", Handler=MISSING, Timeout=3)
    await serve(nursery, broker, "slow", slow)
    start = trio.current_time()
    r, body = await invoke_json(lam, "slow")
    assert trio.current_time() - start == pytest.approx(3, abs=0.01)
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in body["errorMessage"]
    await trio.sleep(20)
    assert finished == []
    metrics = (await lam.get_function_metrics(FunctionName="slow"))["Metrics"]
    assert (metrics["Invocations"], metrics["Errors"], metrics["Timeouts"]) == (1, 1, 1)


async def test_reserved_concurrency_applies_to_a_worker_served_function(broker, lam, nursery):
    """ReservedConcurrentExecutions 1: of two concurrent sync invokes one runs and the other is
    throttled (TooManyRequestsException), even though the worker could take both."""
    calls: list = []
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=10)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=1)
    await serve(nursery, broker, "f", Recorder("w", calls, sleep=1), concurrency=5)
    outcomes: list = []

    async def one(i):
        try:
            _, body = await invoke_json(lam, "f", {"i": i})
            outcomes.append(("ok", body["event"]["i"]))
        except BrokerError as exc:
            outcomes.append((exc.code, i))

    async with trio.open_nursery() as n:
        n.start_soon(one, 0)
        n.start_soon(one, 1)
    codes = sorted(code for code, _ in outcomes)
    assert codes == ["TooManyRequestsException", "ok"], outcomes
    assert len(calls) == 1


async def test_two_workers_of_concurrency_one_run_two_invocations_side_by_side(
    broker, lam, nursery
):
    """Two workers with concurrency 1: two concurrent invokes run at once, one on each (both
    end at 1 s); six on three workers take 2 s and each worker runs two. An invocation waits
    for a free worker, and that wait counts toward its Timeout."""
    calls: list = []
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=10)
    await serve(nursery, broker, "f", Recorder("a", calls, sleep=1))
    await serve(nursery, broker, "f", Recorder("b", calls, sleep=1))
    start = trio.current_time()
    async with trio.open_nursery() as n:
        for i in range(2):
            n.start_soon(invoke_json, lam, "f", {"i": i})
    assert trio.current_time() - start == pytest.approx(1)
    assert sorted(w for w, _, _, _ in calls) == ["a", "b"]
    assert {e["i"] for _, _, e, _ in calls} == {0, 1}

    await serve(nursery, broker, "f", Recorder("c", calls, sleep=1))
    calls.clear()
    start = trio.current_time()
    results: list = []

    async def one(i):
        results.append((await invoke_json(lam, "f", {"i": i}))[1])

    async with trio.open_nursery() as n:
        for i in range(6):
            n.start_soon(one, i)
    assert trio.current_time() - start == pytest.approx(2)
    assert Counter(w for w, _, _, _ in calls) == {"a": 2, "b": 2, "c": 2}
    assert sorted(r["event"]["i"] for r in results) == list(range(6))

    # one worker, concurrency 1, Timeout 3, 2 s each: the second waits 2 s and times out
    calls2: list = []
    await lam.create_function(FunctionName="one", Handler=MISSING, Timeout=3)
    await serve(nursery, broker, "one", Recorder("solo", calls2, sleep=2))
    bodies: list = []

    async def timed(i):
        bodies.append((await invoke_json(lam, "one", {"i": i}))[1])

    start = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(timed, 0)
        n.start_soon(timed, 1)
    assert trio.current_time() - start == pytest.approx(3)
    assert sorted(json.dumps(b, sort_keys=True) for b in bodies)[0].startswith('{"errorMessage"')
    assert [b.get("errorType") for b in bodies].count("Sandbox.Timedout") == 1


async def test_worker_lost_mid_invocation_fails_a_sync_invoke_with_exit_error(broker, lam, nursery):
    """A worker whose connection closes while its handler runs: that sync invocation fails with
    FunctionError Unhandled, errorType Runtime.ExitError, at once (not at the Timeout)."""
    started = trio.Event()
    calls: list = []
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=60)
    worker = await serve(nursery, broker, "f", Recorder("doomed", calls, sleep=30, started=started))
    out: dict = {}

    async def call():
        out["r"], out["body"] = await invoke_json(lam, "f", {"n": 1})
        out["t"] = trio.current_time()

    start = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(call)
        await started.wait()
        await trio.sleep(1)
        worker.stop()
    assert out["r"]["FunctionError"] == "Unhandled"
    assert out["body"]["errorType"] == "Runtime.ExitError"
    assert "Runtime exited" in out["body"]["errorMessage"]
    assert out["t"] - start == pytest.approx(1)


async def test_invocation_waiting_for_a_busy_worker_fails_when_the_last_worker_leaves(
    broker, lam, nursery
):
    """One worker of concurrency 1 busy, a second invocation waiting for it: when the worker's
    connection closes both fail at once with Runtime.ExitError (the waiting one does not sit
    out its Timeout for a worker that will never come)."""
    started = trio.Event()
    calls: list = []
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=60)
    worker = await serve(nursery, broker, "f", Recorder("only", calls, sleep=30, started=started))
    bodies: list = []

    async def call(i):
        bodies.append((await invoke_json(lam, "f", {"i": i}))[1])

    start = trio.current_time()
    async with trio.open_nursery() as n:
        n.start_soon(call, 0)
        await started.wait()
        n.start_soon(call, 1)
        await trio.sleep(2)
        worker.stop()
    assert trio.current_time() - start == pytest.approx(2)
    assert [b["errorType"] for b in bodies] == ["Runtime.ExitError"] * 2
    assert len(calls) == 1


async def test_lost_worker_with_no_retries_left_goes_to_the_on_failure_destination(
    broker, admin, lam, nursery
):
    """MaximumRetryAttempts 0 and an OnFailure destination: an async event whose worker goes
    away is not lost; the destination gets a RetriesExhausted record whose responsePayload is
    the Runtime.ExitError."""
    sqs = admin.client("sqs")
    url = (await sqs.create_queue(QueueName="failed"))["QueueUrl"]
    started = trio.Event()
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=60)
    await lam.put_function_event_invoke_config(
        FunctionName="f",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": ARN_PREFIX + "failed"}},
    )
    worker = await serve(nursery, broker, "f", Recorder("w", [], sleep=30, started=started))
    await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"q": 1}')
    await started.wait()
    worker.stop()
    await trio.sleep(5)
    got = (await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)).get("Messages", [])
    assert len(got) == 1
    record = json.loads(got[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"q": 1}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"


async def test_worker_lost_mid_async_invocation_is_retried_on_another_worker(broker, lam, nursery):
    """An async event (InvocationType Event, MaximumRetryAttempts 1) whose worker goes away
    mid-invocation counts as a failed attempt; the retry (60 s later, as AWS) runs on another
    worker with the same request id: the event is not lost."""
    started = trio.Event()
    calls: list = []
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=60)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1)
    first = await serve(nursery, broker, "f", Recorder("first", calls, sleep=30, started=started))
    r = await lam.invoke(FunctionName="f", InvocationType="Event", Payload=json.dumps({"e": 7}))
    assert r["StatusCode"] == 202
    await started.wait()
    t_first = trio.current_time()
    await serve(nursery, broker, "f", Recorder("second", calls))
    first.stop()
    await trio.sleep(200)
    assert [(w, e) for w, _, e, _ in calls] == [("first", {"e": 7}), ("second", {"e": 7})]
    assert calls[0][3] == calls[1][3]  # the same request id: a retry of the same event
    assert calls[1][1] - t_first == pytest.approx(60, abs=1)
    metrics = (await lam.get_function_metrics(FunctionName="f"))["Metrics"]
    assert metrics["Errors"] == 1


def _referrer_chains(obj, depth: int = 5) -> list[str]:
    """What keeps ``obj`` alive: chains of referrer types, for the failure message."""
    objs, chains = [obj], [type(obj).__name__]
    here = sys._getframe()
    seen = {id(obj), id(here), id(here.f_back)}
    for _ in range(depth):
        next_objs: list = []
        next_chains: list = []
        for i in range(len(objs)):
            for r in gc.get_referrers(objs[i]):
                if r is objs or r is next_objs or r is here:
                    continue
                if id(r) in seen:
                    next_chains.append(f"{chains[i]} <- (seen) {type(r).__name__}")
                    continue
                seen.add(id(r))
                label = type(r).__name__
                if isinstance(r, dict):
                    label += "{" + ",".join(str(k) for k in list(r)[:3]) + "}"
                elif type(r).__name__ == "coroutine":
                    label += f"({r.__qualname__})"
                elif type(r).__name__ == "frame":
                    label += f"({r.f_code.co_name})"
                next_objs.append(r)
                next_chains.append(f"{chains[i]} <- {label}")
        if not next_objs:
            return chains + next_chains
        objs, chains = next_objs[:30], next_chains[:30]
    return chains


class SlowWorker:
    """A raw connection that registers as a worker of ``name`` and then never reads: a
    lockstep stream, so the server's writes to it block as a socket's would."""

    def __init__(self, server: TcpServer, stream) -> None:
        self.server = server
        self.stream = stream

    @classmethod
    async def start(cls, nursery, broker, name: str, concurrency: int = 1000) -> SlowWorker:
        server = TcpServer(broker)
        client_end, server_end = trio.testing.lockstep_stream_pair()
        nursery.start_soon(server.handle, server_end)
        await client_end.send_all(
            wire.encode({"t": wire.HELLO, "v": wire.PROTOCOL_VERSION, "token": None})
        )
        p = {"FunctionName": name, "Concurrency": concurrency}
        request = {"t": wire.REQUEST, "id": 1, "svc": "worker", "op": "Register", "p": p}
        await client_end.send_all(wire.encode(request))
        await trio.testing.wait_all_tasks_blocked()
        return cls(server, client_end)

    @property
    def conn(self):
        (conn,) = self.server.connections
        return conn


async def test_a_worker_that_stops_reading_is_sent_no_more_than_the_outbound_limit(
    broker, lam, nursery
):
    """Back-pressure toward workers: invocations are not sent to a worker whose connection has
    more than OUTBOUND_HIGH_WATER unsent bytes; they wait, and go to another worker of the
    function when there is one. When the slow worker leaves, nothing of its connection stays
    behind: it is freed by reference counting alone, no reference cycle waits for the GC."""
    await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=900)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=2)
    slow = await SlowWorker.start(nursery, broker, "f")
    big = "x" * (200 * 1024)
    for i in range(40):  # 8 MB of events
        payload = json.dumps({"i": i, "pad": big})
        await lam.invoke(FunctionName="f", InvocationType="Event", Payload=payload)
    await trio.testing.wait_all_tasks_blocked()
    conn = slow.conn
    assert OUTBOUND_HIGH_WATER < conn._unsent <= OUTBOUND_HIGH_WATER + 256 * 1024
    sent = len(conn._invocations)
    assert 15 < sent < 40  # the rest wait for a worker that reads

    # Another worker of the function takes what waits.
    calls: list = []
    await serve(nursery, broker, "f", Recorder("reader", calls), concurrency=4)
    await trio.testing.wait_all_tasks_blocked()
    assert len(calls) == 40 - sent
    assert len(conn._invocations) == sent  # nothing more went to the slow one

    # The slow worker goes away: its invocations fail and are retried on the reader, and its
    # connection (with the megabytes queued for it) is freed at once, without the GC.
    ref = weakref.ref(conn)
    del conn
    gc.collect()
    gc.disable()
    try:
        await slow.stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(0)
        leaked = ref()
        held_by = _referrer_chains(leaked) if leaked else []
        assert leaked is None, f"the connection is still referenced by {held_by}"
    finally:
        gc.enable()
    await trio.sleep(200)  # the async retries (60 s, then 120 s)
    await broker.settle()
    assert sorted(c[2]["i"] for c in calls) == list(range(40))


async def test_sqs_mapping_to_a_worker_served_function_processes_every_message(
    broker, admin, lam, nursery
):
    """An SQS event source mapping whose function a worker serves: every message reaches the
    worker exactly once in a batch, and a successful batch is deleted from the queue."""
    sqs = admin.client("sqs")
    url = (await sqs.create_queue(QueueName="jobs"))["QueueUrl"]
    for i in range(25):
        await sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    seen: list[str] = []

    def handler(event, context):
        seen.extend(record["body"] for record in event["Records"])

    await lam.create_function(FunctionName="consume", Handler=MISSING, Timeout=30)
    await serve(nursery, broker, "consume", handler, concurrency=2)
    await lam.create_event_source_mapping(
        FunctionName="consume", EventSourceArn=ARN_PREFIX + "jobs", BatchSize=5
    )
    await trio.sleep(60)
    assert sorted(seen) == sorted(f"m{i}" for i in range(25))
    attrs = (
        await sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    )["Attributes"]
    assert attrs == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


async def test_without_a_worker_the_broker_imports_the_handler(broker, lam, nursery):
    """No worker ever attached: the broker runs the Handler import string itself, so a module
    it cannot import is Runtime.ImportModuleError. A worker serves it while attached; once the
    worker's connection closes the broker never falls back to the import string (a handler
    written for a worker may block the broker): a sync Invoke is ResourceNotReadyException
    until a worker serves the function again."""
    await lam.create_function(FunctionName="f", Handler=MISSING)
    _, body = await invoke_json(lam, "f")
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "fn_mod_not_in_the_broker" in body["errorMessage"]
    worker = await serve(nursery, broker, "f", lambda e, c: "served")
    _, body = await invoke_json(lam, "f")
    assert body == "served"
    worker.stop()
    await trio.sleep(1)
    with pytest.raises(BrokerError) as info:
        await invoke_json(lam, "f")
    assert info.value.code == "ResourceNotReadyException"
    assert "msgsim worker --function f" in str(info.value)
    await serve(nursery, broker, "f", lambda e, c: "back")
    _, body = await invoke_json(lam, "f")
    assert body == "back"


async def test_async_events_wait_for_a_worker_to_come_back(broker, lam, nursery):
    """An async event of a function whose workers are gone is not run by the broker and not
    lost: it waits in the queue (retried with a back-off, not counted as an attempt) and runs
    once a worker serves the function again."""
    await lam.create_function(FunctionName="f", Handler=MISSING)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=0)
    calls: list = []
    worker = await serve(nursery, broker, "f", Recorder("w1", calls))
    worker.stop()
    await trio.sleep(1)
    r = await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": 1}')
    assert r["StatusCode"] == 202
    await trio.sleep(600)
    assert calls == []
    await serve(nursery, broker, "f", Recorder("w2", calls))
    await trio.sleep(60)
    assert [(w, e) for w, _, e, _ in calls] == [("w2", {"n": 1})]


# ---------------------------------------------------------------------------------- processes

WORKER_ENV = {
    "PYTHONPATH": os.pathsep.join(
        [
            str(ROOT),
            str(ROOT / "tests"),
            str(ROOT / "tests" / "adapters"),
            os.environ.get("PYTHONPATH", ""),
        ]
    )
}
HANDLER = "worker_handlers:pid_handler"


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


async def _wait_for(predicate, seconds: float = 20.0):
    deadline = trio.current_time() + seconds
    while trio.current_time() < deadline:
        value = predicate()
        if value:
            return value
        await trio.sleep(0.02)
    raise AssertionError("timed out waiting")


@pytest.mark.real_clock
async def test_worker_processes_share_invocations():
    """Two ``msgsim worker`` processes (concurrency 1) serving one function: four concurrent
    invokes of 0.5 s each run two on each process (the handler answers its pid)."""
    with daemon() as d:
        workers = [start_worker(d, "f", HANDLER, env=WORKER_ENV) for _ in range(2)]
        try:
            async with TcpClient.connect(d.host, d.port) as aws:
                lam = aws.client("lambda")
                await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=30)
                results: list = []

                async def one():
                    r, body = await invoke_json(lam, "f", {"sleep": 0.5})
                    assert "FunctionError" not in r, body
                    results.append(body["pid"])

                async with trio.open_nursery() as n:
                    for _ in range(4):
                        n.start_soon(one)
            assert Counter(results) == {w.pid: 2 for w in workers}
        finally:
            for w in workers:
                stop(w)


@pytest.mark.real_clock
async def test_killed_worker_process_fails_its_invocation_and_the_retry_runs_elsewhere(tmp_path):
    """SIGKILL of the worker process running an invocation: a sync invoke fails with
    Runtime.ExitError; an async event (MaximumRetryAttempts 1) whose worker is killed is
    retried on the other worker process (the daemon runs on the virtual clock so the 60 s
    retry delay is skipped with AdvanceClock)."""
    with daemon("--clock", "virtual") as d:
        procs = [start_worker(d, "f", HANDLER, env=WORKER_ENV) for _ in range(3)]
        workers = {w.pid: w for w in procs}
        try:
            async with TcpClient.connect(d.host, d.port) as aws:
                lam = aws.client("lambda")
                await lam.create_function(FunctionName="f", Handler=MISSING, Timeout=60)
                await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1)
                log = tmp_path / "sync.log"
                out: dict = {}

                async def call():
                    out["r"], out["body"] = await invoke_json(
                        lam, "f", {"sleep": 20, "log": str(log)}
                    )

                async with trio.open_nursery() as n:
                    n.start_soon(call)
                    started = await _wait_for(lambda: _lines(log))
                    victim = int(started[0][1])
                    workers.pop(victim).send_signal(signal.SIGKILL)
                assert out["r"]["FunctionError"] == "Unhandled"
                assert out["body"]["errorType"] == "Runtime.ExitError"

                log = tmp_path / "async.log"
                r = await lam.invoke(
                    FunctionName="f",
                    InvocationType="Event",
                    Payload=json.dumps({"sleep": 3, "log": str(log)}),
                )
                assert r["StatusCode"] == 202
                first = await _wait_for(lambda: _lines(log))
                victim = int(first[0][1])
                workers.pop(victim).send_signal(signal.SIGKILL)
                await trio.sleep(0.5)  # the daemon notices the closed connection
                await aws.call("admin", "AdvanceClock", {"Seconds": 61})
                ends = await _wait_for(lambda: [x for x in _lines(log) if x[0] == "end"])
                assert len(ends) == 1
                assert int(ends[0][1]) in workers  # a surviving worker ran the retry
                assert ends[0][2] == first[0][2]  # of the same event
                starts = [x for x in _lines(log) if x[0] == "start"]
                assert [int(x[1]) for x in starts] == [victim, int(ends[0][1])]
        finally:
            for w in procs:
                stop(w)
