"""SNS deliveries end to end: to Lambda (the event field by field), to SQS (notification
JSON or raw, filter policies on attributes and body), to HTTP endpoints (the confirmation
handshake, signatures checked with the certificate Nimbus serves, retries, UnsubscribeURL),
invocation destinations that are topics, and topics surviving a restart."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from e2e import NimbusServer, create, log_lines, make_zip, unique
from test_sns_support import Recorder, fetch, sink_events, verify, wait_for

ENV = {"NIMBUS_SNS_HTTP_RETRY_DELAYS": "0.2,0.3", "NIMBUS_ASYNC_RETRY_DELAYS": "0.2,0.4"}
SINK = """
import json
def handler(event, context):
    print("SINK " + json.dumps(event))
    return {"ok": True}
"""
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NimbusServer]:
    server = NimbusServer(tmp_path_factory.mktemp("sns") / "data", env=ENV).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sns(node: NimbusServer) -> Any:
    return node.client("sns")


@pytest.fixture(scope="module")
def sqs(node: NimbusServer) -> Any:
    return node.client("sqs")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    endpoint = Recorder()
    yield endpoint
    endpoint.close()


def new_queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, queue_arn["Attributes"]["QueueArn"]


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Everything in the queue now (SNS' Publish returns once SQS deliveries are durable)."""
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            return found
        found += got
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_lambda_receives_the_sns_event(node: NimbusServer, sns: Any) -> None:
    lam = node.client()
    function = create(lam, unique("snsink"), Code={"ZipFile": make_zip({"app.py": SINK})})
    topic = sns.create_topic(Name=unique("to-lambda"))["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function["FunctionArn"])
    sub_arn = sub["SubscriptionArn"]
    attributes = {
        "s": {"DataType": "String", "StringValue": "v"},
        "n": {"DataType": "Number", "StringValue": "1.5"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        "a": {"DataType": "String.Array", "StringValue": '["x", 1]'},
    }
    message_id = sns.publish(TopicArn=topic, Message="to a function", MessageAttributes=attributes)[
        "MessageId"
    ]
    (event,) = sink_events(node, function["FunctionName"], 1)
    (record,) = event["Records"]
    assert list(record) == ["EventSource", "EventVersion", "EventSubscriptionArn", "Sns"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub_arn
    message = record["Sns"]
    assert message["Type"] == "Notification"
    assert message["MessageId"] == message_id
    assert message["TopicArn"] == topic
    assert message["Subject"] is None
    assert message["Message"] == "to a function"
    assert TIMESTAMP.match(message["Timestamp"])
    assert message["SignatureVersion"] == "1"
    assert message["SigningCertUrl"].startswith(node.endpoint + "/_nimbus/sns/")
    assert message["UnsubscribeUrl"].startswith(node.endpoint + "/_nimbus/sns/?Action=Unsubscribe")
    assert parse_qs(urlparse(message["UnsubscribeUrl"]).query)["SubscriptionArn"] == [sub_arn]
    assert message["MessageAttributes"] == {
        "s": {"Type": "String", "Value": "v"},
        "n": {"Type": "Number", "Value": "1.5"},
        "b": {"Type": "Binary", "Value": base64.b64encode(b"\x00\xff").decode()},
        "a": {"Type": "String.Array", "Value": '["x", 1]'},
    }
    verify(message, "SigningCertUrl")
    # MessageStructure=json: the function gets its own text (or "default").
    structured = json.dumps({"default": "d", "lambda": "for lambda", "sqs": "for sqs"})
    sns.publish(TopicArn=topic, Message=structured, MessageStructure="json", Subject="S")
    events = sink_events(node, function["FunctionName"], 2)
    second = events[1]["Records"][0]["Sns"]
    assert second["Message"] == "for lambda"
    assert second["Subject"] == "S"
    assert second["MessageAttributes"] == {}


def test_sqs_notifications_raw_and_filtered(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name=unique("to-sqs"))["TopicArn"]
    plain_url, plain_arn = new_queue(sqs)
    raw_url, raw_arn = new_queue(sqs)
    red_url, red_arn = new_queue(sqs)
    body_url, body_arn = new_queue(sqs)
    plain_sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=plain_arn)["SubscriptionArn"]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"}
    )
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=red_arn,
        Attributes={
            "FilterPolicy": json.dumps({"color": ["red"], "size": [{"numeric": [">", 5]}]})
        },
    )
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=body_arn,
        Attributes={
            "FilterPolicy": json.dumps({"order": {"kind": [{"prefix": "urgent"}]}}),
            "FilterPolicyScope": "MessageBody",
        },
    )
    red = {
        "color": {"DataType": "String", "StringValue": "red"},
        "size": {"DataType": "Number", "StringValue": "10"},
    }
    first = sns.publish(
        TopicArn=topic, Message="hello <sqs> & co", Subject="Greeting", MessageAttributes=red
    )
    small = dict(red, size={"DataType": "Number", "StringValue": "2"})
    sns.publish(TopicArn=topic, Message="too small", MessageAttributes=small)
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"kind": "urgent-1"}}))
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"kind": "later"}}))

    plain = drain(sqs, plain_url)
    assert len(plain) == 4
    # Queues need not keep order: find each message by its text.
    plain_by_text = {json.loads(m["Body"])["Message"]: m for m in plain}
    first_plain = plain_by_text["hello <sqs> & co"]
    document = json.loads(first_plain["Body"])
    assert first_plain["Body"].startswith('{\n  "Type" : "Notification",\n  "MessageId" : ')
    assert list(document) == [
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
        "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes",
    ]  # fmt: skip
    assert document["MessageId"] == first["MessageId"]
    assert document["TopicArn"] == topic
    assert document["Subject"] == "Greeting"
    assert document["Message"] == "hello <sqs> & co"
    assert TIMESTAMP.match(document["Timestamp"])
    assert document["MessageAttributes"] == {
        "color": {"Type": "String", "Value": "red"},
        "size": {"Type": "Number", "Value": "10"},
    }
    # As AWS writes it: the ARN's colons are not escaped.
    assert document["UnsubscribeURL"].endswith(f"?Action=Unsubscribe&SubscriptionArn={plain_sub}")
    assert "MessageAttributes" not in first_plain  # the attributes travel in the body
    verify(document)
    assert "Subject" not in json.loads(plain_by_text["too small"]["Body"])

    raw = drain(sqs, raw_url)
    raw_by_body = {m["Body"]: m for m in raw}
    assert sorted(raw_by_body) == sorted(
        [
            "hello <sqs> & co",
            "too small",
            json.dumps({"order": {"kind": "urgent-1"}}),
            json.dumps({"order": {"kind": "later"}}),
        ]
    )
    assert raw_by_body["hello <sqs> & co"]["MessageAttributes"] == {
        "color": {"DataType": "String", "StringValue": "red"},
        "size": {"DataType": "Number", "StringValue": "10"},
    }

    assert [json.loads(m["Body"])["Message"] for m in drain(sqs, red_url)] == ["hello <sqs> & co"]
    # Raw delivery to SQS carries at most 10 attributes; AWS drops a message with more.
    eleven = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    sns.publish(TopicArn=topic, Message="eleven attributes", MessageAttributes=eleven)
    assert [m["Body"] for m in drain(sqs, raw_url)] == []
    assert json.loads(drain(sqs, plain_url)[0]["Body"])["Message"] == "eleven attributes"
    urgent = [json.loads(m["Body"])["Message"] for m in drain(sqs, body_url)]
    assert urgent == [json.dumps({"order": {"kind": "urgent-1"}})]


def test_publish_batch_fans_out(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name=unique("batch-fan"))["TopicArn"]
    url, queue_arn = new_queue(sqs)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    entries = [{"Id": f"e{i}", "Message": f"m{i}"} for i in range(10)]
    result = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    assert len(result["Successful"]) == 10 and result["Failed"] == []
    assert sorted(m["Body"] for m in drain(sqs, url)) == sorted(f"m{i}" for i in range(10))


def test_http_handshake_signatures_retries_and_unsubscribe(
    node: NimbusServer, sns: Any, recorder: Recorder
) -> None:
    topic = sns.create_topic(Name=unique("to-http"))["TopicArn"]
    answer = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=recorder.url)
    assert answer["SubscriptionArn"] == "pending confirmation"
    (handshake,) = recorder.wait("SubscriptionConfirmation")
    headers = handshake["headers"]
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["x-amz-sns-topic-arn"] == topic
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    confirmation = json.loads(handshake["body"])
    assert headers["x-amz-sns-message-id"] == confirmation["MessageId"]
    assert confirmation["Type"] == "SubscriptionConfirmation"
    assert confirmation["TopicArn"] == topic
    assert confirmation["Message"] == (
        f"You have chosen to subscribe to the topic {topic}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message."
    )
    assert TIMESTAMP.match(confirmation["Timestamp"])
    verify(confirmation)
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == ["PendingConfirmation"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "1"
    sns.publish(TopicArn=topic, Message="before confirmation")  # not delivered

    status, body = fetch(confirmation["SubscribeURL"])  # unsigned GET, as AWS' SubscribeURL
    assert status == 200
    sub_arn = re.search(rb"<SubscriptionArn>(.*)</SubscriptionArn>", body).group(1).decode()  # type: ignore[union-attr]
    assert sub_arn.startswith(topic + ":")
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "false"

    recorder.statuses.extend([500, 503])  # two failures, then delivered (retries)
    message_id = sns.publish(
        TopicArn=topic,
        Message="over http",
        Subject="Subj",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )["MessageId"]
    notes = recorder.wait("Notification", 3)
    assert {n["headers"]["x-amz-sns-message-id"] for n in notes} == {message_id}
    note = notes[-1]
    assert note["headers"]["x-amz-sns-subscription-arn"] == sub_arn
    assert note["headers"]["x-amz-sns-topic-arn"] == topic
    document = json.loads(note["body"])
    assert (document["Message"], document["Subject"]) == ("over http", "Subj")
    assert document["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    verify(document)

    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    sns.publish(TopicArn=topic, Message="raw over http")
    raw = recorder.wait("Notification", 4)[-1]
    assert raw["body"] == "raw over http"
    assert raw["headers"]["x-amz-sns-rawdelivery"] == "true"
    sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="false"
    )
    sns.publish(TopicArn=topic, Message="signed with sha256")
    v2 = json.loads(recorder.wait("Notification", 5)[-1]["body"])
    assert v2["SignatureVersion"] == "2"
    verify(v2)

    status, body = fetch(v2["UnsubscribeURL"])
    assert status == 200 and b"<UnsubscribeResponse" in body
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    sns.publish(TopicArn=topic, Message="after unsubscribe")
    time.sleep(1.0)  # an HTTP delivery would have arrived by now (they are not awaited)
    delivered = [
        json.loads(n["body"])["Message"] if n["body"].startswith("{") else n["body"]
        for n in recorder.of_type("Notification")
    ]
    assert "before confirmation" not in delivered and "after unsubscribe" not in delivered
    # The endpoint was told, and the UnsubscribeConfirmation's SubscribeURL restores it.
    (goodbye,) = recorder.wait("UnsubscribeConfirmation")
    farewell = json.loads(goodbye["body"])
    assert goodbye["headers"]["x-amz-sns-subscription-arn"] == sub_arn
    assert farewell["Message"] == (
        f"You have chosen to deactivate subscription {sub_arn}.\n"
        "To cancel this operation and restore the subscription, visit the SubscribeURL "
        "included in this message."
    )
    verify(farewell)
    status, body = fetch(farewell["SubscribeURL"])
    assert status == 200 and sub_arn.encode() in body
    sns.publish(TopicArn=topic, Message="restored")
    wait_for(
        lambda: any(n["body"].find('"restored"') > 0 for n in recorder.of_type("Notification"))
    )


def test_http_confirm_through_the_api(sns: Any, recorder: Recorder) -> None:
    topic = sns.create_topic(Name=unique("confirm-api"))["TopicArn"]
    pending = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=recorder.url, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    assert pending.startswith(topic + ":")
    assert (
        sns.get_subscription_attributes(SubscriptionArn=pending)["Attributes"][
            "PendingConfirmation"
        ]
        == "true"
    )
    token = json.loads(recorder.wait("SubscriptionConfirmation")[0]["body"])["Token"]
    # Subscribing again while pending sends the handshake again (same subscription, token).
    again = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=recorder.url, ReturnSubscriptionArn=True
    )
    assert again["SubscriptionArn"] == pending
    second = json.loads(recorder.wait("SubscriptionConfirmation", 2)[1]["body"])
    assert second["Token"] == token
    confirmed = sns.confirm_subscription(
        TopicArn=topic, Token=token, AuthenticateOnUnsubscribe="true"
    )
    assert confirmed["SubscriptionArn"] == pending
    assert sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"] == pending
    attributes = sns.get_subscription_attributes(SubscriptionArn=pending)["Attributes"]
    assert attributes["ConfirmationWasAuthenticated"] == "true"
    assert not any(name.startswith("_") for name in attributes)
    sns.publish(TopicArn=topic, Message="confirmed")
    document = json.loads(recorder.wait("Notification")[0]["body"])
    assert document["Message"] == "confirmed"
    # AuthenticateOnUnsubscribe: the unsigned UnsubscribeURL is refused, the API works.
    with pytest.raises(urllib.error.HTTPError) as refused:
        fetch(document["UnsubscribeURL"])
    assert refused.value.code == 403
    assert b"<Code>AuthorizationError</Code>" in refused.value.read()
    sns.unsubscribe(SubscriptionArn=pending)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_async_destination_publishes_to_a_topic(node: NimbusServer, sns: Any, sqs: Any) -> None:
    lam = node.client()
    function = create(lam, unique("dest"), Code={"ZipFile": make_zip({"app.py": SINK})})
    topic = sns.create_topic(Name=unique("destination"))["TopicArn"]
    url, queue_arn = new_queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    lam.put_function_event_invoke_config(
        FunctionName=function["FunctionName"],
        DestinationConfig={"OnSuccess": {"Destination": topic}},
    )
    lam.invoke(FunctionName=function["FunctionName"], InvocationType="Event", Payload=b'{"n": 1}')
    messages = wait_for(lambda: drain(sqs, url))
    document = json.loads(messages[0]["Body"])
    assert document["TopicArn"] == topic
    record = json.loads(document["Message"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestPayload"] == {"n": 1}
    assert record["responsePayload"] == {"ok": True}
    verify(document)


def test_topics_and_subscriptions_survive_restart(make_server: Any, tmp_path: Path) -> None:
    first = make_server(data_dir=tmp_path / "keep", env=ENV)
    sns, sqs = first.client("sns"), first.client("sqs")
    topic = sns.create_topic(Name="durable", Attributes={"DisplayName": "kept"})["TopicArn"]
    url, queue_arn = new_queue(sqs)
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )["SubscriptionArn"]
    cert = (tmp_path / "keep" / "sns" / "signing-cert.pem").read_bytes()
    first.stop()
    second = make_server(data_dir=tmp_path / "keep", env=ENV)
    sns, sqs = second.client("sns"), second.client("sqs")
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "kept"
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]] == [sub]
    sns.publish(TopicArn=topic, Message="after restart")
    assert [m["Body"] for m in drain(sqs, url)] == ["after restart"]
    assert (tmp_path / "keep" / "sns" / "signing-cert.pem").read_bytes() == cert


def test_undeliverable_messages_go_to_the_redrive_queue(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name=unique("redrive"))["TopicArn"]
    dlq_url, dlq_arn = new_queue(sqs)
    gone = dlq_arn.rsplit(":", 1)[0] + ":" + unique("never-created")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=gone,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )
    message_id = sns.publish(TopicArn=topic, Message="nowhere to go")["MessageId"]  # still 200
    (dead,) = drain(sqs, dlq_url)
    document = json.loads(dead["Body"])
    assert (document["MessageId"], document["Message"]) == (message_id, "nowhere to go")


def test_http_retries_follow_the_delivery_policy(sns: Any, recorder: Recorder) -> None:
    policy = {
        "http": {
            "defaultHealthyRetryPolicy": {
                "numRetries": 1,
                "minDelayTarget": 0.1,
                "maxDelayTarget": 0.1,
            }
        }
    }
    topic = sns.create_topic(
        Name=unique("policy"), Attributes={"DeliveryPolicy": json.dumps(policy)}
    )["TopicArn"]
    sub = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=recorder.url, ReturnSubscriptionArn=True
    )
    token = json.loads(recorder.wait("SubscriptionConfirmation")[0]["body"])["Token"]
    assert (
        sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"]
        == sub["SubscriptionArn"]
    )
    recorder.statuses.extend([500, 500, 500, 500])
    sns.publish(TopicArn=topic, Message="retried once")
    recorder.wait("Notification", 2)
    time.sleep(1.0)  # the server's default (0.2, 0.3) would have retried twice by now
    assert len(recorder.of_type("Notification")) == 2


FAILING = """
def handler(event, context):
    raise RuntimeError("always fails")
"""


def test_dead_letter_topic_of_a_function(node: NimbusServer, sns: Any, sqs: Any) -> None:
    lam = node.client()
    topic = sns.create_topic(Name=unique("dlq-topic"))["TopicArn"]
    url, queue_arn = new_queue(sqs)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    function = create(
        lam,
        unique("fails"),
        Code={"ZipFile": make_zip({"app.py": FAILING})},
        DeadLetterConfig={"TargetArn": topic},
    )
    response = lam.invoke(
        FunctionName=function["FunctionName"], InvocationType="Event", Payload=b'{"n": 2}'
    )
    messages = wait_for(lambda: drain(sqs, url), timeout=30)
    assert json.loads(messages[0]["Body"]) == {"n": 2}
    attributes = messages[0]["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == response["ResponseMetadata"]["RequestId"]
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert "always fails" in attributes["ErrorMessage"]["StringValue"]


def test_dead_letter_queue_of_a_function(node: NimbusServer, sqs: Any) -> None:
    """DeadLetterConfig naming an SQS queue: the event itself, with AWS' attributes."""
    lam = node.client()
    url, queue_arn = new_queue(sqs)
    function = create(
        lam,
        unique("fails"),
        Code={"ZipFile": make_zip({"app.py": FAILING})},
        DeadLetterConfig={"TargetArn": queue_arn},
    )
    lam.put_function_event_invoke_config(
        FunctionName=function["FunctionName"], MaximumRetryAttempts=1
    )
    response = lam.invoke(
        FunctionName=function["FunctionName"], InvocationType="Event", Payload=b'{"n": 3}'
    )
    messages = wait_for(lambda: drain(sqs, url), timeout=30)
    assert len(messages) == 1 and json.loads(messages[0]["Body"]) == {"n": 3}
    attributes = messages[0]["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == response["ResponseMetadata"]["RequestId"]
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert "always fails" in attributes["ErrorMessage"]["StringValue"]
    runs = log_lines(node, function["FunctionName"], "START RequestId:")
    assert len(runs) == 2  # the first try and one retry, then the DLQ
