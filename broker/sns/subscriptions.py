"""Subscriptions: Subscribe, ConfirmSubscription, Unsubscribe and the two List operations.

A subscription's life is :mod:`.model`'s state machine: same-account SQS and Lambda, SMS and
application endpoints are confirmed at once; HTTP/S and email endpoints are sent a
SubscriptionConfirmation (through :mod:`.delivery`) and stay pending until ConfirmSubscription
presents its token, within three days. Unsubscribe deletes at once; a confirmed HTTP/S or email
endpoint is sent an UnsubscribeConfirmation. Attributes and the filing of a subscription for
fanout are :mod:`.subscription_attributes`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import limits
from ..ids import uuid4_from
from .delivery import attempt
from .model import CONFIRMED, DELETED, PROTOCOLS, Delivery, Subscription, Topic
from .params import PHONE, SQS_ARN, check_known, invalid, paginate, str_param
from .state import SnsState
from .subscription_attributes import (
    apply_subscription_attribute,
    check_filter_quota,
    check_subscription_attributes,
    get_subscription_attributes,
    index_subscription,
    set_filter,
)

_LAMBDA_ARN = re.compile(r"arn:aws:lambda:([a-z0-9-]+):([0-9]{12}):function:[A-Za-z0-9_-]+(:.+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SUBSCRIBE = frozenset({"TopicArn", "Protocol", "Endpoint", "Attributes", "ReturnSubscriptionArn"})
_CONFIRM = frozenset({"TopicArn", "Token", "AuthenticateOnUnsubscribe"})


def subscribe(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Same-account SQS and Lambda, SMS and application endpoints are confirmed at once;
    HTTP/S and email endpoints receive a SubscriptionConfirmation and stay
    PendingConfirmation until ConfirmSubscription (the answer is then "pending
    confirmation" unless ReturnSubscriptionArn). Subscribing the same endpoint again answers
    the existing subscription; with different attributes it is InvalidParameter."""
    check_known(p, _SUBSCRIBE, "Subscribe")
    topic = sns.topic_for(p)
    protocol = str_param(p, "Protocol")
    if protocol not in PROTOCOLS:
        raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
    endpoint = str_param(p, "Endpoint", required=False)
    if endpoint is None:
        raise invalid("Endpoint Reason: the request must contain the parameter Endpoint")
    _check_endpoint(topic, protocol, endpoint)  # type: ignore[arg-type]
    raw = p.get("Attributes") or {}
    if not isinstance(raw, Mapping) or not all(
        type(k) is str and type(v) is str for k, v in raw.items()
    ):
        raise invalid("Attributes Reason: must be a map of attribute names to strings")
    return_arn = p.get("ReturnSubscriptionArn", False)
    if type(return_arn) is not bool:
        raise invalid("ReturnSubscriptionArn Reason: must be a boolean")
    settings = check_subscription_attributes(
        topic,
        protocol,
        dict(raw),
        via_subscribe=True,  # type: ignore[arg-type]
    )
    for sub in topic.subscriptions.values():
        if sub.protocol == protocol and sub.endpoint == endpoint:
            # Compared as GetSubscriptionAttributes reports them (FilterPolicy included).
            current = get_subscription_attributes(sns, {"SubscriptionArn": sub.arn}, now)
            if any(current["Attributes"].get(k, "") != v for k, v in raw.items()):
                raise invalid(
                    "Attributes Reason: Subscription already exists with different attributes"
                )
            if sub.state == CONFIRMED or return_arn:
                return {"SubscriptionArn": sub.arn}
            return {"SubscriptionArn": "pending confirmation"}
    if "FilterPolicy" in settings:
        check_filter_quota(sns, topic, 1)
    sns.serial += 1
    arn = f"{topic.arn}:{uuid4_from(sns.rng)}"
    sub = Subscription(topic, arn, protocol, endpoint, sns.serial)  # type: ignore[arg-type]
    sub.owner = sns.account_id
    for name, value in settings.items():
        apply_subscription_attribute(sns, sub, name, value)
    for name in ("DeliveryPolicy", "RedrivePolicy"):  # reported as given
        if raw.get(name):
            sub.raw_attributes[name] = raw[name]
    topic.subscriptions[arn] = sub
    sns.subscriptions[arn] = sub
    needs_confirmation = PROTOCOLS[protocol]  # type: ignore[index]
    if protocol == "sqs":
        m = SQS_ARN.fullmatch(endpoint)  # type: ignore[arg-type]
        needs_confirmation = m is not None and m.group(2) != sns.account_id
    if needs_confirmation:
        _request_confirmation(sns, sub, now)
        return {"SubscriptionArn": arn if return_arn else "pending confirmation"}
    _confirm(sns, sub)
    return {"SubscriptionArn": arn}


def _check_endpoint(topic: Topic, protocol: str, endpoint: str) -> None:
    if topic.fifo and protocol != "sqs":
        raise invalid(
            f"Invalid parameter: Protocol Reason: FIFO topics support only the sqs "
            f"protocol, not {protocol}"
        )
    if protocol in ("http", "https"):
        if not endpoint.lower().startswith(protocol + "://") or len(endpoint) <= len(protocol) + 3:
            raise invalid(
                f"Endpoint Reason: {protocol.upper()} endpoint must start with {protocol}://"
            )
    elif protocol in ("email", "email-json"):
        if not _EMAIL.fullmatch(endpoint):
            raise invalid("Email address")
    elif protocol == "sms":
        if not PHONE.fullmatch(endpoint.replace("-", "").replace(" ", "")):
            raise invalid(f"SMS endpoint [{endpoint}] is not a valid phone number")
    elif protocol == "sqs":
        m = SQS_ARN.fullmatch(endpoint)
        if m is None:
            raise invalid("SQS endpoint ARN")
        if m.group(4) and not topic.fifo:
            raise invalid(
                "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed "
                "to standard SNS topics"
            )
    elif protocol == "lambda":
        if not _LAMBDA_ARN.fullmatch(endpoint):
            raise invalid("Lambda endpoint ARN")
    elif protocol in ("application", "firehose"):
        if not endpoint.startswith("arn:aws:"):
            raise invalid(f"{protocol} endpoint ARN")


def _confirm(sns: SnsState, sub: Subscription) -> None:
    sub.move(CONFIRMED)
    if sub.token is not None:
        sns.tokens.pop(sub.token, None)
        sub.token = None
    index_subscription(sub)


def remove_subscription(sns: SnsState, sub: Subscription) -> None:
    topic = sub.topic
    if sub.filter_policy is not None:
        set_filter(sns, sub, None)
    sub.move(DELETED)
    index_subscription(sub)
    if sub.token is not None:
        sns.tokens.pop(sub.token, None)
    del topic.subscriptions[sub.arn]
    del sns.subscriptions[sub.arn]
    topic.subs_deleted += 1


def _request_confirmation(sns: SnsState, sub: Subscription, now: float) -> None:
    token = "%0256x" % sns.rng.getrandbits(1024)  # noqa: UP031
    sub.token = token
    sub.token_expires = now + limits.SNS_CONFIRMATION_TOKEN_LIFETIME
    sns.tokens[token] = sub
    delivery = Delivery(sub, None, "SubscriptionConfirmation")
    delivery.token = token
    attempt(sns, delivery, now)


def confirm_subscription(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Accepts a token sent in a SubscriptionConfirmation within three days."""
    check_known(p, _CONFIRM, "ConfirmSubscription")
    topic = sns.topic_for(p)
    token = str_param(p, "Token")
    auth = p.get("AuthenticateOnUnsubscribe")
    if auth is not None and str(auth).lower() not in ("true", "false"):
        raise invalid("AuthenticateOnUnsubscribe")
    sub = sns.tokens.get(token)  # type: ignore[arg-type]
    if sub is None or sub.topic is not topic or now >= sub.token_expires:
        raise invalid("Token")
    _confirm(sns, sub)
    if auth is not None and str(auth).lower() == "true":
        sub.raw_attributes["ConfirmationWasAuthenticated"] = "true"
    return {"SubscriptionArn": sub.arn}


def unsubscribe(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Deletes the subscription; an HTTP/S endpoint is sent an UnsubscribeConfirmation."""
    check_known(p, frozenset({"SubscriptionArn"}), "Unsubscribe")
    sub = sns.subscription_for(p)
    if sub.protocol in ("http", "https", "email", "email-json") and sub.state == CONFIRMED:
        token = "%0256x" % sns.rng.getrandbits(1024)  # noqa: UP031
        delivery = Delivery(sub, None, "UnsubscribeConfirmation")
        delivery.token = token
        attempt(sns, delivery, now)
    remove_subscription(sns, sub)
    return {}


def _listing(sub: Subscription) -> dict[str, str]:
    return {
        "SubscriptionArn": sub.arn if sub.state == CONFIRMED else "PendingConfirmation",
        "Owner": sub.owner,
        "Protocol": sub.protocol,
        "Endpoint": sub.endpoint,
        "TopicArn": sub.topic.arn,
    }


def _list_subscriptions(subs: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    ordered = sorted(subs, key=lambda s: s.arn)
    page, nxt = paginate(ordered, p, lambda s: s.arn)
    out: dict[str, Any] = {"Subscriptions": [_listing(s) for s in page]}
    if nxt:
        out["NextToken"] = nxt
    return out


def list_subscriptions(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"NextToken"}), "ListSubscriptions")
    return _list_subscriptions(sns.subscriptions.values(), p)


def list_subscriptions_by_topic(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"TopicArn", "NextToken"}), "ListSubscriptionsByTopic")
    return _list_subscriptions(sns.topic_for(p).subscriptions.values(), p)
