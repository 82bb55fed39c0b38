"""S3 bucket operations: Create/Head/List/DeleteBucket, GetBucketLocation, versioning."""

from __future__ import annotations

from nimbus.api.edge import StreamingResponse
from nimbus.api.s3 import XML, S3Api, S3Request
from nimbus.api.s3_body import read_small
from nimbus.errors import (
    IllegalLocationConstraint,
    IllegalVersioningConfiguration,
    InvalidLocationConstraint,
)
from nimbus.protocol import s3xml
from nimbus.services.s3 import S3Service

_VERSIONING = ("Enabled", "Suspended")


class BucketHandlers:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    def register(self, api: S3Api) -> None:
        api.register("CreateBucket", self.create)
        api.register("HeadBucket", self.head)
        api.register("ListBuckets", self.list)
        api.register("DeleteBucket", self.delete)
        api.register("GetBucketLocation", self.location)
        api.register("PutBucketVersioning", self.put_versioning)
        api.register("GetBucketVersioning", self.get_versioning)

    async def create(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        location = s3xml.parse_location(await read_small(request))
        signed_region = request.api.signing.region if request.api.signing else "us-east-1"
        if location == "us-east-1":
            raise InvalidLocationConstraint(LocationConstraint=location)
        if location is None and signed_region != "us-east-1":
            raise IllegalLocationConstraint()
        await self.s3.create_bucket(request.account, request.bucket, location or "us-east-1")
        return 200, [("Location", f"/{request.bucket}")], b""

    async def head(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        bucket = await self.s3.bucket(request.account, request.bucket)
        return 200, [("x-amz-bucket-region", bucket.region)], b""

    async def list(self, request: S3Request) -> StreamingResponse:
        buckets = await self.s3.list_buckets(request.account)
        items = "".join(
            f"<Bucket>{s3xml.el('Name', b.name)}"
            f"{s3xml.el('CreationDate', s3xml.iso_time(b.created))}"
            f"{s3xml.el('BucketRegion', b.region)}</Bucket>"
            for b in buckets
        )
        body = s3xml.document(
            "ListAllMyBucketsResult", [s3xml.owner(request.account), f"<Buckets>{items}</Buckets>"]
        )
        return 200, [("Content-Type", XML)], body

    async def delete(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.delete_bucket(request.account, request.bucket)
        return 204, [], b""

    async def location(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        bucket = await self.s3.bucket(request.account, request.bucket)
        region = "" if bucket.region == "us-east-1" else bucket.region  # AWS' legacy empty
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<LocationConstraint xmlns="{s3xml.XMLNS}">{s3xml.text(region)}</LocationConstraint>'
        )
        return 200, [("Content-Type", XML)], body.encode()

    async def put_versioning(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        status = s3xml.parse_versioning(await read_small(request))
        if status not in _VERSIONING:
            raise IllegalVersioningConfiguration(
                "The Versioning element must be specified"
                if status is None
                else f"The Versioning element has an invalid value: {status}"
            )
        await self.s3.set_versioning(request.account, request.bucket, status)
        return 200, [], b""

    async def get_versioning(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        bucket = await self.s3.bucket(request.account, request.bucket)
        inner = [s3xml.el("Status", bucket.versioning)] if bucket.versioning else []
        return 200, [("Content-Type", XML)], s3xml.document("VersioningConfiguration", inner)
