"""SQS API: the JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.<Op>`, what current SDKs and
the AWS CLI send) and the older query protocol (`Action=<Op>` form pairs, XML replies,
possibly POSTed to the queue URL's path), both onto the same service handlers.

SQS is "awsQueryCompatible": JSON errors name the shape in `__type`
(com.amazonaws.sqs#QueueDoesNotExist) and carry the query protocol's code in the
`x-amzn-query-error` header (AWS.SimpleQueueService.NonExistentQueue;Sender), which
botocore reports as Error.Code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel

from nimbus.api.edge import ApiRequest, Response
from nimbus.errors import NimbusError, SqsError, SqsInvalidParameterValue, SqsMissingParameter
from nimbus.protocol import awsjson, awsquery, validate
from nimbus.services.sqs import SqsService
from nimbus.services.sqs_messages import to_json

log = logging.getLogger("nimbus.api.sqs")
Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
XMLNS = "http://queue.amazonaws.com/doc/2012-11-05/"
TARGET_PREFIX = "AmazonSQS"
# The message operations check their own input (the model-driven walk was 8% of a batch
# send's CPU); anything of the wrong type still gets the model's ValidationError wording.
HOT = frozenset(
    ("SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch")
)


class SqsApi:
    def __init__(self, service: SqsService) -> None:
        session = botocore.session.get_session()
        self.model = session.get_service_model("sqs")
        self.query_model = ServiceModel(
            awsquery.with_location_names(
                session.get_service_data("sqs"), awsquery.SQS_LEGACY_NAMES
            ),
            "sqs",
        )
        self.service = service
        s = service
        self.handlers: dict[str, Handler] = {
            "CreateQueue": s.create_queue,
            "GetQueueUrl": s.get_queue_url,
            "ListQueues": s.list_queues,
            "GetQueueAttributes": s.get_queue_attributes,
            "SetQueueAttributes": s.set_queue_attributes,
            "DeleteQueue": s.delete_queue,
            "PurgeQueue": s.purge_queue,
            "SendMessage": s.send_message,
            "SendMessageBatch": s.send_message_batch,
            "ReceiveMessage": s.receive_message,
            "DeleteMessage": s.delete_message,
            "DeleteMessageBatch": s.delete_message_batch,
            "ChangeMessageVisibility": s.change_message_visibility,
            "ChangeMessageVisibilityBatch": s.change_message_visibility_batch,
            "TagQueue": s.tag_queue,
            "UntagQueue": s.untag_queue,
            "ListQueueTags": s.list_queue_tags,
            "ListDeadLetterSourceQueues": s.list_dead_letter_source_queues,
        }

    def operation_name(self, method: str, raw_path: str) -> str:
        return "requested"

    async def handle(self, request: ApiRequest) -> Response:
        if "x-amz-target" in request.headers:
            return await self._json(request)
        return await self._query(request)

    # JSON 1.0 ---------------------------------------------------------------------------
    async def _json(self, request: ApiRequest) -> Response:
        try:
            name = awsjson.operation_name(request.headers.get("x-amz-target"), TARGET_PREFIX)
            handler = self.handlers.get(name)
            if handler is None:
                raise SqsUnsupported(name)
            params = awsjson.decode(request.body)
            operation = self.model.operation_model(name)
            if name not in HOT:
                _validate(operation, params)
            try:
                output = await handler(request.account, params)
            except (TypeError, AttributeError) as e:  # a hot operation's malformed input
                _validate(operation, params)
                raise SqsInvalidParameterValue(f"Invalid request: {e}") from None
        except NimbusError as e:
            return _json_error(e, request.request_id)
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-RequestId", request.request_id),
        ]
        return 200, headers, to_json(output)

    # query --------------------------------------------------------------------------------
    async def _query(self, request: ApiRequest) -> Response:
        pairs = [(k, v) for k, values in request.query.items() for v in values]
        if request.body and request.method == "POST":
            pairs += awsquery.parse_form(request.body)
        action = next((v for k, v in pairs if k == "Action"), None)
        try:
            if not action:
                raise SqsMissingParameter("The request must contain the parameter Action.")
            handler = self.handlers.get(action)
            if handler is None:
                raise SqsInvalidAction(action)
            operation = self.query_model.operation_model(action)
            params = awsquery.decode(pairs, operation.input_shape)
            path = request.raw_path.strip("/")
            if "QueueUrl" not in params and path.count("/") == 1 and _takes_url(operation):
                params["QueueUrl"] = path  # POSTed to the queue's URL
            _validate(operation, params)
            output = await handler(request.account, params)
        except NimbusError as e:
            code = e.query_code if isinstance(e, SqsError) else e.code
            status = e.status if e.status < 500 else 500
            return awsquery.error_response(
                code, e.message, status, request.request_id, XMLNS, e.status < 500
            )
        body = awsquery.encode(operation, output, request.request_id, XMLNS)
        return awsquery.response(body, request.request_id)


class SqsUnsupported(SqsError):
    """An operation of the model Nimbus does not implement."""

    code = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"

    def __init__(self, name: str) -> None:
        super().__init__(f"Nimbus does not implement {name} yet.")


class SqsInvalidAction(SqsError):
    code = query_code = "InvalidAction"

    def __init__(self, name: str) -> None:
        super().__init__(f"The action {name} is not valid for this endpoint.")


def _takes_url(operation: OperationModel) -> bool:
    shape = operation.input_shape
    return shape is not None and "QueueUrl" in shape.members


def _validate(operation: OperationModel, params: dict[str, Any]) -> None:
    shape = operation.input_shape
    if shape is None:
        return
    for name in shape.required_members:
        if params.get(name) is None:
            raise SqsMissingParameter(f"The request must contain the parameter {name}.")
    # Attribute names are the service's to reject (InvalidAttributeName, in its words).
    errors = [e for e in validate.validation_errors(shape, params) if "enum value set" not in e]
    if errors:
        raise SqsInvalidParameterValue(validate.summary(errors))


def _json_error(e: NimbusError, request_id: str) -> Response:
    query_code = e.query_code if isinstance(e, SqsError) else e.code
    fault = "Sender" if e.status < 500 else "Receiver"
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-query-error", f"{query_code};{fault}"),
    ]
    body = to_json({"__type": f"com.amazonaws.sqs#{e.code}", "message": e.message})
    return (e.status if e.status >= 400 else 400), headers, body
