"""The Celery side of bench/async_bench.py: a Redis-brokered app with two tiny tasks.

The worker runs as `celery -A bench.celery_app worker ...` (cwd: the repository); the
benchmark imports this module as `celery_app`, so tasks carry explicit names. Everything
lives in Redis database 15 under keys containing `nimbus-bench`, which the benchmark
deletes before and after its run.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("NIMBUS_BENCH_REDIS", "redis://127.0.0.1:6379/15")
QUEUE = "nimbus-bench"
STAMPS = "nimbus-bench:stamps"  # "<i> <time.time() at task start>" per stamp task
DONE = "nimbus-bench:done"  # a counter the no-op task increments (to time the drain)

app = Celery("nimbus_bench", broker=BROKER)
app.conf.update(
    task_ignore_result=True,  # no result backend: delay() is fire-and-forget, like Event
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_store: redis.Redis | None = None


def store() -> redis.Redis:
    """One Redis connection per worker process (created after the prefork fork)."""
    global _store
    if _store is None:
        _store = redis.Redis.from_url(BROKER)
    return _store


@app.task(name="bench.noop")
def noop() -> None:
    store().incr(DONE)


@app.task(name="bench.stamp")
def stamp(i: int) -> None:
    started = time.time()
    store().rpush(STAMPS, f"{i} {started!r}")
