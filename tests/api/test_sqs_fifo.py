"""FIFO queues end to end: order within a message group, one batch in flight per group,
deduplication (explicit and content-based), sequence numbers, and dead-letter redrive."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import error_of, unique


def fifo(sqs: Any, content_dedup: bool = False, **attributes: str) -> str:
    url: str = sqs.create_queue(
        QueueName=unique("f") + ".fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": str(content_dedup).lower(),
            **attributes,
        },
    )["QueueUrl"]
    return url


def test_fifo_attributes_and_rules(sqs: Any) -> None:
    url = fifo(sqs)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "false"
    assert attributes["DeduplicationScope"] == "queue"
    assert attributes["FifoThroughputLimit"] == "perQueue"
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert error_of(info) == (
        400,
        "MissingParameter",
        "The request must contain the parameter MessageGroupId.",
    )
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert error_of(info) == (
        400,
        "InvalidParameterValue",
        "The queue should either have ContentBasedDeduplication enabled or "
        "MessageDeduplicationId provided explicitly",
    )
    with pytest.raises(ClientError) as info:
        sqs.send_message(
            QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d",
            DelaySeconds=1,
        )  # fmt: skip
    assert error_of(info)[1] == "InvalidParameterValue"
    with pytest.raises(ClientError) as info:
        sqs.create_queue(QueueName=unique("f"), Attributes={"FifoQueue": "true"})
    assert error_of(info)[1] == "InvalidParameterValue"


def test_order_within_groups_and_one_batch_in_flight_per_group(sqs: Any) -> None:
    url = fifo(sqs)
    sequence: list[int] = []
    for i in range(6):
        group = "a" if i % 2 == 0 else "b"
        sent = sqs.send_message(
            QueueUrl=url, MessageBody=f"{group}{i}", MessageGroupId=group,
            MessageDeduplicationId=str(i),
        )  # fmt: skip
        sequence.append(int(sent["SequenceNumber"]))
        assert len(sent["SequenceNumber"]) == 20
    assert sequence == sorted(sequence)
    first = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"], VisibilityTimeout=30
    )["Messages"]
    assert [m["Body"] for m in first] == ["a0", "a2"]  # one group's head run, in order
    assert first[0]["Attributes"]["MessageGroupId"] == "a"
    assert first[0]["Attributes"]["MessageDeduplicationId"] == "0"
    assert int(first[0]["Attributes"]["SequenceNumber"]) == sequence[0]
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in second] == ["b1", "b3", "b5"]  # group a is in flight
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    for m in first:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    third = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in third] == ["a4"]


def test_returned_messages_keep_their_place(sqs: Any) -> None:
    url = fifo(sqs, VisibilityTimeout="1")
    for i in range(3):
        sqs.send_message(
            QueueUrl=url, MessageBody=str(i), MessageGroupId="g", MessageDeduplicationId=str(i)
        )
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert [m["Body"] for m in got] == ["0"]
    time.sleep(1.3)  # its visibility times out: it is first again
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["0", "1", "2"]


def test_deduplication_explicit_and_content_based(sqs: Any) -> None:
    url = fifo(sqs)
    one = sqs.send_message(
        QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="same"
    )
    two = sqs.send_message(
        QueueUrl=url, MessageBody="y", MessageGroupId="g", MessageDeduplicationId="same"
    )
    assert two["MessageId"] == one["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["x"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    # Still within the 5-minute window after the delete.
    sqs.send_message(
        QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="same"
    )
    assert "Messages" not in sqs.receive_message(QueueUrl=url)

    content = fifo(sqs, content_dedup=True)
    a = sqs.send_message(QueueUrl=content, MessageBody="body", MessageGroupId="g1")
    b = sqs.send_message(QueueUrl=content, MessageBody="body", MessageGroupId="g2")
    c = sqs.send_message(QueueUrl=content, MessageBody="other", MessageGroupId="g1")
    assert a["MessageId"] == b["MessageId"] != c["MessageId"]
    got = sqs.receive_message(
        QueueUrl=content, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in got] == ["body", "other"]
    assert got[0]["Attributes"]["MessageDeduplicationId"] == (hashlib.sha256(b"body").hexdigest())
    # Scope per message group: the same id in another group is a new message.
    scoped = fifo(sqs, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    for group in ("g1", "g2", "g1"):
        sqs.send_message(
            QueueUrl=scoped, MessageBody=group, MessageGroupId=group, MessageDeduplicationId="d"
        )
    bodies = sorted(
        m["Body"] for m in sqs.receive_message(QueueUrl=scoped, MaxNumberOfMessages=10)["Messages"]
    )
    assert bodies == ["g1", "g2"]


def test_batch_send_in_order(sqs: Any) -> None:
    url = fifo(sqs, content_dedup=True)
    entries = [{"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(10)]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    numbers = [int(e["SequenceNumber"]) for e in sent["Successful"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 10
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == [f"m{i}" for i in range(10)]


def test_receive_request_attempt_id_returns_the_same_batch(sqs: Any) -> None:
    url = fifo(sqs, content_dedup=True)
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i), MessageGroupId="g")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="a1")
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="a1")
    assert [m["ReceiptHandle"] for m in again["Messages"]] == [
        m["ReceiptHandle"] for m in first["Messages"]
    ]


def dlq_pair(sqs: Any, max_receives: int, suffix: str = "") -> tuple[str, str]:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if suffix else {}
    dlq = sqs.create_queue(QueueName=unique("dlq") + suffix, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives})
    source = sqs.create_queue(
        QueueName=unique("src") + suffix,
        Attributes={**attributes, "RedrivePolicy": policy, "VisibilityTimeout": "0"},
    )["QueueUrl"]
    return source, dlq


def test_redrive_to_dead_letter_queue(sqs: Any) -> None:
    source, dlq = dlq_pair(sqs, 2)
    attributes = {"a": {"DataType": "String", "StringValue": "kept"}}
    sent = sqs.send_message(QueueUrl=source, MessageBody="poison", MessageAttributes=attributes)
    for expected in (1, 2):
        got = sqs.receive_message(QueueUrl=source, AttributeNames=["ApproximateReceiveCount"])
        assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == str(expected)
    # The third receive attempt moves it instead of returning it.
    assert "Messages" not in sqs.receive_message(QueueUrl=source)
    moved = sqs.receive_message(
        QueueUrl=dlq, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"][0]
    assert moved["MessageId"] == sent["MessageId"]
    assert moved["Body"] == "poison"
    assert moved["MessageAttributes"] == attributes
    assert moved["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert moved["Attributes"]["DeadLetterQueueSourceArn"].endswith(source.rsplit("/", 1)[1])


def test_fifo_redrive_keeps_group(sqs: Any) -> None:
    source, dlq = dlq_pair(sqs, 1, ".fifo")
    sqs.send_message(QueueUrl=source, MessageBody="p", MessageGroupId="g")
    assert sqs.receive_message(QueueUrl=source)["Messages"][0]["Body"] == "p"
    assert "Messages" not in sqs.receive_message(QueueUrl=source)
    moved = sqs.receive_message(QueueUrl=dlq, AttributeNames=["MessageGroupId"])["Messages"][0]
    assert moved["Attributes"]["MessageGroupId"] == "g"
