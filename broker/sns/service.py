"""The SNS service: topics, subscriptions, publishing and fanout delivery, sans-IO; the one
operation table.

Every operation takes the AWS request parameters and ``now`` and returns the AWS response shape.
:data:`OPERATIONS` below is the whole API, by AWS name (plus msgsim's own ``ListOutbox``). The
operations are plain functions over the shared :class:`~msgsim.broker.sns.state.SnsState`, one
module per seam:

- :mod:`.topics` and :mod:`.tags`: topics, their attributes and tags;
- :mod:`.subscriptions` (subscribe, confirm, unsubscribe, list) and
  :mod:`.subscription_attributes` (their attributes, filter policies, filing for fanout);
- :mod:`.publishing`: Publish and PublishBatch, matching and fanout (message attributes in
  :mod:`.message_attributes`);
- :mod:`.delivery`: one attempt per subscription and message, per protocol; retries by the
  delivery policy; dead-letter queues; the outbox.

Publish never waits for a delivery: SQS deliveries happen within the call, HTTP/S requests are
handed to the runtime, retries are scheduled on the broker's clock.

:class:`SnsService` is that state plus the table bound to it. It subclasses the state (rather
than holding it) because the runtime and the functions service read and set the state's fields
(``outbound``, ``invoke_lambda``, ``topics``, ``touched``) on the service itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from types import MethodType
from typing import Any

from . import delivery, publishing, subscription_attributes, subscriptions, tags, topics
from .state import SnsState

#: AWS operation name -> its function, called as ``function(state, params, now)``.
OPERATIONS: dict[str, Callable[..., Any]] = {
    "CreateTopic": topics.create_topic,
    "DeleteTopic": topics.delete_topic,
    "ListTopics": topics.list_topics,
    "GetTopicAttributes": topics.get_topic_attributes,
    "SetTopicAttributes": topics.set_topic_attributes,
    "Subscribe": subscriptions.subscribe,
    "ConfirmSubscription": subscriptions.confirm_subscription,
    "Unsubscribe": subscriptions.unsubscribe,
    "ListSubscriptions": subscriptions.list_subscriptions,
    "ListSubscriptionsByTopic": subscriptions.list_subscriptions_by_topic,
    "GetSubscriptionAttributes": subscription_attributes.get_subscription_attributes,
    "SetSubscriptionAttributes": subscription_attributes.set_subscription_attributes,
    "Publish": publishing.publish,
    "PublishBatch": publishing.publish_batch,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
    "ListOutbox": delivery.list_outbox,
}


class SnsService(SnsState):
    """All topics and subscriptions of one broker (one account, one region), and their
    operations."""

    name = "sns"

    @cached_property
    def operations(self) -> dict[str, Callable[[Mapping[str, Any], float], Any]]:
        """:data:`OPERATIONS` bound to this service, as ``SqsService.operations`` is."""
        return {name: MethodType(function, self) for name, function in OPERATIONS.items()}

    # The runtime's hooks, bound as methods: it makes the HTTP/S requests and reports back, and
    # runs the retries when they fall due.
    http_result = delivery.http_result
    next_due = delivery.next_due
    run_due = delivery.run_due

    def stats(self) -> dict[str, int]:
        return {
            "topics": len(self.topics),
            "subscriptions": len(self.subscriptions),
            "delivered": self.delivered,
            "failed": self.failed,
            "dead_lettered": self.dead_lettered,
            "retries_scheduled": len(self.retries),
        }
