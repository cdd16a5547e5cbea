"""End-to-end property tests of the two pollers of event source mappings (SQS and Kinesis),
through the broker and the boto3-shaped client on the virtual clock.

Hypothesis draws a *program*: the mapping's settings, a seed for the function's failures, and a
list of steps (send messages or put records, let time pass, settle, change how the function
fails, update the mapping, disable and enable it, throttle the function, reshard the stream).
One ``trio.run`` on a ``MockClock`` runs the program, then lets the mapping run to quiescence
(enabled, unthrottled, time moving until every message or record is settled) and checks what AWS
promises (AWS Lambda developer guide: "Using Lambda with Amazon SQS", "Using Lambda with
Kinesis", "Retain discarded batch records", "Configuring partial batch response"). The handler
decides its failures from the program's seed and each record's attempt number (crc32, so a
failing program replays exactly), and keeps its own account of what succeeded: the properties
compare that account with the queues and the OnFailure destination.

SQS (standard and FIFO, a redrive policy to a dead-letter queue; BatchSize, batching window,
ReportBatchItemFailures and MaximumConcurrency drawn)
    Every message sent either was processed successfully (in a batch that succeeded, and not
    named in its batchItemFailures when the mapping reports them) or is in the dead-letter
    queue: none is lost, and the source queue ends empty. No message is handed to the function
    more than maxReceiveCount times, nor again once it succeeded (standard queues without
    at-least-once duplicates, and FIFO queues). FIFO: Lambda sends one batch at a time per
    message group and retries a failed message before it takes later ones of its group, so a
    message is only handed to the function once every earlier message of its group succeeded,
    comes before it in the same batch, or has gone to the dead-letter queue (and is then never
    seen again); successes of a group come in send order. A FIFO handler reporting batch item
    failures stops at the first failure and reports the rest of the batch, as AWS advises.
Kinesis (1-2 shards, resharded by UpdateShardCount; ParallelizationFactor 1-3, bisection,
MaximumRetryAttempts 0-3, MaximumRecordAgeInSeconds, partial batch responses; an OnFailure queue)
    Every record put either was processed successfully (its batch succeeded, or it comes before
    the lowest sequence number a partial batch response names) or lies in the sequence range of
    an OnFailure record of its shard: none is skipped silently. A record is handed to the function
    only once every earlier record of its partition key succeeded, comes before it in the same
    batch, or was discarded (and is then never seen again), across a reshard too (parents before
    children); so successes per partition key come in put order. A record that succeeded is not
    handed to the function again ("Lambda retries only the remaining records"). With one lane per
    shard an OnFailure record covers exactly its batch: consecutive records, none processed, none
    reported twice.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from lambda_helpers import counts, make_queue, redrive

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, BrokerError

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: How the function fails (a step may change it):
#: ok          every invocation succeeds;
#: flaky       a batch raises when a roll on its records and attempt says so;
#: poison      a batch holding a poison record raises, every time;
#: partial     answers batchItemFailures for rolled and poison records (ignored without
#:             ReportBatchItemFailures: the batch then succeeds whole);
#: malformed   answers an unusable partial batch response (a whole failure with
#:             ReportBatchItemFailures, a success without);
#: slow        an async handler that outlives Timeout on some batches, finishes in time on others.
MODES = ("ok", "flaky", "poison", "partial", "malformed", "slow")


def note(label: str) -> None:
    """A hypothesis statistics event (skipped when a program runs outside a test)."""
    if currently_in_test_context():
        event(label)


def bucket(n: int) -> str:
    """A coarse size for hypothesis statistics."""
    return "0" if n == 0 else "1-9" if n < 10 else "10+"


def roll(seed: int, *parts: object, one_in: int) -> bool:
    """A deterministic coin (crc32, not the salted ``hash``): true one time in ``one_in``."""
    text = ":".join(str(p) for p in (seed, *parts))
    return zlib.crc32(text.encode()) % one_in == 0


# --- programs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send one message per entry; the entry is its FIFO message group (ignored on standard)."""

    groups: tuple[int, ...]


@dataclass(frozen=True)
class Put:
    """Put one record per partition key, with PutRecords."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class Advance:
    seconds: float


@dataclass(frozen=True)
class Settle:
    pass


@dataclass(frozen=True)
class SetMode:
    mode: str


@dataclass(frozen=True)
class Resize:
    """UpdateEventSourceMapping of an SQS mapping: BatchSize and the batching window."""

    batch_size: int
    window: int


@dataclass(frozen=True)
class Retune:
    """UpdateEventSourceMapping of a Kinesis mapping (applied from the next batch)."""

    batch_size: int
    window: int
    retries: int
    bisect: bool


@dataclass(frozen=True)
class Reshard:
    """UpdateShardCount (UNIFORM_SCALING); refused when the stream is updating or the target
    is more than double or less than half the open shards."""

    shards: int


@dataclass(frozen=True)
class SetEnabled:
    enabled: bool


@dataclass(frozen=True)
class Throttle:
    """Reserved concurrency 0 (on) or none (off)."""

    on: bool


@dataclass(frozen=True)
class SqsSetup:
    fifo: bool
    at_least_once: bool
    visibility: int
    max_receive: int
    timeout: int
    batch_size: int
    window: int
    report_failures: bool
    max_concurrency: int | None
    seed: int
    mode: str


@dataclass(frozen=True)
class KinesisSetup:
    shards: int
    parallelization: int
    bisect: bool
    retries: int
    report_failures: bool
    batch_size: int
    window: int
    max_age: int
    timeout: int
    seed: int
    mode: str


def common_steps(*work: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The steps of every program, and ``work`` (drawn twice as often)."""
    return st.one_of(
        *work,
        *work,
        st.builds(Advance, st.sampled_from([0.5, 1.0, 3.0, 10.0, 30.0, 90.0])),
        st.just(Settle()),
        st.builds(SetMode, st.sampled_from(MODES)),
        st.builds(SetEnabled, st.booleans()),
        st.builds(Throttle, st.booleans()),
    )


@st.composite
def sqs_programs(draw: st.DrawFn, fifo: bool) -> tuple[SqsSetup, list[Any]]:
    timeout = draw(st.integers(1, 3))
    # Visibility timeout above batching window + Timeout (AWS advises six times the Timeout
    # plus the window): a batch is always settled while its messages are still in flight.
    visibility = draw(st.integers(timeout + 1, 20))
    room = visibility - timeout - 1
    # AWS refuses a batching window on a FIFO mapping (test_sqs_mapping.py): FIFO programs
    # keep it at 0.
    windows = st.just(0) if fifo else st.integers(0, min(room, 4))

    @st.composite
    def sizes(draw: st.DrawFn) -> tuple[int, int]:
        window = draw(windows)
        cap = 25 if window >= 1 else 10
        return draw(st.integers(1, cap)), window

    batch_size, window = draw(sizes())
    setup = SqsSetup(
        fifo=fifo,
        at_least_once=False if fifo else draw(st.booleans()),
        visibility=visibility,
        max_receive=draw(st.integers(1, 3)),
        timeout=timeout,
        batch_size=batch_size,
        window=window,
        report_failures=draw(st.booleans()),
        max_concurrency=draw(st.sampled_from([None, None, 2, 3])),
        seed=draw(st.integers(0, 2**16)),
        mode=draw(st.sampled_from(MODES)),
    )
    send = st.builds(Send, st.lists(st.integers(0, 2), min_size=1, max_size=8).map(tuple))
    resize = st.builds(lambda bw: Resize(*bw), sizes())
    step = common_steps(send, resize)
    steps = draw(st.lists(step, max_size=14))
    if not any(isinstance(s, Send) for s in steps):
        steps.insert(draw(st.integers(0, len(steps))), draw(send))
    return setup, steps


@st.composite
def kinesis_programs(draw: st.DrawFn) -> tuple[KinesisSetup, list[Put], list[Any]]:
    """Records written before the mapping is created (read from TRIM_HORIZON), and the steps
    after, which write more while the mapping runs."""
    setup = KinesisSetup(
        shards=draw(st.integers(1, 2)),
        parallelization=draw(st.integers(1, 3)),
        bisect=draw(st.booleans()),
        retries=draw(st.integers(0, 3)),
        report_failures=draw(st.booleans()),
        batch_size=draw(st.integers(1, 12)),
        window=draw(st.integers(0, 2)),
        max_age=draw(st.sampled_from([-1, -1, 60, 120])),
        timeout=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**16)),
        mode=draw(st.sampled_from(MODES)),
    )
    keys = st.sampled_from([f"pk{i}" for i in range(6)])
    put = st.builds(Put, st.lists(keys, min_size=1, max_size=8).map(tuple))
    retune = st.builds(
        Retune, st.integers(1, 12), st.integers(0, 2), st.integers(0, 3), st.booleans()
    )
    before = draw(st.lists(put, max_size=4))
    reshard = st.builds(Reshard, st.integers(1, 3))
    steps = draw(st.lists(common_steps(put, put, retune, reshard), max_size=14))
    if not before and not any(isinstance(s, Put) for s in steps):
        steps.insert(draw(st.integers(0, len(steps))), draw(put))
    return setup, before, steps


# --- the functions ---------------------------------------------------------------------------------


class Function:
    """A handler whose failures follow the current mode. It records what it was handed and what
    succeeded, as the mapping should judge it; with ``ordered`` (FIFO groups, partition keys) it
    notes each record handed over before an earlier record of its chain was done."""

    ordered = True

    def __init__(self, setup: SqsSetup | KinesisSetup) -> None:
        self.seed = setup.seed
        self.timeout = setup.timeout
        self.mode = setup.mode
        self.report_failures = setup.report_failures
        #: id -> (its chain: FIFO message group or partition key, its place in the chain)
        self.chain_of: dict[str, tuple[str, int]] = {}
        self.chains: dict[str, list[str]] = defaultdict(list)
        self.attempts: Counter[str] = Counter()
        #: The ids of each invocation's records, in the order the invocations started.
        self.invocations: list[list[str]] = []
        #: id -> the invocation in which it first succeeded (insertion order = success order).
        self.succeeded: dict[str, int] = {}
        #: (earlier, later, k): invocation ``k`` was handed ``later`` while ``earlier``, before it
        #: in its chain, had neither succeeded nor come before it in the batch. Fine only if
        #: ``earlier`` had been given up (dead-lettered, reported to OnFailure).
        self.overtaken: list[tuple[str, str, int]] = []
        #: Invocations that ran on past Timeout (the runner should have cancelled them).
        self.overran: list[int] = []
        #: What :meth:`check_event` found wrong.
        self.bad_events: list[str] = []

    def add(self, ident: str, chain: str) -> None:
        self.chain_of[ident] = (chain, len(self.chains[chain]))
        self.chains[chain].append(ident)

    def poison(self, ident: str) -> bool:
        return roll(self.seed, "poison", ident, one_in=5)

    def ids(self, event: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def check_event(self, event: dict[str, Any], attempts: list[int]) -> None:
        """Note what is wrong with an event (a handler's exceptions would only fail the batch)."""

    def partial_answer(self, ids: list[str], failed: list[str]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    def successes(self, ids: list[str], failed: list[str]) -> list[str]:
        """The records a partial batch response naming ``failed`` lets succeed."""
        raise NotImplementedError

    def started(self, k: int, ids: list[str]) -> None:
        if not self.ordered:
            return
        before: set[str] = set()
        for i in ids:
            chain, pos = self.chain_of[i]
            for earlier in self.chains[chain][:pos]:
                if earlier not in self.succeeded and earlier not in before:
                    self.overtaken.append((earlier, i, k))
            before.add(i)

    async def __call__(self, event: dict[str, Any], context: Any) -> Any:
        ids = self.ids(event)
        k = len(self.invocations)
        self.invocations.append(ids)
        self.started(k, ids)
        attempts = []
        for i in ids:
            self.attempts[i] += 1
            attempts.append(self.attempts[i])
        self.check_event(event, attempts)
        mode, seed = self.mode, self.seed
        done = ids
        answer: Any = None
        if mode == "flaky" and roll(seed, "batch", ids[0], attempts[0], len(ids), one_in=2):
            raise RuntimeError("flaky failure")
        if mode == "poison" and any(self.poison(i) for i in ids):
            raise RuntimeError("poison record")
        if mode == "slow":
            if roll(seed, "slow", ids[0], attempts[0], one_in=2):
                await trio.sleep(self.timeout + 1)  # cancelled at Timeout: a timeout error
                self.overran.append(k)
                raise RuntimeError("not cancelled at Timeout")
            await trio.sleep(self.timeout / 2)
        if mode == "partial":
            failed = [
                i
                for i, a in zip(ids, attempts, strict=True)
                if self.poison(i) or roll(seed, "item", i, a, one_in=3)
            ]
            answer = self.partial_answer(ids, failed)
            if self.report_failures:
                done = self.successes(ids, failed)
        if mode == "malformed":
            answer = {"batchItemFailures": [{"itemIdentifier": ""}]}
            if self.report_failures:
                done = []
        for i in done:
            self.succeeded.setdefault(i, k)
        return answer


class SqsFunction(Function):
    """Records are SQS messages by MessageId; chains are FIFO message groups."""

    def __init__(self, setup: SqsSetup) -> None:
        super().__init__(setup)
        self.ordered = self.fifo = setup.fifo
        self.duplicates = setup.at_least_once

    def ids(self, event: dict[str, Any]) -> list[str]:
        return [r["messageId"] for r in event["Records"]]

    def check_event(self, event: dict[str, Any], attempts: list[int]) -> None:
        # Every receive counts (throttled batches too); duplicates count on their own copy.
        for r, a in zip(event["Records"], attempts, strict=True):
            count = int(r["attributes"]["ApproximateReceiveCount"])
            if count < a and not self.duplicates:
                self.bad_events.append(f"{r['messageId']}: ApproximateReceiveCount {count} < {a}")

    def partial_answer(self, ids: list[str], failed: list[str]) -> dict[str, Any]:
        if self.fifo and failed:
            # AWS: with a FIFO queue, stop at the first failure and report it and every message
            # after it in the batch, to keep the order.
            failed = ids[ids.index(failed[0]) :]
        return super().partial_answer(ids, failed)

    def successes(self, ids: list[str], failed: list[str]) -> list[str]:
        if self.fifo and failed:
            return ids[: ids.index(failed[0])]
        return [i for i in ids if i not in failed]


class KinesisFunction(Function):
    """Records are Kinesis records by event id ("shardId:sequenceNumber"); chains are partition
    keys."""

    def ids(self, event: dict[str, Any]) -> list[str]:
        return [r["eventID"] for r in event["Records"]]

    def check_event(self, event: dict[str, Any], attempts: list[int]) -> None:
        shards = {shard_of(r["eventID"]) for r in event["Records"]}
        if len(shards) != 1:
            self.bad_events.append(f"a batch of no shard or of several: {sorted(shards)}")

    def partial_answer(self, ids: list[str], failed: list[str]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": seq_of(i)} for i in failed]}

    def successes(self, ids: list[str], failed: list[str]) -> list[str]:
        # The batch is split at the lowest sequence number named and Lambda retries only the
        # records from there: the ones before it are done.
        if not failed:
            return ids
        lowest = min(int(seq_of(i)) for i in failed)
        return [i for i in ids if int(seq_of(i)) < lowest]


def seq_of(event_id: str) -> str:
    return event_id.rsplit(":", 1)[1]


def shard_of(event_id: str) -> str:
    return event_id.rsplit(":", 1)[0]


def last_seen(invocations: list[list[str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, ids in enumerate(invocations):
        for i in ids:
            out[i] = k
    return out


def never_handed_over_after_success(fn: Function) -> None:
    for k, ids in enumerate(fn.invocations):
        for i in ids:
            first = fn.succeeded.get(i)
            assert first is None or first >= k, (
                f"{i} succeeded in invocation {first} and was handed over again in {k}"
            )


def in_chain_order(fn: Function) -> None:
    """Within each batch, and among first successes, a chain's records come in chain order."""
    for k, ids in enumerate(fn.invocations):
        places: dict[str, list[int]] = defaultdict(list)
        for i in ids:
            chain, pos = fn.chain_of[i]
            places[chain].append(pos)
        for chain, positions in places.items():
            assert positions == sorted(positions), f"invocation {k} holds {chain} out of order"
    places = defaultdict(list)
    for i in fn.succeeded:
        chain, pos = fn.chain_of[i]
        places[chain].append(pos)
    for chain, positions in places.items():
        assert positions == sorted(positions), f"{chain} succeeded out of order: {positions}"


def overtaking_only_past_given_up(fn: Function, given_up: set[str]) -> None:
    """Each (earlier, later, k) is fine only if ``earlier`` was given up (dead-lettered or
    reported to OnFailure) and never handed to the function from invocation ``k`` on."""
    seen = last_seen(fn.invocations)
    for earlier, later, k in fn.overtaken:
        assert earlier in given_up, (
            f"{later} was handed over (invocation {k}) before {earlier}, which came first in "
            f"its group/partition key and was neither done nor given up"
        )
        assert seen.get(earlier, -1) < k, (
            f"{earlier} was handed over again (invocation {seen[earlier]}) after {later}, which "
            f"came after it, had been (invocation {k})"
        )


# --- running programs ------------------------------------------------------------------------------


async def apply_common(step: Any, b: Broker, lam: Any, fn: Function, uuid: str) -> bool:
    """Run a step every program knows; False when it is not one."""
    if isinstance(step, Advance):
        await trio.sleep(step.seconds)
        await b.settle()
    elif isinstance(step, Settle):
        await b.settle()
    elif isinstance(step, SetMode):
        fn.mode = step.mode
    elif isinstance(step, SetEnabled):
        await lam.update_event_source_mapping(UUID=uuid, Enabled=step.enabled)
    elif isinstance(step, Throttle):
        if step.on:
            await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=0)
        else:
            await lam.delete_function_concurrency(FunctionName="f")
    else:
        return False
    return True


async def release(lam: Any, uuid: str) -> None:
    """Enable the mapping and lift any throttle, so the program can run to quiescence."""
    await lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    await lam.delete_function_concurrency(FunctionName="f")


async def take_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete every visible message (long polls: with at-least-once delivery a short
    poll samples a subset of the servers and may miss messages)."""
    out: list[dict[str, Any]] = []
    while True:
        r = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        msgs = r.get("Messages", [])
        if not msgs:
            return out
        out.extend(msgs)
        await sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(msgs)
            ],
        )


def run_sqs_program(setup: SqsSetup, steps: list[Any]) -> None:
    fn = SqsFunction(setup)
    suffix = ".fifo" if setup.fifo else ""
    fifo_attrs = {"FifoQueue": "true"} if setup.fifo else {}

    async def main() -> None:
        async with Broker.open(seed=setup.seed, at_least_once=setup.at_least_once) as b:
            aws = InProcessClient(b)
            lam, sqs = aws.client("lambda"), aws.client("sqs")
            dlq_url, dlq_arn = await make_queue(sqs, "dlq" + suffix, **fifo_attrs)
            url, arn = await make_queue(
                sqs,
                "src" + suffix,
                VisibilityTimeout=setup.visibility,
                RedrivePolicy=redrive(dlq_arn, setup.max_receive),
                **fifo_attrs,
            )
            await lam.create_function(FunctionName="f", Handler=fn, Timeout=setup.timeout)
            scaling: dict[str, Any] = {}
            if setup.max_concurrency is not None:
                scaling["ScalingConfig"] = {"MaximumConcurrency": setup.max_concurrency}
            mapping = await lam.create_event_source_mapping(
                EventSourceArn=arn,
                FunctionName="f",
                BatchSize=setup.batch_size,
                MaximumBatchingWindowInSeconds=setup.window,
                FunctionResponseTypes=["ReportBatchItemFailures"] if setup.report_failures else [],
                **scaling,
            )
            uuid = mapping["UUID"]
            n = 0
            for step in steps:
                if await apply_common(step, b, lam, fn, uuid):
                    continue
                if isinstance(step, Send):
                    for group in step.groups:
                        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": f"m{n}"}
                        if setup.fifo:
                            params["MessageGroupId"] = f"g{group}"
                            params["MessageDeduplicationId"] = f"m{n}"
                        r = await sqs.send_message(**params)
                        fn.add(r["MessageId"], f"g{group}" if setup.fifo else "")
                        n += 1
                else:
                    assert isinstance(step, Resize), step
                    await lam.update_event_source_mapping(
                        UUID=uuid,
                        BatchSize=step.batch_size,
                        MaximumBatchingWindowInSeconds=step.window,
                    )
            await release(lam, uuid)
            # Every message settles within maxReceiveCount receives of a visibility timeout
            # each; a FIFO group takes its messages one after the other.
            for _ in range((setup.max_receive + 1) * (len(fn.chain_of) + 2)):
                await b.settle()
                if await counts(sqs, url) == (0, 0):
                    break
                await trio.sleep(setup.visibility + setup.window + 1)
            assert await counts(sqs, url) == (0, 0), "the source queue did not drain"
            dead = [m["MessageId"] for m in await take_all(sqs, dlq_url)]
        check_sqs(setup, fn, dead)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def check_sqs(setup: SqsSetup, fn: SqsFunction, dead: list[str]) -> None:
    sent = set(fn.chain_of)
    ok = set(fn.succeeded)
    note(f"messages: {bucket(len(sent))}, dead-lettered: {bucket(len(set(dead)))}")
    note(f"handed over again: {any(n > 1 for n in fn.attempts.values())}")
    assert not fn.overran, f"invocations not cancelled at Timeout: {fn.overran}"
    assert not fn.bad_events, fn.bad_events
    lost = sent - ok - set(dead)
    assert not lost, f"messages neither processed nor dead-lettered: {sorted(lost)}"
    assert set(dead) <= sent
    if setup.at_least_once:
        return  # duplicates (also after a delete) may succeed one copy and dead-letter another
    assert len(dead) == len(set(dead)), "a message reached the dead-letter queue twice"
    assert not ok & set(dead), f"processed and dead-lettered: {sorted(ok & set(dead))}"
    # Each receive counts, and the receive past maxReceiveCount moves the message instead.
    over = {i: n for i, n in fn.attempts.items() if n > setup.max_receive}
    assert not over, f"handed over more than maxReceiveCount={setup.max_receive} times: {over}"
    never_handed_over_after_success(fn)
    if setup.fifo:
        note(f"a group moved past a dead-lettered message: {bool(fn.overtaken)}")
        in_chain_order(fn)
        overtaking_only_past_given_up(fn, set(dead))


def run_kinesis_program(setup: KinesisSetup, before: list[Put], steps: list[Any]) -> None:
    fn = KinesisFunction(setup)

    async def main() -> list[dict[str, Any]]:
        async with Broker.open(seed=setup.seed) as b:
            aws = InProcessClient(b)
            lam, sqs, kinesis = aws.client("lambda"), aws.client("sqs"), aws.client("kinesis")
            await kinesis.create_stream(StreamName="s", ShardCount=setup.shards)
            await trio.sleep(1)
            stream = (await kinesis.describe_stream(StreamName="s"))["StreamDescription"]
            fail_url, fail_arn = await make_queue(sqs, "on-failure")
            await lam.create_function(FunctionName="f", Handler=fn, Timeout=setup.timeout)

            async def put(step: Put) -> None:
                n = len(fn.chain_of)
                r = await kinesis.put_records(
                    StreamName="s",
                    Records=[
                        {"Data": json.dumps({"n": n + j}).encode(), "PartitionKey": key}
                        for j, key in enumerate(step.keys)
                    ],
                )
                assert r["FailedRecordCount"] == 0
                for key, entry in zip(step.keys, r["Records"], strict=True):
                    fn.add(f"{entry['ShardId']}:{entry['SequenceNumber']}", key)

            for step in before:
                await put(step)
            mapping = await lam.create_event_source_mapping(
                EventSourceArn=stream["StreamARN"],
                FunctionName="f",
                StartingPosition="TRIM_HORIZON",
                BatchSize=setup.batch_size,
                MaximumBatchingWindowInSeconds=setup.window,
                ParallelizationFactor=setup.parallelization,
                BisectBatchOnFunctionError=setup.bisect,
                MaximumRetryAttempts=setup.retries,
                MaximumRecordAgeInSeconds=setup.max_age,
                FunctionResponseTypes=["ReportBatchItemFailures"] if setup.report_failures else [],
                DestinationConfig={"OnFailure": {"Destination": fail_arn}},
            )
            uuid = mapping["UUID"]
            for step in steps:
                if await apply_common(step, b, lam, fn, uuid):
                    continue
                if isinstance(step, Put):
                    await put(step)
                elif isinstance(step, Reshard):
                    try:
                        await kinesis.update_shard_count(
                            StreamName="s",
                            TargetShardCount=step.shards,
                            ScalingType="UNIFORM_SCALING",
                        )
                        note("resharded")
                    except BrokerError as err:
                        assert err.code in ("ResourceInUseException", "LimitExceededException")
                else:
                    assert isinstance(step, Retune), step
                    await lam.update_event_source_mapping(
                        UUID=uuid,
                        BatchSize=step.batch_size,
                        MaximumBatchingWindowInSeconds=step.window,
                        MaximumRetryAttempts=step.retries,
                        BisectBatchOnFunctionError=step.bisect,
                    )
            await release(lam, uuid)
            # Retries are bounded (MaximumRetryAttempts), backoffs last at most a minute and a
            # caught-up shard is read about once a second: run until every record is settled.
            reports: list[dict[str, Any]] = []
            for _ in range(100):
                await b.settle()
                reports.extend(json.loads(m["Body"]) for m in await take_all(sqs, fail_url))
                if not unaccounted(fn, reports):
                    break
                await trio.sleep(15)
            await trio.sleep(5)
            await b.settle()
            reports.extend(json.loads(m["Body"]) for m in await take_all(sqs, fail_url))
            return reports

    reports = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    check_kinesis(setup, fn, reports)


def covered(fn: KinesisFunction, reports: list[dict[str, Any]]) -> set[str]:
    """The records that lie in the sequence range of an OnFailure record of their shard."""
    out = set()
    for report in reports:
        info = report["KinesisBatchInfo"]
        start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
        for i in fn.chain_of:
            if shard_of(i) == info["shardId"] and start <= int(seq_of(i)) <= end:
                out.add(i)
    return out


def unaccounted(fn: KinesisFunction, reports: list[dict[str, Any]]) -> set[str]:
    return set(fn.chain_of) - set(fn.succeeded) - covered(fn, reports)


def check_kinesis(setup: KinesisSetup, fn: KinesisFunction, reports: list[dict[str, Any]]) -> None:
    given_up = covered(fn, reports)
    note(f"records: {bucket(len(fn.chain_of))}, reported: {bucket(len(given_up))}")
    note(f"conditions: {sorted({r['requestContext']['condition'] for r in reports})}")
    note(f"a key moved past a discarded record: {bool(fn.overtaken)}")
    assert not fn.overran, f"invocations not cancelled at Timeout: {fn.overran}"
    assert not fn.bad_events, fn.bad_events
    skipped = unaccounted(fn, reports)
    assert not skipped, f"records neither processed nor reported to OnFailure: {sorted(skipped)}"
    conditions = {"RetryAttemptsExhausted"} | (
        {"RecordAgeExceeded"} if setup.max_age > 0 else set()
    )
    reported: Counter[str] = Counter()
    for report in reports:
        info = report["KinesisBatchInfo"]
        assert report["requestContext"]["condition"] in conditions, report
        start, end = info["startSequenceNumber"], info["endSequenceNumber"]
        shard = info["shardId"]
        assert f"{shard}:{start}" in fn.chain_of and f"{shard}:{end}" in fn.chain_of, info
        in_range = [
            i
            for i in fn.chain_of
            if shard_of(i) == shard and int(start) <= int(seq_of(i)) <= int(end)
        ]
        assert 1 <= info["batchSize"] <= len(in_range), info
        if setup.parallelization == 1:
            # One lane per shard: a discarded batch is a run of consecutive records.
            assert info["batchSize"] == len(in_range), info
            reported.update(in_range)
    twice = [i for i, n in reported.items() if n > 1]
    assert not twice, f"records reported to OnFailure twice: {sorted(twice)}"
    if setup.parallelization == 1:
        both = given_up & set(fn.succeeded)
        assert not both, f"processed yet reported to OnFailure: {sorted(both)}"
    never_handed_over_after_success(fn)
    in_chain_order(fn)
    overtaking_only_past_given_up(fn, given_up)


# --- the properties --------------------------------------------------------------------------------


@SETTINGS
@given(program=sqs_programs(fifo=False))
def test_standard_queue_mapping_never_loses_a_message(program):
    run_sqs_program(*program)


@SETTINGS
@given(program=sqs_programs(fifo=True))
def test_fifo_queue_mapping_never_loses_a_message_and_keeps_group_order(program):
    run_sqs_program(*program)


@SETTINGS
@given(program=kinesis_programs())
def test_kinesis_mapping_processes_in_key_order_or_reports_to_on_failure(program):
    run_kinesis_program(*program)
