"""Topic and subscription attributes: which may be set, their checks, and what
Get*Attributes reports (the stored ones plus the ones AWS computes)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from nimbus.protocol import sns_filter
from nimbus.protocol.sns_errors import InvalidParameter
from nimbus.store.sns import Subscription, Topic

_FEEDBACK = re.compile(
    r"^(HTTP|HTTPS|Lambda|SQS|Application|Firehose)(Success|Failure)Feedback(RoleArn|SampleRate)$"
)
TOPIC_SETTABLE = {
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "DataProtectionPolicy",
}
SUBSCRIPTION_SETTABLE = {
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
}
# Kept with a subscription's attributes, never shown (ConfirmSubscription's flag).
AUTHENTICATE_ON_UNSUBSCRIBE = "_AuthenticateOnUnsubscribe"
RAW_PROTOCOLS = {"sqs", "http", "https", "firehose"}
DEFAULT_EFFECTIVE_DELIVERY_POLICY = (
    '{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,'
    '"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,'
    '"backoffFunction":"linear"},"disableSubscriptionOverrides":false,'
    '"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}'
)
_ACTIONS = [
    "SNS:GetTopicAttributes",
    "SNS:SetTopicAttributes",
    "SNS:AddPermission",
    "SNS:RemovePermission",
    "SNS:DeleteTopic",
    "SNS:Subscribe",
    "SNS:ListSubscriptionsByTopic",
    "SNS:Publish",
]


def default_policy(topic_arn: str, account: str) -> str:
    return orjson.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": _ACTIONS,
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                }
            ],
        }
    ).decode()


def _json_object(name: str, value: str) -> Any:
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise InvalidParameter(f"{name}: failed to parse JSON. {e}") from None
    if not isinstance(decoded, dict):
        raise InvalidParameter(f"{name}: failed to parse JSON. Expected an object")
    return decoded


def check_topic_attribute(name: str, value: str) -> None:
    if name not in TOPIC_SETTABLE and not _FEEDBACK.match(name):
        raise InvalidParameter("AttributeName")
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise InvalidParameter("Attributes", f"SignatureVersion: Invalid value [{value}]")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise InvalidParameter("Attributes", f"TracingConfig: Invalid value [{value}]")
    if name in ("Policy", "DeliveryPolicy", "DataProtectionPolicy") and value:
        _json_object(name, value)
    if name == "DisplayName" and len(value) > 100:
        raise InvalidParameter("DisplayName")


def topic_attributes(topic: Topic, subscriptions: list[Subscription]) -> dict[str, str]:
    confirmed = sum(1 for s in subscriptions if s.confirmed)
    out = {
        "Policy": default_policy(topic.arn, topic.account_id),
        "Owner": topic.account_id,
        "SubscriptionsPending": str(len(subscriptions) - confirmed),
        "TopicArn": topic.arn,
        "EffectiveDeliveryPolicy": DEFAULT_EFFECTIVE_DELIVERY_POLICY,
        "SubscriptionsConfirmed": str(confirmed),
        "DisplayName": "",
        "SubscriptionsDeleted": "0",
    }
    out.update(topic.attributes)
    if topic.attributes.get("DeliveryPolicy"):
        out["EffectiveDeliveryPolicy"] = topic.attributes["DeliveryPolicy"]
    return out


def _attribute_error(detail: str, subscribe: bool) -> InvalidParameter:
    """Subscribe words attribute errors "Invalid parameter: Attributes Reason: <detail>",
    SetSubscriptionAttributes "Invalid parameter: <detail>"."""
    return InvalidParameter("Attributes", detail) if subscribe else InvalidParameter(detail)


def _json_text(name: str, value: str, subscribe: bool) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise _attribute_error(f"{name}: failed to parse JSON.", subscribe) from None


def check_subscription_attributes(
    protocol: str,
    attributes: dict[str, str],
    current: dict[str, str] | None = None,
    subscribe: bool = False,
) -> dict[str, str]:
    """Checks a change (all of Subscribe's Attributes, or one Set); the resulting set."""
    result = dict(current or {})
    for name, value in attributes.items():
        if name not in SUBSCRIPTION_SETTABLE:
            raise _attribute_error("AttributeName", subscribe)
        if name == "RawMessageDelivery":
            if value.lower() not in ("true", "false"):
                raise _attribute_error(
                    f"RawMessageDelivery: Invalid value [{value}]. Must be true or false.",
                    subscribe,
                )
            if protocol not in RAW_PROTOCOLS:
                raise _attribute_error(
                    f"Delivery protocol [{protocol}] does not support raw message delivery.",
                    subscribe,
                )
            value = value.lower()
        elif name == "FilterPolicyScope" and value not in sns_filter.SCOPES:
            raise _attribute_error(
                f"FilterPolicyScope: Invalid value [{value}]. "
                "Please use either MessageBody or MessageAttributes",
                subscribe,
            )
        elif name == "FilterPolicy" and value:
            _json_text("FilterPolicy", value, subscribe)
        elif name == "RedrivePolicy" and value:
            policy = _json_text("RedrivePolicy", value, subscribe)
            target = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
            if not isinstance(target, str) or target.count(":") < 5:
                raise _attribute_error(
                    "RedrivePolicy: deadLetterTargetArn is an invalid arn", subscribe
                )
        elif name == "DeliveryPolicy" and value:
            _json_text("DeliveryPolicy", value, subscribe)
        if value == "" and name in ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
            result.pop(name, None)
            if name == "FilterPolicy":
                result.pop("FilterPolicyScope", None)
            continue
        result[name] = value
    if "FilterPolicy" in result:
        scope = result.get("FilterPolicyScope", "MessageAttributes")
        try:
            sns_filter.parse(result["FilterPolicy"], scope)
        except sns_filter.PolicyError as e:
            raise _attribute_error(e.detail, subscribe) from None
        result.setdefault("FilterPolicyScope", "MessageAttributes")
    return result


def subscription_attributes(sub: Subscription, authenticated: bool = True) -> dict[str, str]:
    out = {
        "SubscriptionArn": sub.arn,
        "TopicArn": sub.topic_arn,
        "Owner": sub.account_id,
        "Protocol": sub.protocol,
        "Endpoint": sub.endpoint,
        "ConfirmationWasAuthenticated": "true" if authenticated else "false",
        "PendingConfirmation": "false" if sub.confirmed else "true",
        "RawMessageDelivery": "false",
        "SubscriptionPrincipal": f"arn:aws:iam::{sub.account_id}:root",
    }
    if sub.protocol in ("http", "https"):
        out["EffectiveDeliveryPolicy"] = DEFAULT_EFFECTIVE_DELIVERY_POLICY
    out.update(sub.attributes)
    out.pop(AUTHENTICATE_ON_UNSUBSCRIBE, None)
    return out


def http_retry_delays(sub: Subscription, topic: Topic) -> list[float] | None:
    """Waits before each retry of an HTTP/S delivery, from the subscription's DeliveryPolicy
    (healthyRetryPolicy) or the topic's (http.defaultHealthyRetryPolicy); None: neither
    sets one. The phases are AWS' (no-delay, min-delay, backoff, max-delay retries); the
    backoff phase is linear whatever backoffFunction says."""
    policy: Any = None
    own = sub.attributes.get("DeliveryPolicy")
    if own:
        policy = orjson.loads(own).get("healthyRetryPolicy")
    if policy is None and topic.attributes.get("DeliveryPolicy"):
        http = orjson.loads(topic.attributes["DeliveryPolicy"]).get("http") or {}
        policy = http.get("defaultHealthyRetryPolicy")
    if not isinstance(policy, dict):
        return None

    def number(name: str, default: float) -> float:
        value = policy.get(name, default)
        return float(value) if isinstance(value, int | float) else default

    retries = int(number("numRetries", 3))
    immediate = int(number("numNoDelayRetries", 0))
    at_min = int(number("numMinDelayRetries", 0))
    at_max = int(number("numMaxDelayRetries", 0))
    low, high = number("minDelayTarget", 20), number("maxDelayTarget", 20)
    backoff = max(0, retries - immediate - at_min - at_max)
    delays = [0.0] * immediate + [low] * at_min
    delays += [low + (high - low) * (i + 1) / backoff for i in range(backoff)]
    delays += [high] * at_max
    return delays[: max(0, retries)]
