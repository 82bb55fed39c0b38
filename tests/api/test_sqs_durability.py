"""Nothing an SQS client was told was sent is lost to kill -9: concurrent senders (single
and batch), a consumer deleting as it goes, the server SIGKILLed mid-stream, restarted on
the same data directory; then everything is received and deleted. Lost acknowledged
messages must be 0; duplicates (deletes written behind and lost) are counted and shown."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from e2e import NimbusServer, unique


def send_until_killed(client: Any, url: str, worker: int, acked: list[str]) -> None:
    """Bodies go into `acked` only once the server answered 200."""
    n = 0
    while True:
        try:
            if n % 2:
                bodies = [f"w{worker}-{n}-{k}" for k in range(10)]
                result = client.send_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(k), "MessageBody": b} for k, b in enumerate(bodies)],
                )
                assert not result["Failed"]
                acked.extend(bodies)
            else:
                body = f"w{worker}-{n}"
                client.send_message(QueueUrl=url, MessageBody=body)
                acked.append(body)
        except Exception:  # the server is gone: stop
            return
        n += 1


def consume_until_killed(client: Any, url: str, seen: list[str]) -> None:
    while True:
        try:
            got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            seen.extend(m["Body"] for m in got)
            if got:
                client.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )
        except Exception:
            return


def drain(client: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        bodies += [m["Body"] for m in messages]
        client.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


def test_acknowledged_sends_survive_kill_9(make_server: Any, tmp_path: Path) -> None:
    server: NimbusServer = make_server()
    client = server.client("sqs", max_pool_connections=32, connect_timeout=2, read_timeout=5)
    url = client.create_queue(QueueName=unique("durable"), Attributes={"VisibilityTimeout": "60"})[
        "QueueUrl"
    ]
    acked: list[str] = []
    consumed: list[str] = []
    threads = [
        threading.Thread(target=send_until_killed, args=(client, url, w, acked)) for w in range(12)
    ]
    threads.append(threading.Thread(target=consume_until_killed, args=(client, url, consumed)))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 3000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.process is not None
    server.process.kill()  # kill -9 while sends are in flight
    server.process.wait()
    for t in threads:
        t.join(30)
    acknowledged = set(acked)
    assert len(acknowledged) == len(acked) >= 1000, "too few sends before the kill to test much"

    server.start()
    after = drain(server.client("sqs"), url)
    received = Counter(consumed) + Counter(after)
    lost = acknowledged - set(received)
    duplicates = sum(c - 1 for c in received.values() if c > 1)
    redelivered = len(set(consumed) & set(after))
    unacknowledged = len(set(received) - acknowledged)  # committed, reply lost to the kill
    print(
        f"\nSQS kill -9: {len(acknowledged)} acknowledged sends, {len(consumed)} consumed "
        f"before the kill, {len(after)} after the restart; lost {len(lost)}, duplicates "
        f"{duplicates} ({redelivered} redelivered after the restart), {unacknowledged} "
        "unacknowledged but stored"
    )
    assert not lost, f"lost {len(lost)} acknowledged messages, e.g. {sorted(lost)[:5]}"
