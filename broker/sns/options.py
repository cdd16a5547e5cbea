"""SNS's adjustable quotas, chosen when the broker opens (``Broker.open(sns_options=...)``).

The defaults are AWS's default quotas (``broker/limits.py``). AWS raises them on request;
benchmarks and tests raise them here.
"""

from __future__ import annotations

from .. import limits


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
