"""S3 notification latency (issue 6): PutObject -> the notified function's first statement.

    .venv/bin/python bench/s3_notify_bench.py [--quick]

Starts `nimbus server` on a free 127.0.0.1 port with a fresh data directory, creates a
bucket and one Python function (MemorySize 1769) that prints `time.time()` first thing, and
points the bucket's s3:ObjectCreated:* notification at it.

1. upload -> start: sequential PutObjects (boto3, spaced apart so each finds the warm
   environment idle); latency = the time.time() the function prints minus the client's
   time.time() taken just BEFORE PutObject (so it includes the whole PUT: body, checksum,
   durable object write, durable notification).
2. For comparison, in the same run and with the same function: asynchronous Invoke
   (InvocationType=Event) 202 -> start, measured as bench/async_bench.py does (client
   time.time() when the 202 arrived).
3. The PutObject round trip with the notification (its reply waits until the notification
   is durable) and without (same bucket, a prefix no configuration matches), and the PUT
   reply -> start time: so the share of S3's own PUT, of making the notification durable
   and of dispatching it are each visible.
4. The same PUT without notification sent by http.client, signed once per request by
   botocore's SigV4Auth (no CRC32, no Expect: 100-continue, no response parsing): the
   server's share of a PUT, apart from boto3's own time.

Goal: upload -> start p50 <= 10 ms. Prints a table and writes bench/results/s3_notify.json.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import platform
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).parent))
from floors import summary
from http_bench import free_port, newest_python_runtime, server
from nimbus.services.accounts import load_credentials

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "s3_notify.json"
REGION = "us-east-1"
FUNCTION = "bench-s3-notify"
BUCKET = "bench-s3-notify"
GOAL_P50_MS = 10.0
STAMP = (
    "import time\n\n\n"
    "def handler(e, c):\n"
    "    started = time.time()\n"
    "    if 'Records' in e:\n"
    "        key = e['Records'][0]['s3']['object']['key']\n"
    "    else:\n"
    "        key = 'invoke/' + str(e['i'])\n"
    "    print('BENCHSTART', key, repr(started))\n"
)
STAMP_LINE = re.compile(r"BENCHSTART (\S+) ([0-9.e+-]+)")


def stamp_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("app.py", STAMP)
    return buffer.getvalue()


def stamps(data: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    for path in sorted(data.glob(f"logs/*{FUNCTION}/*.log")):
        for m in STAMP_LINE.finditer(path.read_text(errors="replace")):
            found.setdefault(m.group(1), float(m.group(2)))
    return found


def wait_until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def clients(port: int, data: Path) -> tuple[Any, Any]:
    credentials = load_credentials(data)
    assert credentials is not None
    options: dict[str, Any] = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "region_name": REGION,
        "aws_access_key_id": credentials.access_key_id,
        "aws_secret_access_key": credentials.secret_access_key,
        "config": Config(retries={"max_attempts": 1}),
    }
    return boto3.client("s3", **options), boto3.client("lambda", **options)


def setup(s3: Any, lam: Any, runtime: str) -> None:
    arn = lam.create_function(
        FunctionName=FUNCTION,
        Runtime=runtime,
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler",
        Code={"ZipFile": stamp_zip()},
        MemorySize=1769,  # one full vCPU: the CPU quota must not be what we measure
        Timeout=30,
    )["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "up/"}]}},
                }
            ]
        },
    )


def upload_latency(
    s3: Any, data: Path, n: int, gap: float, warm: int = 5
) -> tuple[list[float], list[float], list[float], list[float]]:
    """ms: PutObject sent -> start, its round trip, its reply -> start, and the round trip
    of a PutObject without notification."""
    sent: dict[str, float] = {}
    replied: dict[str, float] = {}
    plain: list[float] = []
    body = b"x" * 1024
    for i in range(-warm, n):
        key = f"up/{i}"
        sent[key] = time.time()
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        replied[key] = time.time()
        # Interleaved, so both see the same load: a PUT that no configuration matches.
        t = time.perf_counter()
        s3.put_object(Bucket=BUCKET, Key=f"plain/{i}", Body=body)
        plain.append((time.perf_counter() - t) * 1000)
        if i == -1:
            wait_until(lambda: "up/-1" in stamps(data), "warm-up uploads", 60)
        time.sleep(gap)
    keys = [f"up/{i}" for i in range(n)]
    wait_until(lambda: all(k in stamps(data) for k in keys), "upload stamps", 120)
    started = stamps(data)
    return (
        [(started[k] - sent[k]) * 1000 for k in keys],
        [(replied[k] - sent[k]) * 1000 for k in keys],
        [(started[k] - replied[k]) * 1000 for k in keys],
        plain[warm:],
    )


def raw_put_latency(port: int, data: Path, n: int) -> list[float]:
    """ms: a signed http.client PutObject of the same 1 KB (no notification matches)."""
    credentials = load_credentials(data)
    assert credentials is not None
    signer = SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key), "s3", REGION
    )
    body = b"x" * 1024
    digest = hashlib.sha256(body).hexdigest()
    connection = http.client.HTTPConnection("127.0.0.1", port)
    samples: list[float] = []
    for i in range(n):
        path = f"/{BUCKET}/raw/{i}"
        t = time.perf_counter()
        request = AWSRequest("PUT", f"http://127.0.0.1:{port}{path}", data=body)
        request.headers["x-amz-content-sha256"] = digest
        signer.add_auth(request)
        connection.request("PUT", path, body=body, headers=dict(request.headers))
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status == 200, response.status
    connection.close()
    return samples


def invoke_latency(lam: Any, data: Path, n: int, gap: float) -> list[float]:
    sent: dict[str, float] = {}
    for i in range(n):
        response = lam.invoke(
            FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"i": i})
        )
        sent[f"invoke/{i}"] = time.time()
        assert response["StatusCode"] == 202
        time.sleep(gap)
    wait_until(lambda: all(k in stamps(data) for k in sent), "invoke stamps", 120)
    started = stamps(data)
    return [(started[k] - at) * 1000 for k, at in sent.items()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, gap = (50, 0.02) if args.quick else (300, 0.02)
    runtime = newest_python_runtime()
    load = os.getloadavg()[0]  # other work on the machine shows in every number below
    with tempfile.TemporaryDirectory(prefix="nimbus-s3n-") as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        argv = [str(Path(sys.executable).with_name("nimbus")), "server", "--port", str(port)]
        argv += ["--gateway-port", "0", "--data-dir", str(data), "--auth", "sigv4"]
        with server("nimbus", argv, port, Path(tmp) / "server.log"):
            s3, lam = clients(port, data)
            setup(s3, lam, runtime)
            uploads, notified_puts, reply_to_start, puts = upload_latency(s3, data, n, gap)
            invokes = invoke_latency(lam, data, n, gap)
            raw_puts = raw_put_latency(port, data, n)
    results = {
        "machine": {
            "arch": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": load,
        },
        "runtime": runtime,
        "upload_to_start": summary(uploads),
        "async_invoke_202_to_start": summary(invokes),
        "put_object_round_trip_notified": summary(notified_puts),
        "put_reply_to_start": summary(reply_to_start),
        "put_object_round_trip": summary(puts),
        "put_object_http_client": summary(raw_puts),
        "goal_upload_to_start_p50_ms": GOAL_P50_MS,
    }
    print(f"{'measure':32} {'p50 ms':>8} {'p99 ms':>8} {'n':>5}")
    for name in (
        "upload_to_start",
        "put_object_round_trip_notified",
        "put_reply_to_start",
        "async_invoke_202_to_start",
        "put_object_round_trip",
        "put_object_http_client",
    ):
        row = results[name]
        assert isinstance(row, dict)
        print(f"{name:32} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['n']:5.0f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
