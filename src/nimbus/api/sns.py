"""SNS API: the query protocol (form `Action=...`, XML replies), and the unsigned public
URLs subscribers use (SigningCertURL, SubscribeURL, UnsubscribeURL) under /_nimbus/sns/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import botocore.session

from nimbus.api.edge import ApiRequest, Response, Scope
from nimbus.errors import NimbusError, ValidationError
from nimbus.ids import random_uuid
from nimbus.protocol import awsquery, validate
from nimbus.services.sns import SnsService
from nimbus.services.sns_publish import Publisher
from nimbus.services.sns_signing import CERT_NAME

XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class SnsApi:
    def __init__(self, service: SnsService, publisher: Publisher) -> None:
        self.model = botocore.session.get_session().get_service_model("sns")
        self.service = service
        self.publisher = publisher
        self.handlers: dict[str, Handler] = {
            "CreateTopic": self._create_topic,
            "ListTopics": self._list_topics,
            "DeleteTopic": self._delete_topic,
            "GetTopicAttributes": self._get_topic_attributes,
            "SetTopicAttributes": self._set_topic_attributes,
            "Subscribe": self._subscribe,
            "ConfirmSubscription": self._confirm,
            "Unsubscribe": self._unsubscribe,
            "ListSubscriptions": self._list_subscriptions,
            "ListSubscriptionsByTopic": self._list_subscriptions_by_topic,
            "GetSubscriptionAttributes": self._get_subscription_attributes,
            "SetSubscriptionAttributes": self._set_subscription_attributes,
            "Publish": self._publish,
            "PublishBatch": self._publish_batch,
            "TagResource": self._tag,
            "UntagResource": self._untag,
            "ListTagsForResource": self._list_tags,
        }

    async def handle(self, request: ApiRequest) -> Response:
        request_id = request.request_id
        pairs = [(k, v) for k, values in request.query.items() for v in values]
        try:
            if request.body:
                pairs += awsquery.parse_form(request.body)
            action = next((v for k, v in pairs if k == "Action"), "")
            handler = self.handlers.get(action)
            if handler is None:
                return awsquery.error_response(
                    "InvalidAction",
                    f"The action {action} is not valid for this web service.",
                    400,
                    request_id,
                    XMLNS,
                )
            operation = self.model.operation_model(action)
            params = awsquery.decode(pairs, operation.input_shape)
            if operation.input_shape is not None:
                errors = validate.validation_errors(operation.input_shape, params)
                if errors:
                    raise ValidationError(validate.summary(errors))
            output = await handler(request.account, params)
        except NimbusError as e:
            code = "ValidationError" if isinstance(e, ValidationError) else e.code
            return awsquery.error_response(
                code, e.message, e.status, request_id, XMLNS, sender_fault=e.status < 500
            )
        return awsquery.response(awsquery.encode(operation, output, request_id, XMLNS), request_id)

    def error_response(
        self, error: NimbusError, request_id: str, method: str, raw_path: str
    ) -> Response:
        """Edge-raised errors (authentication) in SNS' shape (StreamingAdapter's signature)."""
        return auth_error_response(error, request_id)

    # topics ----------------------------------------------------------------------------
    async def _create_topic(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        arn = await self.service.create_topic(
            account, p["Name"], p.get("Attributes") or {}, p.get("Tags") or []
        )
        return {"TopicArn": arn}

    async def _list_topics(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return self.service.list_topics(account, p.get("NextToken"))

    async def _delete_topic(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self.service.delete_topic(p["TopicArn"])
        return {}

    async def _get_topic_attributes(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": self.service.get_topic_attributes(p["TopicArn"])}

    async def _set_topic_attributes(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self.service.set_topic_attribute(
            p["TopicArn"], p["AttributeName"], p.get("AttributeValue")
        )
        return {}

    async def _tag(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self.service.tag(p["ResourceArn"], p["Tags"])
        return {}

    async def _untag(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self.service.untag(p["ResourceArn"], p["TagKeys"])
        return {}

    async def _list_tags(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": self.service.list_tags(p["ResourceArn"])}

    # subscriptions ----------------------------------------------------------------------
    async def _subscribe(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        arn = await self.service.subscribe(
            account,
            p["TopicArn"],
            p["Protocol"],
            p.get("Endpoint"),
            p.get("Attributes") or {},
            bool(p.get("ReturnSubscriptionArn")),
        )
        return {"SubscriptionArn": arn}

    async def _confirm(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        flag = str(p.get("AuthenticateOnUnsubscribe", "")).lower() == "true"
        arn = await self.service.confirm(p["TopicArn"], p["Token"], True, flag)
        return {"SubscriptionArn": arn}

    async def _unsubscribe(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self.service.unsubscribe(p["SubscriptionArn"])
        return {}

    async def _list_subscriptions(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return self.service.list_subscriptions(account, p.get("NextToken"))

    async def _list_subscriptions_by_topic(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return self.service.list_subscriptions(account, p.get("NextToken"), p["TopicArn"])

    async def _get_subscription_attributes(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": self.service.get_subscription_attributes(p["SubscriptionArn"])}

    async def _set_subscription_attributes(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self.service.set_subscription_attribute(
            p["SubscriptionArn"], p["AttributeName"], p.get("AttributeValue")
        )
        return {}

    # publishing -------------------------------------------------------------------------
    async def _publish(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return {"MessageId": await self.publisher.publish(p)}

    async def _publish_batch(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return await self.publisher.publish_batch(p["TopicArn"], p["PublishBatchRequestEntries"])


def public_route(
    service: SnsService, cert_pem: bytes
) -> Callable[[Scope, bytes], Awaitable[Response]]:
    """GET /_nimbus/sns/<cert>.pem, ?Action=ConfirmSubscription&TopicArn&Token and
    ?Action=Unsubscribe&SubscriptionArn — unsigned, as AWS' SubscribeURL/UnsubscribeURL."""
    model = botocore.session.get_session().get_service_model("sns")

    async def serve(scope: Scope, body: bytes) -> Response:
        request_id = random_uuid()
        if scope["path"].endswith("/" + CERT_NAME):
            return 200, [("Content-Type", "application/x-pem-file")], cert_pem
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        action = query.get("Action", "")
        try:
            if action == "ConfirmSubscription":
                arn = await service.confirm(
                    query.get("TopicArn", ""), query.get("Token", ""), authenticated=False
                )
                output: dict[str, Any] = {"SubscriptionArn": arn}
            elif action == "Unsubscribe":
                await service.unsubscribe(query.get("SubscriptionArn", ""), authenticated=False)
                output = {}
            else:
                return awsquery.error_response(
                    "InvalidAction",
                    f"The action {action} is not valid for this web service.",
                    400,
                    request_id,
                    XMLNS,
                )
        except NimbusError as e:
            return awsquery.error_response(e.code, e.message, e.status, request_id, XMLNS)
        body_xml = awsquery.encode(model.operation_model(action), output, request_id, XMLNS)
        return awsquery.response(body_xml, request_id)

    return serve


# The query protocol's names for authentication failures (the JSON protocols say
# UnrecognizedClientException / InvalidSignatureException).
_AUTH_CODES = {
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "IncompleteSignatureException": "IncompleteSignature",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
}


def auth_error_response(error: NimbusError, request_id: str) -> Response:
    """An error raised at the edge (authentication) in SNS' XML shape. The edge renders
    these as JSON today; it can call this (as it calls S3's error_response) for 'sns'."""
    code = _AUTH_CODES.get(error.code, error.code)
    return awsquery.error_response(code, error.message, error.status, request_id, XMLNS)
