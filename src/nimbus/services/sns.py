"""SNS topics and subscriptions: the control plane (Publish is in sns_publish.py).

Topics and subscriptions are few and read on every Publish: they live in memory and are
written through to the store before each reply.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from nimbus.protocol.awsquery import iso8601
from nimbus.protocol.sns_errors import (
    AuthorizationError,
    InvalidParameter,
    NotFound,
    ResourceNotFound,
    TagLimitExceeded,
)
from nimbus.services import sns_attributes
from nimbus.services.sns_delivery import Deliveries
from nimbus.services.sns_names import (
    MAX_TAGS,
    PAGE,
    TOPIC_NAME,
    after_token,
    check_endpoint,
    check_topic_arn,
    page_token,
    tag_map,
)
from nimbus.store.sns import SnsStore, Subscription, Topic

PENDING = "pending confirmation"
RESTORABLE = 1000  # unsubscribed http/s subscriptions whose restore link still works
Timestamp = Callable[[], str]


class SnsService:
    def __init__(
        self,
        store: SnsStore,
        deliveries: Deliveries,
        region: str,
        timestamp: Timestamp = lambda: iso8601(time.time()),
    ) -> None:
        self.store = store
        self.deliveries = deliveries
        self.region = region
        self.timestamp = timestamp
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._by_topic: dict[str, dict[str, Subscription]] = {}  # Publish reads this
        # UnsubscribeConfirmation tokens -> the removed http/s subscription they restore
        # (in memory: a restart forgets them; the oldest go first past RESTORABLE).
        self._restorable: dict[str, Subscription] = {}

    async def start(self) -> None:
        topics, subscriptions = await self.store.load()
        self.topics = {t.arn: t for t in topics}
        for sub in subscriptions:
            self._put(sub)

    # topics -----------------------------------------------------------------------------
    def topic(self, arn: str | None, what: str = "TopicArn") -> Topic:
        topic = self.topics.get(check_topic_arn(arn, what))
        if topic is None:
            raise NotFound("Topic does not exist")
        return topic

    def subscribers(self, topic_arn: str) -> list[Subscription]:
        return list(self._by_topic.get(topic_arn, {}).values())

    def _put(self, sub: Subscription) -> None:
        self.subscriptions[sub.arn] = sub
        self._by_topic.setdefault(sub.topic_arn, {})[sub.arn] = sub

    def _drop(self, arn: str) -> None:
        sub = self.subscriptions.pop(arn, None)
        if sub is not None:
            siblings = self._by_topic.get(sub.topic_arn, {})
            siblings.pop(arn, None)
            if not siblings:
                self._by_topic.pop(sub.topic_arn, None)

    async def create_topic(
        self, account: str, name: str, attributes: dict[str, str], tags: list[dict[str, str]]
    ) -> str:
        if name.endswith(".fifo") or attributes.get("FifoTopic") == "true":
            raise InvalidParameter("Topic Name", "Nimbus does not support FIFO topics")
        if not TOPIC_NAME.match(name):
            raise InvalidParameter("Topic Name")
        attributes = {k: v for k, v in attributes.items() if k != "FifoTopic"}
        for key, value in attributes.items():
            sns_attributes.check_topic_attribute(key, value)
        wanted_tags = tag_map(tags)
        arn = f"arn:aws:sns:{self.region}:{account}:{name}"
        existing = self.topics.get(arn)
        if existing is not None:
            if any(existing.attributes.get(k, "") != v for k, v in attributes.items()):
                raise InvalidParameter(
                    "Attributes", "Topic already exists with different attributes"
                )
            if wanted_tags and wanted_tags != existing.tags:
                raise InvalidParameter("Tags", "Topic already exists with different tags")
            return arn
        topic = Topic(arn, account, name, attributes, wanted_tags, time.time())
        self.topics[arn] = topic  # before the write: a concurrent twin finds it (no await)
        try:
            await self.store.put_topic(topic)
        except BaseException:
            self.topics.pop(arn, None)
            raise
        return arn

    def list_topics(self, account: str, token: str | None) -> dict[str, Any]:
        after = after_token(token)
        arns = sorted(a for a, t in self.topics.items() if t.account_id == account and a > after)
        out: dict[str, Any] = {"Topics": [{"TopicArn": a} for a in arns[:PAGE]]}
        if len(arns) > PAGE:
            out["NextToken"] = page_token(arns[PAGE - 1])
        return out

    async def delete_topic(self, arn: str) -> None:
        check_topic_arn(arn)
        if arn not in self.topics:
            return  # AWS: deleting a topic that does not exist is no error
        await self.store.delete_topic(arn)
        self.topics.pop(arn, None)
        for sub in self.subscribers(arn):
            self._drop(sub.arn)

    def get_topic_attributes(self, arn: str) -> dict[str, str]:
        topic = self.topic(arn)
        return sns_attributes.topic_attributes(topic, self.subscribers(arn))

    async def set_topic_attribute(self, arn: str, name: str, value: str | None) -> None:
        topic = self.topic(arn)
        value = value or ""
        sns_attributes.check_topic_attribute(name, value)
        attributes = dict(topic.attributes)
        if value == "" and name != "DisplayName":
            attributes.pop(name, None)
        else:
            attributes[name] = value
        updated = Topic(
            topic.arn, topic.account_id, topic.name, attributes, topic.tags, topic.created
        )
        await self.store.put_topic(updated)
        self.topics[arn] = updated

    # tags -------------------------------------------------------------------------------
    def _tagged(self, arn: str) -> Topic:
        topic = self.topics.get(arn)
        if topic is None:
            raise ResourceNotFound("Resource does not exist")
        return topic

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in self._tagged(arn).tags.items()]

    async def tag(self, arn: str, tags: list[dict[str, str]]) -> None:
        topic = self._tagged(arn)
        merged = {**topic.tags, **tag_map(tags)}
        if len(merged) > MAX_TAGS:
            raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
        await self._retag(topic, merged)

    async def untag(self, arn: str, keys: list[str]) -> None:
        topic = self._tagged(arn)
        await self._retag(topic, {k: v for k, v in topic.tags.items() if k not in keys})

    async def _retag(self, topic: Topic, tags: dict[str, str]) -> None:
        updated = Topic(
            topic.arn, topic.account_id, topic.name, topic.attributes, tags, topic.created
        )
        await self.store.put_topic(updated)
        self.topics[topic.arn] = updated

    # subscriptions ----------------------------------------------------------------------
    async def subscribe(
        self,
        account: str,
        topic_arn: str,
        protocol: str,
        endpoint: str | None,
        attributes: dict[str, str],
        return_arn: bool,
    ) -> str:
        topic = self.topic(topic_arn)
        endpoint = check_endpoint(protocol, endpoint)
        wanted = sns_attributes.check_subscription_attributes(protocol, attributes, subscribe=True)
        for sub in self.subscribers(topic.arn):
            if sub.protocol == protocol and sub.endpoint == endpoint:
                if wanted and any(sub.attributes.get(k) != v for k, v in wanted.items()):
                    raise InvalidParameter(
                        "Attributes", "Subscription already exists with different attributes"
                    )
                if not sub.confirmed:  # still pending: the handshake is sent again
                    version = topic.attributes.get("SignatureVersion", "1")
                    self.deliveries.confirm_http(sub, str(uuid.uuid4()), self.timestamp(), version)
                return sub.arn if sub.confirmed or return_arn else PENDING
        http = protocol in ("http", "https")
        sub = Subscription(
            f"{topic.arn}:{uuid.uuid4()}",
            account,
            topic.arn,
            protocol,
            endpoint,
            wanted,
            confirmed=not http,
            token=secrets.token_hex(144) if http else None,  # 288 hex digits, as AWS
            created=time.time(),
        )
        self._put(sub)  # before the write: a concurrent twin finds it
        try:
            await self.store.put_subscription(sub)
        except BaseException:
            self._drop(sub.arn)
            raise
        if http:
            version = topic.attributes.get("SignatureVersion", "1")
            self.deliveries.confirm_http(sub, str(uuid.uuid4()), self.timestamp(), version)
            return sub.arn if return_arn else PENDING
        return sub.arn

    async def confirm(
        self,
        topic_arn: str,
        token: str,
        authenticated: bool = True,
        authenticate_on_unsubscribe: bool = False,
    ) -> str:
        """`authenticated`: through the signed API (not the SubscribeURL);
        `authenticate_on_unsubscribe`: the unsigned UnsubscribeURL will not work.
        AWS answers "Invalid parameter: Topic" for a malformed ARN and "... Token" for a
        token that confirms nothing on that topic (never NotFound)."""
        try:
            check_topic_arn(topic_arn)
        except InvalidParameter:
            raise InvalidParameter("Topic") from None
        for sub in self.subscribers(topic_arn):
            if sub.token is not None and secrets.compare_digest(sub.token, token):
                if not sub.confirmed:
                    attributes = dict(sub.attributes)
                    attributes["ConfirmationWasAuthenticated"] = str(authenticated).lower()
                    if authenticate_on_unsubscribe:
                        attributes[sns_attributes.AUTHENTICATE_ON_UNSUBSCRIBE] = "true"
                    confirmed = dataclasses.replace(sub, confirmed=True, attributes=attributes)
                    await self.store.put_subscription(confirmed)
                    self._put(confirmed)
                return sub.arn
        restored = self._restorable.get(token)
        if restored is not None and restored.topic_arn == topic_arn:
            await self.store.put_subscription(restored)
            self._put(restored)
            del self._restorable[token]
            return restored.arn
        raise InvalidParameter("Token")

    def subscription(self, arn: str | None) -> Subscription:
        if not arn or arn.count(":") < 5:
            raise InvalidParameter(
                "SubscriptionArn",
                f"An ARN must have at least 6 elements, not {(arn or '').count(':') + 1}",
            )
        sub = self.subscriptions.get(arn)
        if sub is None:
            raise NotFound("Subscription does not exist")
        return sub

    async def unsubscribe(self, arn: str, authenticated: bool = True) -> None:
        if arn and arn.count(":") == 5:  # a topic's ARN: no subscription id in it
            raise InvalidParameter("SubscriptionId")
        try:
            sub = self.subscription(arn)
        except NotFound:
            return  # already gone: Unsubscribe is idempotent
        if not authenticated and sns_attributes.AUTHENTICATE_ON_UNSUBSCRIBE in sub.attributes:
            raise AuthorizationError(
                "Unsubscribe of this subscription requires an authenticated (signed) request"
            )
        await self.store.delete_subscription(arn)
        self._drop(arn)
        if sub.protocol in ("http", "https") and sub.confirmed:
            token = secrets.token_hex(144)
            self._restorable[token] = sub
            while len(self._restorable) > RESTORABLE:
                del self._restorable[next(iter(self._restorable))]
            topic = self.topics.get(sub.topic_arn)
            version = topic.attributes.get("SignatureVersion", "1") if topic else "1"
            self.deliveries.confirm_http(
                sub, str(uuid.uuid4()), self.timestamp(), version, token, unsubscribed=True
            )

    def list_subscriptions(
        self, account: str, token: str | None, topic_arn: str | None = None
    ) -> dict[str, Any]:
        if topic_arn is not None:
            self.topic(topic_arn)
        after = after_token(token)
        subs = sorted(
            (
                s
                for s in self.subscriptions.values()
                if s.arn > after
                and (s.topic_arn == topic_arn if topic_arn else s.account_id == account)
            ),
            key=lambda s: s.arn,
        )
        out: dict[str, Any] = {
            "Subscriptions": [
                {
                    "SubscriptionArn": s.arn if s.confirmed else "PendingConfirmation",
                    "Owner": s.account_id,
                    "Protocol": s.protocol,
                    "Endpoint": s.endpoint,
                    "TopicArn": s.topic_arn,
                }
                for s in subs[:PAGE]
            ]
        }
        if len(subs) > PAGE:
            out["NextToken"] = page_token(subs[PAGE - 1].arn)
        return out

    def get_subscription_attributes(self, arn: str) -> dict[str, str]:
        return sns_attributes.subscription_attributes(self.subscription(arn))

    async def set_subscription_attribute(self, arn: str, name: str, value: str | None) -> None:
        sub = self.subscription(arn)
        attributes = sns_attributes.check_subscription_attributes(
            sub.protocol, {name: value or ""}, sub.attributes
        )
        await self.store.put_subscription(dataclasses.replace(sub, attributes=attributes))
        sub.attributes = attributes  # only once stored
