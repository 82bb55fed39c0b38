"""The flagship example end to end (examples/thumbnails): deployed by its own script against
a live server, then 100 images uploaded at once plus files that are not images.

Every image must get exactly one thumbnail and one SNS->SQS message; every bad file exactly
one "failed" message and one logged error, and no retries (the function returns normally
for them). The function runs with Pillow inside its package, as a Lambda user ships it (copied
from this environment here; the script's default downloads it from PyPI), and the runtime's
boto3.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from e2e import REGION, NimbusServer
from PIL import Image

from nimbus.engine.runtimes import RuntimeRegistry

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "examples" / "thumbnails" / "deploy.py"
# Offline (tests talk to loopback only): the package takes Pillow from the
# environment running the tests, so the function's runtime is this Python's version.
RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"
IMAGES = 100
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NimbusServer, dict[str, str]]]:
    """A private server (its log files are read below) with the application deployed."""
    root = tmp_path_factory.mktemp("thumbnails")
    node = NimbusServer(root / "data").start()
    try:
        credentials = node.credentials
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=node.endpoint,
            AWS_ACCESS_KEY_ID=credentials["access_key_id"],
            AWS_SECRET_ACCESS_KEY=credentials["secret_access_key"],
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        python = RuntimeRegistry().interpreter(RUNTIME)
        done = subprocess.run(
            [sys.executable, str(DEPLOY), "--name", "thumbs", "--runtime", RUNTIME,
             "--build-dir", str(root / "build"), "--python", python, "--deps-from-here"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        resources: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
        yield node, resources
    finally:
        node.stop()


def image(i: int) -> tuple[str, bytes, tuple[int, int]]:
    rng = random.Random(i)
    size = (rng.randint(20, 900), rng.randint(20, 900))
    fmt = FORMATS[i % len(FORMATS)]
    picture = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), 99))
    for _ in range(20):  # some content, so encoders have something to do
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        picture.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    picture.save(out, fmt)
    extension = {"JPEG": "jpg"}.get(fmt, fmt.lower())
    name = f"uploads/batch/img {i:03d} (ü)+.{extension}"  # keys S3 must URL-encode in events
    return name, out.getvalue(), size


def corrupt_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(out, "JPEG")
    data = out.getvalue()
    return data[: len(data) // 3] + b"\x00garbage" * 50  # JPEG header, then rubbish


def test_thumbnails_end_to_end(app: tuple[NimbusServer, dict[str, str]]) -> None:
    node, resources = app
    s3 = node.client("s3", max_pool_connections=32, s3={"addressing_style": "path"})
    sqs = node.client("sqs")
    uploads = [image(i) for i in range(IMAGES)]
    bad = {
        "uploads/batch/notes.txt": b"just some text, not an image",
        "uploads/batch/fake.png": b"%PDF-1.4 definitely not a PNG",
        "uploads/batch/corrupt.jpg": corrupt_jpeg(),
    }
    bucket = resources["uploads_bucket"]
    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        futures = [pool.submit(s3.put_object, Bucket=bucket, Key=k, Body=b) for k, b, _ in uploads]
        futures += [
            pool.submit(s3.put_object, Bucket=bucket, Key=k, Body=b) for k, b in bad.items()
        ]
        for future in futures:
            future.result()
    s3.put_object(Bucket=bucket, Key="elsewhere/ignored.jpg", Body=uploads[0][1])  # no prefix
    upload_s = time.monotonic() - started

    messages: list[dict[str, Any]] = []
    expected = IMAGES + len(bad)
    deadline = time.monotonic() + 240
    while len(messages) < expected and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=resources["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=2
        )
        for message in got.get("Messages", []):
            envelope = json.loads(message["Body"])
            assert envelope["TopicArn"] == resources["topic_arn"]
            messages.append(json.loads(envelope["Message"]))
            sqs.delete_message(
                QueueUrl=resources["queue_url"], ReceiptHandle=message["ReceiptHandle"]
            )
    elapsed = time.monotonic() - started
    assert len(messages) == expected, f"{len(messages)} of {expected} after {elapsed:.0f} s"
    time.sleep(3)  # nothing more may come: no duplicates, no retries
    late = sqs.receive_message(QueueUrl=resources["queue_url"], WaitTimeSeconds=1)
    assert not late.get("Messages"), late

    ok = [m for m in messages if m["status"] == "ok"]
    failed = [m for m in messages if m["status"] == "failed"]
    assert sorted(m["source"] for m in ok) == sorted(f"s3://{bucket}/{k}" for k, _, _ in uploads)
    assert sorted(m["source"] for m in failed) == sorted(f"s3://{bucket}/{k}" for k in bad)

    # Each thumbnail: there once, a PNG no larger than 128 px, the original's proportions.
    thumbs = resources["thumbnails_bucket"]
    listed = s3.list_objects_v2(Bucket=thumbs, Prefix="thumbnails/")
    assert listed["KeyCount"] == IMAGES
    for key, _, (width, height) in uploads[:: len(FORMATS) + 1]:  # a sample of every format
        target = "thumbnails/" + key.removeprefix("uploads/") + ".png"
        body = s3.get_object(Bucket=thumbs, Key=target)["Body"].read()
        with Image.open(io.BytesIO(body)) as thumb:
            assert thumb.format == "PNG"
            assert max(thumb.size) == min(128, max(width, height))
            assert abs(thumb.size[0] / thumb.size[1] - width / height) < 0.1 * width / height + 0.1

    failures = sqs.receive_message(QueueUrl=resources["failed_queue_url"], WaitTimeSeconds=0)
    assert not failures.get("Messages"), failures  # no event exhausted its retries

    # The function ran once per upload under uploads/: no retries of the bad files.
    logs = "".join(p.read_text(errors="replace") for p in node.data_dir.glob("logs/*thumbs/*.log"))
    assert logs.count("START RequestId:") == expected
    assert logs.count("[ERROR]") == len(bad)
    for key in bad:
        assert f"not an image: s3://{bucket}/{key}" in logs
    assert "Task timed out" not in logs
    print(f"\n{expected} uploads in {upload_s:.1f} s; all processed after {elapsed:.1f} s")
