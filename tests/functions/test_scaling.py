"""How Lambda scales and reuses execution environments, on the virtual clock: SQS poller scaling
(five batches at first, up to 300 more a minute, ScalingConfig.MaximumConcurrency, reserved
concurrency, FIFO message groups), cold starts and environment reuse, and the behaviours that
take hours (asynchronous events held back by throttling, the 6-hour maximum event age, the
300-second batching window).

Each test states the AWS behaviour it checks: AWS Lambda developer guide, "Configuring scaling
behavior for SQS event source mappings" (services-sqs-scaling), "Understanding the Lambda
execution environment lifecycle", "How Lambda handles errors and retries with asynchronous
invocation", and the CreateEventSourceMapping / ScalingConfig reference. Every test names
``autojump_clock`` itself (see tests/sqs/test_batch.py).

Handlers here are slow ``async def`` handlers that count how many of them run at once; the
counts are read from that timeline, so a test sees concurrency as it was at every moment, not
only at the instants it looks.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
from collections import Counter

import pytest
import trio
from lambda_helpers import counts, drain, make_queue

from msgsim.adapters import InProcessClient
from msgsim.broker import Broker, LambdaOptions


@pytest.fixture
def lam(aws):
    return aws.client("lambda")


@pytest.fixture
def direct(broker):
    """In-process (lambda, sqs) clients, for tests that need :func:`keep_busy`."""
    aws = InProcessClient(broker)
    return aws.client("lambda"), aws.client("sqs")


@contextlib.asynccontextmanager
async def lambda_broker(connect, **options):
    """A broker with LambdaOptions(**options): its (lambda, sqs) clients of the kind under test."""
    async with Broker.open(seed=0, lambda_options=LambdaOptions(**options)) as b:
        aws = await connect(b)
        yield aws.client("lambda"), aws.client("sqs")


class Concurrency:
    """An async handler that holds each invocation ``hold`` seconds and records how many
    invocations run at once over time (and, for SQS events, which message groups are in
    flight)."""

    def __init__(self, hold: float):
        self.hold = hold
        self.running = 0
        self.timeline: list[tuple[float, int]] = [(0.0, 0)]
        self.done: list[str] = []  # bodies of the records of every completed invocation
        self.receive_counts: list[int] = []
        self.groups: Counter[str] = Counter()  # FIFO groups in flight now
        self.group_overlap = False  # a group was in two running batches at once
        self.calls = 0

    def _change(self, delta: int) -> None:
        self.running += delta
        self.timeline.append((trio.current_time(), self.running))

    async def __call__(self, event, context):
        self.calls += 1
        records = event.get("Records", [])
        groups = {r["attributes"].get("MessageGroupId") for r in records} - {None}
        for group in groups:
            self.groups[group] += 1
            if self.groups[group] > 1:
                self.group_overlap = True
        self._change(+1)
        try:
            await trio.sleep(self.hold)
        finally:
            self._change(-1)
            for group in groups:
                self.groups[group] -= 1
        self.done.extend(r["body"] for r in records)
        self.receive_counts.extend(int(r["attributes"]["ApproximateReceiveCount"]) for r in records)

    def peak(self, start: float = 0.0, end: float = math.inf) -> int:
        """The most invocations running at once at any moment in [start, end]."""
        before = [n for t, n in self.timeline if t <= start]
        best = before[-1] if before else 0
        for t, n in self.timeline:
            if start < t <= end:
                best = max(best, n)
        return best

    def first_reached(self, level: int) -> float:
        """When the number running first reached ``level``."""
        return next(t for t, n in self.timeline if n >= level)


async def fill(sqs, url: str, n: int, prefix: str = "m", **per_message) -> list[str]:
    """Send ``n`` messages (in batches of ten); their bodies."""
    bodies = [f"{prefix}{i}" for i in range(n)]
    for start in range(0, n, 10):
        await sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": body, **per_message}
                for i, body in enumerate(bodies[start : start + 10])
            ],
        )
    return bodies


async def slow_mapping(lam, sqs, handler, *, timeout=900, visibility=None):
    """A standard queue (visibility timeout: the function's timeout unless given) and a
    function "f" to map it to: the queue's (url, arn)."""
    url, arn = await make_queue(sqs, "src", VisibilityTimeout=visibility or timeout)
    await lam.create_function(FunctionName="f", Handler=handler, Timeout=timeout)
    return url, arn


async def metrics(lam, name: str = "f") -> dict:
    return (await lam.get_function_metrics(FunctionName=name))["Metrics"]


# --- SQS: poller scaling ------------------------------------------------------------------------


async def test_sqs_mapping_adds_up_to_300_concurrent_batches_a_minute_from_five(
    autojump_clock, lam, sqs
):
    """AWS (services-sqs-scaling): when messages are available Lambda starts with five batches
    at a time; while messages are still available it adds up to 300 more concurrent batches
    per minute. msgsim scales at that documented rate: 5, 305, 605 and 905 in the first four
    minutes, then the account's 1,000 (the function's concurrency) is the ceiling."""
    h = Concurrency(hold=600)
    url, arn = await slow_mapping(lam, sqs, h)
    await fill(sqs, url, 1000)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
    await trio.sleep(900)
    assert h.peak(0, 59.9) == 5
    assert h.peak(60, 119.9) == 305
    assert h.peak(120, 179.9) == 605
    assert h.peak(180, 239.9) == 905
    assert h.peak() == 1000
    assert 240 <= h.first_reached(1000) < 300
    m = await metrics(lam)
    assert (m["Invocations"], m["Throttles"], m["MaxConcurrentExecutions"]) == (1000, 0, 1000)
    assert sorted(h.done) == sorted(f"m{i}" for i in range(1000))
    assert await counts(sqs, url) == (0, 0)


async def test_sqs_mapping_scales_to_1250_concurrent_invokes_when_the_account_allows(
    autojump_clock, connect
):
    """AWS (services-sqs-scaling; earlier editions: "by default, Lambda can scale up to invoke
    1,250 concurrent function instances for an Amazon SQS event source mapping" when the account
    quota is raised): with 2,000 of account concurrency and a deep queue, one mapping reaches
    1,250 concurrent batches (5 + 300 a minute: after the fifth minute) and no more."""
    async with lambda_broker(connect, account_concurrency=2000) as (lam, sqs):
        h = Concurrency(hold=600)
        url, arn = await slow_mapping(lam, sqs, h)
        await fill(sqs, url, 1400)
        await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
        await trio.sleep(590)
        assert h.peak() == 1250
        assert h.first_reached(1250) >= 300  # 5 + 4 x 300 = 1,205 by the fifth minute


async def test_maximum_concurrency_caps_the_scale_up(autojump_clock, lam, sqs):
    """AWS: ScalingConfig.MaximumConcurrency (2-1,000) limits the concurrent invocations of one
    SQS mapping: it still starts with five batches, scales up while the backlog lasts, stops at
    the setting (though the function and the account have room for more), and processes every
    message."""
    h = Concurrency(hold=30)
    url, arn = await slow_mapping(lam, sqs, h, timeout=60)
    bodies = await fill(sqs, url, 400)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=1, ScalingConfig={"MaximumConcurrency": 50}
    )
    await trio.sleep(600)
    assert h.peak(0, 59.9) == 5
    assert h.peak() == 50
    assert 60 <= h.first_reached(50) < 120
    assert sorted(h.done) == sorted(bodies)
    assert (await metrics(lam))["Throttles"] == 0
    assert await counts(sqs, url) == (0, 0)


async def test_lowering_maximum_concurrency_on_a_running_mapping_takes_effect(
    autojump_clock, lam, sqs
):
    """AWS (UpdateEventSourceMapping, ScalingConfig): the maximum concurrency of an existing SQS
    mapping can be changed; once lowered, the mapping runs no more than the new maximum at once
    (batches already running finish)."""
    h = Concurrency(hold=30)
    url, arn = await slow_mapping(lam, sqs, h, timeout=60)
    await fill(sqs, url, 800)
    m = await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=1, ScalingConfig={"MaximumConcurrency": 50}
    )
    await trio.sleep(100)
    assert h.running == 50
    await lam.update_event_source_mapping(UUID=m["UUID"], ScalingConfig={"MaximumConcurrency": 10})
    await trio.sleep(60)  # every batch started before the change has ended
    assert h.peak(160, 400) <= 10


async def test_reserved_concurrency_caps_a_mapping_and_throttled_batches_are_not_lost(
    autojump_clock, lam, sqs
):
    """AWS: an event source mapping does not look at reserved concurrency: it scales its
    pollers past it and the function throttles the extra invocations. A throttled batch is not
    lost: its messages return to the queue after the visibility timeout (their receive count
    grows) and are processed later. The function never runs more than its reservation.
    (Batches take 7 s so that none ends on the minute the mapping decides to scale: which comes
    first at one instant is not part of the semantics.)"""
    h = Concurrency(hold=7)
    url, arn = await slow_mapping(lam, sqs, h, timeout=30)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=10)
    bodies = await fill(sqs, url, 150)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
    await trio.sleep(600)
    assert h.peak(0, 59.9) == 5
    assert h.peak() == 10
    m = await metrics(lam)
    assert m["MaxConcurrentExecutions"] == 10
    assert m["Throttles"] > 0
    mapping = (await lam.get_function_metrics(FunctionName="f"))["EventSourceMappings"][0]
    assert mapping["Throttles"] == m["Throttles"]
    assert set(h.done) == set(bodies)
    assert max(h.receive_counts) > 1  # some came back after a throttle
    assert await counts(sqs, url) == (0, 0)


async def test_concurrency_falls_back_to_zero_when_the_queue_is_empty(autojump_clock, lam, sqs):
    """AWS: pollers invoke the function only with messages: once the backlog is processed the
    mapping's concurrency falls back (no empty invocations), and a message sent later is still
    processed at once."""
    h = Concurrency(hold=20)
    url, arn = await slow_mapping(lam, sqs, h, timeout=60)
    bodies = await fill(sqs, url, 300)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
    await trio.sleep(300)
    assert h.peak() > 5  # it did scale up
    assert sorted(h.done) == sorted(bodies)
    last_end = h.timeline[-1][0]
    calls = h.calls
    await trio.sleep(600)
    assert h.peak(last_end, math.inf) == 0
    assert h.calls == calls
    sent = trio.current_time()
    await sqs.send_message(QueueUrl=url, MessageBody="late")
    await trio.sleep(30)
    assert h.done[-1] == "late"
    assert [(t, n) for t, n in h.timeline if t >= sent] == [(sent, 1), (sent + 20, 0)]


async def test_mapping_scales_back_to_five_batches_after_the_backlog_is_gone(
    autojump_clock, lam, sqs
):
    """AWS (services-sqs-scaling): "When traffic is low, Lambda scales back the processing to
    five concurrent batches, and can optimize to as few as 2". After a scaled-up backlog is
    processed and the queue stays empty for a quarter of an hour, a new burst starts at no more
    than five concurrent batches."""
    h = Concurrency(hold=20)
    url, arn = await slow_mapping(lam, sqs, h, timeout=60)
    await fill(sqs, url, 300)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
    await trio.sleep(300)
    assert h.peak() > 5
    await trio.sleep(900)
    burst = trio.current_time()
    await fill(sqs, url, 100, prefix="burst")
    await trio.sleep(30)
    assert 0 < h.peak(burst, burst + 30) <= 5


async def test_mapping_does_not_scale_up_while_the_queue_keeps_up(autojump_clock, lam, sqs):
    """AWS (services-sqs-scaling): Lambda adds pollers only "if messages are still available".
    A trickle that five pollers take at once leaves nothing in the queue, so the mapping stays
    at five (or fewer): a burst that comes after two minutes of it starts at five batches at
    most."""
    h = Concurrency(hold=10)
    url, arn = await slow_mapping(lam, sqs, h, timeout=60)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
    for round_ in range(4):
        await fill(sqs, url, 3, prefix=f"trickle{round_}-")
        await trio.sleep(30)
    assert h.peak() == 3
    burst = trio.current_time()
    await fill(sqs, url, 100, prefix="burst")
    await trio.sleep(20)
    assert 0 < h.peak(burst, burst + 20) <= 5


async def test_idle_pollers_woken_together_by_a_lapsed_timer_all_stay_listening(
    autojump_clock, lam, sqs
):
    """AWS (services-sqs-scaling): the mapping's five pollers long-poll the queue, so messages
    sent while they are idle are taken at once, one batch per poller. Here all five wake at
    the same instant for a visibility timer that has nothing left to return (the messages it
    was set for were deleted): each must listen again, not only the last to re-park. (Before
    the fix each re-parking poller retired the waiting list the one before it had just made,
    so four of them never heard the next send, and its three messages ran one after another,
    10 s apart.)"""
    h = Concurrency(hold=10)
    url, arn = await slow_mapping(lam, sqs, h, timeout=60)
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
    await fill(sqs, url, 3, prefix="first")  # in flight until 60 s; deleted at 10 s
    await trio.sleep(65)  # every poller parked with the 60 s timer and woke for it
    later = trio.current_time()
    await fill(sqs, url, 3, prefix="later")
    await trio.sleep(1)
    assert h.peak(later, later + 1) == 3
    await trio.sleep(10)
    assert sorted(h.done) == sorted(
        [f"first{i}" for i in range(3)] + [f"later{i}" for i in range(3)]
    )


# --- SQS FIFO: one batch per message group --------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "maximum", "expected"),
    [(3, None, 3), (6, 10, 6), (8, 2, 2)],
    ids=["three-groups", "six-groups-max-10", "eight-groups-max-2"],
)
async def test_fifo_mapping_scales_to_the_number_of_active_message_groups(
    autojump_clock, lam, sqs, groups, maximum, expected
):
    """AWS (services-sqs-scaling, knowledge center "lambda-sqs-scaling"): with a FIFO queue
    Lambda scales to the number of active message groups, and never above the mapping's
    maximum concurrency ("if you have six message group IDs and maximum concurrency is 10, your
    function can have a maximum of six concurrent invocations"); messages of one group are never
    in two batches running at once."""
    h = Concurrency(hold=10)
    url, arn = await make_queue(
        sqs, "src.fifo", FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout=60
    )
    await lam.create_function(FunctionName="f", Handler=h, Timeout=60)
    bodies = []
    for g in range(groups):
        bodies += await fill(sqs, url, 10, prefix=f"g{g}-", MessageGroupId=f"g{g}")
    params = {"ScalingConfig": {"MaximumConcurrency": maximum}} if maximum else {}
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=1, **params
    )
    await trio.sleep(10 * 10 * math.ceil(groups / expected) + 120)
    assert h.peak() == expected
    assert not h.group_overlap
    assert sorted(h.done) == sorted(bodies)
    assert await counts(sqs, url) == (0, 0)


async def test_fifo_batches_of_ten_never_share_a_group_while_in_flight(autojump_clock, lam, sqs):
    """AWS: a FIFO batch may hold messages of several message groups, but while a batch with a
    group's messages is being processed, no other batch gets messages of that group; so no more
    batches run at once than there are groups."""
    h = Concurrency(hold=5)
    url, arn = await make_queue(
        sqs, "src.fifo", FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout=30
    )
    await lam.create_function(FunctionName="f", Handler=h, Timeout=30)
    bodies = []
    for g, n in enumerate([25, 7, 13, 3]):
        bodies += await fill(sqs, url, n, prefix=f"g{g}-", MessageGroupId=f"g{g}")
    await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=10)
    await trio.sleep(300)
    assert not h.group_overlap
    assert 1 < h.peak() <= 4
    assert sorted(h.done) == sorted(bodies)


# --- execution environments and cold starts ------------------------------------------------------


async def invocations(lam, name: str = "f") -> list[dict]:
    return (await lam.list_function_invocations(FunctionName=name))["Invocations"]


def tail(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


async def test_cold_start_is_init_duration_outside_the_billed_duration(autojump_clock, connect):
    """AWS: the first invocation of a function creates an execution environment (the Init
    phase) before the handler runs: the caller waits for both, the REPORT line shows Init
    Duration apart from Duration, and the invocation is a cold start; the next invocation reuses
    the environment (warm: no Init Duration)."""
    async with lambda_broker(connect, cold_start=0.5) as (lam, _sqs):

        async def handler(event, context):
            await trio.sleep(1)
            return "ok"

        await lam.create_function(FunctionName="f", Handler=handler, Timeout=10)
        r = await lam.invoke(FunctionName="f", LogType="Tail")
        assert trio.current_time() == 1.5
        report = tail(r).splitlines()[-1]
        assert report.startswith("REPORT RequestId:")
        assert "\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\t" in report
        assert report.endswith("\tInit Duration: 500.00 ms")
        await lam.invoke(FunctionName="f")
        assert trio.current_time() == 2.5
        listed = await invocations(lam)
        assert [i["ColdStart"] for i in listed] == [True, False]
        assert [i["DurationMs"] for i in listed] == [1000.0, 1000.0]
        assert "Init Duration" not in listed[1]["Log"]
        assert (await metrics(lam))["ColdStarts"] == 1


async def test_init_phase_does_not_count_against_the_function_timeout(autojump_clock, connect):
    """AWS: the function's Timeout limits the handler (the Invoke phase), not the Init phase of
    a new environment, so a slow initialisation does not time a quick handler out."""
    async with lambda_broker(connect, cold_start=2.5) as (lam, _sqs):

        async def handler(event, context):
            await trio.sleep(0.5)
            return context.get_remaining_time_in_millis()

        await lam.create_function(FunctionName="f", Handler=handler, Timeout=1)
        r = await lam.invoke(FunctionName="f")
        assert "FunctionError" not in r
        assert json.loads(r["Payload"].read()) == 500
        assert trio.current_time() == 3.0


async def test_concurrent_invocations_each_cold_start_and_a_later_burst_reuses_them(
    autojump_clock, connect
):
    """AWS: an environment handles one invocation at a time, so N invocations at once need N
    environments (N cold starts, each paying the Init time); a later burst reuses the warm ones
    and only the invocations beyond them start cold."""
    async with lambda_broker(connect, cold_start=0.5) as (lam, _sqs):
        h = Concurrency(hold=2)
        await lam.create_function(FunctionName="f", Handler=h, Timeout=10)

        async def burst(n):
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(lambda: lam.invoke(FunctionName="f"))

        await burst(4)
        assert trio.current_time() == 2.5
        assert (await metrics(lam))["ColdStarts"] == 4
        await burst(4)
        assert trio.current_time() == 4.5
        assert (await metrics(lam))["ColdStarts"] == 4
        await burst(6)
        assert trio.current_time() == 7.0  # two new environments initialise first
        listed = await invocations(lam)
        assert [i["ColdStart"] for i in listed].count(True) == 6
        assert sum(i["ColdStart"] for i in listed[-6:]) == 2
        assert h.peak() == 6


async def test_idle_environment_is_reaped_and_next_invoke_is_cold(autojump_clock, connect):
    """AWS: an execution environment that stays idle is eventually shut down, and the next
    invocation after that starts cold again (msgsim: ``environment_idle`` seconds)."""
    async with lambda_broker(connect, cold_start=0.5, environment_idle=100) as (lam, _sqs):
        await lam.create_function(FunctionName="f", Handler=lambda e, c: "ok")
        await lam.invoke(FunctionName="f")  # cold, idle from t = 0.5
        await trio.sleep(101)
        r = await lam.invoke(FunctionName="f", LogType="Tail")
        assert "\tInit Duration: 500.00 ms" in tail(r)
        assert [i["ColdStart"] for i in await invocations(lam)] == [True, True]
        assert trio.current_time() == 102.0
        assert (await metrics(lam))["ColdStarts"] == 2


async def test_environment_used_before_the_idle_limit_stays_warm(autojump_clock, connect):
    """AWS: an environment's idle time counts from its last invocation, not its creation: used
    again before the limit, it stays warm (here three times over five minutes with a 100-second
    limit), and only a gap longer than the limit makes the next invocation cold."""
    async with lambda_broker(connect, cold_start=0.5, environment_idle=100) as (lam, _sqs):
        await lam.create_function(FunctionName="f", Handler=lambda e, c: "ok")
        await lam.invoke(FunctionName="f")  # t = 0.5 after init
        for _ in range(3):
            await trio.sleep(99)
            await lam.invoke(FunctionName="f")
        await trio.sleep(100.5)
        await lam.invoke(FunctionName="f")
        assert [i["ColdStart"] for i in await invocations(lam)] == [
            True,
            False,
            False,
            False,
            True,
        ]


async def test_each_environment_is_reaped_on_its_own_idle_time(autojump_clock, connect):
    """AWS: environments are shut down one by one as each stays idle: of two warm environments,
    the one kept busy survives while the other is reaped, so a later pair of concurrent
    invocations has exactly one cold start."""
    async with lambda_broker(connect, cold_start=0.5, environment_idle=100) as (lam, _sqs):
        h = Concurrency(hold=1)
        await lam.create_function(FunctionName="f", Handler=h, Timeout=10)

        async def burst(n):
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(lambda: lam.invoke(FunctionName="f"))

        await burst(2)  # two environments, idle from t = 1.5
        for _ in range(3):  # one of them kept warm
            await trio.sleep(60)
            await lam.invoke(FunctionName="f")
        await trio.sleep(30)
        await burst(2)
        listed = await invocations(lam)
        assert [i["ColdStart"] for i in listed[:5]] == [True, True, False, False, False]
        assert sorted(i["ColdStart"] for i in listed[5:]) == [False, True]
        assert (await metrics(lam))["ColdStarts"] == 3


async def test_sqs_mapping_batches_share_the_function_environments(autojump_clock, connect):
    """AWS: invocations by an event source mapping run in the function's execution environments
    like any other: the first five concurrent batches start five environments, the batches after
    them reuse those, and a synchronous invoke afterwards is warm too."""
    async with lambda_broker(connect, cold_start=1) as (lam, sqs):
        h = Concurrency(hold=5)
        url, arn = await slow_mapping(lam, sqs, h, timeout=30)
        await fill(sqs, url, 30)
        await lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="f", BatchSize=1)
        await trio.sleep(60)
        assert sorted(h.done) == sorted(f"m{i}" for i in range(30))
        await lam.invoke(FunctionName="f", Payload=b"{}")
        listed = await invocations(lam)
        assert len(listed) == 31
        assert [i["Source"] for i in listed].count("sqs") == 30
        assert sum(i["ColdStart"] for i in listed) == 5
        assert listed[-1]["Source"] == "sync" and not listed[-1]["ColdStart"]


# --- behaviours that take hours --------------------------------------------------------------------


async def keep_busy(lam, until: float) -> None:
    """Occupy a function with consecutive synchronous runs of ``{"hold": 890}`` until ``until``
    (each starts the instant the one before ends: its one unit of concurrency is never free).

    Only in-process: over a connection the next invoke arrives a round trip after the unit
    frees, and a waiting event rightly takes it first, so the tests using this take
    :func:`direct` clients."""
    while trio.current_time() < until:
        await lam.invoke(FunctionName="f", Payload=b'{"hold": 890}')


async def test_throttled_async_event_waits_hours_and_runs_once_when_concurrency_frees(
    autojump_clock, direct
):
    """AWS: an asynchronous event that finds the function's reserved concurrency in use is
    kept and retried (back-off up to 5 minutes) for up to MaximumEventAgeInSeconds, 6 hours by
    default; throttles use up no retry attempts. With the function busy for two hours, the
    event runs once, within five minutes of the concurrency freeing."""
    lam, _ = direct
    runs = []

    async def handler(event, context):
        runs.append((trio.current_time(), event))
        await trio.sleep(event.get("hold", 0))

    await lam.create_function(FunctionName="f", Handler=handler, Timeout=900)
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=1)
    await lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=0)
    async with trio.open_nursery() as n:
        n.start_soon(keep_busy, lam, 2 * 3600)
        await trio.sleep(1)
        await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"t": 1}')
    freed = trio.current_time()
    assert freed >= 2 * 3600
    assert {"t": 1} not in [e for _, e in runs]
    await trio.sleep(3600)
    late = [t for t, e in runs if e == {"t": 1}]
    assert len(late) == 1
    assert freed <= late[0] <= freed + 300
    m = await metrics(lam)
    assert (m["AsyncEventsDropped"], m["AsyncEventsQueued"]) == (0, 0)


async def test_event_throttled_for_six_hours_goes_to_the_dead_letter_queue_then(
    autojump_clock, direct
):
    """AWS: MaximumEventAgeInSeconds defaults to 21,600 seconds (6 hours): an asynchronous event
    that keeps being throttled is not dropped before then; once older, Lambda discards it to the
    function's dead-letter queue (the original event, with RequestID / ErrorCode / ErrorMessage
    attributes) at its next retry, at most 5 minutes later, and it never runs."""
    lam, sqs = direct
    runs = []

    async def handler(event, context):
        runs.append(event)
        await trio.sleep(event.get("hold", 0))

    dlq_url, dlq_arn = await make_queue(sqs, "dlq")
    await lam.create_function(
        FunctionName="f",
        Handler=handler,
        Timeout=900,
        DeadLetterConfig={"TargetArn": dlq_arn},
    )
    await lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=1)
    async with trio.open_nursery() as n:
        n.start_soon(keep_busy, lam, 7 * 3600)
        await trio.sleep(1)
        await lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"old": 1}')
        await trio.sleep(21_600 - 300)
        assert await drain(sqs, dlq_url) == []
        await trio.sleep(300 + 300 + 1)
        msgs = await drain(sqs, dlq_url, MessageAttributeNames=["All"])
    assert len(msgs) == 1
    assert json.loads(msgs[0]["Body"]) == {"old": 1}
    assert set(msgs[0]["MessageAttributes"]) == {"RequestID", "ErrorCode", "ErrorMessage"}
    assert {"old": 1} not in runs
    m = await metrics(lam)
    assert (m["DeadLetteredEvents"], m["AsyncEventsQueued"]) == (1, 0)


async def test_batching_window_of_300_seconds_invokes_when_the_window_ends(
    autojump_clock, lam, sqs
):
    """AWS: MaximumBatchingWindowInSeconds may be up to 300 seconds: Lambda keeps gathering
    messages for the whole window, counted from the batch's first message, and then invokes
    with all it gathered (the batch never filled). The queue's visibility timeout must cover the
    window (AWS: at least six times the function timeout plus the window)."""
    batches = []

    def handler(event, context):
        batches.append((trio.current_time(), [r["body"] for r in event["Records"]]))

    url, arn = await slow_mapping(lam, sqs, handler, timeout=30, visibility=900)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=100, MaximumBatchingWindowInSeconds=300
    )
    await trio.sleep(5)
    sent = {}
    for i in range(25):  # one message every 10 s for 250 s
        sent[f"slow{i}"] = trio.current_time()
        await sqs.send_message(QueueUrl=url, MessageBody=f"slow{i}")
        await trio.sleep(10)
    assert batches == []
    await trio.sleep(300)
    assert sorted(b for _, bodies in batches for b in bodies) == sorted(sent)
    for t, bodies in batches:
        assert t == min(sent[b] for b in bodies) + 300
    assert batches[0][0] == 305
    assert await counts(sqs, url) == (0, 0)


#: 200 KB messages sent one a second: 32 MB in 160 s. The mapping's five pollers share them
#: (each send goes to whichever is listening first), so at least one poller's batch gathers over
#: 6 MB well inside the 300 s window, whatever the share.
WINDOW_MESSAGES = 160


async def send_200kb_messages(lam, sqs, handler) -> str:
    """A mapping (BatchSize 1,000, a 300 s window) and WINDOW_MESSAGES messages of 200 KB
    arriving one a second; the queue's URL."""
    url, arn = await slow_mapping(lam, sqs, handler, timeout=30, visibility=900)
    await lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="f", BatchSize=1000, MaximumBatchingWindowInSeconds=300
    )
    await trio.sleep(1)
    body = "x" * 200_000
    for i in range(WINDOW_MESSAGES):
        await sqs.send_message(QueueUrl=url, MessageBody=f"{i}:{body}")
        await trio.sleep(1)
    return url


async def test_batching_window_ends_early_on_payload_size(autojump_clock, lam, sqs):
    """AWS: a batching window also ends when the batch's payload reaches the 6 MB invocation
    limit: with over 6 MB waiting for one poller, Lambda invokes before the 300-second window
    is over, no event exceeds 6 MB, and every message is processed."""
    batches = []

    def handler(event, context):
        batches.append((trio.current_time(), len(json.dumps(event)), len(event["Records"])))

    url = await send_200kb_messages(lam, sqs, handler)
    assert batches, "no batch invoked within the window although 32 MB were waiting"
    assert batches[0][0] < 1 + 300
    assert all(size <= 6 * 1024 * 1024 for _, size, _ in batches)
    await trio.sleep(600)
    assert sum(n for _, _, n in batches) == WINDOW_MESSAGES
    assert await counts(sqs, url) == (0, 0)


async def test_batching_window_fills_the_batch_up_to_the_6_mb_payload_limit(
    autojump_clock, lam, sqs
):
    """AWS (BatchSize: "Lambda passes all of the records in the batch to the function in a
    single call, up to the payload limit for synchronous invocation (6 MB)"): a batch that ends
    early on payload size carries close to 6 MB, here at least 5 MB of 200 KB messages."""
    sizes = []

    def handler(event, context):
        sizes.append(len(json.dumps(event)))

    await send_200kb_messages(lam, sqs, handler)
    assert sizes
    assert 5 * 1024 * 1024 <= sizes[0] <= 6 * 1024 * 1024
