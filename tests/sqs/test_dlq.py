"""Dead-letter queues of AWS SQS: RedrivePolicy, RedriveAllowPolicy,
ListDeadLetterSourceQueues and DLQ redrive (message move tasks)."""

from __future__ import annotations

import json

import pytest
import trio

from msgsim.broker import BrokerError

ACCOUNT = "000000000000"
REGION = "us-east-1"


def arn(name):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def redrive(target_arn, max_receive_count):
    return json.dumps({"deadLetterTargetArn": target_arn, "maxReceiveCount": max_receive_count})


async def make_queue(sqs, name, **attributes):
    attrs = {key: str(value) for key, value in attributes.items()}
    return (await sqs.create_queue(QueueName=name, Attributes=attrs))["QueueUrl"]


async def queue_arn(sqs, url):
    attrs = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attrs["Attributes"]["QueueArn"]


async def receive(sqs, url, **kwargs):
    kwargs.setdefault("MessageSystemAttributeNames", ["All"])
    kwargs.setdefault("MessageAttributeNames", ["All"])
    response = await sqs.receive_message(QueueUrl=url, **kwargs)
    return response.get("Messages", [])


async def visible_count(sqs, url):
    attrs = await sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


async def drain(sqs, url):
    """Receive-and-delete everything visible; returns the messages."""
    out = []
    while messages := await receive(sqs, url, MaxNumberOfMessages=10):
        for m in messages:
            out.append(m)
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


async def expect_error(code, call, **kwargs):
    with pytest.raises(BrokerError) as info:
        await call(**kwargs)
    assert info.value.code == code, (info.value.code, info.value.message)
    return info.value


async def source_with_dlq(sqs, source="src", dlq="dlq", max_receive_count=1):
    dlq_url = await make_queue(sqs, dlq)
    src_url = await make_queue(
        sqs, source, RedrivePolicy=redrive(await queue_arn(sqs, dlq_url), max_receive_count)
    )
    return src_url, dlq_url


async def dead_letter(sqs, src_url, dlq_url, bodies):
    """Send bodies to a source queue with maxReceiveCount=1 and fail them all into the DLQ.
    Returns the MessageIds in send order."""
    ids = [
        (await sqs.send_message(QueueUrl=src_url, MessageBody=body))["MessageId"] for body in bodies
    ]
    received = 0
    while received < len(bodies):
        received += len(await receive(sqs, src_url, MaxNumberOfMessages=10, VisibilityTimeout=1))
    await trio.sleep(2)
    for _ in range(len(bodies) + 5):
        if await visible_count(sqs, dlq_url) == len(bodies):
            break
        assert await receive(sqs, src_url, MaxNumberOfMessages=10) == []
    assert await visible_count(sqs, dlq_url) == len(bodies)
    assert await visible_count(sqs, src_url) == 0
    return ids


async def latest_task(sqs, source_arn):
    results = (await sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10))["Results"]
    return results[0]


# ------------------------------------------------------------------- RedrivePolicy


async def test_message_moves_to_dlq_on_the_receive_after_max_receive_count(autojump_clock, sqs):
    """AWS: once a message has been received maxReceiveCount times without being deleted,
    the next receive attempt moves it to the dead-letter queue instead of returning it."""
    src_url, dlq_url = await source_with_dlq(sqs, max_receive_count=3)
    sent = await sqs.send_message(
        QueueUrl=src_url,
        MessageBody="poison",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "bad"}},
    )
    for expected_count in ("1", "2", "3"):
        [msg] = await receive(sqs, src_url, VisibilityTimeout=5)
        assert msg["MessageId"] == sent["MessageId"]
        assert msg["Attributes"]["ApproximateReceiveCount"] == expected_count
        assert await visible_count(sqs, dlq_url) == 0
        await trio.sleep(6)

    assert await receive(sqs, src_url, MaxNumberOfMessages=10) == []
    assert await visible_count(sqs, src_url) == 0
    [dead] = await receive(sqs, dlq_url)
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"]["kind"]["StringValue"] == "bad"
    assert dead["MD5OfBody"] == sent["MD5OfMessageBody"]


async def test_deleted_message_never_reaches_the_dlq(autojump_clock, sqs):
    """AWS: only messages that keep failing are dead-lettered; a deleted one is gone."""
    src_url, dlq_url = await source_with_dlq(sqs, max_receive_count=1)
    await sqs.send_message(QueueUrl=src_url, MessageBody="ok")
    [msg] = await receive(sqs, src_url)
    await sqs.delete_message(QueueUrl=src_url, ReceiptHandle=msg["ReceiptHandle"])
    await trio.sleep(60)
    assert await receive(sqs, src_url) == []
    assert await receive(sqs, dlq_url) == []


async def test_redrive_policy_is_reported_by_get_queue_attributes(autojump_clock, sqs):
    """AWS: RedrivePolicy is returned as the JSON document that was set."""
    src_url, dlq_url = await source_with_dlq(sqs, max_receive_count=4)
    attrs = await sqs.get_queue_attributes(QueueUrl=src_url, AttributeNames=["RedrivePolicy"])
    policy = json.loads(attrs["Attributes"]["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == await queue_arn(sqs, dlq_url)
    assert int(policy["maxReceiveCount"]) == 4


async def test_fifo_source_requires_fifo_dlq(autojump_clock, sqs):
    """AWS: the dead-letter queue must be the same type as the source (FIFO with FIFO,
    standard with standard); a mismatch is InvalidParameterValue."""
    await make_queue(sqs, "std-dlq")
    await make_queue(sqs, "fifo-dlq.fifo", FifoQueue="true")
    await expect_error(
        "InvalidParameterValue",
        sqs.create_queue,
        QueueName="src.fifo",
        Attributes={"FifoQueue": "true", "RedrivePolicy": redrive(arn("std-dlq"), 2)},
    )
    await expect_error(
        "InvalidParameterValue",
        sqs.create_queue,
        QueueName="src",
        Attributes={"RedrivePolicy": redrive(arn("fifo-dlq.fifo"), 2)},
    )
    fifo_src = await make_queue(sqs, "other-src.fifo", FifoQueue="true")
    await expect_error(
        "InvalidParameterValue",
        sqs.set_queue_attributes,
        QueueUrl=fifo_src,
        Attributes={"RedrivePolicy": redrive(arn("std-dlq"), 2)},
    )
    # Same types are fine.
    await sqs.set_queue_attributes(
        QueueUrl=fifo_src, Attributes={"RedrivePolicy": redrive(arn("fifo-dlq.fifo"), 2)}
    )
    await make_queue(sqs, "std-src", RedrivePolicy=redrive(arn("std-dlq"), 2))


async def test_fifo_message_moves_to_fifo_dlq_keeping_id_body_and_group(autojump_clock, sqs):
    """AWS: a FIFO message that exceeds maxReceiveCount moves to the FIFO DLQ with its
    MessageId, body and MessageGroupId."""
    dlq_url = await make_queue(sqs, "d.fifo", FifoQueue="true")
    src_url = await make_queue(
        sqs,
        "s.fifo",
        FifoQueue="true",
        ContentBasedDeduplication="true",
        RedrivePolicy=redrive(arn("d.fifo"), 1),
    )
    sent = await sqs.send_message(QueueUrl=src_url, MessageBody="bad", MessageGroupId="g")
    await receive(sqs, src_url, VisibilityTimeout=1)
    await trio.sleep(2)
    assert await receive(sqs, src_url) == []
    [dead] = await receive(sqs, dlq_url)
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"] == "bad"
    assert dead["Attributes"]["MessageGroupId"] == "g"


# ------------------------------------------------------------- RedriveAllowPolicy


async def test_redrive_allow_policy_deny_all_rejects_every_source(autojump_clock, sqs):
    """AWS: RedriveAllowPolicy redrivePermission=denyAll means no queue may use this queue
    as its dead-letter queue."""
    await make_queue(
        sqs, "locked-dlq", RedriveAllowPolicy=json.dumps({"redrivePermission": "denyAll"})
    )
    await expect_error(
        "InvalidParameterValue",
        sqs.create_queue,
        QueueName="src",
        Attributes={"RedrivePolicy": redrive(arn("locked-dlq"), 3)},
    )
    src_url = await make_queue(sqs, "src2")
    await expect_error(
        "InvalidParameterValue",
        sqs.set_queue_attributes,
        QueueUrl=src_url,
        Attributes={"RedrivePolicy": redrive(arn("locked-dlq"), 3)},
    )
    attrs = await sqs.get_queue_attributes(QueueUrl=src_url, AttributeNames=["All"])
    assert "RedrivePolicy" not in attrs["Attributes"]


async def test_redrive_allow_policy_by_queue_admits_only_listed_sources(autojump_clock, sqs):
    """AWS: redrivePermission=byQueue lets only the queues in sourceQueueArns use this
    queue as their dead-letter queue."""
    policy = {"redrivePermission": "byQueue", "sourceQueueArns": [arn("allowed")]}
    dlq_url = await make_queue(sqs, "picky-dlq", RedriveAllowPolicy=json.dumps(policy))
    await make_queue(sqs, "allowed", RedrivePolicy=redrive(arn("picky-dlq"), 3))
    await expect_error(
        "InvalidParameterValue",
        sqs.create_queue,
        QueueName="stranger",
        Attributes={"RedrivePolicy": redrive(arn("picky-dlq"), 3)},
    )
    attrs = await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["RedriveAllowPolicy"])
    assert json.loads(attrs["Attributes"]["RedriveAllowPolicy"]) == policy


async def test_redrive_allow_policy_allow_all_admits_any_source(autojump_clock, sqs):
    """AWS: redrivePermission=allowAll (the default) lets any queue of the account use it."""
    await make_queue(
        sqs, "open-dlq", RedriveAllowPolicy=json.dumps({"redrivePermission": "allowAll"})
    )
    await make_queue(sqs, "a", RedrivePolicy=redrive(arn("open-dlq"), 3))
    await make_queue(sqs, "b", RedrivePolicy=redrive(arn("open-dlq"), 3))


# ------------------------------------------------------- ListDeadLetterSourceQueues


async def test_list_dead_letter_source_queues_lists_queues_targeting_the_dlq(autojump_clock, sqs):
    """AWS: ListDeadLetterSourceQueues returns the URLs (key 'queueUrls') of queues whose
    RedrivePolicy points at the given queue."""
    dlq_url = await make_queue(sqs, "dlq")
    other_dlq = await make_queue(sqs, "dlq2")
    a = await make_queue(sqs, "a", RedrivePolicy=redrive(arn("dlq"), 2))
    b = await make_queue(sqs, "b", RedrivePolicy=redrive(arn("dlq"), 5))
    c = await make_queue(sqs, "c", RedrivePolicy=redrive(arn("dlq2"), 5))
    await make_queue(sqs, "d")
    response = await sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)
    assert sorted(response["queueUrls"]) == sorted([a, b])
    assert (await sqs.list_dead_letter_source_queues(QueueUrl=other_dlq))["queueUrls"] == [c]
    # Removing a redrive policy removes the source.
    await sqs.set_queue_attributes(QueueUrl=b, Attributes={"RedrivePolicy": ""})
    assert (await sqs.list_dead_letter_source_queues(QueueUrl=dlq_url))["queueUrls"] == [a]


# ------------------------------------------------------------- message move tasks


async def test_move_task_redrives_messages_back_to_their_source_queue(autojump_clock, sqs):
    """AWS: StartMessageMoveTask without DestinationArn moves DLQ messages back to their
    original source queues (as new messages); ListMessageMoveTasks reports the task
    progressing from RUNNING to COMPLETED with ApproximateNumberOfMessagesMoved."""
    src_url, dlq_url = await source_with_dlq(sqs)
    bodies = [f"m{i}" for i in range(10)]
    dead_ids = await dead_letter(sqs, src_url, dlq_url, bodies)
    dlq_arn = await queue_arn(sqs, dlq_url)

    handle = (await sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1))[
        "TaskHandle"
    ]
    assert isinstance(handle, str) and handle
    await trio.sleep(3)
    running = await latest_task(sqs, dlq_arn)
    assert running["Status"] == "RUNNING"
    assert running["TaskHandle"] == handle
    assert running["SourceArn"] == dlq_arn
    assert running["ApproximateNumberOfMessagesToMove"] == 10
    assert running["ApproximateNumberOfMessagesMoved"] < 10
    assert running["MaxNumberOfMessagesPerSecond"] == 1

    await trio.sleep(60)
    done = await latest_task(sqs, dlq_arn)
    assert done["Status"] == "COMPLETED"
    assert done["ApproximateNumberOfMessagesMoved"] == 10
    assert "DestinationArn" not in done

    assert await visible_count(sqs, dlq_url) == 0
    moved = await drain(sqs, src_url)
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    # AWS: redriven messages are new messages with new message IDs.
    assert not {m["MessageId"] for m in moved} & set(dead_ids)


async def test_move_task_with_destination_arn_moves_to_that_queue(autojump_clock, sqs):
    """AWS: with DestinationArn the DLQ's messages go to that queue instead of the source."""
    src_url, dlq_url = await source_with_dlq(sqs)
    target_url = await make_queue(sqs, "replay")
    bodies = ["x", "y", "z"]
    await dead_letter(sqs, src_url, dlq_url, bodies)
    dlq_arn = await queue_arn(sqs, dlq_url)
    await sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn("replay"))
    await trio.sleep(60)
    done = await latest_task(sqs, dlq_arn)
    assert done["Status"] == "COMPLETED"
    assert done["DestinationArn"] == arn("replay")
    assert done["ApproximateNumberOfMessagesMoved"] == 3
    assert sorted(m["Body"] for m in await drain(sqs, target_url)) == sorted(bodies)
    assert await receive(sqs, src_url) == []


async def test_cancel_message_move_task_stops_the_move(autojump_clock, sqs):
    """AWS: CancelMessageMoveTask stops a RUNNING task; messages already moved stay moved,
    the rest stay in the DLQ; the task ends CANCELLED."""
    src_url, dlq_url = await source_with_dlq(sqs)
    bodies = [f"m{i}" for i in range(10)]
    await dead_letter(sqs, src_url, dlq_url, bodies)
    dlq_arn = await queue_arn(sqs, dlq_url)
    handle = (await sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1))[
        "TaskHandle"
    ]
    await trio.sleep(3.5)
    cancelled = await sqs.cancel_message_move_task(TaskHandle=handle)
    moved_at_cancel = cancelled["ApproximateNumberOfMessagesMoved"]
    assert 0 <= moved_at_cancel < 10

    await trio.sleep(60)
    task = await latest_task(sqs, dlq_arn)
    assert task["Status"] == "CANCELLED"
    moved = task["ApproximateNumberOfMessagesMoved"]
    assert moved < 10
    in_source = await drain(sqs, src_url)
    left_in_dlq = await drain(sqs, dlq_url)
    assert len(in_source) == moved
    assert sorted(m["Body"] for m in in_source + left_in_dlq) == sorted(bodies)


async def test_only_one_active_move_task_per_source_queue(autojump_clock, sqs):
    """AWS: only one active message move task per queue; a second start while one runs is
    InvalidParameterValue; after it completes a new one may start."""
    src_url, dlq_url = await source_with_dlq(sqs)
    await dead_letter(sqs, src_url, dlq_url, [f"m{i}" for i in range(5)])
    dlq_arn = await queue_arn(sqs, dlq_url)
    await sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)
    await expect_error("InvalidParameterValue", sqs.start_message_move_task, SourceArn=dlq_arn)
    await trio.sleep(60)
    assert (await latest_task(sqs, dlq_arn))["Status"] == "COMPLETED"
    # The DLQ is empty now: the second task completes having moved nothing.
    await sqs.start_message_move_task(SourceArn=dlq_arn)
    await trio.sleep(10)
    tasks = (await sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10))["Results"]
    assert [t["Status"] for t in tasks] == ["COMPLETED", "COMPLETED"]
    # Most recent first.
    assert [t["ApproximateNumberOfMessagesMoved"] for t in tasks] == [0, 5]


async def test_list_message_move_tasks_defaults_to_the_most_recent_one(autojump_clock, sqs):
    """AWS: ListMessageMoveTasks MaxResults defaults to 1 (the most recent task)."""
    src_url, dlq_url = await source_with_dlq(sqs)
    await dead_letter(sqs, src_url, dlq_url, ["a"])
    dlq_arn = await queue_arn(sqs, dlq_url)
    await sqs.start_message_move_task(SourceArn=dlq_arn)
    await trio.sleep(30)
    await sqs.start_message_move_task(SourceArn=dlq_arn)  # DLQ now empty
    await trio.sleep(30)
    results = (await sqs.list_message_move_tasks(SourceArn=dlq_arn))["Results"]
    assert len(results) == 1
    assert results[0]["ApproximateNumberOfMessagesMoved"] == 0


async def test_move_task_from_a_queue_that_is_not_a_dlq_is_rejected(autojump_clock, sqs):
    """AWS: StartMessageMoveTask's source must be configured as a dead-letter queue of some
    SQS queue (InvalidParameterValue); an unknown source is ResourceNotFoundException."""
    plain = await make_queue(sqs, "plain")
    await sqs.send_message(QueueUrl=plain, MessageBody="m")
    await expect_error("InvalidParameterValue", sqs.start_message_move_task, SourceArn=arn("plain"))
    await expect_error(
        "ResourceNotFoundException", sqs.start_message_move_task, SourceArn=arn("missing")
    )
    assert await visible_count(sqs, plain) == 1


async def test_move_task_to_a_missing_destination_is_resource_not_found(autojump_clock, sqs):
    """AWS: a DestinationArn that names no queue is ResourceNotFoundException."""
    src_url, dlq_url = await source_with_dlq(sqs)
    await dead_letter(sqs, src_url, dlq_url, ["a"])
    await expect_error(
        "ResourceNotFoundException",
        sqs.start_message_move_task,
        SourceArn=await queue_arn(sqs, dlq_url),
        DestinationArn=arn("nowhere"),
    )
    assert await visible_count(sqs, dlq_url) == 1
