"""S3 objects end to end (boto3 against a real server): put/get/head/delete, metadata and
content headers, ranges, conditional requests, checksums, copy, tagging, odd keys."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from e2e import NimbusServer, unique
from s3_helpers import fails, http, s3_client, xml_error


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return s3_client(server)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = unique("obj")
    s3.create_bucket(Bucket=name)
    yield name


def test_put_get_head_delete(s3: Any, bucket: str) -> None:
    data = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data)
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == data
    assert (got["ETag"], got["ContentLength"], got["ContentType"]) == (
        etag,
        len(data),
        "binary/octet-stream",
    )
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ETag"], head["ContentLength"]) == (etag, len(data))
    assert abs(head["LastModified"] - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    status, code, message, error = fails(s3.get_object, Bucket=bucket, Key="k")
    assert (status, code, message, error["Key"]) == (
        404,
        "NoSuchKey",
        "The specified key does not exist.",
        "k",
    )
    assert fails(s3.head_object, Bucket=bucket, Key="k")[:2] == (404, "404")
    # Deleting what isn't there is no error.
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_metadata_and_content_headers(s3: Any, bucket: str) -> None:
    expires = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    s3.put_object(
        Bucket=bucket,
        Key="doc.txt",
        Body=b"hello",
        ContentType="text/plain; charset=utf-8",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="doc.txt"',
        ContentLanguage="en-GB",
        CacheControl="max-age=60",
        Expires=expires,
        Metadata={"Owner": "me", "colour": "blue green"},
        StorageClass="STANDARD_IA",
    )
    head = s3.head_object(Bucket=bucket, Key="doc.txt")
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["ContentEncoding"] == "identity"
    assert head["ContentDisposition"] == 'attachment; filename="doc.txt"'
    assert head["ContentLanguage"] == "en-GB"
    assert head["CacheControl"] == "max-age=60"
    assert head["Expires"] == expires
    assert head["Metadata"] == {"owner": "me", "colour": "blue green"}
    assert head["StorageClass"] == "STANDARD_IA"
    got = s3.get_object(
        Bucket=bucket,
        Key="doc.txt",
        ResponseContentType="application/x-test",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-cache",
    )
    assert got["ContentType"] == "application/x-test"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["Body"].read() == b"hello"


def test_ranges(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 4  # 1024 bytes
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    cases = {
        "bytes=0-9": (0, 9),
        "bytes=10-": (10, 1023),
        "bytes=-5": (1019, 1023),
        "bytes=1000-5000": (1000, 1023),
        "bytes=-5000": (0, 1023),
    }
    for header, (start, end) in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"] == f"bytes {start}-{end}/1024", header
        assert got["ContentLength"] == end - start + 1
        assert got["Body"].read() == data[start : end + 1], header
    status, code, message, error = fails(s3.get_object, Bucket=bucket, Key="r", Range="bytes=1024-")
    assert (status, code, message) == (
        416,
        "InvalidRange",
        "The requested range is not satisfiable",
    )
    assert (error["RangeRequested"], error["ActualObjectSize"]) == ("bytes=1024-", "1024")
    # A malformed Range is ignored: the whole object.
    whole = s3.get_object(Bucket=bucket, Key="r", Range="bytes=abc")
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert whole["Body"].read() == data


def test_conditional_get(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")
    etag = put["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    before, after = modified - dt.timedelta(hours=1), modified + dt.timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    status, code, message, error = fails(s3.get_object, Bucket=bucket, Key="c", IfMatch='"nope"')
    assert (status, code, error["Condition"]) == (412, "PreconditionFailed", "If-Match")
    assert message == "At least one of the pre-conditions you specified did not hold"
    assert fails(s3.get_object, Bucket=bucket, Key="c", IfNoneMatch=etag)[:2] == (304, "304")
    assert fails(s3.get_object, Bucket=bucket, Key="c", IfModifiedSince=after)[:2] == (304, "304")
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=before)["Body"].read() == b"v1"
    unmodified = fails(s3.get_object, Bucket=bucket, Key="c", IfUnmodifiedSince=before)
    assert unmodified[:2] == (412, "PreconditionFailed")
    assert unmodified[3]["Condition"] == "If-Unmodified-Since"
    # If-Match true wins over If-Unmodified-Since false (RFC 7232, as S3).
    both = s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=before)
    assert both["Body"].read() == b"v1"
    assert fails(s3.head_object, Bucket=bucket, Key="c", IfMatch='"x"')[:2] == (412, "412")


def test_conditional_put(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    status, code, _, error = fails(
        s3.put_object, Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*"
    )
    assert (status, code, error["Condition"]) == (412, "PreconditionFailed", "If-None-Match")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def crc32c_bitwise(data: bytes) -> int:
    """CRC32C the slow, obvious way (independent of Nimbus' table-driven code)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_checksums_stored_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    data = b"checksum me " * 1000
    expected = {
        "CRC32": b64(zlib.crc32(data).to_bytes(4, "big")),
        "SHA1": b64(hashlib.sha1(data).digest()),
        "SHA256": b64(hashlib.sha256(data).digest()),
        "CRC32C": b64(crc32c_bitwise(data).to_bytes(4, "big")),
    }[algorithm]
    if algorithm == "CRC32C":  # botocore needs awscrt to compute it: we give the value
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=data, ChecksumCRC32C=expected)
    else:
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=data, ChecksumAlgorithm=algorithm)
    value = put[f"Checksum{algorithm}"]
    assert value == expected
    assert put["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert (head[f"Checksum{algorithm}"], head["ChecksumType"]) == (value, "FULL_OBJECT")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=algorithm)["Contents"][0]
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == ([algorithm], "FULL_OBJECT")
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == value
    assert got["Body"].read() == data
    assert f"Checksum{algorithm}" not in s3.head_object(Bucket=bucket, Key=algorithm)


def test_wrong_checksum_is_bad_digest(s3: Any, bucket: str) -> None:
    wrong = b64(zlib.crc32(b"something else").to_bytes(4, "big"))
    status, code, message, _ = fails(
        s3.put_object, Bucket=bucket, Key="bad", Body=b"data", ChecksumCRC32=wrong
    )
    assert (status, code) == (400, "BadDigest")
    assert message == "The CRC32 you specified did not match the calculated checksum."
    wrong_md5 = b64(hashlib.md5(b"other").digest())
    status, code, message, _ = fails(
        s3.put_object, Bucket=bucket, Key="bad", Body=b"data", ContentMD5=wrong_md5
    )
    assert (status, code, message) == (
        400,
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )
    status, code, _, _ = fails(
        s3.put_object, Bucket=bucket, Key="bad", Body=b"data", ContentMD5="notbase64!"
    )
    assert (status, code) == (400, "InvalidDigest")
    assert fails(s3.head_object, Bucket=bucket, Key="bad")[0] == 404


def test_copy_object(s3: Any, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key="src key+ü", Body=b"copy me", Metadata={"a": "1"}, ContentType="text/x"
    )
    copied = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src key+ü"}
    )
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["Metadata"], head["ContentType"]) == ({"a": "1"}, "text/x")
    replaced = s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src key+ü",  # botocore percent-encodes it
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/y",
    )
    assert replaced["ResponseMetadata"]["HTTPStatusCode"] == 200
    head = s3.head_object(Bucket=bucket, Key="dst2")
    assert (head["Metadata"], head["ContentType"]) == ({"b": "2"}, "text/y")
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == b"copy me"
    # Onto itself without a change: AWS refuses.
    status, code, _, _ = fails(
        s3.copy_object, Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"}
    )
    assert (status, code) == (400, "InvalidRequest")
    status, code, _, _ = fails(
        s3.copy_object, Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"}
    )
    assert (status, code) == (404, "NoSuchKey")
    status, code, _, _ = fails(
        s3.copy_object,
        Bucket=bucket,
        Key="x",
        CopySource={"Bucket": bucket, "Key": "dst"},
        CopySourceIfMatch='"nope"',
    )
    assert (status, code) == (412, "PreconditionFailed")


def test_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two words")]
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    status, code, _, _ = fails(
        s3.put_object_tagging, Bucket=bucket, Key="t", Tagging={"TagSet": too_many}
    )
    assert (status, code) == (400, "InvalidTag")
    status, code, _, _ = fails(s3.get_object_tagging, Bucket=bucket, Key="missing")
    assert (status, code) == (404, "NoSuchKey")


ODD_KEYS = [
    "../../etc/passwd",
    "a/../b",
    "/lead",
    "//double",
    "sp ace+plus",
    "ünï©ødé/ключ/キー",
    "%2F",
    "trailing/",
    "q?x=1&y#frag",
    "tab\tand;semi",
    "..",
    ".",
]


def test_odd_keys_stay_inside_and_exact(s3: Any, bucket: str, server: NimbusServer) -> None:
    before = {p for p in Path("/etc").iterdir()}
    for i, key in enumerate(ODD_KEYS):
        s3.put_object(Bucket=bucket, Key=key, Body=f"body {i}".encode())
    for i, key in enumerate(ODD_KEYS):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"body {i}".encode(), key
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(ODD_KEYS, key=lambda k: k.encode())
    # Asked for explicitly, botocore leaves the URL-encoding to the caller.
    listed_url = s3.list_objects_v2(Bucket=bucket, EncodingType="url")["Contents"]
    assert [unquote_plus(o["Key"]) for o in listed_url] == listed
    assert "%252F" in [o["Key"] for o in listed_url]
    # Nothing named after a key anywhere: every file under the data dir is Nimbus' own.
    data = server.data_dir.resolve()
    for path in data.rglob("*"):
        assert "passwd" not in path.name and "ünï" not in str(path), path
    assert {p for p in Path("/etc").iterdir()} == before
    for key in ODD_KEYS:
        s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects(s3: Any, bucket: str) -> None:
    keys = [f"d/{i}" for i in range(5)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in [*keys[:3], "missing"]]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == [*keys[:3], "missing"]
    assert "Errors" not in result
    quiet = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[3:]], "Quiet": True}
    )
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_no_such_bucket(s3: Any) -> None:
    name = unique("missing")
    status, code, message, error = fails(s3.get_object, Bucket=name, Key="k")
    assert (status, code, message, error["BucketName"]) == (
        404,
        "NoSuchBucket",
        "The specified bucket does not exist",
        name,
    )
    assert fails(s3.put_object, Bucket=name, Key="k", Body=b"x")[:2] == (404, "NoSuchBucket")
    assert fails(s3.list_objects_v2, Bucket=name)[:2] == (404, "NoSuchBucket")


def test_key_too_long(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")  # the limit: 1024 bytes of UTF-8
    status, code, message, _ = fails(s3.put_object, Bucket=bucket, Key="ü" * 513, Body=b"x")
    assert (status, code, message) == (400, "KeyTooLongError", "Your key is too long")


def test_head_errors_have_no_body_and_unknown_methods(
    s3: Any, bucket: str, server: NimbusServer
) -> None:
    url = s3.generate_presigned_url(
        "head_object", Params={"Bucket": bucket, "Key": "missing"}, ExpiresIn=60
    )
    status, headers, body = http(url, "HEAD")
    assert (status, body) == (404, b"")
    assert headers["x-amz-request-id"]
    url = s3.generate_presigned_url("get_bucket_logging", Params={"Bucket": bucket}, ExpiresIn=60)
    status, _, body = http(url)
    assert status == 501
    assert xml_error(body)["Code"] == "NotImplemented"


def test_error_documents_raw(s3: Any, bucket: str, server: NimbusServer) -> None:
    """The XML itself, as any HTTP client sees it (not botocore's reading of it)."""
    s3.put_object(Bucket=bucket, Key="doc", Body=b"0123456789")

    def get(key: str, bucket_name: str = bucket, **headers: str) -> tuple[int, dict[str, str]]:
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket_name, "Key": key}, ExpiresIn=60
        )
        status, response_headers, body = http(url, headers=headers)
        assert response_headers["content-type"] == "application/xml"
        return status, xml_error(body)

    status, error = get("missing key")
    assert (status, error["Code"], error["Key"], error["Resource"]) == (
        404,
        "NoSuchKey",
        "missing key",
        f"/{bucket}/missing key",
    )
    missing = unique("nobucket")
    status, error = get("k", missing)
    assert (status, error["Code"], error["BucketName"]) == (404, "NoSuchBucket", missing)
    status, error = get("doc", Range="bytes=50-")
    assert (status, error["Code"], error["ActualObjectSize"]) == (416, "InvalidRange", "10")
    status, error = get("doc", **{"If-Match": '"other"'})
    assert (status, error["Code"], error["Condition"]) == (412, "PreconditionFailed", "If-Match")
    v4 = server.client("s3", signature_version="s3v4", s3={"addressing_style": "path"})
    put = v4.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "digest"}, ExpiresIn=60
    )  # SigV4 presigned: only the host is signed, so Content-MD5 may be added
    wrong_md5 = b64(hashlib.md5(b"other").digest())
    status, _, body = http(put, "PUT", b"data", {"Content-MD5": wrong_md5})
    assert status == 400
    assert xml_error(body)["Code"] == "BadDigest"


def test_part_number_of_a_single_part_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="one-part", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="one-part", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert (got["ContentRange"], got["Body"].read()) == ("bytes 0-9/10", b"0123456789")
    status, code, _, error = fails(s3.get_object, Bucket=bucket, Key="one-part", PartNumber=2)
    assert (status, code, error["ActualPartCount"]) == (416, "InvalidPartNumber", "1")
    status, code, _, _ = fails(
        s3.get_object, Bucket=bucket, Key="one-part", PartNumber=1, Range="bytes=0-1"
    )
    assert (status, code) == (400, "InvalidRequest")
    head = s3.head_object(Bucket=bucket, Key="one-part", PartNumber=1)
    assert head["ContentLength"] == 10


def test_overwrite_during_a_download(s3: Any, bucket: str) -> None:
    """A reader keeps the version it started with, even when it is replaced (and its file
    unlinked) halfway through."""
    old, new = os.urandom(16 * 1024 * 1024), os.urandom(1024)
    s3.put_object(Bucket=bucket, Key="moving", Body=old)
    stream = s3.get_object(Bucket=bucket, Key="moving")["Body"]
    first = stream.read(1024 * 1024)
    s3.put_object(Bucket=bucket, Key="moving", Body=new)
    assert first + stream.read() == old
    assert s3.get_object(Bucket=bucket, Key="moving")["Body"].read() == new


def test_a_path_that_is_not_utf8_is_an_invalid_bucket_name(server: NimbusServer) -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    keys = server.credentials
    request = AWSRequest(method="GET", url=server.endpoint + "/%FF%FE/key")
    S3SigV4Auth(
        Credentials(keys["access_key_id"], keys["secret_access_key"]), "s3", "us-east-1"
    ).add_auth(request)
    prepared = request.prepare()
    status, _, body = http(prepared.url, headers=dict(prepared.headers))
    assert status == 400 and xml_error(body)["Code"] == "InvalidBucketName"
