"""SNS documents: AWS' layout, canonical signing strings, the Lambda event, Publish checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimbus.protocol import sns_checks, sns_message
from nimbus.protocol.sns_errors import InvalidParameter, ParameterValueInvalid
from nimbus.protocol.sns_message import Notification

TOPIC = "arn:aws:sns:us-east-1:000000000000:t"


def _note(**fields: object) -> Notification:
    base: dict[str, object] = {
        "message_id": "m-1",
        "topic_arn": TOPIC,
        "message": "hello",
        "timestamp": "2026-11-23T14:00:00.000Z",
    }
    base.update(fields)
    return Notification(**base)  # type: ignore[arg-type]


def test_notification_layout_and_canonical_string() -> None:
    note = _note(subject="Hi", attributes={"a": {"DataType": "String", "StringValue": "x"}})
    doc = sns_message.notification_document(note, "sqs", "http://u", "http://c", "1")
    assert list(doc) == [
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
        "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes",
    ]  # fmt: skip
    text = sns_message.render(doc)
    assert text.startswith('{\n  "Type" : "Notification",\n  "MessageId" : "m-1",\n')
    assert '  "MessageAttributes" : {\n    "a" : {"Type":"String","Value":"x"}\n  }\n}' in text
    assert json.loads(text) == doc
    assert sns_message.canonical_string(doc) == (
        b"Message\nhello\nMessageId\nm-1\nSubject\nHi\nTimestamp\n2026-11-23T14:00:00.000Z\n"
        b"TopicArn\n" + TOPIC.encode() + b"\nType\nNotification\n"
    )
    # No subject: neither in the document nor in the signed string.
    plain = sns_message.notification_document(_note(), "sqs", "u", "c", "1")
    assert "Subject" not in plain
    assert b"Subject" not in sns_message.canonical_string(plain)


def test_confirmation_canonical_string() -> None:
    doc = sns_message.confirmation_document("m", "tok", TOPIC, "http://s", "ts", "http://c", "1")
    assert doc["Message"].startswith(f"You have chosen to subscribe to the topic {TOPIC}.\n")
    assert (
        sns_message.canonical_string(doc)
        == (
            f"Message\n{doc['Message']}\nMessageId\nm\nSubscribeURL\nhttp://s\nTimestamp\nts\n"
            f"Token\ntok\nTopicArn\n{TOPIC}\nType\nSubscriptionConfirmation\n"
        ).encode()
    )


def test_lambda_event_casing_and_nulls() -> None:
    binary = {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    doc = sns_message.notification_document(_note(attributes=binary), "lambda", "u", "c", "1")
    event = sns_message.lambda_event(doc, TOPIC + ":sub")
    record = event["Records"][0]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == TOPIC + ":sub"
    sns = record["Sns"]
    assert sns["Subject"] is None
    assert sns["SigningCertUrl"] == "c" and sns["UnsubscribeUrl"] == "u"
    assert sns["MessageAttributes"] == {"b": {"Type": "Binary", "Value": "AAE="}}
    assert list(sns) == [
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
        "Signature", "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes",
    ]  # fmt: skip


def test_message_structure() -> None:
    bodies = sns_checks.check_message(json.dumps({"default": "d", "sqs": "q"}), "json", 0)
    assert bodies == {"default": "d", "sqs": "q"}
    note = _note(structure=bodies)
    assert note.message_for("sqs") == "q" and note.message_for("lambda") == "d"
    with pytest.raises(InvalidParameter, match="No default entry in JSON message body"):
        sns_checks.check_message('{"sqs": "x"}', "json", 0)
    with pytest.raises(InvalidParameter, match="JSON message body failed to parse"):
        sns_checks.check_message("nope", "json", 0)
    # Non-string values are ignored, as AWS does: no default left here.
    with pytest.raises(InvalidParameter, match="No default entry in JSON message body"):
        sns_checks.check_message('{"default": 1, "sqs": "x"}', "json", 0)
    assert sns_checks.check_message('{"default": "d", "sqs": {}}', "json", 0) == {"default": "d"}


def test_publish_limits() -> None:
    with pytest.raises(InvalidParameter, match=r"^Invalid parameter: Empty message$"):
        sns_checks.check_message("", None, 0)
    sns_checks.check_message("x" * 262_144, None, 0)
    with pytest.raises(InvalidParameter, match=r"^Invalid parameter: Message too long$"):
        sns_checks.check_message("x" * 262_140, None, 5)
    with pytest.raises(InvalidParameter, match=r"^Invalid parameter: Subject$"):
        sns_checks.check_subject("two\nlines")


@pytest.mark.parametrize(
    ("attributes", "text"),
    [
        (
            {"a": {"DataType": "Strung", "StringValue": "x"}},
            "The message attribute 'a' has an invalid message attribute type, the set of "
            "supported type prefixes is Binary, Number, and String.",
        ),
        (
            {"a": {"DataType": "String"}},
            "The message attribute 'a' must contain non-empty message attribute value for "
            "message attribute type 'String'.",
        ),
        (
            {"a": {"DataType": "String", "StringValue": ""}},
            "The message attribute 'a' must contain non-empty message attribute value for "
            "message attribute type 'String'.",
        ),
        (
            {"a": {"DataType": "Binary", "StringValue": "x"}},
            "The message attribute 'a' with type 'Binary' must use field 'Binary'.",
        ),
        (
            {"a": {"DataType": "String.custom", "BinaryValue": b"x"}},
            "The message attribute 'a' with type 'String.custom' must use field 'String'.",
        ),
        (
            {"a": {"DataType": "Number", "StringValue": "abc"}},
            "Could not cast message attribute 'a' value to number.",
        ),
        ({"a": {"DataType": "String.Array", "StringValue": "[{}]"}}, "String.Array"),
        (
            {".a": {"DataType": "String", "StringValue": "x"}},
            "Invalid message attribute name starting with character '.' was found.",
        ),
        (
            {"a.": {"DataType": "String", "StringValue": "x"}},
            "Invalid message attribute name ending with character '.' was found.",
        ),
        (
            {"a..b": {"DataType": "String", "StringValue": "x"}},
            "Message attribute name can not have successive '.' character.",
        ),
        (
            {"a b": {"DataType": "String", "StringValue": "x"}},
            "Invalid non-alphanumeric character '#x20' was found in the message attribute "
            "name. Can only include alphanumeric characters, hyphens, underscores, or dots.",
        ),
        (
            {"x" * 257: {"DataType": "String", "StringValue": "x"}},
            "Length of message attribute name must be less than 256 bytes.",
        ),
    ],
)
def test_bad_attributes(attributes: dict[str, dict[str, Any]], text: str) -> None:
    with pytest.raises(ParameterValueInvalid) as info:
        sns_checks.check_attributes(attributes)
    assert info.value.code == "ParameterValueInvalid"
    assert text in info.value.message


def test_attribute_size_counts() -> None:
    size = sns_checks.check_attributes(
        {
            "ab": {"DataType": "String", "StringValue": "xyz"},
            "n": {"DataType": "Number", "StringValue": "1.5"},
        }
    )
    assert size == (2 + 6 + 3) + (1 + 6 + 3)
