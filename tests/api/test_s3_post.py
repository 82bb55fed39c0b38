"""PostObject (HTML form uploads): boto3's generate_presigned_post with SigV4 and SigV2,
sent as a browser would (multipart/form-data, here with httpx); the policy's checks;
anonymous requests get S3's XML."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest
from e2e import NimbusServer, unique
from s3_helpers import fails, http, s3_client, xml_error


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return s3_client(server)


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    name = unique("post")
    s3.create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_post(server: NimbusServer, s3: Any, bucket: str, version: str) -> None:
    client = server.client("s3", signature_version=version, s3={"addressing_style": "path"})
    post = client.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "image/png", "x-amz-meta-owner": "me"},
        Conditions=[
            {"Content-Type": "image/png"},
            {"x-amz-meta-owner": "me"},
            ["content-length-range", 1, 1000],
        ],
        ExpiresIn=300,
    )
    data = b"\x89PNG fake image " + version.encode()
    response = httpx.post(
        post["url"], data=post["fields"], files={"file": ("pic ü.png", data)}, timeout=30
    )
    assert response.status_code == 204, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="uploads/pic ü.png")
    assert got["Body"].read() == data
    assert (got["ContentType"], got["Metadata"]) == ("image/png", {"owner": "me"})


def test_post_status_201_and_policy_checks(server: NimbusServer, s3: Any, bucket: str) -> None:
    client = server.client("s3", signature_version="s3v4", s3={"addressing_style": "path"})
    post = client.generate_presigned_post(
        bucket,
        "exact.txt",
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}, ["content-length-range", 1, 10]],
        ExpiresIn=300,
    )
    ok = httpx.post(post["url"], data=post["fields"], files={"file": ("a", b"12345")})
    assert ok.status_code == 201
    root = ET.fromstring(ok.content)
    assert root.tag == "PostResponse"
    assert (root.findtext("Bucket"), root.findtext("Key")) == (bucket, "exact.txt")
    too_big = httpx.post(post["url"], data=post["fields"], files={"file": ("a", b"x" * 11)})
    assert too_big.status_code == 400
    assert xml_error(too_big.content)["Code"] == "EntityTooLarge"
    extra = httpx.post(
        post["url"], data={**post["fields"], "x-amz-meta-sneaky": "1"}, files={"file": b"1"}
    )
    assert extra.status_code == 403
    error = xml_error(extra.content)
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky"
    other_key = httpx.post(
        post["url"], data={**post["fields"], "key": "other.txt"}, files={"file": b"1"}
    )
    assert other_key.status_code == 403
    assert "Policy Condition failed" in xml_error(other_key.content)["Message"]
    forged = dict(post["fields"])
    forged["x-amz-signature"] = "0" * 64
    bad = httpx.post(post["url"], data=forged, files={"file": b"1"})
    assert (bad.status_code, xml_error(bad.content)["Code"]) == (403, "SignatureDoesNotMatch")
    expired = client.generate_presigned_post(bucket, "late.txt", ExpiresIn=-10)
    late = httpx.post(expired["url"], data=expired["fields"], files={"file": b"1"})
    assert late.status_code == 403
    assert xml_error(late.content)["Message"] == "Invalid according to Policy: Policy expired."
    assert fails(s3.head_object, Bucket=bucket, Key="other.txt")[0] == 404


def test_anonymous_requests_get_s3_xml(server: NimbusServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    status, headers, body = http(f"{server.endpoint}/{bucket}/private")
    assert status == 403
    assert headers["content-type"] == "application/xml"
    error = xml_error(body)
    assert (error["Code"], error["Message"]) == ("AccessDenied", "Access Denied")
    form = httpx.post(f"{server.endpoint}/{bucket}", data={"key": "anon.txt"}, files={"file": b"x"})
    assert form.status_code == 403
    assert xml_error(form.content)["Code"] == "AccessDenied"
    # Other APIs' unsigned requests keep their own answers.
    status, headers, _ = http(f"{server.endpoint}/2015-03-31/functions/")
    assert status == 403 and headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
