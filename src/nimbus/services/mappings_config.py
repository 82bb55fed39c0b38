"""An SQS event source mapping's configuration: AWS' defaults, checks and response shape."""

from __future__ import annotations

from typing import Any

from nimbus.errors import (
    ClientError,
    InvalidEventPattern,
    InvalidParameterValue,
    ResourceNotFound,
)
from nimbus.protocol import event_pattern
from nimbus.services.names import parse_function_name
from nimbus.services.registry import FunctionRegistry

SQS_QUEUE_MISSING = (
    "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService."
    "NonExistentQueue. SQS Error Message: The specified queue does not exist or you do not "
    "have access to it."
)
DEFAULT_BATCH = 10


class ResourceInUse(ClientError):
    """The mapping is busy (being deleted). Kept here: only mappings raise it."""

    code = "ResourceInUseException"


# Settings of stream and Kafka sources that SQS mappings do not take.
_NOT_FOR_SQS = (
    "ParallelizationFactor",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "Topics",
    "Queues",
    "SelfManagedEventSource",
    "SelfManagedKafkaEventSourceConfig",
    "AmazonManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
    "StartingPositionTimestamp",
)
# Members copied from a request into the configuration as given.
_COPIED = ("FilterCriteria", "ScalingConfig", "FunctionResponseTypes")


def check_sqs(p: dict[str, Any], source: str, region: str) -> None:
    """The source must be an SQS queue of this region; stream-only settings are refused."""
    parts = source.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise InvalidParameterValue(
            f"Nimbus supports SQS queues as event sources only (got {source})."
        )
    if parts[3] != region:
        raise InvalidParameterValue(SQS_QUEUE_MISSING)
    if p.get("StartingPosition") is not None:
        raise InvalidParameterValue("StartingPosition is not valid for SQS event sources.")
    for name in _NOT_FOR_SQS:
        if p.get(name) is not None:
            raise InvalidParameterValue(f"Unsupported {name} parameter for given event source.")


async def function_target(
    registry: FunctionRegistry, account: str, value: str, region: str, must_exist: bool = True
) -> tuple[str, str | None]:
    """(name, qualifier) of FunctionName; ResourceNotFound when it does not exist."""
    name, qualifier, _ = parse_function_name(value)
    if must_exist:
        record = await registry.get(account, name, region)
        if qualifier not in (None, "$LATEST"):
            raise ResourceNotFound(f"Function not found: {record.arn}:{qualifier}")
    return name, qualifier


def check_filters(criteria: dict[str, Any] | None) -> None:
    for item in (criteria or {}).get("Filters") or []:
        pattern = item.get("Pattern")
        if pattern is None:
            continue
        try:
            event_pattern.parse(pattern)
        except InvalidEventPattern:
            raise InvalidParameterValue("Invalid filter pattern definition.") from None


def check(config: dict[str, Any], source: str) -> None:
    """AWS' rules across members (each member's range is checked against the model)."""
    batch = config["BatchSize"]
    window = config.get("MaximumBatchingWindowInSeconds", 0)
    if batch > 10 and window < 1:
        raise InvalidParameterValue(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
            "greater than 10"
        )
    if source.endswith(".fifo") and window:
        raise InvalidParameterValue("Batching window is not supported for FIFO queues.")
    check_filters(config.get("FilterCriteria"))


def new_config(
    p: dict[str, Any], uuid: str, source: str, function: str, arn: str, now: float
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "UUID": uuid,
        "BatchSize": p.get("BatchSize") or DEFAULT_BATCH,
        "MaximumBatchingWindowInSeconds": p.get("MaximumBatchingWindowInSeconds") or 0,
        "EventSourceArn": source,
        "FunctionArn": function,
        "LastModified": now,
        "State": "Creating",
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": arn,
        "_Enabled": p.get("Enabled", True),
    }
    for name in _COPIED:
        if p.get(name) is not None:
            config[name] = p[name]
    _drop_empty(config)
    check(config, source)
    return config


def merge(current: dict[str, Any], p: dict[str, Any], source: str, now: float) -> dict[str, Any]:
    """UpdateEventSourceMapping: the members given replace the current ones."""
    check_sqs({k: v for k, v in p.items() if k != "StartingPosition"}, source, source.split(":")[3])
    config = dict(current)
    for name in ("BatchSize", "MaximumBatchingWindowInSeconds", *_COPIED):
        if p.get(name) is not None:
            config[name] = p[name]
    if p.get("_FunctionArn"):
        config["FunctionArn"] = p["_FunctionArn"]
    config["LastModified"] = now
    _drop_empty(config)
    check(config, source)
    return config


def _drop_empty(config: dict[str, Any]) -> None:
    """AWS leaves out FilterCriteria without filters and an empty ScalingConfig."""
    if not (config.get("FilterCriteria") or {}).get("Filters"):
        config.pop("FilterCriteria", None)
    if not config.get("ScalingConfig"):
        config.pop("ScalingConfig", None)
