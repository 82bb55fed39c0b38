"""SNS' error codes (botocore's sns model: code + status), in Nimbus' one error tree.

Ordinary NimbusErrors (the edge and adapters render them), in a module of their own
because several share a name with SQS' errors in errors.py (EmptyBatchRequest,
BatchEntryIdsNotDistinct ...) whose wire codes differ (SQS adds query-protocol codes).
"""

from __future__ import annotations

from nimbus.errors import ClientError


class SnsError(ClientError):
    pass


class InvalidParameter(SnsError):
    """AWS words these "Invalid parameter: <what>[ Reason: <why>]"."""

    code = "InvalidParameter"

    def __init__(self, what: str, reason: str | None = None) -> None:
        text = f"Invalid parameter: {what}"
        super().__init__(f"{text} Reason: {reason}" if reason else text)


class ParameterValueInvalid(SnsError):
    """botocore's InvalidParameterValueException (message attributes)."""

    code = "ParameterValueInvalid"


class NotFound(SnsError):
    code = "NotFound"
    status = 404


class ResourceNotFound(SnsError):
    code = "ResourceNotFound"
    status = 404


class AuthorizationError(SnsError):
    code = "AuthorizationError"
    status = 403


class EmptyBatchRequest(SnsError):
    code = "EmptyBatchRequest"

    def __init__(self) -> None:
        super().__init__("The batch request doesn't contain any entries")


class TooManyEntriesInBatchRequest(SnsError):
    code = "TooManyEntriesInBatchRequest"

    def __init__(self) -> None:
        super().__init__("The batch request contains more entries than permissible.")


class BatchEntryIdsNotDistinct(SnsError):
    code = "BatchEntryIdsNotDistinct"

    def __init__(self) -> None:
        super().__init__("Two or more batch entries in the request have the same Id.")


class InvalidBatchEntryId(SnsError):
    code = "InvalidBatchEntryId"


class BatchRequestTooLong(SnsError):
    code = "BatchRequestTooLong"

    def __init__(self) -> None:
        super().__init__("The length of all the messages put together is more than the limit.")


class TagLimitExceeded(SnsError):
    code = "TagLimitExceeded"


class FilterPolicyLimitExceeded(SnsError):
    code = "FilterPolicyLimitExceeded"
    status = 403
