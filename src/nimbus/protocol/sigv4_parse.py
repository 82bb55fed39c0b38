"""Who signed a request, for which service and region, and how: the SigV4 (and S3's SigV2)
parts of its headers and query, parsed and checked for form. No secrets, no hashing:
protocol/sigv4.py verifies; the edge routes by the parsed service first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from botocore.auth import SIGV4_TIMESTAMP

from nimbus.errors import (
    IncompleteQuerySignature,
    IncompleteSignature,
    MissingAuthenticationToken,
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
