"""The Lambda API (rest-json) on top of the function and invoke services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import botocore.session

from nimbus.api.edge import ApiRequest
from nimbus.errors import NimbusError, ValidationError
from nimbus.protocol import restjson, validate
from nimbus.services.concurrency import FunctionConcurrency
from nimbus.services.event_config import EventConfigService
from nimbus.services.function_urls import FunctionUrls
from nimbus.services.functions import FunctionService
from nimbus.services.invoke import InvokeService
from nimbus.services.mappings import MappingService
from nimbus.services.names import parse_function_name

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Response = tuple[int, list[tuple[str, str]], bytes]


class LambdaApi:
    """Decode -> validate against botocore's model -> service -> encode."""

    def __init__(
        self,
        functions: FunctionService,
        invoke: InvokeService,
        event_config: EventConfigService,
        urls: FunctionUrls | None = None,
        mappings: MappingService | None = None,
        concurrency: FunctionConcurrency | None = None,
    ) -> None:
        self.codec = _codec()
        self.handlers: dict[str, Handler] = {
            "CreateFunction": functions.create_function,
            "GetFunction": functions.get_function,
            "GetFunctionConfiguration": functions.get_function_configuration,
            "ListFunctions": functions.list_functions,
            "UpdateFunctionCode": functions.update_function_code,
            "UpdateFunctionConfiguration": functions.update_function_configuration,
            "DeleteFunction": functions.delete_function,
            "TagResource": functions.tag_resource,
            "UntagResource": functions.untag_resource,
            "ListTags": functions.list_tags,
            "GetAccountSettings": functions.get_account_settings,
            "Invoke": invoke.invoke,
            "PutFunctionEventInvokeConfig": event_config.put,
            "UpdateFunctionEventInvokeConfig": event_config.update,
            "GetFunctionEventInvokeConfig": event_config.get,
            "DeleteFunctionEventInvokeConfig": event_config.delete,
            "ListFunctionEventInvokeConfigs": event_config.list,
        }
        if urls is not None:
            self.handlers.update(
                {
                    "DeleteFunction": _forgetting_urls(functions.delete_function, urls),
                    "CreateFunctionUrlConfig": urls.create,
                    "GetFunctionUrlConfig": urls.get,
                    "UpdateFunctionUrlConfig": urls.update,
                    "DeleteFunctionUrlConfig": urls.delete,
                    "ListFunctionUrlConfigs": urls.list,
                }
            )

        if concurrency is not None:
            self.handlers.update(
                {
                    "PutFunctionConcurrency": concurrency.put,
                    "GetFunctionConcurrency": concurrency.get,
                    "DeleteFunctionConcurrency": concurrency.delete,
                }
            )
        if mappings is not None:
            self.handlers.update(
                {
                    "CreateEventSourceMapping": mappings.create,
                    "GetEventSourceMapping": mappings.get,
                    "UpdateEventSourceMapping": mappings.update,
                    "DeleteEventSourceMapping": mappings.delete,
                    "ListEventSourceMappings": mappings.list,
                }
            )

    @classmethod
    def serving(cls, handlers: dict[str, Handler]) -> LambdaApi:
        """An adapter for just these operations (an invoke cell's: cells/cell.py)."""
        api = cls.__new__(cls)
        api.codec, api.handlers = _codec(), handlers
        return api

    def operation_name(self, method: str, raw_path: str) -> str:
        operation, _ = self.codec.match(method, raw_path.split("?", 1)[0], {})
        return str(operation.name)

    async def handle(self, request: ApiRequest) -> Response:
        request_id = request.request_id
        try:
            operation, path_params = self.codec.match(
                request.method, request.raw_path, request.query
            )
            handler = self.handlers.get(operation.name)
            if handler is None:
                raise NimbusError(f"Nimbus does not implement {operation.name} yet.")
            params = self.codec.decode(
                operation, path_params, request.query, request.headers, request.body
            )
            if operation.input_shape is not None:
                errors = validate.validation_errors(operation.input_shape, params)
                if errors:
                    raise ValidationError(validate.summary(errors))
            output = await handler(request.account, params)
        except NimbusError as e:
            return render_error(e, request_id)
        request_id = output.pop("_RequestId", request_id)
        status, out_headers, out_body = self.codec.encode(operation, output)
        out_headers.append(("x-amzn-RequestId", request_id))
        return status, out_headers, out_body


def _codec() -> restjson.RestJsonCodec:
    return restjson.RestJsonCodec(botocore.session.get_session().get_service_model("lambda"))


def _forgetting_urls(delete: Handler, urls: FunctionUrls) -> Handler:
    """DeleteFunction that also drops the function's URL config."""

    async def delete_function(account: str, p: dict[str, Any]) -> dict[str, Any]:
        out = await delete(account, p)
        urls.forget(account, parse_function_name(p["FunctionName"])[0])
        return out

    return delete_function


def render_error(error: NimbusError, request_id: str) -> Response:
    fields: dict[str, Any] = {}
    reason = getattr(error, "reason", None)
    if reason:
        fields["Reason"] = reason
    return restjson.error_response(
        error.code, error.message, error.status, request_id, error.error_kind, fields
    )
