"""PostObject: an HTML form upload (boto3's generate_presigned_post). The form carries
its own signature (SigV4: x-amz-signature over the policy; SigV2: signature), the policy
limits what may be uploaded, and the file part streams to disk like a PUT's body."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from nimbus.api.edge import StreamingResponse
from nimbus.api.s3 import XML, S3Api, S3Request
from nimbus.api.s3_objects import CONTENT_HEADERS, version_headers
from nimbus.api.s3_tags import check_tags
from nimbus.errors import (
    EntityTooLarge,
    InvalidArgument,
    InvalidSignature,
    MalformedXML,
    S3AccessDenied,
    S3Error,
)
from nimbus.protocol import s3_checksums, s3xml, sigv4
from nimbus.protocol.s3_post import (
    Field,
    FileStart,
    FormError,
    FormParser,
    Policy,
    boundary_of,
    check_length,
)
from nimbus.services.s3 import S3Service
from nimbus.store.objects import ObjectMeta
from nimbus.store.s3_blobs import StagedWriter

MAX_OBJECT = 5 * 1024**3


class PostHandlers:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    def register(self, api: S3Api) -> None:
        api.register("PostObject", self.post_object)

    async def post_object(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        try:
            parser = FormParser(boundary_of(request.headers.get("content-type", "")))
        except FormError:
            raise _malformed() from None
        fields: dict[str, str] = {"bucket": request.bucket}
        pending: list[Field | FileStart | bytes | None] = []
        chunks = aiter(request.body)
        start: FileStart | None = None
        try:
            while start is None:  # the fields come first, the file last (as S3 requires)
                if not pending:
                    chunk = await anext(chunks, None)
                    if chunk is None:
                        parser.finish()
                    pending = parser.feed(chunk or b"")
                    continue
                event = pending.pop(0)
                if isinstance(event, Field):
                    fields[event.name] = event.value
                elif isinstance(event, FileStart):
                    start = event
                else:
                    raise InvalidArgument(
                        "POST requires exactly one file upload per request.",
                        ArgumentName="file",
                    )
        except FormError:
            raise _malformed() from None
        account = await self._authenticate(request, fields)
        await self.s3.bucket(account, request.bucket)
        length = (
            Policy.decode(fields["policy"]).check(fields, datetime.now(UTC))
            if ("policy" in fields)
            else None
        )
        key = fields.get("key", "").replace("${filename}", start.filename)
        if not key:
            raise InvalidArgument(
                "Bucket POST must contain a field named 'key'.  If it is specified, please"
                " check the order of the fields.",
                ArgumentName="key",
            )
        digests = s3_checksums.Digests()
        path = self.s3.staging_path()
        writer = StagedWriter(path, digests.update)
        try:
            size = 0
            done = False
            while not done:
                for event in pending:
                    if isinstance(event, bytes):
                        size += len(event)
                        if size > MAX_OBJECT:
                            raise EntityTooLarge(MaxSizeAllowed=str(MAX_OBJECT))
                        await writer.write(event)
                    elif event is None:
                        done = True
                    # fields after the file: ignored, as S3 does
                if done:
                    break
                chunk = await anext(chunks, None)
                if chunk is None:
                    parser.finish()
                pending = parser.feed(chunk or b"")
            await writer.close()
            check_length(size, length)
            meta = _meta(fields, size, digests.md5.hexdigest())
            version = await self.s3.commit_object(
                account, request.bucket, key, path, meta, "ObjectCreated:Post",
                request.request_id, request.source_ip, synced=True,
            )  # fmt: skip
        except FormError:
            writer.discard()
            raise _malformed() from None
        except BaseException:
            writer.discard()
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return _reply(request, fields, key, version.etag, version_headers(version))

    async def _authenticate(self, request: S3Request, fields: dict[str, str]) -> str:
        lookup = request.api.key_lookup
        if lookup is None:  # --auth open
            return request.account
        if "x-amz-signature" in fields:
            credential = fields.get("x-amz-credential", "").split("/")
            if len(credential) != 5 or "policy" not in fields:
                raise InvalidArgument(
                    "Bucket POST must contain a field named 'x-amz-credential' and 'policy'.",
                    ArgumentName="x-amz-credential",
                )
            found = await lookup(credential[0])
            if found is None:
                raise _unknown_key()
            secret, account = found
            info = sigv4.SignedRequestInfo(
                credential[0], fields["x-amz-signature"], credential[3], credential[2],
                scope_date=credential[1],
            )  # fmt: skip
            key = sigv4.signing_key(secret, info)
            expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
            provided = fields["x-amz-signature"]
        elif "awsaccesskeyid" in fields and "signature" in fields and "policy" in fields:
            found = await lookup(fields["awsaccesskeyid"])
            if found is None:
                raise _unknown_key()
            secret, account = found
            digest = hmac.new(secret.encode(), fields["policy"].encode(), hashlib.sha1).digest()
            expected = base64.b64encode(digest).decode()
            provided = fields["signature"]
        else:  # anonymous: Nimbus' buckets are private
            raise S3AccessDenied()
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise InvalidSignature()
        return account


def _meta(fields: dict[str, str], size: int, md5: str) -> ObjectMeta:
    tags: dict[str, str] = {}
    if "tagging" in fields:
        try:
            tags = check_tags(s3xml.parse_tagging(fields["tagging"].encode()))
        except MalformedXML:
            raise _malformed() from None
    return ObjectMeta(
        size=size,
        etag=md5,
        content_type=fields.get("content-type") or "binary/octet-stream",
        headers={name: fields[name] for name in CONTENT_HEADERS if name in fields},
        metadata={
            k[len("x-amz-meta-") :]: v for k, v in fields.items() if k.startswith("x-amz-meta-")
        },
        tags=tags,
        storage_class=fields.get("x-amz-storage-class", "STANDARD"),
    )


def _reply(
    request: S3Request, fields: dict[str, str], key: str, etag: str, extra: list[tuple[str, str]]
) -> StreamingResponse:
    assert request.bucket is not None
    host = request.headers.get("host", "localhost")
    location = f"http://{host}/{quote(request.bucket)}/{quote(key)}"
    headers = [("ETag", f'"{etag}"'), ("Location", location), *extra]
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        query = urlencode({"bucket": request.bucket, "key": key, "etag": f'"{etag}"'})
        separator = "&" if "?" in redirect else "?"
        target = f"{redirect}{separator}{query}"
        return 303, [("ETag", f'"{etag}"'), ("Location", target), *extra], b""
    status = fields.get("success_action_status", "204")
    if status == "201":
        body = s3xml.document(
            "PostResponse",
            [
                s3xml.el("Location", location),
                s3xml.el("Bucket", request.bucket),
                s3xml.el("Key", key),
                s3xml.el("ETag", f'"{etag}"'),
            ],
            xmlns=False,
        )
        return 201, [*headers, ("Content-Type", XML)], body
    return (200 if status == "200" else 204), headers, b""


def _malformed() -> S3Error:
    error = S3Error("The body of your POST request is not well-formed multipart/form-data.")
    error.code = "MalformedPOSTRequest"
    return error


def _unknown_key() -> S3Error:
    error = S3Error("The AWS Access Key Id you provided does not exist in our records.")
    error.code, error.status = "InvalidAccessKeyId", 403
    return error
