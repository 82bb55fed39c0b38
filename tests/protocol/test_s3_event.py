"""S3 event records against AWS' documented example (Amazon S3 User Guide, "Event message
structure"), field by field and byte for byte."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import orjson
import pytest

from nimbus.protocol import s3_event
from nimbus.services.contracts import ObjectEvent

# The documented example record (eventVersion 2.1, a PUT to a versioned bucket), compact.
AWS_EXAMPLE = (
    '{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-west-2",'
    '"eventTime":"1970-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put",'
    '"userIdentity":{"principalId":"AIDAJDPLRKLG7UEXAMPLE"},'
    '"requestParameters":{"sourceIPAddress":"172.16.0.1"},'
    '"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810",'
    '"x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},'
    '"s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule",'
    '"bucket":{"name":"amzn-s3-demo-bucket","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},'
    '"arn":"arn:aws:s3:::amzn-s3-demo-bucket"},'
    '"object":{"key":"HappyFace.jpg","size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e",'
    '"versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0055AED6DCD90281E5"}}}]}'
)


def example_event(**changes: object) -> ObjectEvent:
    fields: dict[str, object] = {
        "account": "000000000000",
        "region": "us-west-2",
        "bucket": "amzn-s3-demo-bucket",
        "key": "HappyFace.jpg",
        "event_name": "ObjectCreated:Put",
        "event_time": 0.0,
        "size": 1024,
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "version_id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
        "sequencer": "0055AED6DCD90281E5",
        "source_ip": "172.16.0.1",
        "request_id": "C3D13FE58DE4C810",
        "principal": "AIDAJDPLRKLG7UEXAMPLE",
    }
    fields.update(changes)
    return ObjectEvent(**fields)  # type: ignore[arg-type]


def test_record_is_byte_exact_to_the_documented_example() -> None:
    ours = s3_event.message(example_event(), "testConfigRule", "A3NL1KOZZKExample").decode()
    # x-amz-id-2 is an opaque host token: everything else must be identical, order included.
    ours_id = json.loads(ours)["Records"][0]["responseElements"]["x-amz-id-2"]
    assert len(ours_id) == 64
    expected = AWS_EXAMPLE.replace(
        "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD", ours_id
    )
    assert ours == expected


def test_record_fields_one_by_one() -> None:
    record = s3_event.record(example_event(), "testConfigRule", "A3NL1KOZZKExample")
    documented = json.loads(AWS_EXAMPLE)["Records"][0]
    assert list(record) == list(documented)
    for name in ("eventVersion", "eventSource", "awsRegion", "eventTime", "eventName"):
        assert record[name] == documented[name], name
    assert record["userIdentity"] == documented["userIdentity"]
    assert record["requestParameters"] == documented["requestParameters"]
    assert list(record["responseElements"]) == ["x-amz-request-id", "x-amz-id-2"]
    assert record["s3"]["bucket"] == documented["s3"]["bucket"]
    assert record["s3"]["object"] == documented["s3"]["object"]
    assert list(record["s3"]) == ["s3SchemaVersion", "configurationId", "bucket", "object"]


def test_unversioned_objects_have_no_version_id() -> None:
    record = s3_event.record(example_event(version_id=None), "c", "o")
    assert list(record["s3"]["object"]) == ["key", "size", "eTag", "sequencer"]


def test_removals_have_no_size_or_etag() -> None:
    removed = example_event(
        event_name="ObjectRemoved:Delete", size=None, etag=None, version_id=None
    )
    assert s3_event.record(removed, "c", "o")["s3"]["object"] == {
        "key": "HappyFace.jpg",
        "sequencer": "0055AED6DCD90281E5",
    }
    marker = example_event(event_name="ObjectRemoved:DeleteMarkerCreated", size=None, etag=None)
    assert list(s3_event.record(marker, "c", "o")["s3"]["object"]) == [
        "key",
        "versionId",
        "sequencer",
    ]


def test_event_time_has_milliseconds_and_z() -> None:
    assert s3_event.event_time(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"
    assert s3_event.event_time(0) == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("red flower.jpg", "red+flower.jpg"),  # the documentation's own example
        ("uploads/a b.png", "uploads/a+b.png"),  # '/' stays
        ("c++ (1).txt", "c%2B%2B+%281%29.txt"),
        ("dt=2018-05-04/_SUCCESS", "dt%3D2018-05-04/_SUCCESS"),
        ("10:47:07.log", "10%3A47%3A07.log"),
        ("caf\u00e9.jpg", "caf%C3%A9.jpg"),
        ("a~b*c", "a%7Eb*c"),
    ],
)
def test_keys_are_form_encoded_as_s3_does(key: str, encoded: str) -> None:
    assert s3_event.encode_key(key) == encoded
    assert unquote_plus(encoded) == key  # what the Lambda docs tell users to do


def test_test_event_shape() -> None:
    body = orjson.loads(s3_event.s3_test_event("bkt", 0.5, "REQ123"))
    assert list(body) == ["Service", "Event", "Time", "Bucket", "RequestId", "HostId"]
    assert body["Service"] == "Amazon S3"
    assert body["Event"] == "s3:TestEvent"
    assert body["Time"] == "1970-01-01T00:00:00.500Z"
    assert body["Bucket"] == "bkt"
    assert body["RequestId"] == "REQ123"
    assert body["HostId"] == s3_event.host_id("REQ123")
