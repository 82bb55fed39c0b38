"""SNS filter policies: AWS' validation messages and matching rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimbus.protocol import sns_filter


def s(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def n(value: str) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": value}


def arr(value: Any) -> dict[str, str]:
    return {"DataType": "String.Array", "StringValue": json.dumps(value)}


def attr_match(policy: dict[str, Any], attributes: dict[str, dict[str, str]]) -> bool:
    parsed = sns_filter.parse(json.dumps(policy))
    return sns_filter.matches(parsed, "MessageAttributes", "msg", attributes)


def body_match(policy: dict[str, Any], body: Any) -> bool:
    parsed = sns_filter.parse(json.dumps(policy), "MessageBody")
    text = body if isinstance(body, str) else json.dumps(body)
    return sns_filter.matches(parsed, "MessageBody", text, {})


def test_exact_strings_and_numbers() -> None:
    assert attr_match({"color": ["red", "blue"]}, {"color": s("blue")})
    assert not attr_match({"color": ["red"]}, {"color": s("green")})
    assert not attr_match({"color": ["red"]}, {})
    assert attr_match({"price": [100]}, {"price": n("100.0")})
    assert not attr_match({"price": [100]}, {"price": s("100")})  # a String is no number
    assert not attr_match({"price": ["100"]}, {"price": n("100")})
    # every key must match (AND), any value of a key (OR)
    assert attr_match({"a": ["x"], "b": [1]}, {"a": s("x"), "b": n("1")})
    assert not attr_match({"a": ["x"], "b": [1]}, {"a": s("x"), "b": n("2")})


def test_prefix_suffix_ignore_case_anything_but() -> None:
    assert attr_match({"k": [{"prefix": "ord"}]}, {"k": s("order-1")})
    assert not attr_match({"k": [{"prefix": "ord"}]}, {"k": s("x-order")})
    assert attr_match({"k": [{"suffix": ".png"}]}, {"k": s("a.png")})
    assert attr_match({"k": [{"equals-ignore-case": "RED"}]}, {"k": s("red")})
    assert attr_match({"k": [{"anything-but": ["a", "b"]}]}, {"k": s("c")})
    assert not attr_match({"k": [{"anything-but": ["a", "b"]}]}, {"k": s("a")})
    assert not attr_match({"k": [{"anything-but": "a"}]}, {})  # the attribute must exist
    assert attr_match({"k": [{"anything-but": {"prefix": "test"}}]}, {"k": s("prod")})
    assert not attr_match({"k": [{"anything-but": {"prefix": "test"}}]}, {"k": s("test-1")})


def test_numeric_ranges_and_exists() -> None:
    policy = {"price": [{"numeric": [">", 0, "<=", 150]}]}
    assert attr_match(policy, {"price": n("150")})
    assert not attr_match(policy, {"price": n("0")})
    assert not attr_match(policy, {"price": s("5")})
    assert attr_match({"k": [{"exists": True}]}, {"k": s("x")})
    assert not attr_match({"k": [{"exists": True}]}, {})
    assert attr_match({"k": [{"exists": False}]}, {"other": s("x")})
    assert not attr_match({"k": [{"exists": False}]}, {"k": s("x")})


def test_string_arrays_and_binary() -> None:
    assert attr_match({"tags": ["b"]}, {"tags": arr(["a", "b"])})
    assert not attr_match({"tags": ["c"]}, {"tags": arr(["a", "b"])})
    binary = {"k": {"DataType": "Binary", "BinaryValue": b"x"}}
    assert not attr_match({"k": [{"exists": True}]}, binary)


def test_or_and_body_scope() -> None:
    policy = {"$or": [{"a": ["1"]}, {"b": ["2"]}]}
    assert attr_match(policy, {"b": s("2")})
    assert not attr_match(policy, {"a": s("2")})
    nested = {"order": {"status": ["paid"], "total": [{"numeric": [">=", 10]}]}}
    assert body_match(nested, {"order": {"status": "paid", "total": 12}})
    assert not body_match(nested, {"order": {"status": "paid", "total": 2}})
    assert not body_match(nested, "not json")
    assert body_match({"items": {"sku": ["x"]}}, {"items": [{"sku": "y"}, {"sku": "x"}]})


def test_empty_policy_accepts_everything() -> None:
    assert sns_filter.matches(sns_filter.parse("{}"), "MessageAttributes", "m", {})


@pytest.mark.parametrize(
    ("policy", "scope", "detail"),
    [
        ("{not json", "MessageAttributes", "FilterPolicy: failed to parse JSON."),
        ('{"a": []}', "MessageAttributes", "FilterPolicy: Empty arrays are not allowed"),
        ('{"a": "b"}', "MessageAttributes", 'FilterPolicy: "a" must be an object or an array'),
        (
            '{"a": {"b": ["c"]}}',
            "MessageAttributes",
            "Filter policy scope MessageAttributes does not support nested filter policy",
        ),
        (
            '{"a": [{"numeric": ["<", "x"]}]}',
            "MessageAttributes",
            "FilterPolicy: Value of < must be numeric",
        ),
        (
            '{"a": [{"numeric": ["=", "x"]}]}',
            "MessageAttributes",
            "FilterPolicy: Value of equals must be numeric",
        ),
        (
            '{"a": [{"numeric": []}]}',
            "MessageAttributes",
            "FilterPolicy: Invalid member in numeric match: ]",
        ),
        (
            '{"a": [{"numeric": ["!", 1]}]}',
            "MessageAttributes",
            "FilterPolicy: Unrecognized numeric range operator: !",
        ),
        (
            '{"a": [{"numeric": ["<", 1, ">", 0]}]}',
            "MessageAttributes",
            "FilterPolicy: Too many elements in numeric expression",
        ),
        (
            '{"a": [{"numeric": [">", 1, ">", 0]}]}',
            "MessageAttributes",
            "FilterPolicy: Bad numeric range operator: >",
        ),
        (
            '{"a": [{"numeric": [">", 5, "<", 1]}]}',
            "MessageAttributes",
            "FilterPolicy: Bottom must be less than top",
        ),
        (
            '{"a": [{"wildcard": "x*"}]}',
            "MessageAttributes",
            "FilterPolicy: Unrecognized match type wildcard",
        ),
        (
            '{"a": [{"prefix": 1}]}',
            "MessageAttributes",
            "FilterPolicy: prefix match pattern must be a string",
        ),
        (
            '{"a": [{"prefix": "x", "suffix": "y"}]}',
            "MessageAttributes",
            "FilterPolicy: Only one key allowed in match expression",
        ),
        (
            '{"a": [{"anything-but": {"suffix": "x"}}]}',
            "MessageAttributes",
            "FilterPolicy: Unsupported anything-but pattern: suffix",
        ),
        (
            '{"a": [{"exists": "yes"}]}',
            "MessageAttributes",
            "FilterPolicy: exists match pattern must be either true or false.",
        ),
        (
            '{"a": [{"cidr": "10.0.0.0"}]}',
            "MessageAttributes",
            "FilterPolicy: Malformed CIDR, one '/' required",
        ),
        (
            '{"a": [{"cidr": "nope/8"}]}',
            "MessageAttributes",
            "FilterPolicy: Nonstandard IP address: nope",
        ),
        (
            '{"a": [["x"]]}',
            "MessageAttributes",
            "FilterPolicy: Match value must be String, number, true, false, or null",
        ),
        (
            json.dumps({k: ["x"] for k in "abcdef"}),
            "MessageAttributes",
            "FilterPolicy: Filter policy can not have more than 5 keys",
        ),
        (
            json.dumps({k: list(range(10)) for k in "abc"}),
            "MessageAttributes",
            "FilterPolicy: Filter policy is too complex",
        ),
        (
            # AWS counts a nested key's values times its depth: 6 values at depth 3 and 5 at
            # depth 2 make (6 x 3) x (5 x 2) = 180 combinations.
            json.dumps({"a": {"b": {"c": list(range(6))}}, "d": {"e": list(range(5))}}),
            "MessageBody",
            "FilterPolicy: Filter policy is too complex",
        ),
    ],
)
def test_invalid_policies(policy: str, scope: str, detail: str) -> None:
    with pytest.raises(sns_filter.PolicyError) as info:
        sns_filter.parse(policy, scope)
    assert info.value.detail == detail


def test_nested_combinations_within_limit() -> None:
    policy = {"a": {"b": {"c": list(range(4))}}, "d": {"e": list(range(3))}}  # 72 (AWS' example)
    assert sns_filter.parse(json.dumps(policy), "MessageBody") == policy
