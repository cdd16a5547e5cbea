"""SNS: topics, subscriptions, fanout delivery and filter policies (operations: :mod:`.service`)."""
