"""Verify AWS Signature Version 4 (and S3's legacy SigV2 presigned URLs) on Nimbus' endpoint.

The signature is recomputed with botocore's own signers, so the canonical request is
exactly the one the SDKs build. They get only the headers the client listed as signed,
the on-the-wire path, the query and the body. The timestamp comes from the request: we
put it in the request context and call the signer's steps that follow `add_auth`'s clock
read, so no clock or global is touched (thread-safe, deterministic).

Looking up the secret is the caller's job: `parse_request` gives it the access key,
service and region first (the endpoint routes by service before verifying).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
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
    IncompleteQuerySignature,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    RequestExpired,
    RequestTimeSkewed,
)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_PRESIGN_EXPIRES = 604800  # a week: AWS' limit for X-Amz-Expires
MAX_SKEW = timedelta(minutes=5)
MAX_SKEW_S3 = timedelta(minutes=15)  # S3 tolerates more clock skew than the rest
_QUERY_V4_PARAMS = ("Algorithm", "Credential", "Signature", "Date", "SignedHeaders", "Expires")

Headers = Sequence[tuple[str, str]]


@dataclass(slots=True)  # not frozen: a frozen __init__ sets each field via object.__setattr__
class RawRequest:
    """A request as received. Header values are latin-1 text, names any case."""

    method: str
    raw_path: str | bytes  # percent-encoding preserved (ASGI scope["raw_path"])
    query_string: str | bytes  # raw, without the '?'
    headers: Headers
    body: bytes
    host: str  # Host header or HTTP/2 :authority
    # SigV2's canonical resource path when it is not the wire path: S3 signs a bucket named
    # in the Host as "/bucket/key", and a bucket itself as "/bucket/".
    auth_path: str | None = None

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any], raw_path: str, body: bytes) -> RawRequest:
        """From an ASGI HTTP scope (headers as latin-1 text, as on the wire)."""
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        return cls(
            method=scope["method"],
            raw_path=raw_path,
            query_string=scope.get("query_string", b""),
            headers=headers,
            body=body,
            host=header(headers, "host") or "",
        )


@dataclass(slots=True)  # not frozen: a frozen __init__ sets each field via object.__setattr__
class SignedRequestInfo:
    """Who signed, for which service and region, and how (from the headers and query)."""

    access_key: str
    signature: str
    service: str = "s3"  # SigV2 has no credential scope: it is S3's only
    region: str = "us-east-1"
    version: int = 4  # or 2: S3's HmacV1 ("AWS key:sig" header, AWSAccessKeyId= query)
    query_auth: bool = False  # presigned URL: the auth is in the query string
    signed_at: datetime | None = None  # X-Amz-Date (or Date); None for a SigV2 presigned URL
    scope_date: str = ""  # YYYYMMDD of the SigV4 credential scope
    signed_headers: tuple[str, ...] = ()
    expires_at: datetime | None = None  # presigned URLs only
    security_token: str | None = None
    signed_at_text: str = ""  # X-Amz-Date as sent, when it is in SigV4's own format

    @property
    def amz_date(self) -> str:
        """The signing time as SigV4 writes it: YYYYMMDDTHHMMSSZ."""
        if self.signed_at_text:
            return self.signed_at_text
        return self.signed_at.strftime(SIGV4_TIMESTAMP) if self.signed_at else ""


def _text(value: str | bytes, errors: str = "replace") -> str:
    return value.decode("utf-8", errors) if isinstance(value, bytes) else value


def parse_query(query_string: str | bytes) -> list[tuple[str, str]]:
    """Decode a raw query; '+' stays '+' (signers encode spaces as %20, base64 needs '+')."""
    pairs = []
    for part in _text(query_string).split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def header(headers: Headers, name: str) -> str | None:
    """The first value of a header (name in lower case)."""
    return next((value for key, value in headers if key.lower() == name), None)


def header_index(headers: Headers) -> dict[str, str]:
    """Lower-case name -> first value: one pass for the several lookups of a request."""
    index: dict[str, str] = {}
    for key, value in headers:
        index.setdefault(key.lower(), value)
    return index


def parse_request(request: RawRequest) -> SignedRequestInfo:
    return parse_authorization(request.headers, request.query_string)


def parse_authorization(headers: Headers, query_string: str | bytes) -> SignedRequestInfo:
    """Who signed, for which service and region, and how; raises if malformed or absent."""
    query = dict(parse_query(query_string)) if query_string else {}
    index = header_index(headers)
    token = index.get("x-amz-security-token") or query.get("X-Amz-Security-Token")
    authorization = index.get("authorization")
    if authorization is not None:
        if authorization.startswith("AWS "):
            return _parse_v2_header(authorization, index, token)
        return _parse_v4_header(authorization, index, token)
    if {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"} & query.keys():
        return _parse_v4_query(query, token)
    if "AWSAccessKeyId" in query:
        return _parse_v2_query(query, token)
    raise MissingAuthenticationToken()


# The Authorization header every SDK sends; anything else takes the general parser (and
# its error messages). A regex is a fraction of the general parser's cost per request.
_V4_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^,=\s]+), ?SignedHeaders=([^,=\s]+), ?Signature=([^,=\s]+)"
)


def _parse_v4_header(
    authorization: str, headers: Mapping[str, str], token: str | None
) -> SignedRequestInfo:
    found = _V4_AUTHORIZATION.fullmatch(authorization)
    if found is not None:
        credential, signed_text, signature = found.groups()
        missing = []
    else:
        params = _v4_parameters(authorization)
        credential, signed_text = params.get("Credential"), params.get("SignedHeaders")
        signature = params.get("Signature")
        # AWS lists every missing piece at once, then echoes the header.
        missing = [
            f"Authorization header requires '{name}' parameter."
            for name in ("Credential", "Signature", "SignedHeaders")
            if not params.get(name)
        ]
    amz_date, http_date = headers.get("x-amz-date"), headers.get("date")
    if amz_date is None and http_date is None:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if missing or not (credential and signed_text and signature):
        raise IncompleteSignature(" ".join(missing) + f" Authorization={authorization}")
    signed = _signed_names(signed_text)
    _require_host(signed, IncompleteSignature)
    access_key, scope_date, region, service = _credential(credential, IncompleteSignature)
    return SignedRequestInfo(
        access_key=access_key,
        signature=signature,
        service=service,
        region=region,
        signed_at=(
            _v4_date(amz_date, IncompleteSignature)
            if amz_date is not None
            else _http_date(http_date or "")
        ),
        scope_date=scope_date,
        signed_headers=signed,
        security_token=token,
        signed_at_text=amz_date or "",
    )


def _v4_parameters(authorization: str) -> dict[str, str]:
    """`Credential=..., SignedHeaders=..., Signature=...` of an unusually written header."""
    algorithm, _, rest = authorization.partition(" ")
    params: dict[str, str] = {}
    for item in rest.split(",") if algorithm == ALGORITHM else ():
        item = item.strip()
        key, equals, value = item.partition("=")
        if item and not equals:
            raise IncompleteSignature(
                f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization"
                f" header: '{authorization}'."
            )
        params[key] = value
    return params


@functools.lru_cache(maxsize=256)
def _signed_names(signed_headers: str) -> tuple[str, ...]:
    return tuple(signed_headers.split(";"))


def _parse_v4_query(query: dict[str, str], token: str | None) -> SignedRequestInfo:
    if any(f"X-Amz-{name}" not in query for name in _QUERY_V4_PARAMS):
        raise IncompleteQuerySignature(
            "Query-string authentication version 4 requires the X-Amz-Algorithm,"
            " X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders,"
            " and X-Amz-Expires parameters."
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteQuerySignature(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    access_key, scope_date, region, service = _credential(
        query["X-Amz-Credential"], IncompleteQuerySignature
    )
    signed_at = _v4_date(query["X-Amz-Date"], IncompleteQuerySignature)
    try:
        expires = int(query["X-Amz-Expires"])
    except ValueError:
        raise IncompleteQuerySignature("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise IncompleteQuerySignature("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise IncompleteQuerySignature(
            f"X-Amz-Expires must be less than a week (in seconds) that is; {MAX_PRESIGN_EXPIRES}"
        )
    signed = tuple(query["X-Amz-SignedHeaders"].split(";"))
    _require_host(signed, IncompleteQuerySignature)
    return SignedRequestInfo(
        access_key=access_key,
        signature=query["X-Amz-Signature"],
        service=service,
        region=region,
        query_auth=True,
        signed_at=signed_at,
        scope_date=scope_date,
        signed_headers=signed,
        expires_at=signed_at + timedelta(seconds=expires),
        security_token=token,
    )


def _parse_v2_header(
    authorization: str, headers: Mapping[str, str], token: str | None
) -> SignedRequestInfo:
    access_key, colon, signature = authorization[len("AWS ") :].rpartition(":")
    if not colon or not access_key:
        raise IncompleteSignature(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
        )
    date = headers.get("x-amz-date") or headers.get("date")
    if date is None:
        raise IncompleteSignature("AWS authentication requires a valid Date or x-amz-date header")
    return SignedRequestInfo(
        access_key, signature, version=2, signed_at=_http_date(date), security_token=token
    )


def _parse_v2_query(query: dict[str, str], token: str | None) -> SignedRequestInfo:
    try:
        expires_at = datetime.fromtimestamp(int(query["Expires"]), UTC)
        signature = query["Signature"]
    except (KeyError, ValueError, OverflowError, OSError):
        raise IncompleteQuerySignature(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId"
            " parameters"
        ) from None
    return SignedRequestInfo(
        query["AWSAccessKeyId"],
        signature,
        version=2,
        query_auth=True,
        expires_at=expires_at,
        security_token=token,
    )


@functools.lru_cache(maxsize=256)  # a client's credential scope is the same all day
def _credential(value: str, error: type[IncompleteSignature]) -> tuple[str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise error(
            "Credential should be scoped with a valid terminator: 'aws4_request',"
            f" not '{parts[-1]}'."
        )
    access_key, scope_date, region, service, _ = parts
    if not all((access_key, scope_date, region, service)):
        raise error(f"Credential should be scoped to a valid region, not '{region}'.")
    return access_key, scope_date, region, service


def _require_host(signed: tuple[str, ...], error: type[IncompleteSignature]) -> None:
    if "host" not in signed:
        raise error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")


_V4_DATE = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z", re.ASCII)


@functools.lru_cache(maxsize=256)  # requests signed in the same second share it
def _v4_date(value: str, error: type[IncompleteSignature]) -> datetime:
    try:  # a regex instead of strptime: this runs on every request
        found = _V4_DATE.fullmatch(value)
        if found is None:
            raise ValueError(value)
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise error(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'."
            " See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


def _http_date(value: str) -> datetime:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise IncompleteSignature(f"Date must be in RFC 1123 format. Got '{value}'.") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


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
