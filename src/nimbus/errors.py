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


class ResourceConflict(ClientError):
    code = "ResourceConflictException"
    status = 409


class PreconditionFailed(ClientError):
    code = "PreconditionFailedException"
    status = 412


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


class RequestEntityTooLarge(ClientError):
    """The request body is too large for the operation (e.g. a ZipFile over 50 MB).

    AWS answers a direct upload over the limit with this code (not the model's
    RequestTooLargeException): "Request must be smaller than 69905067 bytes for the
    CreateFunction operation", HTTP 413 (seen in apex/up#222, localstack#2999).
    """

    code = "RequestEntityTooLargeException"
    status = 413


class CodeStorageExceeded(ClientError):
    """The account's total code storage quota is used up (AWS: 75 GB)."""

    code = "CodeStorageExceededException"


# --- Authentication (SigV4). The edge renders these per service: S3 words the same
# failures with its own code/status/message (`s3_code`, `s3_status`, `s3_message`).


class AuthFailure(ClientError):
    """The request failed authentication."""

    status = 403
    s3_code = "AccessDenied"
    s3_status = 403
    s3_message: str | None = None  # None: S3 uses `message` as is


class MissingAuthenticationToken(AuthFailure):
    code = "MissingAuthenticationTokenException"
    s3_message = "Access Denied"

    def __init__(self, message: str = "Missing Authentication Token") -> None:
        super().__init__(message)


class IncompleteSignature(AuthFailure):
    """The Authorization header (or Date) is malformed or incomplete."""

    code = "IncompleteSignatureException"
    s3_code = "AuthorizationHeaderMalformed"
    s3_status = 400


class IncompleteQuerySignature(IncompleteSignature):
    """A presigned URL's X-Amz-* query parameters are malformed or incomplete."""

    s3_code = "AuthorizationQueryParametersError"


class UnrecognizedClient(AuthFailure):
    """Unknown access key (raised by the caller that looks up secrets)."""

    code = "UnrecognizedClientException"
    s3_code = "InvalidAccessKeyId"
    s3_message = "The AWS Access Key Id you provided does not exist in our records."

    def __init__(
        self, message: str = "The security token included in the request is invalid."
    ) -> None:
        super().__init__(message)


class InvalidSignature(AuthFailure):
    code = "InvalidSignatureException"
    s3_code = "SignatureDoesNotMatch"
    s3_message = (
        "The request signature we calculated does not match the signature you provided."
        " Check your key and signing method."
    )

    def __init__(
        self,
        message: str = (
            "The request signature we calculated does not match the signature you provided."
            " Check your AWS Secret Access Key and signing method."
            " Consult the service documentation for details."
        ),
    ) -> None:
        super().__init__(message)


class RequestTimeSkewed(InvalidSignature):
    """The signing time is too far from the server's clock ("Signature expired: ...")."""

    s3_code = "RequestTimeTooSkewed"
    s3_message = "The difference between the request time and the current time is too large."


class RequestExpired(AuthFailure):
    """A presigned URL used after its expiry."""

    code = "AccessDenied"
    s3_message = "Request has expired"

    def __init__(self, message: str = "Request has expired") -> None:
        super().__init__(message)


class ContentSHA256Mismatch(AuthFailure):
    """The body does not hash to the signed x-amz-content-sha256 header."""

    code = "XAmzContentSHA256Mismatch"
    status = 400
    s3_code = "XAmzContentSHA256Mismatch"
    s3_status = 400

    def __init__(
        self,
        message: str = (
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        ),
    ) -> None:
        super().__init__(message)


class InvalidEventPattern(ClientError):
    """EventBridge: a rule's EventPattern is malformed."""

    code = "InvalidEventPatternException"


class LimitExceeded(ClientError):
    """A quota is reached (e.g. EventBridge: more than 5 targets on a rule)."""

    code = "LimitExceededException"


# --- HTTP gateway routes (API Gateway v2 words these errors).


class BadRequest(ClientError):
    """An invalid route key or route setting (apigatewayv2 BadRequestException)."""

    code = "BadRequestException"


class RouteConflict(ResourceConflict):
    """A route with this key already exists (apigatewayv2 ConflictException)."""

    code = "ConflictException"


class RouteNotFound(ResourceNotFound):
    """No route with this key (apigatewayv2 NotFoundException)."""

    code = "NotFoundException"
