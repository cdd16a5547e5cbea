"""Kinesis Data Streams: ordered shards, iterators, resharding and enhanced fan-out."""
