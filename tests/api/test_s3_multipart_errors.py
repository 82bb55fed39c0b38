"""S3 multipart errors, each with AWS' code, status, message and extra XML fields."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from e2e import REGION, NimbusServer, error_of, unique

MiB = 1024 * 1024
INVALID_PART = (
    "One or more of the specified parts could not be found.  The part may not have been "
    "uploaded, or the specified entity tag may not match the part's entity tag."
)
NO_SUCH_UPLOAD = (
    "The specified upload does not exist. The upload ID may be invalid, or the upload may "
    "have been aborted or completed."
)


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return server.client("s3")


@pytest.fixture
def upload(s3: Any) -> Iterator[tuple[str, str, str]]:
    """(bucket, key, upload id) of a fresh upload."""
    bucket = unique("mpe")
    s3.create_bucket(Bucket=bucket)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    yield bucket, "obj", upload_id


def put(s3: Any, upload: tuple[str, str, str], number: int, body: bytes, **extra: Any) -> str:
    bucket, key, upload_id = upload
    reply = s3.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra
    )
    etag: str = reply["ETag"]
    return etag


def complete(s3: Any, upload: tuple[str, str, str], parts: list[dict[str, Any]]) -> Any:
    bucket, key, upload_id = upload
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def test_no_such_upload_everywhere(s3: Any, upload: tuple[str, str, str]) -> None:
    bucket, key, _ = upload
    bogus = "not-an-upload"
    calls: list[Callable[[], Any]] = [
        lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=bogus, PartNumber=1, Body=b"x"),
        lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=bogus),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=bogus),
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=bogus,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        ),
        # The right id under another key is not that upload.
        lambda: s3.list_parts(Bucket=bucket, Key="other", UploadId=upload[2]),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert error_of(info) == (404, "NoSuchUpload", NO_SUCH_UPLOAD)
    with pytest.raises(ClientError) as listed:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=bogus)
    assert listed.value.response["Error"]["UploadId"] == bogus


def test_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as info:
        s3.create_multipart_upload(Bucket=unique("missing"), Key="k")
    assert error_of(info)[:2] == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as listed:
        s3.list_multipart_uploads(Bucket=unique("missing"))
    assert error_of(listed)[:2] == (404, "NoSuchBucket")


@pytest.mark.parametrize("number", [0, 10001, -1])
def test_part_number_range(s3: Any, upload: tuple[str, str, str], number: int) -> None:
    with pytest.raises(ClientError) as info:
        put(s3, upload, number, b"x")
    assert error_of(info) == (
        400,
        "InvalidArgument",
        "Part number must be an integer between 1 and 10000, inclusive",
    )
    assert info.value.response["Error"]["ArgumentName"] == "partNumber"
    assert info.value.response["Error"]["ArgumentValue"] == str(number)


def test_part_numbers_at_the_limits(s3: Any, upload: tuple[str, str, str]) -> None:
    assert put(s3, upload, 1, b"a") == f'"{hashlib.md5(b"a").hexdigest()}"'
    assert put(s3, upload, 10000, b"b") == f'"{hashlib.md5(b"b").hexdigest()}"'


def test_content_md5(s3: Any, upload: tuple[str, str, str]) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as info:
        put(s3, upload, 1, b"data", ContentMD5=wrong)
    assert error_of(info) == (
        400,
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
    )
    with pytest.raises(ClientError) as malformed:
        put(s3, upload, 1, b"data", ContentMD5="bm90IGFuIG1kNQ==")
    assert error_of(malformed) == (
        400,
        "InvalidDigest",
        "The Content-MD5 you specified was invalid.",
    )
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert put(s3, upload, 1, b"data", ContentMD5=right) == f'"{hashlib.md5(b"data").hexdigest()}"'
    bucket, key, upload_id = upload
    assert len(s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Parts"]) == 1


def test_checksum_mismatch(s3: Any, upload: tuple[str, str, str]) -> None:
    with pytest.raises(ClientError) as info:
        put(s3, upload, 1, b"data", ChecksumCRC32="AAAAAA==")
    assert error_of(info) == (
        400,
        "BadDigest",
        "The CRC32 you specified did not match the calculated checksum.",
    )
    with pytest.raises(ClientError) as sha:
        put(s3, upload, 1, b"data", ChecksumSHA256=base64.b64encode(b"\0" * 32).decode())
    assert error_of(sha)[:2] == (400, "BadDigest")
    bucket, key, upload_id = upload
    assert not s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts")


def test_checksum_algorithm_must_match_the_upload(s3: Any) -> None:
    bucket = unique("mpe")
    s3.create_bucket(Bucket=bucket)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA1")[
        "UploadId"
    ]
    with pytest.raises(ClientError) as info:
        s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x",
            ChecksumAlgorithm="CRC32",
        )  # fmt: skip
    assert error_of(info)[:2] == (400, "InvalidRequest")
    assert "expected checksum Type: sha1" in error_of(info)[2]


def test_invalid_part_order(s3: Any, upload: tuple[str, str, str]) -> None:
    one = put(s3, upload, 1, os.urandom(5 * MiB))
    two = put(s3, upload, 2, b"end")
    for parts in (
        [{"PartNumber": 2, "ETag": two}, {"PartNumber": 1, "ETag": one}],
        [{"PartNumber": 1, "ETag": one}, {"PartNumber": 1, "ETag": one}],
    ):
        with pytest.raises(ClientError) as info:
            complete(s3, upload, parts)
        assert error_of(info) == (
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        )
        assert info.value.response["Error"]["UploadId"] == upload[2]


def test_invalid_part(s3: Any, upload: tuple[str, str, str]) -> None:
    one = put(s3, upload, 1, b"abc")
    for parts in (
        [{"PartNumber": 1, "ETag": '"0123456789abcdef0123456789abcdef"'}],
        [{"PartNumber": 1, "ETag": one}, {"PartNumber": 7, "ETag": one}],
    ):
        with pytest.raises(ClientError) as info:
            complete(s3, upload, parts)
        assert error_of(info) == (400, "InvalidPart", INVALID_PART)
        error = info.value.response["Error"]
        assert error["UploadId"] == upload[2]
        assert error["PartNumber"] in ("1", "7")
    # The upload is still there after a failed completion, and completes.
    done = complete(s3, upload, [{"PartNumber": 1, "ETag": one}])
    assert done["ETag"].endswith('-1"')


def test_entity_too_small(s3: Any, upload: tuple[str, str, str]) -> None:
    one = put(s3, upload, 1, b"x" * 1024)
    two = put(s3, upload, 2, b"y" * 10)
    with pytest.raises(ClientError) as info:
        complete(s3, upload, [{"PartNumber": 1, "ETag": one}, {"PartNumber": 2, "ETag": two}])
    assert error_of(info) == (
        400,
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size",
    )
    error = info.value.response["Error"]
    assert error["ProposedSize"] == "1024"
    assert error["MinSizeAllowed"] == str(5 * MiB)
    assert error["PartNumber"] == "1"


def test_malformed_complete_body(s3: Any, upload: tuple[str, str, str]) -> None:
    with pytest.raises(ClientError) as info:
        complete(s3, upload, [])
    assert error_of(info)[:2] == (400, "MalformedXML")


def test_list_arguments(s3: Any, upload: tuple[str, str, str]) -> None:
    bucket, key, upload_id = upload
    with pytest.raises(ClientError) as info:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=-1)
    assert error_of(info)[:2] == (400, "InvalidArgument")
    with pytest.raises(ClientError) as uploads:
        s3.list_multipart_uploads(Bucket=bucket, MaxUploads=-1)
    assert error_of(uploads)[:2] == (400, "InvalidArgument")


def raw_get(server: NimbusServer, path: str) -> urllib.error.HTTPError:
    """A signed GET that fails: the HTTP error with its body unread."""
    credentials = server.credentials
    url = f"{server.endpoint}{path}"
    request = AWSRequest(method="GET", url=url)
    request.headers["x-amz-content-sha256"] = hashlib.sha256(b"").hexdigest()
    signer = S3SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]), "s3", REGION
    )
    signer.add_auth(request)
    raw = urllib.request.Request(url, headers=dict(request.headers.items()), method="GET")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(raw, timeout=10)
    return info.value


def test_raw_error_xml(server: NimbusServer, upload: tuple[str, str, str]) -> None:
    """The body as AWS sends it: <Error> with Code, Message, UploadId, RequestId, HostId."""
    bucket, key, _ = upload
    error = raw_get(server, f"/{bucket}/{key}?uploadId=nothing")
    assert error.code == 404
    assert error.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(error.read())
    assert root.tag == "Error"
    assert root.findtext("Code") == "NoSuchUpload"
    assert root.findtext("Message") == NO_SUCH_UPLOAD
    assert root.findtext("UploadId") == "nothing"
    assert root.findtext("RequestId") == error.headers["x-amz-request-id"]
    assert root.findtext("HostId")
    # A missing bucket is reported before the upload, as AWS does.
    missing = raw_get(server, f"/{unique('raw')}/key?uploadId=nothing")
    assert missing.code == 404
    assert ET.fromstring(missing.read()).findtext("Code") == "NoSuchBucket"


def test_key_too_long(s3: Any, upload: tuple[str, str, str]) -> None:
    with pytest.raises(ClientError) as info:
        s3.create_multipart_upload(Bucket=upload[0], Key="k" * 1025)
    assert error_of(info) == (400, "KeyTooLongError", "Your key is too long")
    assert info.value.response["Error"]["MaxSizeAllowed"] == "1024"


def test_object_size_header_must_match(s3: Any, upload: tuple[str, str, str]) -> None:
    bucket, key, upload_id = upload
    etag = put(s3, upload, 1, b"12345")
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MpuObjectSize=6,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )  # fmt: skip
    assert error_of(info)[:2] == (400, "InvalidRequest")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MpuObjectSize=5,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )  # fmt: skip
    assert done["ETag"].endswith('-1"')


def test_list_uploads_url_encoding(s3: Any, upload: tuple[str, str, str]) -> None:
    bucket = upload[0]
    s3.create_multipart_upload(Bucket=bucket, Key="sp ace/ü")
    listed = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", Prefix="sp ace/")
    assert listed["EncodingType"] == "url"
    assert [u["Key"] for u in listed["Uploads"]] == ["sp%20ace/%C3%BC"]
    assert listed["Prefix"] == "sp%20ace/"
    with pytest.raises(ClientError) as info:
        s3.list_multipart_uploads(Bucket=bucket, EncodingType="base64")
    assert error_of(info)[:2] == (400, "InvalidArgument")
