"""Lambda's control plane: create, read, update, delete, tag and invoke functions.

Wire-format free: operations take and return the operation's members as plain dicts
(exactly botocore's shapes), so the rest-json adapter only encodes and decodes.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from nimbus.errors import (
    InvalidParameterValue,
    NimbusError,
    PreconditionFailed,
    RequestEntityTooLarge,
    ResourceConflict,
    ResourceNotFound,
)
from nimbus.models import FunctionRecord
from nimbus.services.codeurls import CodeUrlSigner
from nimbus.services.contracts import ObjectReader
from nimbus.services.function_config import (
    CODE_STORAGE_LIMIT,
    UNZIPPED_LIMIT,
    ZIP_LIMIT,
    check_environment,
    check_limits,
    configuration,
    lambda_timestamp,
)
from nimbus.services.names import parse_function_name
from nimbus.services.registry import FunctionRegistry
from nimbus.store.code import CodePackage, CodeStore
from nimbus.types import Invoker

log = logging.getLogger("nimbus.functions")


class RuntimeChecker(Protocol):
    async def ensure_runtime(self, runtime: str) -> None:
        """Raise RuntimeNotInstalled (with what to do) or start the runtime's zygote."""
        ...


@dataclass
class FunctionsConfig:
    region: str = "us-east-1"
    concurrency_limit: int = 1000


class FunctionService:
    def __init__(
        self,
        registry: FunctionRegistry,
        code: CodeStore,
        invoker: Invoker,
        runtimes: RuntimeChecker,
        urls: CodeUrlSigner,
        config: FunctionsConfig,
    ) -> None:
        self.registry = registry
        self.code = code
        self.invoker = invoker
        self.runtimes = runtimes
        self.urls = urls
        self.config = config
        self.objects: ObjectReader | None = None  # S3 (Code.S3Bucket/S3Key); set by app.py
        self._background: set[asyncio.Task[None]] = set()
        # Storing a package and deciding a package is garbage must not interleave.
        self._code_lock = asyncio.Lock()
        # Read-modify-write of one function's record (activation, updates, tags) one at a
        # time: tags do not change the RevisionId the store compares, so only this stops a
        # stale writer from undoing another's change.
        self._record_locks: dict[tuple[str, str], asyncio.Lock] = {}

    # helpers ----------------------------------------------------------------------------
    async def record(
        self, account: str, function_name: str, qualifier: str | None = None
    ) -> FunctionRecord:
        name, qualifier, _ = parse_function_name(function_name, qualifier)
        record = await self.registry.get(account, name, self.config.region)
        if qualifier not in (None, "$LATEST"):
            raise ResourceNotFound(f"Function not found: {record.arn}:{qualifier}")
        return record

    def _writing(self, account: str, name: str) -> asyncio.Lock:
        return self._record_locks.setdefault((account, name), asyncio.Lock())

    async def _store_zip(self, zip_file: bytes, operation: str, direct: bool) -> CodePackage:
        if direct and len(zip_file) > ZIP_LIMIT:
            raise RequestEntityTooLarge(
                f"Request must be smaller than 69905067 bytes for the {operation} operation"
            )
        return await asyncio.to_thread(self.code.put_zip, zip_file, operation, direct)

    def _collect_later(self, code_key: str, delay_s: float) -> None:
        """Collect after in-flight invocations of the old code can have finished."""

        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self._collect(code_key)

        task = asyncio.create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _collect(self, code_key: str) -> None:
        """Remove a package once no function uses it (after delete, update or a failed put)."""
        async with self._code_lock:
            if not await self.registry.db.code_in_use(code_key):
                await asyncio.to_thread(self.code.remove, code_key)

    async def _code_from(self, account: str, code: dict[str, Any]) -> bytes:
        if code.get("ImageUri"):
            raise InvalidParameterValue("Container images are not supported by Nimbus (yet).")
        if code.get("S3Bucket") or code.get("S3Key"):
            return await self._code_from_s3(account, code)
        zip_file = code.get("ZipFile")
        if not zip_file:
            raise InvalidParameterValue("Please provide a source for function code.")
        return bytes(zip_file)

    async def _code_from_s3(self, account: str, code: dict[str, Any]) -> bytes:
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

    def _activate_later(self, record: FunctionRecord) -> None:
        """Pending -> Active (or Failed with the reason) once the runtime is ready."""
        task = asyncio.create_task(self._activate(record.account_id, record.name))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _activate(self, account: str, name: str) -> None:
        for _ in range(5):  # retry if a concurrent update changed the revision meanwhile
            try:
                record = await self.registry.get(account, name, self.config.region)
            except ResourceNotFound:
                return  # deleted meanwhile
            changes: dict[str, Any]
            try:
                await self.runtimes.ensure_runtime(record.runtime)
                changes = {
                    "state": "Active",
                    "state_reason": None,
                    "state_reason_code": None,
                    "last_update_status": "Successful",
                    "last_update_status_reason": None,
                    "last_update_status_reason_code": None,
                }
            except NimbusError as e:
                failed = "Failed"
                changes = {
                    "state": failed if record.state == "Pending" else record.state,
                    "state_reason": e.message if record.state == "Pending" else None,
                    "state_reason_code": "InvalidRuntime" if record.state == "Pending" else None,
                    "last_update_status": failed,
                    "last_update_status_reason": e.message,
                    "last_update_status_reason_code": "InvalidRuntime",
                }
            async with self._writing(account, name):
                try:
                    current = await self.registry.get(account, name, self.config.region)
                except ResourceNotFound:
                    return
                if current.revision_id != record.revision_id:
                    continue  # updated while the runtime started: check the new revision
                live = current
                previous = self.registry.previous(account, name)
                if changes["last_update_status"] == "Failed" and previous is not None:
                    # As AWS: a failed update is aborted, the previous code and
                    # configuration stay live; only the status tells what happened.
                    if current.code_key != previous.code_key:
                        self._collect_later(current.code_key, 0)
                    live = msgspec.structs.replace(previous, tags=current.tags)
                updated = msgspec.structs.replace(live, revision_id=str(uuid.uuid4()), **changes)
                if await self.registry.replace(updated, current.revision_id):
                    self.registry.stop_serving_previous(account, name)
                    # The update is live: no environment of an older revision is reused.
                    await self.invoker.retire(updated.arn)
                    return

    async def resume(self) -> None:
        """After a restart: finish interrupted activations, warm up the runtimes in use."""
        runtimes: set[str] = set()
        for record in await self.registry.db.all_functions():
            runtimes.add(record.runtime)
            if record.state == "Pending" or record.last_update_status == "InProgress":
                self._activate_later(record)
        for runtime in runtimes:
            task = asyncio.create_task(self._warm(runtime))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _warm(self, runtime: str) -> None:
        try:
            await self.runtimes.ensure_runtime(runtime)
        except NimbusError as e:
            log.warning("runtime %s is not usable: %s", runtime, e.message)

    # operations ---------------------------------------------------------------------------
    async def create_function(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValue("Container images are not supported by Nimbus (yet).")
        if not p.get("Runtime") or not p.get("Handler"):
            raise InvalidParameterValue(
                "Runtime and Handler are mandatory parameters for functions created with "
                "deployment packages."
            )
        check_limits(p)
        variables = (p.get("Environment") or {}).get("Variables")
        check_environment(variables)
        name, _, _ = parse_function_name(p["FunctionName"])
        code = p.get("Code") or {}
        zip_file = await self._code_from(account, code)
        async with self._code_lock:
            package = await self._store_zip(zip_file, "CreateFunction", _direct(code))
            return await self._create(account, p, name, package, variables)

    async def _create(
        self,
        account: str,
        p: dict[str, Any],
        name: str,
        package: CodePackage,
        variables: dict[str, str] | None,
    ) -> dict[str, Any]:
        logging_config = p.get("LoggingConfig") or {}
        record = FunctionRecord(
            account_id=account,
            region=self.config.region,
            name=name,
            runtime=p["Runtime"],
            handler=p["Handler"],
            role=p["Role"],
            code_sha256=package.sha256_b64,
            code_size=package.size,
            code_key=package.directory.name,
            description=p.get("Description", ""),
            timeout=p.get("Timeout", 3),
            memory_size=p.get("MemorySize", 128),
            ephemeral_storage=(p.get("EphemeralStorage") or {}).get("Size", 512),
            environment=dict(variables) if variables is not None else None,
            log_format=logging_config.get("LogFormat", "Text"),
            log_group=logging_config.get("LogGroup"),
            application_log_level=logging_config.get("ApplicationLogLevel"),
            system_log_level=logging_config.get("SystemLogLevel"),
            architectures=list(p.get("Architectures") or ["x86_64"]),
            tags=dict(p.get("Tags") or {}),
            state="Pending",
            state_reason="The function is being created.",
            state_reason_code="Creating",
            last_update_status="InProgress",
            revision_id=str(uuid.uuid4()),
            last_modified=lambda_timestamp(),
            dead_letter_target=(p.get("DeadLetterConfig") or {}).get("TargetArn") or None,
        )
        if not await self.registry.insert(record):
            if not await self.registry.db.code_in_use(record.code_key):
                await asyncio.to_thread(self.code.remove, record.code_key)
            raise ResourceConflict(f"Function already exist: {name}")
        self._activate_later(record)
        return configuration(record)

    async def get_function(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        record = await self.record(account, p["FunctionName"], p.get("Qualifier"))
        out: dict[str, Any] = {
            "Configuration": configuration(record),
            "Code": {"RepositoryType": "S3", "Location": self.urls.url(record.code_key)},
        }
        if record.tags:
            out["Tags"] = dict(record.tags)
        if record.reserved_concurrency is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": record.reserved_concurrency}
        return out

    async def get_function_configuration(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return configuration(await self.record(account, p["FunctionName"], p.get("Qualifier")))

    async def list_functions(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        limit = p.get("MaxItems") or 50
        after = None
        if p.get("Marker"):
            try:
                after = base64.urlsafe_b64decode(p["Marker"].encode()).decode()
            except ValueError:
                raise InvalidParameterValue("Invalid Marker") from None
        records = await self.registry.db.list_functions(account, after, limit + 1)
        out: dict[str, Any] = {"Functions": [configuration(r) for r in records[:limit]]}
        if len(records) > limit:
            out["NextMarker"] = base64.urlsafe_b64encode(records[limit - 1].name.encode()).decode()
        return out

    async def _update(
        self, record: FunctionRecord, expected: str | None, **changes: Any
    ) -> dict[str, Any]:
        async with self._writing(record.account_id, record.name):
            updated = await self._apply_update(record, expected, changes)
        self._activate_later(updated)  # invocations run the previous revision until then
        return configuration(updated)

    async def _apply_update(
        self, record: FunctionRecord, expected: str | None, changes: dict[str, Any]
    ) -> FunctionRecord:
        record = await self.registry.get(record.account_id, record.name, self.config.region)
        if expected is not None and expected != record.revision_id:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        if record.state == "Pending":  # AWS: no invoke and no update until it is Active
            raise ResourceConflict(
                "The operation cannot be performed at this time. The function is currently in "
                "the following state: Pending"
            )
        if record.last_update_status == "InProgress":
            raise ResourceConflict(
                "The operation cannot be performed at this time. An update is in progress for "
                f"resource: {record.arn}"
            )
        updated = msgspec.structs.replace(
            record,
            revision_id=str(uuid.uuid4()),
            last_modified=lambda_timestamp(),
            last_update_status="InProgress",
            last_update_status_reason="The function is being created.",
            last_update_status_reason_code="Creating",
            **changes,
        )
        if not await self.registry.replace(updated, record.revision_id):
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        if record.last_update_status == "Successful":
            self.registry.serve_previous(record)  # also what a failed update restores
        return updated

    async def update_function_code(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        record = await self.record(account, p["FunctionName"])
        zip_file = await self._code_from(account, p)
        async with self._code_lock:
            package = await self._store_zip(zip_file, "UpdateFunctionCode", _direct(p))
        key = package.directory.name
        try:
            if p.get("DryRun"):
                return configuration(
                    msgspec.structs.replace(
                        record, code_sha256=package.sha256_b64, code_size=package.size
                    )
                )
            return await self._update(
                record,
                p.get("RevisionId"),
                code_sha256=package.sha256_b64,
                code_size=package.size,
                code_key=key,
            )
        finally:
            await self._collect(key)  # only if the update failed
            if record.code_key != key:
                self._collect_later(record.code_key, record.timeout + 5)

    async def update_function_configuration(
        self, account: str, p: dict[str, Any]
    ) -> dict[str, Any]:
        record = await self.record(account, p["FunctionName"])
        check_limits(p)
        changes: dict[str, Any] = {}
        simple = {
            "Role": "role",
            "Handler": "handler",
            "Description": "description",
            "Timeout": "timeout",
            "MemorySize": "memory_size",
            "Runtime": "runtime",
        }
        for member, attribute in simple.items():
            if p.get(member) is not None:
                changes[attribute] = p[member]
        if p.get("Environment") is not None:
            variables = p["Environment"].get("Variables") or {}
            check_environment(variables)
            changes["environment"] = dict(variables)
        if p.get("EphemeralStorage") is not None:
            changes["ephemeral_storage"] = p["EphemeralStorage"]["Size"]
        if p.get("DeadLetterConfig") is not None:  # {} or TargetArn "" removes it
            changes["dead_letter_target"] = p["DeadLetterConfig"].get("TargetArn") or None
        logging_config = p.get("LoggingConfig")
        if logging_config is not None:
            for member, attribute in (
                ("LogFormat", "log_format"),
                ("LogGroup", "log_group"),
                ("ApplicationLogLevel", "application_log_level"),
                ("SystemLogLevel", "system_log_level"),
            ):
                if member in logging_config:
                    changes[attribute] = logging_config[member]
        return await self._update(record, p.get("RevisionId"), **changes)

    async def delete_function(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        record = await self.record(account, p["FunctionName"], p.get("Qualifier"))
        async with self._writing(account, record.name):
            await self.registry.delete(account, record.name)
        await self.invoker.retire(record.arn)
        self._collect_later(record.code_key, record.timeout + 5)
        return {"StatusCode": 204}

    # tags ---------------------------------------------------------------------------------
    async def _by_arn(self, account: str, arn: str) -> FunctionRecord:
        return await self.record(account, arn)

    async def tag_resource(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self._retag(account, p["Resource"], lambda tags: {**tags, **p["Tags"]})
        return {}

    async def untag_resource(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        keys = set(p["TagKeys"])
        await self._retag(
            account, p["Resource"], lambda tags: {k: v for k, v in tags.items() if k not in keys}
        )
        return {}

    async def _retag(
        self, account: str, resource: str, change: Callable[[dict[str, str]], dict[str, str]]
    ) -> None:
        def retag(record: FunctionRecord) -> FunctionRecord:
            tags = change(dict(record.tags))
            if len(tags) > 50:
                raise InvalidParameterValue("Number of tags exceeds resource tag limit.")
            return msgspec.structs.replace(record, tags=tags)

        await self.modify(account, resource, retag)

    async def modify(
        self, account: str, function: str, change: Callable[[FunctionRecord], FunctionRecord]
    ) -> FunctionRecord:
        """A change that keeps the RevisionId (tags, reserved concurrency), made under the
        function's write lock; `change` may raise to refuse it."""
        name = (await self.record(account, function)).name
        async with self._writing(account, name):
            record = await self.registry.get(account, name, self.config.region)
            updated = change(record)
            if not await self.registry.replace(updated, record.revision_id):
                raise ResourceConflict("The function was modified concurrently; retry.")
            return updated

    async def list_tags(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": dict((await self._by_arn(account, p["Resource"])).tags)}

    async def get_account_settings(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        records = await self.registry.db.list_functions(account, None, 1_000_000)
        reserved = sum(r.reserved_concurrency or 0 for r in records)
        return {
            "AccountLimit": {
                "TotalCodeSize": CODE_STORAGE_LIMIT,
                "CodeSizeUnzipped": UNZIPPED_LIMIT,
                "CodeSizeZipped": ZIP_LIMIT,
                "ConcurrentExecutions": self.config.concurrency_limit,
                "UnreservedConcurrentExecutions": self.config.concurrency_limit - reserved,
            },
            "AccountUsage": {
                "TotalCodeSize": sum(r.code_size for r in records),
                "FunctionCount": len(records),
            },
        }


def _direct(code: dict[str, Any]) -> bool:
    """A package uploaded in the request (not read from S3): the 50 MB limit applies."""
    return not (code.get("S3Bucket") or code.get("S3Key"))
