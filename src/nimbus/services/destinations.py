"""Where asynchronous invocation records go: OnSuccess / OnFailure destinations and DLQs.

A destination is chosen by the service in its ARN (lambda, sqs, sns, events). Services
register a deliverer as they come to exist; an ARN of an unregistered service is
reported once in the log, and the record is dropped (as AWS does when it lacks access).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import orjson

from nimbus.services.contracts import MessageAttributes

log = logging.getLogger("nimbus.destinations")


class Deliverer(Protocol):
    async def __call__(
        self, account: str, target_arn: str, body: bytes, attributes: dict[str, str]
    ) -> None:
        """Deliver one message (a JSON invocation record, or a DLQ'd event)."""
        ...


class Destinations:
    def __init__(self) -> None:
        self._by_service: dict[str, Deliverer] = {}
        self._warned: set[str] = set()

    def register(self, service: str, deliverer: Deliverer) -> None:
        self._by_service[service] = deliverer

    async def send(self, account: str, target_arn: str, record: dict[str, Any]) -> bool:
        """An invocation record to an OnSuccess / OnFailure destination."""
        return await self.deliver(account, target_arn, orjson.dumps(record), {})

    async def dead_letter(
        self,
        account: str,
        target_arn: str,
        payload: bytes,
        request_id: str,
        error_code: str,
        error_message: str,
    ) -> bool:
        """The original event to a DLQ, with AWS' message attributes."""
        attributes = {
            "RequestID": request_id,
            "ErrorCode": error_code,
            "ErrorMessage": error_message,
        }
        return await self.deliver(account, target_arn, payload, attributes)

    async def deliver(
        self, account: str, target_arn: str, body: bytes, attributes: dict[str, str]
    ) -> bool:
        parts = target_arn.split(":")
        service = parts[2] if len(parts) > 2 else ""
        deliverer = self._by_service.get(service)
        if deliverer is None:
            if service not in self._warned:
                self._warned.add(service)
                log.warning(
                    "destination %s: Nimbus has no %s service yet; record dropped",
                    target_arn,
                    service or "such",
                )
            return False
        try:
            await deliverer(account, target_arn, body, attributes)
        except Exception:
            log.exception("could not deliver to %s", target_arn)
            return False
        return True


def message_attributes(attributes: dict[str, str]) -> MessageAttributes:
    """A DLQ's attributes as SQS/SNS message attributes (ErrorCode is a Number, as AWS')."""
    return {
        name: {"DataType": "Number" if name == "ErrorCode" else "String", "StringValue": value}
        for name, value in attributes.items()
        if value
    }
