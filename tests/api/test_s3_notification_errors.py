"""PutBucketNotificationConfiguration refused as S3 refuses it: the codes, messages and
argument fields AWS sends, and nothing stored when refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import ACCOUNT, REGION, NimbusServer, create, error_of, unique

OVERLAP = (
    "Configurations overlap. Configurations on the same bucket cannot share a common event type."
)
UNVALIDATED = "Unable to validate the following destination configurations"


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


@pytest.fixture(scope="module")
def queue_arn(server: NimbusServer) -> str:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique("s3ne"))["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return arn


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("s3ne")
    s3.create_bucket(Bucket=name)
    return name


def refused(s3: Any, bucket: str, config: dict[str, Any]) -> tuple[int, str, str, dict[str, Any]]:
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    # Nothing was stored.
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert {k for k in got if k != "ResponseMetadata"} == set()
    return (*error_of(info), info.value.response["Error"])


def queue(arn: str, *events: str, **extra: Any) -> dict[str, Any]:
    return {"QueueArn": arn, "Events": list(events), **extra}


def test_unknown_event_type(s3: Any, bucket: str, queue_arn: str) -> None:
    status, code, message, error = refused(
        s3, bucket, {"QueueConfigurations": [queue(queue_arn, "s3:ObjectCreated:Teleport")]}
    )
    assert (status, code, message) == (
        400,
        "InvalidArgument",
        "The event is not supported for notifications",
    )
    assert error["ArgumentName"] == "Event"
    assert error["ArgumentValue"] == "s3:ObjectCreated:Teleport"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("s3:ObjectCreated:*", None), ("s3:ObjectCreated:Put", None)),
        (("s3:ObjectCreated:*", "images/"), ("s3:ObjectCreated:*", "images/jpg/")),
        (("s3:ObjectRemoved:Delete", None), ("s3:ObjectRemoved:*", "x/")),
    ],
)
def test_overlapping_configurations(
    s3: Any,
    bucket: str,
    queue_arn: str,
    first: tuple[str, str | None],
    second: tuple[str, str | None],
) -> None:
    entries = []
    for event, prefix in (first, second):
        entry = queue(queue_arn, event)
        if prefix:
            entry["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
        entries.append(entry)
    status, code, message, _ = refused(s3, bucket, {"QueueConfigurations": entries})
    assert (status, code, message) == (400, "InvalidArgument", OVERLAP)


def test_overlap_across_destination_kinds(s3: Any, bucket: str, queue_arn: str, lam: Any) -> None:
    name = create(lam, unique("s3ne"))["FunctionName"]
    status, code, message, _ = refused(
        s3,
        bucket,
        {
            "QueueConfigurations": [queue(queue_arn, "s3:ObjectCreated:*")],
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
                    "Events": ["s3:ObjectCreated:Post"],
                }
            ],
        },
    )
    assert (status, code, message) == (400, "InvalidArgument", OVERLAP)


def test_missing_destinations(s3: Any, bucket: str, queue_arn: str) -> None:
    missing_queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:no-such-queue-{unique()}"
    missing_topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:no-such-topic-{unique()}"
    missing_function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:no-such-{unique()}"
    status, code, message, error = refused(
        s3,
        bucket,
        {
            "QueueConfigurations": [
                queue(queue_arn, "s3:ObjectCreated:Put"),
                queue(missing_queue, "s3:ObjectCreated:Copy"),
            ],
            "TopicConfigurations": [
                {"TopicArn": missing_topic, "Events": ["s3:ObjectRemoved:Delete"]}
            ],
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": missing_function,
                    "Events": ["s3:ObjectRemoved:DeleteMarkerCreated"],
                }
            ],
        },
    )
    assert (status, code, message) == (400, "InvalidArgument", UNVALIDATED)
    # Queues, topics, then functions, each with S3's reason.
    assert error["ArgumentName1"] == missing_queue
    assert error["ArgumentValue1"] == "The destination queue does not exist"
    assert error["ArgumentName2"] == missing_topic
    assert error["ArgumentValue2"] == "The destination topic does not exist"
    assert error["ArgumentName3"] == f"{missing_function}, null"
    assert error["ArgumentValue3"] == f"Not authorized to invoke function [{missing_function}]"
    assert "ArgumentName4" not in error


def test_skip_destination_validation(s3: Any, bucket: str) -> None:
    missing_queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:no-such-queue-{unique()}"

    def skip_header(request: Any, **_: Any) -> None:
        request.headers["x-amz-skip-destination-validation"] = "true"

    s3.meta.events.register(
        "before-sign.s3.PutBucketNotificationConfiguration", skip_header, unique_id="skip-dv"
    )
    try:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [queue(missing_queue, "s3:ObjectCreated:*")]
            },
        )
    finally:
        s3.meta.events.unregister(
            "before-sign.s3.PutBucketNotificationConfiguration", unique_id="skip-dv"
        )
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["QueueConfigurations"][0]["QueueArn"] == missing_queue
    s3.put_object(Bucket=bucket, Key="k", Body=b"")  # delivery to nowhere: dropped, PUT fine


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"Name": "middle", "Value": "x"}], "filter rule name must be either prefix or suffix"),
        (
            [{"Name": "prefix", "Value": "a"}, {"Name": "prefix", "Value": "b"}],
            "Cannot specify more than one prefix rule in a filter.",
        ),
    ],
)
def test_bad_filter_rules(
    s3: Any, bucket: str, queue_arn: str, rules: list[dict[str, str]], message: str
) -> None:
    entry = queue(queue_arn, "s3:ObjectCreated:*", Filter={"Key": {"FilterRules": rules}})
    status, code, got, _ = refused(s3, bucket, {"QueueConfigurations": [entry]})
    assert (status, code, got) == (400, "InvalidArgument", message)


def test_malformed_arn(s3: Any, bucket: str) -> None:
    status, code, message, error = refused(
        s3, bucket, {"QueueConfigurations": [queue("my-queue", "s3:ObjectCreated:*")]}
    )
    assert (status, code, message) == (400, "InvalidArgument", "The ARN could not be parsed")
    assert error["ArgumentValue"] == "my-queue"


def test_no_such_bucket(s3: Any, queue_arn: str) -> None:
    name = unique("s3ne-missing")
    config = {"QueueConfigurations": [queue(queue_arn, "s3:ObjectCreated:*")]}
    calls: list[Callable[[], Any]] = [
        lambda: s3.get_bucket_notification_configuration(Bucket=name),
        lambda: s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration=config
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert error_of(info)[:2] == (404, "NoSuchBucket")


def test_malformed_xml(server: NimbusServer, bucket: str) -> None:
    s3 = server.client("s3", s3={"addressing_style": "path"})

    def garble(request: Any, **_: Any) -> None:
        request.data = b"<NotificationConfiguration><QueueConfiguration>"

    s3.meta.events.register("before-sign.s3.PutBucketNotificationConfiguration", garble)
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert error_of(info)[:2] == (400, "MalformedXML")


def test_expected_bucket_owner(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_bucket_notification_configuration(Bucket=bucket, ExpectedBucketOwner="111111111111")
    assert error_of(info)[:2] == (403, "AccessDenied")
    got = s3.get_bucket_notification_configuration(Bucket=bucket, ExpectedBucketOwner=ACCOUNT)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_eventbridge_is_refused_not_ignored(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    assert error_of(info)[:2] == (501, "NotImplemented")


def test_aws_cli(server: NimbusServer, bucket: str, queue_arn: str, tmp_path: Path) -> None:
    config = tmp_path / "notification.json"
    config.write_text(
        json.dumps(
            {
                "QueueConfigurations": [
                    {"Id": "cli", "QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}
                ]
            }
        )
    )
    server.aws(
        "s3api", "put-bucket-notification-configuration", "--bucket", bucket,
        "--notification-configuration", f"file://{config}",
    )  # fmt: skip
    got = json.loads(
        server.aws("s3api", "get-bucket-notification-configuration", "--bucket", bucket).stdout
    )
    assert got == {
        "QueueConfigurations": [
            {"Id": "cli", "QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}
        ]
    }
    bad = server.aws(
        "s3api", "put-bucket-notification-configuration", "--bucket", bucket,
        "--notification-configuration",
        json.dumps({"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:Nope"]}]}),
        check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr
    assert "The event is not supported for notifications" in bad.stderr
