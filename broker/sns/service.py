"""The SNS service: topics, subscriptions, publishing and fanout delivery, sans-IO.

Every operation takes the AWS request parameters and ``now`` and returns the AWS response shape.
Publishing matches the message against the topic's confirmed subscriptions (filter policies
through one :class:`~msgsim.broker.filters.PolicyIndex` per topic, so non-matching filtered
subscriptions cost almost nothing) and starts one delivery per match:

- ``sqs``: into the subscribed queue, through the SQS service's own rules (size, FIFO groups and
  deduplication), within the Publish call -- so a test can publish and receive at once;
- ``email``, ``email-json``, ``sms``, ``application`` and ``firehose``: recorded in the outbox
  (:meth:`SnsService.list_outbox`, the msgsim operation ``ListOutbox``); nothing leaves the
  machine;
- ``http``/``https``: handed to the runtime as :class:`~msgsim.broker.sns.model.HttpRequest` items in
  :attr:`SnsService.outbound`; the runtime POSTs them and reports back through
  :meth:`SnsService.http_result`;
- ``lambda``: through :attr:`SnsService.invoke_lambda`, which the functions service installs;
  without it, the function does not exist (a client-side error).

A failed delivery is retried on the broker's clock per the effective delivery policy (AWS's
policy for AWS-managed endpoints, the customer-managed one for email/SMS/push, the HTTP/S policy
of the topic and subscription for HTTP/S). Client-side errors (the queue no longer exists, the
message is too large for it, an HTTP endpoint answering 4xx counts as delivered, as AWS counts
it) are not retried. A delivery that fails for good goes to the subscription's dead-letter queue
when it has a RedrivePolicy, and is dropped otherwise. Publish never waits for any of this.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import heapq
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from .. import limits
from ..clock import Epoch
from ..errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    BrokerError,
    EmptyBatchRequest,
    FilterPolicyLimitExceeded,
    InvalidBatchEntryId,
    InvalidParameter,
    NotFound,
    ParameterValueInvalid,
    ResourceNotFound,
    TagLimitExceeded,
    TooManyEntriesInBatchRequest,
    TopicLimitExceeded,
)
from ..filters import FilterPolicy, PolicyIndex, validate_scope
from ..ids import uuid4_from
from ..params import check_known
from ..sqs.service import SqsService
from . import delivery_policy as dp
from .envelope import Signer, iso_ms
from .model import (
    CONFIRMED,
    DELETED,
    PROTOCOLS,
    Delivery,
    HttpRequest,
    Published,
    Subscription,
    Topic,
)

_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FIFO_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_TOKEN = re.compile(r"[!-~]{1,128}")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|String\.Array|Number|Binary)(\..+)?")
_PHONE = re.compile(r"\+?[0-9]{5,15}")
_SQS_ARN = re.compile(r"arn:aws:sqs:([a-z0-9-]+):([0-9]{12}):([A-Za-z0-9_-]{1,80}(\.fifo)?)")
_LAMBDA_ARN = re.compile(r"arn:aws:lambda:([a-z0-9-]+):([0-9]{12}):function:[A-Za-z0-9_-]+(:.+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")

#: Message attribute names already found valid (bounded): most publishers reuse a few names.
_VALID_ATTRIBUTE_NAMES: set[str] = set()

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


class SnsOptions:
    """Adjustable SNS quotas (AWS raises them on request; benchmarks raise them here)."""

    def __init__(
        self,
        *,
        topics: int = limits.SNS_TOPICS_PER_ACCOUNT,
        filter_policies_per_topic: int = limits.SNS_FILTER_POLICIES_PER_TOPIC,
        filter_policies_per_account: int = limits.SNS_FILTER_POLICIES_PER_ACCOUNT,
    ) -> None:
        self.topics = topics
        self.filter_policies_per_topic = filter_policies_per_topic
        self.filter_policies_per_account = filter_policies_per_account


class _ClientError(Exception):
    """A delivery failed in a way a retry cannot fix (AWS: a client-side error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(what: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter: {what}")


def _str_param(p: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = p.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} Reason: the request must contain the parameter {name}")
        return None
    if type(value) is not str:
        raise _invalid(f"{name} Reason: must be a string, not {type(value).__name__}")
    return value


def _check_known(p: Mapping[str, Any], allowed: frozenset[str], operation: str) -> None:
    check_known(p, allowed, operation, InvalidParameter)


def _utf8_size(text: str, what: str) -> int:
    """The UTF-8 length of ``text``; InvalidParameter if it holds a lone surrogate (a JSON
    ``\\ud800`` escape can smuggle one in), which no UTF-8 message can carry."""
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        raise _invalid(f"{what} Reason: must be valid UTF-8 text") from None


def _bool_attr(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise _invalid(
            f"Attributes Reason: {name}: Invalid value [{value}]. Must be true or false."
        )
    return lowered == "true"


class SnsService:
    """All topics and subscriptions of one broker (one account, one region)."""

    name = "sns"

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
        self._tokens: dict[str, Subscription] = {}
        self._serial = 0
        self._filter_policies = 0
        self.signer = Signer(region, rng.getrandbits(128).to_bytes(16, "big"))
        #: HTTP POSTs for the runtime to make (it empties the list)
        self.outbound: list[HttpRequest] = []
        #: retries due later: (due, serial, delivery)
        self._retries: list[tuple[float, int, Delivery]] = []
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
        self.operations: dict[str, Callable[[Mapping[str, Any], float], Any]] = {
            "CreateTopic": self.create_topic,
            "DeleteTopic": self.delete_topic,
            "ListTopics": self.list_topics,
            "GetTopicAttributes": self.get_topic_attributes,
            "SetTopicAttributes": self.set_topic_attributes,
            "Subscribe": self.subscribe,
            "ConfirmSubscription": self.confirm_subscription,
            "Unsubscribe": self.unsubscribe,
            "ListSubscriptions": self.list_subscriptions,
            "ListSubscriptionsByTopic": self.list_subscriptions_by_topic,
            "GetSubscriptionAttributes": self.get_subscription_attributes,
            "SetSubscriptionAttributes": self.set_subscription_attributes,
            "Publish": self.publish,
            "PublishBatch": self.publish_batch,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
            "ListOutbox": self.list_outbox,
        }

    # ================================================================== lookups
    def _topic(self, p: Mapping[str, Any], name: str = "TopicArn") -> Topic:
        arn = _str_param(p, name)
        topic = self.topics.get(arn)  # type: ignore[arg-type]
        if topic is not None:
            return topic
        if not arn.startswith("arn:aws:sns:") or arn.count(":") != 5:  # type: ignore[union-attr]
            raise _invalid(f"{name}")
        raise NotFound("Topic does not exist")

    def _subscription(self, p: Mapping[str, Any]) -> Subscription:
        arn = _str_param(p, "SubscriptionArn")
        sub = self.subscriptions.get(arn)  # type: ignore[arg-type]
        if sub is not None:
            return sub
        if not arn.startswith("arn:aws:sns:") or arn.count(":") != 6:  # type: ignore[union-attr]
            raise _invalid(
                "SubscriptionArn Reason: An ARN must have at least 6 elements, not "
                f"{arn.count(':') + 1}"
            )  # type: ignore[union-attr]
        raise NotFound("Subscription does not exist")

    def _now_iso(self, now: float) -> str:
        return iso_ms(self.epoch.wall(now))

    # ================================================================== topics
    _CREATE = frozenset({"Name", "Attributes", "Tags", "DataProtectionPolicy"})

    def create_topic(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Idempotent by name: the same name with the same attributes and tags answers the
        existing ARN; different attributes or tags are InvalidParameter."""
        _check_known(p, self._CREATE, "CreateTopic")
        name = _str_param(p, "Name")
        raw = p.get("Attributes") or {}
        if not isinstance(raw, Mapping) or not all(
            type(k) is str and type(v) is str for k, v in raw.items()
        ):
            raise _invalid("Attributes Reason: must be a map of attribute names to strings")
        attrs = dict(raw)
        if "DataProtectionPolicy" in p:
            attrs["DataProtectionPolicy"] = _str_param(p, "DataProtectionPolicy")  # type: ignore[assignment]
        tags = self._tag_list(p.get("Tags"), required=False)
        fifo = _bool_attr("FifoTopic", attrs["FifoTopic"]) if "FifoTopic" in attrs else False
        if fifo:
            if not _FIFO_TOPIC_NAME.fullmatch(name):  # type: ignore[arg-type]
                raise _invalid(
                    "Topic Name: Fifo Topic names must end with .fifo and must be made up of only "
                    "uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, "
                    "and must be between 1 and 256 characters long."
                )
        elif not _TOPIC_NAME.fullmatch(name):  # type: ignore[arg-type]
            raise _invalid(
                "Topic Name: Topic names must be made up of only uppercase and lowercase ASCII "
                "letters, numbers, underscores, and hyphens, and must be between 1 and 256 "
                "characters long."
            )
        arn = self.arn_prefix + name  # type: ignore[operator]
        clean = self._check_topic_attributes(attrs, fifo, creating=True)
        existing = self.topics.get(arn)
        if existing is not None:
            if any(existing.attributes.get(k) != v for k, v in clean.items()):
                raise _invalid("Attributes Reason: Topic already exists with different attributes")
            if tags and any(existing.tags.get(k) != v for k, v in tags.items()):
                raise _invalid("Tags Reason: Topic already exists with different tags")
            return {"TopicArn": arn}
        if len(self.topics) >= self.options.topics:
            raise TopicLimitExceeded("Topic limit exceeded")
        topic = Topic(name, arn, fifo, {})  # type: ignore[arg-type]
        topic.filtered = PolicyIndex()
        self._apply_topic_attributes(topic, clean)
        topic.tags = tags
        self.topics[arn] = topic
        return {"TopicArn": arn}

    def _check_topic_attributes(
        self, attrs: Mapping[str, str], fifo: bool, creating: bool
    ) -> dict[str, str]:
        """Validate topic attributes; returns them normalized. Changes nothing."""
        out: dict[str, str] = {}
        for name, value in attrs.items():
            if name in _CREATE_ONLY:
                if not creating:
                    raise _invalid(f"AttributeName Reason: {name} can only be set at creation")
                out[name] = "true" if _bool_attr(name, value) else "false"
                continue
            if name not in TOPIC_ATTRIBUTES:
                raise _invalid(f"Attributes Reason: Unknown attribute {name}")
            if name in _FIFO_ONLY and not fifo:
                raise _invalid(f"Attributes Reason: {name}: is only valid for FIFO topics")
            if name == "ContentBasedDeduplication":
                value = "true" if _bool_attr(name, value) else "false"
            elif name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
                raise _invalid(
                    f"Attributes Reason: FifoThroughputScope: Invalid value [{value}]. Please "
                    "use either Topic or MessageGroup"
                )
            elif name == "SignatureVersion" and value not in ("1", "2"):
                raise _invalid(f"Attributes Reason: SignatureVersion: Invalid value [{value}]")
            elif name == "TracingConfig" and value not in ("PassThrough", "Active"):
                raise _invalid(f"Attributes Reason: TracingConfig: Invalid value [{value}]")
            elif name == "DeliveryPolicy" and value:
                dp.parse_topic_delivery_policy(value)
            elif name in ("Policy", "DataProtectionPolicy", "ArchivePolicy") and value:
                try:
                    doc = json.loads(value)
                except ValueError:
                    raise _invalid(f"Attributes Reason: {name}: invalid JSON") from None
                if type(doc) is not dict:
                    raise _invalid(f"Attributes Reason: {name}: must be a JSON object")
            elif name == "DisplayName" and len(value) > 100:
                raise _invalid("DisplayName: must be at most 100 characters")
            out[name] = value
        if fifo:
            out["FifoTopic"] = "true"
        return out

    def _apply_topic_attributes(self, topic: Topic, attrs: Mapping[str, str]) -> None:
        for name, value in attrs.items():
            topic.attributes[name] = value
            if name == "ContentBasedDeduplication":
                topic.content_based_dedup = value == "true"
            elif name == "DeliveryPolicy":
                topic.delivery_policy = dp.parse_topic_delivery_policy(value) if value else None

    def delete_topic(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Deletes the topic and all its subscriptions; deleting a topic that does not exist
        is not an error (DeleteTopic is idempotent)."""
        _check_known(p, frozenset({"TopicArn"}), "DeleteTopic")
        try:
            topic = self._topic(p)
        except NotFound:
            return {}
        for sub in list(topic.subscriptions.values()):
            self._remove_subscription(sub)
        del self.topics[topic.arn]
        return {}

    def _page(self, items: list[Any], p: Mapping[str, Any], key: Callable[[Any], str]) -> tuple:
        """A page of ``items`` (sorted by ``key``) after the NextToken, and the next token."""
        token = _str_param(p, "NextToken", required=False)
        start = 0
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise _invalid("NextToken") from None
            start = bisect.bisect_right([key(i) for i in items], after)
        page = items[start : start + limits.SNS_LIST_PAGE_SIZE]
        nxt = None
        if start + limits.SNS_LIST_PAGE_SIZE < len(items):
            nxt = base64.urlsafe_b64encode(key(page[-1]).encode()).decode()
        return page, nxt

    def list_topics(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"NextToken"}), "ListTopics")
        arns = sorted(self.topics)
        page, nxt = self._page(arns, p, lambda a: a)
        out: dict[str, Any] = {"Topics": [{"TopicArn": a} for a in page]}
        if nxt:
            out["NextToken"] = nxt
        return out

    def _default_policy(self, topic: Topic) -> str:
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
                        "Condition": {"StringEquals": {"AWS:SourceOwner": self.account_id}},
                    }
                ],
            },
            separators=(",", ":"),
        )

    def get_topic_attributes(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"TopicArn"}), "GetTopicAttributes")
        topic = self._topic(p)
        pending = confirmed = 0
        for sub in topic.subscriptions.values():
            if sub.state == CONFIRMED:
                confirmed += 1
            else:
                pending += 1
        attrs = {
            "Policy": self._default_policy(topic),
            "Owner": self.account_id,
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

    def set_topic_attributes(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(
            p, frozenset({"TopicArn", "AttributeName", "AttributeValue"}), "SetTopicAttributes"
        )
        topic = self._topic(p)
        name = _str_param(p, "AttributeName")
        value = _str_param(p, "AttributeValue", required=False) or ""
        if name not in TOPIC_ATTRIBUTES:
            raise _invalid("AttributeName")
        clean = self._check_topic_attributes({name: value}, topic.fifo, creating=False)  # type: ignore[dict-item]
        clean.pop("FifoTopic", None)
        self._apply_topic_attributes(topic, clean)
        return {}

    # ================================================================== tags
    def _tag_list(self, raw: Any, required: bool = True) -> dict[str, str]:
        if raw is None:
            if required:
                raise _invalid("Tags Reason: the request must contain the parameter Tags")
            return {}
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, list | tuple):
            raise _invalid("Tags Reason: must be a list of {Key, Value} maps")
        out: dict[str, str] = {}
        for tag in raw:
            if not isinstance(tag, Mapping) or set(tag) - {"Key", "Value"}:
                raise _invalid("Tags Reason: each tag must be a map with Key and Value")
            key, value = tag.get("Key"), tag.get("Value")
            if type(key) is not str or not 1 <= len(key) <= limits.TAG_KEY_MAX_LENGTH:
                raise _invalid("Tag Reason: Tag keys must be between 1 and 128 characters")
            if type(value) is not str or len(value) > limits.TAG_VALUE_MAX_LENGTH:
                raise _invalid("Tag Reason: Tag values must be at most 256 characters")
            if key.lower().startswith("aws:"):
                raise _invalid("Tag Reason: Keys may not start with the reserved prefix aws:")
            out[key] = value
        if len(out) > limits.SNS_TAGS_MAX:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        return out

    def _tagged(self, p: Mapping[str, Any]) -> Topic:
        arn = _str_param(p, "ResourceArn")
        topic = self.topics.get(arn)  # type: ignore[arg-type]
        if topic is None:
            raise ResourceNotFound("Resource does not exist")
        return topic

    def tag_resource(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"ResourceArn", "Tags"}), "TagResource")
        topic = self._tagged(p)
        tags = self._tag_list(p.get("Tags"))
        merged = {**topic.tags, **tags}
        if len(merged) > limits.SNS_TAGS_MAX:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        topic.tags = merged
        return {}

    def untag_resource(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"ResourceArn", "TagKeys"}), "UntagResource")
        topic = self._tagged(p)
        keys = p.get("TagKeys")
        if not isinstance(keys, list | tuple) or not all(type(k) is str for k in keys):
            raise _invalid("TagKeys Reason: must be a list of strings")
        for key in keys:
            topic.tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"ResourceArn"}), "ListTagsForResource")
        topic = self._tagged(p)
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}

    # ================================================================== subscriptions
    _SUBSCRIBE = frozenset(
        {"TopicArn", "Protocol", "Endpoint", "Attributes", "ReturnSubscriptionArn"}
    )

    def subscribe(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Same-account SQS and Lambda, SMS and application endpoints are confirmed at once;
        HTTP/S and email endpoints receive a SubscriptionConfirmation and stay
        PendingConfirmation until ConfirmSubscription (the answer is then "pending
        confirmation" unless ReturnSubscriptionArn). Subscribing the same endpoint again answers
        the existing subscription; with different attributes it is InvalidParameter."""
        _check_known(p, self._SUBSCRIBE, "Subscribe")
        topic = self._topic(p)
        protocol = _str_param(p, "Protocol")
        if protocol not in PROTOCOLS:
            raise _invalid(f"Amazon SNS does not support this protocol string: {protocol}")
        endpoint = _str_param(p, "Endpoint", required=False)
        if endpoint is None:
            raise _invalid("Endpoint Reason: the request must contain the parameter Endpoint")
        self._check_endpoint(topic, protocol, endpoint)  # type: ignore[arg-type]
        raw = p.get("Attributes") or {}
        if not isinstance(raw, Mapping) or not all(
            type(k) is str and type(v) is str for k, v in raw.items()
        ):
            raise _invalid("Attributes Reason: must be a map of attribute names to strings")
        return_arn = p.get("ReturnSubscriptionArn", False)
        if type(return_arn) is not bool:
            raise _invalid("ReturnSubscriptionArn Reason: must be a boolean")
        settings = self._check_subscription_attributes(
            topic,
            protocol,
            dict(raw),
            via_subscribe=True,  # type: ignore[arg-type]
        )
        for sub in topic.subscriptions.values():
            if sub.protocol == protocol and sub.endpoint == endpoint:
                # Compared as GetSubscriptionAttributes reports them (FilterPolicy included).
                current = self.get_subscription_attributes({"SubscriptionArn": sub.arn}, now)
                if any(current["Attributes"].get(k, "") != v for k, v in raw.items()):
                    raise _invalid(
                        "Attributes Reason: Subscription already exists with different attributes"
                    )
                if sub.state == CONFIRMED or return_arn:
                    return {"SubscriptionArn": sub.arn}
                return {"SubscriptionArn": "pending confirmation"}
        if "FilterPolicy" in settings:
            self._check_filter_quota(topic, 1)
        self._serial += 1
        arn = f"{topic.arn}:{uuid4_from(self.rng)}"
        sub = Subscription(topic, arn, protocol, endpoint, self._serial)  # type: ignore[arg-type]
        sub.owner = self.account_id
        for name, value in settings.items():
            self._apply_subscription_attribute(sub, name, value)
        for name in ("DeliveryPolicy", "RedrivePolicy"):  # reported as given
            if raw.get(name):
                sub.raw_attributes[name] = raw[name]
        topic.subscriptions[arn] = sub
        self.subscriptions[arn] = sub
        needs_confirmation = PROTOCOLS[protocol]  # type: ignore[index]
        if protocol == "sqs":
            m = _SQS_ARN.fullmatch(endpoint)  # type: ignore[arg-type]
            needs_confirmation = m is not None and m.group(2) != self.account_id
        if needs_confirmation:
            self._request_confirmation(sub, now)
            return {"SubscriptionArn": arn if return_arn else "pending confirmation"}
        self._confirm(sub)
        return {"SubscriptionArn": arn}

    def _check_endpoint(self, topic: Topic, protocol: str, endpoint: str) -> None:
        if topic.fifo and protocol != "sqs":
            raise _invalid(
                f"Invalid parameter: Protocol Reason: FIFO topics support only the sqs "
                f"protocol, not {protocol}"
            )
        if protocol in ("http", "https"):
            if (
                not endpoint.lower().startswith(protocol + "://")
                or len(endpoint) <= len(protocol) + 3
            ):
                raise _invalid(
                    f"Endpoint Reason: {protocol.upper()} endpoint must start with {protocol}://"
                )
        elif protocol in ("email", "email-json"):
            if not _EMAIL.fullmatch(endpoint):
                raise _invalid("Email address")
        elif protocol == "sms":
            if not _PHONE.fullmatch(endpoint.replace("-", "").replace(" ", "")):
                raise _invalid(f"SMS endpoint [{endpoint}] is not a valid phone number")
        elif protocol == "sqs":
            m = _SQS_ARN.fullmatch(endpoint)
            if m is None:
                raise _invalid("SQS endpoint ARN")
            if m.group(4) and not topic.fifo:
                raise _invalid(
                    "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed "
                    "to standard SNS topics"
                )
        elif protocol == "lambda":
            if not _LAMBDA_ARN.fullmatch(endpoint):
                raise _invalid("Lambda endpoint ARN")
        elif protocol in ("application", "firehose"):
            if not endpoint.startswith("arn:aws:"):
                raise _invalid(f"{protocol} endpoint ARN")

    def _check_subscription_attributes(
        self,
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
                raise _invalid(f"Attributes Reason: Unknown attribute {name}")
            if name == "RawMessageDelivery":
                raw = _bool_attr(name, value)
                if raw and protocol not in ("sqs", "http", "https", "firehose"):
                    raise _invalid(
                        f"Attributes Reason: Delivery protocol [{protocol}] does not support raw "
                        "message delivery."
                    )
                out[name] = raw
            elif name == "DeliveryPolicy":
                if value and protocol not in ("http", "https"):
                    raise _invalid(
                        "Attributes Reason: DeliveryPolicy: only HTTP/S subscriptions take a "
                        "delivery policy"
                    )
                policy = dp.parse_subscription_delivery_policy(value) if value else None
                if policy is not None and policy.header_content_type is not None:
                    raw = str(attrs.get("RawMessageDelivery", raw_now)).lower() == "true"
                    if not dp.header_content_type_allowed(
                        policy.header_content_type, raw_message_delivery=raw
                    ):
                        raise _invalid(
                            "Attributes Reason: DeliveryPolicy: requestPolicy.headerContentType "
                            f"{policy.header_content_type} is not supported"
                            + (
                                " with raw message delivery"
                                if raw
                                else " without raw message delivery"
                            )
                        )
                out[name] = policy
            elif name == "FilterPolicy":
                out[name] = (
                    FilterPolicy.parse(
                        value, scope or "MessageAttributes", via_subscribe=via_subscribe
                    )
                    if value
                    else None
                )
            elif name == "FilterPolicyScope":
                out[name] = value
            elif name == "RedrivePolicy":
                out[name] = self._check_redrive(topic, value) if value else None
            else:
                out[name] = value
        return out

    def _check_redrive(self, topic: Topic, value: str) -> str:
        try:
            doc = json.loads(value)
        except ValueError:
            raise _invalid("RedrivePolicy: Redrive policy is not a valid JSON") from None
        arn = doc.get("deadLetterTargetArn") if type(doc) is dict else None
        if type(arn) is not str:
            raise _invalid("RedrivePolicy: deadLetterTargetArn is missing")
        m = _SQS_ARN.fullmatch(arn)
        if m is None:
            raise _invalid("RedrivePolicy: deadLetterTargetArn is an invalid arn")
        if bool(m.group(4)) != topic.fifo:
            raise _invalid(
                "RedrivePolicy: must use a FIFO queue as DLQ for a FIFO topic subscription"
                if topic.fifo
                else "RedrivePolicy: must use a standard queue as DLQ for a standard topic"
            )
        return arn

    def _check_filter_quota(self, topic: Topic, adding: int) -> None:
        if len(topic.filtered) + adding > self.options.filter_policies_per_topic:
            raise FilterPolicyLimitExceeded(
                "Filter policy limit exceeded: at most "
                f"{self.options.filter_policies_per_topic} filter policies per topic"
            )
        if self._filter_policies + adding > self.options.filter_policies_per_account:
            raise FilterPolicyLimitExceeded(
                "Filter policy limit exceeded: at most "
                f"{self.options.filter_policies_per_account} filter policies per account"
            )

    def _apply_subscription_attribute(self, sub: Subscription, name: str, value: Any) -> None:
        if name == "RawMessageDelivery":
            sub.raw = value
            sub.raw_attributes[name] = "true" if value else "false"
        elif name == "DeliveryPolicy":
            sub.delivery_policy = value
            if value is None:
                sub.raw_attributes.pop(name, None)
        elif name == "FilterPolicy":
            self._set_filter(sub, value)
        elif name == "FilterPolicyScope":
            sub.raw_attributes[name] = value
        elif name == "RedrivePolicy":
            sub.redrive_dlq = value
        else:
            sub.raw_attributes[name] = value

    def _set_filter(self, sub: Subscription, policy: FilterPolicy | None) -> None:
        was = sub.filter_policy
        sub.filter_policy = policy
        if was is not None:
            self._filter_policies -= 1
        if policy is not None:
            self._filter_policies += 1
        self._index(sub)

    def _index(self, sub: Subscription) -> None:
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

    def _confirm(self, sub: Subscription) -> None:
        sub.move(CONFIRMED)
        if sub.token is not None:
            self._tokens.pop(sub.token, None)
            sub.token = None
        self._index(sub)

    def _remove_subscription(self, sub: Subscription) -> None:
        topic = sub.topic
        if sub.filter_policy is not None:
            self._set_filter(sub, None)
        sub.move(DELETED)
        self._index(sub)
        if sub.token is not None:
            self._tokens.pop(sub.token, None)
        del topic.subscriptions[sub.arn]
        del self.subscriptions[sub.arn]
        topic.subs_deleted += 1

    def _request_confirmation(self, sub: Subscription, now: float) -> None:
        token = "%0256x" % self.rng.getrandbits(1024)  # noqa: UP031
        sub.token = token
        sub.token_expires = now + limits.SNS_CONFIRMATION_TOKEN_LIFETIME
        self._tokens[token] = sub
        delivery = Delivery(sub, None, "SubscriptionConfirmation")
        delivery.token = token
        self._attempt(delivery, now)

    _CONFIRM = frozenset({"TopicArn", "Token", "AuthenticateOnUnsubscribe"})

    def confirm_subscription(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Accepts a token sent in a SubscriptionConfirmation within three days."""
        _check_known(p, self._CONFIRM, "ConfirmSubscription")
        topic = self._topic(p)
        token = _str_param(p, "Token")
        auth = p.get("AuthenticateOnUnsubscribe")
        if auth is not None and str(auth).lower() not in ("true", "false"):
            raise _invalid("AuthenticateOnUnsubscribe")
        sub = self._tokens.get(token)  # type: ignore[arg-type]
        if sub is None or sub.topic is not topic or now >= sub.token_expires:
            raise _invalid("Token")
        self._confirm(sub)
        if auth is not None and str(auth).lower() == "true":
            sub.raw_attributes["ConfirmationWasAuthenticated"] = "true"
        return {"SubscriptionArn": sub.arn}

    def unsubscribe(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Deletes the subscription; an HTTP/S endpoint is sent an UnsubscribeConfirmation."""
        _check_known(p, frozenset({"SubscriptionArn"}), "Unsubscribe")
        sub = self._subscription(p)
        if sub.protocol in ("http", "https", "email", "email-json") and sub.state == CONFIRMED:
            token = "%0256x" % self.rng.getrandbits(1024)  # noqa: UP031
            delivery = Delivery(sub, None, "UnsubscribeConfirmation")
            delivery.token = token
            self._attempt(delivery, now)
        self._remove_subscription(sub)
        return {}

    @staticmethod
    def _listing(sub: Subscription) -> dict[str, str]:
        return {
            "SubscriptionArn": sub.arn if sub.state == CONFIRMED else "PendingConfirmation",
            "Owner": sub.owner,
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "TopicArn": sub.topic.arn,
        }

    def _list_subscriptions(self, subs: Any, p: Mapping[str, Any]) -> dict[str, Any]:
        ordered = sorted(subs, key=lambda s: s.arn)
        page, nxt = self._page(ordered, p, lambda s: s.arn)
        out: dict[str, Any] = {"Subscriptions": [self._listing(s) for s in page]}
        if nxt:
            out["NextToken"] = nxt
        return out

    def list_subscriptions(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"NextToken"}), "ListSubscriptions")
        return self._list_subscriptions(self.subscriptions.values(), p)

    def list_subscriptions_by_topic(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"TopicArn", "NextToken"}), "ListSubscriptionsByTopic")
        return self._list_subscriptions(self._topic(p).subscriptions.values(), p)

    def get_subscription_attributes(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(p, frozenset({"SubscriptionArn"}), "GetSubscriptionAttributes")
        sub = self._subscription(p)
        attrs = {
            "ConfirmationWasAuthenticated": "true" if sub.state == CONFIRMED else "false",
            "PendingConfirmation": "false" if sub.state == CONFIRMED else "true",
            "Owner": sub.owner,
            "RawMessageDelivery": "true" if sub.raw else "false",
            "TopicArn": sub.topic.arn,
            "Endpoint": sub.endpoint,
            "Protocol": sub.protocol,
            "SubscriptionArn": sub.arn,
            "SubscriptionPrincipal": f"arn:aws:iam::{self.account_id}:user/msgsim",
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

    def set_subscription_attributes(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        _check_known(
            p,
            frozenset({"SubscriptionArn", "AttributeName", "AttributeValue"}),
            "SetSubscriptionAttributes",
        )
        sub = self._subscription(p)
        name = _str_param(p, "AttributeName")
        value = _str_param(p, "AttributeValue", required=False) or ""
        if name not in SUBSCRIPTION_ATTRIBUTES:
            raise _invalid("AttributeName")
        if name == "FilterPolicyScope":
            # Changing the scope re-reads the existing policy under the new scope.
            settings = self._check_subscription_attributes(sub.topic, sub.protocol, {name: value})
            if sub.filter_policy is not None:
                policy = FilterPolicy.parse(sub.filter_policy.text, value)
                self._set_filter(sub, policy)
            self._apply_subscription_attribute(sub, name, settings[name])
            return {}
        attrs = {name: value}  # type: ignore[dict-item]
        if name == "FilterPolicy":
            attrs["FilterPolicyScope"] = sub.raw_attributes.get(
                "FilterPolicyScope", "MessageAttributes"
            )
        settings = self._check_subscription_attributes(
            sub.topic, sub.protocol, attrs, raw_now=sub.raw
        )
        if name == "FilterPolicy" and settings["FilterPolicy"] is not None:
            if sub.filter_policy is None:
                self._check_filter_quota(sub.topic, 1)
        self._apply_subscription_attribute(sub, name, settings[name])  # type: ignore[index]
        if name in ("DeliveryPolicy", "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy"):
            if value:
                sub.raw_attributes[name] = value  # type: ignore[index]
            else:
                sub.raw_attributes.pop(name, None)  # type: ignore[arg-type]
        return {}

    # ================================================================== publish
    _PUBLISH = frozenset(
        {
            "TopicArn",
            "TargetArn",
            "PhoneNumber",
            "Message",
            "Subject",
            "MessageStructure",
            "MessageAttributes",
            "MessageDeduplicationId",
            "MessageGroupId",
        }
    )
    _ENTRY = frozenset(
        {
            "Id",
            "Message",
            "Subject",
            "MessageStructure",
            "MessageAttributes",
            "MessageDeduplicationId",
            "MessageGroupId",
        }
    )

    def publish(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Validates the whole request, then delivers to every matching subscription (see the
        module docstring). FIFO topics answer a SequenceNumber and drop a duplicate within five
        minutes, answering the first copy's ids."""
        _check_known(p, self._PUBLISH, "Publish")
        given = [n for n in ("TopicArn", "TargetArn", "PhoneNumber") if p.get(n) is not None]
        if len(given) != 1:
            raise _invalid(
                "TopicArn or TargetArn Reason: exactly one of TopicArn, TargetArn and "
                "PhoneNumber must be given"
            )
        if given[0] == "PhoneNumber":
            return self._publish_sms(p, now)
        topic = self._topic(p, given[0])
        prepared = self._prepare(topic, p, now)
        result, _ = self._publish_prepared(topic, prepared, now)
        return result

    def _publish_sms(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        phone = _str_param(p, "PhoneNumber")
        if not _PHONE.fullmatch(phone.replace("-", "").replace(" ", "")):  # type: ignore[union-attr]
            raise _invalid(f"PhoneNumber Reason: {phone} is not valid to publish to")
        message = self._message_text(p)
        self._subject(p)
        if p.get("MessageStructure") is not None:
            self._check_structure(p.get("MessageStructure"))
            _, per = self._structure(message)
            message = per.get("sms") if type(per.get("sms")) is str else per["default"]
        _utf8_size(message, "Message")
        self._message_attributes(p.get("MessageAttributes"))
        message_id = uuid4_from(self.rng)
        self.outbox.append(
            {
                "Protocol": "sms",
                "Endpoint": phone,
                "Type": "Notification",
                "MessageId": message_id,
                "Body": message,
                "Timestamp": self._now_iso(now),
            }
        )
        return {"MessageId": message_id}

    @staticmethod
    def _subject(p: Mapping[str, Any]) -> str | None:
        """Subject: printable ASCII under 100 characters, no line breaks, not starting with a
        space."""
        subject = p.get("Subject")
        if subject is not None and (
            type(subject) is not str
            or not subject
            or len(subject) > limits.SNS_SUBJECT_MAX_LENGTH
            or not subject.isascii()
            or not subject.isprintable()
            or not subject[0].strip()
        ):
            raise _invalid("Subject")
        return subject

    @staticmethod
    def _check_structure(structure: Any) -> None:
        if structure != "json":
            raise _invalid("MessageStructure Reason: the only supported value is json")

    @staticmethod
    def _message_text(p: Mapping[str, Any]) -> str:
        message = p.get("Message")
        if message is None:
            raise _invalid("Message Reason: the request must contain the parameter Message")
        if type(message) is not str:
            raise _invalid("Message Reason: must be a string")
        if not message:
            raise _invalid("Empty message")
        return message

    @staticmethod
    def _structure(message: str) -> tuple[str, dict[str, Any]]:
        try:
            doc = json.loads(message)
        except ValueError:
            raise _invalid("Message Structure - JSON message body failed to parse") from None
        if type(doc) is not dict:
            raise _invalid("Message Structure - JSON message body failed to parse")
        default = doc.get("default")
        if type(default) is not str:
            raise _invalid("Message Structure - No default entry in JSON message body")
        for text in doc.values():
            if type(text) is str:
                _utf8_size(text, "Message")
        return default, doc

    def _prepare(
        self, topic: Topic, p: Mapping[str, Any], now: float
    ) -> tuple[str, str | None, dict | None, dict | None, str | None, str | None, int, bool]:
        """Validate one message; (message, subject, attributes, per-protocol texts, group id,
        dedup id, size, all ASCII). Changes nothing."""
        message = self._message_text(p)
        subject = self._subject(p)
        per_protocol = None
        structure = p.get("MessageStructure")
        if structure is not None:
            self._check_structure(structure)
            message_default, per_protocol = self._structure(message)
        attributes = self._message_attributes(p.get("MessageAttributes"))
        # Sizes in UTF-8 bytes (an ASCII string's length is its size); "ascii" notes whether
        # the envelope of this message can hold nothing SQS refuses (see _to_sqs).
        ascii = message.isascii()
        size = len(message) if ascii else _utf8_size(message, "Message")
        if attributes:
            for name, attr in attributes.items():
                data_type = attr["DataType"]
                size += len(name) + (
                    len(data_type) if data_type.isascii() else len(data_type.encode())
                )
                value = attr.get("StringValue")
                if value is None:
                    size += len(attr["BinaryValue"])
                elif value.isascii():
                    size += len(value)
                else:
                    ascii = False
                    try:
                        size += len(value.encode())
                    except UnicodeEncodeError:
                        raise ParameterValueInvalid(
                            f"The message attribute '{name}' must contain valid UTF-8 text."
                        ) from None
        if size > limits.SNS_MESSAGE_SIZE_MAX:
            raise _invalid("Message too long")
        group_id = p.get("MessageGroupId")
        dedup_id = p.get("MessageDeduplicationId")
        if group_id is not None and (
            type(group_id) is not str or not _FIFO_TOKEN.fullmatch(group_id)
        ):
            raise _invalid(
                "MessageGroupId Reason: MessageGroupId can only contain up to 128 alphanumeric "
                "and punctuation characters"
            )
        if topic.fifo:
            if group_id is None:
                raise _invalid("The MessageGroupId parameter is required for FIFO topics")
            if dedup_id is None:
                if not topic.content_based_dedup:
                    raise _invalid(
                        "The topic should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly"
                    )
                dedup_id = hashlib.sha256(message.encode("utf-8", "surrogatepass")).hexdigest()
            elif type(dedup_id) is not str or not _FIFO_TOKEN.fullmatch(dedup_id):
                raise _invalid(
                    "MessageDeduplicationId Reason: MessageDeduplicationId can only contain up "
                    "to 128 alphanumeric and punctuation characters"
                )
        elif dedup_id is not None:
            raise _invalid(
                "MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
                "parameter that is not valid for this topic type"
            )
        if per_protocol is not None:
            ascii = ascii and all(type(v) is not str or v.isascii() for v in per_protocol.values())
            return (
                message_default,
                subject,
                attributes,
                per_protocol,
                group_id,
                dedup_id,
                size,
                ascii,
            )
        return message, subject, attributes, None, group_id, dedup_id, size, ascii

    @staticmethod
    def _message_attributes(raw: Any) -> dict[str, dict[str, Any]] | None:
        """SNS message attributes: String, String.Array (a JSON array), Number and Binary, each
        optionally with a custom type suffix; names as SQS allows them."""
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise ParameterValueInvalid("MessageAttributes must be a map of names to values.")
        if not raw:
            return None
        out: dict[str, dict[str, Any]] = {}
        known = _VALID_ATTRIBUTE_NAMES
        for name, attr in raw.items():
            if name in known and type(attr) is dict and len(attr) == 2:
                # The common case: a plain String attribute under a name seen before.
                value = attr.get("StringValue")
                if attr.get("DataType") == "String" and type(value) is str and value:
                    out[name] = {"DataType": "String", "StringValue": value}
                    continue
            if (
                type(name) is not str
                or not _ATTR_NAME.fullmatch(name)
                or name.startswith(".")
                or name.endswith(".")
                or ".." in name
                or name.lower().startswith(("aws.", "amazon."))
            ):
                raise ParameterValueInvalid(
                    f"The message attribute name '{name}' is invalid: names are 1 to 256 "
                    "characters of A-Z, a-z, 0-9, underscore, hyphen and period, not starting or "
                    "ending with a period, without consecutive periods, and not starting with "
                    "AWS. or Amazon."
                )
            if len(known) < 10_000:
                known.add(name)
            if not isinstance(attr, Mapping) or set(attr) - {
                "DataType",
                "StringValue",
                "BinaryValue",
            }:
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' must be a map of DataType and StringValue or "
                    "BinaryValue."
                )
            data_type = attr.get("DataType")
            if type(data_type) is not str or not _DATA_TYPE.fullmatch(data_type):
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' has an invalid message attribute type, the "
                    "set of supported type prefixes is Binary, Number, and String."
                )
            if data_type.startswith("Binary"):
                value = attr.get("BinaryValue")
                if isinstance(value, bytearray | memoryview):
                    value = bytes(value)
                elif type(value) is str:
                    try:
                        value = value.encode()
                    except UnicodeEncodeError:
                        pass  # a lone surrogate is no text: still a str, refused below
                if type(value) is not bytes or not value or "StringValue" in attr:
                    raise ParameterValueInvalid(
                        f"The message attribute '{name}' must contain non-empty message "
                        "attribute value for message attribute type 'Binary'."
                    )
                out[name] = {"DataType": data_type, "BinaryValue": value}
                continue
            value = attr.get("StringValue")
            base = (
                data_type.split(".")[0]
                if not data_type.startswith("String.Array")
                else "String.Array"
            )
            if type(value) is not str or not value or "BinaryValue" in attr:
                raise ParameterValueInvalid(
                    f"The message attribute '{name}' must contain non-empty message attribute "
                    f"value for message attribute type '{base}'."
                )
            if base == "Number":
                if not _NUMBER.fullmatch(value) or not math.isfinite(float(value)):
                    raise ParameterValueInvalid(
                        f"Could not cast message attribute '{name}' value to number."
                    )
            elif base == "String.Array":
                try:
                    items = json.loads(value)
                except ValueError:
                    items = None
                if type(items) is not list or any(isinstance(i, dict | list) for i in items):
                    raise ParameterValueInvalid(
                        f"The message attribute '{name}' with type 'String.Array' has to be a "
                        "valid JSON array of strings, numbers, booleans or nulls."
                    )
            out[name] = {"DataType": data_type, "StringValue": value}
        return out

    def _publish_prepared(
        self, topic: Topic, prepared: tuple, now: float
    ) -> tuple[dict[str, Any], Published | None]:
        message, subject, attributes, per_protocol, group_id, dedup_id, _, ascii = prepared
        sequence = None
        if topic.fifo:
            key = dedup_id
            if topic.attributes.get("FifoThroughputScope") == "MessageGroup":
                key = f"{group_id}\x00{dedup_id}"
            self._expire_dedup(topic, now)
            seen = topic.dedup.get(key)
            if seen is not None:
                return {"MessageId": seen[1], "SequenceNumber": seen[2]}, None
            topic.sequence += 1
            sequence = str(10_000_000_000_000_000_000 + topic.sequence)
        message_id = uuid4_from(self.rng)
        if topic.fifo:
            expires = now + limits.DEDUPLICATION_INTERVAL
            topic.dedup[key] = (expires, message_id, sequence)  # type: ignore[index]
            topic.dedup_order.append((expires, key))  # type: ignore[arg-type]
        pub = Published(
            message_id,
            topic.arn,
            message,
            subject,
            attributes,
            self._now_iso(now),
            per_protocol,
            group_id,
            dedup_id,
            sequence,
            ascii,
        )
        self._fan_out(topic, pub, now)
        result = {"MessageId": message_id}
        if sequence is not None:
            result["SequenceNumber"] = sequence
        return result, pub

    @staticmethod
    def _expire_dedup(topic: Topic, now: float) -> None:
        order = topic.dedup_order
        if not order or order[0][0] > now:
            return
        drop = 0
        for expires, key in order:
            if expires > now:
                break
            drop += 1
            entry = topic.dedup.get(key)
            if entry is not None and entry[0] == expires:
                del topic.dedup[key]
        del order[:drop]

    def _fan_out(self, topic: Topic, pub: Published, now: float) -> None:
        """One delivery per matching confirmed subscription, in subscription order."""
        targets = topic.plain
        if len(topic.filtered):
            body = pub.message
            matched = topic.filtered.match(pub.attributes or {}, body)
            if matched:
                subs = self.subscriptions
                chosen = [subs[arn] for arn in matched]
                if targets:
                    chosen += targets
                    chosen.sort(key=lambda s: s.serial)
                targets = chosen
        for sub in targets:
            self._attempt(Delivery(sub, pub, "Notification"), now)

    # ------------------------------------------------------------------ batch
    def publish_batch(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """1 to 10 entries with distinct ids, 256 KiB in total; each entry succeeds or fails on
        its own, in order (a FIFO topic keeps the entries' order within each group)."""
        _check_known(p, frozenset({"TopicArn", "PublishBatchRequestEntries"}), "PublishBatch")
        topic = self._topic(p)
        raw = p.get("PublishBatchRequestEntries")
        if raw is None:
            raise _invalid("PublishBatchRequestEntries Reason: the parameter is required")
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, list | tuple):
            raise _invalid("PublishBatchRequestEntries Reason: must be a list of entries")
        batch = list(raw)
        if not batch:
            raise EmptyBatchRequest(
                "The batch request doesn't contain any entries", query_code="EmptyBatchRequest"
            )
        if len(batch) > limits.BATCH_ENTRIES_MAX:
            raise TooManyEntriesInBatchRequest(
                f"The batch request contains more entries than permissible: at most "
                f"{limits.BATCH_ENTRIES_MAX}",
                query_code="TooManyEntriesInBatchRequest",
            )
        seen: set[str] = set()
        for entry in batch:
            if not isinstance(entry, Mapping):
                raise _invalid("PublishBatchRequestEntries Reason: each entry must be a map")
            entry_id = entry.get("Id")
            if type(entry_id) is not str or not _BATCH_ID.fullmatch(entry_id):
                raise InvalidBatchEntryId(
                    "A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long.",
                    query_code="InvalidBatchEntryId",
                )
            if entry_id in seen:
                raise BatchEntryIdsNotDistinct(
                    "Two or more batch entries in the request have the same Id.",
                    query_code="BatchEntryIdsNotDistinct",
                )
            seen.add(entry_id)
        items: list[Any] = []
        total = 0
        for entry in batch:
            try:
                _check_known(entry, self._ENTRY, "PublishBatch entry")
                prepared = self._prepare(topic, entry, now)
            except BrokerError as err:
                items.append(err)
                continue
            total += prepared[6]
            items.append(prepared)
        if total > limits.SNS_MESSAGE_SIZE_MAX:
            raise BatchRequestTooLong(
                "The length of all the messages put together is more than the limit.",
                query_code="BatchRequestTooLong",
            )
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry, item in zip(batch, items, strict=True):
            if isinstance(item, BrokerError):
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": item.code,
                        "Message": item.message,
                        "SenderFault": item.sender_fault,
                    }
                )
                continue
            result, _ = self._publish_prepared(topic, item, now)
            ok.append({"Id": entry["Id"], **result})
        return {"Successful": ok, "Failed": failed}

    # ================================================================== delivery
    def _retry_policy(self, sub: Subscription) -> Any:
        protocol = sub.protocol
        if protocol in ("http", "https"):
            return dp.effective_delivery_policy(
                sub.topic.delivery_policy, sub.delivery_policy
            ).healthy
        if protocol in ("sqs", "lambda", "firehose"):
            return dp.AWS_MANAGED
        return dp.CUSTOMER_MANAGED

    def _attempt(self, delivery: Delivery, now: float) -> None:
        """Make one delivery attempt (HTTP/S: hand it to the runtime)."""
        delivery.attempts += 1
        sub = delivery.sub
        protocol = sub.protocol
        try:
            if protocol == "sqs":
                self._to_sqs(sub.endpoint, sub, delivery, now)
            elif protocol in ("http", "https"):
                self.outbound.append(self._http_request(delivery, now))
                return
            elif protocol == "lambda":
                self._to_lambda(delivery, now)
            else:
                self._to_outbox(delivery, now)
        except _ClientError as err:
            self._give_up(delivery, err.code, err.message, now)
            return
        self.delivered += 1

    def _payload(self, delivery: Delivery, protocol: str) -> str:
        pub = delivery.published
        if delivery.sub.raw:
            return pub.text_for(protocol)  # type: ignore[union-attr]
        return self.signer.notification(pub, protocol, delivery.sub.arn)  # type: ignore[arg-type]

    def _to_sqs(self, queue_arn: str, sub: Subscription, delivery: Delivery, now: float) -> None:
        pub = delivery.published
        if pub is None:  # a confirmation to a queue in another account: nowhere to go here
            raise _ClientError("QueueDoesNotExist", "The queue is not in this account")
        queue = self.sqs.queue_by_arn(queue_arn)
        if queue is None:
            raise _ClientError("QueueDoesNotExist", "The specified queue does not exist.")
        if not sub.raw:
            # The envelope: JSON that SNS built from validated parts. It can only hold a
            # character SQS refuses if the message or an attribute value is not ASCII (JSON
            # escapes control characters), so only then does SQS check it again.
            group_id = pub.group_id
            try:
                self.sqs.deliver_text(
                    queue,
                    self.signer.notification(pub, "sqs", sub.arn),
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
            "MessageBody": self._payload(delivery, "sqs"),
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
            self.sqs.deliver(queue, params, now)
        except BrokerError as err:
            raise _ClientError(err.code, err.message) from None

    def _to_lambda(self, delivery: Delivery, now: float) -> None:
        pub = delivery.published
        sub = delivery.sub
        if pub is None:
            return
        if self.invoke_lambda is None:
            raise _ClientError("ResourceNotFoundException", f"Function not found: {sub.endpoint}")
        record = {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": sub.arn,
            "Sns": self.signer.lambda_notification(pub, sub.arn),
        }
        try:
            self.invoke_lambda(sub.endpoint, {"Records": [record]}, now)
        except BrokerError as err:
            raise _ClientError(err.code, err.message) from None

    def _to_outbox(self, delivery: Delivery, now: float) -> None:
        sub = delivery.sub
        pub = delivery.published
        record: dict[str, Any] = {
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "SubscriptionArn": sub.arn,
            "TopicArn": sub.topic.arn,
            "Type": delivery.kind,
            "Timestamp": self._now_iso(now),
        }
        if pub is None:
            message_id = uuid4_from(self.rng)
            record["MessageId"] = message_id
            record["Token"] = delivery.token
            doc = self.signer.confirmation(
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
                record["Body"] = self.signer.notification(pub, "email-json", sub.arn)
            else:
                record["Body"] = pub.text_for(sub.protocol)
            if pub.attributes:
                record["MessageAttributes"] = pub.attributes
        self.outbox.append(record)

    def _http_request(self, delivery: Delivery, now: float) -> HttpRequest:
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
            message_id = uuid4_from(self.rng)
            body = self.signer.confirmation(
                delivery.kind,
                message_id,
                sub.topic.arn,
                delivery.token,
                self._now_iso(now),  # type: ignore[arg-type]
            )
            if delivery.kind == "UnsubscribeConfirmation":
                headers["x-amz-sns-subscription-arn"] = sub.arn
        else:
            message_id = pub.message_id
            body = self._payload(delivery, sub.protocol)
            headers["x-amz-sns-subscription-arn"] = sub.arn
            if sub.raw:
                headers["x-amz-sns-rawdelivery"] = "true"
        headers["x-amz-sns-message-id"] = message_id
        return HttpRequest(delivery, sub.endpoint, headers, body)

    def http_result(self, request: HttpRequest, status: int | None, now: float) -> None:
        """The runtime's report of one POST: ``status`` None for a connection error or a
        timeout. As AWS's HTTP/S delivery documents it: a 2xx (or 3xx) answer is a delivery;
        429, 5xx, a connection error or no answer within 15 s is retried per the delivery
        policy; any other 4xx is a permanent failure (no retry; the DLQ if there is one)."""
        delivery = request.delivery
        if status is not None and 200 <= status < 400:
            self.delivered += 1
            return
        if status is not None and status < 500 and status != 429:
            self._give_up(delivery, "DeliveryFailed", f"HTTP status {status}", now)
            return
        reason = f"HTTP status {status}" if status is not None else "no answer"
        self._failed_attempt(delivery, "DeliveryFailed", reason, now)

    def _failed_attempt(self, delivery: Delivery, code: str, reason: str, now: float) -> None:
        if delivery.sub.state == DELETED and delivery.kind == "Notification":
            self.failed += 1
            return
        policy = self._retry_policy(delivery.sub)
        retry = delivery.attempts  # retries made so far + 1
        if retry > policy.num_retries:
            self._give_up(delivery, code, reason, now)
            return
        self._serial += 1
        heapq.heappush(self._retries, (now + policy.delay(retry), self._serial, delivery))

    def _give_up(self, delivery: Delivery, code: str, reason: str, now: float) -> None:
        """A delivery that failed for good: to the subscription's DLQ, or dropped."""
        self.failed += 1
        sub = delivery.sub
        if sub.redrive_dlq is None or delivery.published is None:
            return
        try:
            self._to_sqs(sub.redrive_dlq, sub, delivery, now)
        except _ClientError:
            return
        self.dead_lettered += 1

    # ------------------------------------------------------------------ runtime hooks
    def next_due(self) -> float | None:
        """When the earliest scheduled retry is due (None: nothing scheduled)."""
        return self._retries[0][0] if self._retries else None

    def run_due(self, now: float) -> None:
        """Make every retry due by ``now`` (HTTP/S ones become :attr:`outbound` requests)."""
        retries = self._retries
        while retries and retries[0][0] <= now:
            _, _, delivery = heapq.heappop(retries)
            if delivery.sub.state == DELETED and delivery.kind == "Notification":
                self.failed += 1
                continue
            self._attempt(delivery, now)

    # ================================================================== msgsim: outbox
    def list_outbox(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """msgsim's own operation: what email, email-json, SMS, application and firehose
        endpoints would have received, oldest first. Filters: ``Protocol``, ``Endpoint``,
        ``TopicArn``; ``Clear=True`` empties the outbox after reading it."""
        _check_known(p, frozenset({"Protocol", "Endpoint", "TopicArn", "Clear"}), "ListOutbox")
        wanted = {k: _str_param(p, k, required=False) for k in ("Protocol", "Endpoint", "TopicArn")}
        clear = p.get("Clear", False)
        if type(clear) is not bool:
            raise _invalid("Clear Reason: must be a boolean")
        records = [
            r for r in self.outbox if all(v is None or r.get(k) == v for k, v in wanted.items())
        ]
        if clear:
            taken = {id(r) for r in records}
            self.outbox = [r for r in self.outbox if id(r) not in taken]
        return {"Messages": records}

    def stats(self) -> dict[str, int]:
        return {
            "topics": len(self.topics),
            "subscriptions": len(self.subscriptions),
            "delivered": self.delivered,
            "failed": self.failed,
            "dead_lettered": self.dead_lettered,
            "retries_scheduled": len(self._retries),
        }


__all__ = ["SnsOptions", "SnsService"]
