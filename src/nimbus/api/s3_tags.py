"""Object tagging: the x-amz-tagging header, Put/Get/DeleteObjectTagging."""

from __future__ import annotations

from urllib.parse import parse_qsl

from nimbus.api.edge import StreamingResponse
from nimbus.api.s3 import XML, S3Api, S3Request
from nimbus.api.s3_body import read_small
from nimbus.errors import InvalidTag
from nimbus.protocol import s3xml
from nimbus.services.s3 import S3Service

MAX_TAGS = 10


def check_tags(pairs: list[tuple[str, str]], limit: int = MAX_TAGS) -> dict[str, str]:
    """AWS' limits: 10 tags per object (50 per bucket), keys unique, key 1-128 and value
    0-256 chars."""
    if len(pairs) > limit:
        raise InvalidTag(f"Object tags cannot be greater than {limit}")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key", TagKey=key)
        if not 1 <= len(key) <= 128:
            raise InvalidTag("The TagKey you have provided is invalid", TagKey=key)
        if len(value) > 256:
            raise InvalidTag(
                "The TagValue you have provided is invalid", TagKey=key, TagValue=value
            )
        tags[key] = value
    return tags


def parse_tag_header(value: str | None) -> dict[str, str]:
    """x-amz-tagging: a URL query ("k1=v1&k2=v2")."""
    if not value:
        return {}
    return check_tags(parse_qsl(value, keep_blank_values=True))


class TagHandlers:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    def register(self, api: S3Api) -> None:
        api.register("PutObjectTagging", self.put)
        api.register("GetObjectTagging", self.get)
        api.register("DeleteObjectTagging", self.delete)

    async def put(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None and request.key is not None
        tags = check_tags(s3xml.parse_tagging(await read_small(request)))
        version = await self.s3.set_tags(
            request.account, request.bucket, request.key, request.query.get("versionId"), tags
        )
        return 200, _version_header(version.version_id), b""

    async def get(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None and request.key is not None
        version = await self.s3.get_object(
            request.account, request.bucket, request.key, request.query.get("versionId")
        )
        headers = [("Content-Type", XML), *_version_header(version.version_id)]
        return 200, headers, s3xml.tagging(version.meta.tags)

    async def delete(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None and request.key is not None
        version = await self.s3.set_tags(
            request.account, request.bucket, request.key, request.query.get("versionId"), {}
        )
        return 204, _version_header(version.version_id), b""


def _version_header(version_id: str) -> list[tuple[str, str]]:
    return [] if version_id == "null" else [("x-amz-version-id", version_id)]
