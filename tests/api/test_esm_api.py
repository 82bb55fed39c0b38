"""Event source mappings (SQS): the Lambda API, its validation and error paths (boto3 and
the AWS CLI against a real server)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import ACCOUNT, REGION, NimbusServer, arn, create, error_of, not_found, unique


@pytest.fixture(scope="module")
def sqs(server: NimbusServer) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def function(lam: Any) -> str:
    name: str = create(lam, unique("esm-api"))["FunctionName"]
    return name


@pytest.fixture
def queue_arn(sqs: Any) -> Iterator[str]:
    url = sqs.create_queue(QueueName=unique("esm-q"))["QueueUrl"]
    found: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    yield found
    sqs.delete_queue(QueueUrl=url)


def settled(lam: Any, mapping_id: str, states: tuple[str, ...] = ("Enabled", "Disabled")) -> Any:
    deadline = time.monotonic() + 20
    while True:
        found = lam.get_event_source_mapping(UUID=mapping_id)
        if found["State"] in states or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def gone(lam: Any, mapping_id: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            lam.get_event_source_mapping(UUID=mapping_id)
        except ClientError as e:
            return bool(e.response["Error"]["Code"] == "ResourceNotFoundException")
        time.sleep(0.05)
    return False


def test_create_get_list_delete(lam: Any, function: str, queue_arn: str) -> None:
    created = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    mapping_id = created["UUID"]
    uuid.UUID(mapping_id)
    assert created["State"] == "Creating"
    assert created["BatchSize"] == 10
    assert created["MaximumBatchingWindowInSeconds"] == 0
    assert created["EventSourceArn"] == queue_arn
    assert created["FunctionArn"] == arn(function)
    assert created["StateTransitionReason"] == "USER_INITIATED"
    assert created["FunctionResponseTypes"] == []
    assert created["EventSourceMappingArn"] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping_id}"
    )
    assert abs(created["LastModified"].timestamp() - time.time()) < 60
    assert "FilterCriteria" not in created and "ScalingConfig" not in created
    for absent in ("StartingPosition", "ParallelizationFactor", "Topics", "_Enabled"):
        assert absent not in created

    got = settled(lam, mapping_id)
    assert got["State"] == "Enabled"
    assert {k: v for k, v in got.items() if k not in ("State", "ResponseMetadata")} == {
        k: v for k, v in created.items() if k not in ("State", "ResponseMetadata")
    }

    by_source = lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
    assert [m["UUID"] for m in by_source] == [mapping_id]
    by_function = lam.list_event_source_mappings(FunctionName=arn(function))
    assert mapping_id in [m["UUID"] for m in by_function["EventSourceMappings"]]

    deleted = lam.delete_event_source_mapping(UUID=mapping_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting"
    assert gone(lam, mapping_id)
    assert lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"] == []


def test_settings_and_update(lam: Any, function: str, queue_arn: str) -> None:
    pattern = json.dumps({"body": {"kind": ["order"]}})
    created = lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=function,
        BatchSize=500,
        MaximumBatchingWindowInSeconds=5,
        FilterCriteria={"Filters": [{"Pattern": pattern}]},
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 3},
        Enabled=False,
    )
    mapping_id = created["UUID"]
    assert created["BatchSize"] == 500
    assert created["MaximumBatchingWindowInSeconds"] == 5
    assert created["FilterCriteria"] == {"Filters": [{"Pattern": pattern}]}
    assert created["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert created["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert settled(lam, mapping_id)["State"] == "Disabled"

    updated = lam.update_event_source_mapping(UUID=mapping_id, Enabled=True, BatchSize=20)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["State"] == "Enabling"
    assert updated["BatchSize"] == 20 and updated["MaximumBatchingWindowInSeconds"] == 5
    assert settled(lam, mapping_id)["State"] == "Enabled"

    updated = lam.update_event_source_mapping(UUID=mapping_id, FilterCriteria={})
    assert updated["State"] == "Updating"
    assert "FilterCriteria" not in updated
    assert settled(lam, mapping_id)["State"] == "Enabled"

    assert lam.update_event_source_mapping(UUID=mapping_id, Enabled=False)["State"] == "Disabling"
    assert settled(lam, mapping_id)["State"] == "Disabled"

    # A window of 0 with a batch over 10: refused on update too, nothing changed.
    with pytest.raises(ClientError) as info:
        lam.update_event_source_mapping(UUID=mapping_id, MaximumBatchingWindowInSeconds=0)
    assert error_of(info)[1] == "InvalidParameterValueException"
    assert lam.get_event_source_mapping(UUID=mapping_id)["MaximumBatchingWindowInSeconds"] == 5
    lam.delete_event_source_mapping(UUID=mapping_id)
    assert gone(lam, mapping_id)


def test_validation(server: NimbusServer, lam: Any, function: str, queue_arn: str) -> None:
    unchecked = server.client(parameter_validation=False)  # the server must check

    def refused(**fields: Any) -> tuple[int, str, str]:
        fields.setdefault("EventSourceArn", queue_arn)
        fields.setdefault("FunctionName", function)
        with pytest.raises(ClientError) as info:
            unchecked.create_event_source_mapping(**fields)
        return error_of(info)

    assert refused(BatchSize=11) == (
        400,
        "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
        "greater than 10",
    )
    status, code, message = refused(BatchSize=10001, MaximumBatchingWindowInSeconds=1)
    assert (status, code) == (400, "ValidationException")
    assert "Member must have value less than or equal to 10000" in message
    status, code, message = refused(BatchSize=0)
    assert (status, code) == (400, "ValidationException")
    status, code, message = refused(MaximumBatchingWindowInSeconds=301)
    assert (status, code) == (400, "ValidationException")
    status, code, message = refused(ScalingConfig={"MaximumConcurrency": 1})
    assert (status, code) == (400, "ValidationException")
    assert "greater than or equal to 2" in message
    status, code, message = refused(FunctionResponseTypes=["Nope"])
    assert (status, code) == (400, "ValidationException")
    assert refused(FilterCriteria={"Filters": [{"Pattern": "{not json"}]}) == (
        400,
        "InvalidParameterValueException",
        "Invalid filter pattern definition.",
    )
    assert refused(FilterCriteria={"Filters": [{"Pattern": '{"body": "x"}'}]})[1] == (
        "InvalidParameterValueException"
    )
    assert refused(StartingPosition="LATEST") == (
        400,
        "InvalidParameterValueException",
        "StartingPosition is not valid for SQS event sources.",
    )
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{unique('missing')}"
    assert refused(EventSourceArn=missing) == (
        400,
        "InvalidParameterValueException",
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService."
        "NonExistentQueue. SQS Error Message: The specified queue does not exist or you do "
        "not have access to it.",
    )
    nobody = unique("nobody")
    assert refused(FunctionName=nobody) == (404, "ResourceNotFoundException", not_found(nobody))
    assert lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"] == []


def test_duplicate_mapping_conflicts(lam: Any, function: str, queue_arn: str) -> None:
    first = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function)
    with pytest.raises(ClientError) as info:
        lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=arn(function))
    assert error_of(info) == (
        409,
        "ResourceConflictException",
        f'The event source arn (" {queue_arn} ") and function (" {function} ") provided '
        "mapping already exists. Please update or delete the existing mapping with UUID "
        f"{first['UUID']}",
    )
    lam.delete_event_source_mapping(UUID=first["UUID"])
    assert gone(lam, first["UUID"])


def test_unknown_uuid(lam: Any) -> None:
    missing = str(uuid.uuid4())
    calls: list[tuple[Any, dict[str, Any]]] = [
        (lam.get_event_source_mapping, {}),
        (lam.update_event_source_mapping, {"BatchSize": 5}),
        (lam.delete_event_source_mapping, {}),
    ]
    for call, fields in calls:
        with pytest.raises(ClientError) as info:
            call(UUID=missing, **fields)
        assert error_of(info) == (
            404,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        )


def test_update_to_unknown_function(lam: Any, function: str, queue_arn: str) -> None:
    mapping_id = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function)[
        "UUID"
    ]
    nobody = unique("nobody")
    with pytest.raises(ClientError) as info:
        lam.update_event_source_mapping(UUID=mapping_id, FunctionName=nobody)
    assert error_of(info) == (404, "ResourceNotFoundException", not_found(nobody))
    assert lam.get_event_source_mapping(UUID=mapping_id)["FunctionArn"] == arn(function)
    lam.delete_event_source_mapping(UUID=mapping_id)
    assert gone(lam, mapping_id)


def test_list_pages(lam: Any, sqs: Any, function: str) -> None:
    queues = [sqs.create_queue(QueueName=unique("esm-page"))["QueueUrl"] for _ in range(5)]
    arns = [
        sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for u in queues
    ]
    ids = {
        lam.create_event_source_mapping(EventSourceArn=a, FunctionName=function)["UUID"]
        for a in arns
    }
    seen: list[str] = []
    marker: str | None = None
    while True:
        page = lam.list_event_source_mappings(
            FunctionName=function, MaxItems=2, **({"Marker": marker} if marker else {})
        )
        assert len(page["EventSourceMappings"]) <= 2
        seen += [m["UUID"] for m in page["EventSourceMappings"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert ids <= set(seen) and len(seen) == len(set(seen))
    paginated = lam.get_paginator("list_event_source_mappings").paginate(FunctionName=function)
    assert ids <= {m["UUID"] for page in paginated for m in page["EventSourceMappings"]}
    for mapping_id in ids:
        lam.delete_event_source_mapping(UUID=mapping_id)
    for url in queues:
        sqs.delete_queue(QueueUrl=url)


def test_cli(server: NimbusServer, function: str, queue_arn: str) -> None:
    out = server.aws(
        "lambda", "create-event-source-mapping", "--function-name", function,
        "--event-source-arn", queue_arn, "--batch-size", "5",
    )  # fmt: skip
    created = json.loads(out.stdout)
    assert created["BatchSize"] == 5 and created["State"] == "Creating"
    listed = json.loads(
        server.aws("lambda", "list-event-source-mappings", "--event-source-arn", queue_arn).stdout
    )
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [created["UUID"]]
    server.aws("lambda", "delete-event-source-mapping", "--uuid", created["UUID"])


def test_queue_must_hide_messages_as_long_as_the_function_runs(lam: Any, sqs: Any) -> None:
    function = create(lam, unique("esm-slow"), Timeout=60)["FunctionName"]
    url = sqs.create_queue(QueueName=unique("esm-vis"), Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    with pytest.raises(ClientError) as info:
        lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function)
    assert error_of(info) == (
        400,
        "InvalidParameterValueException",
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds",
    )
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})
    mapping_id = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function)[
        "UUID"
    ]
    lam.delete_event_source_mapping(UUID=mapping_id)
    assert gone(lam, mapping_id)
