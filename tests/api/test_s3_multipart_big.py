"""A 1 GiB multipart upload and download: the server's memory stays bounded (parts stream to
disk, the object streams back) and the bytes come back intact."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

MiB = 1024 * 1024
SIZE = 1024 * MiB
BLOCK = 8 * MiB
MAX_GROWTH_MB = 150


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process' peak resident memory so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_gib_upload_keeps_memory_bounded(make_server: Any, tmp_path: Path) -> None:
    server = make_server()
    s3 = server.client("s3", max_pool_connections=16)
    s3.create_bucket(Bucket="big")
    source, target = tmp_path / "source.bin", tmp_path / "target.bin"
    block = os.urandom(BLOCK)
    with source.open("wb") as f:
        for i in range(SIZE // BLOCK):
            f.write(block[:-8] + i.to_bytes(8, "big"))  # no two parts alike
    expected = sha256_of(source)
    assert server.process is not None
    before = peak_rss_mb(server.process.pid)
    config = TransferConfig(
        multipart_threshold=BLOCK, multipart_chunksize=16 * MiB, max_concurrency=8
    )
    s3.upload_file(str(source), "big", "one-gib", Config=config)
    after_upload = peak_rss_mb(server.process.pid)
    head = s3.head_object(Bucket="big", Key="one-gib")
    assert head["ContentLength"] == SIZE
    assert head["ETag"].endswith('-64"')
    source.unlink()  # room for the download
    s3.download_file("big", "one-gib", str(target), Config=config)
    after_download = peak_rss_mb(server.process.pid)
    assert sha256_of(target) == expected
    growth = after_download - before
    print(f"server peak RSS: {before:.0f} -> {after_upload:.0f} -> {after_download:.0f} MB")
    assert growth < MAX_GROWTH_MB, (
        f"server peak RSS grew {growth:.0f} MB ({before:.0f} -> {after_upload:.0f} after the "
        f"upload -> {after_download:.0f} after the download)"
    )
    assert not (server.data_dir / "s3-multipart").exists() or not list(
        (server.data_dir / "s3-multipart").iterdir()
    )
