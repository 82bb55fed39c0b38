"""S3 bucket versioning end to end: version ids, delete markers, GET/DELETE by version,
ListObjectVersions with markers, Suspended buckets and the "null" version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e import NimbusServer, unique
from s3_helpers import fails, s3_client


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return s3_client(server)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = unique("ver")
    s3.create_bucket(Bucket=name)
    yield name


def test_versioning_configuration(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    status, code, _, _ = fails(
        s3.put_bucket_versioning, Bucket=bucket, VersioningConfiguration={"Status": "Bogus"}
    )
    assert (status, code) == (400, "IllegalVersioningConfigurationException")
    assert fails(s3.get_bucket_versioning, Bucket=unique("none"))[:2] == (404, "NoSuchBucket")


def test_versions_and_delete_markers(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and v1 != "null"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    got = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert (got["Body"].read(), got["VersionId"]) == (b"one", v1)
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    status, code, _, _ = fails(s3.get_object, Bucket=bucket, Key="k")
    assert (status, code) == (404, "NoSuchKey")
    try:
        s3.get_object(Bucket=bucket, Key="k")
    except s3.exceptions.NoSuchKey as e:
        headers = e.response["ResponseMetadata"]["HTTPHeaders"]
        assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", marker)
    status, code, _, _ = fails(s3.get_object, Bucket=bucket, Key="k", VersionId=marker)
    assert (status, code) == (405, "MethodNotAllowed")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v2)["Body"].read() == b"two"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    listing = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in listing["Versions"]] == [
        (v2, False),
        (v1, False),
    ]
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [(marker, True)]
    # Removing the marker brings the object back.
    removed = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert (removed["DeleteMarker"], removed["VersionId"]) == (True, marker)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    status, code, _, error = fails(s3.get_object, Bucket=bucket, Key="k", VersionId=v2)
    assert (status, code, error["VersionId"]) == (404, "NoSuchVersion", v2)


def test_list_versions_pagination(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = {key: [s3.put_object(Bucket=bucket, Key=key, Body=b"x")["VersionId"] for _ in range(3)]
           for key in ("a", "b")}  # fmt: skip
    seen: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 2}
    while True:
        page = s3.list_object_versions(**kwargs)
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    expected = [(k, v) for k in ("a", "b") for v in reversed(ids[k])]
    assert seen == expected


def test_suspended_null_version(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 2")  # replaces the null version
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", kept]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null 2"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"versioned"


def test_versioned_bucket_cannot_be_deleted_until_empty(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    assert fails(s3.delete_bucket, Bucket=bucket)[:2] == (409, "BucketNotEmpty")
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "k", "VersionId": version}, {"Key": "k", "VersionId": marker}]},
    )
    assert len(result["Deleted"]) == 2
    s3.delete_bucket(Bucket=bucket)
