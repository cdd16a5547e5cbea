"""Topics, subscriptions, published messages and deliveries: the SNS core's plain state.

A subscription's life is a small table (:data:`TRANSITIONS`): it starts ``PendingConfirmation``
for endpoints that must confirm (HTTP/S, email, a queue in another account), or ``Confirmed``
at once (same-account SQS and Lambda, SMS, application endpoints); ``Unsubscribe`` and
``DeleteTopic`` delete it. A delivery -- one message on its way to one subscription -- lives
until it is made, dropped or dead-lettered; its retries follow the subscription's effective
delivery policy.
"""

from __future__ import annotations

from typing import Any

PENDING = "PendingConfirmation"
CONFIRMED = "Confirmed"
DELETED = "Deleted"

#: Allowed moves of a subscription's life.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({CONFIRMED, DELETED}),
    CONFIRMED: frozenset({DELETED}),
    DELETED: frozenset(),
}

#: Protocols a subscription may use, and whether the endpoint must confirm first.
PROTOCOLS: dict[str, bool] = {
    "http": True,
    "https": True,
    "email": True,
    "email-json": True,
    "sms": False,
    "sqs": False,  # same account; a queue in another account must confirm
    "application": False,
    "lambda": False,
    "firehose": False,
}


class Topic:
    __slots__ = (
        "arn",
        "attributes",
        "content_based_dedup",
        "dedup",
        "dedup_order",
        "delivery_policy",
        "fifo",
        "filtered",
        "name",
        "plain",
        "sequence",
        "subs_deleted",
        "subscriptions",
        "tags",
    )

    def __init__(self, name: str, arn: str, fifo: bool, attributes: dict[str, str]) -> None:
        self.name = name
        self.arn = arn
        self.fifo = fifo
        #: attributes as set (strings, as AWS keeps them)
        self.attributes = attributes
        self.content_based_dedup = False
        self.delivery_policy: Any = None
        self.tags: dict[str, str] = {}
        #: every live subscription, by ARN, in creation order
        self.subscriptions: dict[str, Subscription] = {}
        #: confirmed subscriptions without a filter policy, in creation order
        self.plain: list[Subscription] = []
        #: confirmed subscriptions with a filter policy (a broker.filters.PolicyIndex)
        self.filtered: Any = None
        self.subs_deleted = 0
        #: FIFO: dedup key -> (expiry, message id, sequence number); expiry order in dedup_order
        self.dedup: dict[str, tuple[float, str, str]] = {}
        self.dedup_order: list[tuple[float, str]] = []
        self.sequence = 0


class Subscription:
    __slots__ = (
        "arn",
        "delivery_policy",
        "endpoint",
        "filter_policy",
        "owner",
        "protocol",
        "raw",
        "raw_attributes",
        "redrive_dlq",
        "serial",
        "state",
        "token",
        "token_expires",
        "topic",
    )

    def __init__(self, topic: Topic, arn: str, protocol: str, endpoint: str, serial: int) -> None:
        self.topic = topic
        self.arn = arn
        self.protocol = protocol
        self.endpoint = endpoint
        self.serial = serial
        self.owner = ""
        self.state = PENDING
        self.token: str | None = None
        self.token_expires = 0.0
        self.raw = False
        #: the settable attributes as given (strings)
        self.raw_attributes: dict[str, str] = {}
        self.filter_policy: Any = None
        self.delivery_policy: Any = None
        self.redrive_dlq: str | None = None

    def move(self, state: str) -> None:
        if state not in TRANSITIONS[self.state]:
            raise AssertionError(f"subscription {self.arn}: illegal move {self.state} -> {state}")
        self.state = state


class Published:
    """One published message, shared by all its deliveries."""

    __slots__ = (
        "_envelope_head",
        "ascii",
        "attributes",
        "dedup_id",
        "group_id",
        "message",
        "message_id",
        "per_protocol",
        "sequence_number",
        "subject",
        "timestamp",
        "topic_arn",
    )

    def __init__(
        self,
        message_id: str,
        topic_arn: str,
        message: str,
        subject: str | None,
        attributes: dict[str, dict[str, Any]] | None,
        timestamp: str,
        per_protocol: dict[str, str] | None = None,
        group_id: str | None = None,
        dedup_id: str | None = None,
        sequence_number: str | None = None,
        ascii: bool | None = None,
    ) -> None:
        self.message_id = message_id
        self.topic_arn = topic_arn
        self.message = message
        self.subject = subject
        self.attributes = attributes
        self.timestamp = timestamp
        self.per_protocol = per_protocol
        self.group_id = group_id
        self.dedup_id = dedup_id
        self.sequence_number = sequence_number
        #: the message and every string attribute value are ASCII (see SnsService._to_sqs);
        #: the publisher passes it when it already knows
        if ascii is None:
            ascii = (
                message.isascii()
                and (
                    per_protocol is None
                    or all(type(v) is not str or v.isascii() for v in per_protocol.values())
                )
                and (
                    not attributes
                    or all(a.get("StringValue", "").isascii() for a in attributes.values())
                )
            )
        self.ascii = ascii
        self._envelope_head: dict[str, tuple[str, str]] | None = None

    def text_for(self, protocol: str) -> str:
        """The Message a protocol receives: with MessageStructure=json, its own key if that is a
        string, else "default"."""
        if self.per_protocol is None:
            return self.message
        value = self.per_protocol.get(protocol)
        return value if type(value) is str else self.message


class Delivery:
    """One message (or confirmation) on its way to one subscription."""

    __slots__ = ("attempts", "kind", "published", "sub", "token")

    def __init__(self, sub: Subscription, published: Published | None, kind: str) -> None:
        self.sub = sub
        self.published = published
        #: "Notification", "SubscriptionConfirmation" or "UnsubscribeConfirmation"
        self.kind = kind
        self.attempts = 0
        self.token: str | None = None


class HttpRequest:
    """An HTTP POST the runtime should make for a delivery; it reports the outcome back."""

    __slots__ = ("body", "delivery", "headers", "url")

    def __init__(self, delivery: Delivery, url: str, headers: dict[str, str], body: str) -> None:
        self.delivery = delivery
        self.url = url
        self.headers = headers
        self.body = body
