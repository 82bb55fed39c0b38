"""SNS names and tokens: topic names and ARNs, subscription endpoints, tags, page tokens,
checked as AWS checks them."""

from __future__ import annotations

import base64
import re

from nimbus.protocol.sns_errors import InvalidParameter, TagLimitExceeded

PAGE = 100
MAX_TAGS = 50
TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOPIC_ARN = re.compile(
    r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[^:]+)$"
)
_SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?$"
)


def check_topic_arn(arn: str | None, what: str = "TopicArn") -> str:
    arn = arn or ""
    if arn.count(":") < 5:
        raise InvalidParameter(
            what, f"An ARN must have at least 6 elements, not {arn.count(':') + 1}"
        )
    if not _TOPIC_ARN.match(arn):
        raise InvalidParameter(what)
    return arn


def page_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def after_token(token: str | None) -> str:
    if not token:
        return ""
    try:
        after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        after = ""
    if not after.startswith("arn:"):
        raise InvalidParameter("NextToken")
    return after


def tag_map(tags: list[dict[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= 128 or len(value) > 256 or key.startswith("aws:"):
            raise InvalidParameter("Tags", f"Invalid tag key or value: {key}")
        out[key] = value
    if len(out) > MAX_TAGS:
        raise TagLimitExceeded("Could not complete request: tag quota of per resource exceeded")
    return out


def check_endpoint(protocol: str, endpoint: str | None) -> str:
    if protocol not in ("sqs", "lambda", "http", "https"):
        raise InvalidParameter(f"Amazon SNS does not support this protocol string: {protocol}")
    endpoint = endpoint or ""
    if protocol == "sqs" and not _SQS_ARN.match(endpoint):
        raise InvalidParameter("SQS endpoint ARN")
    if protocol == "lambda" and not _LAMBDA_ARN.match(endpoint):
        raise InvalidParameter("Lambda endpoint ARN")
    if protocol in ("http", "https") and not endpoint.lower().startswith(f"{protocol}://"):
        raise InvalidParameter("Endpoint must match the specified protocol")
    return endpoint
