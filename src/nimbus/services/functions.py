"""Lambda's control plane: create, read, update, delete, tag and invoke functions.

Wire-format free: operations take and return the operation's members as plain dicts
(exactly botocore's shapes), so the rest-json adapter only encodes and decodes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from nimbus.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from nimbus.models import FunctionRecord
from nimbus.services.codeurls import CodeUrlSigner
from nimbus.services.function_activation import Activation, RecordLocks, RuntimeChecker
from nimbus.services.function_code import FunctionCode
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
from nimbus.tasks import Background
from nimbus.types import Invoker


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
        self.urls = urls
        self.config = config
        self.packages = FunctionCode(code, registry, Background())
        self._writing = RecordLocks()
        self.activation = Activation(
            registry, runtimes, invoker, self.packages, self._writing, config.region
        )

    # helpers ----------------------------------------------------------------------------
    async def record(
        self, account: str, function_name: str, qualifier: str | None = None
    ) -> FunctionRecord:
        name, qualifier, _ = parse_function_name(function_name, qualifier)
        record = await self.registry.get(account, name, self.config.region)
        if qualifier not in (None, "$LATEST"):
            raise ResourceNotFound(f"Function not found: {record.arn}:{qualifier}")
        return record

    async def resume(self) -> None:
        """After a restart: finish interrupted activations, warm up the runtimes in use."""
        await self.activation.resume()

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
        zip_file = await self.packages.source(account, code)
        async with self.packages.lock:
            package = await self.packages.store_zip(zip_file, "CreateFunction", code)
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
            await self.packages.collect_locked(record.code_key)
            raise ResourceConflict(f"Function already exist: {name}")
        self.activation.later(record)
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
        self.activation.later(updated)  # invocations run the previous revision until then
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
        zip_file = await self.packages.source(account, p)
        async with self.packages.lock:
            package = await self.packages.store_zip(zip_file, "UpdateFunctionCode", p)
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
            await self.packages.collect(key)  # only if the update failed
            if record.code_key != key:
                self.packages.collect_later(record.code_key, record.timeout + 5)

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
        self.packages.collect_later(record.code_key, record.timeout + 5)
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
