"""API Gateway HTTP API codec: route selection, events vs AWS' documented examples, responses."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from nimbus.protocol import apigw
from nimbus.protocol.apigw import ApiContext, HttpRequest, RouteKeyError, RouteTable

HOST = "id.execute-api.us-east-1.amazonaws.com"

# --- route selection -------------------------------------------------------------------


def test_aws_routing_example() -> None:
    """The example of AWS' "Routing API requests" section, request by request."""
    table = RouteTable(
        ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"]
    )
    cases = {
        ("GET", "/pets/dog/1"): ("GET /pets/dog/1", {}),
        ("GET", "/pets/dog/2"): ("GET /pets/dog/{id}", {"id": "2"}),
        ("GET", "/pets/cat/1"): ("GET /pets/{proxy+}", {"proxy": "cat/1"}),
        ("POST", "/pets/dog/1"): ("ANY /{proxy+}", {"proxy": "pets/dog/1"}),
        ("GET", "/"): ("$default", {}),  # a greedy variable needs one segment at least
    }
    for (method, path), (key, params) in cases.items():
        match = table.match(method, path)
        assert match is not None
        assert (match.route.key, match.path_parameters) == (key, params), (method, path)


def test_precedence() -> None:
    table = RouteTable(
        ["ANY /items/{id}", "GET /items/{id}", "GET /items/new", "GET /{a}/{b}", "GET /items/{x+}"]
    )

    def key(method: str, path: str) -> str | None:
        match = table.match(method, path)
        return match.route.key if match else None

    assert key("GET", "/items/new") == "GET /items/new"  # literal > variable
    assert key("GET", "/items/7") == "GET /items/{id}"  # literal segment first, from the left
    assert key("GET", "/things/7") == "GET /{a}/{b}"
    assert key("GET", "/items/7/parts") == "GET /items/{x+}"  # only the greedy one fits
    assert key("DELETE", "/items/7") == "ANY /items/{id}"  # method beats ANY, ANY still matches
    assert key("GET", "/nothing") is None  # no $default: 404
    assert key("GET", "/items") is None  # a variable needs a non-empty segment
    assert key("GET", "/items/") is None


def test_path_parameters_are_decoded_and_greedy_has_no_leading_slash() -> None:
    table = RouteTable(["GET /files/{name}", "ANY /static/{proxy+}"])
    match = table.match("GET", "/files/a%20b.txt")
    assert match is not None and match.path_parameters == {"name": "a b.txt"}
    match = table.match("PUT", "/static/css/site.css")
    assert match is not None and match.path_parameters == {"proxy": "css/site.css"}


@pytest.mark.parametrize(
    "key",
    [
        "",
        "GET",
        "get /x",
        "FETCH /x",
        "GET x",
        "GET /a/{p+}/b",
        "GET /{a}/{a}",
        "GET /a//b",
        "GET /a b",
        "$DEFAULT",
    ],
)
def test_invalid_route_keys(key: str) -> None:
    with pytest.raises(RouteKeyError):
        apigw.parse_route_key(key)


def test_valid_route_keys() -> None:
    for key in ["$default", "GET /", "ANY /{proxy+}", "POST /a/{b}/c", "OPTIONS /x.y-z_~"]:
        assert apigw.parse_route_key(key).key == key


# --- events ----------------------------------------------------------------------------


def _request(**fields: Any) -> HttpRequest:
    defaults: dict[str, Any] = {
        "method": "POST",
        "raw_path": "/my/path",
        "query_string": "parameter1=value1&parameter1=value2&parameter2=value",
        "headers": [
            ("Host", HOST),
            ("User-Agent", "agent"),
            ("Header1", "value1"),
            ("Header2", "value1"),
            ("Header2", "value2"),
            ("Cookie", "cookie1; cookie2"),
            ("Content-Type", "text/plain"),
        ],
        "body": b"Hello from Lambda",
        "source_ip": "192.0.2.1",
        "time_ms": 1583348638390,
        "request_id": "id",
    }
    defaults.update(fields)
    return HttpRequest(**defaults)


def _match(key: str, method: str, path: str) -> apigw.RouteMatch:
    match = RouteTable([key]).match(method, path)
    assert match is not None
    return match


def test_v2_event_matches_aws_example() -> None:
    """AWS' 2.0 example, field by field (minus authentication/authorizer/stageVariables,
    which need features Nimbus has not: mTLS, authorizers, stages). The example's
    `time` (12/Mar) contradicts its own timeEpoch (4 Mar); we derive time from timeEpoch."""
    event = apigw.build_event(
        _request(), _match("$default", "POST", "/my/path"), ApiContext("123456789012", "api-id")
    )
    expected = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/my/path",
        "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
        "cookies": ["cookie1", "cookie2"],
        "headers": {
            "host": HOST,
            "user-agent": "agent",
            "header1": "value1",
            "header2": "value1,value2",
            "content-type": "text/plain",
        },
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": HOST,
            "domainPrefix": "id",
            "http": {
                "method": "POST",
                "path": "/my/path",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "agent",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "body": "Hello from Lambda",
        "isBase64Encoded": False,
    }
    assert event == expected
    # Byte-exact: the same key order as AWS' example.
    assert orjson.dumps(event) == orjson.dumps(expected)


def test_v2_path_parameters_and_omitted_fields() -> None:
    request = _request(
        method="GET", raw_path="/items/42", query_string="", body=b"", headers=[("Host", "h")]
    )
    event = apigw.build_event(
        request, _match("GET /items/{id}", "GET", "/items/42"), ApiContext("1", "a")
    )
    assert event["pathParameters"] == {"id": "42"}
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /items/{id}"
    for absent in ("cookies", "queryStringParameters", "body", "stageVariables"):
        assert absent not in event
    assert event["rawQueryString"] == ""
    assert event["isBase64Encoded"] is False


def test_v2_multiple_cookie_headers_and_encoded_query() -> None:
    request = _request(
        headers=[("Cookie", "a=1; b=2"), ("Cookie", "c=3")],
        query_string="q=a%20b&q=c%2Cd&empty=&flag",
    )
    event = apigw.build_event(request, _match("$default", "GET", "/"), ApiContext("1", "a"))
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"q": "a b,c,d", "empty": "", "flag": ""}
    assert event["rawQueryString"] == "q=a%20b&q=c%2Cd&empty=&flag"


@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_binary_bodies_are_base64(version: str) -> None:
    data = bytes(range(256))
    for content_type in ["application/octet-stream", "image/png", None]:
        headers = [("Content-Type", content_type)] if content_type else []
        request = _request(headers=headers, body=data)
        event = apigw.build_event(request, _match("$default", "POST", "/"), ApiContext("1", "a"))
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(event["body"]) == data
    for content_type in ["application/json", "text/html; charset=utf-8", "application/ld+json"]:
        request = _request(headers=[("Content-Type", content_type)], body='{"é": 1}'.encode())
        event = apigw.build_event(request, _match("$default", "POST", "/"), ApiContext("1", "a"))
        assert (event["body"], event["isBase64Encoded"]) == ('{"é": 1}', False)
    # text/* that is not UTF-8 still arrives intact
    request = _request(headers=[("Content-Type", "text/plain")], body=b"\xff\xfe")
    event = apigw.build_event(request, _match("$default", "POST", "/"), ApiContext("1", "a"))
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\xfe"


def test_v1_event_matches_aws_example() -> None:
    """AWS' 1.0 example, field by field (minus identity.clientCert, which needs mTLS).

    One documented deviation: the example's single-value `queryStringParameters` shows the
    first of two values while its `headers` show the last; Nimbus takes the last for both,
    as REST APIs (where format 1.0 comes from) do."""
    request = _request(
        method="GET",
        headers=[
            ("Host", HOST),
            ("User-Agent", "user-agent"),
            ("header1", "value1"),
            ("header2", "value1"),
            ("header2", "value2"),
            ("content-type", "text/plain"),  # without one, a body is binary (base64)
        ],
        body=b"Hello from Lambda!",
        time_ms=1583349317135,
        request_id="id=",
    )
    event = apigw.build_event(
        request, _match("GET /my/path", "GET", "/my/path"), ApiContext("123456789012", "id"), "1.0"
    )
    expected = {
        "version": "1.0",
        "resource": "/my/path",
        "path": "/my/path",
        "httpMethod": "GET",
        "headers": {
            "host": HOST,
            "user-agent": "user-agent",
            "header1": "value1",
            "header2": "value2",
            "content-type": "text/plain",
        },
        "multiValueHeaders": {
            "host": [HOST],
            "user-agent": ["user-agent"],
            "header1": ["value1"],
            "header2": ["value1", "value2"],
            "content-type": ["text/plain"],
        },
        "queryStringParameters": {"parameter1": "value2", "parameter2": "value"},
        "multiValueQueryStringParameters": {
            "parameter1": ["value1", "value2"],
            "parameter2": ["value"],
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "id",
            "authorizer": {"claims": None, "scopes": None},
            "domainName": HOST,
            "domainPrefix": "id",
            "extendedRequestId": "id=",
            "httpMethod": "GET",
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": "192.0.2.1",
                "user": None,
                "userAgent": "user-agent",
                "userArn": None,
            },
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "requestId": "id=",
            "requestTime": "04/Mar/2020:19:15:17 +0000",
            "requestTimeEpoch": 1583349317135,
            "resourceId": None,
            "resourcePath": "/my/path",
            "stage": "$default",
        },
        "pathParameters": None,
        "stageVariables": None,
        "body": "Hello from Lambda!",
        "isBase64Encoded": False,
    }
    assert event == expected
    assert orjson.dumps(event) == orjson.dumps(expected)


def test_v1_empty_fields_are_null_and_cookies_stay_in_headers() -> None:
    request = _request(method="GET", query_string="", body=b"", headers=[("Cookie", "a=1; b=2")])
    event = apigw.build_event(
        request, _match("GET /x/{id}", "GET", "/x/1"), ApiContext("1", "a"), "1.0"
    )
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None
    assert event["pathParameters"] == {"id": "1"}
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/x/{id}"
    assert event["headers"] == {"cookie": "a=1; b=2"}


def test_clf_time() -> None:
    assert apigw.clf_time(1583349317135) == "04/Mar/2020:19:15:17 +0000"
    assert apigw.clf_time(0) == "01/Jan/1970:00:00:00 +0000"


# --- responses -------------------------------------------------------------------------


def _map(value: Any, version: str = "2.0") -> apigw.HttpResponse:
    return apigw.map_response(orjson.dumps(value), version)


def test_v2_inferred_responses() -> None:
    """AWS: valid JSON without statusCode -> 200, application/json, body = the response."""
    r = _map("Hello from Lambda!")
    assert (r.status, r.headers, r.body) == (
        200,
        [("content-type", "application/json")],
        b"Hello from Lambda!",
    )
    r = _map({"message": "Hello from Lambda!"})
    assert (r.status, r.body) == (200, b'{"message":"Hello from Lambda!"}')
    assert r.headers == [("content-type", "application/json")]
    assert _map([1, 2]).body == b"[1,2]"
    assert _map(42).body == b"42"
    # a dict with a body but no statusCode is still the body itself
    assert _map({"body": "x"}).body == b'{"body":"x"}'


def test_v2_structured_response() -> None:
    r = _map(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/html", "X-Count": 3, "X-Ok": True},
            "multiValueHeaders": {"X-Multi": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": "<p>hi</p>",
        }
    )
    assert r.status == 201
    assert r.body == b"<p>hi</p>"
    assert r.headers == [
        ("x-multi", "a"),
        ("x-multi", "b"),
        ("content-type", "text/html"),
        ("x-count", "3"),
        ("x-ok", "true"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2; HttpOnly"),
    ]


def test_base64_response_and_defaults() -> None:
    data = bytes(range(256))
    r = _map(
        {
            "statusCode": 200,
            "isBase64Encoded": True,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(data).decode(),
        }
    )
    assert r.body == data
    r = _map({"statusCode": 204})
    assert (r.status, r.body, r.headers) == (204, b"", [])
    r = _map({"statusCode": "200", "body": "x"})
    assert r.status == 200 and ("content-type", "text/plain; charset=utf-8") in r.headers


@pytest.mark.parametrize(
    "value",
    [
        {"statusCode": "abc"},
        {"statusCode": 700},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "isBase64Encoded": True, "body": "***"},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"bad name": "x"}},
        {"statusCode": 200, "headers": {"x": "a\r\nInjected: 1"}},
        {"statusCode": 200, "cookies": "a=1"},
    ],
)
def test_malformed_responses_are_500(value: Any) -> None:
    r = _map(value)
    assert (r.status, r.body) == (500, b'{"message":"Internal Server Error"}')


def test_v1_responses() -> None:
    r = _map(
        {
            "statusCode": 200,
            "headers": {"a": "1"},
            "multiValueHeaders": {"b": ["1", "2"]},
            "body": "ok",
        },
        "1.0",
    )
    assert (r.status, r.body) == (200, b"ok")
    assert r.headers == [("b", "1"), ("b", "2"), ("a", "1"), ("content-type", "application/json")]
    # 1.0 infers nothing: a bare value is a malformed response
    assert _map("hello", "1.0").status == 500
    assert _map({"message": "x"}, "1.0").status == 500
    assert apigw.map_response(b"not json", "2.0").status == 500


def test_error_responses() -> None:
    for status, message in [
        (404, "Not Found"),
        (413, "Request Entity Too Large"),
        (429, "Too Many Requests"),
        (500, "Internal Server Error"),
    ]:
        r = apigw.error_response(status)
        assert r.status == status
        assert orjson.loads(r.body) == {"message": message}
        assert r.headers == [("content-type", "application/json")]
