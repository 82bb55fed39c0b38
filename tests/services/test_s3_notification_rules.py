"""Bucket notification configurations: S3's validation rules and event matching (pure)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from nimbus.errors import InvalidArgument, MalformedXML
from nimbus.services.s3_notification_config import as_config, from_stored, parse, to_stored

QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"
TOPIC = "arn:aws:sns:us-east-1:000000000000:t"
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:f"


def entry(arn: str, events: list[str], prefix: str | None = None, suffix: str | None = None,
          **extra: Any) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"Events": events, **extra}
    out["QueueArn" if ":sqs:" in arn else "TopicArn" if ":sns:" in arn else "LambdaFunctionArn"] = (
        arn
    )
    rules = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v]
    if rules:
        out["Filter"] = {"Key": {"FilterRules": rules}}
    return out


def config(*entries: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        member = (
            "QueueConfigurations"
            if "QueueArn" in e
            else "TopicConfigurations"
            if "TopicArn" in e
            else "LambdaFunctionConfigurations"
        )
        out.setdefault(member, []).append(e)
    return out


OVERLAP = (
    "Configurations overlap. Configurations on the same bucket cannot share a common event type."
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (entry(QUEUE, ["s3:ObjectCreated:*"]), entry(FUNCTION, ["s3:ObjectCreated:Put"])),
        (entry(QUEUE, ["s3:ObjectCreated:Put"]), entry(TOPIC, ["s3:ObjectCreated:Put"])),
        (
            entry(QUEUE, ["s3:ObjectCreated:*"], prefix="images/"),
            entry(FUNCTION, ["s3:ObjectCreated:*"], prefix="images/jpg/"),
        ),
        (
            entry(QUEUE, ["s3:ObjectCreated:*"], suffix=".jpg"),
            entry(FUNCTION, ["s3:ObjectCreated:*"], suffix="b.jpg"),
        ),
        (
            entry(QUEUE, ["s3:ObjectCreated:*"], prefix="a/"),
            entry(FUNCTION, ["s3:ObjectCreated:*"], suffix=".png"),
        ),
        (entry(QUEUE, ["s3:ObjectRemoved:*"]), entry(QUEUE, ["s3:ObjectRemoved:Delete"])),
    ],
)
def test_overlapping_configurations_are_refused(a: dict[str, Any], b: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(config(a, b))
    assert info.value.message == OVERLAP


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (entry(QUEUE, ["s3:ObjectCreated:*"]), entry(FUNCTION, ["s3:ObjectRemoved:*"])),
        (
            entry(QUEUE, ["s3:ObjectCreated:*"], prefix="images/"),
            entry(FUNCTION, ["s3:ObjectCreated:*"], prefix="videos/"),
        ),
        (
            entry(QUEUE, ["s3:ObjectCreated:*"], prefix="a/", suffix=".jpg"),
            entry(FUNCTION, ["s3:ObjectCreated:*"], prefix="a/", suffix=".png"),
        ),
        (entry(QUEUE, ["s3:ObjectCreated:Put"]), entry(TOPIC, ["s3:ObjectCreated:Copy"])),
    ],
)
def test_disjoint_configurations_are_accepted(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert len(parse(config(a, b))) == 2


def test_ids_are_generated_as_s3_does_and_kept_when_given() -> None:
    targets = parse(
        config(
            entry(QUEUE, ["s3:ObjectCreated:*"]), entry(TOPIC, ["s3:ObjectRemoved:*"], Id="mine")
        )
    )
    generated = next(t.id for t in targets if t.kind == "queue")
    uuid.UUID(base64.b64decode(generated).decode())  # base64 of a UUID's text
    assert next(t.id for t in targets if t.kind == "topic") == "mine"


RULES = [{"Name": "Prefix", "Value": "up/"}, {"Name": "Suffix", "Value": ".jpg"}]


def test_filter_rule_names_any_case_answered_capitalised() -> None:
    given = entry(QUEUE, ["s3:ObjectCreated:*"], Id="x")
    given["Filter"] = {
        "Key": {
            "FilterRules": [{"Name": "PREFIX", "Value": "up/"}, {"Name": "suffix", "Value": ".jpg"}]
        }
    }
    targets = from_stored(to_stored(parse(config(given))))  # through storage and back
    assert as_config(targets) == {
        "QueueConfigurations": [
            {
                "Id": "x",
                "QueueArn": QUEUE,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": RULES}},
            }
        ]
    }


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"Name": "middle", "Value": "x"}], "filter rule name must be either prefix or suffix"),
        (
            [{"Name": "prefix", "Value": "a"}, {"Name": "Prefix", "Value": "b"}],
            "Cannot specify more than one prefix rule in a filter.",
        ),
        (
            [{"Name": "suffix", "Value": "a"}, {"Name": "suffix", "Value": "b"}],
            "Cannot specify more than one suffix rule in a filter.",
        ),
        (
            [{"Name": "prefix", "Value": "x" * 1025}],
            "Size of filter rule value cannot exceed 1024 bytes in UTF-8 representation",
        ),
    ],
)
def test_bad_filters(rules: list[dict[str, str]], message: str) -> None:
    given = entry(QUEUE, ["s3:ObjectCreated:*"])
    given["Filter"] = {"Key": {"FilterRules": rules}}
    with pytest.raises(InvalidArgument) as info:
        parse(config(given))
    assert info.value.message == message


def test_unknown_event_and_bad_arn() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(config(entry(QUEUE, ["s3:ObjectCreated:Teleport"])))
    assert info.value.message == "The event is not supported for notifications"
    assert info.value.extra == {
        "ArgumentName": "Event",
        "ArgumentValue": "s3:ObjectCreated:Teleport",
    }
    with pytest.raises(InvalidArgument) as info:
        parse({"QueueConfigurations": [{"QueueArn": "my-queue", "Events": ["s3:ObjectCreated:*"]}]})
    assert info.value.message == "The ARN could not be parsed"
    with pytest.raises(MalformedXML):
        parse({"QueueConfigurations": [{"QueueArn": QUEUE, "Events": []}]})


def test_matching_by_event_type_prefix_and_suffix() -> None:
    (target,) = parse(
        config(entry(FUNCTION, ["s3:ObjectCreated:*"], prefix="uploads/", suffix=".jpg"))
    )
    assert target.wants("ObjectCreated:Put", "uploads/a.jpg")
    assert target.wants("ObjectCreated:CompleteMultipartUpload", "uploads/x/y.jpg")
    assert not target.wants("ObjectCreated:Put", "uploads/a.png")
    assert not target.wants("ObjectCreated:Put", "other/a.jpg")
    assert not target.wants("ObjectRemoved:Delete", "uploads/a.jpg")
    (exact,) = parse(config(entry(QUEUE, ["s3:ObjectRemoved:DeleteMarkerCreated"])))
    assert exact.wants("ObjectRemoved:DeleteMarkerCreated", "k")
    assert not exact.wants("ObjectRemoved:Delete", "k")


def test_empty_configuration_turns_notifications_off() -> None:
    assert parse({}) == []
    assert as_config([]) == {}
