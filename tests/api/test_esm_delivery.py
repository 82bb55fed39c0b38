"""Event source mappings end to end: messages sent with boto3 reach a function through the
mapping's pollers; the function logs every event it gets, and the tests read the logs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e import ACCOUNT, REGION, NimbusServer, arn, create, make_zip, unique

# Logs each event (one line), sleeps / fails / reports failures as the bodies ask.
RECORDER = textwrap.dedent(
    """
    import json, time, uuid

    BOOT = uuid.uuid4().hex

    def _parse(body):
        try:
            value = json.loads(body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def handler(event, context):
        start = time.time()
        records = event["Records"]
        asks = [_parse(r["body"]) for r in records]
        time.sleep(max([a.get("sleep", 0) for a in asks] or [0]))
        line = {"boot": BOOT, "start": start, "end": time.time(), "event": event}
        print("ESM " + json.dumps(line), flush=True)
        if any(a.get("fail") for a in asks):
            raise RuntimeError("failure requested")
        first = [r["attributes"]["ApproximateReceiveCount"] == "1" for r in records]
        return {"batchItemFailures": [
            {"itemIdentifier": r["messageId"]}
            for r, a, once in zip(records, asks, first) if a.get("partial") and once
        ]}
    """
)


def recorder(lam: Any, **fields: Any) -> str:
    name: str = create(
        lam, unique("esm-fn"), Code={"ZipFile": make_zip({"app.py": RECORDER})}, **fields
    )["FunctionName"]
    return name


def calls(logs: Any, function: str) -> list[dict[str, Any]]:
    """Every invocation the function logged, in start order."""
    group = f"/aws/lambda/{function}"
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            for item in page["events"]:
                for line in item["message"].splitlines():
                    if line.startswith("ESM "):
                        found.append(json.loads(line[4:]))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return sorted(found, key=lambda c: c["start"])


def wait_for(what: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def bodies(found: list[dict[str, Any]]) -> list[str]:
    return [r["body"] for c in found for r in c["event"]["Records"]]


class Stack:
    def __init__(self, server: NimbusServer) -> None:
        self.server = server
        self.lam = server.client(max_pool_connections=16)
        self.sqs = server.client("sqs")
        self.logs = server.client("logs")
        self.mappings: list[str] = []

    def close(self) -> None:
        """Delete the mappings made (their pollers would go on polling the session server)."""
        for mapping_id in self.mappings:
            with contextlib.suppress(self.lam.exceptions.ResourceNotFoundException):
                self.lam.delete_event_source_mapping(UUID=mapping_id)

    def queue(self, name: str | None = None, **attributes: str) -> tuple[str, str]:
        url: str = self.sqs.create_queue(QueueName=name or unique("esm-q"), Attributes=attributes)[
            "QueueUrl"
        ]
        queue_arn: str = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return url, queue_arn

    def mapping(self, function: str, queue_arn: str, **fields: Any) -> str:
        mapping_id: str = self.lam.create_event_source_mapping(
            EventSourceArn=queue_arn, FunctionName=function, **fields
        )["UUID"]
        self.mappings.append(mapping_id)
        want = "Enabled" if fields.get("Enabled", True) else "Disabled"
        assert wait_for(lambda: self.lam.get_event_source_mapping(UUID=mapping_id)["State"] == want)
        return mapping_id

    def send(self, url: str, texts: list[str], **fields: Any) -> None:
        for i in range(0, len(texts), 10):
            entries = [
                {"Id": str(n), "MessageBody": text, **fields}
                for n, text in enumerate(texts[i : i + 10])
            ]
            result = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not result.get("Failed"), result

    def visible(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture(scope="module")
def stack(server: NimbusServer) -> Iterator[Stack]:
    made = Stack(server)
    yield made
    made.close()


def test_record_fields(stack: Stack) -> None:
    function = recorder(stack.lam)
    url, queue_arn = stack.queue()
    stack.mapping(function, queue_arn)
    sent = stack.sqs.send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={
            "color": {"DataType": "String", "StringValue": "blue"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    )
    found = wait_for(lambda: calls(stack.logs, function))
    assert len(found) == 1
    (record,) = found[0]["event"]["Records"]
    assert list(record) == [
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes",
        "md5OfMessageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion",
    ]  # fmt: skip
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == "hello"
    assert record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue_arn
    assert record["awsRegion"] == REGION
    assert record["receiptHandle"]
    attributes = record["attributes"]
    assert list(attributes) == [
        "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    ]  # fmt: skip
    assert attributes["ApproximateReceiveCount"] == "1"
    assert abs(int(attributes["SentTimestamp"]) / 1000 - time.time()) < 120
    assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
    assert attributes["SenderId"]
    assert record["messageAttributes"] == {
        "color": {
            "stringValue": "blue",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {
            "binaryValue": "AQI=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert wait_for(lambda: stack.visible(url) == 0, 20)  # deleted after the success


def test_fifo_records_and_group_order(stack: Stack) -> None:
    function = recorder(stack.lam)
    url, queue_arn = stack.queue(
        unique("esm-fifo") + ".fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )
    stack.mapping(function, queue_arn, BatchSize=3)
    texts = [json.dumps({"g": g, "n": n}) for n in range(6) for g in ("a", "b")]
    for text in texts:
        stack.sqs.send_message(QueueUrl=url, MessageBody=text, MessageGroupId=json.loads(text)["g"])
    found = wait_for(lambda: len(bodies(calls(stack.logs, function))) >= 12 or None)
    assert found
    found = calls(stack.logs, function)
    record = found[0]["event"]["Records"][0]
    assert list(record["attributes"]) == [
        "ApproximateReceiveCount", "SentTimestamp", "SequenceNumber", "MessageGroupId",
        "SenderId", "MessageDeduplicationId", "ApproximateFirstReceiveTimestamp",
    ]  # fmt: skip
    for group in ("a", "b"):
        order = [json.loads(b)["n"] for b in bodies(found) if json.loads(b)["g"] == group]
        assert order == list(range(6))
    assert all(len(c["event"]["Records"]) <= 3 for c in found)


def test_batch_size_and_window(stack: Stack) -> None:
    function = recorder(stack.lam)
    url, queue_arn = stack.queue()
    # Sent before the mapping exists: the first batches are full.
    stack.send(url, [f"m{i}" for i in range(250)])
    stack.mapping(function, queue_arn, BatchSize=100, MaximumBatchingWindowInSeconds=2)
    found = wait_for(lambda: len(bodies(calls(stack.logs, function))) >= 250 or None)
    assert found
    found = calls(stack.logs, function)
    sizes = sorted((len(c["event"]["Records"]) for c in found), reverse=True)
    assert max(sizes) == 100 and sum(sizes) == 250
    assert sorted(bodies(found)) == sorted(f"m{i}" for i in range(250))

    # A trickle: the window gathers several messages into one invocation.
    before = len(found)
    started = time.time()
    for i in range(5):
        stack.sqs.send_message(QueueUrl=url, MessageBody=f"t{i}")
        time.sleep(0.2)
    found = wait_for(lambda: len(bodies(calls(stack.logs, function))) >= 255 or None)
    assert found
    late = calls(stack.logs, function)[before:]
    assert len(late) < 5  # batched, not one invocation per message
    assert late[0]["start"] - started >= 1.0  # waited for the window, not the first message


def test_small_batches(stack: Stack) -> None:
    function = recorder(stack.lam)
    url, queue_arn = stack.queue()
    stack.send(url, [f"s{i}" for i in range(7)])
    stack.mapping(function, queue_arn, BatchSize=2)
    found = wait_for(lambda: len(bodies(calls(stack.logs, function))) >= 7 or None)
    assert found
    assert all(len(c["event"]["Records"]) <= 2 for c in calls(stack.logs, function))


def test_filter_criteria(stack: Stack) -> None:
    function = recorder(stack.lam)
    url, queue_arn = stack.queue()
    patterns = [{"body": {"kind": ["order"]}}, {"body": [{"prefix": "urgent"}]}]
    stack.mapping(
        function,
        queue_arn,
        FilterCriteria={"Filters": [{"Pattern": json.dumps(p)} for p in patterns]},
    )
    texts = [
        json.dumps({"kind": "order", "n": 1}),
        json.dumps({"kind": "refund", "n": 2}),
        "urgent: plain text",
        "plain text",
    ]
    stack.send(url, texts)
    assert wait_for(lambda: stack.visible(url) == 0, 30)  # all deleted, matching or not
    time.sleep(0.5)
    assert sorted(bodies(calls(stack.logs, function))) == sorted([texts[0], texts[2]])


def test_failures_go_back_and_then_to_the_dlq(stack: Stack) -> None:
    function = recorder(stack.lam, Timeout=2)  # <= the queue's visibility
    dlq_url, dlq_arn = stack.queue()
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url, queue_arn = stack.queue(VisibilityTimeout="2", RedrivePolicy=policy)
    stack.mapping(function, queue_arn, BatchSize=1)
    stack.send(url, [json.dumps({"fail": True, "id": "bad"})])

    def in_dlq() -> Any:
        got = stack.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1)
        return got.get("Messages")

    moved = wait_for(in_dlq, 60, every=0)
    assert moved and json.loads(moved[0]["Body"])["id"] == "bad"
    found = calls(stack.logs, function)
    assert len(found) == 2  # received twice (maxReceiveCount), then moved
    counts = [c["event"]["Records"][0]["attributes"]["ApproximateReceiveCount"] for c in found]
    assert counts == ["1", "2"]
    assert found[1]["start"] - found[0]["start"] >= 1.5  # back after the visibility timeout


def test_report_batch_item_failures(stack: Stack) -> None:
    function = recorder(stack.lam, Timeout=2)  # <= the queue's visibility
    url, queue_arn = stack.queue(VisibilityTimeout="2")
    stack.mapping(
        function,
        queue_arn,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    texts = [json.dumps({"n": n, "partial": n in (3, 7)}) for n in range(10)]
    stack.send(url, texts)
    found = wait_for(lambda: len(bodies(calls(stack.logs, function))) >= 12 or None, 60)
    assert found
    time.sleep(4)  # a wrong retry of the others would show by now
    seen = [json.loads(b)["n"] for b in bodies(calls(stack.logs, function))]
    assert sorted(seen[:10]) == list(range(10))
    assert sorted(seen[10:]) == [3, 7]  # only the reported ones came back, once


def test_disable_and_enable(stack: Stack) -> None:
    function = recorder(stack.lam)
    url, queue_arn = stack.queue()
    mapping_id = stack.mapping(function, queue_arn)
    stack.send(url, ["one"])
    assert wait_for(lambda: bodies(calls(stack.logs, function)) == ["one"])
    stack.lam.update_event_source_mapping(UUID=mapping_id, Enabled=False)
    assert wait_for(
        lambda: stack.lam.get_event_source_mapping(UUID=mapping_id)["State"] == "Disabled"
    )
    stack.send(url, ["two"])
    time.sleep(3)
    assert bodies(calls(stack.logs, function)) == ["one"]
    assert stack.visible(url) == 1
    stack.lam.update_event_source_mapping(UUID=mapping_id, Enabled=True)
    assert wait_for(lambda: bodies(calls(stack.logs, function)) == ["one", "two"])


def test_maximum_concurrency(stack: Stack) -> None:
    function = recorder(stack.lam)
    url, queue_arn = stack.queue()
    stack.send(url, [json.dumps({"sleep": 1.0, "n": n}) for n in range(12)])
    stack.mapping(function, queue_arn, BatchSize=1, ScalingConfig={"MaximumConcurrency": 2})
    assert wait_for(lambda: len(calls(stack.logs, function)) >= 12 or None, 90)
    found = calls(stack.logs, function)
    edges = sorted([(c["start"], 1) for c in found] + [(c["end"], -1) for c in found])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak == 2  # scaled up to the limit, never past it
    assert len({c["boot"] for c in found}) <= 2


def test_mapping_survives_restart(make_server: Callable[..., NimbusServer]) -> None:
    server = make_server()
    stack = Stack(server)
    function = recorder(stack.lam)
    url, queue_arn = stack.queue()
    mapping_id = stack.mapping(function, queue_arn, BatchSize=5)
    stack.send(url, ["before"])
    assert wait_for(lambda: bodies(calls(stack.logs, function)) == ["before"])
    server.stop()
    server.start()
    stack = Stack(server)
    got = stack.lam.get_event_source_mapping(UUID=mapping_id)
    assert got["State"] == "Enabled" and got["BatchSize"] == 5
    assert got["FunctionArn"] == arn(function)
    assert got["EventSourceMappingArn"].endswith(f":{ACCOUNT}:event-source-mapping:{mapping_id}")
    stack.send(url, ["after"])
    assert wait_for(lambda: bodies(calls(stack.logs, function)) == ["before", "after"])


def test_deleted_queue_or_function_stops_delivery_quietly(
    make_server: Callable[..., NimbusServer],
) -> None:
    server = make_server()
    stack = Stack(server)
    gone_fn = recorder(stack.lam)
    url, queue_arn = stack.queue()
    stack.mapping(gone_fn, queue_arn)
    stack.sqs.delete_queue(QueueUrl=url)
    # The function of another mapping goes away: its messages stay in the queue.
    orphan = recorder(stack.lam)
    kept_url, kept_arn = stack.queue()
    stack.mapping(orphan, kept_arn)
    stack.lam.delete_function(FunctionName=orphan)
    time.sleep(2.5)  # a receive already waiting (1 s long polls) may still take one
    stack.send(kept_url, ["waits"])
    time.sleep(4)
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=kept_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"  # not even received
    # Still serving: a healthy mapping delivers, and nothing crashed on the way.
    healthy = recorder(stack.lam)
    url3, arn3 = stack.queue()
    stack.mapping(healthy, arn3)
    stack.send(url3, ["fine"])
    assert wait_for(lambda: bodies(calls(stack.logs, healthy)) == ["fine"])
    assert "Traceback" not in server.log()
