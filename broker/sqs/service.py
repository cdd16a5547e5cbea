"""The SQS service: the one operation table over the queue cores.

Each operation takes the AWS request parameters as a dict and ``now`` (trio clock seconds),
validates the whole request before changing anything, lets the :class:`~msgsim.broker.sqs.queue.Queue`
core decide, and returns the AWS JSON-protocol response shape (what boto3 shows, minus
ResponseMetadata). Errors are :class:`~msgsim.broker.errors.BrokerError` with AWS's codes.

:data:`OPERATIONS` below is the whole API, by AWS name. The operations themselves are plain
functions over the shared :class:`~msgsim.broker.sqs.state.SqsState`, one module per seam:

- :mod:`.queues`: queue management (create, delete, URL, list, attributes, tags, purge);
- :mod:`.sending` and :mod:`.receiving`: one message in, and out (receive, delete, visibility);
- :mod:`.batches`: the three batch operations, entry by entry through the two above;
- :mod:`.redrive`: message move tasks (DLQ redrive);
- :mod:`.addressing`: queue URLs and ARNs, receipt handles; :mod:`.throughput`: FIFO quotas;
- :mod:`.pollers`: what Lambda's event source mappings take and delete, inside the broker.

:class:`SqsService` is that state plus the table bound to it. It subclasses the state (rather
than holding it) because the runtime, the functions service and SNS read the state's fields
(``touched``, ``jobs``, ``queues``) on the service itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from types import MethodType
from typing import Any

from . import batches, pollers, queues, receiving, redrive, sending
from .state import SqsState

#: AWS operation name -> its function, called as ``function(state, params, now)``.
OPERATIONS: dict[str, Callable[..., Any]] = {
    "CreateQueue": queues.create_queue,
    "DeleteQueue": queues.delete_queue,
    "GetQueueUrl": queues.get_queue_url,
    "ListQueues": queues.list_queues,
    "GetQueueAttributes": queues.get_queue_attributes,
    "SetQueueAttributes": queues.set_queue_attributes,
    "SendMessage": sending.send_message,
    "SendMessageBatch": batches.send_message_batch,
    "ReceiveMessage": receiving.receive_message,
    "DeleteMessage": receiving.delete_message,
    "DeleteMessageBatch": batches.delete_message_batch,
    "ChangeMessageVisibility": receiving.change_message_visibility,
    "ChangeMessageVisibilityBatch": batches.change_message_visibility_batch,
    "PurgeQueue": queues.purge_queue,
    "TagQueue": queues.tag_queue,
    "UntagQueue": queues.untag_queue,
    "ListQueueTags": queues.list_queue_tags,
    "ListDeadLetterSourceQueues": queues.list_dead_letter_source_queues,
    "StartMessageMoveTask": redrive.start_message_move_task,
    "ListMessageMoveTasks": redrive.list_message_move_tasks,
    "CancelMessageMoveTask": redrive.cancel_message_move_task,
}


class SqsService(SqsState):
    """All queues of one broker (one account, one region), and their operations."""

    name = "sqs"

    @cached_property
    def operations(self) -> dict[str, Callable[[Mapping[str, Any], float], Any]]:
        """The table bound to this service: ``operations[name](params, now)``. Bound methods, as
        the operations were when they were methods, so Broker.call's one call per request costs
        what it did; made on first use, then a plain attribute."""
        return {name: MethodType(function, self) for name, function in OPERATIONS.items()}

    # Entry points for the other services, bound as methods: SNS delivers into queues, the
    # functions service's pollers take from them.
    deliver = sending.deliver
    deliver_text = sending.deliver_text
    receive_for_lambda = pollers.receive_for_lambda
    lambda_record = pollers.lambda_record
    delete_for_lambda = pollers.delete_for_lambda

    def stats(self) -> dict[str, int]:
        return {
            "queues": len(self.queues),
            "messages": sum(len(q) for q in self.queues.values()),
            "inflight": sum(q.n_inflight for q in self.queues.values()),
        }
