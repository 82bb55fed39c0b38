"""What other services use of SQS (services/contracts.py): QueueSink for SNS, S3
notifications and destinations; QueueConsumer for event source mappings; and the
destinations' Deliverer. A base class of SqsService."""

from __future__ import annotations

from typing import Any

from nimbus.errors import SqsError
from nimbus.services import destinations
from nimbus.services.contracts import MessageAttributes, ReceivedMessage
from nimbus.services.sqs_ops import MessageOps
from nimbus.services.sqs_queue import Queue
from nimbus.services.sqs_send import now


class QueueInterfaces(MessageOps):
    def queue_by_arn(self, arn: str) -> Queue:
        raise NotImplementedError

    async def send_to_arn(
        self,
        account: str,
        queue_arn: str,
        body: str,
        attributes: MessageAttributes | None = None,
        *,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> str:
        queue = self.queue_by_arn(queue_arn)
        entry: dict[str, Any] = {"MessageBody": body}
        if attributes:
            entry["MessageAttributes"] = attributes
        if group_id is not None:
            entry["MessageGroupId"] = group_id
        if dedup_id is not None:
            entry["MessageDeduplicationId"] = dedup_id
        sent = await self.send_entries(queue, [entry], account)
        outcome = sent[0]
        if isinstance(outcome, SqsError):
            raise outcome
        return str(outcome["MessageId"])

    async def receive_batch(
        self, queue_arn: str, max_messages: int, wait_s: float = 0.0
    ) -> list[ReceivedMessage]:
        queue = self.queue_by_arn(queue_arn)
        taken = await self.receive(
            queue, max(1, max_messages), queue.int_attr("VisibilityTimeout"), wait_s
        )
        return [self.received_message(queue, m) for m in taken]

    async def delete_batch(self, queue_arn: str, receipt_handles: list[str]) -> None:
        queue = self.queue_by_arn(queue_arn)
        for handle in receipt_handles:
            self.delete_handle(queue, handle)

    async def backlog(self, queue_arn: str) -> int:
        queue = self.queue_by_arn(queue_arn)
        queue.advance(now())
        return queue.counts[0]

    async def deliver(
        self, account: str, target_arn: str, body: bytes, attributes: dict[str, str]
    ) -> None:
        """A destination / dead-letter queue (services/destinations.Deliverer)."""
        await self.send_to_arn(
            account,
            target_arn,
            body.decode("utf-8", "replace"),
            destinations.message_attributes(attributes) or None,
        )
