"""PutObject writes an object's bytes at their final place (s3_blobs.BlobFiles.reserve):
what it did not acknowledge must leave no file behind, whether it failed or was killed."""

from __future__ import annotations

import base64
import hashlib
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e import NimbusServer
from s3_helpers import fails, s3_client


def blob_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "s3" / "blobs").glob("*/*") if p.is_file()}


def test_failed_put_leaves_no_file(make_server: Callable[..., NimbusServer]) -> None:
    server = make_server()
    s3 = s3_client(server)
    s3.create_bucket(Bucket="in-place")
    s3.put_object(Bucket="in-place", Key="kept", Body=b"kept")
    before = blob_files(server.data_dir)
    assert len(before) == 1
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    status, code, _, _ = fails(
        s3.put_object, Bucket="in-place", Key="k", Body=b"body", ContentMD5=wrong
    )
    assert (status, code) == (400, "BadDigest")
    status, code, _, _ = fails(
        s3.put_object, Bucket="in-place", Key="k", Body=b"body", StorageClass="NOPE"
    )
    assert (status, code) == (400, "InvalidStorageClass")
    assert blob_files(server.data_dir) == before
    # An overwrite replaces the file: still one, holding the new bytes.
    s3.put_object(Bucket="in-place", Key="kept", Body=b"new")
    assert len(blob_files(server.data_dir)) == 1
    assert s3.get_object(Bucket="in-place", Key="kept")["Body"].read() == b"new"


def test_put_killed_mid_body_leaves_no_file(make_server: Callable[..., NimbusServer]) -> None:
    server = make_server()
    s3 = s3_client(server)
    s3.create_bucket(Bucket="in-place")
    s3.put_object(Bucket="in-place", Key="kept", Body=b"kept")
    url = f"{server.endpoint}/in-place/half"
    headers = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Content-Length": str(2 << 20)}
    request = AWSRequest("PUT", url, headers=headers)
    credentials = server.credentials
    signer = Credentials(credentials["access_key_id"], credentials["secret_access_key"])
    SigV4Auth(signer, "s3", "us-east-1").add_auth(request)
    head = f"PUT /in-place/half HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(head.encode() + b"x" * (3 << 19))  # 1.5 of 2 MiB: 1 MiB written
        deadline = time.monotonic() + 10
        while len(blob_files(server.data_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(blob_files(server.data_dir)) == 2  # the partial object, in blobs/
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    restarted = make_server(data_dir=server.data_dir)
    s3 = s3_client(restarted)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="in-place")["Contents"]] == ["kept"]
    assert len(blob_files(restarted.data_dir)) == 1  # the unacknowledged file was removed
    assert s3.get_object(Bucket="in-place", Key="kept")["Body"].read() == b"kept"
