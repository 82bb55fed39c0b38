"""S3's pure codecs: aws-chunked decoding, checksums, Range and conditionals, bucket
names, XML encoding/decoding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib

import pytest

from nimbus.errors import InvalidBucketName, InvalidRange, MalformedXML
from nimbus.protocol import s3_checksums, s3_rules, s3xml
from nimbus.protocol.s3_chunked import (
    ChunkedDecoder,
    ChunkedError,
    ChunkSignatureMismatch,
    ChunkSigner,
)


def encode(payload: bytes, size: int, trailers: str = "", signature: str = "") -> bytes:
    ext = f";chunk-signature={signature}" if signature else ""
    out = b""
    for start in range(0, len(payload), size):
        piece = payload[start : start + size]
        out += f"{len(piece):x}{ext}\r\n".encode() + piece + b"\r\n"
    return out + f"0{ext}\r\n{trailers}\r\n".encode()


@pytest.mark.parametrize("feed_size", [1, 7, 100, 10_000])
def test_chunked_decoder_any_split(feed_size: int) -> None:
    payload = bytes(range(256)) * 40
    body = encode(payload, 1000, "x-amz-checksum-crc32:AAAAAA==\r\n", "ab" * 32)
    decoder = ChunkedDecoder()
    out = b"".join(
        b"".join(decoder.feed(body[i : i + feed_size])) for i in range(0, len(body), feed_size)
    )
    decoder.finish()
    assert out == payload
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}
    assert decoder.signatures == ["ab" * 32] * 12
    assert decoder.decoded == len(payload)


def test_chunked_decoder_errors() -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedError):
        decoder.feed(b"zz\r\n")
    decoder = ChunkedDecoder()
    decoder.feed(b"5\r\nhello")
    with pytest.raises(ChunkedError):
        decoder.feed(b"XX")  # no CRLF after the data
    decoder = ChunkedDecoder()
    decoder.feed(b"5\r\nhel")
    with pytest.raises(ChunkedError):
        decoder.finish()
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedError):
        decoder.feed(b"1" * 5000)  # a header line without end
    # Ending right after the last chunk (no trailer section) is accepted.
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n0\r\n") == [b"abc"]
    decoder.finish()


def test_checksums_known_values() -> None:
    data = b"123456789"
    expected = {  # the standard check values of each CRC
        "CRC32": 0xCBF43926,
        "CRC32C": 0xE3069283,
        "CRC64NVME": 0xAE8B14860A799888,
    }
    for name, value in expected.items():
        hasher = s3_checksums.new(name)
        hasher.update(data[:4])
        hasher.update(data[4:])
        assert int.from_bytes(hasher.digest(), "big") == value, name
    digests = s3_checksums.Digests(("CRC32", "SHA1", "SHA256"))
    digests.update(data)
    assert (
        digests.checksum("CRC32") == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    )
    assert digests.checksum("SHA1") == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert digests.checksum("SHA256") == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert digests.md5.hexdigest() == hashlib.md5(data).hexdigest()
    assert s3_checksums.well_formed("CRC32", "AAAAAA==")
    assert not s3_checksums.well_formed("CRC32", "AAAAAAAA")
    assert not s3_checksums.well_formed("SHA256", "not base64!")


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=5-2", 10, None),  # invalid: ignored
        ("items=0-1", 10, None),
        ("bytes=0-1,3-4", 10, None),  # several ranges: S3 sends the whole object
        ("bytes=x-", 10, None),
    ],
)
def test_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert s3_rules.byte_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as caught:
        s3_rules.byte_range(header, size)
    assert caught.value.status == 416
    assert caught.value.extra == {"RangeRequested": header, "ActualObjectSize": str(size)}


def test_conditionals() -> None:
    modified = 1_700_000_000.5
    before, after = "Tue, 14 Nov 2023 22:00:00 GMT", "Wed, 15 Nov 2023 00:00:00 GMT"
    evaluate = s3_rules.evaluate
    assert evaluate("abc", modified, '"abc"', None, None, None) is None
    assert evaluate("abc", modified, "*", None, None, None) is None
    assert evaluate("abc", modified, '"x", "abc"', None, None, None) is None
    assert evaluate("abc", modified, '"x"', None, None, None) == (412, "If-Match")
    assert evaluate("abc", modified, None, '"abc"', None, None) == (304, "If-None-Match")
    assert evaluate("abc", modified, None, None, after, None) == (304, "If-Modified-Since")
    assert evaluate("abc", modified, None, None, before, None) is None
    assert evaluate("abc", modified, None, None, None, before) == (412, "If-Unmodified-Since")
    assert evaluate("abc", modified, '"abc"', None, None, before) is None  # If-Match wins
    assert evaluate("abc", modified, None, '"x"', after, None) is None  # INM wins over IMS
    assert evaluate("abc", modified, None, None, "not a date", None) is None


@pytest.mark.parametrize(
    "name", ["abc", "my-bucket", "my.bucket.name", "a" * 63, "0123", "b-1.c-2"]
)
def test_valid_bucket_names(name: str) -> None:
    s3_rules.check_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "Abc", "a_b", "-ab", "ab-", ".ab", "a..b", "a.-b", "a-.b", "10.0.0.1",
     "xn--abc", "sthree-abc", "abc-s3alias", "abc--ol-s3", "abc.mrap", "a b", "ab/c", ""],
)  # fmt: skip
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidBucketName):
        s3_rules.check_bucket_name(name)


def test_xml_text_escaping() -> None:
    assert s3xml.el("Key", "a<b>&\"c'") == "<Key>a&lt;b&gt;&amp;\"c'</Key>"
    assert s3xml.el("Key", "cr\rlf") == "<Key>cr&#13;lf</Key>"
    assert s3xml.iso_time(0.5) == "1970-01-01T00:00:00.500Z"
    assert s3xml.http_time(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    body = s3xml.error("NoSuchKey", "gone", "/b/k", "req", {"Key": "k"})
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        b"<Message>gone</Message><Key>k</Key><Resource>/b/k</Resource>"
        b"<RequestId>req</RequestId><HostId>req</HostId></Error>"
    )


def test_xml_decoding() -> None:
    delete = (
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object>'
        b"<Object><Key>b &amp; c</Key><VersionId>v1</VersionId></Object><Quiet>true</Quiet>"
        b"</Delete>"
    )
    assert s3xml.parse_delete(delete) == (True, [("a", None), ("b & c", "v1")])
    tagging = b"<Tagging><TagSet><Tag><Key>k</Key><Value></Value></Tag></TagSet></Tagging>"
    assert s3xml.parse_tagging(tagging) == [("k", "")]
    location = (
        b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>"
        b"</CreateBucketConfiguration>"
    )
    assert s3xml.parse_location(location) == "eu-west-1"
    assert s3xml.parse_location(b"") is None
    assert (
        s3xml.parse_versioning(
            b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
        )
        == "Enabled"
    )
    for bad in (b"<Delete><Object></Object></Delete>", b"not xml", b"<Other/>"):
        with pytest.raises(MalformedXML):
            s3xml.parse_delete(bad)


def _aws_example_signer() -> ChunkSigner:
    """AWS' documented example (S3 API reference, "sigv4-streaming"): 64 KiB + 1 KiB of 'a'."""
    key = b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    for part in ("20130524", "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    return ChunkSigner(key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", seed)


_AWS_EXAMPLE = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    + b"a" * 65536
    + b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    + b"\r\n"
    + b"a" * 1024
    + b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    + b"\r\n\r\n"
)


@pytest.mark.parametrize("feed_size", [1000, 65536, 100_000])
def test_chunk_signatures_aws_example(feed_size: int) -> None:
    decoder = ChunkedDecoder(_aws_example_signer())
    out = b"".join(
        b"".join(decoder.feed(_AWS_EXAMPLE[i : i + feed_size]))
        for i in range(0, len(_AWS_EXAMPLE), feed_size)
    )
    decoder.finish()
    assert out == b"a" * 66560


def test_chunk_signature_mismatch() -> None:
    tampered = _AWS_EXAMPLE.replace(b"a" * 1024, b"b" + b"a" * 1023)
    with pytest.raises(ChunkSignatureMismatch):
        ChunkedDecoder(_aws_example_signer()).feed(tampered)
    unsigned = b"5\r\nhello\r\n0\r\n\r\n"
    with pytest.raises(ChunkSignatureMismatch):
        ChunkedDecoder(_aws_example_signer()).feed(unsigned)


def test_trailer_signature_aws_example() -> None:
    """AWS' second documented example: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER."""
    key = b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    for part in ("20130524", "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    signatures = (
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    )
    trailer_signature = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"

    def body(trailer: str, signature: str) -> bytes:
        return (
            f"10000;chunk-signature={signatures[0]}\r\n".encode() + b"a" * 65536 + b"\r\n"
            + f"400;chunk-signature={signatures[1]}\r\n".encode() + b"a" * 1024 + b"\r\n"
            + f"0;chunk-signature={signatures[2]}\r\n{trailer}\r\n".encode()
            + f"x-amz-trailer-signature:{signature}\r\n\r\n".encode()
        )  # fmt: skip

    def decoder() -> ChunkedDecoder:
        scope = "20130524/us-east-1/s3/aws4_request"
        return ChunkedDecoder(ChunkSigner(key, "20130524T000000Z", scope, seed))

    good = decoder()
    assert b"".join(good.feed(body("x-amz-checksum-crc32c:sOO8/Q==", trailer_signature))) == (
        b"a" * 66560
    )
    good.finish()
    assert good.trailers["x-amz-checksum-crc32c"] == "sOO8/Q=="
    with pytest.raises(ChunkSignatureMismatch):
        decoder().feed(body("x-amz-checksum-crc32c:AAAAAA==", trailer_signature))
    with pytest.raises(ChunkSignatureMismatch):  # a trailer added to an unsigned-trailer body
        ChunkedDecoder(_aws_example_signer()).feed(
            _AWS_EXAMPLE[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
        )


def test_crc32c_matches_aws_example() -> None:
    hasher = s3_checksums.new("CRC32C")  # AWS' trailer example: 66560 bytes of 'a'
    hasher.update(b"a" * 66560)
    assert base64.b64encode(hasher.digest()).decode() == "sOO8/Q=="
