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


# --- SQS. The JSON protocol names the error by its shape (`__type`
# com.amazonaws.sqs#<code>); `query_code` is the code of the older query protocol, which
# AWS also sends in the x-amzn-query-error header (botocore shows it as Error.Code).


class SqsError(ClientError):
    code = "InvalidParameterValue"
    query_code = "InvalidParameterValue"
    sender_fault = True


class SqsInvalidParameterValue(SqsError):
    pass


class SqsMissingParameter(SqsError):
    code = query_code = "MissingParameter"


class QueueDoesNotExist(SqsError):
    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"

    def __init__(self, message: str = "The specified queue does not exist.") -> None:
        super().__init__(message)


class QueueNameExists(SqsError):
    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class SqsInvalidAttributeName(SqsError):
    code = query_code = "InvalidAttributeName"


class SqsInvalidAttributeValue(SqsError):
    code = query_code = "InvalidAttributeValue"


class ReceiptHandleIsInvalid(SqsError):
    code = query_code = "ReceiptHandleIsInvalid"


class MessageNotInflight(SqsError):
    code = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"

    def __init__(
        self,
        message: str = "Message does not exist or is not available for visibility timeout change.",
    ) -> None:
        super().__init__(message)


class BatchEntryIdsNotDistinct(SqsError):
    code = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class BatchRequestTooLong(SqsError):
    code = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class EmptyBatchRequest(SqsError):
    code = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class InvalidBatchEntryId(SqsError):
    code = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"

    def __init__(
        self,
        message: str = (
            "A batch entry id can only contain alphanumeric characters, hyphens and "
            "underscores. It can be at most 80 letters long."
        ),
    ) -> None:
        super().__init__(message)


class TooManyEntriesInBatchRequest(SqsError):
    code = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class PurgeQueueInProgress(SqsError):
    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    status = 403


class SqsUnsupportedOperation(SqsError):
    code = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class InvalidMessageContents(SqsError):
    code = query_code = "InvalidMessageContents"


class SqsOverLimit(SqsError):
    code = query_code = "OverLimit"
    status = 403


# --- S3 (rendered as <Error><Code/><Message/>...<Resource/><RequestId/></Error>). `extra`
# holds the fields AWS adds to some errors (BucketName, Key, Condition, ArgumentName...).


class S3Error(ClientError):
    """An S3 error: AWS' code, status and (default) message; `extra` goes into the XML."""

    code = "InvalidRequest"
    default_message = "Invalid Request"

    def __init__(self, message: str | None = None, **extra: str) -> None:
        super().__init__(message if message is not None else self.default_message)
        self.extra = extra
        self.response_headers: dict[str, str] = {}  # e.g. x-amz-delete-marker on a 404


class S3AccessDenied(S3Error):
    code = "AccessDenied"
    status = 403
    default_message = "Access Denied"


class NoSuchBucket(S3Error):
    code = "NoSuchBucket"
    status = 404
    default_message = "The specified bucket does not exist"


class NoSuchKey(S3Error):
    code = "NoSuchKey"
    status = 404
    default_message = "The specified key does not exist."


class NoSuchVersion(S3Error):
    code = "NoSuchVersion"
    status = 404
    default_message = "The specified version does not exist."


class NoSuchUpload(S3Error):
    code = "NoSuchUpload"
    status = 404
    default_message = (
        "The specified upload does not exist. The upload ID may be invalid, or the upload"
        " may have been aborted or completed."
    )


class NoSuchTagSet(S3Error):
    code = "NoSuchTagSet"
    status = 404
    default_message = "The TagSet does not exist"


class BucketAlreadyExists(S3Error):
    code = "BucketAlreadyExists"
    status = 409
    default_message = (
        "The requested bucket name is not available. The bucket namespace is shared by "
        "all users of the system. Please select a different name and try again."
    )


class BucketAlreadyOwnedByYou(S3Error):
    code = "BucketAlreadyOwnedByYou"
    status = 409
    default_message = (
        "Your previous request to create the named bucket succeeded and you already own it."
    )


class BucketNotEmpty(S3Error):
    code = "BucketNotEmpty"
    status = 409
    default_message = "The bucket you tried to delete is not empty"


class InvalidBucketName(S3Error):
    code = "InvalidBucketName"
    status = 400
    default_message = "The specified bucket is not valid."


class InvalidRange(S3Error):
    code = "InvalidRange"
    status = 416
    default_message = "The requested range is not satisfiable"


class S3PreconditionFailed(S3Error):
    code = "PreconditionFailed"
    status = 412
    default_message = "At least one of the pre-conditions you specified did not hold"


class BadDigest(S3Error):
    code = "BadDigest"
    status = 400
    default_message = "The Content-MD5 you specified did not match what we received."


class InvalidDigest(S3Error):
    code = "InvalidDigest"
    status = 400
    default_message = "The Content-MD5 you specified was invalid."


class InvalidS3Request(S3Error):
    code = "InvalidRequest"
    status = 400
    default_message = "Invalid Request"


class InvalidArgument(S3Error):
    code = "InvalidArgument"
    status = 400
    default_message = "Invalid Argument"


class EntityTooLarge(S3Error):
    code = "EntityTooLarge"
    status = 400
    default_message = "Your proposed upload exceeds the maximum allowed size"


class EntityTooSmall(S3Error):
    code = "EntityTooSmall"
    status = 400
    default_message = "Your proposed upload is smaller than the minimum allowed object size."


class IncompleteBody(S3Error):
    code = "IncompleteBody"
    status = 400
    default_message = "The request body terminated unexpectedly"


class MalformedXML(S3Error):
    code = "MalformedXML"
    status = 400
    default_message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class S3MethodNotAllowed(S3Error):
    code = "MethodNotAllowed"
    status = 405
    default_message = "The specified method is not allowed against this resource."


class S3NotImplemented(S3Error):
    code = "NotImplemented"
    status = 501
    default_message = "A header you provided implies functionality that is not implemented"


class InvalidTag(S3Error):
    code = "InvalidTag"
    status = 400
    default_message = "The TagSet is not valid."


class InvalidPart(S3Error):
    code = "InvalidPart"
    status = 400
    default_message = (
        "One or more of the specified parts could not be found. The part may not have "
        "been uploaded, or the specified entity tag may not match the part's entity tag."
    )


class InvalidPartOrder(S3Error):
    code = "InvalidPartOrder"
    status = 400
    default_message = (
        "The list of parts was not in ascending order. Parts must be ordered by part number."
    )


class IllegalVersioningConfiguration(S3Error):
    code = "IllegalVersioningConfigurationException"
    status = 400
    default_message = "The Versioning element must be specified"


class MissingContentLength(S3Error):
    code = "MissingContentLength"
    status = 411
    default_message = "You must provide the Content-Length HTTP header."


class KeyTooLong(S3Error):
    code = "KeyTooLongError"
    status = 400
    default_message = "Your key is too long"


class InvalidLocationConstraint(S3Error):
    code = "InvalidLocationConstraint"
    status = 400
    default_message = "The specified location-constraint is not valid"


class IllegalLocationConstraint(S3Error):
    code = "IllegalLocationConstraintException"
    status = 400
    default_message = (
        "The unspecified location constraint is incompatible for the region specific endpoint"
        " this request was sent to."
    )


class S3InternalError(S3Error):
    code = "InternalError"
    status = 500
    default_message = "We encountered an internal error. Please try again."


class InvalidPartNumber(S3Error):
    code = "InvalidPartNumber"
    status = 416
    default_message = "The requested partnumber is not satisfiable"


class InvalidStorageClass(S3Error):
    code = "InvalidStorageClass"
    default_message = "The storage class you specified is not valid"
