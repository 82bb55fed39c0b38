"""A service on the JSON protocol: target -> handler, validated against botocore's model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import botocore.session

from nimbus.api.edge import ApiRequest
from nimbus.errors import NimbusError, UnknownOperation, ValidationError
from nimbus.protocol import awsjson, validate

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Response = tuple[int, list[tuple[str, str]], bytes]


class JsonApi:
    def __init__(
        self, service: str | None, target_prefix: str, version: str, handlers: dict[str, Handler]
    ) -> None:
        self.model = botocore.session.get_session().get_service_model(service) if service else None
        self.prefix = target_prefix
        self.version = version
        self.handlers = handlers

    async def handle(self, request: ApiRequest) -> Response:
        request_id = request.request_id
        try:
            name = awsjson.operation_name(request.headers.get("x-amz-target"), self.prefix)
            handler = self.handlers.get(name)
            if handler is None:
                raise UnknownOperation(f"Nimbus does not implement {name} yet.")
            params = awsjson.decode(request.body)
            if self.model is not None:
                shape = self.model.operation_model(name).input_shape
                errors = validate.validation_errors(shape, params) if shape else []
                if errors:
                    raise ValidationError(validate.summary(errors))
            output = await handler(request.account, params)
        except NimbusError as e:
            return awsjson.error(
                e.code, e.message, 400 if e.status < 500 else e.status, self.version, request_id
            )
        return awsjson.response(output, self.version, request_id)
