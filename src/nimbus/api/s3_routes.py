"""The S3 adapter with every core operation registered (others add theirs to it)."""

from __future__ import annotations

from nimbus.api.s3 import S3Api
from nimbus.api.s3_bucket_config import BucketConfigHandlers
from nimbus.api.s3_buckets import BucketHandlers
from nimbus.api.s3_copy import CopyHandlers
from nimbus.api.s3_list import ListHandlers
from nimbus.api.s3_objects import ObjectHandlers
from nimbus.api.s3_post import PostHandlers
from nimbus.api.s3_tags import TagHandlers
from nimbus.services.s3 import S3Service


def s3_api(service: S3Service, hosts: tuple[str, ...]) -> S3Api:
    api = S3Api(hosts)
    BucketHandlers(service).register(api)
    ObjectHandlers(service).register(api)
    CopyHandlers(service).register(api)
    ListHandlers(service).register(api)
    TagHandlers(service).register(api)
    BucketConfigHandlers(service).register(api)
    PostHandlers(service).register(api)
    return api
