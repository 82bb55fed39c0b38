"""Reserved concurrency: Put/Get/DeleteFunctionConcurrency, enforced on invocations."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import create, error_of, unique


def test_reserved_concurrency_round_trip_and_throttles(lam: Any) -> None:
    name = create(lam, unique("reserved"))["FunctionName"]
    assert (
        lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    )
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert (
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)[
            "ReservedConcurrentExecutions"
        ]
        == 2
    )
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 2
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    after = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert after == before - 2

    def call(_: int) -> str:
        try:
            lam.invoke(FunctionName=name, Payload=json.dumps({"action": "sleep", "seconds": 1}))
            return "ok"
        except ClientError as e:
            response = e.response
            return f"{response['ResponseMetadata']['HTTPStatusCode']} {response['Error']['Code']}"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(call, range(4)))
    assert outcomes == ["429 TooManyRequestsException"] * 2 + ["ok"] * 2

    lam.delete_function_concurrency(FunctionName=name)
    assert "Concurrency" not in lam.get_function(FunctionName=name)
    assert (
        lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    )


def test_reservations_keep_100_unreserved(lam: Any) -> None:
    name = create(lam, unique("greedy"))["FunctionName"]
    limit = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    with pytest.raises(ClientError) as info:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=limit - 99)
    status, code, message = error_of(info)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message == (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100]."
    )
    with pytest.raises(ClientError) as info:
        lam.put_function_concurrency(FunctionName="no-such-fn", ReservedConcurrentExecutions=1)
    assert error_of(info)[:2] == (404, "ResourceNotFoundException")


def test_zero_reserved_means_never_invoked(lam: Any) -> None:
    name = create(lam, unique("off"))["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert error_of(info)[:2] == (429, "TooManyRequestsException")
