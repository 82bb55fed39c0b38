"""AWS JSON 1.0 / 1.1 protocols (X-Amz-Target: Prefix.Operation; JSON in, JSON out).

Used by CloudWatch Logs now, SQS, EventBridge and CloudWatch later. Pure.
"""

from __future__ import annotations

from typing import Any

import orjson

from nimbus.errors import InvalidRequestContent, UnknownOperation

NIMBUS_TARGET_PREFIX = "Nimbus_20261101"  # Nimbus' own API (SigV4 service name `nimbus`)


def operation_name(target: str | None, prefix: str) -> str:
    if not target or not target.startswith(prefix + "."):
        raise UnknownOperation(f"Unknown operation: {target}")
    return target[len(prefix) + 1 :]


def decode(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InvalidRequestContent(f"Could not parse request body into json: {e}") from None
    if not isinstance(document, dict):
        raise InvalidRequestContent("Could not parse request body into json: expected an object")
    return document


def response(
    output: dict[str, Any], version: str, request_id: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [
        ("Content-Type", f"application/x-amz-json-{version}"),
        ("x-amzn-RequestId", request_id),
    ]
    return 200, headers, orjson.dumps(output)


def error(
    code: str, message: str, status: int, version: str, request_id: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """JSON-protocol errors: the code in `__type` (clients also read x-amzn-ErrorType)."""
    headers = [
        ("Content-Type", f"application/x-amz-json-{version}"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", code),
    ]
    return status, headers, orjson.dumps({"__type": code, "message": message})
