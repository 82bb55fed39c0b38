"""SQS queue operations end to end (boto3 and the AWS CLI against a real server):
create (idempotent or QueueAlreadyExists), URLs, listing, attributes, tags, purge, delete."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import ACCOUNT, REGION, NimbusServer, error_of, unique


def query_code(info: pytest.ExceptionInfo[Any]) -> str:
    return str(info.value.response["Error"].get("QueryErrorCode"))


def test_create_get_url_and_default_attributes(sqs: Any, server: NimbusServer) -> None:
    name = unique("q")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/{name}"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    assert attributes["VisibilityTimeout"] == "30"
    assert attributes["MaximumMessageSize"] == "262144"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["DelaySeconds"] == "0"
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "0"
    for counter in ("", "NotVisible", "Delayed"):
        assert attributes[f"ApproximateNumberOfMessages{counter}"] == "0"
    assert int(attributes["CreatedTimestamp"]) == int(attributes["LastModifiedTimestamp"])
    assert "FifoQueue" not in attributes
    one = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert one["Attributes"] == {"VisibilityTimeout": "30"}


def test_create_is_idempotent_only_with_equal_attributes(sqs: Any) -> None:
    name = unique("q")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
    again = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "10"})
    assert again["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url  # no attributes: no conflict
    with pytest.raises(sqs.exceptions.QueueNameExists) as info:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "11"})
    assert error_of(info) == (
        400,
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute "
        "VisibilityTimeout",
    )
    assert query_code(info) == "QueueNameExists"


def test_missing_queue_is_queue_does_not_exist(sqs: Any, server: NimbusServer) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as info:
        sqs.get_queue_url(QueueName=unique("nope"))
    assert error_of(info) == (
        400,
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    )
    assert info.value.response["Error"]["Type"] == "Sender"
    missing = f"{server.endpoint}/{ACCOUNT}/{unique('nope')}"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("send_message", {"MessageBody": "x"}),
        ("receive_message", {}),
        ("get_queue_attributes", {}),
        ("delete_queue", {}),
        ("purge_queue", {}),
    ]
    for operation, extra in calls:
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            getattr(sqs, operation)(QueueUrl=missing, **extra)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("VisibilityTimeout", "43201"),
        ("VisibilityTimeout", "-1"),
        ("VisibilityTimeout", "soon"),
        ("DelaySeconds", "901"),
        ("MessageRetentionPeriod", "59"),
        ("MaximumMessageSize", "1023"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
    ],
)
def test_invalid_attribute_values(sqs: Any, attribute: str, value: str) -> None:
    with pytest.raises(ClientError) as info:
        sqs.create_queue(QueueName=unique("q"), Attributes={attribute: value})
    assert error_of(info) == (
        400,
        "InvalidAttributeValue",
        f"Invalid value for the parameter {attribute}.",
    )


def test_invalid_names_and_unknown_attributes(sqs: Any) -> None:
    for name in ("has space", "x" * 81, "dot.ted", ""):
        with pytest.raises(ClientError) as info:
            sqs.create_queue(QueueName=name)
        assert error_of(info)[1] in ("InvalidParameterValue", "MissingParameter"), name
    with pytest.raises(ClientError) as info:
        sqs.create_queue(QueueName=unique("q"), Attributes={"ContentBasedDeduplication": "true"})
    assert error_of(info) == (
        400,
        "InvalidAttributeName",
        "Unknown Attribute ContentBasedDeduplication.",
    )
    with pytest.raises(ClientError) as info:
        sqs.create_queue(QueueName=unique("q") + ".fifo")  # FifoQueue not set
    assert error_of(info)[1] == "InvalidParameterValue"
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    with pytest.raises(ClientError) as info:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])
    assert error_of(info) == (400, "InvalidAttributeName", "Unknown Attribute Bogus.")


def test_set_attributes_and_redrive_policy_validation(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7"})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert got["Attributes"]["VisibilityTimeout"] == "7"
    with pytest.raises(ClientError) as info:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "x"})
    assert error_of(info)[1] == "InvalidAttributeValue"
    missing_dlq = json.dumps(
        {"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{unique('gone')}",
         "maxReceiveCount": 3}
    )  # fmt: skip
    with pytest.raises(ClientError) as info:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": missing_dlq})
    status, code, message = error_of(info)
    assert (status, code) == (400, "InvalidParameterValue")
    assert message.endswith("Reason: Dead letter target does not exist.")
    dlq = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy})
    stored = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    assert json.loads(stored["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 5,
    }
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert sources == [url]
    too_many = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1001})
    with pytest.raises(ClientError) as info:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": too_many})
    assert error_of(info)[1] == "InvalidParameterValue"


def test_list_queues_prefix_and_pages(sqs: Any) -> None:
    prefix = unique("list")
    urls = sorted(sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5))
    assert sorted(sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == urls
    seen: list[str] = []
    token: str | None = None
    while True:
        page = sqs.list_queues(
            QueueNamePrefix=prefix, MaxResults=2, **({"NextToken": token} if token else {})
        )
        seen += page["QueueUrls"]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == urls
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=unique("none"))


def test_tags(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("q"), tags={"team": "a"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev", "team": "b"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "b", "env": "dev"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}


def test_purge_and_delete(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.purge_queue(QueueUrl=url)
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert got["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress) as info:
        sqs.purge_queue(QueueUrl=url)
    assert error_of(info)[0] == 403
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=url)


def test_aws_cli(server: NimbusServer) -> None:
    name = unique("cli")
    created = json.loads(
        server.aws("sqs", "create-queue", "--queue-name", name,
                   "--attributes", "VisibilityTimeout=12").stdout
    )  # fmt: skip
    url = created["QueueUrl"]
    sent = json.loads(
        server.aws("sqs", "send-message", "--queue-url", url, "--message-body", "from cli").stdout
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"from cli").hexdigest()
    got = json.loads(
        server.aws("sqs", "receive-message", "--queue-url", url,
                   "--attribute-names", "All").stdout
    )  # fmt: skip
    message = got["Messages"][0]
    assert message["Body"] == "from cli"
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    server.aws("sqs", "delete-message", "--queue-url", url,
               "--receipt-handle", message["ReceiptHandle"])  # fmt: skip
    attributes = json.loads(
        server.aws("sqs", "get-queue-attributes", "--queue-url", url,
                   "--attribute-names", "All").stdout
    )["Attributes"]  # fmt: skip
    assert attributes["VisibilityTimeout"] == "12"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    failed = server.aws("sqs", "get-queue-url", "--queue-name", unique("nope"), check=False)
    assert failed.returncode != 0
    assert "AWS.SimpleQueueService.NonExistentQueue" in failed.stderr
    assert name in server.aws("sqs", "list-queues", "--queue-name-prefix", name).stdout
    server.aws("sqs", "delete-queue", "--queue-url", url)
