"""One error tree for all of Nimbus: each error carries its AWS code and HTTP status.

Code raises these; the API edge renders them in the wire shape of the service.
"""

from __future__ import annotations


class NimbusError(Exception):
    """Base of every error a client may see."""

    code = "ServiceException"
    status = 500
    error_kind = "Service"  # rest-json "Type": "User" for client faults, "Service" otherwise

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientError(NimbusError):
    status = 400
    error_kind = "User"


class InvalidParameterValue(ClientError):
    code = "InvalidParameterValueException"


class ValidationError(ClientError):
    code = "ValidationException"


class ResourceNotFound(ClientError):
    code = "ResourceNotFoundException"
    status = 404


class RuntimeNotInstalled(InvalidParameterValue):
    """The function's runtime has no interpreter on this machine."""


class RequestTooLarge(ClientError):
    code = "RequestTooLargeException"
    status = 413


class InvalidRequestContent(ClientError):
    """The body is not the JSON the operation expects."""

    code = "InvalidRequestContentException"


class UnknownOperation(ClientError):
    code = "UnknownOperationException"
    status = 404


class TooManyRequests(ClientError):
    """Throttled: a concurrency limit is reached (AWS TooManyRequestsException)."""

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        # ReservedFunctionConcurrentInvocationLimitExceeded | ConcurrentInvocationLimitExceeded
        self.reason = reason


class ServiceError(NimbusError):
    code = "ServiceException"
    status = 500


class EngineClosed(ServiceError):
    """The engine is shutting down and accepts no new invocations."""
