"""Objects stream through the server: a 64 MB PutObject/GetObject must not grow the
server's peak memory by anything near the object's size."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from e2e import NimbusServer
from s3_helpers import s3_client

MiB = 1024 * 1024


def peak_rss(pid: int) -> int:
    """VmHWM (peak resident set) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_64mb_object_streams(make_server: Callable[..., NimbusServer], tmp_path: Path) -> None:
    server = make_server()
    assert server.process is not None
    s3 = s3_client(server)
    s3.create_bucket(Bucket="memory-test")
    s3.put_object(Bucket="memory-test", Key="warm", Body=b"warm up")  # imports, pools
    s3.get_object(Bucket="memory-test", Key="warm")["Body"].read()
    source = tmp_path / "big.bin"
    with source.open("wb") as f:
        for _ in range(64):
            f.write(os.urandom(MiB))
    digest = hashlib.md5(source.read_bytes()).hexdigest()
    before = peak_rss(server.process.pid)
    with source.open("rb") as body:
        put = s3.put_object(Bucket="memory-test", Key="big", Body=body)
    assert put["ETag"] == f'"{digest}"'
    response = s3.get_object(Bucket="memory-test", Key="big")
    assert response["ContentLength"] == 64 * MiB
    received = hashlib.md5()
    for chunk in response["Body"].iter_chunks(MiB):
        received.update(chunk)
    assert received.hexdigest() == digest
    growth = peak_rss(server.process.pid) - before
    print(f"server peak RSS growth for 64 MiB put+get: {growth / MiB:.1f} MiB")
    assert growth < 24 * MiB, f"peak RSS grew by {growth / MiB:.1f} MiB for a 64 MiB object"
    # The bytes are on disk once, under the data directory, named by id (not by key).
    blobs = [p for p in (server.data_dir / "s3" / "blobs").rglob("*") if p.is_file()]
    assert any(p.stat().st_size == 64 * MiB for p in blobs)
    assert not list((server.data_dir / "s3" / "staging").iterdir())
