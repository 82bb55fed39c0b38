"""SNS API end to end (boto3 and the AWS CLI against a real server): every operation and
its error paths, with AWS' codes, statuses and messages."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from e2e import ACCOUNT, REGION, NimbusServer, error_of, unique

FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nothing-here"


@pytest.fixture(scope="module")
def sns(server: NimbusServer) -> Any:
    return server.client("sns")


def topic_arn(name: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"


def fails(call: Any, **params: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    return error_of(info)


def test_create_topic_is_idempotent_and_checks_names(sns: Any) -> None:
    name = unique("topic")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Shown"})["TopicArn"]
    assert arn == topic_arn(name)
    assert sns.create_topic(Name=name)["TopicArn"] == arn
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Shown"})["TopicArn"] == arn
    assert fails(sns.create_topic, Name=name, Attributes={"DisplayName": "Other"}) == (
        400,
        "InvalidParameter",
        "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
    )
    for bad in ("has space", "x" * 257, "dot.ted", ""):
        assert fails(sns.create_topic, Name=bad) == (
            400,
            "InvalidParameter",
            "Invalid parameter: Topic Name",
        )
    assert sns.create_topic(Name="y" * 256)["TopicArn"] == topic_arn("y" * 256)
    sns.delete_topic(TopicArn=topic_arn("y" * 256))


def test_topic_attributes(sns: Any) -> None:
    name = unique("attrs")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "d"})["TopicArn"]
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["TopicArn"] == arn
    assert attributes["Owner"] == ACCOUNT
    assert attributes["DisplayName"] == "d"
    assert attributes["SubscriptionsConfirmed"] == "0"
    assert attributes["SubscriptionsPending"] == "0"
    assert attributes["SubscriptionsDeleted"] == "0"
    policy = json.loads(attributes["Policy"])
    assert policy["Statement"][0]["Resource"] == arn
    assert "http" in json.loads(attributes["EffectiveDeliveryPolicy"])
    delivery = {"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}}}
    sns.set_topic_attributes(
        TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(delivery)
    )
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="new")
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["DisplayName"] == "new"
    assert json.loads(attributes["DeliveryPolicy"]) == delivery
    assert json.loads(attributes["EffectiveDeliveryPolicy"]) == delivery
    assert fails(
        sns.set_topic_attributes, TopicArn=arn, AttributeName="Bogus", AttributeValue="x"
    ) == (
        400,
        "InvalidParameter",
        "Invalid parameter: AttributeName",
    )
    status, code, _ = fails(
        sns.set_topic_attributes, TopicArn=arn, AttributeName="Policy", AttributeValue="{no"
    )
    assert (status, code) == (400, "InvalidParameter")
    status, code, _ = fails(
        sns.set_topic_attributes, TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="3"
    )
    assert (status, code) == (400, "InvalidParameter")


def test_missing_and_malformed_topics(sns: Any) -> None:
    missing = topic_arn(unique("missing"))
    not_found = (404, "NotFound", "Topic does not exist")
    assert fails(sns.get_topic_attributes, TopicArn=missing) == not_found
    assert (
        fails(
            sns.set_topic_attributes,
            TopicArn=missing,
            AttributeName="DisplayName",
            AttributeValue="x",
        )
        == not_found
    )
    assert fails(sns.publish, TopicArn=missing, Message="x") == not_found
    assert fails(sns.subscribe, TopicArn=missing, Protocol="lambda", Endpoint=FN) == not_found
    assert fails(sns.list_subscriptions_by_topic, TopicArn=missing) == not_found
    assert fails(sns.get_topic_attributes, TopicArn="not-an-arn") == (
        400,
        "InvalidParameter",
        "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1",
    )
    assert fails(sns.get_topic_attributes, TopicArn="arn:aws:sqs:us-east-1:000000000000:q") == (
        400,
        "InvalidParameter",
        "Invalid parameter: TopicArn",
    )
    assert fails(sns.publish, TargetArn="arn:nope", Message="x") == (
        400,
        "InvalidParameter",
        "Invalid parameter: TargetArn Reason: An ARN must have at least 6 elements, not 2",
    )
    # The message is checked before the target.
    assert fails(sns.publish, TopicArn=missing, Message="") == (
        400,
        "InvalidParameter",
        "Invalid parameter: Empty message",
    )
    assert fails(sns.publish, Message="x") == (
        400,
        "InvalidParameter",
        "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
    )
    sns.delete_topic(TopicArn=missing)  # deleting what does not exist is no error


def test_list_topics_pages_of_100(server: NimbusServer, sns: Any) -> None:
    prefix = unique("page")
    made = {sns.create_topic(Name=f"{prefix}-{i:03d}")["TopicArn"] for i in range(105)}
    seen: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        page = sns.list_topics(**({"NextToken": token} if token else {}))
        pages += 1
        assert len(page["Topics"]) <= 100
        seen += [t["TopicArn"] for t in page["Topics"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pages >= 2
    assert made <= set(seen)
    assert len(seen) == len(set(seen))
    assert fails(sns.list_topics, NextToken="!!!")[:2] == (400, "InvalidParameter")
    for arn in made:
        sns.delete_topic(TopicArn=arn)
    assert not made & {t["TopicArn"] for t in sns.list_topics()["Topics"]}


def test_subscriptions_lifecycle(sns: Any) -> None:
    arn = sns.create_topic(Name=unique("subs"))["TopicArn"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{unique('q')}"
    sub = sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=FN)["SubscriptionArn"]
    assert sub.startswith(arn + ":")
    assert sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=FN)["SubscriptionArn"] == sub
    sqs_sub = sns.subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=queue,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": '{"k": ["v"]}'},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    assert fails(
        sns.subscribe,
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=queue,
        Attributes={"RawMessageDelivery": "false"},
    ) == (
        400,
        "InvalidParameter",
        "Invalid parameter: Attributes Reason: "
        "Subscription already exists with different attributes",
    )
    attributes = sns.get_subscription_attributes(SubscriptionArn=sqs_sub)["Attributes"]
    assert attributes["Protocol"] == "sqs" and attributes["Endpoint"] == queue
    assert attributes["TopicArn"] == arn and attributes["Owner"] == ACCOUNT
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "true"
    assert attributes["FilterPolicy"] == '{"k": ["v"]}'
    assert attributes["FilterPolicyScope"] == "MessageAttributes"
    sns.set_subscription_attributes(
        SubscriptionArn=sqs_sub, AttributeName="FilterPolicyScope", AttributeValue="MessageBody"
    )
    sns.set_subscription_attributes(
        SubscriptionArn=sqs_sub, AttributeName="RawMessageDelivery", AttributeValue="false"
    )
    attributes = sns.get_subscription_attributes(SubscriptionArn=sqs_sub)["Attributes"]
    assert attributes["FilterPolicyScope"] == "MessageBody"
    assert attributes["RawMessageDelivery"] == "false"
    by_topic = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert {s["SubscriptionArn"] for s in by_topic} == {sub, sqs_sub}
    assert {(s["Protocol"], s["Endpoint"], s["TopicArn"], s["Owner"]) for s in by_topic} == {
        ("lambda", FN, arn, ACCOUNT),
        ("sqs", queue, arn, ACCOUNT),
    }
    assert {sub, sqs_sub} <= {
        s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]
    }
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SubscriptionsConfirmed"] == "2"
    sns.unsubscribe(SubscriptionArn=sub)
    sns.unsubscribe(SubscriptionArn=sub)  # again: no error
    assert fails(sns.get_subscription_attributes, SubscriptionArn=sub) == (
        404,
        "NotFound",
        "Subscription does not exist",
    )
    sns.delete_topic(TopicArn=arn)
    assert fails(sns.get_subscription_attributes, SubscriptionArn=sqs_sub)[1] == "NotFound"


@pytest.mark.parametrize(
    ("protocol", "endpoint", "attributes", "message"),
    [
        (
            "smoke",
            "x",
            {},
            "Invalid parameter: Amazon SNS does not support this protocol string: smoke",
        ),
        ("sqs", "my-queue", {}, "Invalid parameter: SQS endpoint ARN"),
        ("lambda", "my-function", {}, "Invalid parameter: Lambda endpoint ARN"),
        (
            "http",
            "https://example.com",
            {},
            "Invalid parameter: Endpoint must match the specified protocol",
        ),
        (
            "lambda",
            FN,
            {"RawMessageDelivery": "true"},
            "Invalid parameter: Attributes Reason: "
            "Delivery protocol [lambda] does not support raw message delivery.",
        ),
        ("lambda", FN, {"Colour": "x"}, "Invalid parameter: Attributes Reason: AttributeName"),
        (
            "lambda",
            FN,
            {"FilterPolicy": '{"a": "b"}'},
            'Invalid parameter: Attributes Reason: FilterPolicy: "a" must be an object or an array',
        ),
        (
            "lambda",
            FN,
            {"FilterPolicy": '{"a": ["b"]}', "FilterPolicyScope": "Body"},
            "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value [Body]. "
            "Please use either MessageBody or MessageAttributes",
        ),
    ],
)
def test_subscribe_rejects(
    sns: Any, protocol: str, endpoint: str, attributes: dict[str, str], message: str
) -> None:
    arn = sns.create_topic(Name="sns-rejects")["TopicArn"]
    assert fails(
        sns.subscribe, TopicArn=arn, Protocol=protocol, Endpoint=endpoint, Attributes=attributes
    ) == (
        400,
        "InvalidParameter",
        message,
    )


def test_subscription_arn_errors(sns: Any) -> None:
    assert fails(sns.get_subscription_attributes, SubscriptionArn="nope") == (
        400,
        "InvalidParameter",
        "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1",
    )
    arn = sns.create_topic(Name="sns-sub-errors")["TopicArn"]
    sub = sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=FN)["SubscriptionArn"]
    set_errors = [
        ("FilterPolicy", "[", "Invalid parameter: FilterPolicy: failed to parse JSON."),
        (
            "FilterPolicy",
            '{"a": {"b": ["c"]}}',
            "Invalid parameter: Filter policy scope MessageAttributes does not support nested "
            "filter policy",
        ),
        ("Colour", "x", "Invalid parameter: AttributeName"),
        (
            "RawMessageDelivery",
            "yes",
            "Invalid parameter: RawMessageDelivery: Invalid value [yes]. Must be true or false.",
        ),
        ("RedrivePolicy", "{", "Invalid parameter: RedrivePolicy: failed to parse JSON."),
        (
            "RedrivePolicy",
            '{"deadLetterTargetArn": "nope"}',
            "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn",
        ),
    ]
    for name, value, message in set_errors:
        assert fails(
            sns.set_subscription_attributes,
            SubscriptionArn=sub,
            AttributeName=name,
            AttributeValue=value,
        ) == (400, "InvalidParameter", message)
    assert fails(sns.confirm_subscription, TopicArn=arn, Token="bad") == (
        400,
        "InvalidParameter",
        "Invalid parameter: Token",
    )
    assert fails(sns.confirm_subscription, TopicArn="nope", Token="bad") == (
        400,
        "InvalidParameter",
        "Invalid parameter: Topic",
    )
    assert fails(sns.unsubscribe, SubscriptionArn=arn) == (
        400,
        "InvalidParameter",
        "Invalid parameter: SubscriptionId",
    )


def test_publish_checks(sns: Any) -> None:
    arn = sns.create_topic(Name="sns-publish-checks")["TopicArn"]
    message_id = sns.publish(TopicArn=arn, Message="hello", Subject="Hi there")["MessageId"]
    assert len(message_id) == 36
    assert sns.publish(TargetArn=arn, Message="by target")["MessageId"]
    checks = [
        ({"Message": ""}, "Invalid parameter: Empty message"),
        ({"Message": "x" * 262_145}, "Invalid parameter: Message too long"),
        ({"Message": "x", "Subject": "a\nb"}, "Invalid parameter: Subject"),
        (
            {"Message": '{"sqs": "x"}', "MessageStructure": "json"},
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        ),
        (
            {"Message": "plain", "MessageStructure": "json"},
            "Invalid parameter: Message Structure - JSON message body failed to parse",
        ),
    ]
    for params, message in checks:
        assert fails(sns.publish, TopicArn=arn, **params) == (400, "InvalidParameter", message)
    attribute_checks = [
        (
            {"n": {"DataType": "Number", "StringValue": "ten"}},
            "Could not cast message attribute 'n' value to number.",
        ),
        (
            {"t": {"DataType": "Text", "StringValue": "v"}},
            "The message attribute 't' has an invalid message attribute type, "
            "the set of supported type prefixes is Binary, Number, and String.",
        ),
        (
            {"b": {"DataType": "Binary", "StringValue": "v"}},
            "The message attribute 'b' with type 'Binary' must use field 'Binary'.",
        ),
        (
            {"bad name": {"DataType": "String", "StringValue": "v"}},
            "Invalid non-alphanumeric character '#x20' was found in the message attribute name. "
            "Can only include alphanumeric characters, hyphens, underscores, or dots.",
        ),
    ]
    for attributes, message in attribute_checks:
        assert fails(sns.publish, TopicArn=arn, Message="x", MessageAttributes=attributes) == (
            400,
            "ParameterValueInvalid",
            message,
        )
    # 256 KB counts the attributes too.
    big = {"a": {"DataType": "String", "StringValue": "y" * 100}}
    assert fails(sns.publish, TopicArn=arn, Message="x" * 262_100, MessageAttributes=big)[2] == (
        "Invalid parameter: Message too long"
    )


def test_publish_batch(sns: Any) -> None:
    arn = sns.create_topic(Name="sns-batch")["TopicArn"]
    result = sns.publish_batch(
        TopicArn=arn,
        PublishBatchRequestEntries=[
            {"Id": "ok-1", "Message": "a"},
            {"Id": "empty", "Message": ""},
            {
                "Id": "ok_2",
                "Message": "b",
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            },
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["ok-1", "ok_2"]
    assert all(len(e["MessageId"]) == 36 for e in result["Successful"])
    assert result["Failed"] == [
        {
            "Id": "empty",
            "Code": "InvalidParameter",
            "Message": "Invalid parameter: Empty message",
            "SenderFault": True,
        }
    ]
    entries = [{"Id": str(i), "Message": "m"} for i in range(11)]
    assert fails(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=entries) == (
        400,
        "TooManyEntriesInBatchRequest",
        "The batch request contains more entries than permissible.",
    )
    assert fails(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=[]) == (
        400,
        "EmptyBatchRequest",
        "The batch request doesn't contain any entries",
    )
    twice = [{"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}]
    assert fails(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=twice) == (
        400,
        "BatchEntryIdsNotDistinct",
        "Two or more batch entries in the request have the same Id.",
    )
    assert fails(
        sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=[{"Id": "a b", "Message": "1"}]
    ) == (
        400,
        "InvalidBatchEntryId",
        "The Id of a batch entry in the batch request contains an impermissible character: a b",
    )
    long_id = "i" * 81
    assert fails(
        sns.publish_batch,
        TopicArn=arn,
        PublishBatchRequestEntries=[{"Id": long_id, "Message": "1"}],
    ) == (
        400,
        "InvalidBatchEntryId",
        f"The Id of a batch entry in the batch request is too long: {long_id}",
    )
    huge = [{"Id": str(i), "Message": "x" * 30_000} for i in range(10)]
    assert fails(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=huge) == (
        400,
        "BatchRequestTooLong",
        "The length of all the messages put together is more than the limit.",
    )
    bad_attribute = [
        {"Id": "1", "Message": "m"},
        {
            "Id": "2",
            "Message": "m",
            "MessageAttributes": {"t": {"DataType": "X", "StringValue": "v"}},
        },
    ]
    assert fails(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=bad_attribute)[:2] == (
        400,
        "ParameterValueInvalid",
    )
    missing = topic_arn(unique("nobatch"))
    assert fails(
        sns.publish_batch,
        TopicArn=missing,
        PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}],
    ) == (
        404,
        "NotFound",
        "Topic does not exist",
    )


def test_tags(sns: Any) -> None:
    arn = sns.create_topic(Name=unique("tags"), Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    assert sorted(
        (t["Key"], t["Value"]) for t in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
    ) == [
        ("env", "prod"),
        ("team", "a"),
    ]
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert fails(sns.list_tags_for_resource, ResourceArn=topic_arn(unique("gone"))) == (
        404,
        "ResourceNotFound",
        "Resource does not exist",
    )
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert fails(sns.tag_resource, ResourceArn=arn, Tags=too_many)[:2] == (400, "TagLimitExceeded")


def _signed_post(server: NimbusServer, body: str) -> tuple[int, bytes]:
    credentials = server.credentials
    request = AWSRequest(
        "POST",
        server.endpoint + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]), "sns", REGION
    ).add_auth(request)
    prepared = urllib.request.Request(
        request.url, data=request.body, headers=dict(request.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_raw_query_requests(server: NimbusServer) -> None:
    status, body = _signed_post(server, "Action=Frobnicate&Version=2010-03-31")
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body and b"<Type>Sender</Type>" in body
    status, body = _signed_post(server, "Action=ListTopics&Version=2010-03-31")
    assert status == 200
    assert body.startswith(b'<ListTopicsResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">')
    # Malformed input gets an AWS error, never a 500.
    topic = "arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Araw-q"
    assert _signed_post(server, "Action=CreateTopic&Name=raw-q")[0] == 200
    # Half a map entry is dropped (as a missing member is): the topic exists, so this is 200.
    half = "Action=CreateTopic&Name=raw-q&Attributes.entry.1.key=DisplayName"
    assert _signed_post(server, half)[0] == 200
    for malformed in [
        "Action=CreateTopic",
        f"Action=Publish&TopicArn={topic}",
        f"Action=Publish&TopicArn={topic}&Message=x&MessageAttributes.entry.1.Name=a",
        f"Action=Publish&TopicArn={topic}&Message=x&MessageAttributes.entry.1.Name=a"
        "&MessageAttributes.entry.1.Value.DataType=Binary"
        "&MessageAttributes.entry.1.Value.BinaryValue=%21%21",
        f"Action=Subscribe&TopicArn={topic}&Protocol=sqs&ReturnSubscriptionArn=perhaps",
        f"Action=PublishBatch&TopicArn={topic}&PublishBatchRequestEntries.member.1.Message=x",
        "Action=GetSubscriptionAttributes",
        "Action=Publish&Message=%FF",
    ]:
        status, body = _signed_post(server, malformed)
        assert 400 <= status < 500, (malformed, status, body)
        assert body.startswith(b"<ErrorResponse"), body


def test_aws_cli(server: NimbusServer) -> None:
    name = unique("cli")
    created = json.loads(server.aws("sns", "create-topic", "--name", name).stdout)
    arn = created["TopicArn"]
    assert arn == topic_arn(name)
    published = json.loads(
        server.aws(
            "sns", "publish", "--topic-arn", arn, "--message", "from the cli",
            "--message-attributes", '{"k": {"DataType": "String", "StringValue": "v"}}',
        ).stdout
    )  # fmt: skip
    assert len(published["MessageId"]) == 36
    listed = json.loads(server.aws("sns", "list-topics").stdout)
    assert arn in {t["TopicArn"] for t in listed["Topics"]}
    attributes = json.loads(server.aws("sns", "get-topic-attributes", "--topic-arn", arn).stdout)
    assert attributes["Attributes"]["TopicArn"] == arn
    missing = server.aws(
        "sns", "get-topic-attributes", "--topic-arn", topic_arn(unique("x")), check=False
    )
    assert missing.returncode != 0
    assert "(NotFound)" in missing.stderr and "Topic does not exist" in missing.stderr
    subscribed = json.loads(
        server.aws(
            "sns", "subscribe", "--topic-arn", arn, "--protocol", "lambda",
            "--notification-endpoint", FN,
            "--attributes", json.dumps({"FilterPolicy": '{"k": ["v"]}'}),
            "--return-subscription-arn",
        ).stdout
    )  # fmt: skip
    sub_arn = subscribed["SubscriptionArn"]
    assert sub_arn.startswith(arn + ":")
    listed_subs = json.loads(
        server.aws("sns", "list-subscriptions-by-topic", "--topic-arn", arn).stdout
    )
    assert [s["SubscriptionArn"] for s in listed_subs["Subscriptions"]] == [sub_arn]
    sub_attributes = json.loads(
        server.aws("sns", "get-subscription-attributes", "--subscription-arn", sub_arn).stdout
    )["Attributes"]
    assert sub_attributes["FilterPolicy"] == '{"k": ["v"]}'
    structured = json.loads(
        server.aws(
            "sns", "publish", "--topic-arn", arn, "--message-structure", "json",
            "--message", '{"default": "d", "lambda": "l"}', "--subject", "CLI",
        ).stdout
    )  # fmt: skip
    assert len(structured["MessageId"]) == 36
    batch = json.loads(
        server.aws(
            "sns", "publish-batch", "--topic-arn", arn, "--publish-batch-request-entries",
            '[{"Id": "a", "Message": "1"}, {"Id": "b", "Message": "2"}]',
        ).stdout
    )  # fmt: skip
    assert [e["Id"] for e in batch["Successful"]] == ["a", "b"]
    server.aws("sns", "unsubscribe", "--subscription-arn", sub_arn)
    server.aws("sns", "delete-topic", "--topic-arn", arn)


def test_auth_errors_in_the_query_shape() -> None:
    from botocore.parsers import create_parser

    from nimbus.api.sns import auth_error_response
    from nimbus.errors import InvalidSignature, UnrecognizedClient

    for error, code in [
        (UnrecognizedClient(), "InvalidClientTokenId"),
        (InvalidSignature(), "SignatureDoesNotMatch"),
    ]:
        status, headers, body = auth_error_response(error, "req-1")
        assert status == 403 and ("Content-Type", "text/xml") in headers
        parsed = create_parser("query").parse(
            {"body": body, "headers": {}, "status_code": 403}, None
        )
        assert parsed["Error"]["Code"] == code
        assert parsed["Error"]["Message"] == error.message


def test_boto3_reads_sns_auth_failures(server: NimbusServer) -> None:
    """The edge renders authentication errors in SNS' own XML shape."""
    for key, secret, code in [
        ("AKIDNOSUCHKEY0000000", "x", "InvalidClientTokenId"),
        (server.credentials["access_key_id"], "wrong-secret", "SignatureDoesNotMatch"),
    ]:
        with pytest.raises(ClientError) as info:
            server.client("sns", key=key, secret=secret).list_topics()
        assert info.value.response["Error"]["Code"] == code
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_subscription_listings_page_by_100(sns: Any) -> None:
    arn = sns.create_topic(Name=unique("many-subs"))["TopicArn"]
    made = {
        sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=f"{FN}-{i}")["SubscriptionArn"]
        for i in range(103)
    }
    first = sns.list_subscriptions_by_topic(TopicArn=arn)
    assert len(first["Subscriptions"]) == 100 and first["NextToken"]
    second = sns.list_subscriptions_by_topic(TopicArn=arn, NextToken=first["NextToken"])
    assert len(second["Subscriptions"]) == 3 and "NextToken" not in second
    assert {s["SubscriptionArn"] for s in first["Subscriptions"] + second["Subscriptions"]} == made
    everything: set[str] = set()
    token = None
    while True:
        page = sns.list_subscriptions(**({"NextToken": token} if token else {}))
        everything |= {s["SubscriptionArn"] for s in page["Subscriptions"]}
        token = page.get("NextToken")
        if not token:
            break
    assert made <= everything
    assert fails(sns.unsubscribe, SubscriptionArn="nope")[:2] == (400, "InvalidParameter")
    sns.delete_topic(TopicArn=arn)
    assert not made & {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}
