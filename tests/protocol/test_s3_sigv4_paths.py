"""S3 header-signed requests take sigv4's fast path: it must compute exactly what
botocore's S3SigV4Auth computes, for every kind of key, query and header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nimbus.errors import InvalidSignature
from nimbus.protocol import sigv4

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
KEYS = ["plain", "a/../b", "./x", "sp ace+plus", "ünï©ødé", "%2F", "q?x", "~tilde!*'()", "//x/"]


def _signed(path: str, query: str, headers: dict[str, str], body: bytes) -> sigv4.RawRequest:
    url = "http://127.0.0.1:8900" + path + ("?" + query if query else "")
    request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    S3SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    raw_path, _, raw_query = prepared.url.split("127.0.0.1:8900", 1)[1].partition("?")
    wire = [(k, v) for k, v in prepared.headers.items()] + [("Host", "127.0.0.1:8900")]
    return sigv4.RawRequest("PUT", raw_path, raw_query, wire, body, "127.0.0.1:8900")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", ["", "tagging", "versionId=a%2Bb&partNumber=2", "x=%20&x=1"])
def test_fast_path_matches_botocore(key: str, query: str) -> None:
    from urllib.parse import quote

    path = "/bucket/" + quote(key, safe="/~")
    headers = {"x-amz-meta-Note": "  two   spaces ", "Content-Type": "text/plain"}
    request = _signed(path, query, headers, b"body")
    info = sigv4.parse_request(request)
    now = info.signed_at or datetime.now(UTC)
    sigv4.verify(request, SECRET, now, info)  # the fast path agrees with botocore
    with pytest.raises(InvalidSignature):
        tampered = sigv4.RawRequest(
            "PUT", path + "x", request.query_string, request.headers, b"body", request.host
        )
        sigv4.verify(tampered, SECRET, now, info)
