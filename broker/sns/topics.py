"""Topics: CreateTopic, DeleteTopic, ListTopics and Get/SetTopicAttributes.

CreateTopic is idempotent by name (the same attributes and tags answer the existing ARN); a
topic's type (FifoTopic) is fixed at creation. Attributes are validated as a whole before any is
applied. DeleteTopic removes the topic's subscriptions with it and is not an error for a topic
that does not exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import NotFound, TopicLimitExceeded
from ..filters import PolicyIndex
from ..params import parse_json
from . import delivery_policy as dp
from .model import CONFIRMED, Topic
from .params import bool_attr, check_known, invalid, paginate, str_param
from .state import SnsState
from .subscriptions import remove_subscription
from .tags import tag_list

_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FIFO_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")

#: Settable topic attributes (FifoTopic only at creation).
TOPIC_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "DisplayName",
        "Policy",
        "KmsMasterKeyId",
        "SignatureVersion",
        "TracingConfig",
        "ContentBasedDeduplication",
        "FifoThroughputScope",
        "ArchivePolicy",
        "DataProtectionPolicy",
        "ApplicationSuccessFeedbackRoleArn",
        "ApplicationSuccessFeedbackSampleRate",
        "ApplicationFailureFeedbackRoleArn",
        "HTTPSuccessFeedbackRoleArn",
        "HTTPSuccessFeedbackSampleRate",
        "HTTPFailureFeedbackRoleArn",
        "LambdaSuccessFeedbackRoleArn",
        "LambdaSuccessFeedbackSampleRate",
        "LambdaFailureFeedbackRoleArn",
        "SQSSuccessFeedbackRoleArn",
        "SQSSuccessFeedbackSampleRate",
        "SQSFailureFeedbackRoleArn",
        "FirehoseSuccessFeedbackRoleArn",
        "FirehoseSuccessFeedbackSampleRate",
        "FirehoseFailureFeedbackRoleArn",
    }
)

_CREATE_ONLY = frozenset({"FifoTopic"})
_FIFO_ONLY = frozenset({"ContentBasedDeduplication", "FifoThroughputScope", "ArchivePolicy"})
_CREATE = frozenset({"Name", "Attributes", "Tags", "DataProtectionPolicy"})


def create_topic(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Idempotent by name: the same name with the same attributes and tags answers the
    existing ARN; different attributes or tags are InvalidParameter."""
    check_known(p, _CREATE, "CreateTopic")
    name = str_param(p, "Name")
    raw = p.get("Attributes") or {}
    if not isinstance(raw, Mapping) or not all(
        type(k) is str and type(v) is str for k, v in raw.items()
    ):
        raise invalid("Attributes Reason: must be a map of attribute names to strings")
    attrs = dict(raw)
    if "DataProtectionPolicy" in p:
        attrs["DataProtectionPolicy"] = str_param(p, "DataProtectionPolicy")  # type: ignore[assignment]
    tags = tag_list(p.get("Tags"), required=False)
    fifo = bool_attr("FifoTopic", attrs["FifoTopic"]) if "FifoTopic" in attrs else False
    if fifo:
        if not _FIFO_TOPIC_NAME.fullmatch(name):  # type: ignore[arg-type]
            raise invalid(
                "Topic Name: Fifo Topic names must end with .fifo and must be made up of only "
                "uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, "
                "and must be between 1 and 256 characters long."
            )
    elif not _TOPIC_NAME.fullmatch(name):  # type: ignore[arg-type]
        raise invalid(
            "Topic Name: Topic names must be made up of only uppercase and lowercase ASCII "
            "letters, numbers, underscores, and hyphens, and must be between 1 and 256 "
            "characters long."
        )
    arn = sns.arn_prefix + name  # type: ignore[operator]
    clean = _check_topic_attributes(attrs, fifo, creating=True)
    existing = sns.topics.get(arn)
    if existing is not None:
        if any(existing.attributes.get(k) != v for k, v in clean.items()):
            raise invalid("Attributes Reason: Topic already exists with different attributes")
        if tags and any(existing.tags.get(k) != v for k, v in tags.items()):
            raise invalid("Tags Reason: Topic already exists with different tags")
        return {"TopicArn": arn}
    if len(sns.topics) >= sns.options.topics:
        raise TopicLimitExceeded("Topic limit exceeded")
    topic = Topic(name, arn, fifo, {})  # type: ignore[arg-type]
    topic.filtered = PolicyIndex()
    _apply_topic_attributes(topic, clean)
    topic.tags = tags
    sns.topics[arn] = topic
    return {"TopicArn": arn}


def _check_topic_attributes(attrs: Mapping[str, str], fifo: bool, creating: bool) -> dict[str, str]:
    """Validate topic attributes; returns them normalized. Changes nothing."""
    out: dict[str, str] = {}
    for name, value in attrs.items():
        if name in _CREATE_ONLY:
            if not creating:
                raise invalid(f"AttributeName Reason: {name} can only be set at creation")
            out[name] = "true" if bool_attr(name, value) else "false"
            continue
        if name not in TOPIC_ATTRIBUTES:
            raise invalid(f"Attributes Reason: Unknown attribute {name}")
        if name in _FIFO_ONLY and not fifo:
            raise invalid(f"Attributes Reason: {name}: is only valid for FIFO topics")
        if name == "ContentBasedDeduplication":
            value = "true" if bool_attr(name, value) else "false"
        elif name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
            raise invalid(
                f"Attributes Reason: FifoThroughputScope: Invalid value [{value}]. Please "
                "use either Topic or MessageGroup"
            )
        elif name == "SignatureVersion" and value not in ("1", "2"):
            raise invalid(f"Attributes Reason: SignatureVersion: Invalid value [{value}]")
        elif name == "TracingConfig" and value not in ("PassThrough", "Active"):
            raise invalid(f"Attributes Reason: TracingConfig: Invalid value [{value}]")
        elif name == "DeliveryPolicy" and value:
            dp.parse_topic_delivery_policy(value)
        elif name in ("Policy", "DataProtectionPolicy", "ArchivePolicy") and value:
            try:
                doc = parse_json(value)
            except ValueError:
                raise invalid(f"Attributes Reason: {name}: invalid JSON") from None
            if type(doc) is not dict:
                raise invalid(f"Attributes Reason: {name}: must be a JSON object")
        elif name == "DisplayName" and len(value) > 100:
            raise invalid("DisplayName: must be at most 100 characters")
        out[name] = value
    if fifo:
        out["FifoTopic"] = "true"
    return out


def _apply_topic_attributes(topic: Topic, attrs: Mapping[str, str]) -> None:
    for name, value in attrs.items():
        topic.attributes[name] = value
        if name == "ContentBasedDeduplication":
            topic.content_based_dedup = value == "true"
        elif name == "DeliveryPolicy":
            topic.delivery_policy = dp.parse_topic_delivery_policy(value) if value else None


def delete_topic(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Deletes the topic and all its subscriptions; deleting a topic that does not exist
    is not an error (DeleteTopic is idempotent)."""
    check_known(p, frozenset({"TopicArn"}), "DeleteTopic")
    try:
        topic = sns.topic_for(p)
    except NotFound:
        return {}
    for sub in list(topic.subscriptions.values()):
        remove_subscription(sns, sub)
    del sns.topics[topic.arn]
    return {}


def list_topics(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"NextToken"}), "ListTopics")
    arns = sorted(sns.topics)
    page, nxt = paginate(arns, p, lambda a: a)
    out: dict[str, Any] = {"Topics": [{"TopicArn": a} for a in page]}
    if nxt:
        out["NextToken"] = nxt
    return out


def _default_policy(sns: SnsState, topic: Topic) -> str:
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "SNS:GetTopicAttributes",
                        "SNS:SetTopicAttributes",
                        "SNS:AddPermission",
                        "SNS:RemovePermission",
                        "SNS:DeleteTopic",
                        "SNS:Subscribe",
                        "SNS:ListSubscriptionsByTopic",
                        "SNS:Publish",
                    ],
                    "Resource": topic.arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": sns.account_id}},
                }
            ],
        },
        separators=(",", ":"),
    )


def get_topic_attributes(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"TopicArn"}), "GetTopicAttributes")
    topic = sns.topic_for(p)
    pending = confirmed = 0
    for sub in topic.subscriptions.values():
        if sub.state == CONFIRMED:
            confirmed += 1
        else:
            pending += 1
    attrs = {
        "Policy": _default_policy(sns, topic),
        "Owner": sns.account_id,
        "SubscriptionsPending": str(pending),
        "TopicArn": topic.arn,
        "EffectiveDeliveryPolicy": dp.effective_policy_json(
            dp.effective_delivery_policy(topic.delivery_policy, None), level="topic"
        ),
        "SubscriptionsConfirmed": str(confirmed),
        "DisplayName": "",
        "SubscriptionsDeleted": str(topic.subs_deleted),
    }
    if topic.fifo:
        attrs["FifoTopic"] = "true"
        attrs["ContentBasedDeduplication"] = "false"
    attrs.update(topic.attributes)
    return {"Attributes": attrs}


def set_topic_attributes(sns: SnsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"TopicArn", "AttributeName", "AttributeValue"}), "SetTopicAttributes")
    topic = sns.topic_for(p)
    name = str_param(p, "AttributeName")
    value = str_param(p, "AttributeValue", required=False) or ""
    if name not in TOPIC_ATTRIBUTES:
        raise invalid("AttributeName")
    clean = _check_topic_attributes({name: value}, topic.fifo, creating=False)  # type: ignore[dict-item]
    clean.pop("FifoTopic", None)
    _apply_topic_attributes(topic, clean)
    return {}
