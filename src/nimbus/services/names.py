"""Function names as the Lambda API accepts them: name, partial ARN or ARN, with a qualifier."""

from __future__ import annotations

import functools
import re

from nimbus.errors import InvalidParameterValue

_ARN = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):)?(?:(?P<account>\d{12}):)?"
    r"(?:function:)?(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)


@functools.lru_cache(maxsize=4096)  # every invoke parses its name: names repeat
def parse_function_name(
    value: str, qualifier: str | None = None
) -> tuple[str, str | None, str | None]:
    """-> (name, qualifier, account in the ARN or None)."""
    match = _ARN.match(value)
    if match is None:
        raise InvalidParameterValue(f"Invalid function name or ARN: {value}")
    in_name = match.group("qualifier")
    if in_name and qualifier and in_name != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return match.group("name"), in_name or qualifier, match.group("account")


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn
