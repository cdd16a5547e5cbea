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
