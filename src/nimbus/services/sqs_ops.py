"""The message operations of the SQS service (send, receive, delete, visibility), as a
base class of SqsService: the queue-level operations live in services/sqs.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson

from nimbus.errors import (
    BatchRequestTooLong,
    MessageNotInflight,
    QueueDoesNotExist,
    ReceiptHandleIsInvalid,
    SqsError,
    SqsInvalidParameterValue,
    SqsMissingParameter,
)
from nimbus.protocol.sqs_md5 import md5_of_attributes, md5_of_body
from nimbus.services.contracts import ReceivedMessage
from nimbus.services.sqs_attrs import MAX_MESSAGE_SIZE
from nimbus.services.sqs_messages import (
    check_batch_ids,
    select_attributes,
    system_attributes,
    wire_attributes,
)
from nimbus.services.sqs_queue import INFLIGHT, Message, Queue, receipt_message_id
from nimbus.services.sqs_send import body_size, now, prepare, result, row
from nimbus.store.sqs import SqsStore

ATTEMPT_WINDOW_S = 300.0


def _invalid_handle(handle: Any) -> ReceiptHandleIsInvalid:
    return ReceiptHandleIsInvalid(
        f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )


def _range(name: str, value: Any, low: int, high: int, reason: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SqsInvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: {reason}"
        )
    return value


class MessageOps:
    store: SqsStore
    queues: dict[tuple[str, str], Queue]
    closing: bool

    def queue_by_url(self, url: Any) -> Queue:
        raise NotImplementedError

    def redrive(self, queue: Queue) -> tuple[Callable[[Message], bool] | None, int]:
        raise NotImplementedError

    # sending --------------------------------------------------------------------------
    async def send_message(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        outcome = (await self.send_entries(queue, [params], account))[0]
        if isinstance(outcome, SqsError):
            raise outcome
        return outcome

    async def send_message_batch(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        entries = check_batch_ids(params.get("Entries"), "SendMessageBatch")
        total = sum(body_size(e) for e in entries)
        if total > MAX_MESSAGE_SIZE:
            raise BatchRequestTooLong(
                f"Batch requests cannot be longer than {MAX_MESSAGE_SIZE} bytes. You have sent "
                f"{total} bytes."
            )
        outcomes = await self.send_entries(queue, entries, account)
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry, outcome in zip(entries, outcomes, strict=True):
            if isinstance(outcome, SqsError):
                failed.append(_failure(entry["Id"], outcome))
            else:
                successful.append({"Id": entry["Id"], **outcome})
        return {"Successful": successful, "Failed": failed}

    async def send_entries(
        self, queue: Queue, entries: list[dict[str, Any]], sender: str
    ) -> list[dict[str, Any] | SqsError]:
        """Each entry's result or error; the new ones are committed together first."""
        at = now()
        outcomes: list[dict[str, Any] | SqsError] = []
        fresh: list[Message] = []
        for entry in entries:
            try:
                prepared = prepare(queue, entry, sender, at)
            except SqsError as e:
                outcomes.append(e)
                continue
            if not prepared.duplicate:
                fresh.append(prepared.message)
            outcomes.append(result(queue, prepared.message))
        if fresh:
            try:
                for message in fresh:
                    message.key = self.store.new_key()
                await self.store.insert([row(queue, m) for m in fresh])
            except Exception:
                for message in fresh:  # not accepted: a retry must not be taken as a duplicate
                    if message.dedup_id is not None and message.group_id is not None:
                        queue.dedup.pop(queue.dedup_key(message.group_id, message.dedup_id), None)
                raise
            if queue.deleted:
                raise QueueDoesNotExist()
            at = now()
            for message in fresh:
                queue.add(message, at)
        return outcomes

    def restore(self, queue: Queue, r: Any, at: float) -> None:
        """One stored message back into memory (at startup)."""
        attributes = None
        if r.attributes:
            attributes = orjson.loads(r.attributes)
            for value in attributes.values():
                if "BinaryValue" in value:
                    value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
        message = Message(
            r.id, r.body, md5_of_body(r.body), attributes, md5_of_attributes(attributes),
            r.sent, r.sender, r.seq, r.visible_at, r.group_id, r.dedup_id, r.receive_count,
            r.first_receive, orjson.loads(r.extra) if r.extra else None,
        )  # fmt: skip
        message.key = r.n
        queue.next_seq = max(queue.next_seq, r.seq + 1)
        queue.add(message, at)
        if queue.fifo and r.dedup_id and r.group_id:
            queue.remember(queue.dedup_key(r.group_id, r.dedup_id), message, r.sent)

    # receiving ------------------------------------------------------------------------
    async def receive_message(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        limit = _range(
            "MaxNumberOfMessages", params.get("MaxNumberOfMessages"), 1, 10,
            "Must be between 1 and 10, if provided.",
        )  # fmt: skip
        wait = _range(
            "WaitTimeSeconds", params.get("WaitTimeSeconds"), 0, 20,
            "Must be >= 0 and <= 20, if provided.",
        )  # fmt: skip
        visibility = _range(
            "VisibilityTimeout", params.get("VisibilityTimeout"), 0, 43200,
            "Must be >= 0 and <= 43200, if provided.",
        )  # fmt: skip
        if wait is None:
            wait = queue.int_attr("ReceiveMessageWaitTimeSeconds")
        if visibility is None:
            visibility = queue.int_attr("VisibilityTimeout")
        attempt = params.get("ReceiveRequestAttemptId") if queue.fifo else None
        taken = self._repeat_attempt(queue, attempt) if attempt else None
        if taken is None:
            taken = await self.receive(queue, limit or 1, visibility, wait)
            if attempt and taken:
                at = now()
                if len(queue.attempts) >= 1024:  # forget the expired ones
                    queue.attempts = {k: v for k, v in queue.attempts.items() if v[0] > at}
                queue.attempts[attempt] = (at + ATTEMPT_WINDOW_S, taken)
        names = set(params.get("AttributeNames") or ())
        names.update(params.get("MessageSystemAttributeNames") or ())
        wanted = list(params.get("MessageAttributeNames") or ())
        messages = [self._render(queue, m, names, wanted) for m in taken]
        return {"Messages": messages} if messages else {}

    def _repeat_attempt(self, queue: Queue, attempt: str) -> list[Message] | None:
        found = queue.attempts.get(attempt)
        if found is None or found[0] <= now():
            queue.attempts.pop(attempt, None)
            return None
        messages = found[1]
        if all(m.state == INFLIGHT for m in messages):
            return messages
        return None

    async def receive(
        self, queue: Queue, limit: int, visibility: float, wait: float
    ) -> list[Message]:
        """Long polling: returns as soon as there is at least one message, or after `wait`."""
        deadline = time.monotonic() + wait
        move, max_receives = self.redrive(queue)
        while True:
            taken = queue.take(limit, visibility, now(), move, max_receives)
            if taken or queue.deleted or self.closing:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            due = queue.next_due()
            if due is not None:
                remaining = min(remaining, max(0.0, due - now()) + 0.001)
            queue.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.changed.wait(), remaining)
        if queue.deleted:
            raise QueueDoesNotExist()
        for message in taken:
            self.store.received(message.key, message.receive_count, message.first_receive)
        return taken

    def _render(
        self, queue: Queue, message: Message, names: set[str], wanted: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": message.id,
            "ReceiptHandle": message.receipt,
            "MD5OfBody": message.md5_body,
            "Body": message.body,
        }
        if names:
            system = system_attributes(message, names, queue.fifo)
            if system:
                out["Attributes"] = system
        selected = select_attributes(message.attributes, wanted)
        if selected:
            out["MD5OfMessageAttributes"] = md5_of_attributes(selected)
            out["MessageAttributes"] = wire_attributes(selected)
        return out

    def received_message(self, queue: Queue, message: Message) -> ReceivedMessage:
        return ReceivedMessage(
            message.id,
            message.receipt or "",
            message.body,
            message.md5_body,
            system_attributes(message, {"All"}, queue.fifo),
            dict(message.attributes or {}),
            message.md5_attributes,
        )

    # deleting and visibility --------------------------------------------------------
    def delete_handle(self, queue: Queue, handle: Any) -> None:
        message_id = receipt_message_id(handle) if isinstance(handle, str) else None
        if message_id is None:
            raise _invalid_handle(handle)
        message = queue.messages.get(message_id)
        if message is None or (queue.fifo and message.receipt != handle):
            return  # already gone, or a stale handle of a FIFO message: AWS succeeds too
        queue.remove(message)
        self.store.delete([message.key])

    async def delete_message(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        handle = params.get("ReceiptHandle")
        if not handle:
            raise SqsMissingParameter("The request must contain the parameter ReceiptHandle.")
        self.delete_handle(queue, handle)
        return {}

    async def delete_message_batch(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        entries = check_batch_ids(params.get("Entries"), "DeleteMessageBatch")
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                self.delete_handle(queue, entry.get("ReceiptHandle"))
            except SqsError as e:
                failed.append(_failure(entry["Id"], e))
                continue
            successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}

    def _change_visibility(self, queue: Queue, handle: Any, timeout: Any) -> None:
        message_id = receipt_message_id(handle) if isinstance(handle, str) else None
        if message_id is None:
            raise _invalid_handle(handle)
        if timeout is None:
            raise SqsMissingParameter("The request must contain the parameter VisibilityTimeout.")
        _range("VisibilityTimeout", timeout, 0, 43200, "Must be between 0 and 43200, if provided.")
        message = queue.messages.get(message_id)
        if message is None or message.state != INFLIGHT or message.receipt != handle:
            raise MessageNotInflight()
        queue.change_visibility(message, float(timeout), now())

    async def change_message_visibility(
        self, account: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        self._change_visibility(queue, params.get("ReceiptHandle"), params.get("VisibilityTimeout"))
        return {}

    async def change_message_visibility_batch(
        self, account: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        entries = check_batch_ids(params.get("Entries"), "ChangeMessageVisibilityBatch")
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                self._change_visibility(
                    queue, entry.get("ReceiptHandle"), entry.get("VisibilityTimeout", 0)
                )
            except SqsError as e:
                failed.append(_failure(entry["Id"], e))
                continue
            successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}


def _failure(entry_id: str, error: SqsError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": True, "Code": error.code, "Message": error.message}
