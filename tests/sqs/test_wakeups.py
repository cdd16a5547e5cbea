"""Long polls wait in line: a send wakes O(1) of the parked polls, not all of them.

The broker counts every waiter it wakes (``broker.lines.wakeups``); these tests count wake-ups,
not time. The clock is a MockClock the tests move by hand, so a step is: do something, jump the
clock, let every task run until all are blocked, then check.
"""

from __future__ import annotations

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgsim.broker import Broker, BrokerError

N_POLLS = 300


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


class Polls:
    """Long polls started one at a time (so their arrival order is known), with their results."""

    def __init__(self, broker: Broker, nursery: trio.Nursery, url: str) -> None:
        self.broker = broker
        self.nursery = nursery
        self.url = url
        self.started = 0
        self.pending: set[int] = set()
        self.got: list[tuple[int, str]] = []  # (poll, body) in the order the polls returned
        self.handles: list[str] = []

    async def start(self, wait: int = 20, max_n: int = 1) -> None:
        i = self.started
        self.started += 1
        self.pending.add(i)
        self.nursery.start_soon(self._poll, i, wait, max_n)
        await settle()

    async def _poll(self, i: int, wait: int, max_n: int) -> None:
        try:
            answer = await self.broker.call(
                "sqs",
                "ReceiveMessage",
                {"QueueUrl": self.url, "WaitTimeSeconds": wait, "MaxNumberOfMessages": max_n},
            )
        except BrokerError:
            answer = {}
        finally:
            self.pending.discard(i)
        for m in answer.get("Messages", []):
            self.got.append((i, m["Body"]))
            self.handles.append(m["ReceiptHandle"])


async def send(broker: Broker, url: str, body: str, delay: int = 0, **extra) -> None:
    params = {"QueueUrl": url, "MessageBody": body, "DelaySeconds": delay, **extra}
    await broker.call("sqs", "SendMessage", params)


def run(test, *args):
    clock = trio.testing.MockClock()

    async def main():
        async with Broker.open(seed=1) as broker, trio.open_nursery() as nursery:
            await test(broker, nursery, clock, *args)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=clock)


def test_a_send_wakes_o1_of_many_parked_polls_the_first_in_line():
    async def body(broker, nursery, clock):
        url = (await broker.call("sqs", "CreateQueue", {"QueueName": "q"}))["QueueUrl"]
        polls = Polls(broker, nursery, url)
        for _ in range(N_POLLS):
            await polls.start()
        for k in range(5):
            before = broker.lines.wakeups
            await send(broker, url, f"m{k}")
            await settle()
            assert broker.lines.wakeups - before <= 3  # the first, and the turn passed on once
        assert polls.got == [(k, f"m{k}") for k in range(5)]  # in arrival order
        # A batch of ten: ten polls take one each, in arrival order, one turn after another.
        before = broker.lines.wakeups
        entries = [{"Id": str(k), "MessageBody": f"b{k}"} for k in range(10)]
        await broker.call("sqs", "SendMessageBatch", {"QueueUrl": url, "Entries": entries})
        await settle()
        assert broker.lines.wakeups - before <= 12
        assert polls.got[5:] == [(5 + k, f"b{k}") for k in range(10)]
        assert len(polls.pending) == N_POLLS - 15
        # Deleting the queue answers everyone at once.
        await broker.call("sqs", "DeleteQueue", {"QueueUrl": url})
        await settle()
        assert not polls.pending

    run(body)


def test_a_delayed_message_and_a_lapsed_visibility_reach_the_first_in_line():
    async def body(broker, nursery, clock):
        url = (await broker.call("sqs", "CreateQueue", {"QueueName": "q"}))["QueueUrl"]
        await send(broker, url, "late", delay=5)
        polls = Polls(broker, nursery, url)
        for _ in range(50):
            await polls.start()
        before = broker.lines.wakeups
        clock.jump(5)
        await settle()
        assert polls.got == [(0, "late")]
        assert broker.lines.wakeups - before <= 3  # only the first watched the timer
        # Taken by a short poll, not deleted: it comes back after its visibility timeout, to
        # the first poll still waiting.
        await send(broker, url, "again")
        await settle()
        assert polls.got[1] == (1, "again")
        clock.jump(14)  # t=19: the polls wait until t=20
        await settle()
        await send(broker, url, "short")
        await broker.call("sqs", "ReceiveMessage", {"QueueUrl": url, "VisibilityTimeout": 0})
        await settle()
        assert polls.got[2] == (2, "short")
        answer = await broker.call("sqs", "ReceiveMessage", {"QueueUrl": url})
        assert answer == {}
        await send(broker, url, "lapse")
        await settle()
        assert polls.got[3] == (3, "lapse")
        assert len(polls.pending) == 46

    run(body)


def test_a_poll_that_leaves_passes_its_turn_on():
    """A poll whose client went away leaves the line; the next in line gets the message."""

    async def body(broker, nursery, clock):
        url = (await broker.call("sqs", "CreateQueue", {"QueueName": "q"}))["QueueUrl"]
        got = []

        async def poll(i, task_status=trio.TASK_STATUS_IGNORED):
            with trio.CancelScope() as scope:
                task_status.started(scope)
                r = await broker.call(
                    "sqs", "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20}
                )
                got.append((i, [m["Body"] for m in r.get("Messages", [])]))

        first = await nursery.start(poll, 0)
        await settle()
        await nursery.start(poll, 1)
        await settle()
        first.cancel()
        await settle()
        await send(broker, url, "m")
        await settle()
        assert got == [(1, ["m"])]

    run(body)


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("poll"), st.sampled_from([1, 5, 20]), st.integers(1, 3)),
        st.tuples(
            st.just("send"), st.sampled_from([0, 0, 2, 7]), st.integers(0, 2), st.integers(1, 3)
        ),
        st.tuples(st.just("take"), st.sampled_from([0, 3])),  # short poll, visibility 0 or 3 s
        st.tuples(st.just("delete")),  # delete one message a poll got
        st.tuples(st.just("jump"), st.sampled_from([0.5, 1, 3])),
    ),
    max_size=30,
)


def receivable(queue, now) -> bool:
    queue.tick(now)
    if queue.fifo:
        return any(group.ready() for group in queue._groups.values())
    return queue.n_available > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fifo=st.booleans(), ops=OPS)
def test_no_message_stays_receivable_while_a_poll_stays_parked(fifo, ops):
    async def body(broker, nursery, clock):
        attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
        name = "q.fifo" if fifo else "q"
        created = await broker.call("sqs", "CreateQueue", {"QueueName": name, "Attributes": attrs})
        url = created["QueueUrl"]
        queue = broker.sqs.queues[name]
        polls = Polls(broker, nursery, url)
        handles = polls.handles
        sent = 0

        async def on_taken(answer):
            for m in answer.get("Messages", []):
                handles.append(m["ReceiptHandle"])

        for op in ops:
            kind = op[0]
            if kind == "poll":
                await polls.start(wait=op[1], max_n=op[2])
            elif kind == "send":
                entries = []
                for _ in range(op[3]):  # one call: a send or a batch
                    sent += 1
                    entry = {"Id": str(sent), "MessageBody": f"m{sent}"}
                    if fifo:
                        entry["MessageGroupId"] = f"g{op[2]}"
                    else:
                        entry["DelaySeconds"] = op[1]
                    entries.append(entry)
                await broker.call("sqs", "SendMessageBatch", {"QueueUrl": url, "Entries": entries})
            elif kind == "take":
                answer = await broker.call(
                    "sqs", "ReceiveMessage", {"QueueUrl": url, "VisibilityTimeout": op[1]}
                )
                await on_taken(answer)
            elif kind == "delete" and handles:
                handle = handles.pop(0)
                try:
                    await broker.call(
                        "sqs", "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": handle}
                    )
                except BrokerError:
                    pass
            elif kind == "jump":
                clock.jump(op[1])
            await settle()
            assert not (polls.pending and receivable(queue, trio.current_time())), (
                f"after {op}: a message is receivable while polls {sorted(polls.pending)} wait"
            )

    run(body)
