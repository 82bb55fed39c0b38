"""What S3 acknowledged survives a kill -9; what it did not leaves nothing behind."""

from __future__ import annotations

import concurrent.futures
import signal
from collections.abc import Callable

from e2e import NimbusServer
from s3_helpers import s3_client


def test_acknowledged_objects_survive_kill(make_server: Callable[..., NimbusServer]) -> None:
    server = make_server()
    s3 = s3_client(server, max_pool_connections=16)
    s3.create_bucket(Bucket="durable")
    s3.put_bucket_versioning(Bucket="durable", VersioningConfiguration={"Status": "Enabled"})

    def put(i: int) -> tuple[str, str]:
        response = s3.put_object(Bucket="durable", Key=f"k{i % 8}", Body=f"v{i}".encode())
        return f"k{i % 8}", response["VersionId"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:  # concurrent writers: group commit
        acknowledged = list(pool.map(put, range(64)))
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    restarted = make_server(data_dir=server.data_dir)
    s3 = s3_client(restarted)
    versions = s3.list_object_versions(Bucket="durable")["Versions"]
    assert {(v["Key"], v["VersionId"]) for v in versions} == set(acknowledged)
    assert len({v["VersionId"] for v in versions if v["IsLatest"]}) == 8
    for key, version in acknowledged[:5]:
        body = s3.get_object(Bucket="durable", Key=key, VersionId=version)["Body"].read()
        assert body.startswith(b"v")
    assert s3.get_bucket_versioning(Bucket="durable")["Status"] == "Enabled"
    # Staging is emptied at start: nothing half-written remains.
    assert not list((restarted.data_dir / "s3" / "staging").iterdir())
