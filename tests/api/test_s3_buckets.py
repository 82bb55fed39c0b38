"""S3 buckets and listings end to end: create/head/list/delete, names, locations,
ListObjects v1/v2 (prefix, delimiter, pagination, start-after, markers)."""

from __future__ import annotations

from typing import Any

import pytest
from e2e import NimbusServer, unique
from s3_helpers import NS, fails, http, s3_client, xml_error


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return s3_client(server)


def test_bucket_lifecycle(s3: Any) -> None:
    name = unique("bkt")
    created = s3.create_bucket(Bucket=name)
    assert created["Location"] == f"/{name}"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    # us-east-1 answers 200 to re-creating your own bucket (AWS' legacy behaviour).
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    status, code, message, error = fails(s3.delete_bucket, Bucket=name)
    assert (status, code, message, error["BucketName"]) == (
        409,
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
        name,
    )
    s3.delete_object(Bucket=name, Key="k")
    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails(s3.head_bucket, Bucket=name)[:2] == (404, "404")
    assert fails(s3.delete_bucket, Bucket=name)[:2] == (404, "NoSuchBucket")


def test_location_constraint(s3: Any) -> None:
    name = unique("eu")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    status, code, _, _ = fails(
        s3.create_bucket, Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    assert (status, code) == (409, "BucketAlreadyOwnedByYou")
    status, code, _, _ = fails(
        s3.create_bucket,
        Bucket=unique("use1"),
        CreateBucketConfiguration={"LocationConstraint": "us-east-1"},
    )
    assert (status, code) == (400, "InvalidLocationConstraint")


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "UpperCase", "under_score", "-start", "end-", "two..dots", "192.168.5.4",
     "xn--prefix", "bucket-s3alias", "dot-.dash"],
)  # fmt: skip
def test_invalid_bucket_names(s3: Any, server: NimbusServer, name: str) -> None:
    # botocore checks some names itself: send those by hand, signed as it would.
    try:
        status, code, message, error = fails(s3.create_bucket, Bucket=name)
    except Exception as e:  # botocore's own validation
        assert "Invalid bucket name" in str(e)
        return
    assert (status, code, message) == (
        400,
        "InvalidBucketName",
        "The specified bucket is not valid.",
    )
    assert error["BucketName"] == name


def test_invalid_name_xml_body(server: NimbusServer) -> None:
    """The raw error document: AWS' shape, whatever botocore makes of it."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = server.credentials
    request = AWSRequest(method="PUT", url=f"{server.endpoint}/Bad_Name", data=b"")
    request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    S3SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        "s3",
        "us-east-1",
    ).add_auth(request)
    status, headers, body = http(
        request.url, "PUT", b"", {k: v for k, v in request.headers.items()}
    )
    assert status == 400
    assert headers["content-type"] == "application/xml"
    error = xml_error(body)
    assert (error["Code"], error["Message"], error["BucketName"], error["Resource"]) == (
        "InvalidBucketName",
        "The specified bucket is not valid.",
        "Bad_Name",
        "/Bad_Name",
    )
    assert error["RequestId"] == headers["x-amz-request-id"]


@pytest.fixture(scope="module")
def tree(s3: Any) -> str:
    """A bucket with a small directory tree."""
    name = unique("tree")
    s3.create_bucket(Bucket=name)
    for key in ["a.txt", "b/1", "b/2", "b/c/3", "c/4", "d", "e/5", "e/6/7"]:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


def test_list_v2_delimiter(s3: Any, tree: str) -> None:
    top = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "d"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["b/", "c/", "e/"]
    assert top["KeyCount"] == 5
    sub = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="b/")
    assert [o["Key"] for o in sub["Contents"]] == ["b/1", "b/2"]
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["b/c/"]
    assert sub["Prefix"] == "b/"
    everything = s3.list_objects_v2(Bucket=tree)
    assert [o["Key"] for o in everything["Contents"]] == [
        "a.txt", "b/1", "b/2", "b/c/3", "c/4", "d", "e/5", "e/6/7"
    ]  # fmt: skip
    assert everything["Contents"][0]["Size"] == 5
    after = s3.list_objects_v2(Bucket=tree, StartAfter="b/2")
    assert [o["Key"] for o in after["Contents"]][:2] == ["b/c/3", "c/4"]
    assert after["StartAfter"] == "b/2"


def test_list_v2_pagination(s3: Any, tree: str) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"Bucket": tree, "MaxKeys": 2, "Delimiter": "/"}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        assert page["KeyCount"] <= 2
        seen += [o["Key"] for o in page.get("Contents", [])]
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == ["a.txt", "b/", "c/", "d", "e/"]
    assert pages == 3
    paginator = s3.get_paginator("list_objects_v2")
    keys = [o["Key"] for p in paginator.paginate(Bucket=tree, PaginationConfig={"PageSize": 3})
            for o in p["Contents"]]  # fmt: skip
    assert len(keys) == 8
    assert s3.list_objects_v2(Bucket=tree, MaxKeys=0)["KeyCount"] == 0


def test_list_v1_markers(s3: Any, tree: str) -> None:
    first = s3.list_objects(Bucket=tree, MaxKeys=3)
    assert [o["Key"] for o in first["Contents"]] == ["a.txt", "b/1", "b/2"]
    assert first["IsTruncated"] is True
    assert "NextMarker" not in first  # only with a delimiter
    assert first["Contents"][0]["Owner"]["ID"]
    second = s3.list_objects(Bucket=tree, MaxKeys=3, Marker="b/2")
    assert [o["Key"] for o in second["Contents"]] == ["b/c/3", "c/4", "d"]
    delimited = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=2)
    assert delimited["NextMarker"] == "b/"
    rest = s3.list_objects(Bucket=tree, Delimiter="/", Marker=delimited["NextMarker"])
    assert [o["Key"] for o in rest.get("Contents", [])] == ["d"]
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["c/", "e/"]


def test_bad_max_keys(server: NimbusServer, tree: str) -> None:
    # SigV2 does not sign max-keys (not a sub-resource): the request gets to S3's checks.
    v2 = server.client("s3", signature_version="s3", s3={"addressing_style": "path"})
    url = v2.generate_presigned_url(
        "list_objects_v2", Params={"Bucket": tree, "MaxKeys": 1}, ExpiresIn=60
    )
    status, _, body = http(url.replace("max-keys=1", "max-keys=-1"))
    error = xml_error(body)
    assert (status, error["Code"], error["ArgumentName"]) == (400, "InvalidArgument", "maxKeys")
    # SigV4 signs the whole query: changing it breaks the signature.
    v4 = server.client("s3", signature_version="s3v4", s3={"addressing_style": "path"})
    url = v4.generate_presigned_url(
        "list_objects_v2", Params={"Bucket": tree, "MaxKeys": 1}, ExpiresIn=60
    )
    status, _, body = http(url.replace("max-keys=1", "max-keys=-1"))
    assert (status, xml_error(body)["Code"]) == (403, "SignatureDoesNotMatch")


def test_list_buckets_shape(server: NimbusServer, s3: Any, tree: str) -> None:
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
    status, _, body = http(url)
    assert status == 200
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult')
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body)
    names = [b.findtext(f"{NS}Name") for b in root.iter(f"{NS}Bucket")]
    assert tree in names


def test_bucket_settings(s3: Any) -> None:
    name = unique("cfg")
    s3.create_bucket(Bucket=name)
    status, code, _, _ = fails(s3.get_bucket_tagging, Bucket=name)
    assert (status, code) == (404, "NoSuchTagSet")
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "blue"}]})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "team", "Value": "blue"}]
    s3.delete_bucket_tagging(Bucket=name)
    assert fails(s3.get_bucket_tagging, Bucket=name)[:2] == (404, "NoSuchTagSet")
    acl = s3.get_bucket_acl(Bucket=name)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    s3.put_bucket_acl(Bucket=name, ACL="private")
    status, code, _, _ = fails(s3.put_bucket_acl, Bucket=name, ACL="public-read")
    assert (status, code) == (400, "AccessControlListNotSupported")
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert s3.get_object_acl(Bucket=name, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"
    ownership = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    for call, code in [
        (s3.get_bucket_policy, "NoSuchBucketPolicy"),
        (s3.get_bucket_cors, "NoSuchCORSConfiguration"),
        (s3.get_bucket_website, "NoSuchWebsiteConfiguration"),
        (s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
        (s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
        (s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError"),
    ]:
        assert fails(call, Bucket=name)[:2] == (404, code)
    assert fails(s3.get_bucket_policy, Bucket=unique("none"))[:2] == (404, "NoSuchBucket")
