"""Helpers of the S3 end-to-end tests (a module, not conftest: imported by name)."""

from __future__ import annotations

import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any

from botocore.exceptions import ClientError
from e2e import NimbusServer

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def s3_client(server: NimbusServer, **config: Any) -> Any:
    config.setdefault("s3", {"addressing_style": "path"})
    return server.client("s3", **config)


def fails(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str, str, dict[str, Any]]:
    """(status, code, message, the whole parsed error) of an S3 call that must fail."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        response = e.response
        return (
            response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Code"],
            response["Error"].get("Message", ""),
            response["Error"],
        )
    raise AssertionError("the call succeeded")


def http(
    url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A plain urllib request: (status, headers by lower-case name, body), errors included."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), error.read()


def xml_error(body: bytes) -> dict[str, str]:
    """S3's <Error> document as a dict (checks its shape)."""
    root = ET.fromstring(body)
    assert root.tag == "Error", body
    fields = {child.tag: child.text or "" for child in root}
    assert {"Code", "Message", "RequestId"} <= fields.keys(), body
    return fields


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
