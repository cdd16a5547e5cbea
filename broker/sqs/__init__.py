"""SQS: the queue core (:mod:`.queue`), messages (:mod:`.message`) and operations (:mod:`.service`)."""

from .options import SqsOptions
from .queue import Queue
from .service import SqsService

__all__ = ["Queue", "SqsOptions", "SqsService"]
