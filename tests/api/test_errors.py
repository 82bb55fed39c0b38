"""Every error path: codes, HTTP statuses and AWS' messages, through boto3 and raw HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import stat
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from e2e import (
    REGION,
    ROLE,
    RUNTIME,
    NimbusServer,
    arn,
    create,
    error_of,
    make_zip,
    not_found,
    unique,
)

INVALID_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
RESERVED = (
    "Lambda was unable to configure your environment variables because the environment "
    "variables you have provided contains reserved keys that are currently not supported for "
    "modification. Reserved keys used in this request: "
)


def raises(call: Any, **params: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    return error_of(info)


def pattern_of(lam: Any, operation: str, member: str = "FunctionName") -> str:
    shape = lam.meta.service_model.operation_model(operation).input_shape
    pattern: str = shape.members[member].metadata["pattern"]
    return pattern


def validation(*failures: str) -> str:
    noun = "error" if len(failures) == 1 else "errors"
    return f"{len(failures)} validation {noun} detected: " + "; ".join(failures)


# --- 404 -----------------------------------------------------------------------------


def test_unknown_function_is_404_everywhere(lam: Any) -> None:
    name = unique("ghost")
    expected = (404, "ResourceNotFoundException", not_found(name))
    assert raises(lam.get_function, FunctionName=name) == expected
    assert raises(lam.get_function_configuration, FunctionName=name) == expected
    assert raises(lam.invoke, FunctionName=name, Payload=b"{}") == expected
    assert raises(lam.invoke, FunctionName=name, InvocationType="DryRun") == expected
    assert raises(lam.delete_function, FunctionName=name) == expected
    assert raises(lam.update_function_configuration, FunctionName=name, Timeout=5) == expected
    assert raises(lam.update_function_code, FunctionName=name, ZipFile=make_zip()) == expected
    assert raises(lam.list_tags, Resource=arn(name)) == expected
    # By ARN: the same message.
    assert raises(lam.get_function, FunctionName=arn(name)) == expected


def test_unknown_qualifier_is_404(lam: Any, echo: str) -> None:
    expected = (404, "ResourceNotFoundException", f"Function not found: {arn(echo)}:7")
    assert raises(lam.get_function, FunctionName=echo, Qualifier="7") == expected
    assert raises(lam.invoke, FunctionName=echo, Qualifier="7") == expected


# --- 400 ValidationException ---------------------------------------------------------------


def test_bad_function_name(lam: Any) -> None:
    pattern = pattern_of(lam, "GetFunction")
    expected = validation(
        "Value 'bad name!' at 'functionName' failed to satisfy constraint: Member must satisfy "
        f"regular expression pattern: {pattern}"
    )
    assert raises(lam.get_function, FunctionName="bad name!") == (
        400,
        "ValidationException",
        expected,
    )
    invoke_pattern = pattern_of(lam, "Invoke")
    for bad in ("no spaces", "a/b", "fn:two:qualifiers"):
        assert raises(lam.invoke, FunctionName=bad) == (
            400,
            "ValidationException",
            validation(
                f"Value '{bad}' at 'functionName' failed to satisfy constraint: Member must "
                f"satisfy regular expression pattern: {invoke_pattern}"
            ),
        )
    long_name = "f" * 141
    assert raises(
        lam.create_function,
        FunctionName=long_name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip()},
    ) == (
        400,
        "ValidationException",
        validation(
            f"Value '{long_name}' at 'functionName' failed to satisfy constraint: Member must "
            "have length less than or equal to 140"
        ),
    )


def test_out_of_range_values(lam: Any, echo: str) -> None:
    base = {
        "FunctionName": unique("bad"),
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip()},
    }
    assert raises(lam.create_function, Runtime=RUNTIME, Timeout=901, **base) == (
        400,
        "ValidationException",
        validation(
            "Value '901' at 'timeout' failed to satisfy constraint: Member must have value less "
            "than or equal to 900"
        ),
    )
    assert raises(lam.update_function_configuration, FunctionName=echo, MemorySize=10241) == (
        400,
        "ValidationException",
        validation(
            "Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value "
            "less than or equal to 10240"
        ),
    )
    assert raises(
        lam.update_function_configuration, FunctionName=echo, EphemeralStorage={"Size": 10241}
    ) == (
        400,
        "ValidationException",
        validation(
            "Value '10241' at 'ephemeralStorage.size' failed to satisfy constraint: Member must "
            "have value less than or equal to 10240"
        ),
    )
    status, code, message = raises(
        lam.create_function, Runtime="python9.9", Description="d" * 257, **base
    )
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value 'python9.9' at 'runtime' failed to satisfy constraint: Member must satisfy enum "
        "value set: [nodejs, nodejs4.3, " in message
    )
    assert (
        f"Value '{'d' * 257}' at 'description' failed to satisfy constraint: Member must have "
        "length less than or equal to 256" in message
    )
    assert raises(lam.invoke, FunctionName=echo, InvocationType="Later") == (
        400,
        "ValidationException",
        validation(
            "Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy "
            "enum value set: [Event, RequestResponse, DryRun]"
        ),
    )
    assert raises(lam.list_functions, MaxItems=10001) == (
        400,
        "ValidationException",
        validation(
            "Value '10001' at 'maxItems' failed to satisfy constraint: Member must have value "
            "less than or equal to 10000"
        ),
    )
    assert raises(lam.invoke, FunctionName=echo, LogType="Everything")[:2] == (
        400,
        "ValidationException",
    )
    # Nothing was created or changed.
    assert raises(lam.get_function, FunctionName=base["FunctionName"])[0] == 404
    assert lam.get_function_configuration(FunctionName=echo)["MemorySize"] == 128


def test_bad_environment_variable_name(lam: Any) -> None:
    # The variables are sensitive: AWS does not echo them.
    assert raises(
        lam.create_function,
        FunctionName=unique("env"),
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip()},
        Environment={"Variables": {"1BAD": "x"}},
    ) == (
        400,
        "ValidationException",
        validation(
            "Value at 'environment.variables' failed to satisfy constraint: Map keys must "
            "satisfy constraint: [Member must satisfy regular expression pattern: "
            "[a-zA-Z]([a-zA-Z0-9_])+]"
        ),
    )


def test_missing_required_member(server: NimbusServer) -> None:
    """botocore refuses to send it; other clients may: AWS answers `Value null`."""
    body = {
        "FunctionName": unique("norole"),
        "Runtime": RUNTIME,
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(make_zip()).decode()},
    }
    status, headers, reply = raw(server, signed(server, "POST", "/2015-03-31/functions", body))
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert reply["message"] == validation(
        "Value null at 'role' failed to satisfy constraint: Member must not be null"
    )


def test_body_not_json(server: NimbusServer) -> None:
    status, headers, reply = raw(server, signed(server, "POST", "/2015-03-31/functions", b"{no"))
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert reply["message"].startswith("Could not parse request body into json: ")


# --- 400 InvalidParameterValueException --------------------------------------------------------


def test_bad_zip(lam: Any, echo: str) -> None:
    expected = (
        400,
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
    )
    name = unique("zip")
    assert (
        raises(
            lam.create_function,
            FunctionName=name,
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": b"this is not a zip file at all"},
        )
        == expected
    )
    assert raises(lam.get_function, FunctionName=name)[0] == 404
    assert (
        raises(lam.update_function_code, FunctionName=echo, ZipFile=b"PK\x03\x04junk") == expected
    )


def _zip(*entries: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 1\n")
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


UNSAFE: dict[str, tuple[Callable[[], bytes], str]] = {
    "zip-slip": (
        lambda: _zip(("../evil.py", b"x")),
        "Invalid zip entry '../evil.py': '..' in the path",
    ),
    "absolute": (
        lambda: _zip(("/etc/cron.d/x", b"x")),
        "Invalid zip entry '/etc/cron.d/x': absolute path",
    ),
    "symlink-out": (
        lambda: _zip(_symlink("lib", "../../etc")),
        "Invalid zip entry 'lib': symlink target '../../etc' points outside the package",
    ),
    "zip-bomb": (  # 300 MB of zeros in 300 KB, honest headers: refused before extracting
        lambda: _zip(("zeros.bin", bytes(300 << 20))),
        "Unzipped size must be smaller than 262144000 bytes",
    ),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_unsafe_packages_are_refused_and_nothing_is_created(lam: Any, echo: str, case: str) -> None:
    build, message = UNSAFE[case]
    package = build()
    name = unique("unsafe")
    refused = (400, "InvalidParameterValueException", message)
    assert len(package) < 50 * 1024 * 1024
    code = {"ZipFile": package}
    created = raises(
        lam.create_function,
        FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler", Code=code,
    )  # fmt: skip
    assert created == refused
    assert raises(lam.get_function, FunctionName=name)[0] == 404
    before = lam.get_function(FunctionName=echo)["Configuration"]["CodeSha256"]
    assert raises(lam.update_function_code, FunctionName=echo, ZipFile=package) == refused
    assert lam.get_function(FunctionName=echo)["Configuration"]["CodeSha256"] == before


def test_reserved_environment_variables(lam: Any, echo: str) -> None:
    name = unique("env")
    assert raises(
        lam.create_function,
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip()},
        Environment={"Variables": {"AWS_REGION": "eu-west-1", "MINE": "1"}},
    ) == (400, "InvalidParameterValueException", RESERVED + "AWS_REGION")
    assert raises(lam.get_function, FunctionName=name)[0] == 404
    assert raises(
        lam.update_function_configuration,
        FunctionName=echo,
        Environment={"Variables": {"AWS_LAMBDA_RUNTIME_API": "x", "AWS_ACCESS_KEY_ID": "y"}},
    ) == (
        400,
        "InvalidParameterValueException",
        RESERVED + "AWS_ACCESS_KEY_ID,AWS_LAMBDA_RUNTIME_API",
    )


def test_environment_over_4kb(lam: Any, echo: str) -> None:
    status, code, message = raises(
        lam.update_function_configuration,
        FunctionName=echo,
        Environment={"Variables": {"BIG": "x" * 4100}},
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message.startswith(
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided exceeded the 4KB limit. String measured: "
    )


# --- 409 / 412 / 413 ------------------------------------------------------------------------


def test_duplicate_create(lam: Any, echo: str) -> None:
    assert raises(
        lam.create_function,
        FunctionName=echo,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip(VERSION="other")},
    ) == (409, "ResourceConflictException", f"Function already exist: {echo}")
    # The existing function is untouched.
    payload = json.loads(lam.invoke(FunctionName=echo)["Payload"].read())
    assert payload["version"] == "v1"


def test_concurrent_creates_of_one_name(lam: Any) -> None:
    name = unique("race")

    def attempt(i: int) -> int:
        try:
            lam.create_function(
                FunctionName=name,
                Runtime=RUNTIME,
                Role=ROLE,
                Handler="app.handler",
                Code={"ZipFile": make_zip(VERSION=f"v{i}")},
            )
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceConflictException"
            return 409
        return 201

    with ThreadPoolExecutor(10) as pool:
        statuses = sorted(pool.map(attempt, range(10)))
    assert statuses == [201] + [409] * 9


def test_concurrent_updates_with_one_revision(lam: Any) -> None:
    name = create(lam)["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]

    def attempt(i: int) -> int:
        try:
            lam.update_function_configuration(
                FunctionName=name, Description=f"writer {i}", RevisionId=revision
            )
        except ClientError as e:
            status: int = e.response["ResponseMetadata"]["HTTPStatusCode"]
            return status
        return 200

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}, statuses
    winner = statuses.index(200)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.get_function_configuration(FunctionName=name)["Description"] == f"writer {winner}"


def test_wrong_revision_id(lam: Any, echo: str) -> None:
    before = lam.get_function_configuration(FunctionName=echo)
    assert raises(
        lam.update_function_configuration,
        FunctionName=echo,
        Description="never",
        RevisionId="11111111-2222-3333-4444-555555555555",
    ) == (
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the "
        "GetFunction/GetAlias API to retrieve the latest Revision Id",
    )
    after = lam.get_function_configuration(FunctionName=echo)
    assert after["RevisionId"] == before["RevisionId"]
    assert after["Description"] == before["Description"]


def test_invoke_payload_over_6mb(lam: Any, echo: str) -> None:
    limit = 6 * 1024 * 1024
    assert raises(lam.invoke, FunctionName=echo, Payload=b'"' + b"x" * limit + b'"') == (
        413,
        "RequestEntityTooLargeException",
        f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
    )


# --- 403: authentication ------------------------------------------------------------------


def raw(server: NimbusServer, request: AWSRequest | urllib.request.Request) -> tuple[int, Any, Any]:
    """Send a hand-made request: (status, headers, JSON body)."""
    if isinstance(request, AWSRequest):
        prepared = request.prepare()
        request = urllib.request.Request(
            prepared.url, data=prepared.body, headers=dict(prepared.headers), method=prepared.method
        )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def signed(server: NimbusServer, method: str, path: str, body: Any) -> AWSRequest:
    """A request signed as botocore signs it (body: JSON-able, bytes or None)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = AWSRequest(
        method=method,
        url=server.endpoint + path,
        data=data,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    credentials = server.credentials
    SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        "lambda",
        REGION,
    ).add_auth(request)
    return request


def test_unsigned_request(server: NimbusServer, echo: str) -> None:
    request = urllib.request.Request(
        f"{server.endpoint}/2015-03-31/functions/{echo}/invocations",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    status, headers, body = raw(server, request)
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert body["message"] == "Missing Authentication Token"


def test_presigned_query_form_is_verified(server: NimbusServer, echo: str) -> None:
    """SigV4 in the query string (X-Amz-Signature & co.), as botocore presigns it."""
    credentials = server.credentials
    keys = Credentials(credentials["access_key_id"], credentials["secret_access_key"])
    url = f"{server.endpoint}/2015-03-31/functions/{echo}/configuration"

    def presigned(secret_keys: Credentials) -> urllib.request.Request:
        request = AWSRequest(method="GET", url=url)
        botocore.auth.SigV4QueryAuth(secret_keys, "lambda", REGION, expires=60).add_auth(request)
        assert "X-Amz-Signature=" in request.url and "Authorization" not in request.headers
        return urllib.request.Request(request.url, method="GET")

    status, _, body = raw(server, presigned(keys))
    assert status == 200 and body["FunctionName"] == echo
    wrong = Credentials(keys.access_key, "not-the-secret-key-at-all-0000000000000")
    status, headers, body = raw(server, presigned(wrong))
    assert (status, headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")


def test_wrong_secret(server: NimbusServer) -> None:
    client = server.client(secret="not-the-secret-key-at-all-0000000000000")
    assert raises(client.list_functions) == (403, "InvalidSignatureException", INVALID_SIGNATURE)


def test_unknown_access_key(server: NimbusServer) -> None:
    client = server.client(key="AKIAUNKNOWNUNKNOWN00", secret="whatever")
    assert raises(client.list_functions) == (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_stale_signature(server: NimbusServer, echo: str) -> None:
    credentials = server.credentials
    signed_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    request = AWSRequest(
        method="GET", url=f"{server.endpoint}/2015-03-31/functions/{echo}/configuration"
    )
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=signed_at):
        SigV4Auth(
            Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
            "lambda",
            REGION,
        ).add_auth(request)
    assert request.headers["X-Amz-Date"] == signed_at.strftime("%Y%m%dT%H%M%SZ")
    status, headers, body = raw(server, request)
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert re.fullmatch(
        r"Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z "
        r"\(\d{8}T\d{6}Z - 5 min\.\)",
        body["message"],
    ), body["message"]
    assert body["message"].startswith(f"Signature expired: {request.headers['X-Amz-Date']} ")

    # The same request signed now is accepted: only the time was wrong.
    fresh = AWSRequest(
        method="GET", url=f"{server.endpoint}/2015-03-31/functions/{echo}/configuration"
    )
    SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        "lambda",
        REGION,
    ).add_auth(fresh)
    status, _, body = raw(server, fresh)
    assert status == 200
    assert body["FunctionName"] == echo
