"""A stateful property test of the sans-IO SNS core against a tiny reference model.

The machine drives :class:`~msgsim.broker.sns.service.SnsService` and the
:class:`~msgsim.broker.sqs.service.SqsService` it delivers into directly -- no trio, no runtime -- by
calling their operation tables with ``now``, which a rule advances. The model is deliberately
naive:

* a standard topic whose subscriptions are queues from a small pool (each with an optional filter
  policy over the attributes ``kind`` in {a, b, c} and ``n``, and raw delivery on or off) and
  email addresses (pending until confirmed with the token from the outbox, for three days);
* every publish to it reaches exactly the confirmed subscriptions whose policy matches -- by a
  hand-written predicate per policy -- once each, and nothing else (queues are drained through
  ReceiveMessage/DeleteMessage, the outbox through ListOutbox);
* a FIFO topic with two FIFO queues (one raw): a publish with a dedup id seen in the last five
  minutes answers the first copy's MessageId and SequenceNumber and delivers nothing; otherwise it
  gets a strictly greater SequenceNumber and both queues receive it, each group in publish order;
* invariants: ListSubscriptionsByTopic, GetSubscriptionAttributes and GetTopicAttributes'
  SubscriptionsConfirmed/Pending/Deleted agree with the model after every step.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from msgsim.broker import limits
from msgsim.broker.clock import DEFAULT_VIRTUAL_EPOCH, Epoch
from msgsim.broker.errors import BrokerError
from msgsim.broker.sns.service import SnsService
from msgsim.broker.sqs.service import SqsService

REGION = "us-east-1"
ACCOUNT = "000000000000"
SQS_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
QUEUES = ["q0", "q1", "q2", "q3"]
FIFO_QUEUES = ["f0.fifo", "f1.fifo"]
RAW_FIFO = "f1.fifo"  # subscribed with raw message delivery
EMAILS = ["a@example.com", "b@example.com"]
DEDUP_WINDOW = limits.DEDUPLICATION_INTERVAL
TOKEN_LIFETIME = limits.SNS_CONFIRMATION_TOKEN_LIFETIME


#: Filter policies (scope MessageAttributes) and what each means, written out by hand. A message's
#: attributes are a dict with optional "kind" (a String) and "n" (a Number) and "x" (a String
#: nothing filters on).
POLICIES: dict[str, Any] = {
    '{"kind": ["a"]}': lambda m: m.get("kind") == "a",
    '{"kind": ["a", "b"]}': lambda m: m.get("kind") in ("a", "b"),
    '{"kind": [{"anything-but": ["a"]}]}': lambda m: m.get("kind") not in (None, "a"),
    '{"n": [{"numeric": [">", 2]}]}': lambda m: m.get("n") is not None and m["n"] > 2,
    '{"kind": ["c"], "n": [{"numeric": ["<=", 3]}]}': (
        lambda m: m.get("kind") == "c" and m.get("n") is not None and m["n"] <= 3
    ),
    # exists: false needs the key absent and, as AWS documents, at least one attribute present.
    '{"kind": [{"exists": false}]}': lambda m: "kind" not in m and bool(m),
    '{"$or": [{"kind": ["b"]}, {"n": [{"numeric": ["=", 5]}]}]}': (
        lambda m: m.get("kind") == "b" or m.get("n") == 5
    ),
}
policies = st.sampled_from([None, *POLICIES])
message_attrs = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["a", "b", "c"]),
        "n": st.sampled_from([0, 1, 2, 3, 4, 5, 2.5, -1]),
        "x": st.just("other"),
    },
)
bodies = st.sampled_from(["hello", "x", "y", '{"kind": "a"}'])


def sns_attributes(attrs: dict[str, Any]) -> dict[str, dict[str, str]]:
    out = {}
    for name, value in attrs.items():
        data_type = "Number" if name == "n" else "String"
        out[name] = {"DataType": data_type, "StringValue": str(value)}
    return out


@dataclass
class QueueSub:
    arn: str
    policy: str | None
    raw: bool


@dataclass
class EmailSub:
    arn: str
    confirmed: bool
    token: str | None
    token_expires: float


class SnsMachine(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**32 - 1))
    def setup(self, seed: int) -> None:
        rng = random.Random(seed)
        # Epoch.start reads trio's clock; here there is none, and clock time 0 is the origin.
        epoch = Epoch(wall_at_origin=DEFAULT_VIRTUAL_EPOCH, origin=0.0)
        self.sqs = SqsService(rng=rng, epoch=epoch, region=REGION, account_id=ACCOUNT)
        self.sns = SnsService(rng=rng, epoch=epoch, region=REGION, account_id=ACCOUNT, sqs=self.sqs)
        self.now = 0.0
        self.urls: dict[str, str] = {}
        for name in QUEUES + FIFO_QUEUES:
            attrs = {"MessageRetentionPeriod": str(14 * 86_400)}
            if name.endswith(".fifo"):
                attrs["FifoQueue"] = "true"
            r = self.sqs_call("CreateQueue", QueueName=name, Attributes=attrs)
            self.urls[name] = r["QueueUrl"]
        self.topic = self.call("CreateTopic", Name="std")["TopicArn"]
        self.fifo_topic = self.call(
            "CreateTopic",
            Name="t.fifo",
            Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
        )["TopicArn"]
        for name in FIFO_QUEUES:
            raw = "true" if name == RAW_FIFO else "false"
            self.call(
                "Subscribe",
                TopicArn=self.fifo_topic,
                Protocol="sqs",
                Endpoint=SQS_ARN + name,
                Attributes={"RawMessageDelivery": raw},
            )
        # The model.
        self.queue_subs: dict[str, QueueSub] = {}
        self.email_subs: dict[str, EmailSub] = {}
        self.deleted = 0
        self.gone: list[str] = []  # ARNs of subscriptions deleted
        #: FIFO topic: dedup id -> (expires, MessageId, SequenceNumber)
        self.dedup: dict[str, tuple[float, str, str]] = {}
        self.last_sequence = 0
        #: FIFO: per queue, per group, the MessageIds delivered and not yet drained, in publish order
        self.fifo_expected: dict[str, dict[str, list[str]]] = {q: {} for q in FIFO_QUEUES}
        #: FIFO: MessageId -> (body, SequenceNumber)
        self.fifo_sent: dict[str, tuple[str, str]] = {}

    # ------------------------------------------------------------------ plumbing
    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.sns.operations[operation](params, self.now)

    def sqs_call(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.sqs.operations[operation](params, self.now)

    def drain(self, queue: str) -> list[dict[str, Any]]:
        """Receive and delete everything in the queue, in receive order."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs_call(
                "ReceiveMessage",
                QueueUrl=self.urls[queue],
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                return out
            for m in got:
                self.sqs_call(
                    "DeleteMessage", QueueUrl=self.urls[queue], ReceiptHandle=m["ReceiptHandle"]
                )
            out += got

    def take_outbox(self) -> list[dict[str, Any]]:
        return self.call("ListOutbox", Clear=True)["Messages"]

    def current_attributes(self, arn: str) -> dict[str, str]:
        return self.call("GetSubscriptionAttributes", SubscriptionArn=arn)["Attributes"]

    # ------------------------------------------------------------------ subscriptions
    @rule(queue=st.sampled_from(QUEUES), policy=policies, raw=st.sampled_from([None, True, False]))
    def subscribe_queue(self, queue: str, policy: str | None, raw: bool | None) -> None:
        attrs: dict[str, str] = {}
        if policy is not None:
            attrs["FilterPolicy"] = policy
        if raw is not None:
            attrs["RawMessageDelivery"] = "true" if raw else "false"
        existing = self.queue_subs.get(queue)
        try:
            r = self.call(
                "Subscribe",
                TopicArn=self.topic,
                Protocol="sqs",
                Endpoint=SQS_ARN + queue,
                Attributes=attrs,
            )
        except BrokerError as err:
            # Subscribing again with different attributes is refused; the same ones answer the
            # existing subscription.
            assert existing is not None, err
            assert err.code == "InvalidParameter", err
            assert (policy is not None and policy != existing.policy) or (
                raw is not None and raw != existing.raw
            ), err
            return
        if existing is not None:
            assert r["SubscriptionArn"] == existing.arn
            assert policy in (None, existing.policy) and raw in (None, existing.raw)
            return
        assert r["SubscriptionArn"].startswith(self.topic + ":")
        self.queue_subs[queue] = QueueSub(r["SubscriptionArn"], policy, bool(raw))

    @rule(email=st.sampled_from(EMAILS))
    def subscribe_email(self, email: str) -> None:
        self.take_outbox()
        r = self.call(
            "Subscribe",
            TopicArn=self.topic,
            Protocol="email",
            Endpoint=email,
            ReturnSubscriptionArn=True,
        )
        existing = self.email_subs.get(email)
        sent = [m for m in self.take_outbox() if m["Type"] == "SubscriptionConfirmation"]
        if existing is not None:
            assert r["SubscriptionArn"] == existing.arn
            assert sent == []  # no second confirmation for an existing subscription
            return
        [confirmation] = sent
        assert confirmation["Endpoint"] == email
        self.email_subs[email] = EmailSub(
            r["SubscriptionArn"], False, confirmation["Token"], self.now + TOKEN_LIFETIME
        )

    @precondition(lambda self: any(not s.confirmed for s in self.email_subs.values()))
    @rule(data=st.data())
    def confirm_email(self, data: st.DataObject) -> None:
        email = data.draw(
            st.sampled_from(sorted(e for e, s in self.email_subs.items() if not s.confirmed))
        )
        sub = self.email_subs[email]
        try:
            r = self.call("ConfirmSubscription", TopicArn=self.topic, Token=sub.token)
        except BrokerError as err:
            assert err.code == "InvalidParameter", err
            assert self.now >= sub.token_expires, "a live token was refused"
            return
        assert self.now < sub.token_expires, "an expired token was accepted"
        assert r["SubscriptionArn"] == sub.arn
        sub.confirmed = True

    @precondition(lambda self: self.queue_subs or self.email_subs)
    @rule(data=st.data())
    def unsubscribe(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.queue_subs) + sorted(self.email_subs)))
        sub = self.queue_subs.pop(key, None) or self.email_subs.pop(key)
        assert self.call("Unsubscribe", SubscriptionArn=sub.arn) == {}
        self.deleted += 1  # the invariants check the topic's counts
        self.gone.append(sub.arn)
        self.take_outbox()  # a confirmed email is sent an UnsubscribeConfirmation

    @precondition(lambda self: self.gone)
    @rule(data=st.data())
    def deleted_subscription_is_gone(self, data: st.DataObject) -> None:
        arn = data.draw(st.sampled_from(self.gone))
        try:
            self.call("GetSubscriptionAttributes", SubscriptionArn=arn)
        except BrokerError as err:
            assert err.code == "NotFound", err
        else:
            raise AssertionError("GetSubscriptionAttributes of a deleted subscription succeeded")
        try:  # idempotent or NotFound; either way nothing changes (the invariants check counts)
            self.call("Unsubscribe", SubscriptionArn=arn)
        except BrokerError as err:
            assert err.code == "NotFound", err

    @precondition(lambda self: self.queue_subs)
    @rule(data=st.data(), policy=policies)
    def set_filter_policy(self, data: st.DataObject, policy: str | None) -> None:
        queue = data.draw(st.sampled_from(sorted(self.queue_subs)))
        sub = self.queue_subs[queue]
        self.call(
            "SetSubscriptionAttributes",
            SubscriptionArn=sub.arn,
            AttributeName="FilterPolicy",
            AttributeValue=policy or "",
        )
        sub.policy = policy

    @precondition(lambda self: self.queue_subs)
    @rule(data=st.data(), raw=st.booleans())
    def set_raw_delivery(self, data: st.DataObject, raw: bool) -> None:
        queue = data.draw(st.sampled_from(sorted(self.queue_subs)))
        sub = self.queue_subs[queue]
        self.call(
            "SetSubscriptionAttributes",
            SubscriptionArn=sub.arn,
            AttributeName="RawMessageDelivery",
            AttributeValue="true" if raw else "false",
        )
        sub.raw = raw

    # ------------------------------------------------------------------ standard publish
    @rule(attrs=message_attrs, body=bodies, subject=st.sampled_from([None, "s"]))
    def publish(self, attrs: dict[str, Any], body: str, subject: str | None) -> None:
        params: dict[str, Any] = {"TopicArn": self.topic, "Message": body}
        if attrs:
            params["MessageAttributes"] = sns_attributes(attrs)
        if subject is not None:
            params["Subject"] = subject
        mid = self.call("Publish", **params)["MessageId"]
        for queue in QUEUES:
            got = self.drain(queue)
            sub = self.queue_subs.get(queue)
            if sub is None or (sub.policy is not None and not POLICIES[sub.policy](attrs)):
                assert got == [], f"{queue} should have received nothing"
                continue
            [m] = got  # exactly one copy
            if sub.raw:
                assert m["Body"] == body
                assert m.get("MessageAttributes", {}) == sns_attributes(attrs)
            else:
                envelope = json.loads(m["Body"])
                assert envelope["MessageId"] == mid
                assert envelope["Message"] == body
                assert envelope["TopicArn"] == self.topic
                assert envelope.get("Subject") == subject
        confirmed = {e for e, s in self.email_subs.items() if s.confirmed}
        notified = [
            m["Endpoint"]
            for m in self.take_outbox()
            if m["Type"] == "Notification" and m["MessageId"] == mid
        ]
        assert sorted(notified) == sorted(confirmed)

    # ------------------------------------------------------------------ FIFO publish
    @rule(
        group=st.sampled_from(["g1", "g2"]),
        dedup=st.sampled_from([None, "d1", "d2", "d3"]),
        body=st.sampled_from(["x", "y", "z"]),
    )
    def publish_fifo(self, group: str, dedup: str | None, body: str) -> None:
        params: dict[str, Any] = {"TopicArn": self.fifo_topic, "Message": body}
        params["MessageGroupId"] = group
        if dedup is not None:
            params["MessageDeduplicationId"] = dedup
        key = dedup if dedup is not None else hashlib.sha256(body.encode()).hexdigest()
        r = self.call("Publish", **params)
        seen = self.dedup.get(key)
        if seen is not None and self.now < seen[0]:
            # A duplicate within five minutes: the first copy's ids, nothing delivered.
            assert (r["MessageId"], r["SequenceNumber"]) == seen[1:]
            return
        assert r["MessageId"] not in self.fifo_sent, "a duplicate after the dedup window"
        sequence = int(r["SequenceNumber"])
        assert sequence > self.last_sequence, "SequenceNumbers must strictly increase"
        self.last_sequence = sequence
        self.dedup[key] = (self.now + DEDUP_WINDOW, r["MessageId"], r["SequenceNumber"])
        self.fifo_sent[r["MessageId"]] = (body, r["SequenceNumber"])
        for queue in FIFO_QUEUES:
            self.fifo_expected[queue].setdefault(group, []).append(r["MessageId"])

    @rule()
    def drain_fifo_queues(self) -> None:
        """Each FIFO queue holds every non-duplicate publish once, each group in publish order
        (compared by MessageId, or by body for the raw subscription, which carries no id)."""
        for queue in FIFO_QUEUES:
            received: dict[str, list[str]] = {}
            for m in self.drain(queue):
                if queue == RAW_FIFO:
                    item = m["Body"]
                else:
                    envelope = json.loads(m["Body"])
                    item = envelope["MessageId"]
                    sent = (envelope["Message"], envelope["SequenceNumber"])
                    assert sent == self.fifo_sent[item]
                received.setdefault(m["Attributes"]["MessageGroupId"], []).append(item)
            expected = {
                group: [self.fifo_sent[mid][0] if queue == RAW_FIFO else mid for mid in ids]
                for group, ids in self.fifo_expected[queue].items()
                if ids
            }
            assert received == expected, f"{queue}: per-group order or count differs"
            self.fifo_expected[queue] = {}

    # ------------------------------------------------------------------ time
    @rule(seconds=st.sampled_from([0.001, 1, 60, 299, 299.999, 300, 301, 3_600, TOKEN_LIFETIME]))
    def advance(self, seconds: float) -> None:
        if seconds >= 3_600:
            self.drain_fifo_queues()  # before it could outlive the queues' retention
        self.now += seconds

    @rule(data=st.data())
    def advance_to_dedup_expiry(self, data: st.DataObject) -> None:
        """Jump onto (or just around) the end of a dedup window."""
        live = sorted(e for e, _, _ in self.dedup.values() if e > self.now)
        if live:
            target = data.draw(st.sampled_from(live)) + data.draw(
                st.sampled_from([-0.001, 0, 0.001])
            )
            self.now = max(self.now, target)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def listing_matches_the_model(self) -> None:
        page = self.call("ListSubscriptionsByTopic", TopicArn=self.topic)
        assert "NextToken" not in page
        listed = page["Subscriptions"]
        expected = sorted(
            [("sqs", SQS_ARN + q, s.arn) for q, s in self.queue_subs.items()]
            + [
                ("email", e, s.arn if s.confirmed else "PendingConfirmation")
                for e, s in self.email_subs.items()
            ]
        )
        got = sorted((s["Protocol"], s["Endpoint"], s["SubscriptionArn"]) for s in listed)
        assert got == expected
        everything = self.call("ListSubscriptions")["Subscriptions"]
        assert len(everything) == len(expected) + len(FIFO_QUEUES)

    @invariant()
    def subscription_attributes_match_the_model(self) -> None:
        for sub in self.queue_subs.values():
            attrs = self.current_attributes(sub.arn)
            assert attrs["RawMessageDelivery"] == ("true" if sub.raw else "false")
            assert attrs.get("FilterPolicy") == sub.policy
            assert attrs["PendingConfirmation"] == "false"
        for sub in self.email_subs.values():
            attrs = self.current_attributes(sub.arn)
            assert attrs["PendingConfirmation"] == ("false" if sub.confirmed else "true")

    @invariant()
    def topic_counts_match_the_model(self) -> None:
        attrs = self.call("GetTopicAttributes", TopicArn=self.topic)["Attributes"]
        confirmed = len(self.queue_subs) + sum(s.confirmed for s in self.email_subs.values())
        pending = sum(not s.confirmed for s in self.email_subs.values())
        assert attrs["SubscriptionsConfirmed"] == str(confirmed)
        assert attrs["SubscriptionsPending"] == str(pending)
        assert attrs["SubscriptionsDeleted"] == str(self.deleted)


SnsMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSnsCore = SnsMachine.TestCase
