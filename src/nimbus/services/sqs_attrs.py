"""Queue attributes: defaults, validation and normalisation, with AWS' error wording."""

from __future__ import annotations

import re
from typing import Any

import orjson

from nimbus.errors import (
    SqsInvalidAttributeName,
    SqsInvalidAttributeValue,
    SqsInvalidParameterValue,
)

MAX_MESSAGE_SIZE = 262_144
# Settable attributes and their (min, max) when numeric.
RANGES: dict[str, tuple[int, int]] = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, MAX_MESSAGE_SIZE),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": str(MAX_MESSAGE_SIZE),
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
OTHER = {"Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId", "SqsManagedSseEnabled"}
FIFO_ONLY = {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_ARN = re.compile(r"arn:aws[\w-]*:sqs:([\w-]+):(\d{12}):([A-Za-z0-9_-]{1,75}(?:\.fifo)?)")


def check_queue_name(name: str, fifo: bool) -> None:
    base = name.removesuffix(".fifo") if fifo else name
    if fifo and (not name.endswith(".fifo") or not _NAME.fullmatch(base) or len(name) > 80):
        raise SqsInvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length."
        )
    if not _NAME.fullmatch(base):
        raise SqsInvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )


def parse_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, queue name) of a queue ARN."""
    found = _ARN.fullmatch(arn)
    return (found.group(1), found.group(2), found.group(3)) if found else None


def _bool(name: str, value: str) -> str:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise SqsInvalidAttributeValue(f"Invalid value for the parameter {name}.")
    return lowered


def _redrive_policy(value: str) -> str:
    def invalid(reason: str) -> SqsInvalidParameterValue:
        return SqsInvalidParameterValue(
            f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
        )

    if value == "":
        return ""
    try:
        policy = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid("Redrive policy is not a valid JSON map.") from None
    if not isinstance(policy, dict):
        raise invalid("Redrive policy is not a valid JSON map.")
    target = policy.get("deadLetterTargetArn")
    count = policy.get("maxReceiveCount")
    if target is None or count is None:
        raise invalid(
            "Redrive policy does not contain mandatory attribute: "
            + ("deadLetterTargetArn." if target is None else "maxReceiveCount.")
        )
    try:
        number = int(count)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 1000:
        raise invalid(
            f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 "
            "both inclusive."
        )
    if not isinstance(target, str) or parse_arn(target) is None:
        raise invalid("Invalid value for deadLetterTargetArn.")
    return orjson.dumps({"deadLetterTargetArn": target, "maxReceiveCount": number}).decode()


def _json(name: str, value: str) -> str:
    if value == "":
        return ""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise SqsInvalidAttributeValue(f"Invalid value for the parameter {name}.") from None
    if not isinstance(parsed, dict):
        raise SqsInvalidAttributeValue(f"Invalid value for the parameter {name}.")
    return value


def normalize(attributes: dict[str, Any], fifo: bool, creating: bool) -> dict[str, str]:
    """Validated attributes in the form GetQueueAttributes returns them."""
    out: dict[str, str] = {}
    for name, raw in attributes.items():
        value = str(raw)
        if name in RANGES:
            low, high = RANGES[name]
            try:
                number = int(value)
            except ValueError:
                number = low - 1
            if not low <= number <= high:
                raise SqsInvalidAttributeValue(f"Invalid value for the parameter {name}.")
            out[name] = str(number)
        elif name == "FifoQueue":
            flag = _bool(name, value)
            if not creating:
                raise SqsInvalidAttributeName(f"Invalid attribute name {name}")
            if flag == "true" and not fifo:
                raise SqsInvalidParameterValue(
                    "The name of a FIFO queue can only include alphanumeric characters, "
                    "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in "
                    "length."
                )
            if fifo:
                out[name] = flag
        elif name in FIFO_ONLY:
            if not fifo:
                raise SqsInvalidAttributeName(f"Unknown Attribute {name}.")
            if name == "ContentBasedDeduplication":
                out[name] = _bool(name, value)
            elif name == "DeduplicationScope":
                if value not in ("messageGroup", "queue"):
                    raise SqsInvalidAttributeValue(f"Invalid value for the parameter {name}.")
                out[name] = value
            else:
                if value not in ("perQueue", "perMessageGroupId"):
                    raise SqsInvalidAttributeValue(f"Invalid value for the parameter {name}.")
                out[name] = value
        elif name == "RedrivePolicy":
            out[name] = _redrive_policy(value)
        elif name in ("RedriveAllowPolicy", "Policy"):
            out[name] = _json(name, value)
        elif name == "SqsManagedSseEnabled":
            out[name] = _bool(name, value)
        elif name == "KmsMasterKeyId":
            out[name] = value
        else:
            raise SqsInvalidAttributeName(f"Unknown Attribute {name}.")
    if fifo and creating and out.get("FifoQueue") != "true":
        raise SqsInvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length."
        )
    return out


def with_defaults(attributes: dict[str, str], fifo: bool) -> dict[str, str]:
    merged = dict(DEFAULTS)
    if fifo:
        merged.update(FIFO_DEFAULTS)
    merged.update({k: v for k, v in attributes.items() if v != "" or k not in OTHER})
    if "KmsMasterKeyId" in merged:
        merged.pop("SqsManagedSseEnabled", None)
        merged.setdefault("KmsDataKeyReusePeriodSeconds", "300")
    return {k: v for k, v in merged.items() if v != ""}


def redrive_target(attributes: dict[str, str]) -> tuple[str, int] | None:
    """(dead-letter queue ARN, maxReceiveCount) of a queue's RedrivePolicy."""
    raw = attributes.get("RedrivePolicy")
    if not raw:
        return None
    policy = orjson.loads(raw)
    return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])
