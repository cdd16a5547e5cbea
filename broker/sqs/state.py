"""What every SQS operation shares: the queues of one broker (one account, one region), their
indexes by name, URL and ARN, and the channels back to the runtime.

The operations are plain functions in :mod:`.queues`, :mod:`.sending`, :mod:`.receiving`,
:mod:`.batches` and :mod:`.redrive`; each takes this state as its first argument.
:class:`~msgsim.broker.sqs.service.SqsService` is this state plus the operation table. The state
sits below the operations so that they share it without importing the service: data flows one
way, service -> operations -> state and the cores (:mod:`.queue`, :mod:`.message`).

Nothing here validates or decides; it only holds. The indexes are kept in step by CreateQueue and
DeleteQueue (:mod:`.queues`) alone.
"""

from __future__ import annotations

import random
from typing import Any

from ..clock import Epoch
from ..operation import Job
from .move_task import MoveTask
from .options import SqsOptions
from .queue import Queue


class SqsState:
    """All queues of one broker (one account, one region)."""

    def __init__(
        self,
        *,
        rng: random.Random,
        epoch: Epoch,
        region: str,
        account_id: str,
        options: SqsOptions | None = None,
    ) -> None:
        self.rng = rng
        self.epoch = epoch
        self.region = region
        self.account_id = account_id
        self.options = options or SqsOptions()
        #: by name
        self.queues: dict[str, Queue] = {}
        self.by_url: dict[str, Queue] = {}
        self.by_arn: dict[str, Queue] = {}
        #: name -> when it was deleted (a name is not reusable for 60 s)
        self.deleted_at: dict[str, float] = {}
        #: the last queue uid handed out
        self.uids = 0
        #: seeds the CRC that seals receipt handles (see :mod:`.addressing`)
        self.seal = rng.getrandbits(32)
        self.url_prefix = f"https://sqs.{region}.amazonaws.com/{account_id}/"
        self.arn_prefix = f"arn:aws:sqs:{region}:{account_id}:"
        #: queue uids whose receivable set may have grown; the runtime wakes their long polls
        self.touched: set[int] = set()
        #: uids of queues deleted since the runtime last looked: all their waiters answer
        self.gone: set[int] = set()
        #: background work started by the last operations; the runtime runs and empties it
        self.jobs: list[Job] = []
        #: message move tasks by handle, and by source queue ARN in start order
        self.move_tasks: dict[str, MoveTask] = {}
        self.move_tasks_by_source: dict[str, list[MoveTask]] = {}
        #: FIFO throughput windows (see :mod:`.throughput`)
        self.rate_windows: dict[Any, list[float]] = {}

    def queue_by_arn(self, arn: str) -> Queue | None:
        return self.by_arn.get(arn)
