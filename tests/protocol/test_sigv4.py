"""SigV4 verification against requests signed by botocore exactly as boto3 sends them."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

from nimbus.errors import (
    AuthFailure,
    ContentSHA256Mismatch,
    IncompleteQuerySignature,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    RequestExpired,
    RequestTimeSkewed,
)
from nimbus.protocol.sigv4 import RawRequest, SignedRequestInfo, parse_request, verify

ACCESS = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://127.0.0.1:1"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:my-fn:prod"
S3_KEY = "dir/../up here+ü/./x"


@dataclass
class Case:
    request: RawRequest
    body_signed: bool = True  # False: S3 presigned URLs sign no payload, by design
    tamper_header: str = ""  # signed header to change ("": the first but host and x-amz-date)


def _client(service: str, **kwargs: Any) -> Any:
    return botocore.session.get_session().create_client(
        service,
        endpoint_url=kwargs.pop("endpoint_url", ENDPOINT),
        region_name=kwargs.pop("region_name", "us-east-1"),
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        **kwargs,
    )


def _raw(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> RawRequest:
    """What the HTTP edge would see: http.client adds Host; the path stays as sent."""
    parts = urlsplit(url)
    return RawRequest(
        method=method,
        raw_path=parts.path.encode(),
        query_string=parts.query.encode(),
        headers=[*headers, ("Host", parts.netloc), ("Accept-Encoding", "identity")],
        body=body,
        host=parts.netloc,
    )


def capture(
    client: Any, call: Callable[[], object], body: bytes = b"{}", content_type: str = ""
) -> RawRequest:
    """Run one client call, record the request as it would leave, answer without a network."""
    sent: list[RawRequest] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        data = request.body
        data = data.read() if hasattr(data, "read") else data or b""
        data = data.encode() if isinstance(data, str) else data
        headers = [
            (k, v.decode("latin-1") if isinstance(v, bytes) else v)
            for k, v in request.headers.items()
        ]
        sent.append(_raw(request.method, request.url, headers, data))
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(body), status=200, preload_content=False, headers={}
        )
        return AWSResponse(request.url, 200, {"Content-Type": content_type}, raw)

    client.meta.events.register("before-send.*", before_send)
    call()
    assert len(sent) == 1
    return sent[0]


def _lambda_invoke() -> Case:
    client = _client("lambda")
    text = json.dumps({"text": "héllo ✓", "nul": "\x00"}, ensure_ascii=False).encode()
    raw_bytes = bytes(b for b in range(256) if b not in b'"\\')  # not UTF-8: sent as is
    payload = text[:-1] + b', "blob": "' + raw_bytes + b'"}'
    request = capture(client, lambda: client.invoke(FunctionName=FUNCTION_ARN, Payload=payload))
    assert b"%3A" in request.raw_path
    assert request.body == payload
    return Case(request)


def _lambda_list() -> Case:
    client = _client("lambda")
    request = capture(
        client,
        lambda: client.list_functions(Marker="abc/def+=ghi ü", MaxItems=10, FunctionVersion="ALL"),
        body=b'{"Functions": []}',
    )
    assert b"Marker=abc%2Fdef%2B%3Dghi%20%C3%BC" in request.query_string
    return Case(request)


def _sqs() -> Case:
    client = _client("sqs")
    request = capture(
        client,
        lambda: client.send_message(QueueUrl=f"{ENDPOINT}/000000000000/q", MessageBody="hi ü"),
        body=b'{"MessageId": "m", "MD5OfMessageBody": "x"}',
        content_type="application/x-amz-json-1.0",
    )
    return Case(request, tamper_header="x-amz-target")


def _sns() -> Case:
    client = _client("sns")
    xml = b"<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult>"
    xml += b"</PublishResponse>"
    request = capture(
        client,
        lambda: client.publish(
            TopicArn="arn:aws:sns:us-east-1:000000000000:t", Message="a & b = c + ü"
        ),
        body=xml,
        content_type="text/xml",
    )
    assert request.body.startswith(b"Action=Publish")
    return Case(request, tamper_header="content-type")


def _s3_put() -> Case:
    client = _client("s3", config=Config(s3={"addressing_style": "path"}))
    put = lambda: client.put_object(Bucket="b", Key=S3_KEY, Body=b"hello")  # noqa: E731
    request = capture(client, put, body=b"")  # S3 reads an empty 200 body as success
    assert request.raw_path == b"/b/dir/../up%20here%2B%C3%BC/./x"
    return Case(request, tamper_header="x-amz-content-sha256")


def _s3_put_sigv2() -> Case:
    """signature_version='s3': HmacV1 header auth; like SigV2 presigning, it signs no body."""
    config = Config(signature_version="s3", s3={"addressing_style": "path"})
    client = _client("s3", config=config)
    put = lambda: client.put_object(Bucket="b", Key=S3_KEY, Body=b"hello")  # noqa: E731
    request = capture(client, put, body=b"")
    assert parse_request(request).version == 2
    return Case(request, body_signed=False)


def _presigned(signature_version: str | None, expires: int = 3600) -> RawRequest:
    config = Config(signature_version=signature_version) if signature_version else None
    client = _client("s3", config=config)
    url = client.generate_presigned_url(
        "get_object",
        Params={"Bucket": "b", "Key": S3_KEY, "ResponseContentType": "text/plain"},
        ExpiresIn=expires,
    )
    return _raw("GET", url, [], b"")


CASES: dict[str, Callable[[], Case]] = {
    "lambda-invoke": _lambda_invoke,
    "lambda-list-functions": _lambda_list,
    "sqs-json": _sqs,
    "sns-query": _sns,
    "s3-put-object": _s3_put,
    "s3-put-object-sigv2": _s3_put_sigv2,
    "s3-presigned-v4": lambda: Case(_presigned("s3v4"), body_signed=False),
    "s3-presigned-v2": lambda: Case(_presigned(None), body_signed=False),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]()


def _now() -> datetime:
    return datetime.now(UTC)


def _with_header(request: RawRequest, name: str, value: str) -> RawRequest:
    headers = [(k, value if k.lower() == name else v) for k, v in request.headers]
    host = value if name == "host" else request.host
    return dataclasses.replace(request, headers=headers, host=host)


def test_verifies_with_the_right_secret(case: Case) -> None:
    verify(case.request, SECRET, _now())


def test_parse_tells_who_signed_for_what(case: Case) -> None:
    info = parse_request(case.request)
    assert info.access_key == ACCESS
    assert info.region == "us-east-1"
    assert info.service in {"lambda", "sqs", "sns", "s3"}


def test_wrong_secret_fails(case: Case) -> None:
    with pytest.raises(InvalidSignature):
        verify(case.request, SECRET[:-1] + "X", _now())


def test_tampered_body(case: Case) -> None:
    tampered = dataclasses.replace(case.request, body=case.request.body + b" ")
    if not case.body_signed:  # UNSIGNED-PAYLOAD / SigV2 presigned: AWS does not check it either
        verify(tampered, SECRET, _now())
        return
    with pytest.raises((InvalidSignature, ContentSHA256Mismatch)):
        verify(tampered, SECRET, _now())


def test_tampered_path(case: Case) -> None:
    path = case.request.raw_path
    assert isinstance(path, bytes)
    with pytest.raises(InvalidSignature):
        verify(dataclasses.replace(case.request, raw_path=path + b"x"), SECRET, _now())


def test_tampered_method(case: Case) -> None:
    with pytest.raises(InvalidSignature):
        verify(dataclasses.replace(case.request, method="DELETE"), SECRET, _now())


def test_tampered_query(case: Case) -> None:
    query = case.request.query_string
    assert isinstance(query, bytes)
    # versionId: a parameter even SigV2 signs (it signs only S3's sub-resources).
    tampered = dataclasses.replace(case.request, query_string=query + b"&versionId=1")
    with pytest.raises(InvalidSignature):
        verify(tampered, SECRET, _now())


def test_tampered_signed_header(case: Case) -> None:
    info = parse_request(case.request)
    if info.version == 2:  # SigV2 always signs the Content-Type line, even when absent
        headers = [*case.request.headers, ("Content-Type", "text/html")]
        with pytest.raises(InvalidSignature):
            verify(dataclasses.replace(case.request, headers=headers), SECRET, _now())
        return
    name = case.tamper_header or next(
        (h for h in info.signed_headers if h not in ("host", "x-amz-date")), "host"
    )
    assert name in info.signed_headers
    with pytest.raises((InvalidSignature, ContentSHA256Mismatch)):
        verify(_with_header(case.request, name, "tampered"), SECRET, _now())


def test_unsigned_header_may_change(case: Case) -> None:
    changed = _with_header(case.request, "accept-encoding", "gzip")
    verify(
        dataclasses.replace(changed, headers=[*changed.headers, ("X-Extra", "1")]), SECRET, _now()
    )


def test_stale_or_expired(case: Case) -> None:
    info = parse_request(case.request)
    second = timedelta(seconds=1)
    if info.query_auth:  # presigned: valid until its expiry (an hour here), however old
        assert info.expires_at is not None
        verify(case.request, SECRET, info.expires_at)
        with pytest.raises(RequestExpired):
            verify(case.request, SECRET, info.expires_at + second)
        return
    assert info.signed_at is not None
    skew = timedelta(minutes=15 if info.service == "s3" else 5)
    verify(case.request, SECRET, info.signed_at + skew)
    verify(case.request, SECRET, info.signed_at - skew)
    with pytest.raises(RequestTimeSkewed, match=r"^Signature expired: "):
        verify(case.request, SECRET, info.signed_at + skew + second)
    with pytest.raises(RequestTimeSkewed, match=r"^Signature not yet current: "):
        verify(case.request, SECRET, info.signed_at - skew - second)


@pytest.mark.parametrize("version", ["s3v4", None])
def test_presigned_url_that_has_expired(version: str | None) -> None:
    request = _presigned(version, expires=1)
    with pytest.raises(RequestExpired) as caught:
        verify(request, SECRET, _now() + timedelta(seconds=5))
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        "AccessDenied",
        403,
        "Request has expired",
    )


def test_boto3_presigns_sigv2_for_a_custom_endpoint() -> None:
    """Know which form real users send: boto3's default here is SigV2 (AWSAccessKeyId=...)."""
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
    )
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    request = _raw("GET", url, [], b"")
    assert parse_request(request).version == 2
    verify(request, SECRET, _now())


def test_s3_path_is_not_normalised() -> None:
    """For S3 '/b/dir/../x' and '/b/x' are different keys: resolving '..' must break it."""
    request = _s3_put().request
    with pytest.raises(InvalidSignature):
        verify(dataclasses.replace(request, raw_path=b"/b/up%20here%2B%C3%BC/x"), SECRET, _now())


@pytest.mark.parametrize(
    ("checksums", "declared"),
    [
        ("when_supported", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ("when_required", "UNSIGNED-PAYLOAD"),
    ],
)
def test_unsigned_payload_leaves_the_body_unchecked(checksums: str, declared: str) -> None:
    """Over https boto3 skips the body hash (aws-chunked with a trailing checksum by default)."""
    config = Config(
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        request_checksum_calculation=checksums,
    )
    client = _client("s3", endpoint_url="https://127.0.0.1:1", config=config)
    request = capture(client, lambda: client.put_object(Bucket="b", Key="k", Body=b"x"), body=b"")
    assert ("X-Amz-Content-SHA256", declared) in request.headers
    verify(request, SECRET, _now())
    verify(dataclasses.replace(request, body=b"other"), SECRET, _now())
    with pytest.raises(InvalidSignature):
        verify(_with_header(request, "x-amz-content-sha256", "UNSIGNED-PAYLOAD!"), SECRET, _now())


# --- Requests signed by hand with botocore's signer: shapes other clients send.


def _sign(headers: dict[str, str], body: bytes = b"{}", signer: type[SigV4Auth] = SigV4Auth) -> Any:
    request = AWSRequest("POST", f"{ENDPOINT}/2015-03-31/functions", data=body, headers=headers)
    signer(Credentials(ACCESS, SECRET), "lambda", "us-east-1").add_auth(request)
    return request


def _received(request: Any, **replace: Any) -> RawRequest:
    headers = [(k, v) for k, v in request.headers.items()]
    return dataclasses.replace(_raw(request.method, request.url, headers, request.body), **replace)


def test_folded_whitespace_and_duplicate_headers() -> None:
    request = AWSRequest("POST", f"{ENDPOINT}/2015-03-31/functions", data=b"{}")
    request.headers["X-Custom"] = "a   b"
    request.headers["X-Multi"] = "one"  # HTTPHeaders appends: two X-Multi headers
    request.headers["X-Multi"] = "two"
    SigV4Auth(Credentials(ACCESS, SECRET), "lambda", "us-east-1").add_auth(request)
    received = _received(request)
    info = parse_request(received)
    assert {"x-custom", "x-multi"} <= set(info.signed_headers)
    folded = [(k, "  a \r\n\t b " if k == "X-Custom" else v) for k, v in received.headers]
    verify(dataclasses.replace(received, headers=folded), SECRET, _now())
    reordered = [h for h in received.headers if h[0] != "X-Multi"]
    reordered += [("X-Multi", "two"), ("X-Multi", "one")]
    with pytest.raises(InvalidSignature):  # order of repeated values is signed
        verify(dataclasses.replace(received, headers=reordered), SECRET, _now())


class _SignsEverything(SigV4Auth):  # type: ignore[misc]
    """Like SDKs that sign User-Agent (botocore itself never does)."""

    def headers_to_sign(self, request: Any) -> Any:
        headers = super().headers_to_sign(request)
        headers["user-agent"] = request.headers["User-Agent"]
        return headers


def test_headers_botocore_would_not_sign_are_honoured() -> None:
    request = _received(_sign({"User-Agent": "other-sdk/1.0"}, signer=_SignsEverything))
    assert "user-agent" in parse_request(request).signed_headers
    verify(request, SECRET, _now())
    with pytest.raises(InvalidSignature):
        verify(_with_header(request, "user-agent", "x"), SECRET, _now())


def test_content_sha256_header_outside_s3_binds_the_body() -> None:
    body = b'{"a": 1}'
    digest = hashlib.sha256(body).hexdigest()
    request = _received(_sign({"X-Amz-Content-SHA256": digest}, body))
    verify(request, SECRET, _now())
    with pytest.raises(ContentSHA256Mismatch):
        verify(dataclasses.replace(request, body=b'{"a": 2}'), SECRET, _now())


def test_date_header_instead_of_x_amz_date() -> None:
    request = _received(_sign({"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}))
    info = parse_request(request)
    assert "x-amz-date" not in info.signed_headers and "date" in info.signed_headers
    verify(request, SECRET, info.signed_at or _now())


@pytest.mark.parametrize(
    "separator", [", ", ",", " ,  ", ",\t"], ids=["sdk", "no-space", "spaces", "tab"]
)
def test_authorization_written_unusually_still_verifies(separator: str) -> None:
    """The regex fast path takes what SDKs send; anything else, the general parser."""
    request = _received(_sign({}))
    authorization = dict(request.headers)["Authorization"]
    unusual = authorization.replace(", ", separator)
    headers = [(k, unusual if k == "Authorization" else v) for k, v in request.headers]
    changed = dataclasses.replace(request, headers=headers)
    assert parse_request(changed) == parse_request(request)
    verify(changed, SECRET, _now())
    tampered = unusual.replace("Signature=", "Signature=0")
    headers = [(k, tampered if k == "Authorization" else v) for k, v in request.headers]
    with pytest.raises(InvalidSignature):
        verify(dataclasses.replace(request, headers=headers), SECRET, _now())


def test_x_amz_date_must_be_ascii_digits() -> None:
    """\\d would match other scripts' digits; the date is signed as sent, so they must fail."""
    with pytest.raises(IncompleteSignature, match="ISO-8601"):
        parse_request(_header_signed_at("2024010\u0661T000000Z"))


# --- Errors, worded as AWS words them.


def _bare(**headers: str) -> RawRequest:
    return RawRequest("GET", "/", "", list(headers.items()), b"", "localhost")


def test_missing_authentication() -> None:
    with pytest.raises(MissingAuthenticationToken) as caught:
        verify(_bare(), SECRET, _now())
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
    )


def test_incomplete_authorization_header() -> None:
    with pytest.raises(IncompleteSignature) as caught:
        parse_request(_bare(Authorization="Bearer abc"))
    assert caught.value.code == "IncompleteSignatureException"
    assert caught.value.message == (
        "Authorization header requires 'Credential' parameter."
        " Authorization header requires 'Signature' parameter."
        " Authorization header requires 'SignedHeaders' parameter."
        " Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        " Authorization=Bearer abc"
    )
    with pytest.raises(IncompleteSignature, match="valid terminator"):
        parse_request(
            _bare(
                Authorization="AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/lambda/x,"
                " SignedHeaders=host, Signature=00",
                **{"X-Amz-Date": "20240101T000000Z"},
            )
        )
    with pytest.raises(IncompleteQuerySignature):
        parse_request(dataclasses.replace(_bare(), query_string="X-Amz-Algorithm=AWS4-HMAC-SHA256"))


def _header_signed_at(stamp: str) -> RawRequest:
    auth = (
        f"AWS4-HMAC-SHA256 Credential=AK/{stamp[:8]}/us-east-1/lambda/aws4_request,"
        " SignedHeaders=host;x-amz-date, Signature=00"
    )
    return _bare(Authorization=auth, Host="localhost", **{"X-Amz-Date": stamp})


def test_stale_messages_are_awss() -> None:
    now = datetime(2024, 1, 1, 0, 10, tzinfo=UTC)
    with pytest.raises(RequestTimeSkewed) as caught:
        verify(_header_signed_at("20240101T000000Z"), SECRET, now)
    assert caught.value.message == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z"
        " (20240101T001000Z - 5 min.)"
    )
    assert (caught.value.code, caught.value.status) == ("InvalidSignatureException", 403)
    assert caught.value.s3_code == "RequestTimeTooSkewed"
    with pytest.raises(RequestTimeSkewed) as caught:
        verify(_header_signed_at("20240101T002000Z"), SECRET, now)
    assert caught.value.message == (
        "Signature not yet current: 20240101T002000Z is still later than 20240101T001500Z"
        " (20240101T001000Z + 5 min.)"
    )
    # Naive datetimes are taken as UTC.
    with pytest.raises(InvalidSignature, match="does not match the signature you provided"):
        verify(_header_signed_at("20240101T000800Z"), SECRET, now.replace(tzinfo=None))


def test_every_auth_error_has_s3_wording() -> None:
    with pytest.raises(AuthFailure) as caught:
        verify(
            _header_signed_at("20240101T000800Z"), SECRET, datetime(2024, 1, 1, 0, 10, tzinfo=UTC)
        )
    error = caught.value
    assert (error.code, error.s3_code, error.s3_status) == (
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        403,
    )
    assert error.message == (
        "The request signature we calculated does not match the signature you provided."
        " Check your AWS Secret Access Key and signing method."
        " Consult the service documentation for details."
    )


def test_info_is_reusable_for_routing() -> None:
    case = _lambda_invoke()
    info = parse_request(case.request)
    assert isinstance(info, SignedRequestInfo) and info.service == "lambda"
    verify(case.request, SECRET, _now(), info)


# --- On the wire: what http.client / urllib3 really send (path kept, Host added).


def _serve_once(server: socket.socket, seen: list[bytes], answer: bytes) -> None:
    conn, _ = server.accept()
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        lengths = [
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        ]
        length = int(lengths[0].split(b":", 1)[1]) if lengths else 0
        if b"100-continue" in head.lower():
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        while len(rest) < length:
            rest += conn.recv(65536)
        seen.append(head + b"\r\n\r\n" + rest)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
        )


def over_the_wire(send: Callable[[str], object], answer: bytes = b"") -> RawRequest:
    """Serve one request on a loopback socket; return it as the HTTP edge would see it."""
    seen: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        thread = threading.Thread(target=_serve_once, args=(server, seen, answer), daemon=True)
        thread.start()
        send(f"http://127.0.0.1:{server.getsockname()[1]}")
        thread.join(5)
    head, _, body = seen[0].partition(b"\r\n\r\n")
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines)]
    path, _, query = target.partition("?")
    host = next(v for k, v in headers if k.lower() == "host")
    return RawRequest(method, path.encode(), query.encode(), headers, body, host)


def test_boto3_over_a_real_socket() -> None:
    def send(endpoint: str) -> None:
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        client = _client("s3", endpoint_url=endpoint, config=config)
        client.put_object(Bucket="b", Key=S3_KEY, Body=b"hello")

    request = over_the_wire(send)
    assert request.raw_path == b"/b/dir/../up%20here%2B%C3%BC/./x"  # urllib3 keeps dot segments
    verify(request, SECRET, _now())
    with pytest.raises(ContentSHA256Mismatch):
        verify(dataclasses.replace(request, body=b"hellO"), SECRET, _now())


AWS_CLI = shutil.which("aws", path=os.path.dirname(sys.executable)) or shutil.which("aws")


@pytest.mark.skipif(AWS_CLI is None, reason="the AWS CLI is not installed")
def test_aws_cli_over_a_real_socket(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": ACCESS,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }

    def send(endpoint: str) -> None:
        command = [AWS_CLI or "aws", "lambda", "get-function", "--endpoint-url", endpoint]
        command += ["--function-name", FUNCTION_ARN.replace("us-east-1", "eu-west-3")]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)

    request = over_the_wire(send, answer=b"{}")
    assert b"%3A" in request.raw_path
    info = parse_request(request)
    assert (info.service, info.region, info.access_key) == ("lambda", "eu-west-3", ACCESS)
    verify(request, SECRET, _now())
    with pytest.raises(InvalidSignature):
        verify(request, SECRET[::-1], _now())
