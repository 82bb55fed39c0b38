"""Event patterns: AWS documentation examples for matching and validation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from nimbus.errors import InvalidEventPattern
from nimbus.protocol.event_pattern import matches, parse

# The EC2 state-change example event from the EventBridge documentation.
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "location": {"country": "USA", "city": "Seattle"},
        "tags": ["prod", "web"],
        "empty": None,
    },
}


def match(pattern: dict[str, Any], event: dict[str, Any] = EVENT) -> bool:
    return matches(parse(orjson.dumps(pattern).decode()), event)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.ec2"]},
        {"source": ["aws.s3", "aws.ec2"]},  # an array is OR
        {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
        {"detail": {"state": ["terminated"]}},
        {"detail": {"location": {"city": ["Seattle"]}}},
        {"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]},
        {"detail": {"tags": ["web"]}},  # event arrays: any element
        {"detail": {"empty": [None]}},
        {"time": [{"prefix": "2017-12-22"}]},
        {"source": [{"prefix": {"equals-ignore-case": "AWS."}}]},
        {"detail": {"instance-id": [{"suffix": "def0"}]}},
        {"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}},
        {"detail": {"instance-id": [{"wildcard": "i-*def0"}]}},
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        {"detail": {"instance-id": [{"anything-but": {"suffix": ".png"}}]}},
        {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}},
        {"detail": {"d-count": [{"numeric": ["<", 10]}]}},
        {"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}},
        {"detail": {"c-count": [5]}},
        {"detail": {"state": [{"exists": True}]}},
        {"detail": {"nothing": [{"exists": False}]}},
        {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}},
        {
            "source": ["aws.ec2"],
            "$or": [{"detail": {"c-count": [9]}}, {"detail": {"d-count": [3]}}],
        },
        {"$or": [{"source": ["nope"]}, {"detail": {"state": [{"prefix": "term"}]}}]},
    ],
)
def test_matches(pattern: dict[str, Any]) -> None:
    assert match(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.s3"]},
        {"source": ["aws.ec2"], "detail-type": ["other"]},  # fields are AND
        {"detail": {"state": ["Terminated"]}},  # case-sensitive
        {"detail": {"location": {"city": ["Paris"]}}},
        {"detail": {"missing": ["x"]}},
        {"detail": {"state": [{"prefix": "run"}]}},
        {"detail": {"state": [{"suffix": "ing"}]}},
        {"detail": {"state": [{"anything-but": "terminated"}]}},
        {"detail": {"state": [{"anything-but": ["terminated", "stopped"]}]}},
        {"detail": {"state": [{"anything-but": {"prefix": "term"}}]}},
        {"detail": {"missing": [{"anything-but": "x"}]}},  # absent fields never match values
        {"detail": {"c-count": [{"numeric": [">", 5]}]}},
        {"detail": {"c-count": [{"numeric": [">=", 6, "<", 10]}]}},
        {"detail": {"state": [{"numeric": [">", 0]}]}},  # strings aren't numbers
        {"detail": {"c-count": ["5"]}},  # nor numbers strings
        {"detail": {"state": [{"exists": False}]}},
        {"detail": {"nothing": [{"exists": True}]}},
        {"detail": {"location": [{"exists": True}]}},  # exists is for leaves
        {"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}},
        {"$or": [{"source": ["nope"]}, {"detail": {"c-count": [1]}}]},
    ],
)
def test_does_not_match(pattern: dict[str, Any]) -> None:
    assert not match(pattern)


def test_scheduled_event_pattern() -> None:
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert match({"source": ["aws.events"], "detail-type": ["Scheduled Event"]}, scheduled)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "Filter is not valid JSON"),
        ("[]", "Filter is not an object"),
        ("{}", "Empty objects are not allowed"),
        ('{"source": "aws.ec2"}', '"source" must be an object or an array'),
        ('{"source": []}', "Empty arrays are not allowed"),
        ('{"detail": {}}', "Empty objects are not allowed"),
        ('{"source": [{"prefix": 1}]}', "prefix match pattern must be a string"),
        ('{"source": [{"bogus": "x"}]}', "Unrecognized match type bogus"),
        ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false"),
        ('{"a": [{"numeric": [">", "x"]}]}', "Value of > must be numeric"),
        ('{"a": [{"numeric": ["!", 1]}]}', "Unrecognized numeric range operator"),
        ('{"a": [{"numeric": [">", 1, ">", 2]}]}', "Bad numeric range operator"),
        ('{"a": [{"numeric": ">"}]}', "Value of numeric must be an array"),
        ('{"a": [{"anything-but": {"wildcard": "x"}}]}', "Unsupported anything-but pattern"),
        ('{"a": [{"prefix": "x", "suffix": "y"}]}', "Match value must be"),
        ('{"$or": [{"a": ["b"]}]}', "Or relationship must contain at least 2 sub-patterns"),
        ('{"a": [{"cidr": "300.1.1.1/8"}]}', "Nonstandard IP address"),
    ],
)
def test_invalid_patterns(text: str, reason: str) -> None:
    with pytest.raises(InvalidEventPattern) as caught:
        parse(text)
    assert caught.value.code == "InvalidEventPatternException"
    assert caught.value.message.startswith("Event pattern is not valid. Reason: ")
    assert reason in caught.value.message
