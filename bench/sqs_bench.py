"""SQS benchmark (issue 5): Nimbus' SQS next to Redis and RabbitMQ, same workloads.

    .venv/bin/python bench/sqs_bench.py [--quick]

Nimbus: `nimbus server --auth sigv4` on a free 127.0.0.1 port, a standard queue; every
request is SigV4-signed (JSON 1.0 protocol, what boto3 sends) and every 200 to a send means
the message was committed to SQLite (WAL, group commit) first.

Workloads, each at several concurrency levels (connections, split over 2 client
processes running asyncio + uvloop, or threads for pika), 128-byte bodies:
  send    one message per request (SendMessage / XADD / basic_publish + confirm)
  batch   ten messages per request (SendMessageBatch / 10 pipelined XADD / 10 publishes
          in one AMQP transaction, which RabbitMQ makes durable before commit-ok)
  recv    receive up to 10 and delete them (ReceiveMessage + DeleteMessageBatch /
          XREADGROUP COUNT 10 + XACK + XDEL / basic_consume prefetch 10 + multiple ack)

Redis (127.0.0.1:6379, db 15, a stream) runs as configured on this machine (its
appendonly/appendfsync settings are recorded: without AOF it is not durable). RabbitMQ
(127.0.0.1:5672, guest): a durable queue, persistent messages, publisher confirms.

Prints a table and writes bench/results/sqs.json. Servers are stopped and the Redis
stream and RabbitMQ queue deleted at the end; all traffic is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pika  # type: ignore[import-untyped]
import redis
import redis.asyncio as aredis
import uvloop
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from http_bench import free_port, process_cpu_seconds, server
from nimbus.services.accounts import load_credentials

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "sqs.json"
REGION = "us-east-1"
CONCURRENCY = (4, 16, 64)
PROCESSES = 2
BODY = "x" * 128
GOAL = 10_000.0  # messages/s batched (the SQS -> Lambda goal of issue 5)
STREAM = "nimbus-bench-sqs"
RABBIT_QUEUE = "nimbus-bench-sqs"
console = Console() if sys.stdout.isatty() else Console(width=150)


# --- a small SigV4-signing HTTP/1.1 client (the load generator must stay cheap) --------------
class Signer:
    def __init__(self, key: str, secret: str, host: str) -> None:
        self.key = key
        self.secret = secret
        self.host = host
        self._day = ""
        self._signing_key = b""

    def headers(self, target: str, body: bytes) -> str:
        now = time.gmtime()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
        day = amz_date[:8]
        if day != self._day:
            k = hmac.digest(("AWS4" + self.secret).encode(), day.encode(), "sha256")
            for part in (REGION, "sqs", "aws4_request"):
                k = hmac.digest(k, part.encode(), "sha256")
            self._day, self._signing_key = day, k
        canonical = (
            f"POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:{self.host}\n"
            f"x-amz-date:{amz_date}\nx-amz-target:AmazonSQS.{target}\n\n"
            f"content-type;host;x-amz-date;x-amz-target\n{hashlib.sha256(body).hexdigest()}"
        )
        scope = f"{day}/{REGION}/sqs/aws4_request"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest}"
        signature = hmac.new(self._signing_key, to_sign.encode(), "sha256").hexdigest()
        return (
            f"POST / HTTP/1.1\r\nHost: {self.host}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"X-Amz-Date: {amz_date}\r\nX-Amz-Target: AmazonSQS.{target}\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential={self.key}/{scope}, "
            f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )


class SqsConnection:
    def __init__(self, port: int, signer: Signer) -> None:
        self.port = port
        self.signer = signer
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        body = orjson.dumps(params)
        self.writer.write(self.signer.headers(target, body).encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"{target}: {status} {payload[:300]!r}")
        result: dict[str, Any] = orjson.loads(payload) if payload else {}
        return result


# --- one worker process: `tasks` concurrent loops until `stop_at` ----------------------------
def worker(
    system: str, workload: str, tasks: int, start_at: float, stop_at: float,
    config: dict[str, Any], out: Any,
) -> None:  # fmt: skip
    if system == "rabbitmq":
        out.put(rabbit_threads(workload, tasks, start_at, stop_at))
        return
    uvloop.install()
    out.put(asyncio.run(async_tasks(system, workload, tasks, start_at, stop_at, config)))


async def async_tasks(
    system: str, workload: str, tasks: int, start_at: float, stop_at: float, config: dict[str, Any]
) -> tuple[int, float]:
    counts = [0] * tasks
    last = [start_at] * tasks
    if system == "nimbus":
        signer = Signer(config["key"], config["secret"], f"127.0.0.1:{config['port']}")
        clients: list[Any] = [SqsConnection(config["port"], signer) for _ in range(tasks)]
        step: Callable[[Any, str, dict[str, Any], int], Awaitable[int]] = nimbus_step
    else:
        pool = aredis.ConnectionPool(host="127.0.0.1", port=6379, db=15, max_connections=tasks)
        clients = [aredis.Redis(connection_pool=pool) for _ in range(tasks)]
        step = redis_step
    await asyncio.sleep(max(0.0, start_at - time.time()))

    async def loop(i: int) -> None:
        while time.time() < stop_at:
            done = await step(clients[i], workload, config, i)
            if done < 0:  # the queue ran dry
                return
            counts[i] += done
            last[i] = time.time()

    await asyncio.gather(*(loop(i) for i in range(tasks)))
    return sum(counts), max(last)


async def nimbus_step(c: SqsConnection, workload: str, config: dict[str, Any], i: int) -> int:
    url = config["url"]
    if workload == "send":
        await c.call("SendMessage", {"QueueUrl": url, "MessageBody": BODY})
        return 1
    if workload == "batch":
        entries = [{"Id": str(k), "MessageBody": BODY} for k in range(10)]
        result = await c.call("SendMessageBatch", {"QueueUrl": url, "Entries": entries})
        if result.get("Failed"):
            raise RuntimeError(f"batch entries failed: {result['Failed']}")
        return 10
    got = (await c.call("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})).get(
        "Messages", []
    )
    if not got:
        return -1
    entries = [{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got)]
    await c.call("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
    return len(got)


async def redis_step(r: Any, workload: str, config: dict[str, Any], i: int) -> int:
    if workload == "send":
        await r.xadd(STREAM, {"body": BODY})
        return 1
    if workload == "batch":
        async with r.pipeline(transaction=False) as p:
            for _ in range(10):
                p.xadd(STREAM, {"body": BODY})
            await p.execute()
        return 10
    got = await r.xreadgroup("g", f"c{os.getpid()}-{i}", {STREAM: ">"}, count=10)
    if not got or not got[0][1]:
        return -1
    ids = [entry_id for entry_id, _ in got[0][1]]
    async with r.pipeline(transaction=False) as p:
        p.xack(STREAM, "g", *ids)
        p.xdel(STREAM, *ids)
        await p.execute()
    return len(ids)


def rabbit_threads(
    workload: str, threads: int, start_at: float, stop_at: float
) -> tuple[int, float]:
    counts = [0] * threads
    last = [start_at] * threads
    persistent = pika.BasicProperties(delivery_mode=2)

    def run(i: int) -> None:
        connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
        channel = connection.channel()
        try:
            if workload == "send":
                channel.confirm_delivery()
            elif workload == "batch":
                channel.tx_select()
            else:
                channel.basic_qos(prefetch_count=10)
            time.sleep(max(0.0, start_at - time.time()))
            if workload == "recv":
                unacked = 0
                for method, _, _ in channel.consume(RABBIT_QUEUE, inactivity_timeout=1):
                    if method is None or time.time() >= stop_at:
                        break
                    unacked += 1
                    if unacked == 10:
                        channel.basic_ack(method.delivery_tag, multiple=True)
                        counts[i] += unacked
                        unacked = 0
                        last[i] = time.time()
                channel.cancel()
                return
            while time.time() < stop_at:
                if workload == "send":
                    channel.basic_publish("", RABBIT_QUEUE, BODY, persistent)
                    counts[i] += 1
                else:
                    for _ in range(10):
                        channel.basic_publish("", RABBIT_QUEUE, BODY, persistent)
                    channel.tx_commit()
                    counts[i] += 10
                last[i] = time.time()
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts), max(last)


def measure(
    system: str, workload: str, concurrency: int, seconds: float, config: dict[str, Any]
) -> dict[str, float]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 0.5
    stop_at = start_at + seconds
    per = [concurrency // PROCESSES + (1 if k < concurrency % PROCESSES else 0)
           for k in range(PROCESSES)]  # fmt: skip
    procs = [
        ctx.Process(target=worker, args=(system, workload, n, start_at, stop_at, config, out))
        for n in per
        if n
    ]
    pids = config.get("server_pids", [])
    cpu = sum(process_cpu_seconds(pid) for pid in pids)
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    cpu = sum(process_cpu_seconds(pid) for pid in pids) - cpu
    total = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results) - start_at
    return {
        "messages": total,
        "seconds": round(elapsed, 3),
        "per_s": total / max(elapsed, 1e-9),
        # Server CPU per message: what the box can do per core, whatever else runs on it.
        "server_cpu_us_per_message": cpu * 1e6 / max(total, 1),
    }


# --- backlogs (the receive runs need enough messages waiting) -------------------------------
def top_up(system: str, backlog: Callable[[], int], target: int, config: dict[str, Any]) -> None:
    while backlog() < target:
        measure(system, "batch", 32, 2.0, config)


def rabbit_backlog() -> int:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    try:
        return int(
            connection.channel().queue_declare(RABBIT_QUEUE, durable=True).method.message_count
        )
    finally:
        connection.close()


def run_system(
    system: str, config: dict[str, Any], backlog: Callable[[], int], seconds: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"send": {}, "batch": {}, "recv": {}}
    for workload in ("send", "batch"):
        for c in CONCURRENCY:
            console.print(f"  {system}: {workload}, {c} connections")
            out[workload][str(c)] = measure(system, workload, c, seconds, config)
    for c in CONCURRENCY:
        best = max(r["per_s"] for r in out["recv"].values()) if out["recv"] else 15_000.0
        top_up(system, backlog, int(max(best, 15_000.0) * seconds * 1.5), config)
        console.print(f"  {system}: receive + delete, {c} connections")
        out["recv"][str(c)] = measure(system, "recv", c, seconds, config)
    return out


def nimbus_run(seconds: float, workdir: Path) -> dict[str, Any]:
    import boto3

    data = workdir / "data"
    port = free_port()
    argv = [str(Path(sys.executable).with_name("nimbus")), "server", "--port", str(port)]
    argv += ["--gateway-port", "0", "--data-dir", str(data), "--auth", "sigv4"]
    with server("nimbus", argv, port, workdir / "nimbus.log") as process:
        deadline = time.monotonic() + 60
        while load_credentials(data) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        found = load_credentials(data)
        assert found is not None
        client = boto3.client(
            "sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
            aws_access_key_id=found.access_key_id,
            aws_secret_access_key=found.secret_access_key,
        )  # fmt: skip
        url = client.create_queue(QueueName="bench")["QueueUrl"]
        config = {
            "port": port, "url": url, "key": found.access_key_id,
            "secret": found.secret_access_key, "server_pids": [process.pid],
        }  # fmt: skip

        def backlog() -> int:
            a = client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            return int(a["Attributes"]["ApproximateNumberOfMessages"])

        return run_system("nimbus", config, backlog, seconds)


def redis_run(seconds: float) -> dict[str, Any]:
    r = redis.Redis(db=15)
    r.delete(STREAM)
    r.xgroup_create(STREAM, "g", id="0", mkstream=True)
    try:
        info: dict[str, Any] = r.info("server")
        length: Callable[[], int] = lambda: int(r.xlen(STREAM))  # noqa: E731
        return run_system("redis", {"server_pids": [int(info["process_id"])]}, length, seconds)
    finally:
        r.delete(STREAM)


def rabbit_run(seconds: float) -> dict[str, Any]:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    channel.queue_delete(RABBIT_QUEUE)
    channel.queue_declare(RABBIT_QUEUE, durable=True)
    connection.close()
    try:
        found = subprocess.run(["pidof", "beam.smp"], capture_output=True, text=True).stdout
        config = {"server_pids": [int(p) for p in found.split()]}
        return run_system("rabbitmq", config, rabbit_backlog, seconds)
    finally:
        connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
        connection.channel().queue_delete(RABBIT_QUEUE)
        connection.close()


def redis_settings() -> dict[str, str]:
    r = redis.Redis(db=15)
    info: dict[str, Any] = r.info("server")
    out: dict[str, Any] = {"version": str(info.get("redis_version"))}
    for key in ("appendonly", "appendfsync"):
        found: Any = r.config_get(key)
        out.update({str(k): str(v) for k, v in found.items()})
    return out


def run(quick: bool) -> dict[str, Any]:
    seconds = 2.0 if quick else 5.0
    workdir = Path(tempfile.mkdtemp(prefix="nimbus-sqs-bench-"))
    results: dict[str, Any] = {
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()[0],
            "redis": redis_settings(),
        },
        "settings": {
            "seconds_per_run": seconds,
            "concurrency": list(CONCURRENCY),
            "client_processes": PROCESSES,
            "body_bytes": len(BODY),
            "nimbus": "sigv4, JSON 1.0, SQLite WAL synchronous=NORMAL, group commit",
            "redis": "stream: XADD / XREADGROUP COUNT 10 + XACK + XDEL (as configured)",
            "rabbitmq": "durable queue, persistent, confirms (send), tx of 10 (batch)",
        },
    }
    try:
        console.print("nimbus")
        results["nimbus"] = nimbus_run(seconds, workdir)
        console.print("redis")
        results["redis"] = redis_run(seconds)
        console.print("rabbitmq")
        results["rabbitmq"] = rabbit_run(seconds)
    except Exception:
        for log in sorted(workdir.glob("*.log")):
            console.print(f"[red]{log.name}[/] (last lines):", markup=True)
            console.print(log.read_text(errors="replace")[-4000:], markup=False, highlight=False)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    best_batch = max(r["per_s"] for r in results["nimbus"]["batch"].values())
    best_recv = max(r["per_s"] for r in results["nimbus"]["recv"].values())
    results["goal"] = {
        "messages_per_s": GOAL,
        "best_batch_send_per_s": best_batch,
        "best_receive_delete_per_s": best_recv,
        "met": min(best_batch, best_recv) >= GOAL,
    }
    return results


def show(results: dict[str, Any]) -> None:
    s = results["settings"]
    table = Table(
        title=(
            f"SQS: Nimbus (durable) vs Redis stream vs RabbitMQ (durable) — messages/s, "
            f"{results['host']['cpus']} CPUs, {s['seconds_per_run']:g} s/run, "
            f"Redis appendonly={results['host']['redis'].get('appendonly')}"
        )
    )
    columns = ("workload", "conns", "nimbus", "redis", "rabbitmq", "nimbus/redis",
               "nimbus/rabbitmq", "server CPU µs/msg: nimbus / redis / rabbitmq")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    names = {"send": "SendMessage", "batch": "SendMessageBatch (10)", "recv": "Receive+Delete (10)"}
    for workload, label in names.items():
        for c in s["concurrency"]:
            runs = [results[k][workload][str(c)] for k in ("nimbus", "redis", "rabbitmq")]
            n, r, q = (run_["per_s"] for run_ in runs)
            cpu = " / ".join(f"{run_['server_cpu_us_per_message']:.0f}" for run_ in runs)
            table.add_row(
                label, str(c), f"{n:,.0f}", f"{r:,.0f}", f"{q:,.0f}", f"{n / r:.2f}",
                f"{n / q:.2f}", cpu,
            )  # fmt: skip
    console.print(table)
    g = results["goal"]
    console.print(
        f"goal >= {g['messages_per_s']:,.0f} msg/s: batch send {g['best_batch_send_per_s']:,.0f}, "
        f"receive+delete {g['best_receive_delete_per_s']:,.0f} -> "
        + ("[green]met[/]" if g["met"] else "[red]not met[/]")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs")
    args = parser.parse_args()
    results = run(args.quick)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    show(results)


if __name__ == "__main__":
    main()
