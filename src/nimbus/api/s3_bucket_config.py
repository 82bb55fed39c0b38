"""Bucket settings tools read and write around the core: tagging, ACLs (owner-only, as
AWS' default BucketOwnerEnforced), and the "not configured" answers of the settings Nimbus
has no use for (policy, CORS, website, lifecycle, encryption at rest...)."""

from __future__ import annotations

from nimbus.api.edge import StreamingResponse
from nimbus.api.s3 import XML, S3Api, S3Request
from nimbus.api.s3_body import read_small
from nimbus.api.s3_tags import check_tags
from nimbus.errors import NoSuchTagSet, S3Error
from nimbus.protocol import s3xml
from nimbus.services.s3 import S3Service

# Operation -> (code, message) of AWS' 404 for a setting never made.
_NOT_CONFIGURED = {
    "GetBucketPolicy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "GetBucketCors": ("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
    "GetBucketWebsite": (
        "NoSuchWebsiteConfiguration",
        "The specified bucket does not have a website configuration",
    ),
    "GetBucketLifecycleConfiguration": (
        "NoSuchLifecycleConfiguration",
        "The lifecycle configuration does not exist",
    ),
    # Nimbus does not encrypt objects at rest: it says so, as AWS did for such buckets.
    "GetBucketEncryption": (
        "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found",
    ),
    "GetPublicAccessBlock": (
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
    ),
}


class BucketConfigHandlers:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    def register(self, api: S3Api) -> None:
        api.register("PutBucketTagging", self.put_tagging)
        api.register("GetBucketTagging", self.get_tagging)
        api.register("DeleteBucketTagging", self.delete_tagging)
        api.register("GetBucketAcl", self.get_acl)
        api.register("GetObjectAcl", self.get_acl)
        api.register("PutBucketAcl", self.put_acl)
        api.register("PutObjectAcl", self.put_acl)
        api.register("GetBucketOwnershipControls", self.get_ownership)
        for operation in _NOT_CONFIGURED:
            api.register(operation, self.not_configured)

    async def put_tagging(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        tags = check_tags(s3xml.parse_tagging(await read_small(request)), limit=50)
        await self.s3.set_bucket_config(request.account, request.bucket, "tags", tags)
        return 204, [], b""

    async def get_tagging(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        bucket = await self.s3.bucket(request.account, request.bucket)
        tags = bucket.config.get("tags")
        if not tags:
            raise NoSuchTagSet(BucketName=request.bucket)
        return 200, [("Content-Type", XML)], s3xml.tagging(dict(tags))

    async def delete_tagging(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.set_bucket_config(request.account, request.bucket, "tags", None)
        return 204, [], b""

    async def get_acl(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        if request.key is not None:
            await self.s3.get_object(
                request.account, request.bucket, request.key, request.query.get("versionId")
            )
        else:
            await self.s3.bucket(request.account, request.bucket)
        grantee = (
            '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xsi:type="CanonicalUser">'
            f"{s3xml.el('ID', s3xml.canonical_id(request.account))}"
            f"{s3xml.el('DisplayName', request.account)}</Grantee>"
        )
        grants = f"<AccessControlList><Grant>{grantee}{s3xml.el('Permission', 'FULL_CONTROL')}"
        grants += "</Grant></AccessControlList>"
        body = s3xml.document("AccessControlPolicy", [s3xml.owner(request.account), grants])
        return 200, [("Content-Type", XML)], body

    async def put_acl(self, request: S3Request) -> StreamingResponse:
        """Only what AWS' default (BucketOwnerEnforced) allows: private, owner-only."""
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        await read_small(request)  # an AccessControlPolicy body, if any: owner-only anyway
        canned = request.header("x-amz-acl")
        grants = [k for k in request.headers if k.startswith("x-amz-grant-")]
        if (canned not in (None, "private", "bucket-owner-full-control")) or grants:
            raise _error("AccessControlListNotSupported", 400, "The bucket does not allow ACLs")
        return 200, [], b""

    async def get_ownership(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        rule = f"<Rule>{s3xml.el('ObjectOwnership', 'BucketOwnerEnforced')}</Rule>"
        return 200, [("Content-Type", XML)], s3xml.document("OwnershipControls", [rule])

    async def not_configured(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        await self.s3.bucket(request.account, request.bucket)
        code, message = _NOT_CONFIGURED[request.operation]
        raise _error(code, 404, message, BucketName=request.bucket)


def _error(code: str, status: int, message: str, **extra: str) -> S3Error:
    """An S3 error of a code no other module raises."""
    error = S3Error(message, **extra)
    error.code, error.status = code, status
    return error
