"""Function records with a write-through cache: the invoke path never waits for SQLite."""

from __future__ import annotations

from pathlib import Path

from nimbus.errors import ResourceNotFound
from nimbus.models import FunctionRecord, FunctionSpec
from nimbus.services.names import function_arn
from nimbus.store.sqlite import Database


class FunctionRegistry:
    """All writes of function records go through here (one node owns its store)."""

    def __init__(
        self,
        db: Database,
        code_root: Path,
        endpoint_url: str,
        credentials: dict[str, dict[str, str]],
    ) -> None:
        self.db = db
        self._code_root = code_root
        self._endpoint = endpoint_url
        self._credentials = credentials
        self._records: dict[tuple[str, str], FunctionRecord] = {}
        self._specs: dict[tuple[str, str], FunctionSpec] = {}

    async def get(self, account: str, name: str, region: str) -> FunctionRecord:
        key = (account, name)
        record = self._records.get(key)
        if record is None:
            record = await self.db.get_function(account, name)
            if record is None:
                raise ResourceNotFound(f"Function not found: {function_arn(region, account, name)}")
            self._records[key] = record
        return record

    async def insert(self, record: FunctionRecord) -> bool:
        if not await self.db.insert_function(record):
            return False
        self._remember(record)
        return True

    async def replace(self, record: FunctionRecord, expected_revision: str) -> bool:
        if not await self.db.replace_function(record, expected_revision):
            self.forget(record.account_id, record.name)  # someone else won: reload next time
            return False
        self._remember(record)
        return True

    async def delete(self, account: str, name: str) -> bool:
        self.forget(account, name)
        return await self.db.delete_function(account, name)

    def forget(self, account: str, name: str) -> None:
        self._records.pop((account, name), None)
        self._specs.pop((account, name), None)

    def _remember(self, record: FunctionRecord) -> None:
        key = (record.account_id, record.name)
        self._records[key] = record
        self._specs.pop(key, None)

    def spec(self, record: FunctionRecord) -> FunctionSpec:
        """What the engine needs to run this record (cached per revision)."""
        key = (record.account_id, record.name)
        spec = self._specs.get(key)
        if spec is None or spec.revision != record.revision_id:
            spec = FunctionSpec(
                name=record.name,
                arn=record.arn,
                runtime=record.runtime,
                handler=record.handler,
                code_dir=str(self._code_root / record.code_key),
                code_sha256=record.code_sha256,
                memory_mb=record.memory_size,
                timeout_s=float(record.timeout),
                ephemeral_mb=record.ephemeral_storage,
                environment=dict(record.environment or {}),
                region=record.region,
                log_group=record.log_group or "",
                log_format=record.log_format,
                reserved_concurrency=record.reserved_concurrency,
                endpoint_url=self._endpoint,
                revision=record.revision_id,
                credentials=self._credentials.get(record.account_id, {}),
            )
            self._specs[key] = spec
        return spec
