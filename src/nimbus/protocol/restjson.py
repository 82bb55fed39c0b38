"""AWS rest-json (Lambda's protocol): HTTP request <-> operation input, output -> HTTP response.

Driven entirely by botocore's service model, so every operation's wire shape is exactly
what the SDKs send and expect. Pure: bytes and dicts in, bytes and dicts out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from nimbus.errors import InvalidRequestContent, UnknownOperation

_TEMPLATE = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    required_query: tuple[str, ...]  # e.g. "?versions" style literal query keys
    operation: OperationModel


def _route(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"]
    path, _, query = uri.partition("?")
    regex = ""
    last = 0
    for match in _TEMPLATE.finditer(path):
        regex += re.escape(path[last : match.start()])
        name = match.group(1)
        greedy = name.endswith("+")
        name = name.rstrip("+")
        regex += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
        last = match.end()
    regex += re.escape(path[last:])
    required = tuple(part.split("=")[0] for part in query.split("&") if part)
    return Route(operation.http["method"], re.compile(regex + "/?$"), required, operation)


class RestJsonCodec:
    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        routes = [_route(model.operation_model(name)) for name in model.operation_names]
        # Literal paths before templated ones, longer before shorter.
        routes.sort(
            key=lambda r: (
                -len(r.required_query),
                r.pattern.pattern.count("(?P"),
                -len(r.pattern.pattern),
            )
        )
        self.routes = routes
        self._selectors = {q for r in routes for q in r.required_query}
        self._matched: dict[
            tuple[str, str, frozenset[str]], tuple[OperationModel, dict[str, str]]
        ] = {}

    def match(
        self, method: str, raw_path: str, query: dict[str, list[str]]
    ) -> tuple[OperationModel, dict[str, str]]:
        """The operation for a request. Hot paths repeat (the same function invoked again and
        again): results are memoised by method, path and the query keys that select routes."""
        key = (method, raw_path, frozenset(k for k in query if k in self._selectors))
        found = self._matched.get(key)
        if found is None:
            found = self._match(method, raw_path, query)
            if len(self._matched) >= 4096:
                self._matched.clear()
            self._matched[key] = found
        return found

    def _match(
        self, method: str, raw_path: str, query: dict[str, list[str]]
    ) -> tuple[OperationModel, dict[str, str]]:
        for route in self.routes:
            if route.method != method or any(q not in query for q in route.required_query):
                continue
            found = route.pattern.match(raw_path)
            if found:
                return route.operation, {k: unquote(v) for k, v in found.groupdict().items()}
        raise UnknownOperation("Unable to determine service/operation name to be authorized")

    # request -> input -------------------------------------------------------------
    def decode(
        self,
        operation: OperationModel,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        plan = _input_plan(operation)
        params: dict[str, Any] = {}
        if plan is None:
            return params
        body_members: list[tuple[str, Shape]] = []
        for name, member, location, wire in plan.members:
            if location == "uri":
                if wire in path_params:
                    params[name] = path_params[wire]
            elif location == "querystring":
                if wire in query:
                    params[name] = _from_text(member, query[wire])
            elif location == "header":
                value = headers.get(wire)
                if value is not None:
                    params[name] = _from_text(member, [value])
            elif location == "payload":
                if member.type_name == "blob":
                    params[name] = body
                elif body:
                    params[name] = _from_json(member, _load(body))
            else:
                body_members.append((name, member))
        if body_members and body and not plan.has_payload:
            document = _load(body)
            if not isinstance(document, dict):
                raise InvalidRequestContent(
                    "Could not parse request body into json: expected a JSON object"
                )
            for name, member in body_members:
                if name in document:
                    params[name] = _from_json(member, document[name])
        return params

    # output -> response -------------------------------------------------------------
    def encode(
        self, operation: OperationModel, output: dict[str, Any]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        status = int(operation.http.get("responseCode", 200))
        headers: list[tuple[str, str]] = []
        plan = _output_plan(operation)
        if plan is None:
            return status, headers, b""
        document: dict[str, Any] = {}
        body = b""
        for name, member, location, wire in plan.members:
            value = output.get(name)
            if value is None:
                continue
            if location == "statusCode":
                status = int(value)
            elif location == "header":
                headers.append((wire, _to_text(value)))
            elif location == "payload":
                body = (
                    value if member.type_name == "blob" else orjson.dumps(_to_json(member, value))
                )
            else:
                document[name] = _to_json(member, value)
        if status == 204:  # No Content (DeleteFunction): a body would corrupt the connection
            return status, headers, b""
        if not plan.has_payload:
            body = orjson.dumps(document)
            headers.append(("Content-Type", "application/json"))
        return status, headers, body


@dataclass(frozen=True, slots=True)
class _Plan:
    """An input or output shape's members as the wire places them, worked out once per
    operation: (name, shape, location, wire name), location "payload" for the member that
    is the whole body and "" for a member of the JSON document."""

    members: tuple[tuple[str, Shape, str, str], ...]
    has_payload: bool


def _plan(shape: StructureShape | None, lower_headers: bool) -> _Plan | None:
    if shape is None:
        return None
    payload = shape.serialization.get("payload")
    members = []
    for name, member in shape.members.items():
        location = member.serialization.get("location") or ("payload" if name == payload else "")
        wire = member.serialization.get("name", name)
        if location == "header" and lower_headers:
            wire = wire.lower()
        members.append((name, member, location, wire))
    return _Plan(tuple(members), payload is not None)


@functools.lru_cache(maxsize=1024)
def _input_plan(operation: OperationModel) -> _Plan | None:
    return _plan(operation.input_shape, lower_headers=True)  # requests' names: lower case


@functools.lru_cache(maxsize=1024)
def _output_plan(operation: OperationModel) -> _Plan | None:
    return _plan(operation.output_shape, lower_headers=False)


def _load(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InvalidRequestContent(f"Could not parse request body into json: {e}") from None


def _from_text(shape: Shape, values: list[str]) -> Any:
    kind = shape.type_name
    if kind == "list":
        member = shape.member
        return [_from_text(member, [v]) for v in values]
    value = values[-1]
    try:
        if kind in ("integer", "long"):
            return int(value)
        if kind == "boolean":
            return value.lower() == "true"
    except ValueError:
        return value  # the validator reports it in AWS' words
    return value


def _from_json(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {k: _from_json(shape.members[k], v) for k, v in value.items() if k in shape.members}
    if kind == "list" and isinstance(value, list):
        return [_from_json(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_json(shape.value, v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestContent(
                "Could not parse request body into json: blob is not valid base64"
            ) from None
    return value


def _to_json(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {
            k: _to_json(shape.members[k], v)
            for k, v in value.items()
            if k in shape.members and v is not None
        }
    if kind == "list":
        return [_to_json(shape.member, v) for v in value]
    if kind == "map":
        return {k: _to_json(shape.value, v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def error_response(
    code: str,
    message: str,
    status: int,
    request_id: str,
    kind: str = "User",
    fields: dict[str, Any] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """rest-json errors: the code in x-amzn-ErrorType, the message in the body."""
    body: dict[str, Any] = {"Type": kind, "message": message}
    if fields:
        body.update(fields)
    headers = [
        ("x-amzn-ErrorType", code),
        ("x-amzn-RequestId", request_id),
        ("Content-Type", "application/json"),
    ]
    return status, headers, orjson.dumps(body)
