"""Verify AWS Signature Version 4 (and S3's legacy SigV2 presigned URLs) on Nimbus' endpoint.

The signature is recomputed with botocore's own signers, so the canonical request is
exactly the one the SDKs build. They get only the headers the client listed as signed,
the on-the-wire path, the query and the body. The timestamp comes from the request: we
put it in the request context and call the signer's steps that follow `add_auth`'s clock
read, so no clock or global is touched (thread-safe, deterministic).

Looking up the secret is the caller's job: `parse_request` (protocol/sigv4_parse.py,
re-exported here) gives it the access key, service and region first (the endpoint routes
by service before verifying).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import (
    SIGV4_TIMESTAMP,
    HmacV1Auth,
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
)
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import remove_dot_segments

from nimbus.errors import (
    ContentSHA256Mismatch,
    InvalidSignature,
    RequestExpired,
    RequestTimeSkewed,
)
from nimbus.protocol.sigv4_parse import (
    MAX_SKEW,
    MAX_SKEW_S3,
    Headers,
    RawRequest,
    SignedRequestInfo,
    _text,
    header,
    parse_query,
    parse_request,
)

__all__ = [
    "Headers",
    "RawRequest",
    "SignedRequestInfo",
    "header",
    "parse_query",
    "parse_request",
    "payload_hash_to_check",
    "signing_key",
    "verify",
]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SIGV4_TIMESTAMP)


def verify(
    request: RawRequest,
    secret_key: str,
    now: datetime,
    info: SignedRequestInfo | None = None,
    *,
    check_payload: bool = True,
) -> None:
    """Raise an AuthFailure unless `request` is signed with `secret_key` and is current.

    check_payload=False: the body is still to come (S3 streams it); the caller checks it
    against the signed x-amz-content-sha256 as it arrives (`payload_hash_to_check`)."""
    info = info or parse_request(request)
    _check_time(info, now if now.tzinfo else now.replace(tzinfo=UTC))
    if info.version == 4 and info.scope_date != info.amz_date[:8]:
        raise InvalidSignature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date"
            f" from HTTP: '{info.scope_date}' != '{info.amz_date[:8]}', from '{info.amz_date}'."
        )
    sign = _v4_signature if info.version == 4 else _v2_signature
    expected = sign(request, info, secret_key)
    if not hmac.compare_digest(expected.encode(), info.signature.encode()):
        raise InvalidSignature()
    if check_payload:
        _check_payload(request)


def payload_hash_to_check(headers: Headers) -> str | None:
    """The hex SHA-256 a streamed body must hash to: the signed x-amz-content-sha256, unless
    it is UNSIGNED-PAYLOAD or a STREAMING-* form (those carry chunk signatures/trailers)."""
    declared = header(headers, "x-amz-content-sha256")
    if declared is None or declared == "UNSIGNED-PAYLOAD" or declared.startswith("STREAMING-"):
        return None
    return declared.lower()


def _check_time(info: SignedRequestInfo, now: datetime) -> None:
    if info.expires_at is not None and now > info.expires_at:
        raise RequestExpired()
    if info.signed_at is None:
        return
    skew = MAX_SKEW_S3 if info.service == "s3" else MAX_SKEW
    minutes = int(skew.total_seconds() // 60)
    # A presigned URL may be used long after signing: its expiry is what counts.
    if not info.query_auth and info.signed_at < now - skew:
        raise RequestTimeSkewed(
            f"Signature expired: {_stamp(info.signed_at)} is now earlier than"
            f" {_stamp(now - skew)} ({_stamp(now)} - {minutes} min.)"
        )
    if info.signed_at > now + skew:
        raise RequestTimeSkewed(
            f"Signature not yet current: {_stamp(info.signed_at)} is still later than"
            f" {_stamp(now + skew)} ({_stamp(now)} + {minutes} min.)"
        )


def _check_payload(request: RawRequest) -> None:
    # A signed x-amz-content-sha256 stands for the body in the signature: check it.
    # UNSIGNED-PAYLOAD leaves the body unchecked by design; STREAMING-* bodies carry
    # chunk signatures or a trailing checksum, checked by the aws-chunked decoder.
    declared = header(request.headers, "x-amz-content-sha256")
    if declared is None or declared == "UNSIGNED-PAYLOAD" or declared.startswith("STREAMING-"):
        return
    if declared.lower() != hashlib.sha256(request.body).hexdigest():
        raise ContentSHA256Mismatch()


class _ExactHeaders:
    """Canonicalise exactly the headers the client signed: botocore's own selection skips
    names other SDKs may sign (User-Agent, Expect...) and derives Host from the URL."""

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.headers


# botocore is untyped, hence the ignores. S3's signers don't normalise the path, and sign
# presigned URLs with UNSIGNED-PAYLOAD.
class _V4(_ExactHeaders, SigV4Auth):  # type: ignore[misc]
    pass


class _S3V4(_ExactHeaders, S3SigV4Auth):  # type: ignore[misc]
    pass


class _V4Query(_ExactHeaders, SigV4QueryAuth):  # type: ignore[misc]
    pass


class _S3V4Query(_ExactHeaders, S3SigV4QueryAuth):  # type: ignore[misc]
    pass


_SIGNERS: dict[tuple[bool, bool], type[SigV4Auth]] = {
    (False, False): _V4,
    (False, True): _S3V4,
    (True, False): _V4Query,
    (True, True): _S3V4Query,
}


def _canonical_path(raw_path: str | bytes) -> str:
    # AWS decodes the wire path and re-encodes each segment (so %2F stays in its segment).
    # botocore already sends that form; this only helps clients that leave e.g. '!' raw.
    return "/".join(
        quote(unquote(segment, errors="surrogateescape"), safe="~", errors="surrogateescape")
        for segment in _text(raw_path, "surrogateescape").split("/")
    )


@functools.lru_cache(maxsize=4096)
def _normalised_path(raw_path: str) -> str:
    """The canonical path of every service but S3 (dot segments resolved, encoded once
    more). Cached: API paths repeat (the same function invoked again and again)."""
    return quote(remove_dot_segments(_canonical_path(raw_path)) or "/", safe="/~")


def signing_key(secret_key: str, info: SignedRequestInfo) -> bytes:
    """The SigV4 key of a request's date, region and service (aws-chunked bodies sign each
    chunk with it)."""
    return _signing_key(secret_key, info.scope_date, info.region, info.service)


@functools.lru_cache(maxsize=256)
def _hmac_pads(
    secret_key: str, date: str, region: str, service: str
) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256 with the day's signing key, its padded key blocks hashed ahead (RFC 2104):
    per request only the message is hashed (hmac.digest sets up both blocks every time)."""
    key = _signing_key(secret_key, date, region, service)  # 32 bytes: no pre-hashing
    padded = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    return inner, outer


@functools.lru_cache(maxsize=256)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _fast_v4_signature(request: RawRequest, info: SignedRequestInfo, secret_key: str) -> str:
    """SigV4 header auth, step for step what botocore's SigV4Auth does (S3SigV4Auth for S3:
    the path as sent, neither normalised nor encoded twice); the tests sign with botocore
    and check both paths. No AWSRequest is built: this runs on every API call."""
    if info.service == "s3":
        path = _canonical_path(request.raw_path)
    else:
        path = _normalised_path(_text(request.raw_path, "surrogateescape"))
    query = (
        "&".join(
            f"{k}={v}"
            for k, v in sorted(
                (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
                for k, v in parse_query(request.query_string)
            )
        )
        if request.query_string
        else ""
    )
    wanted = set(info.signed_headers)
    values: dict[str, list[str]] = {}
    for name, value in request.headers:
        lower = name.lower()
        if lower in wanted:
            values.setdefault(lower, []).append(" ".join(value.split()))
    if "host" in wanted and "host" not in values:
        values["host"] = [" ".join(request.host.split())]
    names = sorted(values)
    headers = "\n".join(f"{n}:{','.join(values[n])}" for n in names)
    content = values.get("x-amz-content-sha256")
    payload = ",".join(content) if content else hashlib.sha256(request.body).hexdigest()
    canonical = "\n".join(
        (request.method.upper(), path, query, headers + "\n", ";".join(names), payload)
    )
    date = info.amz_date[:8]
    scope = f"{date}/{info.region}/{info.service}/aws4_request"
    string_to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", info.amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    inner, outer = _hmac_pads(secret_key, date, info.region, info.service)
    inner, outer = inner.copy(), outer.copy()
    inner.update(string_to_sign.encode())
    outer.update(inner.digest())
    return outer.hexdigest()


def _v4_signature(request: RawRequest, info: SignedRequestInfo, secret_key: str) -> str:
    if not info.query_auth:
        return _fast_v4_signature(request, info, secret_key)
    signer = _SIGNERS[(info.query_auth, info.service == "s3")](
        Credentials(info.access_key, secret_key), info.service, info.region
    )
    wanted = set(info.signed_headers)
    headers = HTTPHeaders()
    for name, value in request.headers:
        if name.lower() in wanted:
            headers[name.lower()] = value  # duplicates kept: botocore joins them with ','
    if "host" in wanted and "host" not in headers:
        headers["host"] = request.host
    query = parse_query(request.query_string)
    if info.query_auth:  # the signature can't sign itself
        query = [(key, value) for key, value in query if key != "X-Amz-Signature"]
    aws = AWSRequest(request.method, "http://nimbus" + _canonical_path(request.raw_path))
    aws.data, aws.params, aws.headers = request.body, query, headers
    aws.context["timestamp"] = info.amz_date  # where add_auth puts the clock; we pin it
    canonical = signer.canonical_request(aws)
    signature: str = signer.signature(signer.string_to_sign(aws, canonical), aws)
    return signature


class _HmacV1(HmacV1Auth):  # type: ignore[misc]
    """S3 SigV2 with the date line pinned: the Date header, or a presigned URL's Expires."""

    def __init__(self, credentials: Credentials, date: str) -> None:
        super().__init__(credentials)
        self._date = date

    def _get_date(self) -> str:
        return self._date


def _v2_signature(request: RawRequest, info: SignedRequestInfo, secret_key: str) -> str:
    path, query = request.auth_path or _text(request.raw_path), _text(request.query_string)
    headers = HTTPHeaders()
    if info.query_auth:
        # botocore moves the signed x-amz-*/Content-* headers of a presigned URL into the query.
        params = dict(parse_query(query))
        for name, value in [*request.headers, *params.items()]:
            if name.lower().startswith("x-amz-") or name.lower() in ("content-md5", "content-type"):
                del headers[name.lower()]
                headers[name.lower()] = value  # the query wins over a header of the same name
        date = params["Expires"]
    else:
        for name, value in request.headers:
            headers[name] = value
        # With x-amz-date (signed among the x-amz-* lines) the Date line is empty.
        date = (
            "" if header(request.headers, "x-amz-date") else header(request.headers, "date") or ""
        )
    signer = _HmacV1(Credentials(info.access_key, secret_key), date)
    split = urlsplit("http://nimbus" + path + ("?" + query if query else ""))
    signature: str = signer.get_signature(request.method, split, headers)
    return signature
