"""Queue management: CreateQueue, DeleteQueue, GetQueueUrl, ListQueues,
ListDeadLetterSourceQueues, Get/SetQueueAttributes, PurgeQueue and the queue tags.

Each operation validates the whole request before it changes anything (an invalid request
changes nothing) and answers the AWS response shape. CreateQueue and DeleteQueue are the only
writers of the state's indexes (by name, URL and ARN). Deletion and purge take effect at once
(AWS says "up to 60 seconds"; at once is deterministic).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from .. import limits
from ..errors import (
    InvalidAttributeName,
    InvalidParameterValue,
    MissingParameter,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueDoesNotExist,
    QueueNameExists,
)
from ..params import check_known, optional_int, optional_str, required_str, str_list, str_map
from . import attributes as qattrs
from .addressing import queue_by_url, ready
from .queue import Queue
from .state import SqsState

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_CREATE = frozenset({"QueueName", "Attributes", "tags"})


def create_queue(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, _CREATE, "CreateQueue")
    name = required_str(p, "QueueName")
    raw = p.get("Attributes") or {}
    if not isinstance(raw, Mapping):
        raise InvalidParameterValue("Attributes must be a map of attribute names to values.")
    tags = _check_tags(str_map(p, "tags"))
    fifo_attr = str(raw.get("FifoQueue", "false")).lower()
    is_fifo_name = name.endswith(".fifo")
    base = name[:-5] if is_fifo_name else name
    if not _QUEUE_NAME.fullmatch(base) or len(name) > limits.QUEUE_NAME_MAX_LENGTH:
        if is_fifo_name:
            raise InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                "or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    fifo = fifo_attr == "true"
    if is_fifo_name and not fifo:
        # AWS answers with its standard-queue name rule ("Can only include alphanumeric
        # characters, hyphens, or underscores. 1 to 80 in length"), which sends users looking at
        # the name; the code is AWS's, the message names what is actually missing.
        raise InvalidParameterValue(
            f"The queue name {name} ends with .fifo, which only a FIFO queue's name may, but the "
            "attribute FifoQueue is not true. Set FifoQueue to true to create a FIFO queue, or "
            "drop the .fifo suffix for a standard queue."
        )
    if fifo and not is_fifo_name:
        raise InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length."
        )
    values = qattrs.validate(raw, fifo=fifo, creating=True)
    existing = sqs.queues.get(name)
    if existing is not None:
        current = _attribute_values(existing)
        for key, value in values.items():
            if current.get(key, qattrs.DEFAULTS.get(key)) != value:
                raise QueueNameExists(
                    "A queue already exists with the same name and a different value for "
                    f"attribute {key}"
                )
        return {"QueueUrl": sqs.url_prefix + name}
    deleted = sqs.deleted_at.get(name)
    if deleted is not None and now - deleted < limits.QUEUE_DELETED_RECENTLY_INTERVAL:
        raise QueueDeletedRecently(
            "You must wait 60 seconds after deleting a queue before you can create another "
            "with the same name."
        )
    arn = sqs.arn_prefix + name
    _check_redrive(sqs, values, arn, fifo)
    sqs.uids += 1
    queue = Queue(
        name=name,
        uid=sqs.uids,
        fifo=fifo,
        created_at=now,
        rng=sqs.rng,
        at_least_once=sqs.options.at_least_once,
    )
    queue.arn = arn
    queue.url = sqs.url_prefix + name
    queue.attrs = _normalize_sse({k: v for k, v in values.items() if k != "FifoQueue"})
    queue.tags = tags
    queue.last_purge = None
    qattrs.apply(queue, queue.attrs)
    sqs.queues[name] = queue
    sqs.by_url[queue.url] = queue
    sqs.by_arn[arn] = queue
    sqs.deleted_at.pop(name, None)
    return {"QueueUrl": queue.url}


def _check_redrive(sqs: SqsState, values: Mapping[str, str], arn: str, fifo: bool) -> None:
    if "RedriveAllowPolicy" in values:
        qattrs.parse_redrive_allow_policy(values["RedriveAllowPolicy"])
    policy = values.get("RedrivePolicy")
    if not policy:
        return
    target_arn, _ = qattrs.parse_redrive_policy(policy)  # type: ignore[misc]
    prefix = f"Value {policy} for parameter RedrivePolicy is invalid. Reason: "
    target = sqs.by_arn.get(target_arn)
    if target is None:
        raise InvalidParameterValue(prefix + "Dead letter target does not exist.")
    if target.fifo != fifo:
        raise InvalidParameterValue(
            prefix + "Dead-letter queue must be the same type of queue as the source queue "
            "(FIFO or standard)."
        )
    allow = target.redrive_allow
    if allow is not None:
        permission, sources = allow
        if permission == "denyAll" or (permission == "byQueue" and arn not in sources):
            raise InvalidParameterValue(
                prefix + "The dead-letter queue's RedriveAllowPolicy does not allow this "
                "queue as a source."
            )


def delete_queue(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl"}), "DeleteQueue")
    queue = queue_by_url(sqs, p.get("QueueUrl"))
    del sqs.queues[queue.name]
    sqs.by_url = {u: q for u, q in sqs.by_url.items() if q is not queue}
    del sqs.by_arn[queue.arn]
    sqs.deleted_at[queue.name] = now
    queue.purge()
    sqs.touched.add(queue.uid)
    sqs.gone.add(queue.uid)
    return {}


def get_queue_url(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueName", "QueueOwnerAWSAccountId"}), "GetQueueUrl")
    name = required_str(p, "QueueName")
    owner = optional_str(p, "QueueOwnerAWSAccountId")
    queue = sqs.queues.get(name)
    if queue is None or (owner is not None and owner != sqs.account_id):
        raise QueueDoesNotExist("The specified queue does not exist.")
    return {"QueueUrl": queue.url}


def _page(names: list[str], p: Mapping[str, Any], key: str) -> tuple[list[str], str | None]:
    max_results = optional_int(
        p, "MaxResults", limits.LIST_QUEUES_MAX_RESULTS_MIN, limits.LIST_QUEUES_MAX_RESULTS
    )
    token = optional_str(p, "NextToken")
    start = 0
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
            kind, _, last = after.partition(":")
            assert kind == key
        except Exception:
            raise InvalidParameterValue("Invalid or expired next token.") from None
        start = next((i for i, n in enumerate(names) if n > last), len(names))
    if max_results is None:
        return names[start : start + limits.LIST_QUEUES_MAX_RESULTS], None
    page = names[start : start + max_results]
    next_token = None
    if start + max_results < len(names) and page:
        next_token = base64.urlsafe_b64encode(f"{key}:{page[-1]}".encode()).decode()
    return page, next_token


def list_queues(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueNamePrefix", "NextToken", "MaxResults"}), "ListQueues")
    prefix = optional_str(p, "QueueNamePrefix") or ""
    names = sorted(n for n in sqs.queues if n.startswith(prefix))
    page, token = _page(names, p, "q")
    out: dict[str, Any] = {}
    if page:
        out["QueueUrls"] = [sqs.url_prefix + n for n in page]
    if token:
        out["NextToken"] = token
    return out


def list_dead_letter_source_queues(
    sqs: SqsState, p: Mapping[str, Any], now: float
) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl", "NextToken", "MaxResults"}), "ListDeadLetterSourceQueues")
    queue = queue_by_url(sqs, p.get("QueueUrl"))
    names = sorted(n for n, q in sqs.queues.items() if q.redrive_target_arn == queue.arn)
    page, token = _page(names, p, "d")
    out: dict[str, Any] = {"queueUrls": [sqs.url_prefix + n for n in page]}
    if token:
        out["NextToken"] = token
    return out


def _attribute_values(queue: Queue) -> dict[str, str]:
    values: dict[str, str] = {k: v for k, v in qattrs.DEFAULTS.items() if v is not None}
    if queue.fifo:
        values.update(qattrs.FIFO_DEFAULTS)
    values.update(queue.attrs)
    return values


def get_queue_attributes(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl", "AttributeNames"}), "GetQueueAttributes")
    queue = ready(sqs, p, now)
    names = str_list(p, "AttributeNames")
    for n in names:
        if n != "All" and (n not in qattrs.ALL_NAMES or (not queue.fifo and n in qattrs.FIFO_ONLY)):
            raise InvalidAttributeName(f"Unknown Attribute {n}.")
    if not names:
        return {}
    wanted = set(qattrs.ALL_NAMES) if "All" in names else set(names)
    values = _attribute_values(queue)
    values.update(
        {
            "ApproximateNumberOfMessages": str(queue.n_available),
            "ApproximateNumberOfMessagesNotVisible": str(queue.n_inflight),
            "ApproximateNumberOfMessagesDelayed": str(queue.n_delayed),
            "CreatedTimestamp": str(int(sqs.epoch.wall(queue.created_at))),
            "LastModifiedTimestamp": str(int(sqs.epoch.wall(queue.modified_at))),
            "QueueArn": queue.arn,
        }
    )
    out = {k: v for k, v in values.items() if k in wanted and v != ""}
    return {"Attributes": out} if out else {}


def set_queue_attributes(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl", "Attributes"}), "SetQueueAttributes")
    queue = ready(sqs, p, now)
    raw = p.get("Attributes")
    if raw is None:
        raise MissingParameter("The request must contain the parameter Attributes.")
    if not isinstance(raw, Mapping):
        raise InvalidParameterValue("Attributes must be a map of attribute names to values.")
    values = qattrs.validate(raw, fifo=queue.fifo, creating=False)
    values.pop("FifoQueue", None)
    merged = {**queue.attrs, **values}
    if values.get("SqsManagedSseEnabled") == "true":
        merged.pop("KmsMasterKeyId", None)  # switching to SQS-managed SSE
        merged.pop("KmsDataKeyReusePeriodSeconds", None)
    elif values.get("KmsMasterKeyId"):
        merged.pop("SqsManagedSseEnabled", None)  # switching to KMS SSE
    merged = _normalize_sse({k: v for k, v in merged.items() if v != ""})
    _check_redrive(sqs, merged, queue.arn, queue.fifo)
    queue.attrs = merged
    qattrs.apply(queue, merged)
    queue.modified_at = now
    sqs.touched.add(queue.uid)
    return {}


def purge_queue(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl"}), "PurgeQueue")
    queue = ready(sqs, p, now)
    if queue.last_purge is not None and now - queue.last_purge < limits.PURGE_QUEUE_INTERVAL:
        raise PurgeQueueInProgress(
            f"Only one PurgeQueue operation on {queue.name} is allowed every "
            f"{limits.PURGE_QUEUE_INTERVAL} seconds."
        )
    queue.last_purge = now
    queue.purge()
    return {}


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    for k, v in tags.items():
        if not 1 <= len(k) <= limits.TAG_KEY_MAX_LENGTH or k.lower().startswith("aws:"):
            raise InvalidParameterValue(
                f"Tag key {k!r} is invalid: keys are 1 to {limits.TAG_KEY_MAX_LENGTH} "
                "characters and may not start with 'aws:'."
            )
        if len(v) > limits.TAG_VALUE_MAX_LENGTH:
            raise InvalidParameterValue(
                f"Tag value for key {k!r} is longer than {limits.TAG_VALUE_MAX_LENGTH} characters."
            )
    if len(tags) > limits.QUEUE_TAGS_MAX:
        raise InvalidParameterValue(
            f"Too many tags: a queue may have at most {limits.QUEUE_TAGS_MAX}."
        )
    return tags


def tag_queue(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl", "Tags"}), "TagQueue")
    queue = queue_by_url(sqs, p.get("QueueUrl"))
    tags = str_map(p, "Tags")
    if not tags:
        raise MissingParameter("The request must contain the parameter Tags.")
    _check_tags(tags)
    merged = {**queue.tags, **tags}
    if len(merged) > limits.QUEUE_TAGS_MAX:
        raise InvalidParameterValue(f"Too many tags added for queue {queue.name}.")
    queue.tags = merged
    return {}


def untag_queue(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl", "TagKeys"}), "UntagQueue")
    queue = queue_by_url(sqs, p.get("QueueUrl"))
    keys = str_list(p, "TagKeys", required=True)
    if not keys:
        raise MissingParameter("The request must contain the parameter TagKeys.")
    for k in keys:
        queue.tags.pop(k, None)
    return {}


def list_queue_tags(sqs: SqsState, p: Mapping[str, Any], now: float) -> dict[str, Any]:
    check_known(p, frozenset({"QueueUrl"}), "ListQueueTags")
    queue = queue_by_url(sqs, p.get("QueueUrl"))
    return {"Tags": dict(queue.tags)} if queue.tags else {}


def _normalize_sse(attrs: dict[str, str]) -> dict[str, str]:
    """AWS: a queue uses one kind of server-side encryption. With a KMS key SqsManagedSseEnabled
    reads "false" and the data key reuse period defaults to 300 s; without one the reuse period
    is not reported."""
    if attrs.get("KmsMasterKeyId"):
        attrs["SqsManagedSseEnabled"] = "false"
        attrs.setdefault(
            "KmsDataKeyReusePeriodSeconds", str(limits.KMS_DATA_KEY_REUSE_PERIOD_SECONDS_DEFAULT)
        )
    else:
        attrs.pop("KmsDataKeyReusePeriodSeconds", None)
    return attrs
