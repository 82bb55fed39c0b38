"""S3 multipart upload end to end: boto3's transfer manager, the AWS CLI, the low-level
calls with their checksums, AWS' errors, listing with pagination, cleanup and restarts."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from e2e import NimbusServer, error_of, unique

MiB = 1024 * 1024
PART = 5 * MiB


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = unique("mpu")
    s3.create_bucket(Bucket=name)
    yield name


def aws_etag(chunks: list[bytes]) -> str:
    """AWS' multipart ETag, computed here independently of Nimbus' code."""
    digests = b"".join(hashlib.md5(c).digest() for c in chunks)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(chunks)}"'


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def upload_dirs(server: NimbusServer) -> set[str]:
    root = server.data_dir / "s3-multipart"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_transfer_manager_round_trip(s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(3 * PART + 12345)
    source, target = tmp_path / "source.bin", tmp_path / "target.bin"
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    s3.upload_file(str(source), bucket, "dir/big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="dir/big.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == aws_etag(split(data, PART))
    # boto3 asks for CRC32 by default: a COMPOSITE checksum of the parts' CRC32s, "-4".
    crcs = b"".join(zlib.crc32(c).to_bytes(4, "big") for c in split(data, PART))
    assert head.get("ChecksumCRC32") == f"{b64(zlib.crc32(crcs).to_bytes(4, 'big'))}-4"
    s3.download_file(bucket, "dir/big.bin", str(target), Config=config)
    assert target.read_bytes() == data
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_aws_cli_cp_goes_multipart(server: NimbusServer, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * MiB + 1)
    source, target = tmp_path / "cli.bin", tmp_path / "back.bin"
    source.write_bytes(data)
    server.aws("s3", "cp", str(source), f"s3://{bucket}/cli.bin")
    head = server.client("s3").head_object(Bucket=bucket, Key="cli.bin")
    assert head["ETag"] == aws_etag(split(data, 8 * MiB))  # the CLI's 8 MB chunks: 3 parts
    server.aws("s3", "cp", f"s3://{bucket}/cli.bin", str(target))
    assert target.read_bytes() == data


def test_low_level_with_metadata_and_sha256(s3: Any, bucket: str) -> None:
    created = s3.create_multipart_upload(
        Bucket=bucket,
        Key="a b/ü.txt",
        ContentType="text/plain",
        Metadata={"color": "blue"},
        ChecksumAlgorithm="SHA256",
    )
    assert created["ChecksumAlgorithm"] == "SHA256"
    upload_id = created["UploadId"]
    chunks = [os.urandom(PART), b"tail"]
    parts = []
    for number, chunk in enumerate(chunks, 1):
        reply = s3.upload_part(
            Bucket=bucket,
            Key="a b/ü.txt",
            UploadId=upload_id,
            PartNumber=number,
            Body=chunk,
            ChecksumAlgorithm="SHA256",
        )
        assert reply["ETag"] == f'"{hashlib.md5(chunk).hexdigest()}"'
        assert "ServerSideEncryption" not in reply  # Nimbus does not encrypt at rest
        assert reply["ChecksumSHA256"] == b64(hashlib.sha256(chunk).digest())
        parts.append(
            {"PartNumber": number, "ETag": reply["ETag"], "ChecksumSHA256": reply["ChecksumSHA256"]}
        )
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="a b/ü.txt", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"] == aws_etag(chunks)
    joined = b"".join(hashlib.sha256(c).digest() for c in chunks)
    assert done["ChecksumSHA256"] == f"{b64(hashlib.sha256(joined).digest())}-2"
    assert done["Key"] == "a b/ü.txt" and done["Bucket"] == bucket
    got = s3.get_object(Bucket=bucket, Key="a b/ü.txt")
    assert got["Body"].read() == b"".join(chunks)
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"color": "blue"}
    assert got["ETag"] == aws_etag(chunks)
    second = s3.get_object(Bucket=bucket, Key="a b/ü.txt", PartNumber=2)
    assert second["Body"].read() == b"tail" and second["PartsCount"] == 2
    assert second["ContentRange"] == f"bytes {PART}-{PART + 3}/{PART + 4}"
    assert s3.head_object(Bucket=bucket, Key="a b/ü.txt", PartNumber=1)["ContentLength"] == PART


def test_full_object_crc32(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    chunks = [os.urandom(PART), os.urandom(1000)]
    parts = []
    for number, chunk in enumerate(chunks, 1):
        reply = s3.upload_part(
            Bucket=bucket, Key="full", UploadId=upload_id, PartNumber=number, Body=chunk,
            ChecksumAlgorithm="CRC32",
        )  # fmt: skip
        parts.append({"PartNumber": number, "ETag": reply["ETag"]})
    whole = b64(zlib.crc32(b"".join(chunks)).to_bytes(4, "big"))
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="full", UploadId=upload_id, MultipartUpload={"Parts": parts},
        ChecksumCRC32=whole, ChecksumType="FULL_OBJECT",
    )  # fmt: skip
    assert done["ChecksumCRC32"] == whole
    assert done["ChecksumType"] == "FULL_OBJECT"


def test_upload_part_copy_with_range(s3: Any, bucket: str) -> None:
    source = os.urandom(PART + 100)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    copy = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{PART - 1}",
    )["CopyPartResult"]  # fmt: skip
    assert copy["ETag"] == f'"{hashlib.md5(source[:PART]).hexdigest()}"'
    second = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=2,
        CopySource=f"{bucket}/src",
    )["CopyPartResult"]  # fmt: skip
    with pytest.raises(ClientError) as bad:
        s3.upload_part_copy(
            Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=3,
            CopySource=f"{bucket}/src", CopySourceRange=f"bytes=0-{len(source)}",
        )  # fmt: skip
    assert error_of(bad)[:2] == (400, "InvalidArgument")
    with pytest.raises(ClientError) as missing:
        s3.upload_part_copy(
            Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=3,
            CopySource=f"{bucket}/nothing-here",
        )  # fmt: skip
    assert error_of(missing)[:2] == (404, "NoSuchKey")
    with pytest.raises(ClientError) as unmet:
        s3.upload_part_copy(
            Bucket=bucket, Key="copied", UploadId=upload_id, PartNumber=3,
            CopySource=f"{bucket}/src", CopySourceIfMatch='"0123456789abcdef0123456789abcdef"',
        )  # fmt: skip
    assert error_of(unmet)[:2] == (412, "PreconditionFailed")
    assert unmet.value.response["Error"]["Condition"] == "x-amz-copy-source-If-Match"
    s3.complete_multipart_upload(
        Bucket=bucket, Key="copied", UploadId=upload_id,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": copy["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]},
        ]},
    )  # fmt: skip
    body = s3.get_object(Bucket=bucket, Key="copied")["Body"].read()
    assert body == source[:PART] + source


def test_list_parts_pagination(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etags = {}
    for number in (1, 2, 3, 5, 8):
        reply = s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"p" * number
        )
        etags[number] = reply["ETag"]
    first = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True and first["NextPartNumberMarker"] == 2
    assert first["MaxParts"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3, 5]
    assert rest["PartNumberMarker"] == 2
    paginator = s3.get_paginator("list_parts")
    pages = list(paginator.paginate(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2))
    listed = [p for page in pages for p in page["Parts"]]
    assert len(pages) == 3
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (n, etags[n], n) for n in (1, 2, 3, 5, 8)
    ]
    assert pages[-1]["IsTruncated"] is False
    # A part uploaded again replaces the first one.
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=3, Body=b"new")
    again = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in again][2] == (3, 3)


def test_list_multipart_uploads(s3: Any, bucket: str) -> None:
    made = []
    for key in ("a/1", "a/2", "b/1", "c", "c", "d"):
        made.append((key, s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]))
    everything = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in everything["Uploads"]] == made
    assert everything["IsTruncated"] is False
    upload = everything["Uploads"][0]
    assert upload["StorageClass"] == "STANDARD" and "Initiated" in upload
    assert upload["Owner"]["ID"] and upload["Initiator"]["ID"]

    seen = []
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    while True:
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        page = s3.list_multipart_uploads(
            Bucket=bucket, MaxUploads=2, KeyMarker=page["NextKeyMarker"],
            UploadIdMarker=page["NextUploadIdMarker"],
        )  # fmt: skip
    assert seen == made
    # The two uploads of "c" split across pages by KeyMarker + UploadIdMarker.
    split_page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="c", UploadIdMarker=made[3][1])
    assert [(u["Key"], u["UploadId"]) for u in split_page["Uploads"]] == made[4:]
    after_c = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="c")
    assert [u["Key"] for u in after_c["Uploads"]] == ["d"]

    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/", "b/"]
    assert [u["Key"] for u in grouped["Uploads"]] == ["c", "c", "d"]
    first_two = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=2)
    assert [p["Prefix"] for p in first_two["CommonPrefixes"]] == ["a/", "b/"]
    assert first_two["IsTruncated"] is True and first_two["NextKeyMarker"] == "b/"
    prefixed = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")
    assert [u["Key"] for u in prefixed["Uploads"]] == ["a/1", "a/2"]
    assert prefixed["Prefix"] == "a/"
    paginated = s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 4}
    )
    assert [(u["Key"], u["UploadId"]) for p in paginated for u in p.get("Uploads", [])] == made
    for key, upload_id in made:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_abort_and_complete_remove_part_files(server: NimbusServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=1, Body=b"x" * 100)
    assert upload_id in upload_dirs(server)
    assert list((server.data_dir / "s3-multipart" / upload_id).iterdir())
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert upload_id not in upload_dirs(server)
    with pytest.raises(ClientError) as info:
        s3.list_parts(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert error_of(info)[:2] == (404, "NoSuchUpload")

    done_id = s3.create_multipart_upload(Bucket=bucket, Key="done")["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="done", UploadId=done_id, PartNumber=1, Body=b"only part"
    )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="done", UploadId=done_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )  # fmt: skip
    assert done_id not in upload_dirs(server)
    assert s3.get_object(Bucket=bucket, Key="done")["Body"].read() == b"only part"
    with pytest.raises(ClientError) as again:
        s3.abort_multipart_upload(Bucket=bucket, Key="done", UploadId=done_id)
    assert error_of(again)[:2] == (404, "NoSuchUpload")


def test_uploads_survive_a_restart(make_server: Any, tmp_path: Path) -> None:
    first = make_server()
    s3 = first.client("s3")
    s3.create_bucket(Bucket="restart")
    upload_id = s3.create_multipart_upload(Bucket="restart", Key="k")["UploadId"]
    chunk = os.urandom(PART)
    one = s3.upload_part(Bucket="restart", Key="k", UploadId=upload_id, PartNumber=1, Body=chunk)
    # A bucket deleted with an upload in progress: the upload goes with it (at the restart).
    s3.create_bucket(Bucket="doomed")
    doomed = s3.create_multipart_upload(Bucket="doomed", Key="k")["UploadId"]
    s3.upload_part(Bucket="doomed", Key="k", UploadId=doomed, PartNumber=1, Body=b"x")
    s3.delete_bucket(Bucket="doomed")
    first.stop()
    # A part file no row points at (a crash between fsync and commit) is swept at start.
    stray = first.data_dir / "s3-multipart" / upload_id / "00002-deadbeef.part"
    stray.write_bytes(b"stray")
    second = make_server(data_dir=first.data_dir)
    s3 = second.client("s3")
    assert not stray.exists()
    assert doomed not in upload_dirs(second)
    listed = s3.list_parts(Bucket="restart", Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, one["ETag"])]
    two = s3.upload_part(Bucket="restart", Key="k", UploadId=upload_id, PartNumber=2, Body=b"end")
    s3.complete_multipart_upload(
        Bucket="restart", Key="k", UploadId=upload_id,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": one["ETag"]}, {"PartNumber": 2, "ETag": two["ETag"]},
        ]},
    )  # fmt: skip
    assert s3.get_object(Bucket="restart", Key="k")["Body"].read() == chunk + b"end"


def test_completion_emits_the_multipart_event(server: NimbusServer, s3: Any, bucket: str) -> None:
    sqs = server.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique("mpu-events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="evented")["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="evented", UploadId=upload_id, PartNumber=1, Body=b"e" * 10
    )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="evented", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )  # fmt: skip
    records = []
    for _ in range(10):
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2).get(
            "Messages", []
        ):
            records += json.loads(message["Body"]).get("Records", [])
        if records:
            break
    assert [r["eventName"] for r in records] == ["ObjectCreated:CompleteMultipartUpload"]
    assert records[0]["s3"]["object"]["key"] == "evented"
    assert records[0]["s3"]["object"]["size"] == 10
    assert f'"{records[0]["s3"]["object"]["eTag"]}"' == aws_etag([b"e" * 10])
