"""SQS: the queue core (:mod:`.queue`), messages (:mod:`.message`) and operations (:mod:`.service`)."""

from .queue import Queue
from .service import SqsOptions, SqsService

__all__ = ["Queue", "SqsOptions", "SqsService"]
