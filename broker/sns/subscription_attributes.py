"""Subscription attributes: Get/SetSubscriptionAttributes, the validation Subscribe shares, and
how a subscription is filed for matching.

Attributes are validated into settings without changing anything
(:func:`check_subscription_attributes`), then applied one by one
(:func:`apply_subscription_attribute`). A confirmed subscription is filed for fanout by
:func:`index_subscription`: in the topic's unfiltered list (kept in subscription order) when it
has no filter policy, else in the topic's :class:`~msgsim.broker.filters.PolicyIndex`, so that a
publish costs little for filtered subscriptions that do not match. Filter policies count against
per-topic and per-account quotas (:class:`~msgsim.broker.sns.options.SnsOptions`).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from typing import Any

from ..errors import FilterPolicyLimitExceeded
from ..filters import FilterPolicy, validate_scope
from . import delivery_policy as dp
from .model import CONFIRMED, Subscription, Topic
from .params import SQS_ARN, bool_attr, check_known, invalid, str_param
from .state import SnsState

#: Settable subscription attributes.
SUBSCRIPTION_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)


def get_subscription_attributes(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"SubscriptionArn"}), "GetSubscriptionAttributes")
    sub = sns.subscription_for(p)
    attrs = {
        "ConfirmationWasAuthenticated": "true" if sub.state == CONFIRMED else "false",
        "PendingConfirmation": "false" if sub.state == CONFIRMED else "true",
        "Owner": sub.owner,
        "RawMessageDelivery": "true" if sub.raw else "false",
        "TopicArn": sub.topic.arn,
        "Endpoint": sub.endpoint,
        "Protocol": sub.protocol,
        "SubscriptionArn": sub.arn,
        "SubscriptionPrincipal": f"arn:aws:iam::{sns.account_id}:user/msgsim",
    }
    if sub.protocol in ("http", "https"):
        attrs["EffectiveDeliveryPolicy"] = dp.effective_policy_json(
            dp.effective_delivery_policy(sub.topic.delivery_policy, sub.delivery_policy)
        )
    attrs.update(sub.raw_attributes)
    if sub.filter_policy is not None:
        attrs["FilterPolicy"] = sub.filter_policy.text
        attrs["FilterPolicyScope"] = sub.filter_policy.scope
    return {"Attributes": attrs}


def set_subscription_attributes(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(
        p,
        frozenset({"SubscriptionArn", "AttributeName", "AttributeValue"}),
        "SetSubscriptionAttributes",
    )
    sub = sns.subscription_for(p)
    name = str_param(p, "AttributeName")
    value = str_param(p, "AttributeValue", required=False) or ""
    if name not in SUBSCRIPTION_ATTRIBUTES:
        raise invalid("AttributeName")
    if name == "FilterPolicyScope":
        # Changing the scope re-reads the existing policy under the new scope.
        settings = check_subscription_attributes(sub.topic, sub.protocol, {name: value})
        if sub.filter_policy is not None:
            policy = FilterPolicy.parse(sub.filter_policy.text, value)
            set_filter(sns, sub, policy)
        apply_subscription_attribute(sns, sub, name, settings[name])
        return {}
    attrs = {name: value}  # type: ignore[dict-item]
    if name == "FilterPolicy":
        attrs["FilterPolicyScope"] = sub.raw_attributes.get(
            "FilterPolicyScope", "MessageAttributes"
        )
    settings = check_subscription_attributes(sub.topic, sub.protocol, attrs, raw_now=sub.raw)
    if name == "FilterPolicy" and settings["FilterPolicy"] is not None:
        if sub.filter_policy is None:
            check_filter_quota(sns, sub.topic, 1)
    apply_subscription_attribute(sns, sub, name, settings[name])  # type: ignore[index]
    if name in ("DeliveryPolicy", "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy"):
        if value:
            sub.raw_attributes[name] = value  # type: ignore[index]
        else:
            sub.raw_attributes.pop(name, None)  # type: ignore[arg-type]
    return {}


def check_subscription_attributes(
    topic: Topic,
    protocol: str,
    attrs: dict[str, str],
    via_subscribe: bool = False,
    raw_now: bool = False,
) -> dict[str, Any]:
    """Validate subscription attributes; returns parsed settings. Changes nothing.
    (AWS words errors "Attributes Reason: ..." on Subscribe, not on SetSubscriptionAttributes.)"""
    out: dict[str, Any] = {}
    scope = attrs.get("FilterPolicyScope")
    if scope is not None:
        validate_scope(scope, via_subscribe=via_subscribe)
    for name, value in attrs.items():
        if name not in SUBSCRIPTION_ATTRIBUTES:
            raise invalid(f"Attributes Reason: Unknown attribute {name}")
        if name == "RawMessageDelivery":
            raw = bool_attr(name, value)
            if raw and protocol not in ("sqs", "http", "https", "firehose"):
                raise invalid(
                    f"Attributes Reason: Delivery protocol [{protocol}] does not support raw "
                    "message delivery."
                )
            out[name] = raw
        elif name == "DeliveryPolicy":
            if value and protocol not in ("http", "https"):
                raise invalid(
                    "Attributes Reason: DeliveryPolicy: only HTTP/S subscriptions take a "
                    "delivery policy"
                )
            policy = dp.parse_subscription_delivery_policy(value) if value else None
            if policy is not None and policy.header_content_type is not None:
                raw = str(attrs.get("RawMessageDelivery", raw_now)).lower() == "true"
                if not dp.header_content_type_allowed(
                    policy.header_content_type, raw_message_delivery=raw
                ):
                    raise invalid(
                        "Attributes Reason: DeliveryPolicy: requestPolicy.headerContentType "
                        f"{policy.header_content_type} is not supported"
                        + (" with raw message delivery" if raw else " without raw message delivery")
                    )
            out[name] = policy
        elif name == "FilterPolicy":
            out[name] = (
                FilterPolicy.parse(value, scope or "MessageAttributes", via_subscribe=via_subscribe)
                if value
                else None
            )
        elif name == "FilterPolicyScope":
            out[name] = value
        elif name == "RedrivePolicy":
            out[name] = _check_redrive(topic, value) if value else None
        else:
            out[name] = value
    return out


def _check_redrive(topic: Topic, value: str) -> str:
    try:
        doc = json.loads(value)
    except ValueError:
        raise invalid("RedrivePolicy: Redrive policy is not a valid JSON") from None
    arn = doc.get("deadLetterTargetArn") if type(doc) is dict else None
    if type(arn) is not str:
        raise invalid("RedrivePolicy: deadLetterTargetArn is missing")
    m = SQS_ARN.fullmatch(arn)
    if m is None:
        raise invalid("RedrivePolicy: deadLetterTargetArn is an invalid arn")
    if bool(m.group(4)) != topic.fifo:
        raise invalid(
            "RedrivePolicy: must use a FIFO queue as DLQ for a FIFO topic subscription"
            if topic.fifo
            else "RedrivePolicy: must use a standard queue as DLQ for a standard topic"
        )
    return arn


def check_filter_quota(sns: SnsState, topic: Topic, adding: int) -> None:
    if len(topic.filtered) + adding > sns.options.filter_policies_per_topic:
        raise FilterPolicyLimitExceeded(
            "Filter policy limit exceeded: at most "
            f"{sns.options.filter_policies_per_topic} filter policies per topic"
        )
    if sns.filter_policies + adding > sns.options.filter_policies_per_account:
        raise FilterPolicyLimitExceeded(
            "Filter policy limit exceeded: at most "
            f"{sns.options.filter_policies_per_account} filter policies per account"
        )


def apply_subscription_attribute(sns: SnsState, sub: Subscription, name: str, value: Any) -> None:
    if name == "RawMessageDelivery":
        sub.raw = value
        sub.raw_attributes[name] = "true" if value else "false"
    elif name == "DeliveryPolicy":
        sub.delivery_policy = value
        if value is None:
            sub.raw_attributes.pop(name, None)
    elif name == "FilterPolicy":
        set_filter(sns, sub, value)
    elif name == "FilterPolicyScope":
        sub.raw_attributes[name] = value
    elif name == "RedrivePolicy":
        sub.redrive_dlq = value
    else:
        sub.raw_attributes[name] = value


def set_filter(sns: SnsState, sub: Subscription, policy: FilterPolicy | None) -> None:
    was = sub.filter_policy
    sub.filter_policy = policy
    if was is not None:
        sns.filter_policies -= 1
    if policy is not None:
        sns.filter_policies += 1
    index_subscription(sub)


def index_subscription(sub: Subscription) -> None:
    """File the subscription for matching: unfiltered list or policy index, when confirmed."""
    topic = sub.topic
    if sub in topic.plain:
        topic.plain.remove(sub)
    topic.filtered.remove(sub.arn)
    if sub.state != CONFIRMED:
        return
    if sub.filter_policy is None:
        bisect.insort(topic.plain, sub, key=lambda s: s.serial)
    else:
        topic.filtered.add(sub.arn, sub.filter_policy)
