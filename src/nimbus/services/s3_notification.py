"""Bucket notifications: Put/Get of a bucket's configuration, and delivery of S3's event
records to Lambda functions (through the asynchronous invocation queue, so retries, DLQs
and destinations apply), SQS queues and SNS topics.

`object_changed` returns once every matching notification is durable (the async queue and
SQS commit before they return): the S3 reply waits for that and nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from nimbus.errors import InvalidArgument, NimbusError, ResourceNotFound
from nimbus.protocol import s3_event
from nimbus.services.contracts import ObjectEvent, QueueSink, TopicPublisher
from nimbus.services.names import parse_function_name
from nimbus.services.s3_notification_config import (
    Target,
    as_config,
    from_stored,
    parse,
    to_stored,
)
from nimbus.store.s3_notifications import NotificationStore

log = logging.getLogger("nimbus.s3.notify")
SNS_SUBJECT = "Amazon S3 Notification"


class AsyncAcceptor(Protocol):
    """AsyncInvokeService.accept: durable when it returns."""

    async def accept(
        self,
        account: str,
        function: str,
        qualifier: str | None,
        payload: bytes,
        request_id: str | None = None,
    ) -> str: ...


class FunctionLookup(Protocol):
    """FunctionRegistry.get: raises ResourceNotFound."""

    async def get(self, account: str, name: str, region: str) -> Any: ...


def _arn_account(arn: str) -> str:
    return arn.split(":", 5)[4]


def _refusal(target: Target) -> tuple[str, str]:
    """S3's words for a destination it could not use (as AWS answers them)."""
    if target.kind == "lambda":
        # S3 cannot tell a missing function from a missing permission.
        return f"{target.arn}, null", f"Not authorized to invoke function [{target.arn}]"
    return target.arn, f"The destination {target.kind} does not exist"


def _function(arn: str) -> tuple[str, str | None, str]:
    """(name, qualifier, account) of a function ARN."""
    name, qualifier, account = parse_function_name(arn)
    return name, qualifier, account or _arn_account(arn)


class BucketNotifications:
    """Implements ObjectEventSink; the S3 API's notification handlers call the rest."""

    def __init__(
        self,
        store: NotificationStore,
        invoker: AsyncAcceptor,
        functions: FunctionLookup,
        region: str,
        queues: QueueSink | None = None,
        topics: TopicPublisher | None = None,
    ) -> None:
        self.store = store
        self.invoker = invoker
        self.functions = functions
        self.region = region
        self.queues = queues
        self.topics = topics
        self.delivered = 0  # notifications made durable (stats, tests)
        self.dropped = 0  # destinations gone at delivery time (AWS drops those too)

    # configuration -------------------------------------------------------------------------
    async def get_configuration(self, account: str, bucket: str) -> dict[str, Any]:
        return as_config(from_stored(await self.store.get(account, bucket)))

    async def put_configuration(
        self,
        account: str,
        bucket: str,
        config: dict[str, Any],
        request_id: str,
        skip_validation: bool = False,
    ) -> None:
        targets = parse(config)
        if not skip_validation:
            await self._validate(account, bucket, targets, request_id)
        await self.store.put(account, bucket, to_stored(targets))

    async def _validate(
        self, account: str, bucket: str, targets: list[Target], request_id: str
    ) -> None:
        """Each destination must exist: S3 checks by sending queues and topics its
        s3:TestEvent (so they get one, as from S3), and looks functions up."""
        test = s3_event.s3_test_event(bucket, time.time(), request_id).decode()
        failed: list[tuple[str, str]] = []
        seen: set[str] = set()
        order = {"queue": 0, "topic": 1, "lambda": 2}
        for target in sorted(targets, key=lambda t: order[t.kind]):
            if target.arn not in seen:
                seen.add(target.arn)
                if not await self._reachable(target, test):
                    failed.append(_refusal(target))
        if failed:
            details: dict[str, str] = {}
            for i, (name, value) in enumerate(failed, 1):
                details[f"ArgumentName{i}"] = name
                details[f"ArgumentValue{i}"] = value
            raise InvalidArgument(
                "Unable to validate the following destination configurations", **details
            )

    async def _reachable(self, target: Target, test: str) -> bool:
        try:
            if target.kind == "lambda":
                name, _, owner = _function(target.arn)
                await self.functions.get(owner, name, self.region)
            elif target.kind == "queue":
                if self.queues is None:
                    return False
                await self.queues.send_to_arn(_arn_account(target.arn), target.arn, test)
            else:
                if self.topics is None:
                    return False
                await self.topics.publish_to_arn(
                    _arn_account(target.arn), target.arn, test, SNS_SUBJECT
                )
        except NimbusError:
            return False
        return True

    def bucket_deleted(self, bucket: str) -> None:
        """Called by the S3 service: the bucket's configuration went with it."""
        self.store.forget_bucket(bucket)

    # delivery ----------------------------------------------------------------------------
    async def object_changed(self, event: ObjectEvent) -> None:
        try:
            stored = await self.store.get(event.account, event.bucket)
            if not stored:
                return
            targets = [t for t in from_stored(stored) if t.wants(event.event_name, event.key)]
            if targets:
                await asyncio.gather(*(self._deliver(event, t) for t in targets))
        except Exception:  # the object change itself succeeded: never fail it
            log.exception("notifications for s3://%s/%s", event.bucket, event.key)

    async def _deliver(self, event: ObjectEvent, target: Target) -> None:
        body = s3_event.message(event, target.id, event.account)
        try:
            if target.kind == "lambda":
                name, qualifier, owner = _function(target.arn)
                await self.invoker.accept(owner, name, qualifier, body)
            elif target.kind == "queue":
                if self.queues is None:
                    raise ResourceNotFound("SQS is not available on this node")
                await self.queues.send_to_arn(_arn_account(target.arn), target.arn, body.decode())
            else:
                if self.topics is None:
                    raise ResourceNotFound("SNS is not available on this node")
                await self.topics.publish_to_arn(
                    _arn_account(target.arn), target.arn, body.decode(), SNS_SUBJECT
                )
        except NimbusError as e:  # a destination deleted since: S3 drops the event as well
            self.dropped += 1
            log.warning(
                "s3://%s/%s %s: %s %s unreachable (%s: %s); dropped",
                event.bucket,
                event.key,
                event.event_name,
                target.kind,
                target.arn,
                e.code,
                e.message,
            )
            return
        self.delivered += 1
