"""Subscription attribute checks and the HTTP retry schedule from delivery policies."""

from __future__ import annotations

import json

import pytest

from nimbus.protocol.sns_errors import InvalidParameter
from nimbus.services.sns_attributes import check_subscription_attributes, http_retry_delays
from nimbus.store.sns import Subscription, Topic

TOPIC = Topic("arn:aws:sns:us-east-1:000000000000:t", "000000000000", "t")


def _sub(**attributes: str) -> Subscription:
    return Subscription(TOPIC.arn + ":s", "000000000000", TOPIC.arn, "http", "http://x", attributes)


def test_no_policy_means_the_default() -> None:
    assert http_retry_delays(_sub(), TOPIC) is None


def test_subscription_policy_phases() -> None:
    policy = {
        "healthyRetryPolicy": {
            "numRetries": 6,
            "numNoDelayRetries": 1,
            "numMinDelayRetries": 1,
            "numMaxDelayRetries": 1,
            "minDelayTarget": 1,
            "maxDelayTarget": 7,
        }
    }
    assert http_retry_delays(_sub(DeliveryPolicy=json.dumps(policy)), TOPIC) == [
        0.0, 1.0, 3.0, 5.0, 7.0, 7.0,
    ]  # fmt: skip


def test_topic_default_policy() -> None:
    policy = {
        "http": {
            "defaultHealthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 4, "maxDelayTarget": 4}
        }
    }
    topic = Topic(TOPIC.arn, TOPIC.account_id, "t", {"DeliveryPolicy": json.dumps(policy)})
    assert http_retry_delays(_sub(), topic) == [4.0, 4.0]
    assert (
        http_retry_delays(_sub(), Topic(TOPIC.arn, TOPIC.account_id, "t", {"DeliveryPolicy": "{}"}))
        is None
    )


def test_filter_policy_scope_defaults_and_removal() -> None:
    result = check_subscription_attributes("sqs", {"FilterPolicy": '{"a": ["b"]}'})
    assert result == {"FilterPolicy": '{"a": ["b"]}', "FilterPolicyScope": "MessageAttributes"}
    assert check_subscription_attributes("sqs", {"FilterPolicy": ""}, result) == {}
    with pytest.raises(InvalidParameter, match="does not support nested filter policy"):
        check_subscription_attributes("sqs", {"FilterPolicy": '{"a": {"b": ["c"]}}'})
    body = check_subscription_attributes(
        "sqs", {"FilterPolicy": '{"a": {"b": ["c"]}}', "FilterPolicyScope": "MessageBody"}
    )
    assert body["FilterPolicyScope"] == "MessageBody"
