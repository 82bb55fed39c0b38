"""The Routes service: validation, errors, persistence in routes.json."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nimbus.errors import BadRequest, ResourceNotFound, RouteConflict, RouteNotFound
from nimbus.models import FunctionRecord
from nimbus.services.routes import Routes

A = "000000000000"


class Known:
    """Only `hello` exists."""

    async def get(self, account: str, name: str, region: str) -> FunctionRecord:
        if name != "hello":
            raise ResourceNotFound(f"Function not found: {name}")
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


def test_add_list_remove_and_persistence(tmp_path: Path) -> None:
    routes = Routes(tmp_path / "routes.json", Known())
    out = run(routes.add_route(A, {"RouteKey": "GET /hello", "FunctionName": "hello"}))
    assert out == {"RouteKey": "GET /hello", "FunctionName": "hello", "PayloadFormatVersion": "2.0"}
    run(
        routes.add_route(
            A,
            {
                "RouteKey": "ANY /{proxy+}",
                "FunctionName": f"arn:aws:lambda:us-east-1:{A}:function:hello",
                "PayloadFormatVersion": "1.0",
            },
        )
    )
    run(routes.add_route(A, {"RouteKey": "$default", "FunctionName": "hello"}))
    listed = run(routes.list_routes(A, {}))["Routes"]
    assert [r["RouteKey"] for r in listed] == ["GET /hello", "ANY /{proxy+}", "$default"]
    assert listed[1]["FunctionName"] == "hello"
    assert run(routes.list_routes("111111111111", {})) == {"Routes": []}

    stored = json.loads((tmp_path / "routes.json").read_text())
    assert stored["accounts"][A]["ANY /{proxy+}"] == {
        "function": "hello",
        "payloadFormatVersion": "1.0",
    }
    again = Routes(tmp_path / "routes.json")
    assert run(again.list_routes(A, {}))["Routes"] == listed
    match = again.table(A).match("POST", "/x/y")
    assert match is not None and match.route.key == "ANY /{proxy+}"

    assert run(routes.remove_route(A, {"RouteKey": "GET /hello"})) == {}
    assert [r["RouteKey"] for r in run(routes.list_routes(A, {}))["Routes"]] == [
        "ANY /{proxy+}",
        "$default",
    ]
    assert not list(tmp_path.glob(".*tmp"))


def test_errors(tmp_path: Path) -> None:
    routes = Routes(tmp_path / "routes.json", Known())
    run(routes.add_route(A, {"RouteKey": "GET /hello", "FunctionName": "hello"}))
    with pytest.raises(RouteConflict, match="already exists"):
        run(routes.add_route(A, {"RouteKey": "GET /hello", "FunctionName": "hello"}))
    # Replace: true overwrites
    run(
        routes.add_route(
            A,
            {
                "RouteKey": "GET /hello",
                "FunctionName": "hello",
                "PayloadFormatVersion": "1.0",
                "Replace": True,
            },
        )
    )
    assert routes.target(A, "GET /hello") == ("hello", "1.0")
    with pytest.raises(ResourceNotFound):
        run(routes.add_route(A, {"RouteKey": "GET /x", "FunctionName": "nope"}))
    for bad in [
        {"RouteKey": "FETCH /x", "FunctionName": "hello"},
        {"RouteKey": "GET x", "FunctionName": "hello"},
        {"RouteKey": "", "FunctionName": "hello"},
        {"RouteKey": "GET /x"},
        {"RouteKey": "GET /x", "FunctionName": "hello", "PayloadFormatVersion": "3.0"},
        {"RouteKey": "GET /x", "FunctionName": "hello:prod"},
        {"RouteKey": "GET /x", "FunctionName": "arn:aws:lambda:us-east-1:111111111111:function:h"},
    ]:
        with pytest.raises(BadRequest):
            run(routes.add_route(A, bad))
    with pytest.raises(RouteNotFound) as e:
        run(routes.remove_route(A, {"RouteKey": "GET /nothing"}))
    assert e.value.code == "NotFoundException" and e.value.status == 404
