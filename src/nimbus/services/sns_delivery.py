"""Fan-out of one published message to a subscription: SQS (through the QueueSink),
Lambda (the asynchronous invocation path) and HTTP/S (signed, with the confirmation
handshake). SQS and Lambda deliveries are durable when `deliver` returns; HTTP goes on
in the background with retries."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson

from nimbus.protocol import sns_message
from nimbus.protocol.sns_message import Notification
from nimbus.services.contracts import MessageAttributes, QueueSink
from nimbus.services.names import parse_function_name
from nimbus.services.sns_http import HttpSender
from nimbus.services.sns_signing import CERT_NAME, Signer
from nimbus.store.sns import Subscription

log = logging.getLogger("nimbus.sns")
PUBLIC_PREFIX = "/_nimbus/sns/"
MAX_RAW_SQS_ATTRIBUTES = 10
# AsyncInvokeService.accept(account, function, qualifier, payload) -> request id
AcceptAsync = Callable[[str, str, str | None, bytes], Awaitable[str]]


class Urls:
    """The public (unsigned) URLs Nimbus serves for SNS on its main endpoint."""

    def __init__(self, endpoint_url: str) -> None:
        self.base = endpoint_url.rstrip("/") + PUBLIC_PREFIX

    @property
    def cert(self) -> str:
        return self.base + CERT_NAME

    def unsubscribe(self, subscription_arn: str) -> str:
        return f"{self.base}?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, ':')}"

    def confirm(self, topic_arn: str, token: str) -> str:
        return (
            f"{self.base}?Action=ConfirmSubscription&TopicArn={quote(topic_arn, ':')}"
            f"&Token={quote(token, '')}"
        )


class Deliveries:
    def __init__(
        self,
        signer: Signer,
        urls: Urls,
        http: HttpSender,
        accept_async: AcceptAsync | None = None,
        queue_sink: QueueSink | None = None,
    ) -> None:
        self.signer = signer
        self.urls = urls
        self.http = http
        self.accept_async = accept_async
        self.queue_sink = queue_sink  # set by the composition root once SQS exists

    def signed(
        self, note: Notification, protocol: str, subscription_arn: str, version: str
    ) -> dict[str, Any]:
        document = sns_message.notification_document(
            note, protocol, self.urls.unsubscribe(subscription_arn), self.urls.cert, version
        )
        key = (document["Message"], version)
        signature = note.signatures.get(key)
        if signature is None:  # the signed text does not depend on the subscription
            canonical = sns_message.canonical_string(document)
            signature = note.signatures[key] = self.signer.sign(canonical, version)
        document["Signature"] = signature
        return document

    async def deliver(
        self,
        sub: Subscription,
        note: Notification,
        version: str,
        retry_delays_s: list[float] | None = None,
    ) -> None:
        """One message to one (confirmed, matching) subscription. Raises if an SQS or
        Lambda delivery could not be made durable. `retry_delays_s`: HTTP's, from the
        delivery policy (None: the default)."""
        raw = sub.attributes.get("RawMessageDelivery") == "true"
        if sub.protocol == "sqs":
            await self._to_queue(sub, note, raw, version)
        elif sub.protocol == "lambda":
            await self._to_function(sub, note, version)
        elif sub.protocol in ("http", "https"):
            self._to_http(sub, note, raw, version, retry_delays_s)

    async def _to_queue(
        self, sub: Subscription, note: Notification, raw: bool, version: str
    ) -> None:
        if self.queue_sink is None:
            raise RuntimeError("Nimbus has no SQS service to deliver to")
        if raw:
            if len(note.attributes) > MAX_RAW_SQS_ATTRIBUTES:  # SQS takes 10: AWS drops it
                raise ValueError("more than 10 message attributes for a raw SQS delivery")
            body = note.message_for("sqs")
            await self.queue_sink.send_to_arn(
                sub.account_id, sub.endpoint, body, _sqs_attributes(note.attributes) or None
            )
            return
        document = self.signed(note, "sqs", sub.arn, version)
        await self.queue_sink.send_to_arn(
            sub.account_id, sub.endpoint, sns_message.render(document)
        )

    async def _to_function(self, sub: Subscription, note: Notification, version: str) -> None:
        if self.accept_async is None:
            raise RuntimeError("Nimbus has no asynchronous invocation service")
        name, qualifier, account = parse_function_name(sub.endpoint)
        event = sns_message.lambda_event(self.signed(note, "lambda", sub.arn, version), sub.arn)
        await self.accept_async(account or sub.account_id, name, qualifier, orjson.dumps(event))

    def _to_http(
        self,
        sub: Subscription,
        note: Notification,
        raw: bool,
        version: str,
        retry_delays_s: list[float] | None,
    ) -> None:
        headers = {
            "x-amz-sns-message-type": "Notification",
            "x-amz-sns-message-id": note.message_id,
            "x-amz-sns-topic-arn": note.topic_arn,
            "x-amz-sns-subscription-arn": sub.arn,
            "Content-Type": "text/plain; charset=UTF-8",
        }
        if raw:
            headers["x-amz-sns-rawdelivery"] = "true"
            body = note.message_for(sub.protocol)
        else:
            body = sns_message.render(self.signed(note, sub.protocol, sub.arn, version))
        self.http.post_later(sub.endpoint, body, headers, retry_delays_s)

    def confirm_http(
        self,
        sub: Subscription,
        message_id: str,
        timestamp: str,
        version: str,
        token: str | None = None,
        unsubscribed: bool = False,
    ) -> None:
        """Send the SubscriptionConfirmation handshake to a new http/https subscription, or
        the UnsubscribeConfirmation to one just removed (its `token` restores it)."""
        token = token or sub.token
        assert token is not None
        document = sns_message.confirmation_document(
            message_id,
            token,
            sub.topic_arn,
            self.urls.confirm(sub.topic_arn, token),
            timestamp,
            self.urls.cert,
            version,
            sub.arn if unsubscribed else None,
        )
        document["Signature"] = self.signer.sign(sns_message.canonical_string(document), version)
        headers = {
            "x-amz-sns-message-type": document["Type"],
            "x-amz-sns-message-id": message_id,
            "x-amz-sns-topic-arn": sub.topic_arn,
            "Content-Type": "text/plain; charset=UTF-8",
        }
        if unsubscribed:
            headers["x-amz-sns-subscription-arn"] = sub.arn
        self.http.post_later(sub.endpoint, sns_message.render(document), headers)


def _sqs_attributes(attributes: dict[str, dict[str, Any]]) -> MessageAttributes:
    """SNS message attributes as SQS ones (raw delivery): String.Array goes as String."""
    out: MessageAttributes = {}
    for name, attribute in attributes.items():
        data_type = str(attribute["DataType"])
        if data_type.startswith("Binary"):
            out[name] = {"DataType": data_type, "BinaryValue": attribute["BinaryValue"]}
        else:
            kind = "String" if data_type == "String.Array" else data_type
            out[name] = {"DataType": kind, "StringValue": attribute["StringValue"]}
    return out
