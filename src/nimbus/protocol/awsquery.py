"""The AWS "query" protocol, driven by botocore operation models. Pure.

Requests are form pairs (`Action=Publish&TopicArn=...&MessageAttributes.entry.1.Name=...`);
replies are XML: `<OpResponse><OpResult>...</OpResult><ResponseMetadata>...`. Serves SNS,
and SQS' legacy query form: SQS' botocore model is JSON nowadays and lost the wire names
the query form uses (`MessageAttribute.1.Name`), so `with_location_names` puts them back
(`SQS_LEGACY_NAMES`) on a copy of the model data before a ServiceModel is built from it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from nimbus.errors import ValidationError

Response = tuple[int, list[tuple[str, str]], bytes]


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """An application/x-www-form-urlencoded body ('+' is a space there)."""
    try:
        return parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ValidationError("The request body is not valid UTF-8") from None


# --- decoding ------------------------------------------------------------------------


class _Node:
    """One dotted-name component: its own value (if given) and its children."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def _tree(params: Iterable[tuple[str, str]]) -> _Node:
    root = _Node()
    for key, value in params:
        node = root
        for part in key.split("."):
            node = node.children.setdefault(part, _Node())
        node.value = value
    return root


def decode(params: Iterable[tuple[str, str]], input_shape: Shape | None) -> dict[str, Any]:
    """The operation's parameters as botocore's client would pass them (member names,
    ints, bools, bytes for blobs, datetimes). Keys the shape does not know are ignored."""
    if input_shape is None:
        return {}
    out = _structure(_tree(params), input_shape, "")
    return out if isinstance(out, dict) else {}


def _wire_name(member: Shape, name: str) -> str:
    """The name a structure member goes by on the wire (botocore's serializer rules)."""
    if isinstance(member, ListShape) and member.serialization.get("flattened"):
        item_name = member.member.serialization.get("name")
        if item_name:
            return str(item_name)
    return str(member.serialization.get("name", name))


def _structure(node: _Node, shape: StructureShape, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        child = node.children.get(_wire_name(member, name))
        if child is not None:
            value = _value(child, member, f"{path}.{name}" if path else name)
            if value is not None:
                out[name] = value
    return out


def _indexed(node: _Node) -> list[_Node]:
    """Children named 1, 2, 3... in numeric order (gaps tolerated, other names ignored)."""
    numbered = [(int(k), v) for k, v in node.children.items() if k.isdigit()]
    return [v for _, v in sorted(numbered, key=lambda kv: kv[0])]


def _value(node: _Node, shape: Shape, path: str) -> Any:
    if isinstance(shape, StructureShape):
        return _structure(node, shape, path)
    if isinstance(shape, ListShape):
        if shape.serialization.get("flattened"):
            items = _indexed(node)
        else:
            holder = node.children.get(shape.member.serialization.get("name", "member"))
            items = _indexed(holder) if holder is not None else []
        if not items:
            return [] if node.value is not None or node.children else None
        values = [_value(item, shape.member, path) for item in items]
        return [v for v in values if v is not None]
    if isinstance(shape, MapShape):
        holder = node if shape.serialization.get("flattened") else node.children.get("entry")
        if holder is None:
            return {} if node.value is not None else None
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out: dict[str, Any] = {}
        for entry in _indexed(holder):
            key_node = entry.children.get(key_name)
            value_node = entry.children.get(value_name)
            if key_node is None or key_node.value is None:
                continue
            value: Any = None
            if value_node is None:  # half an entry: a structure's required members will
                if isinstance(shape.value, StructureShape):  # be found missing
                    value = {}
            else:
                value = _value(value_node, shape.value, path)
            if value is not None:  # a missing scalar is dropped, as a missing member is
                out[key_node.value] = value
        return out
    if node.value is None:
        return None
    return _scalar(node.value, shape, path)


def _scalar(text: str, shape: Shape, path: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise ValueError(text)
            return lowered == "true"
        if kind == "blob":
            return base64.b64decode(text, validate=True)
        if kind == "timestamp":
            return _timestamp(text)
    except (ValueError, binascii.Error):
        raise ValidationError(
            f"1 validation error detected: Value '{text}' at '{path}' failed to satisfy "
            f"constraint: Member must be a valid {kind}"
        ) from None
    return text


def _timestamp(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- encoding ------------------------------------------------------------------------


def xml_text(value: str) -> str:
    """Element text; CR is kept as a reference (XML parsers turn a raw CR into LF)."""
    return escape(value).replace("\r", "&#xD;")


def iso8601(value: dt.datetime | float | int | str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def encode(
    operation_model: OperationModel, output: Mapping[str, Any], request_id: str, xmlns: str
) -> bytes:
    """The XML reply of a successful operation."""
    name = operation_model.name
    parts: list[str] = [f'<{name}Response xmlns="{xmlns}">']
    shape = operation_model.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper") or f"{name}Result"
        parts.append(f"<{wrapper}>")
        _members(parts, shape, output)
        parts.append(f"</{wrapper}>")
    parts.append(
        f"<ResponseMetadata><RequestId>{xml_text(request_id)}</RequestId></ResponseMetadata>"
    )
    parts.append(f"</{name}Response>")
    return "".join(parts).encode()


def _members(parts: list[str], shape: StructureShape, value: Mapping[str, Any]) -> None:
    for name, member in shape.members.items():
        item = value.get(name)
        if item is not None:
            _element(parts, _wire_name(member, name), member, item)


def _element(parts: list[str], tag: str, shape: Shape, value: Any) -> None:
    if isinstance(shape, ListShape):
        item_tag = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for item in value:
                _element(parts, tag, shape.member, item)
            return
        parts.append(f"<{tag}>")
        for item in value:
            _element(parts, item_tag, shape.member, item)
        parts.append(f"</{tag}>")
        return
    if isinstance(shape, MapShape):
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        flat = bool(shape.serialization.get("flattened"))
        if not flat:
            parts.append(f"<{tag}>")
        for key, item in value.items():
            parts.append(f"<{tag}>" if flat else "<entry>")
            _element(parts, key_tag, shape.key, key)
            if item is not None:
                _element(parts, value_tag, shape.value, item)
            parts.append(f"</{tag}>" if flat else "</entry>")
        if not flat:
            parts.append(f"</{tag}>")
        return
    parts.append(f"<{tag}>")
    if isinstance(shape, StructureShape):
        _members(parts, shape, value)
    else:
        parts.append(_scalar_text(shape, value))
    parts.append(f"</{tag}>")


def _scalar_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean" or isinstance(value, bool):
        return "true" if value else "false"
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    if kind == "timestamp":
        return iso8601(value)
    return xml_text(str(value))


def error_response(
    code: str,
    message: str,
    status: int,
    request_id: str,
    xmlns: str,
    sender_fault: bool = True,
) -> Response:
    body = (
        f'<ErrorResponse xmlns="{xmlns}"><Error>'
        f"<Type>{'Sender' if sender_fault else 'Receiver'}</Type>"
        f"<Code>{xml_text(code)}</Code><Message>{xml_text(message)}</Message>"
        f"</Error><RequestId>{xml_text(request_id)}</RequestId></ErrorResponse>"
    )
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return status, headers, body.encode()


def response(body: bytes, request_id: str) -> Response:
    return 200, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body


# --- SQS' legacy query names ------------------------------------------------------------

# "Shape.Member" -> the member's wire name; "MapShape.key" / "MapShape.value" -> the names of
# a map entry's parts. From SQS' 2012-11-05 query model.
SQS_LEGACY_NAMES: dict[str, str] = {
    "AddPermissionRequest.AWSAccountIds": "AWSAccountId",
    "AddPermissionRequest.Actions": "ActionName",
    "ChangeMessageVisibilityBatchRequest.Entries": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResult.Successful": "ChangeMessageVisibilityBatchResultEntry",
    "ChangeMessageVisibilityBatchResult.Failed": "BatchResultErrorEntry",
    "CreateQueueRequest.Attributes": "Attribute",
    "CreateQueueRequest.tags": "Tag",
    "DeleteMessageBatchRequest.Entries": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResult.Successful": "DeleteMessageBatchResultEntry",
    "DeleteMessageBatchResult.Failed": "BatchResultErrorEntry",
    "GetQueueAttributesRequest.AttributeNames": "AttributeName",
    "GetQueueAttributesResult.Attributes": "Attribute",
    "ListDeadLetterSourceQueuesResult.queueUrls": "QueueUrl",
    "ListMessageMoveTasksResult.Results": "ListMessageMoveTasksResultEntry",
    "ListQueueTagsResult.Tags": "Tag",
    "ListQueuesResult.QueueUrls": "QueueUrl",
    "Message.Attributes": "Attribute",
    "Message.MessageAttributes": "MessageAttribute",
    "MessageAttributeValue.StringListValues": "StringListValue",
    "MessageAttributeValue.BinaryListValues": "BinaryListValue",
    "MessageSystemAttributeValue.StringListValues": "StringListValue",
    "MessageSystemAttributeValue.BinaryListValues": "BinaryListValue",
    "ReceiveMessageRequest.AttributeNames": "AttributeName",
    "ReceiveMessageRequest.MessageSystemAttributeNames": "MessageSystemAttributeName",
    "ReceiveMessageRequest.MessageAttributeNames": "MessageAttributeName",
    "ReceiveMessageResult.Messages": "Message",
    "SendMessageBatchRequest.Entries": "SendMessageBatchRequestEntry",
    "SendMessageBatchRequestEntry.MessageAttributes": "MessageAttribute",
    "SendMessageBatchRequestEntry.MessageSystemAttributes": "MessageSystemAttribute",
    "SendMessageBatchResult.Successful": "SendMessageBatchResultEntry",
    "SendMessageBatchResult.Failed": "BatchResultErrorEntry",
    "SendMessageRequest.MessageAttributes": "MessageAttribute",
    "SendMessageRequest.MessageSystemAttributes": "MessageSystemAttribute",
    "SetQueueAttributesRequest.Attributes": "Attribute",
    "TagQueueRequest.Tags": "Tag",
    "UntagQueueRequest.TagKeys": "TagKey",
    "QueueAttributeMap.key": "Name",
    "QueueAttributeMap.value": "Value",
    "MessageSystemAttributeMap.key": "Name",
    "MessageSystemAttributeMap.value": "Value",
    "MessageBodyAttributeMap.key": "Name",
    "MessageBodyAttributeMap.value": "Value",
    "MessageBodySystemAttributeMap.key": "Name",
    "MessageBodySystemAttributeMap.value": "Value",
    "TagMap.key": "Key",
    "TagMap.value": "Value",
}


def with_location_names(service_data: Mapping[str, Any], names: Mapping[str, str]) -> Any:
    """A copy of a service's model data (botocore `get_service_data`) with the given wire
    names, and a `{Op}Result` wrapper on every output (the query protocol's reply shape)."""
    data = copy.deepcopy(dict(service_data))
    shapes = data["shapes"]
    for target, wire in names.items():
        shape_name, _, part = target.partition(".")
        shape = shapes.get(shape_name)
        if shape is None:
            continue
        if shape["type"] == "map" and part in ("key", "value"):
            shape[part]["locationName"] = wire
        elif part in shape.get("members", {}):
            shape["members"][part]["locationName"] = wire
    for name, operation in data["operations"].items():
        if "output" in operation:
            operation["output"].setdefault("resultWrapper", f"{name}Result")
    return data
