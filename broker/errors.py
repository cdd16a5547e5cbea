"""Errors that reach clients.

Every failure a client can see is a :class:`BrokerError` carrying the error code of the AWS API
reference (the JSON-protocol short name, e.g. ``QueueDoesNotExist``), a message that says what was
wrong and what is allowed, whether the caller is at fault, and -- where AWS defines one -- the
legacy query-protocol code (e.g. ``AWS.SimpleQueueService.NonExistentQueue``).

There is one subclass per code so callers may ``except QueueDoesNotExist``; code that only needs
the code string can compare ``err.code``.
"""

from __future__ import annotations

from typing import ClassVar


class BrokerError(Exception):
    """An error answer from the simulated cloud, shaped as AWS shapes it."""

    #: Code used when the class is raised without an explicit code.
    default_code: ClassVar[str] = "InternalFailure"
    #: Legacy query-protocol code, where AWS has one distinct from ``code``.
    default_query_code: ClassVar[str | None] = None
    default_sender_fault: ClassVar[bool] = True
    #: HTTP status AWS answers with (used by the HTTP adapter).
    http_status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        sender_fault: bool | None = None,
        query_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.sender_fault = self.default_sender_fault if sender_fault is None else sender_fault
        self.query_code = query_code or self.default_query_code or self.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """The error as the wire adapters send it."""
        return {
            "code": self.code,
            "message": self.message,
            "sender_fault": self.sender_fault,
            "query_code": self.query_code,
        }


_registry: dict[str, type[BrokerError]] = {}


def _define(
    name: str, query_code: str | None = None, *, sender_fault: bool = True, status: int = 400
) -> type[BrokerError]:
    cls = type(
        name,
        (BrokerError,),
        {
            "default_code": name,
            "default_query_code": query_code,
            "default_sender_fault": sender_fault,
            "http_status": status,
            "__doc__": f"AWS error ``{name}``.",
            "__module__": __name__,
        },
    )
    _registry[name] = cls
    return cls


def error_class(code: str) -> type[BrokerError]:
    """The subclass for ``code`` (``BrokerError`` itself for an unknown code)."""
    return _registry.get(code, BrokerError)


def from_dict(data: dict[str, object]) -> BrokerError:
    """Rebuild an error sent over a wire by :meth:`BrokerError.to_dict`."""
    code = str(data.get("code") or "InternalFailure")
    return error_class(code)(
        str(data.get("message") or ""),
        code=code,
        sender_fault=bool(data.get("sender_fault", True)),
        query_code=data.get("query_code") or None,  # type: ignore[arg-type]
    )


# Generic (shared by every service).
InternalFailure = _define("InternalFailure", sender_fault=False, status=500)
InvalidParameterValue = _define("InvalidParameterValue")
MissingParameter = _define("MissingParameter")
InvalidAction = _define("InvalidAction")
ValidationError = _define("ValidationError")
UnknownOperation = _define("UnknownOperationException")
RequestThrottled = _define("RequestThrottled", status=403)
ThrottlingException = _define("ThrottlingException")
#: The endpoint cannot answer: the daemon is shutting down or the connection to it was lost.
ServiceUnavailable = _define("ServiceUnavailable", sender_fault=False, status=503)
#: The client cancelled the request before it was answered (the AWS SDKs' code for this).
RequestCanceled = _define("RequestCanceled")
#: The request did not carry the shared token the daemon requires (``--token``).
InvalidClientTokenId = _define("InvalidClientTokenId", status=403)

# SQS
QueueDoesNotExist = _define("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
QueueDeletedRecently = _define(
    "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently"
)
QueueNameExists = _define("QueueNameExists", "QueueAlreadyExists")
ReceiptHandleIsInvalid = _define("ReceiptHandleIsInvalid")
InvalidIdFormat = _define("InvalidIdFormat")
MessageNotInflight = _define("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight")
OverLimit = _define("OverLimit", status=403)
PurgeQueueInProgress = _define(
    "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", status=403
)
TooManyEntriesInBatchRequest = _define(
    "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
)
EmptyBatchRequest = _define("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest")
BatchEntryIdsNotDistinct = _define(
    "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
)
BatchRequestTooLong = _define("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong")
InvalidBatchEntryId = _define("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId")
InvalidAttributeName = _define("InvalidAttributeName")
InvalidAttributeValue = _define("InvalidAttributeValue")
InvalidMessageContents = _define("InvalidMessageContents")
UnsupportedOperation = _define(
    "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation"
)
InvalidAddress = _define("InvalidAddress", status=404)
ResourceNotFoundException = _define("ResourceNotFoundException", status=404)
TooManyTags = _define("TooManyTags")

# SNS (query protocol: the code is also the query code)
InvalidParameter = _define("InvalidParameter")
NotFound = _define("NotFound", status=404)
AuthorizationError = _define("AuthorizationError", status=403)
SubscriptionLimitExceeded = _define("SubscriptionLimitExceeded", status=403)
FilterPolicyLimitExceeded = _define("FilterPolicyLimitExceeded", status=403)
TopicLimitExceeded = _define("TopicLimitExceeded", status=403)
TagLimitExceeded = _define("TagLimitExceeded")
ResourceNotFound = _define("ResourceNotFound", status=404)
EndpointDisabled = _define("EndpointDisabled")
ParameterValueInvalid = _define("ParameterValueInvalid")

# Kinesis (JSON protocol)
ResourceInUseException = _define("ResourceInUseException")
InvalidArgumentException = _define("InvalidArgumentException")
ProvisionedThroughputExceededException = _define("ProvisionedThroughputExceededException")
ExpiredIteratorException = _define("ExpiredIteratorException")
ExpiredNextTokenException = _define("ExpiredNextTokenException")
LimitExceededException = _define("LimitExceededException")
ValidationException = _define("ValidationException")

# Lambda
InvalidParameterValueException = _define("InvalidParameterValueException")
ResourceConflictException = _define("ResourceConflictException", status=409)
TooManyRequestsException = _define("TooManyRequestsException", status=429)
RequestTooLargeException = _define("RequestTooLargeException", status=413)
InvalidRequestContentException = _define("InvalidRequestContentException")
ServiceException = _define("ServiceException", sender_fault=False, status=500)
ResourceNotReadyException = _define("ResourceNotReadyException", sender_fault=False, status=502)
