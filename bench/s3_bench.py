"""S3 benchmark (issue 6): Nimbus' S3 API next to the disk's ceiling and moto's server.

    .venv/bin/python bench/s3_bench.py [--quick] [--keys N]

In ONE run, on 127.0.0.1:
- the disk's ceiling, measured here in Python on the data directory's filesystem: 64 MB
  files written sequentially (1 MiB writes) and fsynced, then read back (page cache: the
  same bytes were just written, as a GET right after a PUT sees them); and 4 KB files, each
  written + fsynced, then read;
- `nimbus server` (auth sigv4, its own data directory) and `moto_server` (moto[server],
  in memory: nothing durable), each measured the same way with boto3:
  PUT and GET of 4 KB objects (8 threads sharing one client: objects/s and MB/s), of 64 MB
  objects (one client; PutObject, then upload_file with 8 MiB multipart parts), and
  ListObjectsV2 latency (p50/p99) for a 1000-key page over 100,000 keys, with and without a
  prefix. The 100,000 keys are created by a lean client (threads, http.client keep-alive,
  a minimal SigV4 signer with UNSIGNED-PAYLOAD): its duration is reported.

Prints a Rich table and writes bench/results/s3.json. Both servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from floors import percentile
from http_bench import free_port, server
from nimbus.services.accounts import load_credentials

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "s3.json"
REGION = "us-east-1"
MB = 1024 * 1024
SMALL = 4 * 1024
BIG = 64 * MB
THREADS = 8
FILL_THREADS = 32
console = Console() if sys.stdout.isatty() else Console(width=150)


@dataclass
class Target:
    name: str
    port: int
    key: str
    secret: str
    pid: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, pool: int = THREADS) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            config=Config(
                max_pool_connections=pool,
                retries={"total_max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        )


# the disk's ceiling --------------------------------------------------------------------------
def disk_ceiling(directory: Path, big_count: int, small_count: int) -> dict[str, float]:
    directory.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MB)
    start = time.perf_counter()
    for i in range(big_count):
        with open(directory / f"big{i}", "wb") as f:
            for _ in range(BIG // MB):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(big_count):
        with open(directory / f"big{i}", "rb") as f:
            while f.read(MB):
                pass
    read_s = time.perf_counter() - start
    small = os.urandom(SMALL)
    start = time.perf_counter()
    for i in range(small_count):
        with open(directory / f"small{i}", "wb") as f:
            f.write(small)
            f.flush()
            os.fsync(f.fileno())
    small_write_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(small_count):
        (directory / f"small{i}").read_bytes()
    small_read_s = time.perf_counter() - start
    shutil.rmtree(directory, ignore_errors=True)
    total = big_count * BIG / MB
    return {
        "big_write_mb_s": total / write_s,
        "big_read_mb_s": total / read_s,
        "small_write_per_s": small_count / small_write_s,
        "small_read_per_s": small_count / small_read_s,
    }


# a lean client for filling a bucket -----------------------------------------------------------
class LeanPutter:
    """PutObject through keep-alive http.client connections with a minimal SigV4 signature
    (UNSIGNED-PAYLOAD): boto3 costs ~1 ms of client CPU per call, too much for 100,000."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self.local, "c", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.target.port, timeout=60)
            self.local.c = connection
        return connection

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        now = dt.datetime.now(dt.UTC)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        host = f"127.0.0.1:{self.target.port}"
        signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = (
            f"{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
            f"x-amz-date:{amz_date}\n\n{signed}\nUNSIGNED-PAYLOAD"
        )
        scope = f"{day}/{REGION}/s3/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        key = ("AWS4" + self.target.secret).encode()
        for part in (day, REGION, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Host": host,
            "X-Amz-Date": amz_date,
            "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
            "Content-Length": str(len(body)),
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={self.target.key}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
        }

    def put(self, bucket: str, key: str, body: bytes) -> None:
        path = f"/{bucket}/{key}"
        for attempt in range(3):
            connection = self._connection()
            try:
                connection.request("PUT", path, body, self._headers("PUT", path, body))
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                self.local.c = None
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise RuntimeError(f"PUT {path}: HTTP {response.status}")
            return


def fill(target: Target, bucket: str, keys: list[str], threads: int = 0) -> float:
    threads = threads or FILL_THREADS
    putter = LeanPutter(target)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda k: putter.put(bucket, k, b"x"), keys, chunksize=256))
    return time.perf_counter() - start


# boto3 measurements ---------------------------------------------------------------------------
def timed_parallel(work: Callable[[str], None], keys: list[str]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, keys))
    return time.perf_counter() - start


def rates(count: int, size: int, seconds: float) -> dict[str, float]:
    return {"objects_s": count / seconds, "mb_s": count * size / MB / seconds, "s": seconds}


def measure(target: Target, quick: bool, keys_total: int) -> dict[str, Any]:
    client = target.client()
    bucket = "bench-s3"
    client.create_bucket(Bucket=bucket)
    out: dict[str, Any] = {}
    small_n = 500 if quick else 3000
    small = os.urandom(SMALL)
    keys = [f"small/{i:06d}" for i in range(small_n)]

    def put_small(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=small)

    def get_small(key: str) -> None:
        client.get_object(Bucket=bucket, Key=key)["Body"].read()

    timed_parallel(put_small, keys[:50])  # warm-up: connections, code paths
    out["put_4k"] = rates(small_n, SMALL, timed_parallel(put_small, keys))
    out["get_4k"] = rates(small_n, SMALL, timed_parallel(get_small, keys))

    big_n = 2 if quick else 6
    big = os.urandom(BIG)
    start = time.perf_counter()
    for i in range(big_n):
        client.put_object(Bucket=bucket, Key=f"big/{i}", Body=big)
    out["put_64m"] = rates(big_n, BIG, time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(big_n):
        body = client.get_object(Bucket=bucket, Key=f"big/{i}")["Body"]
        for _ in body.iter_chunks(MB):
            pass
    out["get_64m"] = rates(big_n, BIG, time.perf_counter() - start)

    with tempfile.NamedTemporaryFile() as source:
        source.write(big)
        source.flush()
        config = TransferConfig(
            multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=4
        )
        start = time.perf_counter()
        for i in range(big_n):
            client.upload_file(source.name, bucket, f"multi/{i}", Config=config)
        out["multipart_64m"] = rates(big_n, BIG, time.perf_counter() - start)
        head = client.head_object(Bucket=bucket, Key="multi/0")
        assert head["ETag"].endswith('-8"'), head["ETag"]
    del big

    listed = "bench-list"
    client.create_bucket(Bucket=listed)
    names = [f"p{i % 10}/obj-{i:07d}" for i in range(keys_total)]
    random.Random(1).shuffle(names)
    out["fill"] = {"keys": keys_total, "s": fill(target, listed, names)}
    out["fill"]["per_s"] = keys_total / out["fill"]["s"]
    n = 20 if quick else 60
    out["list_page"] = latency(lambda: client.list_objects_v2(Bucket=listed, MaxKeys=1000), n)
    deep = sorted(names)[keys_total // 2]
    out["list_deep_page"] = latency(
        lambda: client.list_objects_v2(Bucket=listed, MaxKeys=1000, StartAfter=deep), n
    )
    out["list_prefix"] = latency(
        lambda: client.list_objects_v2(Bucket=listed, MaxKeys=1000, Prefix="p3/"), n
    )
    page = client.list_objects_v2(Bucket=listed, MaxKeys=1000, Prefix="p3/")
    assert page["KeyCount"] == min(1000, keys_total // 10), page["KeyCount"]
    out["server_max_rss_mb"] = max_rss_mb(target.pid)
    return out


def latency(call: Callable[[], Any], n: int, budget_s: float = 60.0) -> dict[str, float]:
    """n samples, or fewer (at least 5) when they take longer than budget_s together."""
    call()  # warm-up
    samples: list[float] = []
    began = time.perf_counter()
    while len(samples) < n and (len(samples) < 5 or time.perf_counter() - began < budget_s):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 0.99),
        "n": len(samples),
    }


def max_rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


# running ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def nimbus(workdir: Path) -> Iterator[Target]:
    port = free_port()
    data = workdir / "nimbus-data"
    argv = [str(Path(sys.executable).with_name("nimbus")), "server", "--port", str(port)]
    argv += ["--gateway-port", str(free_port()), "--data-dir", str(data), "--auth", "sigv4"]
    with server("nimbus", argv, port, workdir / "nimbus.log") as process:
        credentials = load_credentials(data)
        if credentials is None:
            raise RuntimeError("nimbus server wrote no credentials")
        yield Target(
            "nimbus", port, credentials.access_key_id, credentials.secret_access_key, process.pid
        )


@contextlib.contextmanager
def moto(workdir: Path) -> Iterator[Target]:
    port = free_port()
    argv = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1"]
    argv += ["-p", str(port)]
    with server("moto", argv, port, workdir / "moto.log") as process:
        yield Target("moto", port, "testing", "testing", process.pid)


def run(quick: bool, keys_total: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="nimbus-s3-bench-"))
    results: dict[str, Any] = {
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "boto3": boto3.__version__,
            "loadavg_at_start": os.getloadavg()[0],  # other work on the machine skews numbers
        },
        "settings": {
            "quick": quick,
            "keys": keys_total,
            "threads_4k": THREADS,
            "fill_threads": FILL_THREADS,
        },
    }
    try:
        console.print("disk ceiling ...")
        results["disk"] = disk_ceiling(workdir / "disk", 2 if quick else 6, 500 if quick else 3000)
        for name, starter in (("nimbus", nimbus), ("moto", moto)):
            console.print(f"{name} ...")
            with starter(workdir) as target:
                results[name] = measure(target, quick, keys_total)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def show(results: dict[str, Any]) -> None:
    disk, nim, mo = results["disk"], results["nimbus"], results["moto"]
    table = Table(title=f"S3 ({results['settings']['keys']:,} keys for listing)")
    columns = ("measure", "disk ceiling", "Nimbus", "moto", "Nimbus/ceiling", "Nimbus vs moto")
    for column in columns:
        table.add_column(column, justify="left" if column == "measure" else "right")

    def row(label: str, ceiling: float | None, n: float, m: float, unit: str, fmt: str) -> None:
        # Throughputs: Nimbus / other (> 1: Nimbus faster). Latencies (ms): other / Nimbus,
        # so > 1 means Nimbus is faster there too.
        faster = (m / n) if unit == "ms" else (n / m)
        table.add_row(
            label,
            f"{ceiling:{fmt}} {unit}" if ceiling else "",
            f"{n:{fmt}} {unit}",
            f"{m:{fmt}} {unit}",
            f"{n / ceiling:.2f}" if ceiling else "",
            f"{faster:.2f}x",
        )

    row("PUT 4 KB (8 threads)", disk["small_write_per_s"], nim["put_4k"]["objects_s"],
        mo["put_4k"]["objects_s"], "obj/s", ",.0f")  # fmt: skip
    row("GET 4 KB (8 threads)", disk["small_read_per_s"], nim["get_4k"]["objects_s"],
        mo["get_4k"]["objects_s"], "obj/s", ",.0f")  # fmt: skip
    row("PUT 4 KB", None, nim["put_4k"]["mb_s"], mo["put_4k"]["mb_s"], "MB/s", ",.1f")
    row("GET 4 KB", None, nim["get_4k"]["mb_s"], mo["get_4k"]["mb_s"], "MB/s", ",.1f")
    row("PUT 64 MB", disk["big_write_mb_s"], nim["put_64m"]["mb_s"], mo["put_64m"]["mb_s"],
        "MB/s", ",.0f")  # fmt: skip
    row("GET 64 MB", disk["big_read_mb_s"], nim["get_64m"]["mb_s"], mo["get_64m"]["mb_s"],
        "MB/s", ",.0f")  # fmt: skip
    row("upload_file 64 MB (8 MiB parts)", disk["big_write_mb_s"], nim["multipart_64m"]["mb_s"],
        mo["multipart_64m"]["mb_s"], "MB/s", ",.0f")  # fmt: skip
    for key, label in (
        ("list_page", "ListObjectsV2 1000 keys p50"),
        ("list_deep_page", "ListObjectsV2 StartAfter middle p50"),
        ("list_prefix", "ListObjectsV2 Prefix p3/ p50"),
    ):
        row(label, None, nim[key]["p50_ms"], mo[key]["p50_ms"], "ms", ",.2f")
        row(label.replace("p50", "p99"), None, nim[key]["p99_ms"], mo[key]["p99_ms"], "ms",
            ",.2f")  # fmt: skip
    fill_label = f"create keys (lean client, {FILL_THREADS} threads)"
    row(fill_label, None, nim["fill"]["per_s"], mo["fill"]["per_s"], "keys/s", ",.0f")
    console.print(table)
    console.print(f"load average at start: {results['host']['loadavg_at_start']:.1f}")
    console.print(
        f"fill of {nim['fill']['keys']:,} keys: Nimbus {nim['fill']['s']:.1f} s, "
        f"moto {mo['fill']['s']:.1f} s; server peak RSS: Nimbus "
        f"{nim['server_max_rss_mb']:.0f} MB, moto {mo['server_max_rss_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--keys", type=int, default=None, help="keys for the listing test")
    args = parser.parse_args()
    keys = args.keys or (10_000 if args.quick else 100_000)
    results = run(args.quick, keys)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    show(results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
