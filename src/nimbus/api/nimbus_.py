"""Nimbus' own API (JSON 1.1, SigV4 service name `nimbus`): what AWS has no API for."""

from __future__ import annotations

from nimbus.api.jsonapi import JsonApi
from nimbus.protocol.awsjson import NIMBUS_TARGET_PREFIX
from nimbus.services.routes import Routes
from nimbus.services.usage import UsageService


def nimbus_api(usage: UsageService, routes: Routes) -> JsonApi:
    return JsonApi(
        None,
        NIMBUS_TARGET_PREFIX,
        "1.1",
        {
            "GetUsage": usage.get_usage,
            "AddRoute": routes.add_route,
            "RemoveRoute": routes.remove_route,
            "ListRoutes": routes.list_routes,
        },
    )
