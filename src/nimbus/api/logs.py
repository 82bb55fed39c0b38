"""CloudWatch Logs API (JSON 1.1): DescribeLogGroups/Streams, GetLogEvents, FilterLogEvents."""

from __future__ import annotations

from nimbus.api.jsonapi import JsonApi
from nimbus.services.logs import LogsService


def logs_api(service: LogsService) -> JsonApi:
    return JsonApi(
        "logs",
        "Logs_20140328",
        "1.1",
        {
            "DescribeLogGroups": service.describe_log_groups,
            "DescribeLogStreams": service.describe_log_streams,
            "GetLogEvents": service.get_log_events,
            "FilterLogEvents": service.filter_log_events,
        },
    )
