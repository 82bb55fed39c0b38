"""Publish and PublishBatch: checks, then fan-out to every confirmed subscription whose
filter policy matches. Returns once each SQS and Lambda delivery is durable (HTTP goes on
in the background). Also the TopicPublisher for other services and the destination
deliverer (async invocation records and DLQ'd events published to a topic)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import orjson

from nimbus.ids import random_uuid
from nimbus.protocol import sns_checks, sns_filter, sns_message
from nimbus.protocol.sns_errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameter,
    ParameterValueInvalid,
    SnsError,
    TooManyEntriesInBatchRequest,
)
from nimbus.protocol.sns_message import Notification
from nimbus.services import destinations, sns_attributes
from nimbus.services.contracts import MessageAttributes
from nimbus.services.sns import SnsService
from nimbus.store.sns import Subscription, Topic

log = logging.getLogger("nimbus.sns")
MAX_BATCH = 10
MAX_CACHED_POLICIES = 10_000
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class Publisher:
    """Implements contracts.TopicPublisher."""

    def __init__(self, service: SnsService) -> None:
        self.service = service
        self.deliveries = service.deliveries
        self.filters: dict[str, dict[str, Any]] = {}  # FilterPolicy text -> parsed

    async def publish(self, params: dict[str, Any]) -> str:
        # AWS' order: the message's own checks, then the target.
        note = _prepare("", params, self.service.timestamp())
        if params.get("PhoneNumber"):
            raise InvalidParameter("PhoneNumber", "Nimbus does not send SMS")
        arn = params.get("TopicArn") or params.get("TargetArn")
        if not arn:
            raise InvalidParameter("TopicArn or TargetArn", "no value for required parameter")
        what = "TopicArn" if params.get("TopicArn") else "TargetArn"
        topic = self.service.topic(arn, what)
        note.topic_arn = topic.arn
        await self._fan_out(topic, note)
        return note.message_id

    async def publish_batch(self, topic_arn: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """AWS' order: entry count, the topic, Ids; then each entry. An entry with bad
        attributes or MessageStructure fails the whole request (as AWS); other content
        errors (empty or too long message, bad subject) fail only that entry."""
        if not entries:
            raise EmptyBatchRequest()
        if len(entries) > MAX_BATCH:
            raise TooManyEntriesInBatchRequest()
        topic = self.service.topic(topic_arn)
        ids = [str(e.get("Id", "")) for e in entries]
        if len(set(ids)) != len(ids):
            raise BatchEntryIdsNotDistinct()
        for entry_id in ids:
            if len(entry_id) > 80:
                raise InvalidBatchEntryId(
                    f"The Id of a batch entry in the batch request is too long: {entry_id}"
                )
            if not _BATCH_ID.match(entry_id):
                raise InvalidBatchEntryId(
                    "The Id of a batch entry in the batch request contains an impermissible "
                    f"character: {entry_id}"
                )
        successful: list[dict[str, str]] = []
        failed: list[dict[str, Any]] = []
        notes: list[Notification] = []
        total = 0
        for entry in entries:
            size = sns_checks.check_attributes(entry.get("MessageAttributes") or {})
            total += size + len(str(entry.get("Message") or "").encode())
            try:
                note = _prepare(topic.arn, entry, self.service.timestamp())
            except ParameterValueInvalid:
                raise
            except SnsError as e:
                if "Message Structure" in e.message:
                    raise
                failed.append(
                    {"Id": entry["Id"], "Code": e.code, "Message": e.message, "SenderFault": True}
                )
                continue
            notes.append(note)
            successful.append({"Id": entry["Id"], "MessageId": note.message_id})
        if total > sns_checks.MAX_MESSAGE_BYTES:
            raise BatchRequestTooLong()
        await asyncio.gather(*(self._fan_out(topic, n) for n in notes))
        return {"Successful": successful, "Failed": failed}

    async def publish_to_arn(
        self,
        account: str,
        topic_arn: str,
        message: str,
        subject: str | None = None,
        attributes: MessageAttributes | None = None,
    ) -> str:
        params: dict[str, Any] = {"TopicArn": topic_arn, "Message": message}
        if subject is not None:
            params["Subject"] = subject
        if attributes:
            params["MessageAttributes"] = attributes
        return await self.publish(params)

    async def deliver_destination(
        self, account: str, target_arn: str, body: bytes, attributes: dict[str, str]
    ) -> None:
        """destinations.Deliverer: an invocation record or a dead-lettered event."""
        message_attributes = destinations.message_attributes(attributes)
        await self.publish_to_arn(
            account, target_arn, body.decode(errors="replace"), attributes=message_attributes
        )

    def _policy(self, text: str, scope: str) -> dict[str, Any]:
        key = f"{scope}\n{text}"
        policy = self.filters.get(key)
        if policy is None:
            if len(self.filters) >= MAX_CACHED_POLICIES:  # policies replaced over time
                self.filters.clear()
            policy = self.filters[key] = sns_filter.parse(text, scope)
        return policy

    def _wants(self, sub: Subscription, note: Notification) -> bool:
        text = sub.attributes.get("FilterPolicy")
        if not text:
            return True
        scope = sub.attributes.get("FilterPolicyScope", "MessageAttributes")
        try:
            policy = self._policy(text, scope)
        except sns_filter.PolicyError:  # checked when set; never deliver on a broken one
            return False
        return sns_filter.matches(policy, scope, note.message_for(sub.protocol), note.attributes)

    async def _fan_out(self, topic: Topic, note: Notification) -> None:
        targets = [
            s for s in self.service.subscribers(topic.arn) if s.confirmed and self._wants(s, note)
        ]
        if targets:
            await asyncio.gather(*(self._deliver(topic, s, note) for s in targets))

    async def _deliver(self, topic: Topic, sub: Subscription, note: Notification) -> None:
        version = topic.attributes.get("SignatureVersion", "1")
        try:
            delays = None
            if sub.protocol in ("http", "https"):
                delays = sns_attributes.http_retry_delays(sub, topic)
            await self.deliveries.deliver(sub, note, version, delays)
        except Exception as error:  # the subscriber's problem, not the publisher's
            log.warning("SNS delivery to %s failed: %s", sub.endpoint, error)
            await self._redrive(sub, note, version)

    async def _redrive(self, sub: Subscription, note: Notification, version: str) -> None:
        """A failed delivery goes to the subscription's dead-letter queue, if it has one."""
        policy = sub.attributes.get("RedrivePolicy")
        sink = self.deliveries.queue_sink
        if not policy or sink is None:
            return
        target = orjson.loads(policy).get("deadLetterTargetArn")
        document = self.deliveries.signed(note, sub.protocol, sub.arn, version)
        try:
            await sink.send_to_arn(sub.account_id, target, sns_message.render(document))
        except Exception as error:
            log.warning("SNS dead-letter queue %s failed: %s", target, error)


def _prepare(topic_arn: str, params: dict[str, Any], timestamp: str) -> Notification:
    """Publish's checks on one message; the Notification to fan out."""
    subject = params.get("Subject")
    sns_checks.check_subject(subject)
    attributes: dict[str, dict[str, Any]] = params.get("MessageAttributes") or {}
    size = sns_checks.check_attributes(attributes)
    message = params.get("Message")
    structure = sns_checks.check_message(message, params.get("MessageStructure"), size)
    assert message is not None
    return Notification(
        random_uuid(), topic_arn, message, timestamp, subject, attributes, structure
    )
