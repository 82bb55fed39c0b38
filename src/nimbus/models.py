"""Records shared across layers (msgspec Structs: cheap to build, cheap to encode)."""

from __future__ import annotations

import math

import msgspec

PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")
CUSTOM_RUNTIMES = ("provided.al2023", "provided.al2", "provided")


class FunctionSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the engine needs to run one version of a function."""

    name: str
    version: str = "$LATEST"
    arn: str
    runtime: str
    handler: str
    code_dir: str  # unpacked code, read-only to the function
    code_sha256: str = ""
    memory_mb: int = 128
    timeout_s: float = 3.0
    ephemeral_mb: int = 512
    environment: dict[str, str] = {}
    region: str = "us-east-1"
    log_group: str = ""
    log_format: str = "Text"  # Text | JSON (LoggingConfig.LogFormat)
    reserved_concurrency: int | None = None
    endpoint_url: str = ""  # what AWS_ENDPOINT_URL is set to inside the function
    revision: str = ""  # changes whenever code or configuration changes
    credentials: dict[str, str] = {}  # AWS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY / _SESSION_TOKEN

    @property
    def pool_key(self) -> tuple[str, str, str]:
        """Environments are reusable only for the exact same code and configuration."""
        return (self.arn, self.version, self.revision or self.code_sha256)

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    @property
    def is_custom_runtime(self) -> bool:
        return self.runtime.startswith("provided")


class Invocation(msgspec.Struct, kw_only=True):
    """One request to run a function, as the runtime sees it."""

    request_id: str
    payload: bytes
    deadline_ms: int = 0  # epoch ms; set by the engine when the invoke starts
    invoked_arn: str = ""
    trace_id: str = ""
    client_context: str | None = None  # JSON text, already base64-decoded
    cognito_identity: str | None = None
    tenant_id: str | None = None


class InvocationRecord(msgspec.Struct, kw_only=True):
    """The metering record of one invocation."""

    account: str = ""
    request_id: str
    function: str
    version: str
    start: float  # epoch seconds
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    gb_seconds: float
    init_ms: float | None
    cold: bool
    outcome: str  # success | error | timeout | oom | crash | init_error | throttled


class InvokeResult(msgspec.Struct, kw_only=True):
    """What the engine hands back for a synchronous invoke."""

    payload: bytes
    function_error: str | None  # None | "Unhandled"
    executed_version: str
    log: str  # every line of this invocation (START .. REPORT)
    record: InvocationRecord

    def log_tail(self, limit: int = 4096) -> str:
        """The last `limit` bytes of the log, on a character boundary (X-Amz-Log-Result)."""
        raw = self.log.encode()
        return raw[-limit:].decode(errors="ignore")


def billed_ms(duration_ms: float) -> int:
    """AWS bills every started millisecond (minimum 1 ms)."""
    return max(1, math.ceil(duration_ms))


def gb_seconds(billed: int, memory_mb: int) -> float:
    return billed / 1000.0 * memory_mb / 1024.0


class FunctionRecord(msgspec.Struct, kw_only=True):
    """A function as the control plane stores it ($LATEST)."""

    account_id: str
    region: str
    name: str
    runtime: str
    handler: str
    role: str
    code_sha256: str  # base64 of the zip's SHA-256 (AWS' CodeSha256)
    code_size: int
    code_key: str  # where the code store keeps the unpacked package
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    ephemeral_storage: int = 512
    environment: dict[str, str] | None = None
    log_format: str = "Text"
    log_group: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    architectures: list[str] = msgspec.field(default_factory=lambda: ["x86_64"])
    tags: dict[str, str] = {}
    state: str = "Pending"
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: str = "Successful"
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None
    revision_id: str = ""
    last_modified: str = ""  # AWS' format: 2024-01-31T12:00:00.000+0000
    reserved_concurrency: int | None = None
    dead_letter_target: str | None = None  # DeadLetterConfig.TargetArn

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.name}"
