"""Delivery: one attempt per (subscription, message), its retries, and where a failure ends.

Where each protocol goes:

- ``sqs``: into the subscribed queue, through the SQS service's own rules (size, FIFO groups and
  deduplication), within the Publish call -- so a test can publish and receive at once;
- ``email``, ``email-json``, ``sms``, ``application`` and ``firehose``: recorded in the outbox
  (the msgsim operation ``ListOutbox``, here too); nothing leaves the machine;
- ``http``/``https``: handed to the runtime as :class:`~msgsim.broker.sns.model.HttpRequest` items
  in the state's ``outbound`` list; the runtime POSTs them and reports back through
  :func:`http_result`;
- ``lambda``: through the state's ``invoke_lambda``, which the functions service installs;
  without it, the function does not exist (a client-side error).

A failed delivery is retried on the broker's clock per the effective delivery policy (AWS's
policy for AWS-managed endpoints, the customer-managed one for email/SMS/push, the HTTP/S policy
of the topic and subscription for HTTP/S). Client-side errors (the queue no longer exists, the
message is too large for it, an HTTP endpoint answering a 4xx other than 429) are not retried. A delivery that fails for good goes to the subscription's dead-letter queue
when it has a RedrivePolicy, and is dropped otherwise. The retries wait in a heap ordered by (due
time, serial); the runtime asks :func:`next_due` and calls :func:`run_due`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import BrokerError
from ..ids import uuid4_from
from . import delivery_policy as dp
from .model import DELETED, Delivery, HttpRequest, Subscription
from .params import check_known, invalid, str_param
from .state import SnsState


class _ClientError(Exception):
    """A delivery failed in a way a retry cannot fix (AWS: a client-side error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _retry_policy(sub: Subscription) -> Any:
    protocol = sub.protocol
    if protocol in ("http", "https"):
        return dp.effective_delivery_policy(sub.topic.delivery_policy, sub.delivery_policy).healthy
    if protocol in ("sqs", "lambda", "firehose"):
        return dp.AWS_MANAGED
    return dp.CUSTOMER_MANAGED


def attempt(sns: SnsState, delivery: Delivery, now: float) -> None:
    """Make one delivery attempt (HTTP/S: hand it to the runtime)."""
    delivery.attempts += 1
    sub = delivery.sub
    protocol = sub.protocol
    try:
        if protocol == "sqs":
            _to_sqs(sns, sub.endpoint, sub, delivery, now)
        elif protocol in ("http", "https"):
            sns.outbound.append(_http_request(sns, delivery, now))
            return
        elif protocol == "lambda":
            _to_lambda(sns, delivery, now)
        else:
            _to_outbox(sns, delivery, now)
    except _ClientError as err:
        _give_up(sns, delivery, err.code, err.message, now)
        return
    sns.delivered += 1


def _payload(sns: SnsState, delivery: Delivery, protocol: str) -> str:
    pub = delivery.published
    if delivery.sub.raw:
        return pub.text_for(protocol)  # type: ignore[union-attr]
    return sns.signer.notification(pub, protocol, delivery.sub.arn)  # type: ignore[arg-type]


def _to_sqs(
    sns: SnsState, queue_arn: str, sub: Subscription, delivery: Delivery, now: float
) -> None:
    pub = delivery.published
    if pub is None:  # a confirmation to a queue in another account: nowhere to go here
        raise _ClientError("QueueDoesNotExist", "The queue is not in this account")
    queue = sns.sqs.queue_by_arn(queue_arn)
    if queue is None:
        raise _ClientError("QueueDoesNotExist", "The specified queue does not exist.")
    if not sub.raw:
        # The envelope: JSON that SNS built from validated parts. It can only hold a
        # character SQS refuses if the message or an attribute value is not ASCII (JSON
        # escapes control characters), so only then does SQS check it again.
        group_id = pub.group_id
        try:
            sns.sqs.deliver_text(
                queue,
                sns.signer.notification(pub, "sqs", sub.arn),
                group_id,
                pub.dedup_id if queue.fifo else None,
                now,
                checked=pub.ascii,
            )
        except BrokerError as err:
            raise _ClientError(err.code, err.message) from None
        return
    # QueueUrl is not read; it keeps the request shaped as SendMessage's (whose fast path
    # takes a two-key request to be QueueUrl and MessageBody).
    params: dict[str, Any] = {
        "QueueUrl": queue_arn,
        "MessageBody": _payload(sns, delivery, "sqs"),
    }
    if sub.raw and pub.attributes:
        if len(pub.attributes) > limits.SNS_RAW_SQS_ATTRIBUTES_MAX:
            raise _ClientError(
                "InvalidParameterValue",
                "Raw message delivery to SQS takes at most 10 message attributes",
            )
        params["MessageAttributes"] = pub.attributes
    if queue.fifo:
        params["MessageGroupId"] = pub.group_id
        params["MessageDeduplicationId"] = pub.dedup_id
    elif pub.group_id is not None:
        params["MessageGroupId"] = pub.group_id
    try:
        sns.sqs.deliver(queue, params, now)
    except BrokerError as err:
        raise _ClientError(err.code, err.message) from None


def _to_lambda(sns: SnsState, delivery: Delivery, now: float) -> None:
    pub = delivery.published
    sub = delivery.sub
    if pub is None:
        return
    if sns.invoke_lambda is None:
        raise _ClientError("ResourceNotFoundException", f"Function not found: {sub.endpoint}")
    record = {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": sub.arn,
        "Sns": sns.signer.lambda_notification(pub, sub.arn),
    }
    try:
        sns.invoke_lambda(sub.endpoint, {"Records": [record]}, now)
    except BrokerError as err:
        raise _ClientError(err.code, err.message) from None


def _to_outbox(sns: SnsState, delivery: Delivery, now: float) -> None:
    sub = delivery.sub
    pub = delivery.published
    record: dict[str, Any] = {
        "Protocol": sub.protocol,
        "Endpoint": sub.endpoint,
        "SubscriptionArn": sub.arn,
        "TopicArn": sub.topic.arn,
        "Type": delivery.kind,
        "Timestamp": sns.now_iso(now),
    }
    if pub is None:
        message_id = uuid4_from(sns.rng)
        record["MessageId"] = message_id
        record["Token"] = delivery.token
        doc = sns.signer.confirmation(
            delivery.kind,
            message_id,
            sub.topic.arn,
            delivery.token,
            record["Timestamp"],  # type: ignore[arg-type]
        )
        record["Body"] = doc if sub.protocol == "email-json" else json.loads(doc)["Message"]
    else:
        record["MessageId"] = pub.message_id
        if pub.subject is not None:
            record["Subject"] = pub.subject
        if sub.protocol == "email-json":
            record["Body"] = sns.signer.notification(pub, "email-json", sub.arn)
        else:
            record["Body"] = pub.text_for(sub.protocol)
        if pub.attributes:
            record["MessageAttributes"] = pub.attributes
    sns.outbox.append(record)


def _http_request(sns: SnsState, delivery: Delivery, now: float) -> HttpRequest:
    sub = delivery.sub
    pub = delivery.published
    headers = {
        "x-amz-sns-message-type": delivery.kind,
        "x-amz-sns-topic-arn": sub.topic.arn,
        "Content-Type": "text/plain; charset=UTF-8",
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    policy = dp.effective_delivery_policy(sub.topic.delivery_policy, sub.delivery_policy)
    if policy.header_content_type:
        headers["Content-Type"] = policy.header_content_type
    if pub is None:
        message_id = uuid4_from(sns.rng)
        body = sns.signer.confirmation(
            delivery.kind,
            message_id,
            sub.topic.arn,
            delivery.token,
            sns.now_iso(now),  # type: ignore[arg-type]
        )
        if delivery.kind == "UnsubscribeConfirmation":
            headers["x-amz-sns-subscription-arn"] = sub.arn
    else:
        message_id = pub.message_id
        body = _payload(sns, delivery, sub.protocol)
        headers["x-amz-sns-subscription-arn"] = sub.arn
        if sub.raw:
            headers["x-amz-sns-rawdelivery"] = "true"
    headers["x-amz-sns-message-id"] = message_id
    return HttpRequest(delivery, sub.endpoint, headers, body)


def http_result(sns: SnsState, request: HttpRequest, status: int | None, now: float) -> None:
    """The runtime's report of one POST: ``status`` None for a connection error or a
    timeout. As AWS's HTTP/S delivery documents it: a 2xx (or 3xx) answer is a delivery;
    429, 5xx, a connection error or no answer within 15 s is retried per the delivery
    policy; any other 4xx is a permanent failure (no retry; the DLQ if there is one)."""
    delivery = request.delivery
    if status is not None and 200 <= status < 400:
        sns.delivered += 1
        return
    if status is not None and status < 500 and status != 429:
        _give_up(sns, delivery, "DeliveryFailed", f"HTTP status {status}", now)
        return
    reason = f"HTTP status {status}" if status is not None else "no answer"
    _failed_attempt(sns, delivery, "DeliveryFailed", reason, now)


def _failed_attempt(sns: SnsState, delivery: Delivery, code: str, reason: str, now: float) -> None:
    if delivery.sub.state == DELETED and delivery.kind == "Notification":
        sns.failed += 1
        return
    policy = _retry_policy(delivery.sub)
    retry = delivery.attempts  # retries made so far + 1
    if retry > policy.num_retries:
        _give_up(sns, delivery, code, reason, now)
        return
    sns.serial += 1
    heapq.heappush(sns.retries, (now + policy.delay(retry), sns.serial, delivery))


def _give_up(sns: SnsState, delivery: Delivery, code: str, reason: str, now: float) -> None:
    """A delivery that failed for good: to the subscription's DLQ, or dropped."""
    sns.failed += 1
    sub = delivery.sub
    if sub.redrive_dlq is None or delivery.published is None:
        return
    try:
        _to_sqs(sns, sub.redrive_dlq, sub, delivery, now)
    except _ClientError:
        return
    sns.dead_lettered += 1


def next_due(sns: SnsState) -> float | None:
    """When the earliest scheduled retry is due (None: nothing scheduled)."""
    return sns.retries[0][0] if sns.retries else None


def run_due(sns: SnsState, now: float) -> None:
    """Make every retry due by ``now`` (HTTP/S ones become ``outbound`` requests)."""
    retries = sns.retries
    while retries and retries[0][0] <= now:
        _, _, delivery = heapq.heappop(retries)
        if delivery.sub.state == DELETED and delivery.kind == "Notification":
            sns.failed += 1
            continue
        attempt(sns, delivery, now)


def list_outbox(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """msgsim's own operation: what email, email-json, SMS, application and firehose
    endpoints would have received, oldest first. Filters: ``Protocol``, ``Endpoint``,
    ``TopicArn``; ``Clear=True`` empties the outbox after reading it."""
    check_known(p, frozenset({"Protocol", "Endpoint", "TopicArn", "Clear"}), "ListOutbox")
    wanted = {k: str_param(p, k, required=False) for k in ("Protocol", "Endpoint", "TopicArn")}
    clear = p.get("Clear", False)
    if type(clear) is not bool:
        raise invalid("Clear Reason: must be a boolean")
    records = [r for r in sns.outbox if all(v is None or r.get(k) == v for k, v in wanted.items())]
    if clear:
        taken = {id(r) for r in records}
        sns.outbox = [r for r in sns.outbox if id(r) not in taken]
    return {"Messages": records}
