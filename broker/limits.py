"""Every AWS limit and default msgsim enforces, named as AWS names it.

Values in seconds unless the name says otherwise. Where AWS lets a user configure a value, the
``*_MIN``/``*_MAX`` pair is the allowed range and ``*_DEFAULT`` the value AWS uses when unset.
"""

from __future__ import annotations

# --- SQS: queue attributes (SetQueueAttributes / CreateQueue ranges) ---------------------------
VISIBILITY_TIMEOUT_DEFAULT = 30
VISIBILITY_TIMEOUT_MIN = 0
VISIBILITY_TIMEOUT_MAX = 43_200  # 12 hours, also the cap on total visibility since first receive

MESSAGE_RETENTION_PERIOD_DEFAULT = 345_600  # 4 days
MESSAGE_RETENTION_PERIOD_MIN = 60
MESSAGE_RETENTION_PERIOD_MAX = 1_209_600  # 14 days

#: The issue pins the classic 256 KiB default; AWS raised the maximum to 1 MiB in August 2025.
MAXIMUM_MESSAGE_SIZE_DEFAULT = 262_144
MAXIMUM_MESSAGE_SIZE_MIN = 1_024
MAXIMUM_MESSAGE_SIZE_MAX = 1_048_576

DELAY_SECONDS_DEFAULT = 0
DELAY_SECONDS_MIN = 0
DELAY_SECONDS_MAX = 900  # 15 minutes

RECEIVE_MESSAGE_WAIT_TIME_SECONDS_DEFAULT = 0
RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MIN = 0
RECEIVE_MESSAGE_WAIT_TIME_SECONDS_MAX = 20

KMS_DATA_KEY_REUSE_PERIOD_SECONDS_DEFAULT = 300
KMS_DATA_KEY_REUSE_PERIOD_SECONDS_MIN = 60
KMS_DATA_KEY_REUSE_PERIOD_SECONDS_MAX = 86_400

MAX_RECEIVE_COUNT_MIN = 1
MAX_RECEIVE_COUNT_MAX = 1_000
REDRIVE_ALLOW_SOURCE_QUEUE_ARNS_MAX = 10

# --- SQS: names, ids, messages ------------------------------------------------------------------
QUEUE_NAME_MAX_LENGTH = 80
MAX_NUMBER_OF_MESSAGES_MIN = 1
MAX_NUMBER_OF_MESSAGES_MAX = 10
MAX_NUMBER_OF_MESSAGES_DEFAULT = 1
MESSAGE_ATTRIBUTES_MAX = 10
MESSAGE_ATTRIBUTE_NAME_MAX_LENGTH = 256
MESSAGE_ATTRIBUTE_DATA_TYPE_MAX_LENGTH = 256
MESSAGE_GROUP_ID_MAX_LENGTH = 128
MESSAGE_DEDUPLICATION_ID_MAX_LENGTH = 128
RECEIVE_REQUEST_ATTEMPT_ID_MAX_LENGTH = 128
NUMBER_ATTRIBUTE_MAX_DIGITS = 38

# --- SQS: batches ---------------------------------------------------------------------------------
BATCH_ENTRIES_MAX = 10
BATCH_ENTRY_ID_MAX_LENGTH = 80

# --- SQS: windows and rate rules ------------------------------------------------------------------
DEDUPLICATION_INTERVAL = 300  # 5 minutes, FIFO dedup and ReceiveRequestAttemptId window
RECEIVE_REQUEST_ATTEMPT_ID_INTERVAL = 300
PURGE_QUEUE_INTERVAL = 60  # a second PurgeQueue within 60 s fails with PurgeQueueInProgress
QUEUE_DELETED_RECENTLY_INTERVAL = 60  # recreate the same name only after 60 s
INFLIGHT_MESSAGES_MAX_STANDARD = 120_000
INFLIGHT_MESSAGES_MAX_FIFO = 120_000

# --- SQS: listing and tags ------------------------------------------------------------------------
LIST_QUEUES_MAX_RESULTS = 1_000
LIST_QUEUES_MAX_RESULTS_MIN = 1
QUEUE_TAGS_MAX = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 256

# --- SQS: message move tasks ----------------------------------------------------------------------
MESSAGE_MOVE_MAX_PER_SECOND_MIN = 1
MESSAGE_MOVE_MAX_PER_SECOND_MAX = 500
#: When no rate is given AWS picks one (optimising for throughput); msgsim uses the maximum.
MESSAGE_MOVE_DEFAULT_PER_SECOND = 500
LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_MIN = 1
LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_MAX = 10
LIST_MESSAGE_MOVE_TASKS_MAX_RESULTS_DEFAULT = 1

# --- SQS: FIFO throughput (enforced only when the broker enforces throughput) --------------------
FIFO_TRANSACTIONS_PER_SECOND = 300  # per API action, per queue (normal) or per group (high)
STANDARD_FAIR_QUEUE_NOISY_SHARE = 0.10  # fair queues: a tenant over 10 % of in-flight ...
STANDARD_FAIR_QUEUE_NOISY_MIN_INFLIGHT = 30  # ... with at least 30 in flight is "noisy"

# ---------------------------------------------------------------- SNS
SNS_TOPIC_NAME_MAX_LENGTH = 256
SNS_MESSAGE_SIZE_MAX = 262_144  # message plus attributes, per Publish and per PublishBatch
SNS_SUBJECT_MAX_LENGTH = 99  # "must be less than 100 characters"
SNS_LIST_PAGE_SIZE = 100  # ListTopics, ListSubscriptions, ListSubscriptionsByTopic
SNS_TOPICS_PER_ACCOUNT = 100_000  # adjustable quota (TopicLimitExceeded)
SNS_FILTER_POLICIES_PER_TOPIC = 200  # adjustable quota (FilterPolicyLimitExceeded)
SNS_FILTER_POLICIES_PER_ACCOUNT = 10_000  # adjustable quota
SNS_TAGS_MAX = 50
SNS_CONFIRMATION_TOKEN_LIFETIME = 3 * 86_400  # tokens are valid for three days
SNS_HTTP_DELIVERY_TIMEOUT = 15  # an HTTP/S endpoint that takes longer has failed the attempt
SNS_RAW_SQS_ATTRIBUTES_MAX = 10  # SQS takes at most 10 message attributes

# --- SNS: HTTP/S delivery policies (DeliveryPolicy of topics and subscriptions) ---------------
SNS_DELIVERY_POLICY_MIN_DELAY_TARGET_DEFAULT = 20  # minDelayTarget, seconds
SNS_DELIVERY_POLICY_MIN_DELAY_TARGET_MIN = 1  # both delay targets: 1 second ...
SNS_DELIVERY_POLICY_MAX_DELAY_TARGET_DEFAULT = 20  # maxDelayTarget, seconds
SNS_DELIVERY_POLICY_MAX_DELAY_TARGET_MAX = 3_600  # ... to 3,600 seconds
SNS_DELIVERY_POLICY_NUM_RETRIES_DEFAULT = 3  # numRetries
SNS_DELIVERY_POLICY_NUM_RETRIES_MIN = 0
SNS_DELIVERY_POLICY_NUM_RETRIES_MAX = 100
SNS_DELIVERY_POLICY_TOTAL_RETRY_TIME_MAX = 3_600  # hard limit on a policy's total retry time
SNS_DELIVERY_POLICY_MAX_RECEIVES_PER_SECOND_MIN = 1  # throttlePolicy; no throttling by default
SNS_DELIVERY_POLICY_HEADER_CONTENT_TYPE_DEFAULT = "text/plain; charset=UTF-8"  # requestPolicy

# --- SNS: subscription filter policies (broker/filters.py) ----------------------------------------
SNS_FILTER_POLICY_MAX_KEYS = 5  # per OR branch; body scope counts top-level keys only
SNS_FILTER_POLICY_MAX_COMBINATIONS = 150  # sum over OR branches of prod(conditions x depth)
SNS_FILTER_POLICY_MAX_SIZE = 262_144  # bytes of policy JSON ("256 KB")
SNS_FILTER_POLICY_NUMERIC_DECIMAL_DIGITS = 5  # numbers compare to 5 digits after the point
SNS_FILTER_POLICY_NUMERIC_MIN = -1_000_000_000  # documented range; AWS accepts beyond it
SNS_FILTER_POLICY_NUMERIC_MAX = 1_000_000_000

# --- Kinesis Data Streams ----------------------------------------------------------------------
KINESIS_HASH_KEY_MAX = 2**128 - 1  # shards own contiguous ranges of 0 .. 2^128 - 1
KINESIS_STREAM_NAME_MAX = 128
KINESIS_PARTITION_KEY_MAX = 256  # Unicode characters
#: Data blob (before base64) plus partition key, per record. MaxRecordSizeInKiB (2025) raises it
#: per stream, from 1,024 KiB up to 10,240 KiB.
KINESIS_MAX_RECORD_SIZE_KIB_DEFAULT = 1_024
KINESIS_MAX_RECORD_SIZE_KIB_MIN = 1_024
KINESIS_MAX_RECORD_SIZE_KIB_MAX = 10_240
KINESIS_PUT_RECORDS_MAX_RECORDS = 500
KINESIS_PUT_RECORDS_MAX_BYTES = 5 * 1_048_576  # whole request, at the default record size
KINESIS_GET_RECORDS_LIMIT_MAX = 10_000
KINESIS_GET_RECORDS_MAX_BYTES = 10 * 1_048_576
# Per-shard throughput (provisioned and on-demand alike).
KINESIS_SHARD_WRITE_BYTES_PER_SECOND = 1_048_576
KINESIS_SHARD_WRITE_RECORDS_PER_SECOND = 1_000
KINESIS_SHARD_READ_BYTES_PER_SECOND = 2 * 1_048_576
KINESIS_SHARD_READ_CALLS_PER_SECOND = 5
#: Enhanced fan-out: each consumer gets its own 2 MiB/s per shard.
KINESIS_EFO_BYTES_PER_SECOND = 2 * 1_048_576
KINESIS_ITERATOR_TTL = 300  # a shard iterator expires 5 minutes after it is issued
KINESIS_NEXT_TOKEN_TTL = 300  # ListShards / ListStreamConsumers NextToken
KINESIS_RETENTION_HOURS_DEFAULT = 24
KINESIS_RETENTION_HOURS_MIN = 24
KINESIS_RETENTION_HOURS_MAX = 8_760  # 365 days
KINESIS_SHARDS_PER_ACCOUNT = 500  # us-east-1, us-west-2, eu-west-1 (200 in other regions)
KINESIS_ON_DEMAND_STREAMS_PER_ACCOUNT = 50
KINESIS_ON_DEMAND_INITIAL_SHARDS = 4  # an on-demand stream starts with 4 MiB/s of write capacity
KINESIS_UPDATE_SHARD_COUNT_PER_DAY = 10  # per rolling 24 hours
KINESIS_SHARDS_PER_STREAM_MAX = 10_000  # UpdateShardCount upper bound
KINESIS_STREAM_MODE_SWITCHES_PER_DAY = 2
KINESIS_CONSUMERS_PER_STREAM = 20
KINESIS_CONSUMERS_CREATING_MAX = 5  # consumers in CREATING state at once, per stream
KINESIS_SUBSCRIPTION_SECONDS = 300  # one SubscribeToShard call streams for 5 minutes
KINESIS_RESUBSCRIBE_INTERVAL = 5  # a new subscription for a consumer-shard within 5 s is refused
KINESIS_TAGS_PER_STREAM = 50
KINESIS_TAGS_PER_CALL = 10
KINESIS_TAG_KEY_MAX = 128
KINESIS_TAG_VALUE_MAX = 256
KINESIS_CONSUMER_NAME_MAX = 128

# ---------------------------------------------------------------------------- Lambda
LAMBDA_FUNCTION_NAME_MAX = 64  # a bare name; ARNs may be longer
LAMBDA_TIMEOUT_DEFAULT = 3  # seconds
LAMBDA_TIMEOUT_MIN = 1
LAMBDA_TIMEOUT_MAX = 900
LAMBDA_MEMORY_DEFAULT = 128  # MB
LAMBDA_MEMORY_MIN = 128
LAMBDA_MEMORY_MAX = 10_240
LAMBDA_ENVIRONMENT_MAX_BYTES = 4_096  # all variables together
LAMBDA_SYNC_PAYLOAD_MAX = 6_291_456  # 6 MB, request and response of a RequestResponse invoke
LAMBDA_ASYNC_PAYLOAD_MAX = 1_048_576  # 1 MB for InvocationType=Event (256 KB before late 2025)
LAMBDA_LOG_TAIL_BYTES = 4_096  # LogType=Tail returns the last 4 KB of the log
LAMBDA_ACCOUNT_CONCURRENCY_DEFAULT = 1_000  # ConcurrentExecutions, per region
LAMBDA_UNRESERVED_CONCURRENCY_MIN = 100  # reserved concurrency must leave this much unreserved
# Asynchronous invocation (PutFunctionEventInvokeConfig).
LAMBDA_ASYNC_RETRY_ATTEMPTS_DEFAULT = 2
LAMBDA_ASYNC_RETRY_ATTEMPTS_MAX = 2
LAMBDA_EVENT_AGE_DEFAULT = 21_600  # MaximumEventAgeInSeconds: 6 hours
LAMBDA_EVENT_AGE_MIN = 60
LAMBDA_EVENT_AGE_MAX = 21_600
#: Delays before the 2nd and 3rd attempt of an async event after a function error.
LAMBDA_ASYNC_RETRY_DELAYS = (60, 120)
#: Longest back-off of an async event whose function has no worker left (msgsim's choice; AWS
#: backs off throttled events up to 5 minutes): it is retried as soon as that, without counting.
LAMBDA_ASYNC_NO_WORKER_RETRY_MAX = 30.0
# Event source mappings.
LAMBDA_ESM_BATCH_SIZE_MAX = 10_000
LAMBDA_ESM_SQS_BATCH_SIZE_DEFAULT = 10
LAMBDA_ESM_SQS_FIFO_BATCH_SIZE_MAX = 10
LAMBDA_ESM_KINESIS_BATCH_SIZE_DEFAULT = 100
LAMBDA_ESM_BATCHING_WINDOW_MAX = 300
LAMBDA_ESM_SQS_MAX_CONCURRENCY_MIN = 2
LAMBDA_ESM_SQS_MAX_CONCURRENCY_MAX = 1_000  # ScalingConfig.MaximumConcurrency
#: Without ScalingConfig an SQS mapping scales to at most 1,250 concurrent invokes.
LAMBDA_ESM_SQS_CONCURRENCY_DEFAULT_MAX = 1_250
#: What a poller counts per record, beyond the body, when it fills a batch to the 6 MB payload
#: limit (the record's ids, receipt handle, attributes and JSON punctuation).
LAMBDA_ESM_SQS_RECORD_OVERHEAD = 1_024
LAMBDA_ESM_SQS_INITIAL_POLLERS = 5  # an SQS mapping starts with five concurrent batches
LAMBDA_ESM_SQS_SCALE_UP_PER_MINUTE = 300  # ... and adds up to 300 a minute while messages remain
LAMBDA_ESM_PARALLELIZATION_MAX = 10
LAMBDA_ESM_RETRY_ATTEMPTS_MAX = 10_000
LAMBDA_ESM_RECORD_AGE_MIN = 60
LAMBDA_ESM_RECORD_AGE_MAX = 604_800
LAMBDA_ESM_TUMBLING_WINDOW_MAX = 900
LAMBDA_ESM_FILTERS_MAX = 5
