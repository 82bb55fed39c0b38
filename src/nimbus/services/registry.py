"""Function records with a write-through cache: the invoke path never waits for SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from nimbus.errors import ResourceNotFound
from nimbus.models import FunctionRecord, FunctionSpec
from nimbus.services.names import function_arn
from nimbus.store.sqlite import Database


class Generation(Protocol):
    """A counter every cell of a server sees (cells/shared.py): the primary bumps it after
    each change of a function record; the other cells drop their caches when it moves."""

    @property
    def generation(self) -> int: ...

    def bump_generation(self) -> None: ...


class FunctionRegistry:
    """All writes of function records go through here (one node owns its store). With
    `shared` and follower=True it is a cell's read-only view of the primary's records."""

    def __init__(
        self,
        db: Database,
        code_root: Path,
        endpoint_url: str,
        credentials: dict[str, dict[str, str]],
        shared: Generation | None = None,
        follower: bool = False,
    ) -> None:
        self.db = db
        self._shared = shared
        self._follower = follower and shared is not None
        self._seen = shared.generation if shared is not None else 0
        self._code_root = code_root
        self._endpoint = endpoint_url
        self._credentials = credentials
        self._records: dict[tuple[str, str], FunctionRecord] = {}
        self._specs: dict[tuple[str, str], FunctionSpec] = {}
        # Bumped by every forget: a read that raced with a write or delete is not cached.
        self._epochs: dict[tuple[str, str], int] = {}
        self._previous: dict[tuple[str, str], FunctionRecord] = {}  # live during an update

    def cached(self, account: str, name: str) -> FunctionRecord | None:
        """The record if it is in the cache (the invoke path's no-await case)."""
        if self._follower:
            self._follow()
        return self._records.get((account, name))

    async def get(self, account: str, name: str, region: str) -> FunctionRecord:
        key = (account, name)
        if self._follower:
            self._follow()
        record = self._records.get(key)
        if record is None:
            epoch, seen = self._epochs.get(key, 0), self._seen
            record = await self.db.get_function(account, name)
            if record is None:
                raise ResourceNotFound(f"Function not found: {function_arn(region, account, name)}")
            if self._epochs.get(key, 0) == epoch and self._seen == seen:
                self._records[key] = record
        return record

    def _follow(self) -> None:
        """A follower's cache lives as long as the primary's generation does not move."""
        assert self._shared is not None
        generation = self._shared.generation
        if generation != self._seen:
            self._seen = generation
            self._records.clear()

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
        self.stop_serving_previous(account, name)
        try:
            return await self.db.delete_function(account, name)
        finally:
            self.forget(account, name)  # reads during the delete may have seen the row

    def forget(self, account: str, name: str) -> None:
        key = (account, name)
        self._records.pop(key, None)
        self._specs.pop(key, None)
        self._epochs[key] = self._epochs.get(key, 0) + 1
        self._changed()

    def _remember(self, record: FunctionRecord) -> None:
        key = (record.account_id, record.name)
        self._records[key] = record
        self._specs.pop(key, None)
        self._changed()

    def _changed(self) -> None:
        if self._shared is not None and not self._follower:
            self._shared.bump_generation()

    def serve_previous(self, previous: FunctionRecord) -> None:
        """While an update is in progress, invocations keep running `previous` (as AWS)."""
        self._previous[(previous.account_id, previous.name)] = previous
        self._changed()

    def previous(self, account: str, name: str) -> FunctionRecord | None:
        """The last good record of a function whose update is underway."""
        return self._previous.get((account, name))

    def stop_serving_previous(self, account: str, name: str) -> None:
        self._previous.pop((account, name), None)
        self._changed()

    def live(self, record: FunctionRecord) -> FunctionRecord:
        """The record invocations run: the previous one while `record`'s update is underway."""
        if record.last_update_status == "InProgress":
            return self._previous.get((record.account_id, record.name), record)
        return record

    def spec(self, record: FunctionRecord) -> FunctionSpec:
        """What the engine needs to run this record (cached per revision)."""
        key = (record.account_id, record.name)
        spec = self._specs.get(key)
        if spec is None or spec.revision != record.revision_id:
            environment = dict(record.environment or {})
            if record.log_format == "JSON":
                # As Lambda does: the runtime sets its root logger's level from this.
                environment["AWS_LAMBDA_LOG_LEVEL"] = record.application_log_level or "INFO"
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
                environment=environment,
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
