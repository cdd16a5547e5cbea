"""What every SNS operation shares: the topics and subscriptions of one broker (one account, one
region), the confirmation tokens, the deliveries waiting for a retry, and the channels back to
the runtime (HTTP requests to make, the outbox, the Lambda hook).

The operations are plain functions in :mod:`.topics`, :mod:`.tags`, :mod:`.subscriptions`,
:mod:`.subscription_attributes`, :mod:`.publishing` and :mod:`.delivery`; each takes this state as
its first argument. :class:`~msgsim.broker.sns.service.SnsService` is this state plus the
operation table. The state sits below the operations so that they share it without importing the
service: data flows one way, service -> operations -> state and the model (:mod:`.model`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from ..clock import Epoch
from ..errors import NotFound
from ..sqs.service import SqsService
from .envelope import Signer, iso_ms
from .model import Delivery, HttpRequest, Subscription, Topic
from .options import SnsOptions
from .params import invalid, str_param


class SnsState:
    """All topics and subscriptions of one broker (one account, one region)."""

    def __init__(
        self,
        *,
        rng: random.Random,
        epoch: Epoch,
        region: str,
        account_id: str,
        sqs: SqsService,
        options: SnsOptions | None = None,
    ) -> None:
        self.rng = rng
        self.epoch = epoch
        self.region = region
        self.account_id = account_id
        self.sqs = sqs
        self.options = options or SnsOptions()
        self.arn_prefix = f"arn:aws:sns:{region}:{account_id}:"
        self.topics: dict[str, Topic] = {}  # by ARN, in creation order
        self.subscriptions: dict[str, Subscription] = {}  # by ARN
        #: confirmation token -> the subscription it confirms
        self.tokens: dict[str, Subscription] = {}
        #: orders subscriptions (their fanout order) and same-time retries
        self.serial = 0
        #: filter policies in use in the account (a quota)
        self.filter_policies = 0
        self.signer = Signer(region, rng.getrandbits(128).to_bytes(16, "big"))
        #: HTTP POSTs for the runtime to make (it empties the list)
        self.outbound: list[HttpRequest] = []
        #: retries due later, a heap: (due, serial, delivery)
        self.retries: list[tuple[float, int, Delivery]] = []
        #: what email/SMS/push subscribers would have received, oldest first
        self.outbox: list[dict[str, Any]] = []
        #: installed by the functions service: invoke_lambda(function_arn, event, now); raises
        #: BrokerError when the function cannot take the event
        self.invoke_lambda: Callable[[str, dict[str, Any], float], None] | None = None
        # Counters for stats and tests.
        self.delivered = 0
        self.failed = 0
        self.dead_lettered = 0
        #: services whose state these operations may have changed (the runtime wakes them)
        self.touched: set[Any] = set()
        self.jobs: list[Any] = []

    def topic_for(self, p: Mapping[str, Any], name: str = "TopicArn") -> Topic:
        """The topic whose ARN is parameter ``name``: InvalidParameter for a malformed ARN,
        NotFound for a well-formed one that names no topic."""
        arn = str_param(p, name)
        topic = self.topics.get(arn)  # type: ignore[arg-type]
        if topic is not None:
            return topic
        if not arn.startswith("arn:aws:sns:") or arn.count(":") != 5:  # type: ignore[union-attr]
            raise invalid(f"{name}")
        raise NotFound("Topic does not exist")

    def subscription_for(self, p: Mapping[str, Any]) -> Subscription:
        """The subscription whose ARN is parameter SubscriptionArn (errors as :meth:`topic_for`)."""
        arn = str_param(p, "SubscriptionArn")
        sub = self.subscriptions.get(arn)  # type: ignore[arg-type]
        if sub is not None:
            return sub
        if not arn.startswith("arn:aws:sns:") or arn.count(":") != 6:  # type: ignore[union-attr]
            raise invalid(
                "SubscriptionArn Reason: An ARN must have at least 6 elements, not "
                f"{arn.count(':') + 1}"
            )  # type: ignore[union-attr]
        raise NotFound("Subscription does not exist")

    def now_iso(self, now: float) -> str:
        return iso_ms(self.epoch.wall(now))
