"""S3 listings (ListObjects, ListObjectsV2, ListObjectVersions) and DeleteObjects."""

from __future__ import annotations

import asyncio
import base64
import binascii

import orjson

from nimbus.api.edge import StreamingResponse
from nimbus.api.s3 import XML, S3Api, S3Request
from nimbus.api.s3_body import read_small
from nimbus.errors import InvalidArgument, MalformedXML, NimbusError
from nimbus.protocol import s3xml
from nimbus.services import s3_listing
from nimbus.services.s3 import S3Service
from nimbus.store.objects import NULL_VERSION, ObjectVersion

MAX_KEYS = 1000


def _listed(v: ObjectVersion) -> s3xml.Listed:
    meta = v.meta
    algorithm = next(iter(meta.checksums), None)
    return s3xml.Listed(
        v.key, v.last_modified, meta.etag, meta.size, meta.storage_class, v.version_id,
        v.latest, v.delete_marker, algorithm, meta.checksum_type,
    )  # fmt: skip


def _max_keys(request: S3Request) -> int:
    raw = request.query.get("max-keys", str(MAX_KEYS))
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(
            "Provided max-keys not an integer or within integer range",
            ArgumentName="max-keys",
            ArgumentValue=raw,
        ) from None
    if value < 0:
        raise InvalidArgument(
            "Argument maxKeys must be an integer between 0 and 2147483647",
            ArgumentName="maxKeys",
            ArgumentValue=raw,
        )
    return min(value, MAX_KEYS)


def _encoding(request: S3Request) -> bool:
    value = request.query.get("encoding-type")
    if value is not None and value != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=value,
        )
    return value == "url"


def _token(last: str, is_prefix: bool) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([last, is_prefix])).decode()


def _untoken(token: str) -> tuple[str, bool]:
    try:
        last, is_prefix = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return str(last), bool(is_prefix)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidArgument(
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
        ) from None


class ListHandlers:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    def register(self, api: S3Api) -> None:
        api.register("ListObjects", self.list_v1)
        api.register("ListObjectsV2", self.list_v2)
        api.register("ListObjectVersions", self.list_versions)
        api.register("DeleteObjects", self.delete_objects)

    async def list_v2(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        q, url = request.query, _encoding(request)
        prefix, delimiter, max_keys = (
            q.get("prefix", ""),
            q.get("delimiter", ""),
            _max_keys(request),
        )
        token = q.get("continuation-token")
        after, skip = _untoken(token) if token is not None else (q.get("start-after"), False)
        found = await s3_listing.list_keys(
            self.s3.store, request.bucket, prefix, delimiter, after, max_keys, skip
        )
        owner = request.account if q.get("fetch-owner") == "true" else None
        inner = [
            s3xml.el("Name", request.bucket),
            s3xml.el("Prefix", s3xml.encode_key(prefix, url)),
        ]
        if token is not None:
            inner.append(s3xml.el("ContinuationToken", token))
        if found.truncated and found.last is not None:
            inner.append(
                s3xml.el("NextContinuationToken", _token(found.last, found.last_is_prefix))
            )
        if "start-after" in q:
            inner.append(s3xml.el("StartAfter", s3xml.encode_key(q["start-after"], url)))
        inner.append(s3xml.el("KeyCount", found.count))
        inner += _paging(max_keys, delimiter, url, found.truncated)
        inner += [s3xml.contents(_listed(v), owner, url) for v in found.entries]
        inner.append(s3xml.common_prefixes(found.prefixes, url))
        return 200, [("Content-Type", XML)], s3xml.document("ListBucketResult", inner)

    async def list_v1(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        q, url = request.query, _encoding(request)
        prefix, delimiter, max_keys = (
            q.get("prefix", ""),
            q.get("delimiter", ""),
            _max_keys(request),
        )
        marker = q.get("marker")
        skip = marker is not None and s3_listing.rollup(marker, prefix, delimiter) == marker
        found = await s3_listing.list_keys(
            self.s3.store, request.bucket, prefix, delimiter, marker, max_keys, skip
        )
        inner = [
            s3xml.el("Name", request.bucket),
            s3xml.el("Prefix", s3xml.encode_key(prefix, url)),
            s3xml.el("Marker", s3xml.encode_key(marker or "", url)),
        ]
        if found.truncated and delimiter and found.last is not None:
            inner.append(s3xml.el("NextMarker", s3xml.encode_key(found.last, url)))
        inner += _paging(max_keys, delimiter, url, found.truncated)
        inner += [s3xml.contents(_listed(v), request.account, url) for v in found.entries]
        inner.append(s3xml.common_prefixes(found.prefixes, url))
        return 200, [("Content-Type", XML)], s3xml.document("ListBucketResult", inner)

    async def list_versions(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        q, url = request.query, _encoding(request)
        prefix, delimiter, max_keys = (
            q.get("prefix", ""),
            q.get("delimiter", ""),
            _max_keys(request),
        )
        key_marker, version_marker = q.get("key-marker"), q.get("version-id-marker")
        if version_marker and not key_marker:
            raise InvalidArgument(
                "A version-id marker cannot be specified without a key marker.",
                ArgumentName="version-id-marker",
                ArgumentValue=version_marker,
            )
        after_seq = None
        if key_marker and version_marker:
            marked = await self.s3.store.get(request.bucket, key_marker, version_marker)
            if marked is None:
                raise InvalidArgument(
                    "Invalid version id specified",
                    ArgumentName="version-id-marker",
                    ArgumentValue=version_marker,
                )
            after_seq = marked.seq
        found = await s3_listing.list_versions(
            self.s3.store, request.bucket, prefix, delimiter, key_marker, after_seq, max_keys
        )
        inner = [
            s3xml.el("Name", request.bucket),
            s3xml.el("Prefix", s3xml.encode_key(prefix, url)),
            s3xml.el("KeyMarker", s3xml.encode_key(key_marker or "", url)),
            s3xml.el("VersionIdMarker", version_marker or ""),
        ]
        if found.truncated and found.last is not None:
            inner.append(s3xml.el("NextKeyMarker", s3xml.encode_key(found.last, url)))
            if found.last_version is not None:
                inner.append(s3xml.el("NextVersionIdMarker", found.last_version.version_id))
        inner += _paging(max_keys, delimiter, url, found.truncated)
        inner += [s3xml.version_entry(_listed(v), request.account, url) for v in found.entries]
        inner.append(s3xml.common_prefixes(found.prefixes, url))
        return 200, [("Content-Type", XML)], s3xml.document("ListVersionsResult", inner)

    async def delete_objects(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        quiet, objects = s3xml.parse_delete(await read_small(request, 2 * 1024 * 1024))
        if not objects or len(objects) > MAX_KEYS:
            raise MalformedXML()
        # All at once: the store commits them together (group commit), not one by one.
        outcomes = await asyncio.gather(
            *(
                self.s3.delete_object(
                    request.account,
                    request.bucket,
                    key,
                    version_id,
                    request.request_id,
                    request.source_ip,
                )
                for key, version_id in objects
            ),
            return_exceptions=True,
        )
        results: list[str] = []
        for (key, version_id), deleted in zip(objects, outcomes, strict=True):
            if isinstance(deleted, BaseException):
                if not isinstance(deleted, NimbusError):
                    raise deleted
                e = deleted
                fields = [s3xml.el("Key", key)]
                if version_id:
                    fields.append(s3xml.el("VersionId", version_id))
                fields += [s3xml.el("Code", e.code), s3xml.el("Message", e.message)]
                results.append(f"<Error>{''.join(fields)}</Error>")
                continue
            if quiet:
                continue
            fields = [s3xml.el("Key", key)]
            if version_id:
                fields.append(s3xml.el("VersionId", version_id))
            if deleted.delete_marker:
                fields.append(s3xml.el("DeleteMarker", "true"))
                if version_id is None and deleted.version_id:
                    marker_id = deleted.version_id
                    fields.append(s3xml.el("DeleteMarkerVersionId", marker_id or NULL_VERSION))
            results.append(f"<Deleted>{''.join(fields)}</Deleted>")
        return 200, [("Content-Type", XML)], s3xml.document("DeleteResult", results)


def _paging(max_keys: int, delimiter: str, url: bool, truncated: bool) -> list[str]:
    """The elements every listing carries after its markers."""
    out = [s3xml.el("MaxKeys", max_keys)]
    if delimiter:
        out.append(s3xml.el("Delimiter", s3xml.encode_key(delimiter, url)))
    if url:
        out.append(s3xml.el("EncodingType", "url"))
    out.append(s3xml.el("IsTruncated", "true" if truncated else "false"))
    return out
