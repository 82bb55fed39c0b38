"""EventBridge API (JSON 1.1, target prefix AWSEvents): rules, targets, PutEvents."""

from __future__ import annotations

from nimbus.api.jsonapi import JsonApi
from nimbus.services.rules import RulesService


def events_api(service: RulesService) -> JsonApi:
    return JsonApi(
        "events",
        "AWSEvents",
        "1.1",
        {
            "PutRule": service.put_rule,
            "DescribeRule": service.describe_rule,
            "ListRules": service.list_rules,
            "DeleteRule": service.delete_rule,
            "EnableRule": service.enable_rule,
            "DisableRule": service.disable_rule,
            "PutTargets": service.put_targets,
            "RemoveTargets": service.remove_targets,
            "ListTargetsByRule": service.list_targets_by_rule,
            "PutEvents": service.put_events,
        },
    )
