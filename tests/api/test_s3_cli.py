"""The AWS CLI against a live server: aws s3 mb/cp/ls/sync/rm/rb and aws s3api."""

from __future__ import annotations

import json
import os
from pathlib import Path

from e2e import NimbusServer, unique


def test_cli_high_level_commands(server: NimbusServer, tmp_path: Path) -> None:
    bucket = unique("cli")
    server.aws("s3", "mb", f"s3://{bucket}")
    source = tmp_path / "src"
    (source / "sub dir").mkdir(parents=True)
    files = {
        "a.txt": b"alpha",
        "sub dir/b ü.bin": os.urandom(300_000),
        "sub dir/c+d.txt": b"plus",
    }
    for name, data in files.items():
        (source / name).write_bytes(data)
    server.aws("s3", "cp", str(source / "a.txt"), f"s3://{bucket}/single/a.txt")
    listed = server.aws("s3", "ls", f"s3://{bucket}/single/").stdout
    assert "a.txt" in listed and " 5 " in listed
    server.aws("s3", "sync", str(source), f"s3://{bucket}/tree")
    listing = server.aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout
    for name in files:
        assert f"tree/{name}" in listing, listing
    top = server.aws("s3", "ls", f"s3://{bucket}/tree/").stdout
    assert "PRE sub dir/" in top
    # A second sync uploads nothing: sizes and times match.
    again = server.aws("s3", "sync", str(source), f"s3://{bucket}/tree").stdout
    assert "upload:" not in again
    target = tmp_path / "back"
    server.aws("s3", "sync", f"s3://{bucket}/tree", str(target))
    for name, data in files.items():
        assert (target / name).read_bytes() == data, name
    server.aws("s3", "cp", f"s3://{bucket}/single/a.txt", str(tmp_path / "a.copy"))
    assert (tmp_path / "a.copy").read_bytes() == b"alpha"
    buckets = server.aws("s3", "ls").stdout
    assert bucket in buckets
    server.aws("s3", "rm", "--recursive", f"s3://{bucket}/")
    server.aws("s3", "rb", f"s3://{bucket}")
    assert bucket not in server.aws("s3", "ls").stdout


def test_cli_s3api(server: NimbusServer, tmp_path: Path) -> None:
    bucket = unique("api")
    server.aws("s3api", "create-bucket", "--bucket", bucket)
    body = tmp_path / "body.json"
    body.write_text('{"hello": "world"}')
    put = json.loads(
        server.aws(
            "s3api", "put-object", "--bucket", bucket, "--key", "data/x.json",
            "--body", str(body), "--content-type", "application/json",
            "--metadata", "team=blue", "--tagging", "env=test",
        ).stdout
    )  # fmt: skip
    assert put["ETag"].strip('"')
    head = json.loads(
        server.aws("s3api", "head-object", "--bucket", bucket, "--key", "data/x.json").stdout
    )
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"team": "blue"}
    assert head["ContentLength"] == len(body.read_bytes())
    out = tmp_path / "out.json"
    server.aws("s3api", "get-object", "--bucket", bucket, "--key", "data/x.json", str(out))
    assert out.read_bytes() == body.read_bytes()
    listed = json.loads(server.aws("s3api", "list-objects-v2", "--bucket", bucket).stdout)
    assert [o["Key"] for o in listed["Contents"]] == ["data/x.json"]
    missing = server.aws(
        "s3api", "get-object", "--bucket", bucket, "--key", "nope", str(out), check=False
    )
    assert missing.returncode != 0
    assert "NoSuchKey" in missing.stderr
    tags = json.loads(
        server.aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", "data/x.json").stdout
    )
    assert tags["TagSet"] == [{"Key": "env", "Value": "test"}]
