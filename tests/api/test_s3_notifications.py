"""S3 bucket notifications end to end: a real server, boto3, real SQS/SNS/Lambda targets.
Every event type, filters, the s3:TestEvent, the records' fields, and durability."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import pytest
from e2e import ACCOUNT, REGION, NimbusServer, create, make_zip, unique


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


@pytest.fixture(scope="module")
def sqs(server: NimbusServer) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def sns(server: NimbusServer) -> Any:
    return server.client("sns")


def new_queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("s3n"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def receive(sqs: Any, url: str, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Exactly the next n bodies (JSON), then makes sure nothing more is there."""
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < n and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(bodies) == n, bodies
    extra = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    assert not extra.get("Messages"), extra
    return bodies


def records(sqs: Any, url: str, n: int) -> list[dict[str, Any]]:
    found = []
    for body in receive(sqs, url, n):
        assert list(body) == ["Records"]
        (record,) = body["Records"]
        found.append(record)
    return found


def queue_config(arn: str, events: list[str], prefix: str | None = None, **extra: Any) -> Any:
    entry: dict[str, Any] = {"QueueArn": arn, "Events": events, **extra}
    if prefix is not None:
        entry["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
    return {"QueueConfigurations": [entry]}


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("s3n")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def queue_bucket(s3: Any, sqs: Any, bucket: str) -> tuple[str, str]:
    """A bucket whose every object event goes to a fresh queue (TestEvent consumed)."""
    url, arn = new_queue(sqs)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration=queue_config(
            arn, ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], Id="all"
        ),
    )
    (test,) = receive(sqs, url, 1)
    assert test["Event"] == "s3:TestEvent"
    return bucket, url


def test_configuration_round_trip(s3: Any, sqs: Any, bucket: str) -> None:
    _, arn = new_queue(sqs)
    given = queue_config(arn, ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"], prefix="in/")
    given["QueueConfigurations"][0]["Filter"]["Key"]["FilterRules"].append(
        {"Name": "Suffix", "Value": ".jpg"}
    )
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=given)
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    (entry,) = got["QueueConfigurations"]
    assert entry["QueueArn"] == arn
    assert entry["Events"] == ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"]
    assert entry["Filter"] == {
        "Key": {
            "FilterRules": [{"Name": "Prefix", "Value": "in/"}, {"Name": "Suffix", "Value": ".jpg"}]
        }
    }  # AWS answers the rule names capitalised
    assert entry["Id"]  # generated when absent
    assert "TopicConfigurations" not in got and "LambdaFunctionConfigurations" not in got
    # An empty configuration turns notifications off.
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert {k for k in got if k != "ResponseMetadata"} == set()


def test_test_event_goes_to_a_new_queue(s3: Any, sqs: Any, bucket: str) -> None:
    url, arn = new_queue(sqs)
    response = s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=queue_config(arn, ["s3:ObjectCreated:*"])
    )
    (test,) = receive(sqs, url, 1)
    assert list(test) == ["Service", "Event", "Time", "Bucket", "RequestId", "HostId"]
    assert test["Service"] == "Amazon S3"
    assert test["Event"] == "s3:TestEvent"
    assert test["Bucket"] == bucket
    assert test["RequestId"] == response["ResponseMetadata"]["RequestId"]
    assert abs(time.time() - _epoch(test["Time"])) < 30


def _epoch(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


def test_put_record_fields(s3: Any, sqs: Any, queue_bucket: tuple[str, str]) -> None:
    bucket, url = queue_bucket
    key = "photos/my cat (1)+=.jpg"
    before = time.time()
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"0123456789")
    (record,) = records(sqs, url, 1)
    assert list(record) == [
        "eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity",
        "requestParameters", "responseElements", "s3",
    ]  # fmt: skip
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == REGION
    assert record["eventName"] == "ObjectCreated:Put"
    assert before - 1 <= _epoch(record["eventTime"]) <= time.time() + 1
    assert record["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    request_id = put["ResponseMetadata"].get("RequestId")  # (if the PUT reply names it)
    assert record["responseElements"]["x-amz-request-id"] == request_id or not request_id
    assert len(record["responseElements"]["x-amz-request-id"]) >= 16
    assert len(record["responseElements"]["x-amz-id-2"]) == 64
    s3_part = record["s3"]
    assert s3_part["s3SchemaVersion"] == "1.0"
    assert s3_part["configurationId"] == "all"
    assert s3_part["bucket"]["name"] == bucket
    assert s3_part["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    obj = s3_part["object"]
    assert list(obj) == ["key", "size", "eTag", "sequencer"]  # unversioned: no versionId
    assert obj["key"] == "photos/my+cat+%281%29%2B%3D.jpg"
    assert unquote_plus(obj["key"]) == key
    assert obj["size"] == 10
    assert obj["eTag"] == put["ETag"].strip('"')
    int(obj["sequencer"], 16)


def test_every_event_type_reaches_the_queue(
    s3: Any, sqs: Any, queue_bucket: tuple[str, str]
) -> None:
    bucket, url = queue_bucket
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="c")
    part = s3.upload_part(
        Bucket=bucket, Key="c", UploadId=upload["UploadId"], PartNumber=1, Body=b"xyz"
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="c",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    s3.delete_object(Bucket=bucket, Key="a")
    got = records(sqs, url, 4)
    names = [(r["eventName"], r["s3"]["object"]["key"]) for r in got]
    assert sorted(names) == [
        ("ObjectCreated:CompleteMultipartUpload", "c"),
        ("ObjectCreated:Copy", "b"),
        ("ObjectCreated:Put", "a"),
        ("ObjectRemoved:Delete", "a"),
    ]
    removal = next(r for r in got if r["eventName"] == "ObjectRemoved:Delete")
    assert list(removal["s3"]["object"]) == ["key", "sequencer"]  # no size or eTag
    # The sequencer grows with each change of a key.
    created = next(r for r in got if r["eventName"] == "ObjectCreated:Put")
    assert int(removal["s3"]["object"]["sequencer"], 16) > int(
        created["s3"]["object"]["sequencer"], 16
    )


def test_delete_objects_sends_one_record_per_key(
    s3: Any, sqs: Any, queue_bucket: tuple[str, str]
) -> None:
    bucket, url = queue_bucket
    keys = ["d/1", "d/2", "d/3"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    records(sqs, url, 3)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    removed = records(sqs, url, 3)
    assert {r["eventName"] for r in removed} == {"ObjectRemoved:Delete"}
    assert sorted(r["s3"]["object"]["key"] for r in removed) == keys


def test_versioned_bucket_delete_marker(s3: Any, sqs: Any, queue_bucket: tuple[str, str]) -> None:
    bucket, url = queue_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=bucket, Key="v", Body=b"data")
    marker = s3.delete_object(Bucket=bucket, Key="v")
    s3.delete_object(Bucket=bucket, Key="v", VersionId=put["VersionId"])
    created, marked, deleted = sorted(
        records(sqs, url, 3), key=lambda r: r["s3"]["object"]["sequencer"]
    )
    assert created["eventName"] == "ObjectCreated:Put"
    assert created["s3"]["object"]["versionId"] == put["VersionId"]
    assert marked["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert marked["s3"]["object"]["versionId"] == marker["VersionId"]
    assert deleted["eventName"] == "ObjectRemoved:Delete"
    assert deleted["s3"]["object"]["versionId"] == put["VersionId"]


def test_event_types_and_filters_select(s3: Any, sqs: Any, bucket: str) -> None:
    puts_url, puts_arn = new_queue(sqs)
    deletes_url, deletes_arn = new_queue(sqs)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": puts_arn,
                    "Events": ["s3:ObjectCreated:Put"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "img/"},
                                {"Name": "suffix", "Value": ".png"},
                            ]
                        }
                    },
                },
                {"QueueArn": deletes_arn, "Events": ["s3:ObjectRemoved:Delete"]},
            ]
        },
    )
    receive(sqs, puts_url, 1), receive(sqs, deletes_url, 1)  # the TestEvents
    for key in ("img/a.png", "img/a.jpg", "doc/a.png", "img/sub/b.png"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.copy_object(
        Bucket=bucket, Key="img/c.png", CopySource={"Bucket": bucket, "Key": "img/a.png"}
    )
    s3.delete_object(Bucket=bucket, Key="doc/a.png")
    created = records(sqs, puts_url, 2)
    assert sorted(r["s3"]["object"]["key"] for r in created) == ["img/a.png", "img/sub/b.png"]
    (removed,) = records(sqs, deletes_url, 1)
    assert removed["s3"]["object"]["key"] == "doc/a.png"


def test_topic_target(s3: Any, sqs: Any, sns: Any, bucket: str) -> None:
    topic = sns.create_topic(Name=unique("s3n"))["TopicArn"]
    url, arn = new_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [
                {"Id": "to-topic", "TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"hello")
    test, event = receive(sqs, url, 2)
    for envelope in (test, event):
        assert envelope["Type"] == "Notification"
        assert envelope["TopicArn"] == topic
        assert envelope["Subject"] == "Amazon S3 Notification"
    assert json.loads(test["Message"])["Event"] == "s3:TestEvent"
    (record,) = json.loads(event["Message"])["Records"]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "to-topic"
    assert record["s3"]["object"]["size"] == 5


RECORDER = """
def handler(event, context):
    return {"got": event}
"""


def test_lambda_target_through_the_async_queue(
    server: NimbusServer, lam: Any, s3: Any, sqs: Any, bucket: str
) -> None:
    """S3 -> Lambda goes through asynchronous invocation: its OnSuccess destination gets
    the invocation record, with the S3 event as requestPayload."""
    url, arn = new_queue(sqs)
    name = create(lam, unique("s3n"), Code={"ZipFile": make_zip({"app.py": RECORDER})})[
        "FunctionName"
    ]
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "fn",
                    "LambdaFunctionArn": function_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "up/"}]}},
                }
            ]
        },
    )
    s3.put_object(Bucket=bucket, Key="up/one.bin", Body=b"1234")
    s3.put_object(Bucket=bucket, Key="other/two.bin", Body=b"1234")  # filtered out
    (invocation,) = receive(sqs, url, 1)
    assert invocation["requestContext"]["functionArn"].startswith(function_arn)
    assert invocation["requestContext"]["condition"] == "Success"
    (record,) = invocation["requestPayload"]["Records"]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "fn"
    assert record["s3"]["object"]["key"] == "up/one.bin"
    assert invocation["responsePayload"] == {"got": invocation["requestPayload"]}


def test_deleted_bucket_forgets_its_configuration(
    s3: Any, sqs: Any, queue_bucket: tuple[str, str]
) -> None:
    bucket, url = queue_bucket
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "QueueConfigurations" not in got
    s3.put_object(Bucket=bucket, Key="quiet", Body=b"")
    receive(sqs, url, 0, timeout=2)


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


SLOW_RECORDER = """
import time

def handler(event, context):
    time.sleep(1)
    return {"got": event}
"""


def test_notifications_survive_kill_9(make_server: Callable[..., NimbusServer]) -> None:
    """A PUT answered 200 has its notification durable: killed right after (the slow
    function cannot have finished), the restarted server still runs the function for
    every object (at least once)."""
    node = make_server()
    lam, s3, sqs = node.client(), node.client("s3"), node.client("sqs")
    url, arn = new_queue(sqs)
    code = {"ZipFile": make_zip({"app.py": SLOW_RECORDER})}
    name = create(lam, "s3n-durable", Code=code, Timeout=10)["FunctionName"]
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    s3.create_bucket(Bucket="s3n-durable")
    s3.put_bucket_notification_configuration(
        Bucket="s3n-durable",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        },
    )
    for i in range(5):
        s3.put_object(Bucket="s3n-durable", Key=f"k{i}", Body=b"x")
    assert node.process is not None
    node.process.kill()
    node.process.wait()
    node.start()
    sqs = node.client("sqs")
    kept = node.client("s3").get_bucket_notification_configuration(Bucket="s3n-durable")
    assert len(kept["LambdaFunctionConfigurations"]) == 1  # the configuration is durable too
    keys: set[str] = set()
    deadline = time.monotonic() + 90
    while keys != {f"k{i}" for i in range(5)} and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            body = json.loads(message["Body"])
            keys.add(body["requestPayload"]["Records"][0]["s3"]["object"]["key"])
    assert keys == {f"k{i}" for i in range(5)}
