"""The SQS service over a real SQLite file, through the interfaces other services use
(QueueSink, QueueConsumer, the destinations deliverer), and across restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from nimbus.errors import QueueDoesNotExist
from nimbus.services.sqs import SqsService
from nimbus.store.sqlite import Database
from nimbus.store.sqs import SqsStore

A = "000000000000"
ENDPOINT = "http://127.0.0.1:8900"


def arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{A}:{name}"


async def open_service(path: Path) -> tuple[Database, SqsService]:
    db = await Database.open(path)
    service = SqsService(SqsStore(db), ENDPOINT, "us-east-1")
    await service.start()
    return db, service


async def close(db: Database, service: SqsService) -> None:
    await service.close()
    await db.close()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_sink_and_consumer_interfaces(tmp_path: Path) -> None:
    async def test() -> None:
        db, sqs = await open_service(tmp_path / "n.db")
        await sqs.create_queue(A, {"QueueName": "work"})
        ids = [await sqs.send_to_arn(A, arn("work"), f"m{i}") for i in range(300)]
        assert len(set(ids)) == 300
        assert await sqs.backlog(arn("work")) == 300
        got = await sqs.receive_batch(arn("work"), 1000)  # not capped at 10
        assert len(got) == 300
        assert {m.message_id for m in got} == set(ids)
        first = got[0]
        assert first.attributes["ApproximateReceiveCount"] == "1"
        assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
            first.attributes
        )
        assert await sqs.backlog(arn("work")) == 0
        await sqs.delete_batch(arn("work"), [m.receipt_handle for m in got])
        attributes = await sqs.get_queue_attributes(
            A, {"QueueUrl": f"{ENDPOINT}/{A}/work", "AttributeNames": ["All"]}
        )
        assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
        with pytest.raises(QueueDoesNotExist):
            await sqs.send_to_arn(A, arn("missing"), "x")
        with pytest.raises(QueueDoesNotExist):
            await sqs.receive_batch(arn("missing"), 1)
        await close(db, sqs)

    run(test)


def test_receive_batch_waits_for_the_first_message(tmp_path: Path) -> None:
    async def test() -> None:
        db, sqs = await open_service(tmp_path / "n.db")
        await sqs.create_queue(A, {"QueueName": "w"})
        waiter = asyncio.create_task(sqs.receive_batch(arn("w"), 10, wait_s=5))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        await sqs.send_to_arn(A, arn("w"), "late")
        got = await asyncio.wait_for(waiter, 2)
        assert [m.body for m in got] == ["late"]
        await close(db, sqs)

    run(test)


def test_destination_deliverer_turns_attributes_into_message_attributes(tmp_path: Path) -> None:
    async def test() -> None:
        db, sqs = await open_service(tmp_path / "n.db")
        await sqs.create_queue(A, {"QueueName": "dlq"})
        record = json.dumps({"k": 1}).encode()
        attributes = {"RequestID": "r-1", "ErrorCode": "200", "ErrorMessage": "boom"}
        await sqs.deliver(A, arn("dlq"), record, attributes)
        got = await sqs.receive_batch(arn("dlq"), 10)
        assert got[0].body == '{"k": 1}'
        assert got[0].message_attributes == {
            "RequestID": {"DataType": "String", "StringValue": "r-1"},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},  # as AWS' DLQ messages
            "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
        }
        assert got[0].md5_of_message_attributes
        await close(db, sqs)

    run(test)


def test_restart_restores_messages_counts_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "n.db"

    async def first() -> dict[str, Any]:
        db, sqs = await open_service(path)
        url = (await sqs.create_queue(A, {"QueueName": "r", "Attributes": {"DelaySeconds": "0"}}))[
            "QueueUrl"
        ]
        binary = {"b": {"DataType": "Binary", "BinaryValue": "AAE="}}
        await sqs.send_message(
            A, {"QueueUrl": url, "MessageBody": "kept", "MessageAttributes": binary}
        )
        await sqs.send_message(A, {"QueueUrl": url, "MessageBody": "deleted"})
        await sqs.send_message(A, {"QueueUrl": url, "MessageBody": "later", "DelaySeconds": 600})
        got = (await sqs.receive_message(A, {"QueueUrl": url, "MaxNumberOfMessages": 10}))[
            "Messages"
        ]
        for message in got:
            if message["Body"] == "deleted":
                await sqs.delete_message(
                    A, {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]}
                )
        await close(db, sqs)  # flushes the written-behind delete and receive counts
        return {"url": url}

    async def second(url: str) -> None:
        db, sqs = await open_service(path)
        attributes = (
            await sqs.get_queue_attributes(A, {"QueueUrl": url, "AttributeNames": ["All"]})
        )["Attributes"]
        # The in-flight message is visible again; the delayed one is still delayed.
        assert attributes["ApproximateNumberOfMessages"] == "1"
        assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
        got = (
            await sqs.receive_message(
                A,
                {"QueueUrl": url, "AttributeNames": ["All"], "MessageAttributeNames": ["All"]},
            )
        )["Messages"]
        assert [m["Body"] for m in got] == ["kept"]
        assert got[0]["Attributes"]["ApproximateReceiveCount"] == "2"
        assert got[0]["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01"
        await close(db, sqs)

    state: dict[str, Any] = {}

    async def both() -> None:
        state.update(await first())
        await second(state["url"])

    run(both)
