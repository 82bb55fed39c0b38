"""S3 authentication end to end: presigned URLs (SigV4 and SigV2) with plain urllib,
signature errors in S3's XML, SigV2 header auth, virtual-host addressing, aws-chunked
uploads (trailing checksums, chunk signatures), signed payload hashes, the 5 GB limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import zlib
from http.client import HTTPConnection
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from e2e import NimbusServer, unique
from s3_helpers import fails, http, s3_client, xml_error


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return s3_client(server)


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    name = unique("auth")
    s3.create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("version", ["s3v4", "s3", None])
def test_presigned_get_and_put(server: NimbusServer, bucket: str, version: str | None) -> None:
    config: dict[str, Any] = {"s3": {"addressing_style": "path"}}
    if version:
        config["signature_version"] = version
    client = server.client("s3", **config)
    key = f"presigned/{version} ü+x.txt"
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    # urllib would add a Content-Type; SigV2 signs it (empty here, as presigned).
    status, _, _ = http(put_url, "PUT", b"via urllib", {"Content-Type": ""})
    assert status == 200
    get_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    if version != "s3v4":  # botocore presigns S3 with SigV2 unless told otherwise
        assert "AWSAccessKeyId=" in get_url
    else:
        assert "X-Amz-Signature=" in get_url
    status, headers, body = http(get_url)
    assert (status, body) == (200, b"via urllib")
    assert headers["etag"] == f'"{hashlib.md5(b"via urllib").hexdigest()}"'
    # Tampered: S3's XML error, not JSON.
    status, headers, body = http(get_url.replace(key.split("/")[0], "other", 1))
    assert status == 403
    assert headers["content-type"] == "application/xml"
    error = xml_error(body)
    assert error["Code"] == "SignatureDoesNotMatch"
    assert error["Message"] == (
        "The request signature we calculated does not match the signature you provided."
        " Check your key and signing method."
    )


def test_presigned_url_expires(server: NimbusServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="soon", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "soon"}, ExpiresIn=1
    )
    time.sleep(2.1)
    status, _, body = http(url)
    assert status == 403
    error = xml_error(body)
    assert (error["Code"], error["Message"]) == ("AccessDenied", "Request has expired")


def test_wrong_secret_and_unknown_key(server: NimbusServer, bucket: str) -> None:
    wrong = server.client(
        "s3", secret="wrong-secret-wrong-secret-wrong-secret00", s3={"addressing_style": "path"}
    )
    status, code, message, _ = fails(wrong.list_objects_v2, Bucket=bucket)
    assert (status, code) == (403, "SignatureDoesNotMatch")
    assert message.startswith("The request signature we calculated does not match")
    assert fails(wrong.head_object, Bucket=bucket, Key="x")[:2] == (403, "403")
    unknown = server.client("s3", key="AKIAUNKNOWN000000000", s3={"addressing_style": "path"})
    status, code, message, _ = fails(unknown.list_objects_v2, Bucket=bucket)
    assert (status, code, message) == (
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    )


def test_sigv2_header_auth(server: NimbusServer, bucket: str) -> None:
    client = server.client("s3", signature_version="s3", s3={"addressing_style": "path"})
    client.put_object(Bucket=bucket, Key="v2 key", Body=b"sigv2", Metadata={"m": "1"})
    got = client.get_object(Bucket=bucket, Key="v2 key")
    assert (got["Body"].read(), got["Metadata"]) == (b"sigv2", {"m": "1"})
    # Bucket-level requests: SigV2 signs the bucket as "/bucket/".
    name = unique("v2")
    client.create_bucket(Bucket=name)
    client.head_bucket(Bucket=name)
    assert client.list_objects_v2(Bucket=name)["KeyCount"] == 0
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    url = client.generate_presigned_url("list_objects", Params={"Bucket": bucket}, ExpiresIn=60)
    status, _, body = http(url)
    assert status == 200 and b"<Key>v2%20key</Key>" in body  # botocore asked for url encoding
    client.delete_bucket(Bucket=name)


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_virtual_host_addressing(server: NimbusServer, bucket: str, version: str) -> None:
    """boto3 with virtual-host style against http://localhost:<port>: the Host header is
    <bucket>.localhost (which does not resolve here, so the connection goes to 127.0.0.1)."""
    credentials = server.credentials
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{server.port}",
        region_name="us-east-1",
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
        config=Config(
            s3={"addressing_style": "virtual"},
            signature_version=version,
            retries={"total_max_attempts": 1},
        ),
    )
    hosts: list[str] = []

    def to_loopback(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        hosts.append(parts.netloc)
        request.headers["Host"] = parts.netloc
        request.url = request.url.replace(parts.netloc, f"127.0.0.1:{server.port}", 1)

    client.meta.events.register_first("before-send.s3", to_loopback)
    client.put_object(Bucket=bucket, Key="dir/vhost key", Body=b"virtual")
    assert hosts[-1] == f"{bucket}.localhost:{server.port}"
    assert client.get_object(Bucket=bucket, Key="dir/vhost key")["Body"].read() == b"virtual"
    listed = client.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/vhost key"]
    path_style = s3_client(server)
    assert path_style.get_object(Bucket=bucket, Key="dir/vhost key")["Body"].read() == b"virtual"
    assert fails(client.get_object, Bucket=unique("nobucket"), Key="k")[:2] == (
        404,
        "NoSuchBucket",
    )


class _DeclaredPayload(S3SigV4Auth):  # type: ignore[misc]
    """Signs the x-amz-content-sha256 value given (botocore would put its own there)."""

    def __init__(self, credentials: Credentials, payload: str) -> None:
        super().__init__(credentials, "s3", "us-east-1")
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def signed_put(
    server: NimbusServer, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """A PUT signed with SigV4 (header auth), declaring headers["x-amz-content-sha256"]."""
    credentials = server.credentials
    request = AWSRequest(method="PUT", url=server.endpoint + path, data=body, headers=headers)
    _DeclaredPayload(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        headers["x-amz-content-sha256"],
    ).add_auth(request)
    return http(request.url, "PUT", body, dict(request.headers.items()))


def chunked(payload: bytes, size: int, trailers: dict[str, str], signed: bool = False) -> bytes:
    out = b""
    signature = ";chunk-signature=" + "0" * 64 if signed else ""
    for start in range(0, len(payload), size):
        piece = payload[start : start + size]
        out += f"{len(piece):x}{signature}\r\n".encode() + piece + b"\r\n"
    out += f"0{signature}\r\n".encode()
    out += b"".join(f"{k}:{v}\r\n".encode() for k, v in trailers.items())
    return out + b"\r\n"


def test_aws_chunked_with_trailing_checksum(server: NimbusServer, s3: Any, bucket: str) -> None:
    payload = b"streamed in chunks " * 5000
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    headers = {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }
    body = chunked(payload, 8192, {"x-amz-checksum-crc32": crc})
    status, response_headers, _ = signed_put(server, f"/{bucket}/chunked", body, headers)
    assert status == 200
    assert response_headers["x-amz-checksum-crc32"] == crc
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == payload
    assert got["ChecksumCRC32"] == crc
    assert "ContentEncoding" not in got  # the transfer coding is not the object's
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    body = chunked(payload, 8192, {"x-amz-checksum-crc32": wrong})
    status, _, error_body = signed_put(server, f"/{bucket}/chunked-bad", body, headers)
    assert status == 400
    assert xml_error(error_body)["Code"] == "BadDigest"
    truncated = chunked(payload, 8192, {"x-amz-checksum-crc32": crc})[:-100]
    status, _, error_body = signed_put(server, f"/{bucket}/chunked-cut", truncated, headers)
    assert status == 400
    assert xml_error(error_body)["Code"] == "IncompleteBody"
    assert fails(s3.head_object, Bucket=bucket, Key="chunked-bad")[0] == 404


def signed_chunks(payload: bytes, size: int, key: bytes, date: str, scope: str, seed: str) -> bytes:
    """aws-chunked with SigV4 chunk signatures, computed here as the SDKs do."""
    empty = hashlib.sha256(b"").hexdigest()
    previous, out = seed, b""
    pieces = [payload[i : i + size] for i in range(0, len(payload), size)] + [b""]
    for piece in pieces:
        to_sign = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", date, scope, previous, empty,
             hashlib.sha256(piece).hexdigest())
        )  # fmt: skip
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return out


def test_aws_chunked_signed_chunks(server: NimbusServer, s3: Any, bucket: str) -> None:
    payload = os.urandom(150_000)
    credentials = server.credentials

    def put(key: str, tamper: bool = False) -> tuple[int, bytes]:
        request = AWSRequest(
            method="PUT",
            url=f"{server.endpoint}/{bucket}/{key}",
            headers={
                "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                "Content-Encoding": "aws-chunked",
                "x-amz-decoded-content-length": str(len(payload)),
            },
        )
        _DeclaredPayload(
            Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        ).add_auth(request)
        seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
        date = request.headers["X-Amz-Date"]
        signing = f"AWS4{credentials['secret_access_key']}".encode()
        for part in (date[:8], "us-east-1", "s3", "aws4_request"):
            signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
        scope = f"{date[:8]}/us-east-1/s3/aws4_request"
        body = signed_chunks(payload, 65536, signing, date, scope, seed)
        if tamper:  # one byte of the second chunk's data
            at = body.index(b"\r\n", 65536 + 90) + 10
            body = body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]
        status, _, response = http(request.url, "PUT", body, dict(request.headers.items()))
        return status, response

    assert put("sig-chunks")[0] == 200
    assert s3.get_object(Bucket=bucket, Key="sig-chunks")["Body"].read() == payload
    status, body = put("sig-chunks-bad", tamper=True)
    assert status == 403
    assert xml_error(body)["Code"] == "SignatureDoesNotMatch"
    assert fails(s3.head_object, Bucket=bucket, Key="sig-chunks-bad")[0] == 404


def test_signed_payload_hash_is_checked(server: NimbusServer, s3: Any, bucket: str) -> None:
    headers = {"x-amz-content-sha256": hashlib.sha256(b"what was signed").hexdigest()}
    status, _, body = signed_put(server, f"/{bucket}/tampered", b"what was sent", headers)
    assert status == 400
    error = xml_error(body)
    assert error["Code"] == "XAmzContentSHA256Mismatch"
    assert fails(s3.head_object, Bucket=bucket, Key="tampered")[0] == 404


def test_entity_too_large(server: NimbusServer, bucket: str) -> None:
    """A PUT declaring more than 5 GB is refused before any byte of it is read."""
    credentials = server.credentials
    size = 5 * 1024**3 + 1
    request = AWSRequest(
        method="PUT",
        url=f"{server.endpoint}/{bucket}/huge",
        headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Content-Length": str(size)},
    )
    S3SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        "s3",
        "us-east-1",
    ).add_auth(request)
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("PUT", f"/{bucket}/huge", skip_accept_encoding=True)
    for name, value in request.headers.items():
        connection.putheader(name, value)
    connection.putheader("Expect", "100-continue")
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 400
    error = xml_error(body)
    assert (error["Code"], error["ProposedSize"], error["MaxSizeAllowed"]) == (
        "EntityTooLarge",
        str(size),
        str(5 * 1024**3),
    )
    assert error["Message"] == "Your proposed upload exceeds the maximum allowed size"


def test_connection_survives_rejected_bodies(server: NimbusServer, s3: Any, bucket: str) -> None:
    """A reply sent before the body was read (auth or bucket errors): the body must not be
    taken for the next request on the connection."""
    s3.put_object(Bucket=bucket, Key="after", Body=b"fine")
    get_path = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "after"}, ExpiresIn=60
    ).split(str(server.port), 1)[1]
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    # A malformed SigV2 header (an S3 request, so S3's XML) with a small body: drained.
    connection.request(
        "PUT", f"/{bucket}/x", body=b"0123456789", headers={"Authorization": "AWS broken"}
    )
    response = connection.getresponse()
    error = xml_error(response.read())
    assert (response.status, error["Code"]) == (400, "AuthorizationHeaderMalformed")
    connection.request("GET", get_path)
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"fine")
    # A client waiting for 100-continue never sends the body: the connection is closed.
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": unique("nobucket"), "Key": "k"}, ExpiresIn=60
    )
    connection.putrequest("PUT", url.split(str(server.port), 1)[1], skip_accept_encoding=True)
    connection.putheader("Content-Length", "1000000")
    connection.putheader("Expect", "100-continue")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 404
    assert response.getheader("connection") == "close"
    response.read()
    connection.close()
    connection.request("GET", get_path)  # a new connection
    assert connection.getresponse().read() == b"fine"
