"""Functions' code packages: taken from the request (ZipFile) or the object store
(S3Bucket/S3Key), stored once, and removed when no function uses them any more."""

from __future__ import annotations

import asyncio
from typing import Any

from nimbus.errors import InvalidParameterValue, NimbusError, RequestEntityTooLarge
from nimbus.services.contracts import ObjectReader
from nimbus.services.function_config import ZIP_LIMIT
from nimbus.services.registry import FunctionRegistry
from nimbus.store.code import CodePackage, CodeStore
from nimbus.tasks import Background


class FunctionCode:
    def __init__(
        self, store: CodeStore, registry: FunctionRegistry, background: Background
    ) -> None:
        self.store = store
        self.registry = registry
        self.background = background
        self.objects: ObjectReader | None = None  # S3 (Code.S3Bucket/S3Key); set by app.py
        # Storing a package and deciding a package is garbage must not interleave.
        self.lock = asyncio.Lock()

    async def source(self, account: str, code: dict[str, Any]) -> bytes:
        """The zip a CreateFunction's Code / an UpdateFunctionCode request names."""
        if code.get("ImageUri"):
            raise InvalidParameterValue("Container images are not supported by Nimbus (yet).")
        if code.get("S3Bucket") or code.get("S3Key"):
            return await self._from_s3(account, code)
        zip_file = code.get("ZipFile")
        if not zip_file:
            raise InvalidParameterValue("Please provide a source for function code.")
        return bytes(zip_file)

    async def _from_s3(self, account: str, code: dict[str, Any]) -> bytes:
        """The package from the object store (Code.S3Bucket / S3Key / S3ObjectVersion)."""
        bucket, key = code.get("S3Bucket"), code.get("S3Key")
        if self.objects is None:
            raise InvalidParameterValue(
                "Code from S3 (S3Bucket/S3Key) needs the object store, which this Nimbus node "
                "does not have; upload the package as ZipFile."
            )
        if not bucket or not key:
            raise InvalidParameterValue("Please provide a source for function code.")
        try:
            return await self.objects.read_object(account, bucket, key, code.get("S3ObjectVersion"))
        except NimbusError as e:  # as AWS words it: S3's code and message, wrapped
            raise InvalidParameterValue(
                f"Error occurred while GetObject. S3 Error Code: {e.code}. "
                f"S3 Error Message: {e.message}"
            ) from e

    async def store_zip(self, zip_file: bytes, operation: str, code: dict[str, Any]) -> CodePackage:
        """Validate and store a package (under `lock`). A package uploaded in the request,
        not read from S3, is held to the request size limit."""
        direct = not (code.get("S3Bucket") or code.get("S3Key"))
        if direct and len(zip_file) > ZIP_LIMIT:
            raise RequestEntityTooLarge(
                f"Request must be smaller than 69905067 bytes for the {operation} operation"
            )
        return await asyncio.to_thread(self.store.put_zip, zip_file, operation, direct)

    def collect_later(self, code_key: str, delay_s: float) -> None:
        """Collect after in-flight invocations of the old code can have finished."""

        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self.collect(code_key)

        self.background.spawn(later())

    async def collect(self, code_key: str) -> None:
        """Remove a package once no function uses it (after delete, update or a failed put)."""
        async with self.lock:
            await self.collect_locked(code_key)

    async def collect_locked(self, code_key: str) -> None:
        """`collect`, the caller holding `lock`."""
        if not await self.registry.db.code_in_use(code_key):
            await asyncio.to_thread(self.store.remove, code_key)
