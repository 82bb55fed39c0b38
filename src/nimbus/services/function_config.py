"""What a function's configuration looks like on the wire, and the limits AWS checks beyond
the botocore model (shared by create and update)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from nimbus.errors import InvalidParameterValue, ValidationError
from nimbus.models import FunctionRecord

RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
ENV_LIMIT_BYTES = 4096
MAX_TIMEOUT_S = 900
MAX_MEMORY_MB = 10_240
MAX_TMP_MB = 10_240
ZIP_LIMIT = 50 * 1024 * 1024
CODE_STORAGE_LIMIT = 80_530_636_800  # 75 GB per account, as AWS
UNZIPPED_LIMIT = 262_144_000


def lambda_timestamp(when: dt.datetime | None = None) -> str:
    """`2024-01-31T12:00:00.000+0000`, Lambda's LastModified format."""
    when = when or dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def configuration(record: FunctionRecord) -> dict[str, Any]:
    """The FunctionConfiguration shape AWS returns."""
    out: dict[str, Any] = {
        "FunctionName": record.name,
        "FunctionArn": record.arn,
        "Runtime": record.runtime,
        "Role": record.role,
        "Handler": record.handler,
        "CodeSize": record.code_size,
        "Description": record.description,
        "Timeout": record.timeout,
        "MemorySize": record.memory_size,
        "LastModified": record.last_modified,
        "CodeSha256": record.code_sha256,
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": record.revision_id,
        "State": record.state,
        "LastUpdateStatus": record.last_update_status,
        "PackageType": "Zip",
        "Architectures": list(record.architectures),
        "EphemeralStorage": {"Size": record.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {
            "LogFormat": record.log_format,
            "LogGroup": record.log_group or f"/aws/lambda/{record.name}",
        },
    }
    if record.environment is not None:
        out["Environment"] = {"Variables": dict(record.environment)}
    if record.dead_letter_target:
        out["DeadLetterConfig"] = {"TargetArn": record.dead_letter_target}
    if record.log_format == "JSON":
        out["LoggingConfig"]["ApplicationLogLevel"] = record.application_log_level or "INFO"
        out["LoggingConfig"]["SystemLogLevel"] = record.system_log_level or "INFO"
    for key, value in (
        ("StateReason", record.state_reason),
        ("StateReasonCode", record.state_reason_code),
        ("LastUpdateStatusReason", record.last_update_status_reason),
        ("LastUpdateStatusReasonCode", record.last_update_status_reason_code),
    ):
        if value:
            out[key] = value
    return out


def check_environment(variables: dict[str, str] | None) -> None:
    if not variables:
        return
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not "
            f"supported for modification. Reserved keys used in this request: {','.join(reserved)}"
        )
    measured = msgspec.json.encode(variables).decode()
    if len(measured.encode()) > ENV_LIMIT_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. String measured: " + measured
        )


def check_limits(p: dict[str, Any]) -> None:
    """Lambda's own maxima where botocore's model allows more (for Managed Instances)."""
    failures = [
        f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value "
        f"less than or equal to {limit}"
        for path, value, limit in (
            ("timeout", p.get("Timeout"), MAX_TIMEOUT_S),
            ("memorySize", p.get("MemorySize"), MAX_MEMORY_MB),
            ("ephemeralStorage.size", (p.get("EphemeralStorage") or {}).get("Size"), MAX_TMP_MB),
        )
        if isinstance(value, int) and value > limit
    ]
    if failures:
        noun = "error" if len(failures) == 1 else "errors"
        raise ValidationError(f"{len(failures)} validation {noun} detected: " + "; ".join(failures))
