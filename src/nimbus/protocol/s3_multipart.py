"""S3 multipart upload, the pure parts: AWS' multipart ETag and composite checksums, CRC
combination (a FULL_OBJECT CRC from the parts' CRCs without reading the data again), the
XML of the requests and responses, and the parsing of the query/header arguments."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from nimbus.protocol import s3_checksums, s3xml

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PART_NUMBER = 10_000
MAX_LIST = 1000
# AWS' checksum algorithms, as in x-amz-checksum-<name> and the Checksum<NAME> XML members.
ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
CRC_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")


class MultipartSyntaxError(ValueError):
    """A request body or argument that is not what S3 accepts (the caller picks the code)."""


# --- ETag and checksums of the whole object ---------------------------------------------
def multipart_etag(part_md5s_hex: Sequence[str]) -> str:
    """AWS' ETag of a multipart object (unquoted): MD5 of the concatenated binary part MD5s,
    then "-" and the number of parts."""
    joined = b"".join(bytes.fromhex(m) for m in part_md5s_hex)
    return f"{hashlib.md5(joined).hexdigest()}-{len(part_md5s_hex)}"


def composite_checksum(algorithm: str, part_checksums_b64: Sequence[str]) -> str:
    """COMPOSITE checksum: base64 of the algorithm over the concatenated raw part checksums,
    then "-N"."""
    raw = b"".join(base64.b64decode(c) for c in part_checksums_b64)
    digest = _digest(algorithm, raw)
    return f"{base64.b64encode(digest).decode()}-{len(part_checksums_b64)}"


def _digest(algorithm: str, data: bytes) -> bytes:
    hasher = s3_checksums.new(algorithm)
    hasher.update(data)
    return hasher.digest()


@dataclass(frozen=True)
class Crc:
    """A reflected CRC (all of AWS' are; computed by protocol/s3_checksums): zlib's GF(2)
    combination, for any width."""

    name: str
    width: int
    poly_reflected: int

    def combine(self, crc1: int, crc2: int, len2: int) -> int:
        """The CRC of A+B from crc(A), crc(B) and len(B) (zlib's crc32_combine)."""
        if len2 == 0:
            return crc1
        odd = [self.poly_reflected] + [1 << n for n in range(self.width - 1)]
        even = _gf2_square(odd)
        odd = _gf2_square(even)
        while True:
            even = _gf2_square(odd)
            if len2 & 1:
                crc1 = _gf2_times(even, crc1)
            len2 >>= 1
            if not len2:
                break
            odd = _gf2_square(even)
            if len2 & 1:
                crc1 = _gf2_times(odd, crc1)
            len2 >>= 1
            if not len2:
                break
        return crc1 ^ crc2


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    i = 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]


CRCS = {
    "CRC32": Crc("CRC32", 32, 0xEDB88320),
    "CRC32C": Crc("CRC32C", 32, 0x82F63B78),
    "CRC64NVME": Crc("CRC64NVME", 64, 0x9A6C9329AC4BC9B5),
}


def full_object_crc(algorithm: str, parts: Iterable[tuple[str, int]]) -> str:
    """FULL_OBJECT checksum (base64) of the concatenation, from (part checksum b64, size)."""
    crc = CRCS[algorithm]
    total: int | None = None
    for checksum, size in parts:
        value = int.from_bytes(base64.b64decode(checksum), "big")
        total = value if total is None else crc.combine(total, value, size)
    return base64.b64encode((total or 0).to_bytes(crc.width // 8, "big")).decode()


def content_md5(value: str) -> bytes | None:
    """The 16 bytes of a Content-MD5 header, None when it is not a base64 MD5."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None


# --- arguments -------------------------------------------------------------------------
_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def copy_source_range(value: str) -> tuple[int, int] | None:
    """(first, last) of x-amz-copy-source-range "bytes=first-last"; None when malformed."""
    m = _RANGE.match(value.strip())
    if not m:
        return None
    first, last = int(m.group(1)), int(m.group(2))
    return (first, last) if first <= last else None


def parse_int(value: str) -> int | None:
    return int(value) if re.fullmatch(r"[+-]?\d{1,18}", value.strip()) else None


def normalize_etag(value: str) -> str:
    """An ETag as a client sends it back (quoted or not, maybe &quot;-escaped): bare hex."""
    return value.strip().replace("&quot;", "").strip('"')


# --- request bodies --------------------------------------------------------------------
@dataclass(frozen=True)
class RequestedPart:
    number: int
    etag: str  # unquoted
    checksums: dict[str, str]  # algorithm -> base64 value, as the client listed them


def parse_complete(body: bytes) -> list[RequestedPart]:
    """The <CompleteMultipartUpload> body; MultipartSyntaxError when it is malformed or
    lists no part (S3: MalformedXML)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise MultipartSyntaxError(str(e)) from None
    if _local(root.tag) != "CompleteMultipartUpload":
        raise MultipartSyntaxError("root element")
    parts: list[RequestedPart] = []
    for element in root:
        if _local(element.tag) != "Part":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in element}
        number = parse_int(fields.get("PartNumber", ""))
        if number is None or "ETag" not in fields:
            raise MultipartSyntaxError("part without PartNumber or ETag")
        checksums = {a: fields[f"Checksum{a}"] for a in ALGORITHMS if f"Checksum{a}" in fields}
        parts.append(RequestedPart(number, normalize_etag(fields["ETag"]), checksums))
    if not parts:
        raise MultipartSyntaxError("no parts")
    return parts


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --- response bodies -------------------------------------------------------------------
iso_time = s3xml.iso_time


def _xml(root: str, inner: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{S3_NS}">{inner}</{root}>'
    ).encode()


def _el(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{s3xml.text(value)}</{name}>"


def _owner(tag: str, owner_id: str, display: str | None = None) -> str:
    return f"<{tag}>{_el('ID', owner_id)}{_el('DisplayName', display or owner_id)}</{tag}>"


def initiate_result(bucket: str, key: str, upload_id: str) -> bytes:
    return _xml(
        "InitiateMultipartUploadResult",
        _el("Bucket", bucket) + _el("Key", key) + _el("UploadId", upload_id),
    )


def complete_result(
    location: str,
    bucket: str,
    key: str,
    etag: str,
    checksum: tuple[str, str] | None,
    checksum_type: str | None,
) -> bytes:
    inner = _el("Location", location) + _el("Bucket", bucket) + _el("Key", key)
    inner += _el("ETag", f'"{etag}"')
    if checksum is not None:
        inner += _el(f"Checksum{checksum[0]}", checksum[1])
        inner += _el("ChecksumType", checksum_type)
    return _xml("CompleteMultipartUploadResult", inner)


def copy_part_result(etag: str, last_modified: float, checksum: tuple[str, str] | None) -> bytes:
    inner = _el("ETag", f'"{etag}"') + _el("LastModified", iso_time(last_modified))
    if checksum is not None:
        inner += _el(f"Checksum{checksum[0]}", checksum[1])
    return _xml("CopyPartResult", inner)


@dataclass(frozen=True)
class PartInfo:
    number: int
    etag: str  # unquoted
    size: int
    last_modified: float
    checksum: str | None  # base64, of the upload's algorithm


@dataclass(frozen=True)
class UploadInfo:
    bucket: str
    key: str
    upload_id: str
    initiated: float
    owner: str
    storage_class: str
    checksum_algorithm: str | None
    checksum_type: str | None
    owner_name: str | None = None  # DisplayName (the ID when None)


def list_parts_result(
    upload: UploadInfo,
    parts: Sequence[PartInfo],
    marker: int,
    max_parts: int,
    truncated: bool,
) -> bytes:
    inner = _el("Bucket", upload.bucket) + _el("Key", upload.key)
    inner += _el("UploadId", upload.upload_id)
    inner += _el("PartNumberMarker", marker)
    inner += _el("NextPartNumberMarker", parts[-1].number if parts else 0)
    inner += _el("MaxParts", max_parts) + _el("IsTruncated", truncated)
    algorithm = upload.checksum_algorithm
    for p in parts:
        inner += "<Part>" + _el("PartNumber", p.number)
        inner += _el("LastModified", iso_time(p.last_modified)) + _el("ETag", f'"{p.etag}"')
        inner += _el("Size", p.size)
        if algorithm and p.checksum:
            inner += _el(f"Checksum{algorithm}", p.checksum)
        inner += "</Part>"
    inner += _owner("Initiator", upload.owner, upload.owner_name)
    inner += _owner("Owner", upload.owner, upload.owner_name)
    inner += _el("StorageClass", upload.storage_class)
    inner += _el("ChecksumAlgorithm", algorithm) + _el("ChecksumType", upload.checksum_type)
    return _xml("ListPartsResult", inner)


def list_uploads_result(
    bucket: str,
    uploads: Sequence[UploadInfo],
    prefixes: Sequence[str],
    *,
    prefix: str,
    delimiter: str | None,
    key_marker: str,
    upload_id_marker: str,
    next_key_marker: str,
    next_upload_id_marker: str,
    max_uploads: int,
    truncated: bool,
    url_encode: bool,
) -> bytes:
    def enc(value: str) -> str:
        return quote(value, safe="/") if url_encode else value

    inner = _el("Bucket", bucket) + _el("KeyMarker", enc(key_marker))
    inner += _el("UploadIdMarker", upload_id_marker)
    inner += _el("NextKeyMarker", enc(next_key_marker))
    inner += _el("NextUploadIdMarker", next_upload_id_marker)
    if url_encode:
        inner += _el("EncodingType", "url")
    inner += _el("Delimiter", enc(delimiter) if delimiter else None)
    inner += _el("Prefix", enc(prefix)) + _el("MaxUploads", max_uploads)
    inner += _el("IsTruncated", truncated)
    for u in uploads:
        inner += "<Upload>" + _el("Key", enc(u.key)) + _el("UploadId", u.upload_id)
        inner += _owner("Initiator", u.owner, u.owner_name)
        inner += _owner("Owner", u.owner, u.owner_name)
        inner += _el("StorageClass", u.storage_class) + _el("Initiated", iso_time(u.initiated))
        inner += _el("ChecksumAlgorithm", u.checksum_algorithm)
        inner += _el("ChecksumType", u.checksum_type) + "</Upload>"
    for p in prefixes:
        inner += f"<CommonPrefixes>{_el('Prefix', enc(p))}</CommonPrefixes>"
    return _xml("ListMultipartUploadsResult", inner)
