"""Pure multipart helpers: ETag, checksums (check values, combination), XML in and out."""

from __future__ import annotations

import base64
import hashlib
import os
import xml.etree.ElementTree as ET
import zlib

import pytest

from nimbus.protocol import s3_checksums
from nimbus.protocol import s3_multipart as m

NS = {"s3": m.S3_NS}


def test_multipart_etag_is_md5_of_binary_md5s() -> None:
    parts = [os.urandom(1000), os.urandom(10), b""]
    md5s = [hashlib.md5(p).hexdigest() for p in parts]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert m.multipart_etag(md5s) == f"{expected}-3"


def crc_b64(name: str, data: bytes) -> str:
    hasher = s3_checksums.new(name)
    hasher.update(data)
    return base64.b64encode(hasher.digest()).decode()


@pytest.mark.parametrize("name", m.CRC_ALGORITHMS)
def test_crc_combine_equals_crc_of_concatenation(name: str) -> None:
    pieces = [os.urandom(n) for n in (1, 300, 0, 4097, 17)]
    parts = [(crc_b64(name, p), len(p)) for p in pieces]
    assert m.full_object_crc(name, parts) == crc_b64(name, b"".join(pieces))


def test_composite_checksum_as_aws() -> None:
    pieces = [b"a" * 10, b"b" * 20]
    raw = [zlib.crc32(p).to_bytes(4, "big") for p in pieces]
    b64 = [base64.b64encode(r).decode() for r in raw]
    expected = base64.b64encode(zlib.crc32(b"".join(raw)).to_bytes(4, "big")).decode()
    assert m.composite_checksum("CRC32", b64) == f"{expected}-2"
    sha = [base64.b64encode(hashlib.sha256(p).digest()).decode() for p in pieces]
    joined = b"".join(hashlib.sha256(p).digest() for p in pieces)
    assert m.composite_checksum("SHA256", sha) == (
        base64.b64encode(hashlib.sha256(joined).digest()).decode() + "-2"
    )


def test_content_md5_values() -> None:
    digest = hashlib.md5(b"x").digest()
    assert m.content_md5(base64.b64encode(digest).decode()) == digest
    assert m.content_md5("abc") is None
    assert m.content_md5(base64.b64encode(b"short").decode()) is None


def test_arguments() -> None:
    assert m.copy_source_range("bytes=0-9") == (0, 9)
    assert m.copy_source_range("bytes=5-4") is None
    assert m.copy_source_range("bytes=-4") is None
    assert m.copy_source_range("0-4") is None
    assert m.parse_int("12") == 12 and m.parse_int("x") is None and m.parse_int("") is None
    assert m.normalize_etag('"abc"') == "abc"
    assert m.normalize_etag("&quot;abc&quot;") == "abc"


def test_parse_complete_with_and_without_namespace() -> None:
    body = (
        f'<CompleteMultipartUpload xmlns="{m.S3_NS}"><Part><ETag>"aa"</ETag>'
        "<PartNumber>1</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>"
        "<Part><PartNumber>3</PartNumber><ETag>bb</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    parts = m.parse_complete(body)
    assert parts == [
        m.RequestedPart(1, "aa", {"CRC32": "AAAAAA=="}),
        m.RequestedPart(3, "bb", {}),
    ]
    plain = (
        b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>c</ETag></Part>"
        b"</CompleteMultipartUpload>"
    )
    assert m.parse_complete(plain)[0].number == 2
    for bad in (
        b"",
        b"<CompleteMultipartUpload/>",
        b"<Other><Part><PartNumber>1</PartNumber><ETag>c</ETag></Part></Other>",
        b"<CompleteMultipartUpload><Part><ETag>c</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>c</ETag></Part>",
    ):
        with pytest.raises(m.MultipartSyntaxError):
            m.parse_complete(bad)


def test_response_xml_shapes() -> None:
    root = ET.fromstring(m.initiate_result("b", "a&b<c", "u1"))
    assert root.tag == f"{{{m.S3_NS}}}InitiateMultipartUploadResult"
    assert root.findtext("s3:Key", namespaces=NS) == "a&b<c"
    done = ET.fromstring(
        m.complete_result("http://h/b/k", "b", "k", "abc-2", ("CRC32", "xyz=-2"), "COMPOSITE")
    )
    assert done.findtext("s3:ETag", namespaces=NS) == '"abc-2"'
    assert done.findtext("s3:ChecksumCRC32", namespaces=NS) == "xyz=-2"
    assert done.findtext("s3:ChecksumType", namespaces=NS) == "COMPOSITE"
    assert m.iso_time(0.5) == "1970-01-01T00:00:00.500Z"
    upload = m.UploadInfo("b", "k/1", "u1", 1.0, "acct", "STANDARD", "CRC32", "COMPOSITE")
    listed = ET.fromstring(
        m.list_parts_result(upload, [m.PartInfo(2, "ee", 5, 1.0, "AAAAAA==")], 1, 1, True)
    )
    assert listed.findtext("s3:NextPartNumberMarker", namespaces=NS) == "2"
    assert listed.findtext("s3:IsTruncated", namespaces=NS) == "true"
    assert listed.findtext("s3:Part/s3:ChecksumCRC32", namespaces=NS) == "AAAAAA=="
    uploads = ET.fromstring(
        m.list_uploads_result(
            "b",
            [upload],
            ["k/2/"],
            prefix="k/",
            delimiter="/",
            key_marker="",
            upload_id_marker="",
            next_key_marker="k/2/",
            next_upload_id_marker="",
            max_uploads=2,
            truncated=False,
            url_encode=False,
        )
    )
    assert uploads.findtext("s3:Upload/s3:UploadId", namespaces=NS) == "u1"
    assert uploads.findtext("s3:CommonPrefixes/s3:Prefix", namespaces=NS) == "k/2/"
