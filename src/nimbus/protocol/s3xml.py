"""S3's rest-xml bodies: pure encoders (strings built directly: fast, exact) and decoders
(ElementTree, namespaces dropped). No I/O."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from urllib.parse import quote

from nimbus.errors import MalformedXML

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f]")
MAX_XML = 1024 * 1024  # bodies of configuration/Delete requests (DeleteObjects: 1000 keys)


def text(value: object) -> str:
    """XML character data; control characters as numeric references (AWS does this for
    keys with e.g. a carriage return)."""
    s = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _CONTROL.sub(lambda m: f"&#{ord(m.group())};", s) if _CONTROL.search(s) else s


def el(name: str, value: object) -> str:
    return f"<{name}>{text(value)}</{name}>"


def document(root: str, inner: Iterable[str], xmlns: bool = True) -> bytes:
    ns = f' xmlns="{XMLNS}"' if xmlns else ""
    return f"{_DECLARATION}<{root}{ns}>{''.join(inner)}</{root}>".encode()


def iso_time(epoch: float) -> str:
    """2009-10-12T17:50:30.000Z (S3's timestamps in bodies)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_time(epoch: float) -> str:
    """Wed, 12 Oct 2009 17:50:30 GMT (Last-Modified)."""
    return formatdate(int(epoch), usegmt=True)


def canonical_id(account: str) -> str:
    """The owner's canonical user id (64 hex), stable per account."""
    return hashlib.sha256(f"nimbus-owner:{account}".encode()).hexdigest()


def owner(account: str) -> str:
    return f"<Owner>{el('ID', canonical_id(account))}{el('DisplayName', account)}</Owner>"


def error(
    code: str, message: str, resource: str, request_id: str, extra: dict[str, str] | None = None
) -> bytes:
    fields = "".join(el(k, v) for k, v in (extra or {}).items())
    return (
        f"{_DECLARATION}<Error>{el('Code', code)}{el('Message', message)}{fields}"
        f"{el('Resource', resource)}{el('RequestId', request_id)}"
        f"{el('HostId', request_id)}</Error>"
    ).encode()


@dataclass(frozen=True, slots=True)
class Listed:
    """One entry of a listing."""

    key: str
    last_modified: float
    etag: str  # without quotes
    size: int
    storage_class: str = "STANDARD"
    version_id: str | None = None
    latest: bool = True
    delete_marker: bool = False
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


def encode_key(value: str, url: bool) -> str:
    return quote(value, safe="/") if url else value


def contents(entry: Listed, account: str | None, url: bool, tag: str = "Contents") -> str:
    parts = [
        el("Key", encode_key(entry.key, url)),
        el("LastModified", iso_time(entry.last_modified)),
        el("ETag", f'"{entry.etag}"'),
    ]
    if entry.checksum_algorithm:
        parts.append(el("ChecksumAlgorithm", entry.checksum_algorithm))
    if entry.checksum_type:
        parts.append(el("ChecksumType", entry.checksum_type))
    parts += [el("Size", entry.size), el("StorageClass", entry.storage_class)]
    if account is not None:
        parts.append(owner(account))
    return f"<{tag}>{''.join(parts)}</{tag}>"


def version_entry(entry: Listed, account: str, url: bool) -> str:
    head = [
        el("Key", encode_key(entry.key, url)),
        el("VersionId", entry.version_id or "null"),
        el("IsLatest", "true" if entry.latest else "false"),
        el("LastModified", iso_time(entry.last_modified)),
    ]
    if entry.delete_marker:
        return f"<DeleteMarker>{''.join(head)}{owner(account)}</DeleteMarker>"
    body = [el("ETag", f'"{entry.etag}"')]
    if entry.checksum_algorithm:
        body.append(el("ChecksumAlgorithm", entry.checksum_algorithm))
    body += [el("Size", entry.size), el("StorageClass", entry.storage_class), owner(account)]
    return f"<Version>{''.join(head + body)}</Version>"


def common_prefixes(prefixes: Iterable[str], url: bool) -> str:
    return "".join(
        f"<CommonPrefixes>{el('Prefix', encode_key(p, url))}</CommonPrefixes>" for p in prefixes
    )


# --- decoding -----------------------------------------------------------------------------


def parse(body: bytes) -> ET.Element:
    """The root element, namespaces stripped from every tag. MalformedXML if not XML."""
    if len(body) > MAX_XML:
        raise MalformedXML()
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise MalformedXML() from None
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = node.tag.split("}", 1)[1]
    return root


def child_text(node: ET.Element, name: str) -> str | None:
    found = node.find(name)
    return None if found is None else (found.text or "")


def parse_location(body: bytes) -> str | None:
    """CreateBucketConfiguration's LocationConstraint (None: absent or empty body)."""
    if not body.strip():
        return None
    root = parse(body)
    if root.tag != "CreateBucketConfiguration":
        raise MalformedXML()
    return child_text(root, "LocationConstraint") or None


def parse_delete(body: bytes) -> tuple[bool, list[tuple[str, str | None]]]:
    """Delete (DeleteObjects): (quiet, [(key, version id)])."""
    root = parse(body)
    if root.tag != "Delete":
        raise MalformedXML()
    quiet = (child_text(root, "Quiet") or "false").strip().lower() == "true"
    objects: list[tuple[str, str | None]] = []
    for item in root.findall("Object"):
        key = child_text(item, "Key")
        if key is None:
            raise MalformedXML()
        objects.append((key, child_text(item, "VersionId") or None))
    return quiet, objects


def parse_tagging(body: bytes) -> list[tuple[str, str]]:
    """Tagging/TagSet/Tag (Key, Value) pairs, in order (duplicates kept for the caller)."""
    root = parse(body)
    tag_set = root.find("TagSet")
    if root.tag != "Tagging" or tag_set is None:
        raise MalformedXML()
    pairs = []
    for tag in tag_set.findall("Tag"):
        key, value = child_text(tag, "Key"), child_text(tag, "Value")
        if key is None or value is None:
            raise MalformedXML()
        pairs.append((key, value))
    return pairs


def tagging(tags: dict[str, str]) -> bytes:
    inner = "".join(f"<Tag>{el('Key', k)}{el('Value', v)}</Tag>" for k, v in tags.items())
    return document("Tagging", [f"<TagSet>{inner}</TagSet>"])


def parse_versioning(body: bytes) -> str | None:
    """VersioningConfiguration's Status (None when absent)."""
    root = parse(body)
    if root.tag != "VersioningConfiguration":
        raise MalformedXML()
    return child_text(root, "Status")
