"""MD5 digests of SQS messages against values AWS returned (pinned in moto's and
localstack's SQS test suites, which were checked against AWS)."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from nimbus.protocol.sqs_md5 import md5_of_attributes, md5_of_body


def number(value: str) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": value}


def test_body() -> None:
    assert md5_of_body("derp") == "58fd9edd83341c29f1aebba81c31e257"
    assert md5_of_body("This is a test message") == "fafb00f5732ab283681e124bf8747ed1"
    assert md5_of_body("Héllo!😀") == hashlib.md5("Héllo!😀".encode()).hexdigest()


def test_single_number_attributes() -> None:
    assert md5_of_attributes({"timestamp": number("1493147359900")}) == (
        "235c5c510d26fb653d073faed50ae77c"
    )
    assert md5_of_attributes({"timestamp": number("1493147359901")}) == (
        "994258b45346a2cc3f9cbb611aa7af30"
    )
    assert md5_of_attributes({"SOME_Valid.attribute-Name": number("1493147359900")}) == (
        "36655e7e9d7c0e8479fa3f3f42247ae7"
    )


def test_mixed_types_sorted_by_name_with_unicode() -> None:
    attributes: dict[str, dict[str, Any]] = {
        "ccc": {"StringValue": "testjunk", "DataType": "String"},
        "aaa": {"BinaryValue": b"\x02\x03\x04", "DataType": "Binary"},
        "zzz": {"DataType": "Number", "StringValue": "0230.01"},
        "öther_encodings": {"DataType": "String", "StringValue": "T\xfcst"},
    }
    assert md5_of_attributes(attributes) == "8ae21a7957029ef04146b42aeaa18a22"
    # Order of the mapping does not matter.
    assert md5_of_attributes(dict(reversed(list(attributes.items())))) == (
        "8ae21a7957029ef04146b42aeaa18a22"
    )


def test_binary_uses_transport_two_and_raw_bytes() -> None:
    expected = (
        struct.pack(">I", 3) + b"bin" + struct.pack(">I", 6) + b"Binary" + b"\x02"
        + struct.pack(">I", 2) + b"hi"
    )  # fmt: skip
    digest = md5_of_attributes({"bin": {"DataType": "Binary", "BinaryValue": b"hi"}})
    assert digest == hashlib.md5(expected).hexdigest()


def test_custom_type_label_is_part_of_the_digest() -> None:
    plain = md5_of_attributes({"n": number("1")})
    labelled = md5_of_attributes({"n": {"DataType": "Number.int", "StringValue": "1"}})
    assert plain != labelled


def test_no_attributes_no_digest() -> None:
    assert md5_of_attributes({}) is None
    assert md5_of_attributes(None) is None
