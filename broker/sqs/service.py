"""The SQS service: one operation table over the queue cores.

Each operation takes the AWS request parameters as a dict and ``now`` (trio clock seconds),
validates the whole request before changing anything, lets the :class:`~msgsim.broker.sqs.queue.Queue`
core decide, and returns the AWS JSON-protocol response shape (what boto3 shows, minus
ResponseMetadata). Errors are :class:`~msgsim.broker.errors.BrokerError` with AWS's codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import re
from base64 import b64decode, b64encode
from collections.abc import Callable, Mapping
from struct import pack, unpack
from typing import Any
from zlib import crc32

from .. import limits
from ..clock import Epoch
from ..errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    BrokerError,
    EmptyBatchRequest,
    InvalidAddress,
    InvalidAttributeName,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameterValue,
    MissingParameter,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    ResourceNotFoundException,
    ThrottlingException,
    TooManyEntriesInBatchRequest,
)
from ..ids import uuid4_batch, uuid4_from
from ..operation import Job, Park
from ..params import (
    check_int,
    check_known,
    entries,
    optional_int,
    optional_str,
    required_str,
    safe_repr,
    str_list,
    str_map,
)
from . import attributes as qattrs
from .message import (
    CONTROL_TO_HIGH,
    Message,
    attributes_size,
    first_forbidden_char,
    md5_digest,
    md5_for,
    md5_of_attributes,
)
from .queue import Queue

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_BATCH_ID_TEXT = re.compile(r"[A-Za-z0-9_-]+")  # the characters of several ids, joined
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,250})?")
_FIFO_TOKEN = re.compile(r"[!-~]{1,128}")  # alphanumerics and punctuation
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_RECEIPT_PREFIX = "AQEB"

_SYSTEM_ATTRIBUTE_NAMES = frozenset(
    {
        "All",
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "SequenceNumber",
        "MessageDeduplicationId",
        "MessageGroupId",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
        "SqsManagedSseEnabled",
    }
)


class SqsOptions:
    """Broker-wide SQS behaviour switches (see ``Broker.open``)."""

    __slots__ = ("at_least_once", "enforce_throughput")

    def __init__(self, at_least_once: bool = False, enforce_throughput: bool = False) -> None:
        #: AWS's standard-queue behaviours: duplicates, best-effort order, sampling short polls.
        self.at_least_once = at_least_once
        #: FIFO throughput quotas (300 transactions/s per action per queue, or per message
        #: group in high-throughput mode) answered with ThrottlingException.
        self.enforce_throughput = enforce_throughput


class MoveTask:
    """A StartMessageMoveTask in progress or finished."""

    __slots__ = (
        "cancelled",
        "destination_arn",
        "failure",
        "handle",
        "moved",
        "rate",
        "rate_given",
        "source_arn",
        "started_ms",
        "status",
        "to_move",
    )

    def __init__(self, handle: str, source_arn: str, destination_arn: str | None) -> None:
        self.handle = handle
        self.source_arn = source_arn
        self.destination_arn = destination_arn
        self.rate = limits.MESSAGE_MOVE_DEFAULT_PER_SECOND
        self.rate_given = False
        self.status = "RUNNING"
        self.moved = 0
        self.to_move = 0
        self.started_ms = 0
        self.failure: str | None = None
        self.cancelled = False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.status == "RUNNING":
            out["TaskHandle"] = self.handle
        out["Status"] = self.status
        out["SourceArn"] = self.source_arn
        if self.destination_arn is not None:
            out["DestinationArn"] = self.destination_arn
        if self.rate_given:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        out["ApproximateNumberOfMessagesMoved"] = self.moved
        out["ApproximateNumberOfMessagesToMove"] = self.to_move
        if self.failure:
            out["FailureReason"] = self.failure
        out["StartedTimestamp"] = self.started_ms
        return out


class SqsService:
    """All queues of one broker (one account, one region)."""

    name = "sqs"

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
        self.queues: dict[str, Queue] = {}
        self._by_url: dict[str, Queue] = {}
        self._by_arn: dict[str, Queue] = {}
        self._deleted_at: dict[str, float] = {}
        self._uids = 0
        self._seal = rng.getrandbits(32)
        self.url_prefix = f"https://sqs.{region}.amazonaws.com/{account_id}/"
        self.arn_prefix = f"arn:aws:sqs:{region}:{account_id}:"
        #: queue uids whose receivable set may have grown; the runtime wakes their long polls
        self.touched: set[int] = set()
        #: background work started by the last operations; the runtime runs and empties it
        self.jobs: list[Job] = []
        self._tasks: dict[str, MoveTask] = {}
        self._tasks_by_source: dict[str, list[MoveTask]] = {}
        self._rate_windows: dict[Any, list[float]] = {}
        self.operations: dict[str, Callable[[Mapping[str, Any], float], Any]] = {
            "CreateQueue": self.create_queue,
            "DeleteQueue": self.delete_queue,
            "GetQueueUrl": self.get_queue_url,
            "ListQueues": self.list_queues,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
            "PurgeQueue": self.purge_queue,
            "TagQueue": self.tag_queue,
            "UntagQueue": self.untag_queue,
            "ListQueueTags": self.list_queue_tags,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            "StartMessageMoveTask": self.start_message_move_task,
            "ListMessageMoveTasks": self.list_message_move_tasks,
            "CancelMessageMoveTask": self.cancel_message_move_task,
        }

    # ================================================================== lookup helpers
    def queue_by_url(self, url: Any) -> Queue:
        if type(url) is str:
            queue = self._by_url.get(url)
            if queue is not None:
                return queue
        if url is None or url == "":
            raise MissingParameter("The request must contain the parameter QueueUrl.")
        if type(url) is not str:
            raise InvalidAddress("The address of the queue must be a string URL.")
        parts = url.rstrip("/").rsplit("/", 2)
        if len(parts) < 3 or not parts[-1]:
            # Also accept a bare queue name, as several SDKs resolve names locally.
            if "/" not in url and url in self.queues:
                return self.queues[url]
            raise InvalidAddress(f"The address {url} is not valid for this endpoint.")
        account, name = parts[-2], parts[-1]
        queue = self.queues.get(name)
        if queue is None or account != self.account_id:
            raise QueueDoesNotExist("The specified queue does not exist.")
        return queue

    def queue_by_arn(self, arn: str) -> Queue | None:
        return self._by_arn.get(arn)

    def _ready(self, params: Mapping[str, Any], now: float) -> Queue:
        queue = self.queue_by_url(params.get("QueueUrl"))
        queue.tick(now)
        return queue

    # ================================================================== receipt handles
    # A receipt handle is the queue's uid, the message's serial and its receive count, sealed
    # with a CRC seeded from the broker's RNG: enough to tell garbage and other queues' handles
    # (this is a simulator, not a security boundary) at a fraction of an HMAC's cost.
    def _handle(self, queue: Queue, msg: Message) -> str:
        raw = pack(">IQI", queue.uid, msg.serial, msg.receive_count)
        return _RECEIPT_PREFIX + b64encode(raw + pack(">I", crc32(raw, self._seal))).decode()

    def _parse_handle(self, queue: Queue, handle: Any) -> tuple[int, int]:
        """(serial, generation) of a receipt handle issued by ``queue``."""
        if handle is None or handle == "":
            raise MissingParameter("The request must contain the parameter ReceiptHandle.")
        if type(handle) is not str or not handle.startswith(_RECEIPT_PREFIX):
            raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not valid.')
        try:
            data = b64decode(handle[4:], validate=True)
        except (binascii.Error, ValueError):
            raise ReceiptHandleIsInvalid(
                f'The input receipt handle "{handle}" is not valid.'
            ) from None
        if len(data) != 20:
            raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not valid.')
        raw = data[:16]
        if crc32(raw, self._seal) != unpack(">I", data[16:])[0]:
            raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not valid.')
        uid, serial, gen = unpack(">IQI", raw)
        if uid != queue.uid:
            raise ReceiptHandleIsInvalid(
                f'The receipt handle "{handle}" is not valid for this queue.'
            )
        return serial, gen

    # ================================================================== throttling
    def _throttle(self, queue: Queue, action: str, now: float, group: str | None = None) -> None:
        """FIFO quotas when enforced: 300 transactions per second per API action, per queue in
        normal mode and per message group in high-throughput mode."""
        key = (queue.uid, action, group if queue.high_throughput else None)
        window = self._rate_windows.get(key)
        second = float(int(now))
        if window is None or window[0] != second:
            self._rate_windows[key] = [second, 1]
            return
        if window[1] >= limits.FIFO_TRANSACTIONS_PER_SECOND:
            raise ThrottlingException(
                f"Rate exceeded: {limits.FIFO_TRANSACTIONS_PER_SECOND} {action} transactions per "
                "second for this FIFO queue" + (" message group." if group else ".")
            )
        window[1] += 1

    # ================================================================== queues
    _CREATE = frozenset({"QueueName", "Attributes", "tags"})

    def create_queue(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, self._CREATE, "CreateQueue")
        name = required_str(p, "QueueName")
        raw = p.get("Attributes") or {}
        if not isinstance(raw, Mapping):
            raise InvalidParameterValue("Attributes must be a map of attribute names to values.")
        tags = self._check_tags(str_map(p, "tags"))
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
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in "
                "length"
            )
        fifo = fifo_attr == "true"
        if fifo != is_fifo_name:
            raise InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                "underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        values = qattrs.validate(raw, fifo=fifo, creating=True)
        existing = self.queues.get(name)
        if existing is not None:
            current = self._attribute_values(existing)
            for key, value in values.items():
                if current.get(key, qattrs.DEFAULTS.get(key)) != value:
                    raise QueueNameExists(
                        "A queue already exists with the same name and a different value for "
                        f"attribute {key}"
                    )
            return {"QueueUrl": self.url_prefix + name}
        deleted = self._deleted_at.get(name)
        if deleted is not None and now - deleted < limits.QUEUE_DELETED_RECENTLY_INTERVAL:
            raise QueueDeletedRecently(
                "You must wait 60 seconds after deleting a queue before you can create another "
                "with the same name."
            )
        arn = self.arn_prefix + name
        self._check_redrive(values, arn, fifo)
        self._uids += 1
        queue = Queue(
            name=name,
            uid=self._uids,
            fifo=fifo,
            created_at=now,
            rng=self.rng,
            at_least_once=self.options.at_least_once,
        )
        queue.arn = arn
        queue.url = self.url_prefix + name
        queue.attrs = _normalize_sse({k: v for k, v in values.items() if k != "FifoQueue"})
        queue.tags = tags
        queue.last_purge = None
        qattrs.apply(queue, queue.attrs)
        self.queues[name] = queue
        self._by_url[queue.url] = queue
        self._by_arn[arn] = queue
        self._deleted_at.pop(name, None)
        return {"QueueUrl": queue.url}

    def _check_redrive(self, values: Mapping[str, str], arn: str, fifo: bool) -> None:
        if "RedriveAllowPolicy" in values:
            qattrs.parse_redrive_allow_policy(values["RedriveAllowPolicy"])
        policy = values.get("RedrivePolicy")
        if not policy:
            return
        target_arn, _ = qattrs.parse_redrive_policy(policy)  # type: ignore[misc]
        prefix = f"Value {policy} for parameter RedrivePolicy is invalid. Reason: "
        target = self._by_arn.get(target_arn)
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

    def delete_queue(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl"}), "DeleteQueue")
        queue = self.queue_by_url(p.get("QueueUrl"))
        del self.queues[queue.name]
        self._by_url = {u: q for u, q in self._by_url.items() if q is not queue}
        del self._by_arn[queue.arn]
        self._deleted_at[queue.name] = now
        queue.purge()
        self.touched.add(queue.uid)
        return {}

    def get_queue_url(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueName", "QueueOwnerAWSAccountId"}), "GetQueueUrl")
        name = required_str(p, "QueueName")
        owner = optional_str(p, "QueueOwnerAWSAccountId")
        queue = self.queues.get(name)
        if queue is None or (owner is not None and owner != self.account_id):
            raise QueueDoesNotExist("The specified queue does not exist.")
        return {"QueueUrl": queue.url}

    def _page(
        self, names: list[str], p: Mapping[str, Any], key: str
    ) -> tuple[list[str], str | None]:
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

    def list_queues(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueNamePrefix", "NextToken", "MaxResults"}), "ListQueues")
        prefix = optional_str(p, "QueueNamePrefix") or ""
        names = sorted(n for n in self.queues if n.startswith(prefix))
        page, token = self._page(names, p, "q")
        out: dict[str, Any] = {}
        if page:
            out["QueueUrls"] = [self.url_prefix + n for n in page]
        if token:
            out["NextToken"] = token
        return out

    def list_dead_letter_source_queues(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p, frozenset({"QueueUrl", "NextToken", "MaxResults"}), "ListDeadLetterSourceQueues"
        )
        queue = self.queue_by_url(p.get("QueueUrl"))
        names = sorted(n for n, q in self.queues.items() if q.redrive_target_arn == queue.arn)
        page, token = self._page(names, p, "d")
        out: dict[str, Any] = {"queueUrls": [self.url_prefix + n for n in page]}
        if token:
            out["NextToken"] = token
        return out

    def _attribute_values(self, queue: Queue) -> dict[str, str]:
        values: dict[str, str] = {k: v for k, v in qattrs.DEFAULTS.items() if v is not None}
        if queue.fifo:
            values.update(qattrs.FIFO_DEFAULTS)
        values.update(queue.attrs)
        return values

    def get_queue_attributes(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl", "AttributeNames"}), "GetQueueAttributes")
        queue = self._ready(p, now)
        names = str_list(p, "AttributeNames")
        for n in names:
            if n != "All" and (
                n not in qattrs.ALL_NAMES or (not queue.fifo and n in qattrs.FIFO_ONLY)
            ):
                raise InvalidAttributeName(f"Unknown Attribute {n}.")
        if not names:
            return {}
        wanted = set(qattrs.ALL_NAMES) if "All" in names else set(names)
        values = self._attribute_values(queue)
        values.update(
            {
                "ApproximateNumberOfMessages": str(queue.n_available),
                "ApproximateNumberOfMessagesNotVisible": str(queue.n_inflight),
                "ApproximateNumberOfMessagesDelayed": str(queue.n_delayed),
                "CreatedTimestamp": str(int(self.epoch.wall(queue.created_at))),
                "LastModifiedTimestamp": str(int(self.epoch.wall(queue.modified_at))),
                "QueueArn": queue.arn,
            }
        )
        out = {k: v for k, v in values.items() if k in wanted and v != ""}
        return {"Attributes": out} if out else {}

    def set_queue_attributes(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl", "Attributes"}), "SetQueueAttributes")
        queue = self._ready(p, now)
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
        self._check_redrive(merged, queue.arn, queue.fifo)
        queue.attrs = merged
        qattrs.apply(queue, merged)
        queue.modified_at = now
        self.touched.add(queue.uid)
        return {}

    def purge_queue(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl"}), "PurgeQueue")
        queue = self._ready(p, now)
        if queue.last_purge is not None and now - queue.last_purge < limits.PURGE_QUEUE_INTERVAL:
            raise PurgeQueueInProgress(
                f"Only one PurgeQueue operation on {queue.name} is allowed every "
                f"{limits.PURGE_QUEUE_INTERVAL} seconds."
            )
        queue.last_purge = now
        queue.purge()
        return {}

    # ================================================================== tags
    def _check_tags(self, tags: dict[str, str]) -> dict[str, str]:
        for k, v in tags.items():
            if not 1 <= len(k) <= limits.TAG_KEY_MAX_LENGTH or k.lower().startswith("aws:"):
                raise InvalidParameterValue(
                    f"Tag key {k!r} is invalid: keys are 1 to {limits.TAG_KEY_MAX_LENGTH} "
                    "characters and may not start with 'aws:'."
                )
            if len(v) > limits.TAG_VALUE_MAX_LENGTH:
                raise InvalidParameterValue(
                    f"Tag value for key {k!r} is longer than {limits.TAG_VALUE_MAX_LENGTH} "
                    "characters."
                )
        if len(tags) > limits.QUEUE_TAGS_MAX:
            raise InvalidParameterValue(
                f"Too many tags: a queue may have at most {limits.QUEUE_TAGS_MAX}."
            )
        return tags

    def tag_queue(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl", "Tags"}), "TagQueue")
        queue = self.queue_by_url(p.get("QueueUrl"))
        tags = str_map(p, "Tags")
        if not tags:
            raise MissingParameter("The request must contain the parameter Tags.")
        self._check_tags(tags)
        merged = {**queue.tags, **tags}
        if len(merged) > limits.QUEUE_TAGS_MAX:
            raise InvalidParameterValue(f"Too many tags added for queue {queue.name}.")
        queue.tags = merged
        return {}

    def untag_queue(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl", "TagKeys"}), "UntagQueue")
        queue = self.queue_by_url(p.get("QueueUrl"))
        keys = str_list(p, "TagKeys", required=True)
        if not keys:
            raise MissingParameter("The request must contain the parameter TagKeys.")
        for k in keys:
            queue.tags.pop(k, None)
        return {}

    def list_queue_tags(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl"}), "ListQueueTags")
        queue = self.queue_by_url(p.get("QueueUrl"))
        return {"Tags": dict(queue.tags)} if queue.tags else {}

    # ================================================================== send
    _SEND = frozenset(
        {
            "QueueUrl",
            "MessageBody",
            "DelaySeconds",
            "MessageAttributes",
            "MessageSystemAttributes",
            "MessageDeduplicationId",
            "MessageGroupId",
        }
    )
    _SEND_ENTRY = (_SEND - {"QueueUrl"}) | {"Id"}

    def send_message(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        if not p.keys() <= self._SEND:
            check_known(p, self._SEND, "SendMessage")
        queue = self._ready(p, now)
        prepared = self._prepare(queue, p, now)
        if self.options.enforce_throughput and queue.fifo:
            self._throttle(queue, "SendMessage", now, prepared[0].group_id)
        self.touched.add(queue.uid)
        return self._enqueue(queue, prepared, now)

    def deliver(self, queue: Queue, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        """SendMessage on behalf of another service (an SNS subscription): the queue's own rules
        apply (size, attributes, FIFO groups and deduplication); raises BrokerError."""
        queue.tick(now)
        prepared = self._prepare(queue, p, now)
        self.touched.add(queue.uid)
        return self._enqueue(queue, prepared, now)

    def deliver_text(
        self,
        queue: Queue,
        body: str,
        group_id: str | None,
        dedup_id: str | None,
        now: float,
        checked: bool = False,
    ) -> None:
        """SendMessage of a body another service built and validated (an SNS envelope): only
        the queue's own rules are checked here -- its size limit, the characters (unless
        ``checked``), a FIFO queue's group and deduplication. Raises BrokerError."""
        queue.tick(now)
        if not checked:
            _check_body_chars(body)
        data = body.encode()
        if len(data) > queue.max_size:
            raise _too_long(queue)
        dedup_key = None
        if queue.fifo:
            if group_id is None or dedup_id is None:
                raise MissingParameter("The request must contain the parameter MessageGroupId.")
            dedup_key = queue.dedup_key(group_id, dedup_id)
        msg = Message("", body, md5_digest(data), now, None, None, None, None, group_id, dedup_id)
        self.touched.add(queue.uid)
        self._enqueue(queue, (msg, queue.delay, dedup_key, len(data)), now)

    def _prepare(
        self, queue: Queue, p: Mapping[str, Any], now: float, batch: bool = False
    ) -> tuple[Message, int, Any, int]:
        """Validate one message; (message, delay, dedup key, size). Changes nothing."""
        body = p.get("MessageBody")
        if len(p) == 2 and not queue.fifo and type(body) is str and body:
            # Fast path: only the body (plus QueueUrl or the batch entry Id).
            if body.isascii():
                data = body.encode()
                if len(data) <= queue.max_size and data.translate(CONTROL_TO_HIGH).isascii():
                    return Message("", body, md5_digest(data), now), queue.delay, None, len(data)
        if body is None or body == "":
            raise MissingParameter("The request must contain the parameter MessageBody.")
        if type(body) is not str:
            raise InvalidParameterValue("The parameter MessageBody must be a string.")
        _check_body_chars(body)
        data = body.encode("utf-8", "surrogatepass")
        size = len(data)
        raw_attrs = p.get("MessageAttributes")
        attrs = md5_attrs = None
        if raw_attrs:
            attrs = self._message_attributes(raw_attrs, "MessageAttributes")
            size += attributes_size(attrs)
            md5_attrs = md5_of_attributes(attrs)
        if size > queue.max_size:
            raise _too_long(queue)
        raw_system = p.get("MessageSystemAttributes")
        system = md5_system = None
        if raw_system:
            system = self._message_attributes(raw_system, "MessageSystemAttributes")
            for name, attr in system.items():
                if name != "AWSTraceHeader" or attr["DataType"] != "String":
                    raise InvalidParameterValue(
                        f"Message system attribute {name} is not supported: only AWSTraceHeader "
                        "(String) may be sent."
                    )
            md5_system = md5_of_attributes(system)
        delay = p.get("DelaySeconds")
        group_id = p.get("MessageGroupId")
        dedup_id = p.get("MessageDeduplicationId")
        dedup_key = None
        if queue.fifo:
            if delay is not None and delay != 0:
                check_int(delay, "DelaySeconds", limits.DELAY_SECONDS_MIN, limits.DELAY_SECONDS_MAX)
                raise InvalidParameterValue(
                    f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request "
                    "include parameter that is not valid for this queue type."
                )
            delay = queue.delay
            if group_id is None or group_id == "":
                cls = InvalidParameterValue if batch else MissingParameter
                raise cls("The request must contain the parameter MessageGroupId.")
            self._fifo_token(group_id, "MessageGroupId")
            if dedup_id is None:
                if not queue.content_based_dedup:
                    raise InvalidParameterValue(
                        "The queue should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly"
                    )
                dedup_id = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
            else:
                self._fifo_token(dedup_id, "MessageDeduplicationId")
            dedup_key = queue.dedup_key(group_id, dedup_id)
        else:
            if delay is None:
                delay = queue.delay
            else:
                delay = check_int(
                    delay,
                    "DelaySeconds",
                    limits.DELAY_SECONDS_MIN,
                    limits.DELAY_SECONDS_MAX,
                    "DelaySeconds must be >= 0 and <= 900.",
                )
            if dedup_id is not None:
                raise InvalidParameterValue(
                    f"Value {dedup_id} for parameter MessageDeduplicationId is invalid. Reason: "
                    "The request includes a parameter that is not valid for this queue type."
                )
            if group_id is not None:
                self._fifo_token(group_id, "MessageGroupId")
        msg = Message(
            "",
            body,
            md5_digest(data),
            now,
            attrs,
            md5_attrs,
            system,
            md5_system,
            group_id,
            dedup_id,
        )
        return msg, delay, dedup_key, size

    def _enqueue(
        self, queue: Queue, prepared: tuple[Message, int, Any, int], now: float
    ) -> dict[str, Any]:
        msg, delay, dedup_key, _ = prepared
        if dedup_key is not None:
            seen = queue.dedup_lookup(dedup_key, now)
            if seen is not None:
                out = {"MD5OfMessageBody": msg.md5_body.hex(), "MessageId": seen[0]}
                if msg.md5_attributes:
                    out["MD5OfMessageAttributes"] = msg.md5_attributes
                if msg.md5_system:
                    out["MD5OfMessageSystemAttributes"] = msg.md5_system
                if seen[1]:
                    out["SequenceNumber"] = seen[1]
                return out
            msg.sequence_number = queue.next_sequence_number()
        msg.message_id = uuid4_from(self.rng)
        queue.send(msg, delay, now, dedup_key)  # callers mark the queue touched, once
        out = {"MD5OfMessageBody": msg.md5_body.hex(), "MessageId": msg.message_id}
        if msg.md5_attributes:
            out["MD5OfMessageAttributes"] = msg.md5_attributes
        if msg.md5_system:
            out["MD5OfMessageSystemAttributes"] = msg.md5_system
        if msg.sequence_number:
            out["SequenceNumber"] = msg.sequence_number
        return out

    @staticmethod
    def _fifo_token(value: Any, name: str) -> None:
        if type(value) is not str or not _FIFO_TOKEN.fullmatch(value):
            raise InvalidParameterValue(
                f"Value {value} for parameter {name} is invalid. Reason: {name} can contain up "
                "to 128 alphanumeric and punctuation characters."
            )

    @staticmethod
    def _message_attributes(raw: Any, param: str) -> dict[str, dict[str, Any]]:
        if not isinstance(raw, Mapping):
            raise InvalidParameterValue(f"{param} must be a map of names to attribute values.")
        if len(raw) > limits.MESSAGE_ATTRIBUTES_MAX:
            raise InvalidParameterValue(
                f"Number of message attributes [{len(raw)}] exceeds the allowed maximum "
                f"[{limits.MESSAGE_ATTRIBUTES_MAX}]."
            )
        out: dict[str, dict[str, Any]] = {}
        for name, attr in raw.items():
            if (
                type(name) is not str
                or not _ATTR_NAME.fullmatch(name)
                or name.startswith(".")
                or name.endswith(".")
                or ".." in name
            ):
                raise InvalidParameterValue(
                    f"Message attribute name '{name}' is invalid: names are 1 to 256 characters "
                    "of A-Z, a-z, 0-9, underscore, hyphen and period, not starting or ending with "
                    "a period and without consecutive periods."
                )
            lower = name.lower()
            if lower.startswith("aws.") or lower.startswith("amazon."):
                raise InvalidParameterValue(
                    f"Message attribute name '{name}' is reserved: names may not start with "
                    "'AWS.' or 'Amazon.'."
                )
            if not isinstance(attr, Mapping):
                raise InvalidParameterValue(f"Message attribute '{name}' must be a map.")
            extra = set(attr) - {
                "DataType",
                "StringValue",
                "BinaryValue",
                "StringListValues",
                "BinaryListValues",
            }
            if extra:
                raise InvalidParameterValue(
                    f"Message attribute '{name}' has unknown fields: "
                    f"{', '.join(sorted(map(safe_repr, extra)))}."
                )
            data_type = attr.get("DataType")
            if not data_type:
                raise InvalidParameterValue(
                    f"The message attribute '{name}' must contain a non-empty message attribute "
                    "type."
                )
            if (
                type(data_type) is not str
                or len(data_type) > limits.MESSAGE_ATTRIBUTE_DATA_TYPE_MAX_LENGTH
                or not _DATA_TYPE.fullmatch(data_type)
            ):
                raise InvalidParameterValue(
                    f"The type of message (user) attribute '{name}' is invalid. You must use only "
                    "the following supported type prefixes: Binary, Number, String."
                )
            if attr.get("StringListValues") or attr.get("BinaryListValues"):
                raise InvalidParameterValue(
                    f"Message attribute '{name}': StringListValues and BinaryListValues are "
                    "reserved by AWS and not implemented."
                )
            if data_type.startswith("Binary"):
                value = attr.get("BinaryValue")
                if isinstance(value, (bytearray, memoryview)):
                    value = bytes(value)
                elif isinstance(value, str):
                    try:
                        value = value.encode("utf-8")
                    except UnicodeEncodeError:
                        pass  # a lone surrogate is no text: still a str, refused below
                if "StringValue" in attr or type(value) is not bytes or not value:
                    raise InvalidParameterValue(
                        f"Message (user) attribute '{name}' must contain a non-empty value of "
                        "type 'Binary'."
                    )
                out[name] = {"DataType": data_type, "BinaryValue": value}
                continue
            value = attr.get("StringValue")
            base = "Number" if data_type.startswith("Number") else "String"
            if "BinaryValue" in attr or type(value) is not str or not value:
                raise InvalidParameterValue(
                    f"Message (user) attribute '{name}' must contain a non-empty value of type "
                    f"'{base}'."
                )
            if first_forbidden_char(value) is not None:
                raise InvalidMessageContents(
                    f"Message attribute '{name}' contains characters outside the allowed set."
                )
            if base == "Number":
                _check_number(name, value)
            out[name] = {"DataType": data_type, "StringValue": value}
        return out

    _SEND_BATCH = frozenset({"QueueUrl", "Entries"})

    def send_message_batch(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, self._SEND_BATCH, "SendMessageBatch")
        queue = self._ready(p, now)
        if not queue.fifo and not queue.delay:
            fast = self._send_plain_batch(queue, p.get("Entries"), now)
            if fast is not None:
                return fast
        batch = self._batch_entries(p)
        ids: list[str] = []
        items: list[Any] = []  # a prepared message, or the BrokerError of a failed entry
        total = 0
        allowed = self._SEND_ENTRY
        prepare = self._prepare
        for entry in batch:
            if not entry.keys() <= allowed:
                check_known(entry, allowed, "SendMessageBatch entry")
            try:
                item = prepare(queue, entry, now, True)
            except BrokerError as err:
                if (
                    queue.fifo
                    and "MessageGroupId" in err.message
                    and err.code != "MissingParameter"
                ):
                    raise  # AWS fails the whole FIFO batch when an entry lacks MessageGroupId
                item = err
            else:
                total += item[3]
            ids.append(entry["Id"])
            items.append(item)
        if total > queue.max_size:
            raise BatchRequestTooLong(
                f"Batch requests cannot be longer than {queue.max_size} bytes. You have sent "
                f"{total} bytes."
            )
        if self.options.enforce_throughput and queue.fifo:
            self._throttle(queue, "SendMessageBatch", now)
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        enqueue = self._enqueue
        for entry_id, item in zip(ids, items, strict=True):
            if type(item) is not tuple:
                failed.append(_failure(entry_id, item))
                continue
            result = enqueue(queue, item, now)
            result["Id"] = entry_id
            ok.append(result)
        if ok:
            self.touched.add(queue.uid)
        return {"Successful": ok, "Failed": failed}

    def _send_plain_batch(self, queue: Queue, batch: Any, now: float) -> dict[str, Any] | None:
        """The common batch, checked as a whole rather than entry by entry: a standard queue
        without a default delay, and a list of 1 to 10 entries that carry only a distinct,
        well-formed Id and an ASCII MessageBody without forbidden control characters, together
        within the size limit. Anything else answers None before changing anything, and the
        general path validates it entry by entry with the same outcome."""
        if type(batch) is not list or not 0 < len(batch) <= limits.BATCH_ENTRIES_MAX:
            return None
        n = len(batch)
        ids = [e["Id"] for e in batch if type(e) is dict and len(e) == 2 and "Id" in e]
        if len(ids) != n:
            return None
        try:
            bodies = [e["MessageBody"] for e in batch]
        except KeyError:
            return None
        types = set(map(type, ids))
        types.update(map(type, bodies))
        if types != {str}:
            return None
        text = "".join(bodies)
        id_text = "".join(ids)
        if (
            not text.isascii()  # so that its length is its size in bytes
            or not all(bodies)
            or len(text) > queue.max_size
            or first_forbidden_char(text) is not None
            or not all(ids)
            or max(map(len, ids)) > 80
            or len(set(ids)) != n
            or not ((id_text.isascii() and id_text.isalnum()) or _BATCH_ID_TEXT.fullmatch(id_text))
        ):
            return None
        md5 = md5_for(max(map(len, bodies)))
        digests = [md5(body.encode()).digest() for body in bodies]
        message_ids = uuid4_batch(self.rng, n)
        queue.send_plain(message_ids, bodies, digests, now)
        self.touched.add(queue.uid)
        return {
            "Successful": [
                {"MD5OfMessageBody": d.hex(), "MessageId": m, "Id": i}
                for i, d, m in zip(ids, digests, message_ids, strict=True)
            ],
            "Failed": [],
        }

    def _batch_entries(self, p: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        batch = entries(p, "Entries")
        if not batch:
            raise EmptyBatchRequest("There should be at least one entry in the request.")
        if len(batch) > limits.BATCH_ENTRIES_MAX:
            raise TooManyEntriesInBatchRequest(
                f"Maximum number of entries per request are {limits.BATCH_ENTRIES_MAX}. You have "
                f"sent {len(batch)}."
            )
        seen: set[str] = set()
        for entry in batch:
            entry_id = entry.get("Id")
            if entry_id is None:
                raise MissingParameter("The request must contain the parameter Entries.N.Id.")
            if type(entry_id) is not str or not _BATCH_ID.fullmatch(entry_id):
                raise InvalidBatchEntryId(
                    "A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long."
                )
            if entry_id in seen:
                raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
            seen.add(entry_id)
        return batch

    # ================================================================== receive
    _RECEIVE = frozenset(
        {
            "QueueUrl",
            "AttributeNames",
            "MessageSystemAttributeNames",
            "MessageAttributeNames",
            "MaxNumberOfMessages",
            "VisibilityTimeout",
            "WaitTimeSeconds",
            "ReceiveRequestAttemptId",
        }
    )

    def receive_message(self, p: Mapping[str, Any], now: float) -> dict[str, Any] | Park:
        if not p.keys() <= self._RECEIVE:
            check_known(p, self._RECEIVE, "ReceiveMessage")
        queue = self._ready(p, now)
        max_n = p.get("MaxNumberOfMessages", 1)
        if type(max_n) is not int or not 1 <= max_n <= 10:
            max_n = check_int(
                max_n,
                "MaxNumberOfMessages",
                limits.MAX_NUMBER_OF_MESSAGES_MIN,
                limits.MAX_NUMBER_OF_MESSAGES_MAX,
                "Must be between 1 and 10, if provided.",
            )
        visibility = optional_int(
            p, "VisibilityTimeout", limits.VISIBILITY_TIMEOUT_MIN, limits.VISIBILITY_TIMEOUT_MAX
        )
        if visibility is None:
            visibility = queue.visibility_timeout
        wait = optional_int(
            p,
            "WaitTimeSeconds",
            limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MIN,
            limits.RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MAX,
        )
        if wait is None:
            wait = queue.wait_time
        attempt_id = optional_str(p, "ReceiveRequestAttemptId")
        if attempt_id is not None:
            self._fifo_token(attempt_id, "ReceiveRequestAttemptId")
            if not queue.fifo:
                attempt_id = None  # AWS: only FIFO queues use it; standard queues ignore it
        view = _View(p)
        if self.options.enforce_throughput and queue.fifo:
            self._throttle(queue, "ReceiveMessage", now)
        sample = self.options.at_least_once and wait == 0

        def attempt(t: float, final: bool) -> dict[str, Any] | None:
            live = self.queues.get(queue.name)
            if live is not queue:
                return {}  # deleted while waiting
            queue.tick(t)
            redrive_to = None
            if queue.max_receive_count:
                redrive_to = self._by_arn.get(queue.redrive_target_arn)  # type: ignore[arg-type]
            got = queue.receive(t, max_n, visibility, redrive_to, attempt_id, sample)
            if redrive_to is not None:
                self.touched.add(redrive_to.uid)
            if not got:
                return {} if final else None
            return {"Messages": [self._render(queue, m, view) for m in got]}

        result = attempt(now, wait == 0)
        if result is not None:
            return result
        return Park(now + wait, queue.uid, attempt, queue.next_timer)

    def _render(self, queue: Queue, msg: Message, view: _View) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": msg.message_id,
            "ReceiptHandle": self._handle(queue, msg),
            "MD5OfBody": msg.md5_body.hex(),
            "Body": msg.body,
        }
        if view.system:
            attrs = self._system_attributes(queue, msg, view.system)
            if attrs:
                out["Attributes"] = attrs
        if msg.attributes and view.any_attrs:
            chosen = view.pick(msg.attributes)
            if chosen:
                out["MD5OfMessageAttributes"] = (
                    msg.md5_attributes
                    if len(chosen) == len(msg.attributes)
                    else md5_of_attributes(chosen)
                )
                out["MessageAttributes"] = {k: dict(v) for k, v in chosen.items()}
        return out

    def _system_attributes(self, queue: Queue, msg: Message, names: frozenset[str]) -> dict:
        every = "All" in names
        out: dict[str, str] = {}

        def want(n: str) -> bool:
            return every or n in names

        if want("SenderId"):
            out["SenderId"] = self.account_id
        if want("SentTimestamp"):
            out["SentTimestamp"] = str(self.epoch.wall_ms(msg.sent_at))
        if want("ApproximateReceiveCount"):
            out["ApproximateReceiveCount"] = str(msg.receive_count)
        if want("ApproximateFirstReceiveTimestamp") and msg.first_receive is not None:
            out["ApproximateFirstReceiveTimestamp"] = str(self.epoch.wall_ms(msg.first_receive))
        if msg.system and want("AWSTraceHeader"):
            out["AWSTraceHeader"] = msg.system["AWSTraceHeader"]["StringValue"]
        if msg.group_id is not None and want("MessageGroupId"):
            out["MessageGroupId"] = msg.group_id
        if queue.fifo:
            if want("MessageDeduplicationId"):
                out["MessageDeduplicationId"] = msg.dedup_id  # type: ignore[assignment]
            if want("SequenceNumber"):
                out["SequenceNumber"] = msg.sequence_number  # type: ignore[assignment]
        if msg.origin is not None and want("DeadLetterQueueSourceArn"):
            out["DeadLetterQueueSourceArn"] = msg.origin
        if (
            want("SqsManagedSseEnabled")
            and queue.attrs.get("SqsManagedSseEnabled", "true") == "true"
        ):
            out["SqsManagedSseEnabled"] = "true"
        return out

    # ================================================================== Lambda's pollers
    # An event source mapping's pollers take messages inside the broker: no request to check,
    # no response to render. The records they build are the ones Lambda hands a handler.
    def receive_for_lambda(self, queue: Queue, n: int, now: float) -> list[Message]:
        """Up to ``n`` messages for a poller, in flight for the queue's visibility timeout, with
        the redrive policy applied as for any receive."""
        queue.tick(now)
        redrive_to = None
        if queue.max_receive_count:
            redrive_to = self._by_arn.get(queue.redrive_target_arn)  # type: ignore[arg-type]
        got = queue.receive(now, n, queue.visibility_timeout, redrive_to)
        if redrive_to is not None:
            self.touched.add(redrive_to.uid)
        return got

    def lambda_record(self, queue: Queue, msg: Message, region: str) -> dict[str, Any]:
        """The record Lambda hands a handler for one received message (lower camelCase keys,
        the system attributes Lambda includes, message attributes with list fields)."""
        wall_ms = self.epoch.wall_ms
        extra = msg.extra
        attrs: dict[str, Any] = {
            "ApproximateReceiveCount": str(msg.receive_count),
            "SentTimestamp": str(wall_ms(msg.sent_at)),
        }
        if extra is None and msg.group_id is None:  # the common case: a plain message
            attrs["SenderId"] = self.account_id
            attrs["ApproximateFirstReceiveTimestamp"] = str(wall_ms(msg.first_receive))  # type: ignore[arg-type]
        else:
            if queue.fifo:
                attrs["SequenceNumber"] = msg.sequence_number
            if msg.group_id is not None:
                attrs["MessageGroupId"] = msg.group_id
            attrs["SenderId"] = self.account_id
            if queue.fifo:
                attrs["MessageDeduplicationId"] = msg.dedup_id
            attrs["ApproximateFirstReceiveTimestamp"] = str(wall_ms(msg.first_receive))  # type: ignore[arg-type]
            if msg.system:
                attrs["AWSTraceHeader"] = msg.system["AWSTraceHeader"]["StringValue"]
            if msg.origin is not None:
                attrs["DeadLetterQueueSourceArn"] = msg.origin
        record: dict[str, Any] = {
            "messageId": msg.message_id,
            "receiptHandle": self._handle(queue, msg),
            "body": msg.body,
            "attributes": attrs,
            "messageAttributes": {},
            "md5OfBody": msg.md5_body.hex(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue.arn,
            "awsRegion": region,
        }
        if extra is not None and extra.attributes:
            out = {}
            for name, value in extra.attributes.items():
                entry: dict[str, Any] = {"stringListValues": [], "binaryListValues": []}
                if "BinaryValue" in value:
                    entry["binaryValue"] = b64encode(value["BinaryValue"]).decode()
                else:
                    entry["stringValue"] = value.get("StringValue")
                entry["dataType"] = value["DataType"]
                out[name] = entry
            record["messageAttributes"] = out
            record["md5OfMessageAttributes"] = extra.md5_attributes
        return record

    def delete_for_lambda(self, queue: Queue, taken: list[tuple[Message, int]]) -> None:
        """Delete what a poller processed: (message, receive count when taken) pairs, as a
        DeleteMessageBatch with their receipt handles would (a superseded handle deletes
        nothing)."""
        deleted = False
        for msg, generation in taken:
            try:
                deleted = queue.delete(msg.serial, generation) or deleted
            except BrokerError:
                continue  # a lapsed FIFO handle: the message is back in the queue
        if deleted and queue.fifo:
            self.touched.add(queue.uid)

    # ================================================================== by receipt handle
    def delete_message(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        if p.keys() != {"QueueUrl", "ReceiptHandle"}:
            check_known(p, frozenset({"QueueUrl", "ReceiptHandle"}), "DeleteMessage")
        queue = self._ready(p, now)
        serial, gen = self._parse_handle(queue, p.get("ReceiptHandle"))
        if self.options.enforce_throughput and queue.fifo:
            self._throttle(queue, "DeleteMessage", now)
        if queue.delete(serial, gen) and queue.fifo:
            self.touched.add(queue.uid)
        return {}

    def delete_message_batch(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl", "Entries"}), "DeleteMessageBatch")
        queue = self._ready(p, now)
        batch = self._batch_entries(p)
        if self.options.enforce_throughput and queue.fifo:
            self._throttle(queue, "DeleteMessageBatch", now)
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        deleted = False
        for entry in batch:
            try:
                check_known(entry, frozenset({"Id", "ReceiptHandle"}), "DeleteMessageBatch entry")
                serial, gen = self._parse_handle(queue, entry.get("ReceiptHandle"))
                deleted = queue.delete(serial, gen) or deleted
            except BrokerError as err:
                failed.append(_failure(entry["Id"], err))
                continue
            ok.append({"Id": entry["Id"]})
        if deleted and queue.fifo:
            self.touched.add(queue.uid)
        return {"Successful": ok, "Failed": failed}

    def change_message_visibility(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        allowed = frozenset({"QueueUrl", "ReceiptHandle", "VisibilityTimeout"})
        check_known(p, allowed, "ChangeMessageVisibility")
        queue = self._ready(p, now)
        self._change_visibility(queue, p, now)
        return {}

    def _change_visibility(self, queue: Queue, p: Mapping[str, Any], now: float) -> None:
        serial, gen = self._parse_handle(queue, p.get("ReceiptHandle"))
        timeout = p.get("VisibilityTimeout")
        if timeout is None:
            raise MissingParameter("The request must contain the parameter VisibilityTimeout.")
        timeout = check_int(
            timeout,
            "VisibilityTimeout",
            limits.VISIBILITY_TIMEOUT_MIN,
            limits.VISIBILITY_TIMEOUT_MAX,
        )
        msg = queue.get(serial)
        if not queue.fifo and msg is not None and gen < msg.receive_count:
            return  # AWS: a superseded handle on a standard queue is answered 200, no change
        queue.change_visibility(serial, gen, timeout, now)
        if timeout == 0:
            self.touched.add(queue.uid)

    def change_message_visibility_batch(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"QueueUrl", "Entries"}), "ChangeMessageVisibilityBatch")
        queue = self._ready(p, now)
        batch = self._batch_entries(p)
        ok: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry in batch:
            try:
                check_known(
                    entry,
                    frozenset({"Id", "ReceiptHandle", "VisibilityTimeout"}),
                    "ChangeMessageVisibilityBatch entry",
                )
                self._change_visibility(queue, entry, now)
            except BrokerError as err:
                failed.append(_failure(entry["Id"], err))
                continue
            ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}

    # ================================================================== message move tasks
    def _queue_for_arn_param(self, p: Mapping[str, Any], name: str) -> Queue:
        arn = required_str(p, name)
        parts = arn.split(":")
        if len(parts) != 6 or parts[0] != "arn":
            raise InvalidParameterValue(
                f"You must use this format to specify the {name}: "
                "arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
            )
        queue = self._by_arn.get(arn)
        if queue is None:
            raise ResourceNotFoundException(
                f"The resource that you specified for the {name} parameter doesn't exist."
            )
        return queue

    def start_message_move_task(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(
            p,
            frozenset({"SourceArn", "DestinationArn", "MaxNumberOfMessagesPerSecond"}),
            "StartMessageMoveTask",
        )
        source = self._queue_for_arn_param(p, "SourceArn")
        destination = None
        if p.get("DestinationArn") is not None:
            destination = self._queue_for_arn_param(p, "DestinationArn")
        rate = optional_int(
            p,
            "MaxNumberOfMessagesPerSecond",
            limits.MESSAGE_MOVE_MAX_PER_SECOND_MIN,
            limits.MESSAGE_MOVE_MAX_PER_SECOND_MAX,
        )
        if not any(q.redrive_target_arn == source.arn for q in self.queues.values()):
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        for task in self._tasks_by_source.get(source.arn, ()):
            if task.status == "RUNNING":
                raise InvalidParameterValue(
                    "There is already a task running. Only one active task is allowed for a "
                    "source queue arn at a given time."
                )
        token = f"{uuid4_from(self.rng)}|{source.arn}"
        handle = base64.b64encode(token.encode()).decode()
        task = MoveTask(handle, source.arn, destination.arn if destination is not None else None)
        if rate is not None:
            task.rate = rate
            task.rate_given = True
        source.tick(now)
        task.to_move = source.n_available
        task.started_ms = self.epoch.wall_ms(now)
        self._tasks[handle] = task
        self._tasks_by_source.setdefault(source.arn, []).append(task)
        self.jobs.append(Job(lambda t: self._move_step(task, t), 1.0))
        return {"TaskHandle": handle}

    def _move_step(self, task: MoveTask, now: float) -> bool:
        """Move up to one second's worth of messages; True when the task has ended."""
        if task.status != "RUNNING":
            return True
        source = self._by_arn.get(task.source_arn)
        if source is None:
            task.status, task.failure = "FAILED", "The source queue was deleted."
            return True
        source.tick(now)
        fixed = None
        if task.destination_arn is not None:
            fixed = self._by_arn.get(task.destination_arn)
            if fixed is None:
                task.status, task.failure = "FAILED", "The destination queue was deleted."
                return True
        for _ in range(task.rate):
            if task.moved >= task.to_move:
                break
            msg = source.take_oldest_available()
            if msg is None:
                break
            target = fixed
            if target is None and msg.origin is not None:
                target = self._by_arn.get(msg.origin)
            if target is None:
                source.accept_moved(msg, now, msg.origin)
                task.status = "FAILED"
                task.failure = (
                    "A message has no existing source queue to return to; give a DestinationArn."
                )
                return True
            target.tick(now)
            # AWS: a redriven message counts as a new message -- new MessageId, new enqueue time,
            # receive count from zero (else it would bounce straight back to the DLQ).
            msg.message_id = uuid4_from(self.rng)
            msg.sent_at = now
            msg.receive_count = 0
            msg.first_receive = None
            target.accept_moved(msg, now, None)
            self.touched.add(target.uid)
            task.moved += 1
        if task.moved >= task.to_move or not source.n_available:
            task.status = "COMPLETED"
            return True
        return False

    def list_message_move_tasks(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"SourceArn", "MaxResults"}), "ListMessageMoveTasks")
        source = self._queue_for_arn_param(p, "SourceArn")
        n = optional_int(
            p,
            "MaxResults",
            limits.LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_MIN,
            limits.LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_MAX,
        )
        n = n or limits.LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_DEFAULT
        tasks = self._tasks_by_source.get(source.arn, [])
        return {"Results": [t.describe() for t in reversed(tasks[-n:])]}

    def cancel_message_move_task(self, p: Mapping[str, Any], now: float) -> dict[str, Any]:
        check_known(p, frozenset({"TaskHandle"}), "CancelMessageMoveTask")
        handle = required_str(p, "TaskHandle")
        task = self._tasks.get(handle)
        if task is None:
            try:
                decoded = base64.b64decode(handle, validate=True).decode()
            except (binascii.Error, ValueError):
                decoded = ""
            if "|" not in decoded:
                raise InvalidParameterValue("Value for parameter TaskHandle is invalid.")
            raise ResourceNotFoundException("Task does not exist.")
        if task.status != "RUNNING":
            raise InvalidParameterValue(
                f"Only a running task can be cancelled; this task is {task.status}."
            )
        task.status = "CANCELLED"
        return {"ApproximateNumberOfMessagesMoved": task.moved}

    # ================================================================== introspection
    def stats(self) -> dict[str, int]:
        return {
            "queues": len(self.queues),
            "messages": sum(len(q) for q in self.queues.values()),
            "inflight": sum(q.n_inflight for q in self.queues.values()),
        }


class _View:
    """Which attributes a ReceiveMessage asked for, worked out once per call."""

    __slots__ = ("any_attrs", "attr_all", "attr_names", "attr_prefixes", "system")

    def __init__(self, p: Mapping[str, Any]) -> None:
        system = str_list(p, "MessageSystemAttributeNames")
        for n in system:
            if n not in _SYSTEM_ATTRIBUTE_NAMES:
                raise InvalidAttributeName(f"Unknown Attribute {n}.")
        legacy = [n for n in str_list(p, "AttributeNames") if n in _SYSTEM_ATTRIBUTE_NAMES]
        self.system = frozenset(system) | frozenset(legacy)
        names = str_list(p, "MessageAttributeNames")
        self.attr_all = "All" in names or ".*" in names
        self.attr_prefixes = tuple(n[:-1] for n in names if n.endswith(".*") and n != ".*")
        self.attr_names = frozenset(n for n in names if not n.endswith(".*") and n != "All")
        self.any_attrs = bool(names)

    def pick(self, attrs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if self.attr_all:
            return attrs
        return {
            k: v
            for k, v in attrs.items()
            if k in self.attr_names or (self.attr_prefixes and k.startswith(self.attr_prefixes))
        }


def _check_number(name: str, value: str) -> None:
    v = value.strip()
    if not _NUMBER.fullmatch(v):
        raise InvalidParameterValue(
            f"Can't cast the value of message (user) attribute '{name}' to a number."
        )
    mantissa = v.lstrip("+-").split("e")[0].split("E")[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if len(digits) > limits.NUMBER_ATTRIBUTE_MAX_DIGITS:
        raise InvalidParameterValue(
            f"Value of message (user) attribute '{name}' has more than "
            f"{limits.NUMBER_ATTRIBUTE_MAX_DIGITS} significant digits."
        )
    number = float(v)
    if not (-1e128 <= number <= 1e126):
        raise InvalidParameterValue(
            f"Value of message (user) attribute '{name}' is outside the range -10^128 to 10^126."
        )


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


def _check_body_chars(body: str) -> None:
    bad = first_forbidden_char(body)  # itself quick on printable ASCII
    if bad is not None:
        raise InvalidMessageContents(
            f"Invalid characters found (U+{ord(bad):04X}). Valid unicode characters are "
            "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )


def _too_long(queue: Queue) -> InvalidParameterValue:
    return InvalidParameterValue(
        "One or more parameters are invalid. Reason: Message must be shorter than "
        f"{queue.max_size} bytes."
    )


def _failure(entry_id: str, err: BrokerError) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "SenderFault": err.sender_fault,
        "Code": err.code,
        "Message": err.message,
    }
