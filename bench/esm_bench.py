"""SQS -> Lambda benchmark (issue 5): event source mappings next to Redis and RabbitMQ.

    .venv/bin/python bench/esm_bench.py [--quick]

Nimbus: `nimbus server` (auth sigv4) on a free 127.0.0.1 port, a no-op Python function
(MemorySize 1769) that prints one line per batch ("B <records>"), a stamp function that
prints time.time() first thing per record.

1. Messages/s end to end, batched: P producer processes x T threads send N messages with
   SendMessageBatch (10 per call, signed raw HTTP: the client is not what we measure)
   while the mapping consumes them; rate = N / (first send -> last record handed to the
   function, from the "B" lines). Runs: BatchSize 10 (no window), BatchSize 100 and 1000
   with MaximumBatchingWindowInSeconds=1.
2. Latency, send -> function start: single SendMessage calls spaced apart; the function's
   time.time() minus the client's time.time() before SendMessage (same clock).

Redis (what a user would pick instead): a list; producers RPUSH 10 messages per call,
W worker processes LPOP up to BatchSize (BLPOP when empty) and run the same handler on an
SQS-shaped event. No acknowledgement: a worker crash loses its batch.
RabbitMQ: a durable queue, persistent messages, publisher confirms (as SQS: durable when
the send returns); W pika consumers with prefetch = BatchSize ack each batch (multiple).

Prints a table and writes bench/results/esm.json. Every server and worker is stopped at
the end; all traffic is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pika  # type: ignore[import-untyped]
import redis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from async_bench import create_function, wait_until
from floors import summary
from http_bench import free_port, newest_python_runtime, process_cpu_seconds, server
from nimbus.services.accounts import load_credentials

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "esm.json"
REGION = "us-east-1"
NOOP_FN = "bench-esm-noop"
STAMP_FN = "bench-esm-stamp"
NOOP = "def handler(e, c):\n    print('B', len(e['Records']))\n"
STAMP = (
    "import json, time\n\n\n"
    "def handler(e, c):\n"
    "    started = time.time()\n"
    "    for r in e['Records']:\n"
    "        print('S', json.loads(r['body'])['i'], repr(started))\n"
)
# Log files hold "<ms timestamp>\t<line>" per line.
BATCH_LINE = re.compile(rb"\tB (\d+)$", re.M)
STAMP_LINE = re.compile(r"\tS (-?\d+) ([0-9.e+-]+)$", re.M)
RUNS = ((10, 0), (100, 1), (1000, 1))  # (BatchSize, MaximumBatchingWindowInSeconds)
PRODUCERS = 2
SENDERS = int(os.environ.get("ESM_BENCH_SENDERS", "32"))  # threads per producer process
WORKERS = 2  # Redis / RabbitMQ consumer processes
GOAL = 10_000.0
REDIS_URL = "redis://127.0.0.1:6379/15"
RABBIT = pika.ConnectionParameters("127.0.0.1")
console = Console() if sys.stdout.isatty() else Console(width=150)


def body(i: int) -> str:
    return json.dumps({"i": i, "pad": "x" * 80})


def handler(event: dict[str, Any], context: Any) -> None:
    """The no-op handler the Redis and RabbitMQ workers run (as the function does)."""
    len(event["Records"])


def records(bodies: list[str]) -> dict[str, Any]:
    return {"Records": [{"body": b, "eventSource": "bench"} for b in bodies]}


# nimbus -------------------------------------------------------------------------------------
class SqsSender:
    """SendMessage(Batch) over one keep-alive connection, signed per request (JSON protocol)."""

    def __init__(self, port: int, credentials: Credentials, queue_url: str) -> None:
        self.port, self.credentials, self.url = port, credentials, queue_url
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps({"QueueUrl": self.url, **params}).encode()
        request = AWSRequest(
            method="POST",
            url=f"http://127.0.0.1:{self.port}/",
            data=data,
            headers={
                "Host": f"127.0.0.1:{self.port}",
                "X-Amz-Target": f"AmazonSQS.{target}",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        SigV4Auth(self.credentials, "sqs", REGION).add_auth(request)
        self.conn.request("POST", "/", data, {k: str(v) for k, v in request.headers.items()})
        response = self.conn.getresponse()
        raw = response.read()
        if response.status != 200:
            raise RuntimeError(f"{target}: {response.status} {raw[:300]!r}")
        result: dict[str, Any] = json.loads(raw)
        return result

    def send_batch(self, texts: list[str]) -> None:
        entries = [{"Id": str(k), "MessageBody": t} for k, t in enumerate(texts)]
        out = self.call("SendMessageBatch", {"Entries": entries})
        if out.get("Failed"):
            raise RuntimeError(f"SendMessageBatch failed: {out['Failed'][:2]}")


def split(start: int, n: int, parts: int) -> list[tuple[int, int]]:
    """[start, start + n) in `parts` consecutive (first, count) ranges, sizes within 1."""
    sizes = [n // parts + (1 if k < n % parts else 0) for k in range(parts)]
    return [(start + sum(sizes[:k]), sizes[k]) for k in range(parts)]


def threaded(send: Callable[[int, int], None], start: int, n: int) -> None:
    """SENDERS threads share [start, start + n): each waits for its own sends' replies."""
    threads = [
        threading.Thread(target=send, args=(first, count))
        for first, count in split(start, n, SENDERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def nimbus_producer(port: int, key: tuple[str, str], url: str, start: int, n: int) -> None:
    def send(first: int, count: int) -> None:
        sender = SqsSender(port, Credentials(*key), url)
        for i in range(first, first + count, 10):
            sender.send_batch([body(j) for j in range(i, min(i + 10, first + count))])

    threaded(send, start, n)


def children_cpu() -> float:
    """CPU seconds of this process' finished children (the producer processes)."""
    times = os.times()
    return times.children_user + times.children_system


def handed_out(data: Path, function: str) -> int:
    """Records handed to `function` so far (its "B <n>" log lines)."""
    total = 0
    for path in data.glob(f"logs/*{function}/*.log"):
        total += sum(int(m) for m in BATCH_LINE.findall(path.read_bytes()))
    return total


def produce(target: Callable[..., None], args: tuple[Any, ...], n: int) -> list[mp.Process]:
    procs = [
        mp.Process(target=target, args=(*args, first, count), daemon=True)
        for first, count in split(0, n, PRODUCERS)
    ]
    for p in procs:
        p.start()
    return procs


def nimbus_throughput(
    port: int, key: tuple[str, str], clients: dict[str, Any], data: Path, n: int, pid: int
) -> dict[str, Any]:
    return {
        str(batch): nimbus_run(port, key, clients, data, n, batch, window, pid)
        for batch, window in RUNS
    }


def nimbus_run(
    port: int,
    key: tuple[str, str],
    clients: dict[str, Any],
    data: Path,
    n: int,
    batch: int,
    window: int,
    pid: int,
) -> dict[str, Any]:
    sqs, lam = clients["sqs"], clients["lambda"]
    url = sqs.create_queue(QueueName=f"bench-{batch}-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=NOOP_FN,
        BatchSize=batch,
        MaximumBatchingWindowInSeconds=window,
        Enabled=False,
    )["UUID"]

    def state_is(state: str) -> Callable[[], bool]:
        return lambda: lam.get_event_source_mapping(UUID=mapping)["State"] == state

    # Drain: the queue is filled first, then the mapping is enabled (the consumer alone).
    wait_until(state_is("Disabled"), "disable", 30)
    for p in produce(nimbus_producer, (port, key, url), n):
        p.join()
    before = handed_out(data, NOOP_FN)
    start = time.time()
    lam.update_event_source_mapping(UUID=mapping, Enabled=True)
    wait_until(lambda: handed_out(data, NOOP_FN) - before >= n, f"nimbus drain {batch}")
    drain_s = time.time() - start
    # End to end: producers and the mapping at the same time.
    before = handed_out(data, NOOP_FN)
    start = time.time()
    server_cpu, clients_cpu = process_cpu_seconds(pid), children_cpu()
    for p in produce(nimbus_producer, (port, key, url), n):
        p.join()
    sent_s = time.time() - start
    clients_cpu = children_cpu() - clients_cpu
    wait_until(lambda: handed_out(data, NOOP_FN) - before >= n, f"nimbus batch {batch}")
    elapsed = time.time() - start
    server_cpu = process_cpu_seconds(pid) - server_cpu
    lam.delete_event_source_mapping(UUID=mapping)
    return {
        "batch_size": batch,
        "window_s": window,
        "messages": n,
        "seconds": round(elapsed, 3),
        "per_s": n / elapsed,
        "send_per_s": n / sent_s,
        "drain_per_s": n / drain_s,
        # Where the 2 cores went during the end-to-end run (environments not included).
        "server_cpu_s": round(server_cpu, 2),
        "producers_cpu_s": round(clients_cpu, 2),
    }


def nimbus_latency(
    port: int, key: tuple[str, str], clients: dict[str, Any], data: Path, n: int, gap: float
) -> list[float]:
    sqs, lam = clients["sqs"], clients["lambda"]
    url = sqs.create_queue(QueueName="bench-latency")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=STAMP_FN, BatchSize=10)
    sender = SqsSender(port, Credentials(*key), url)
    sent: dict[int, float] = {}

    def stamps() -> dict[int, float]:
        found: dict[int, float] = {}
        for path in data.glob(f"logs/*{STAMP_FN}/*.log"):
            for m in STAMP_LINE.finditer(path.read_text(errors="replace")):
                found.setdefault(int(m.group(1)), float(m.group(2)))
        return found

    for i in range(-5, n):  # negative: warm-up, not measured
        sent[i] = time.time()
        sender.call("SendMessage", {"MessageBody": body(i)})
        if i == -1:
            wait_until(lambda: -1 in stamps(), "nimbus warm-up", 60)
        time.sleep(gap)
    wait_until(lambda: len(stamps()) >= n + 5, "nimbus stamps", 60)
    found = stamps()
    return [(found[i] - sent[i]) * 1000 for i in range(n)]


# redis --------------------------------------------------------------------------------------
def redis_producer(key: str, start: int, n: int) -> None:
    def send(first: int, count: int) -> None:
        r = redis.Redis.from_url(REDIS_URL)
        for i in range(first, first + count, 10):
            r.rpush(key, *[body(j) for j in range(i, min(i + 10, first + count))])

    threaded(send, start, n)


def redis_worker(key: str, batch: int, done: str, stamps: str | None) -> None:
    r = redis.Redis.from_url(REDIS_URL)
    while True:
        items: Any = r.lpop(key, batch)
        if not items:
            popped: Any = r.blpop([key], timeout=1)
            if popped is None:
                continue
            items = [popped[1]]
        started = time.time()
        bodies = [x.decode() for x in items]
        handler(records(bodies), None)
        if stamps:
            r.rpush(stamps, *[f"{json.loads(b)['i']} {started!r}" for b in bodies])
        r.incrby(done, len(bodies))


def stop_all(workers: list[mp.Process]) -> None:
    for w in workers:
        w.terminate()
        w.join(10)


def redis_run(n: int, n_latency: int, gap: float) -> dict[str, Any]:
    r = redis.Redis.from_url(REDIS_URL)
    out: dict[str, Any] = {"throughput": {}}
    key, done, stamps = "esm-bench:q", "esm-bench:done", "esm-bench:stamps"
    r.delete(key, done, stamps)
    for batch, _ in RUNS:
        workers = [
            mp.Process(target=redis_worker, args=(key, batch, done, None), daemon=True)
            for _ in range(WORKERS)
        ]
        for w in workers:
            w.start()
        r.set(done, 0)
        start = time.time()
        for p in produce(redis_producer, (key,), n):
            p.join()
        wait_until(lambda: int(r.get(done) or 0) >= n, f"redis batch {batch}")
        elapsed = time.time() - start
        out["throughput"][str(batch)] = {"messages": n, "seconds": elapsed, "per_s": n / elapsed}
        stop_all(workers)
    worker = mp.Process(target=redis_worker, args=(key, 10, done, stamps), daemon=True)
    worker.start()
    sent: dict[int, float] = {}
    for i in range(-5, n_latency):
        sent[i] = time.time()
        r.rpush(key, body(i))
        time.sleep(gap)
    wait_until(lambda: int(r.llen(stamps)) >= n_latency + 5, "redis stamps", 60)
    raw: Any = r.lrange(stamps, 0, -1)
    found = {int(a): float(b) for a, b in (x.decode().split() for x in raw)}
    out["start_latency"] = summary([(found[i] - sent[i]) * 1000 for i in range(n_latency)])
    stop_all([worker])
    r.delete(key, done, stamps)
    return out


# rabbitmq -----------------------------------------------------------------------------------
QUEUE = "esm-bench"


def rabbit_producer(start: int, n: int) -> None:
    def send(first: int, count: int) -> None:
        connection = pika.BlockingConnection(RABBIT)
        channel = connection.channel()
        channel.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=2)
        for i in range(first, first + count):
            channel.basic_publish("", QUEUE, body(i).encode(), persistent)
        connection.close()

    threaded(send, start, n)


def rabbit_worker(batch: int, counter: Any, stamps: Any) -> None:
    connection = pika.BlockingConnection(RABBIT)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=batch)
    pending: list[tuple[int, str]] = []
    for method, _, raw in channel.consume(QUEUE, inactivity_timeout=0.001):
        if method is not None:
            if raw == b"STOP":
                channel.basic_ack(method.delivery_tag)
                break
            pending.append((method.delivery_tag, raw.decode()))
            if len(pending) < batch:
                continue
        if not pending:
            continue
        started = time.time()
        bodies = [b for _, b in pending]
        handler(records(bodies), None)
        channel.basic_ack(pending[-1][0], multiple=True)
        if stamps is not None:
            for b in bodies:
                stamps.put((json.loads(b)["i"], started))
        with counter.get_lock():
            counter.value += len(pending)
        pending = []
    connection.close()


def rabbit_throughput(channel: Any, n: int, batch: int) -> dict[str, Any]:
    counter: Any = mp.Value("q", 0)
    workers = [
        mp.Process(target=rabbit_worker, args=(batch, counter, None), daemon=True)
        for _ in range(WORKERS)
    ]
    for w in workers:
        w.start()
    start = time.time()
    for p in produce(rabbit_producer, (), n):
        p.join()
    wait_until(lambda: counter.value >= n, f"rabbitmq batch {batch}")
    elapsed = time.time() - start
    stop_all(workers)
    return {"messages": n, "seconds": elapsed, "per_s": n / elapsed}


def rabbit_run(n: int, n_latency: int, gap: float) -> dict[str, Any]:
    connection = pika.BlockingConnection(RABBIT)
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True)
    channel.queue_purge(QUEUE)
    out: dict[str, Any] = {"throughput": {}}
    for batch, _ in RUNS:
        out["throughput"][str(batch)] = rabbit_throughput(channel, n, batch)
    stamps: Any = mp.Queue()
    worker = mp.Process(target=rabbit_worker, args=(10, mp.Value("q", 0), stamps), daemon=True)
    worker.start()
    sent: dict[int, float] = {}
    persistent = pika.BasicProperties(delivery_mode=2)
    channel.confirm_delivery()
    for i in range(-5, n_latency):
        sent[i] = time.time()
        channel.basic_publish("", QUEUE, body(i).encode(), persistent)
        time.sleep(gap)
    found = dict(stamps.get(timeout=60) for _ in range(n_latency + 5))
    out["start_latency"] = summary([(found[i] - sent[i]) * 1000 for i in range(n_latency)])
    stop_all([worker])
    channel.queue_delete(QUEUE)
    connection.close()
    return out


# the run ------------------------------------------------------------------------------------
def run(quick: bool, nimbus_only: bool = False) -> dict[str, Any]:
    n, n_latency, gap = (6_000, 30, 0.05) if quick else (60_000, 200, 0.05)
    runtime = newest_python_runtime()
    workdir = Path(tempfile.mkdtemp(prefix="nimbus-esm-bench-"))
    data = workdir / "data"
    port = free_port()
    results: dict[str, Any] = {
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()[0],
        },
        "settings": {
            "messages_per_run": n,
            "producers": PRODUCERS,
            "workers_redis_rabbitmq": WORKERS,
            "runs": [{"batch_size": b, "window_s": w} for b, w in RUNS],
            "latency_messages": n_latency,
            "latency_gap_s": gap,
            "runtime": runtime,
            "memory_mb": 1769,
        },
    }
    argv = [str(Path(sys.executable).with_name("nimbus")), "server", "--port", str(port)]
    argv += ["--gateway-port", "0", "--data-dir", str(data), "--auth", "sigv4"]
    try:
        with server("nimbus", argv, port, workdir / "nimbus.log") as process:
            wait_until(lambda: load_credentials(data) is not None, "nimbus credentials", 60)
            found = load_credentials(data)
            assert found is not None
            key = (found.access_key_id, found.secret_access_key)
            clients = {
                name: boto3.client(
                    name,
                    endpoint_url=f"http://127.0.0.1:{port}",
                    region_name=REGION,
                    aws_access_key_id=key[0],
                    aws_secret_access_key=key[1],
                    config=Config(retries={"max_attempts": 1}),
                )
                for name in ("lambda", "sqs")
            }
            console.print("nimbus: creating the functions")
            create_function(clients["lambda"], runtime, NOOP_FN, NOOP)
            create_function(clients["lambda"], runtime, STAMP_FN, STAMP)
            console.print("nimbus: send -> function start")
            samples = nimbus_latency(port, key, clients, data, n_latency, gap)
            console.print("nimbus: messages/s")
            results["nimbus"] = {
                "start_latency": summary(samples),
                "throughput": nimbus_throughput(port, key, clients, data, n, process.pid),
            }
        if nimbus_only:
            return results
        console.print("redis")
        results["redis"] = redis_run(n, n_latency, gap)
        console.print("rabbitmq")
        results["rabbitmq"] = rabbit_run(n, n_latency, gap)
    except Exception:
        for log in sorted(workdir.glob("*.log")):
            console.print(f"{log.name} (last lines):", markup=False)
            console.print(log.read_text(errors="replace")[-4000:], markup=False, highlight=False)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    best = max(t["per_s"] for t in results["nimbus"]["throughput"].values())
    best_drain = max(t["drain_per_s"] for t in results["nimbus"]["throughput"].values())
    results["ratios"] = {
        other: {
            "nimbus_over_throughput": {
                k: results["nimbus"]["throughput"][k]["per_s"] / v["per_s"]
                for k, v in results[other]["throughput"].items()
            },
            "nimbus_over_start_p50": results["nimbus"]["start_latency"]["p50_ms"]
            / results[other]["start_latency"]["p50_ms"],
        }
        for other in ("redis", "rabbitmq")
    }
    results["goal"] = {
        "messages_per_s_ge_10000": best >= GOAL,
        "best_per_s": best,
        "best_drain_per_s": best_drain,
    }
    return results


def show(results: dict[str, Any]) -> None:
    n, r, q = results["nimbus"], results["redis"], results["rabbitmq"]
    s = results["settings"]
    table = Table(
        title=(
            f"SQS -> Lambda (event source mapping) vs Redis list / RabbitMQ — "
            f"{results['host']['cpus']} CPUs, {s['messages_per_run']:,} messages/run, "
            f"{s['producers']} producers, {s['workers_redis_rabbitmq']} workers"
        )
    )
    for column in ("measure", "nimbus", "redis", "rabbitmq", "nimbus/redis", "nimbus/rabbitmq"):
        table.add_column(column)
    for k, t in n["throughput"].items():
        rr, qq = r["throughput"][k]["per_s"], q["throughput"][k]["per_s"]
        table.add_row(
            f"messages/s, BatchSize {k}, window {t['window_s']} s",
            f"{t['per_s']:,.0f}/s",
            f"{rr:,.0f}/s",
            f"{qq:,.0f}/s",
            f"{t['per_s'] / rr:.2f}x",
            f"{t['per_s'] / qq:.2f}x",
        )
        table.add_row("  nimbus: sends/s during it", f"{t['send_per_s']:,.0f}/s", "", "", "", "")
        table.add_row(
            "  nimbus: drain of a full queue", f"{t['drain_per_s']:,.0f}/s", "", "", "", ""
        )
        table.add_row(
            "  nimbus: CPU s server / producers",
            f"{t['server_cpu_s']:.1f} / {t['producers_cpu_s']:.1f} s in {t['seconds']:.1f} s",
            "",
            "",
            "",
            "",
        )
    ln, lr, lq = n["start_latency"], r["start_latency"], q["start_latency"]
    table.add_row(
        f"send -> handler start p50 / p99 (n={ln['n']})",
        f"{ln['p50_ms']:.1f} / {ln['p99_ms']:.1f} ms",
        f"{lr['p50_ms']:.1f} / {lr['p99_ms']:.1f} ms",
        f"{lq['p50_ms']:.1f} / {lq['p99_ms']:.1f} ms",
        f"{ln['p50_ms'] / lr['p50_ms']:.2f}x",
        f"{ln['p50_ms'] / lq['p50_ms']:.2f}x",
    )
    console.print(table)
    goal = results["goal"]
    console.print(
        f"Goal >= {GOAL:,.0f} messages/s batched: "
        f"{'met' if goal['messages_per_s_ge_10000'] else 'NOT met'} "
        f"(best end to end {goal['best_per_s']:,.0f}/s, best drain of a full queue "
        f"{goal['best_drain_per_s']:,.0f}/s). Redis: no acknowledgements (a crashed worker "
        "loses its batch), persistence as configured. RabbitMQ: durable queue, persistent "
        "messages, publisher confirms, acks per batch. Nimbus: messages durable before "
        "SendMessageBatch returns, deleted after the function succeeded."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    parser.add_argument(
        "--nimbus-only", action="store_true", help="print Nimbus' numbers only (no file)"
    )
    args = parser.parse_args()
    mp.set_start_method("fork")
    results = run(args.quick, args.nimbus_only)
    if args.nimbus_only:
        console.print_json(data=results["nimbus"])
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    show(results)


if __name__ == "__main__":
    main()
