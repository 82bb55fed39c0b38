"""The FunctionUrls service: the five operations, AWS' errors, function_urls.json."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from nimbus.models import FunctionRecord
from nimbus.services.function_urls import FunctionUrls

A = "000000000000"
ARN = f"arn:aws:lambda:us-east-1:{A}:function:hello"
BASE = "http://127.0.0.1:8901"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Known:
    """Only `hello` exists."""

    async def get(self, account: str, name: str, region: str) -> FunctionRecord:
        if name != "hello":
            raise ResourceNotFound(
                f"Function not found: arn:aws:lambda:{region}:{account}:function:{name}"
            )
        return FunctionRecord(
            account_id=account,
            region=region,
            name=name,
            runtime="python3.12",
            handler="app.handler",
            role="r",
            code_sha256="",
            code_size=0,
            code_key="k",
        )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def urls(tmp_path: Path) -> FunctionUrls:
    return FunctionUrls(tmp_path / "function_urls.json", Known(), BASE)


def test_create_get_update_list_delete(urls: FunctionUrls, tmp_path: Path) -> None:
    created = run(urls.create(A, {"FunctionName": "hello", "AuthType": "NONE"}))
    url_id = re.fullmatch(rf"{BASE}/lambda-url/([a-z0-9]{{32}})/", created["FunctionUrl"])
    assert url_id is not None
    assert created["FunctionArn"] == ARN
    assert created["AuthType"] == "NONE"
    assert created["InvokeMode"] == "BUFFERED"
    assert TIME.match(created["CreationTime"])
    assert "LastModifiedTime" not in created and "Cors" not in created
    target = urls.resolve(url_id.group(1))
    assert target is not None and (target.account, target.function) == (A, "hello")

    got = run(urls.get(A, {"FunctionName": ARN}))
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["LastModifiedTime"] == got["CreationTime"]

    cors = {"AllowOrigins": ["https://example.com"], "MaxAge": 60}
    updated = run(
        urls.update(
            A,
            {
                "FunctionName": "hello",
                "AuthType": "AWS_IAM",
                "Cors": cors,
                "InvokeMode": "RESPONSE_STREAM",
            },
        )
    )
    assert (updated["AuthType"], updated["Cors"], updated["InvokeMode"]) == (
        "AWS_IAM",
        cors,
        "RESPONSE_STREAM",
    )
    assert updated["FunctionUrl"] == created["FunctionUrl"]  # the URL never changes
    assert updated["LastModifiedTime"] >= updated["CreationTime"]
    # An empty Cors removes it; absent fields are left alone.
    updated = run(urls.update(A, {"FunctionName": "hello", "Cors": {}}))
    assert "Cors" not in updated and updated["AuthType"] == "AWS_IAM"

    listed = run(urls.list(A, {"FunctionName": "hello"}))
    assert [c["FunctionUrl"] for c in listed["FunctionUrlConfigs"]] == [created["FunctionUrl"]]

    # Persisted: a new instance (a restart) sees the same URL.
    again = FunctionUrls(tmp_path / "function_urls.json", Known(), BASE)
    assert run(again.get(A, {"FunctionName": "hello"}))["FunctionUrl"] == created["FunctionUrl"]
    assert again.resolve(url_id.group(1)) is not None
    assert not list(tmp_path.glob(".*.tmp"))
    assert json.loads((tmp_path / "function_urls.json").read_text())["accounts"][A]["hello"]

    assert run(urls.delete(A, {"FunctionName": "hello"})) == {}
    assert urls.resolve(url_id.group(1)) is None
    assert run(urls.list(A, {"FunctionName": "hello"})) == {"FunctionUrlConfigs": []}
    with pytest.raises(ResourceNotFound, match=r"The resource you requested does not exist\."):
        run(urls.get(A, {"FunctionName": "hello"}))
    with pytest.raises(ResourceNotFound):
        run(urls.delete(A, {"FunctionName": "hello"}))
    with pytest.raises(ResourceNotFound):
        run(urls.update(A, {"FunctionName": "hello", "AuthType": "NONE"}))


def test_duplicate_is_a_conflict(urls: FunctionUrls) -> None:
    run(urls.create(A, {"FunctionName": "hello", "AuthType": "NONE"}))
    with pytest.raises(ResourceConflict) as info:
        run(urls.create(A, {"FunctionName": "hello", "AuthType": "AWS_IAM"}))
    assert info.value.message == (
        f"Failed to create function url config for [functionArn = {ARN}]."
        " Error message:  FunctionUrlConfig exists for this Lambda function"
    )
    assert info.value.status == 409


def test_unknown_function_and_qualifier(urls: FunctionUrls) -> None:
    with pytest.raises(ResourceNotFound, match="Function not found"):
        run(urls.create(A, {"FunctionName": "nope", "AuthType": "NONE"}))
    with pytest.raises(ResourceNotFound, match=f"{ARN}:live"):
        run(urls.create(A, {"FunctionName": "hello", "Qualifier": "live", "AuthType": "NONE"}))
    with pytest.raises(ResourceNotFound):
        run(urls.get("111111111111", {"FunctionName": ARN}))  # another account's ARN


def test_validation(urls: FunctionUrls) -> None:
    with pytest.raises(InvalidParameterValue):
        run(urls.create(A, {"FunctionName": "hello", "AuthType": "OPEN"}))
    with pytest.raises(InvalidParameterValue):
        run(
            urls.create(
                A,
                {"FunctionName": "hello", "AuthType": "NONE", "Cors": {"AllowMethods": ["FETCH"]}},
            )
        )


def test_forget(urls: FunctionUrls) -> None:
    url = run(urls.create(A, {"FunctionName": "hello", "AuthType": "NONE"}))["FunctionUrl"]
    urls.forget(A, "hello")
    urls.forget(A, "hello")  # idempotent
    assert urls.resolve(url.rstrip("/").rsplit("/", 1)[-1]) is None
    run(urls.create(A, {"FunctionName": "hello", "AuthType": "NONE"}))  # no conflict now
