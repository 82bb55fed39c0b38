"""SQS messages end to end: send / receive / delete, batches and their entry rules, size
limits, MD5 digests, attributes, delays, visibility timeouts and long polling."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import error_of, unique

from nimbus.protocol.sqs_md5 import md5_of_attributes


@pytest.fixture
def queue(sqs: Any) -> str:
    url: str = sqs.create_queue(QueueName=unique("m"), Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    return url


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(a["ApproximateNumberOfMessages"]),
        int(a["ApproximateNumberOfMessagesNotVisible"]),
        int(a["ApproximateNumberOfMessagesDelayed"]),
    )


ATTRIBUTES: dict[str, dict[str, Any]] = {
    "trace.id": {"DataType": "String", "StringValue": "abc"},
    "trace.n": {"DataType": "Number", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbin"},
    "custom": {"DataType": "String.json", "StringValue": "{}"},
}


def test_send_receive_delete_with_md5s(sqs: Any, queue: str) -> None:
    sent = sqs.send_message(QueueUrl=queue, MessageBody="héllo 😀", MessageAttributes=ATTRIBUTES)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo 😀".encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)
    assert "SequenceNumber" not in sent
    assert counts(sqs, queue) == (1, 0, 0)
    got = sqs.receive_message(
        QueueUrl=queue, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(got) == 1
    message = got[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "héllo 😀"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"] == ATTRIBUTES  # binary back as bytes
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    system = message["Attributes"]
    assert system["ApproximateReceiveCount"] == "1"
    assert abs(int(system["SentTimestamp"]) / 1000 - time.time()) < 60
    assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"])
    assert system["SenderId"]
    assert counts(sqs, queue) == (0, 1, 0)
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert counts(sqs, queue) == (0, 0, 0)
    # Deleting again with a well-formed handle succeeds, as on AWS.
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_attribute_selection(sqs: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes=ATTRIBUTES)
    message = sqs.receive_message(
        QueueUrl=queue, MessageAttributeNames=["trace.*"], AttributeNames=["SentTimestamp"],
        VisibilityTimeout=0,
    )["Messages"][0]  # fmt: skip
    assert set(message["MessageAttributes"]) == {"trace.id", "trace.n"}
    selected = {k: ATTRIBUTES[k] for k in ("trace.id", "trace.n")}
    assert message["MD5OfMessageAttributes"] == md5_of_attributes(selected)
    assert set(message["Attributes"]) == {"SentTimestamp"}
    message = sqs.receive_message(
        QueueUrl=queue, MessageAttributeNames=["blob"], VisibilityTimeout=0
    )["Messages"][0]
    assert message["MessageAttributes"] == {"blob": ATTRIBUTES["blob"]}
    assert "Attributes" not in message
    message = sqs.receive_message(QueueUrl=queue)["Messages"][0]
    assert "MessageAttributes" not in message and "MD5OfMessageAttributes" not in message
    assert "Attributes" not in message and message["Body"] == "x"


def test_batch_send_and_delete(sqs: Any, queue: str) -> None:
    entries: list[dict[str, Any]] = [
        {"Id": f"e-{i}", "MessageBody": f"body {i}"} for i in range(10)
    ]
    entries[3]["MessageAttributes"] = {"k": {"DataType": "String", "StringValue": "v"}}
    sent = sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    assert sent["Failed"] == []
    assert [e["Id"] for e in sent["Successful"]] == [e["Id"] for e in entries]
    for entry, result in zip(entries, sent["Successful"], strict=True):
        assert result["MD5OfMessageBody"] == hashlib.md5(entry["MessageBody"].encode()).hexdigest()
    assert sent["Successful"][3]["MD5OfMessageAttributes"] == md5_of_attributes(
        entries[3]["MessageAttributes"]
    )
    received: list[dict[str, Any]] = []
    while len(received) < 10:
        received += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(m["Body"] for m in received) == sorted(e["MessageBody"] for e in entries)
    first = sqs.delete_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                 for i, m in enumerate(received[:9])] + [{"Id": "bad", "ReceiptHandle": "garbage"}],
    )  # fmt: skip
    assert len(first["Successful"]) == 9
    assert first["Failed"] == [
        {
            "Id": "bad",
            "SenderFault": True,
            "Code": "ReceiptHandleIsInvalid",
            "Message": 'The input receipt handle "garbage" is not a valid receipt handle.',
        }
    ]
    assert counts(sqs, queue) == (0, 1, 0)


def test_batch_entry_rules(sqs: Any, queue: str) -> None:
    def fails(entries: list[dict[str, Any]]) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as info:
            sqs.send_message_batch(QueueUrl=queue, Entries=entries)
        return error_of(info)

    assert fails([]) == (
        400,
        "AWS.SimpleQueueService.EmptyBatchRequest",
        "There should be at least one SendMessageBatchRequestEntry in the request.",
    )
    assert fails([{"Id": str(i), "MessageBody": "x"} for i in range(11)]) == (
        400,
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.",
    )
    assert fails([{"Id": "no spaces", "MessageBody": "x"}]) == (
        400,
        "AWS.SimpleQueueService.InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
        "It can be at most 80 letters long.",
    )
    assert fails([{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]) == (
        400,
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "Id a repeated.",
    )
    big = "x" * 100_000
    assert fails([{"Id": str(i), "MessageBody": big} for i in range(3)]) == (
        400,
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "Batch requests cannot be longer than 262144 bytes. You have sent 300000 bytes.",
    )
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": "a", "ReceiptHandle": "x"}, {"Id": "a", "ReceiptHandle": "y"}],
        )
    # A bad entry fails alone; the others are sent.
    mixed = sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": "ok", "MessageBody": "fine"}, {"Id": "late", "MessageBody": "x",
                                                       "DelaySeconds": 901}],
    )  # fmt: skip
    assert [e["Id"] for e in mixed["Successful"]] == ["ok"]
    assert mixed["Failed"][0]["Id"] == "late"
    assert mixed["Failed"][0]["Code"] == "InvalidParameterValue"


def test_message_size_limit(sqs: Any, queue: str) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody="x" * 262_144)
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=queue, MessageBody="x" * 262_145)
    assert error_of(info) == (
        400,
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.",
    )
    with pytest.raises(ClientError) as info:  # attributes count toward the limit
        sqs.send_message(
            QueueUrl=queue,
            MessageBody="x" * 262_000,
            MessageAttributes={"a": {"DataType": "String", "StringValue": "y" * 200}},
        )
    assert error_of(info)[1] == "InvalidParameterValue"
    small = sqs.create_queue(QueueName=unique("small"), Attributes={"MaximumMessageSize": "1024"})
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=small["QueueUrl"], MessageBody="x" * 1025)
    assert error_of(info)[2].endswith("Message must be shorter than 1024 bytes.")


def test_invalid_message_contents_and_parameters(sqs: Any, queue: str) -> None:
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=queue, MessageBody="bad \x01 char")
    assert error_of(info)[1] == "InvalidMessageContents"
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=queue, MessageBody="")
    assert error_of(info) == (
        400,
        "MissingParameter",
        "The request must contain the parameter MessageBody.",
    )
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=queue, MessageBody="x", DelaySeconds=901)
    assert error_of(info) == (
        400,
        "InvalidParameterValue",
        "Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 "
        "and <= 900.",
    )
    with pytest.raises(ClientError) as info:
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=11)
    assert error_of(info) == (
        400,
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and "
        "10, if provided.",
    )
    with pytest.raises(ClientError) as info:
        sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=21)
    assert error_of(info)[1] == "InvalidParameterValue"
    with pytest.raises(ClientError) as info:
        sqs.send_message(
            QueueUrl=queue,
            MessageBody="x",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": "not a number"}},
        )
    assert error_of(info)[1] == "InvalidParameterValue"


def test_receipt_handle_errors(sqs: Any, queue: str) -> None:
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as info:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle="nope")
    assert error_of(info) == (
        400,
        "ReceiptHandleIsInvalid",
        'The input receipt handle "nope" is not a valid receipt handle.',
    )
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    handle = sqs.receive_message(QueueUrl=queue)["Messages"][0]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=handle)
    with pytest.raises(sqs.exceptions.MessageNotInflight) as info:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=handle, VisibilityTimeout=5)
    assert error_of(info) == (
        400,
        "AWS.SimpleQueueService.MessageNotInflight",
        "Message does not exist or is not available for visibility timeout change.",
    )


def test_visibility_timeout_expiry_and_change(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("vis"), Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    time.sleep(1.3)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])
    second = again["Messages"][0]
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    # Extend: still hidden after the queue's timeout has passed.
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=30
    )
    time.sleep(1.3)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    # Zero: visible at once.
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0
    )
    third = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"][0]
    assert third["MessageId"] == first["MessageId"]
    result = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "now", "ReceiptHandle": third["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "old", "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 0},
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["now"]
    assert result["Failed"][0]["Id"] == "old"
    assert result["Failed"][0]["Code"] == "MessageNotInflight"
    assert counts(sqs, url) == (1, 0, 0)


def test_delays(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("delay"), Attributes={"DelaySeconds": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="queue delay")
    sqs.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
    assert counts(sqs, url) == (1, 0, 1)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["no delay"]
    start = time.monotonic()
    later = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in later] == ["queue delay"]
    assert time.monotonic() - start < 3  # woke when the delay ended, not at the end


def test_long_poll_wakes_when_a_message_arrives(sqs: Any, queue: str) -> None:
    result: dict[str, Any] = {}

    def poll() -> None:
        start = time.monotonic()
        result["response"] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10)
        result["waited"] = time.monotonic() - start

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.8)
    sqs.send_message(QueueUrl=queue, MessageBody="wake up")
    poller.join(15)
    assert result["response"]["Messages"][0]["Body"] == "wake up"
    assert 0.7 < result["waited"] < 4
    start = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
    assert 0.9 < time.monotonic() - start < 4


def test_queue_default_wait_time(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName=unique("wait"), Attributes={"ReceiveMessageWaitTimeSeconds": "1"}
    )["QueueUrl"]
    start = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert time.monotonic() - start > 0.9


def test_trace_header_system_attribute(sqs: Any, queue: str) -> None:
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe"}}
    sent = sqs.send_message(QueueUrl=queue, MessageBody="traced", MessageSystemAttributes=trace)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(trace)
    got = sqs.receive_message(QueueUrl=queue, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert got["Messages"][0]["Attributes"] == {"AWSTraceHeader": "Root=1-5759e988-bd862e3fe"}
