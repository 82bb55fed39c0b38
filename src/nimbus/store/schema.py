"""The state store's tables (SQLAlchemy Core). Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("created", Float, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("secret_access_key", String(128), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("created", Float, nullable=False),
)

# One row per function ($LATEST); `config` is the FunctionRecord as JSON.
functions = Table(
    "functions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("revision_id", String(36), nullable=False),
    Column("config", Text, nullable=False),
    Column("updated", Float, nullable=False),
)

# Metering: one row per invocation.
invocations = Table(
    "invocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("function", String(64), nullable=False),
    Column("version", String(32), nullable=False),
    Column("start", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("billed_ms", BigInteger, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("max_memory_mb", Integer, nullable=False),
    Column("gb_seconds", Float, nullable=False),
    Column("init_ms", Float, nullable=True),
    Column("cold", Boolean, nullable=False),
    Column("outcome", String(16), nullable=False),
    Index("ix_invocations_account_start", "account_id", "start"),
)

# Asynchronous invocations accepted (202) and not yet finished: durable before the 202.
async_events = Table(
    "async_events",
    metadata,
    Column("id", String(36), primary_key=True),  # the request id
    Column("account_id", String(12), nullable=False),
    Column("function", String(64), nullable=False),
    Column("qualifier", String(128), nullable=True),
    Column("payload", Text, nullable=False),  # base64 of the event bytes
    Column("received", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    Index("ix_async_events_due", "due"),
)

# Per-function asynchronous invocation configuration (Put/Get/...FunctionEventInvokeConfig).
event_invoke_configs = Table(
    "event_invoke_configs",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("function", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),
    Column("config", Text, nullable=False),
)

# EventBridge rules (default bus): a schedule or an event pattern. Times are epoch seconds:
# `anchor` starts a rate's periods, `fired_until` is the scheduler's watermark.
event_rules = Table(
    "event_rules",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("schedule", String(256), nullable=True),
    Column("pattern", Text, nullable=True),
    Column("state", String(32), nullable=False),
    Column("description", Text, nullable=True),
    Column("role_arn", String(1600), nullable=True),
    Column("created", Float, nullable=False),
    Column("anchor", Float, nullable=False),
    Column("fired_until", Float, nullable=False),
)

# A rule's targets; `config` is the Target as given (JSON).
event_targets = Table(
    "event_targets",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("rule", String(64), primary_key=True),
    Column("target_id", String(64), primary_key=True),
    Column("arn", String(1600), nullable=False),
    Column("config", Text, nullable=False),
)
