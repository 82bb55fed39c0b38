"""The S3 API (rest-xml): addressing (path-style and virtual-host), routing to operation
handlers by method, bucket/key and sub-resource query, and S3's XML errors.

Other modules add operations with `S3Api.register("CreateMultipartUpload", handler)`; a
handler takes an S3Request and returns (status, headers, body) where the body may be an
async iterator of bytes (streamed by the edge). Request bodies arrive as
`request.body_stream` (see api/s3_body.py to read, verify and stage them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from nimbus.api.edge import ApiRequest, BodyStream, ClientDisconnected, StreamingResponse
from nimbus.errors import (
    AuthFailure,
    IncompleteBody,
    InvalidArgument,
    InvalidBucketName,
    KeyTooLong,
    NimbusError,
    S3AccessDenied,
    S3Error,
    S3InternalError,
    S3MethodNotAllowed,
)
from nimbus.errors import S3NotImplemented as NotImplementedS3
from nimbus.protocol import s3xml

log = logging.getLogger("nimbus.s3")
Handler = Callable[["S3Request"], Awaitable[StreamingResponse]]
XML = "application/xml"
MAX_KEY = 1024  # bytes of UTF-8
_API_VERSION_PATH = re.compile(r"/\d{4}-\d{2}-\d{2}/")  # Lambda's "/2015-03-31/functions"...


@dataclass(frozen=True, slots=True)
class S3Request:
    """An S3 request: bucket and key decoded from the path or the Host."""

    api: ApiRequest
    operation: str
    bucket: str | None
    key: str | None  # as stored: any Unicode, '/', '..' kept exactly
    query: dict[str, str]  # first value of each parameter

    @property
    def account(self) -> str:
        return self.api.account

    @property
    def method(self) -> str:
        return self.api.method

    @property
    def headers(self) -> dict[str, str]:
        return self.api.headers

    @property
    def request_id(self) -> str:
        return self.api.request_id

    @property
    def source_ip(self) -> str:
        return self.api.source_ip or "127.0.0.1"

    @property
    def body(self) -> BodyStream:
        assert self.api.body_stream is not None
        return self.api.body_stream

    def header(self, name: str) -> str | None:
        return self.api.headers.get(name)

    @property
    def resource(self) -> str:
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" + (f"/{self.key}" if self.key is not None else "")


# (method, level) -> [(query parameter that selects it, operation)], first match wins;
# then the default operation of that method and level. level: service | bucket | object.
_ROUTES: dict[tuple[str, str], tuple[list[tuple[str, str]], str]] = {
    ("GET", "service"): ([], "ListBuckets"),
    ("PUT", "bucket"): (
        [
            ("versioning", "PutBucketVersioning"),
            ("notification", "PutBucketNotificationConfiguration"),
            ("tagging", "PutBucketTagging"),
            ("policy", "PutBucketPolicy"),
            ("cors", "PutBucketCors"),
            ("lifecycle", "PutBucketLifecycleConfiguration"),
            ("acl", "PutBucketAcl"),
            ("encryption", "PutBucketEncryption"),
            ("ownershipControls", "PutBucketOwnershipControls"),
            ("publicAccessBlock", "PutPublicAccessBlock"),
            ("website", "PutBucketWebsite"),
            ("logging", "PutBucketLogging"),
        ],
        "CreateBucket",
    ),
    ("GET", "bucket"): (
        [
            ("versioning", "GetBucketVersioning"),
            ("location", "GetBucketLocation"),
            ("versions", "ListObjectVersions"),
            ("uploads", "ListMultipartUploads"),
            ("notification", "GetBucketNotificationConfiguration"),
            ("tagging", "GetBucketTagging"),
            ("policy", "GetBucketPolicy"),
            ("cors", "GetBucketCors"),
            ("lifecycle", "GetBucketLifecycleConfiguration"),
            ("acl", "GetBucketAcl"),
            ("encryption", "GetBucketEncryption"),
            ("ownershipControls", "GetBucketOwnershipControls"),
            ("publicAccessBlock", "GetPublicAccessBlock"),
            ("website", "GetBucketWebsite"),
            ("logging", "GetBucketLogging"),
            ("list-type", "ListObjectsV2"),
        ],
        "ListObjects",
    ),
    ("HEAD", "bucket"): ([], "HeadBucket"),
    ("DELETE", "bucket"): (
        [
            ("tagging", "DeleteBucketTagging"),
            ("policy", "DeleteBucketPolicy"),
            ("cors", "DeleteBucketCors"),
            ("lifecycle", "DeleteBucketLifecycle"),
            ("encryption", "DeleteBucketEncryption"),
            ("website", "DeleteBucketWebsite"),
        ],
        "DeleteBucket",
    ),
    ("POST", "bucket"): ([("delete", "DeleteObjects")], "PostObject"),
    ("PUT", "object"): (
        [
            ("uploadId", "UploadPart"),
            ("tagging", "PutObjectTagging"),
            ("acl", "PutObjectAcl"),
            ("retention", "PutObjectRetention"),
            ("legal-hold", "PutObjectLegalHold"),
        ],
        "PutObject",
    ),
    ("GET", "object"): (
        [
            ("uploadId", "ListParts"),
            ("tagging", "GetObjectTagging"),
            ("acl", "GetObjectAcl"),
            ("attributes", "GetObjectAttributes"),
            ("retention", "GetObjectRetention"),
            ("legal-hold", "GetObjectLegalHold"),
        ],
        "GetObject",
    ),
    ("HEAD", "object"): ([], "HeadObject"),
    ("DELETE", "object"): (
        [("uploadId", "AbortMultipartUpload"), ("tagging", "DeleteObjectTagging")],
        "DeleteObject",
    ),
    ("POST", "object"): (
        [
            ("uploads", "CreateMultipartUpload"),
            ("uploadId", "CompleteMultipartUpload"),
            ("restore", "RestoreObject"),
            ("select", "SelectObjectContent"),
        ],
        "",
    ),
}


def operation_for(
    method: str, bucket: str | None, key: str | None, query: dict[str, str], copy_source: bool
) -> str:
    """The S3 operation of a request ("" if none: MethodNotAllowed)."""
    level = "service" if bucket is None else "bucket" if key is None else "object"
    selectors, default = _ROUTES.get((method, level), ([], ""))
    name = next((op for param, op in selectors if param in query), default)
    if copy_source and name in ("PutObject", "UploadPart"):
        name = "CopyObject" if name == "PutObject" else "UploadPartCopy"
    return name


def split_path(raw_path: str, host_bucket: str | None) -> tuple[str | None, str | None]:
    """(bucket, key) from the raw (percent-encoded) path; the key exactly as the client
    meant it: '+' stays '+', '%2F' is '/', a leading '/' after the bucket is kept."""
    path = raw_path[1:] if raw_path.startswith("/") else raw_path
    if host_bucket is not None:
        bucket: str | None = host_bucket
        key_part: str | None = path
    else:
        name, slash, rest = path.partition("/")
        try:
            bucket = unquote(name, errors="strict") or None
        except UnicodeDecodeError:  # not a bucket name S3 could have
            raise InvalidBucketName() from None
        key_part = rest if slash else None
    if bucket is None or not key_part:
        return bucket, None
    try:
        key = unquote(key_part, errors="strict")
    except UnicodeDecodeError:
        raise InvalidArgument("Object key is not valid UTF-8") from None
    if len(key.encode()) > MAX_KEY:
        raise KeyTooLong(Size=str(len(key.encode())), MaxSizeAllowed=str(MAX_KEY))
    return bucket, key


class S3Api:
    """The "s3" adapter of the edge: takes bodies as streams, may stream replies."""

    streams_body = True

    def __init__(self, hosts: tuple[str, ...] = ("localhost",)) -> None:
        # Host names of this endpoint: "<bucket>.<host>" and "<bucket>.s3.<host>" address
        # a bucket (virtual-host style); the hosts themselves (or IPs) are path-style.
        self.hosts = tuple(h.lower() for h in hosts if h)
        self.handlers: dict[str, Handler] = {}

    def register(self, operation: str, handler: Handler) -> None:
        self.handlers[operation] = handler

    def host_bucket(self, host: str) -> str | None:
        name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
        for base in self.hosts:
            for suffix in (f".s3.{base}", f".{base}"):
                if name.endswith(suffix) and len(name) > len(suffix):
                    bucket = name[: -len(suffix)]
                    return None if bucket == "s3" else bucket
        return None

    def v2_auth_path(self, raw_path: str, host: str) -> str | None:
        """SigV2 signs "/bucket/key" whatever the addressing, and "/bucket/" for a bucket."""
        bucket = self.host_bucket(host)
        if bucket is not None:
            return f"/{bucket}{raw_path or '/'}"
        if raw_path.count("/") == 1 and len(raw_path) > 1:
            return raw_path + "/"
        return None

    def takes_unsigned(self, method: str, raw_path: str, headers: dict[str, str]) -> bool:
        """Unsigned requests for buckets and objects (anonymous access: S3's XML answer; a
        POST form upload: signed in its body). Not "/" nor the other APIs' versioned paths
        ("/2015-03-31/..."), whose unsigned requests keep their own answers."""
        if self.host_bucket(headers.get("host", "")) is not None:
            return True
        path = raw_path.split("?", 1)[0]
        return path not in ("", "/") and _API_VERSION_PATH.match(path) is None

    async def handle_unsigned(self, request: ApiRequest) -> StreamingResponse:
        """PostObject authenticates itself from its form; anything else is anonymous, and
        Nimbus' buckets are private (AccessDenied)."""
        try:
            s3 = self.route(request)
        except NimbusError as e:
            return self._error(e, request, None)
        if s3.operation == "PostObject" and "PostObject" in self.handlers:
            return await self.handle(request)
        return self._error(S3AccessDenied(), request, s3)

    def route(self, request: ApiRequest) -> S3Request:
        bucket, key = split_path(
            request.raw_path, self.host_bucket(request.headers.get("host", ""))
        )
        query = {k: v[0] for k, v in request.query.items()}
        operation = operation_for(
            request.method, bucket, key, query, "x-amz-copy-source" in request.headers
        )
        return S3Request(request, operation, bucket, key, query)

    async def handle(self, request: ApiRequest) -> StreamingResponse:
        s3: S3Request | None = None
        try:
            s3 = self.route(request)
            handler = self.handlers.get(s3.operation)
            if handler is None:
                if not s3.operation:
                    raise S3MethodNotAllowed(
                        Method=request.method,
                        ResourceType="OBJECT" if s3.key is not None else "BUCKET",
                    )
                raise NotImplementedS3(f"Nimbus does not implement {s3.operation} (yet).")
            status, headers, body = await handler(s3)
        except NimbusError as e:
            return self._error(e, request, s3)
        except ClientDisconnected:
            return self._error(IncompleteBody(), request, s3)
        except Exception:  # a bug: S3's own words for it, in S3's shape
            log.exception("S3 %s %s failed", request.method, request.raw_path)
            return self._error(S3InternalError(), request, s3)
        if any(name.lower() == "x-amz-request-id" for name, _ in headers):
            return status, headers, body  # the handler set them
        ids = [("x-amz-request-id", request.request_id), ("x-amz-id-2", request.request_id)]
        return status, [*headers, *ids], body

    def _error(
        self, e: NimbusError, request: ApiRequest, s3: S3Request | None
    ) -> StreamingResponse:
        resource = s3.resource if s3 is not None else unquote(request.raw_path)
        return self.error_response(e, request.request_id, request.method, resource)

    def error_response(
        self, error: NimbusError, request_id: str, method: str, raw_path: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """S3's XML error (HEAD: status and headers only)."""
        code, status, message = error.code, error.status, error.message
        extra: dict[str, str] = {}
        headers = [("x-amz-request-id", request_id), ("x-amz-id-2", request_id)]
        if isinstance(error, AuthFailure):
            code, status = error.s3_code, error.s3_status
            message = error.s3_message or error.message
        elif isinstance(error, S3Error):
            extra = error.extra
            headers += list(error.response_headers.items())
        if method == "HEAD" or status == 304:
            return status, headers, b""
        resource = unquote(raw_path.split("?", 1)[0]) if "%" in raw_path else raw_path
        body = s3xml.error(code, message, resource.split("?", 1)[0], request_id, extra)
        return status, [*headers, ("Content-Type", XML)], body


async def empty() -> AsyncIterator[bytes]:
    """A streamed body of nothing (HEAD replies keep the object's Content-Length)."""
    return
    yield b""  # pragma: no cover - makes this an async generator
