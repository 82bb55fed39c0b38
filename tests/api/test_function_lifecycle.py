"""The function lifecycle through boto3: create, read, list, update, tag, delete."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from e2e import (
    REGION,
    ROLE,
    RUNTIME,
    arn,
    create,
    error_of,
    invoke_json,
    make_zip,
    not_found,
    sha256_b64,
    unique,
)

LAST_MODIFIED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
REVISION_MISMATCH = (
    412,
    "PreconditionFailedException",
    "The Revision Id provided does not match the latest Revision Id. Call the "
    "GetFunction/GetAlias API to retrieve the latest Revision Id",
)


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        body: bytes = response.read()
        return body


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_create_then_get(lam: Any) -> None:
    name = unique("life")
    code = make_zip()
    created = create(
        lam,
        name,
        wait=False,
        Code={"ZipFile": code},
        Description="first version",
        Timeout=5,
        MemorySize=256,
        Environment={"Variables": {"GREETING": "hello"}},
        Tags={"team": "core"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == arn(name)
    assert created["State"] == "Pending"
    assert created["StateReasonCode"] == "Creating"
    assert created["LastUpdateStatus"] == "InProgress"
    assert created["CodeSha256"] == sha256_b64(code)
    assert created["CodeSize"] == len(code)
    assert created["Version"] == "$LATEST"
    assert created["PackageType"] == "Zip"
    assert created["Role"] == ROLE
    assert created["Runtime"] == RUNTIME
    assert created["Handler"] == "app.handler"
    assert LAST_MODIFIED.fullmatch(created["LastModified"])

    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    got = lam.get_function(FunctionName=name)
    config = got["Configuration"]
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in config and "StateReasonCode" not in config
    assert config["Description"] == "first version"
    assert config["Timeout"] == 5
    assert config["MemorySize"] == 256
    assert config["EphemeralStorage"] == {"Size": 512}
    assert config["Environment"] == {"Variables": {"GREETING": "hello"}}
    assert config["Architectures"] == ["x86_64"]
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert config["CodeSha256"] == sha256_b64(code)
    assert got["Tags"] == {"team": "core"}

    # Code.Location is a working download URL of the original package.
    assert got["Code"]["RepositoryType"] == "S3"
    location = got["Code"]["Location"]
    assert download(location) == code
    tampered = re.sub(r"Signature=[0-9a-f]", "Signature=g", location)
    with pytest.raises(urllib.error.HTTPError) as denied:
        download(tampered)
    assert denied.value.code == 403

    # GetFunctionConfiguration: the same configuration, by name, ARN or partial ARN.
    assert without_metadata(lam.get_function_configuration(FunctionName=name)) == config
    assert lam.get_function_configuration(FunctionName=arn(name))["FunctionName"] == name
    partial = f"000000000000:function:{name}"
    assert lam.get_function(FunctionName=partial)["Configuration"]["FunctionArn"] == arn(name)
    latest = lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")
    assert without_metadata(latest) == config

    payload, _ = invoke_json(lam, name, {"env": ["GREETING"]})
    assert payload["env"] == {"GREETING": "hello"}
    assert payload["memory"] == "256"  # a string, as in awslambdaric


def test_list_functions_paginates(lam: Any) -> None:
    names = {unique("list") for _ in range(7)}
    for name in names:
        create(lam, name, wait=False)
    pages: list[list[str]] = []
    marker: str | None = None
    while True:
        page = lam.list_functions(MaxItems=3, **({"Marker": marker} if marker else {}))
        pages.append([f["FunctionName"] for f in page["Functions"]])
        marker = page.get("NextMarker")
        if not marker:
            break
        assert len(pages) < 100, "NextMarker never ends"
    seen = [name for page in pages for name in page]
    assert all(len(page) == 3 for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= 3
    assert len(seen) == len(set(seen)), "a function appeared on two pages"
    assert names <= set(seen)
    everything = lam.list_functions()
    assert "NextMarker" not in everything
    assert sorted(f["FunctionName"] for f in everything["Functions"]) == sorted(seen)
    # boto3's paginator drives the same Marker protocol.
    paginator = lam.get_paginator("list_functions")
    pages_of_two = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert all(len(page["Functions"]) <= 2 for page in pages_of_two)
    assert sorted(f["FunctionName"] for p in pages_of_two for f in p["Functions"]) == sorted(seen)
    listed = next(f for f in everything["Functions"] if f["FunctionName"] in names)
    assert listed["FunctionArn"] == arn(listed["FunctionName"])
    assert listed["Runtime"] == RUNTIME


def test_update_code_runs_new_code_in_new_environments(lam: Any) -> None:
    name = create(lam)["FunctionName"]
    first, _ = invoke_json(lam, name)
    second, _ = invoke_json(lam, name)
    assert first["version"] == "v1"
    assert second["boot"] == first["boot"], "a warm environment should be reused"
    before = lam.get_function_configuration(FunctionName=name)

    code = make_zip(VERSION="v2")
    updated = lam.update_function_code(
        FunctionName=name, ZipFile=code, RevisionId=before["RevisionId"]
    )
    assert updated["CodeSha256"] == sha256_b64(code) != before["CodeSha256"]
    assert updated["CodeSize"] == len(code)
    assert updated["RevisionId"] != before["RevisionId"]
    assert updated["State"] == "Active"
    assert updated["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"

    after, _ = invoke_json(lam, name)
    assert after["version"] == "v2"
    assert after["boot"] != first["boot"], "an environment of the old code was reused"
    assert download(lam.get_function(FunctionName=name)["Code"]["Location"]) == code

    # The old RevisionId no longer matches: nothing changes.
    with pytest.raises(ClientError) as stale:
        lam.update_function_code(
            FunctionName=name, ZipFile=make_zip(VERSION="v3"), RevisionId=before["RevisionId"]
        )
    assert error_of(stale) == REVISION_MISMATCH
    assert invoke_json(lam, name)[0]["version"] == "v2"

    # DryRun checks the package without deploying it.
    dry_code = make_zip(VERSION="v4")
    dry = lam.update_function_code(FunctionName=name, ZipFile=dry_code, DryRun=True)
    assert dry["CodeSha256"] == sha256_b64(dry_code)
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == sha256_b64(code)
    assert invoke_json(lam, name)[0]["version"] == "v2"


def test_update_configuration(lam: Any, isolated: bool) -> None:
    name = create(lam)["FunctionName"]
    cold, _ = invoke_json(lam, name)
    assert cold["memory"] == "128"
    assert cold["remaining_ms"] <= 3000
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]

    with pytest.raises(ClientError) as stale:
        lam.update_function_configuration(FunctionName=name, Timeout=10, RevisionId="0" * 36)
    assert error_of(stale) == REVISION_MISMATCH
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 3

    updated = lam.update_function_configuration(
        FunctionName=name,
        RevisionId=revision,
        Timeout=42,
        MemorySize=512,
        EphemeralStorage={"Size": 1024},
        Environment={"Variables": {"GREETING": "hi", "EMPTY": ""}},
        Description="tuned",
    )
    assert updated["RevisionId"] != revision
    assert updated["LastUpdateStatus"] == "InProgress"
    assert (updated["Timeout"], updated["MemorySize"]) == (42, 512)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Timeout"] == 42
    assert config["MemorySize"] == 512
    assert config["EphemeralStorage"] == {"Size": 1024}
    assert config["Environment"] == {"Variables": {"GREETING": "hi", "EMPTY": ""}}
    assert config["Description"] == "tuned"
    assert config["Handler"] == "app.handler"  # untouched members keep their values
    assert config["Runtime"] == RUNTIME

    seen, _ = invoke_json(lam, name, {"env": ["GREETING", "EMPTY"]})
    assert seen["boot"] != cold["boot"], "an environment of the old configuration was reused"
    assert seen["memory"] == "512"
    assert 3000 < seen["remaining_ms"] <= 42000
    assert seen["env"] == {"GREETING": "hi", "EMPTY": ""}
    if isolated:
        assert seen["tmp_mb"] == 1024

    # Handler, Runtime and the log format: the other handler runs on another interpreter
    # and its `logging` lines come out as JSON.
    lam.update_function_configuration(
        FunctionName=name,
        Handler="app.other",
        Runtime="python3.11",
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO"},
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Handler"] == "app.other"
    assert config["Runtime"] == "python3.11"
    assert config["LoggingConfig"]["LogFormat"] == "JSON"
    assert config["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    assert config["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{name}"
    assert config["Timeout"] == 42  # earlier changes are kept
    payload, response = invoke_json(lam, name, LogType="Tail")
    assert payload == {"handler": "other", "version": "v1", "python": "3.11"}
    records = []
    for line in base64.b64decode(response["LogResult"]).decode().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    logged = [r for r in records if r.get("message") == "other handler ran"]
    assert logged, f"no JSON record of the logging call in {records}"
    assert logged[0]["level"] == "INFO"
    assert logged[0]["requestId"] == response["ResponseMetadata"]["RequestId"]

    # ApplicationLogLevel filters the function's `logging` records.
    lam.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    payload, response = invoke_json(lam, name, LogType="Tail")
    assert payload["handler"] == "other"
    assert "other handler ran" not in base64.b64decode(response["LogResult"]).decode()


def test_json_log_format_system_records(lam: Any) -> None:
    name = create(lam, LoggingConfig={"LogFormat": "JSON"})["FunctionName"]
    response = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    lines = [line for line in base64.b64decode(response["LogResult"]).decode().splitlines()]
    records = [json.loads(line) for line in lines if line.strip()]
    types = [record.get("type") for record in records]
    assert types[0] == "platform.start"
    assert types[-1] == "platform.report"
    assert records[0]["record"]["requestId"] == response["ResponseMetadata"]["RequestId"]


def test_delete(lam: Any) -> None:
    name = create(lam)["FunctionName"]
    invoke_json(lam, name)
    deleted = lam.delete_function(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    calls = (
        lambda: lam.get_function(FunctionName=name),
        lambda: lam.get_function_configuration(FunctionName=name),
        lambda: lam.invoke(FunctionName=name, Payload=b"{}"),
        lambda: lam.delete_function(FunctionName=name),
    )
    for call in calls:
        with pytest.raises(ClientError) as gone:
            call()
        assert error_of(gone) == (404, "ResourceNotFoundException", not_found(name))
    names = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate()
             for f in p["Functions"]]  # fmt: skip
    assert name not in names
    # The name is free again.
    again = create(lam, name, Code={"ZipFile": make_zip(VERSION="again")})
    assert again["FunctionName"] == name
    assert invoke_json(lam, name)[0]["version"] == "again"
    # By ARN too.
    assert lam.delete_function(FunctionName=arn(name))["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as gone:
        lam.get_function(FunctionName=name)
    assert error_of(gone)[0] == 404


def test_tags(lam: Any) -> None:
    created = create(lam, wait=False, Tags={"a": "1"})
    resource = created["FunctionArn"]
    assert lam.list_tags(Resource=resource)["Tags"] == {"a": "1"}
    tagged = lam.tag_resource(Resource=resource, Tags={"b": "2", "a": "10"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"a": "10", "b": "2"}
    untagged = lam.untag_resource(Resource=resource, TagKeys=["a", "not-there"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=resource)["Tags"] == {"b": "2"}
    lam.get_waiter("function_active_v2").wait(FunctionName=created["FunctionName"])
    assert lam.get_function(FunctionName=resource)["Tags"] == {"b": "2"}
    lam.untag_resource(Resource=resource, TagKeys=["b"])
    assert lam.list_tags(Resource=resource)["Tags"] == {}
    assert "Tags" not in lam.get_function(FunctionName=resource)

    missing = arn(unique("missing"))
    for call in (
        lambda: lam.list_tags(Resource=missing),
        lambda: lam.tag_resource(Resource=missing, Tags={"a": "1"}),
        lambda: lam.untag_resource(Resource=missing, TagKeys=["a"]),
    ):
        with pytest.raises(ClientError) as gone:
            call()
        assert error_of(gone) == (
            404,
            "ResourceNotFoundException",
            f"Function not found: {missing}",
        )


def test_tags_while_pending_are_kept(lam: Any) -> None:
    """Tagging right after CreateFunction (as CloudFormation and Terraform do) races with
    the activation: neither may fail nor lose the other's write."""
    # A runtime no other test uses keeps the function Pending for a few hundred ms.
    created = create(lam, wait=False, Runtime="python3.13", Tags={"a": "1"})
    resource = created["FunctionArn"]
    lam.tag_resource(Resource=resource, Tags={"b": "2"})
    assert lam.get_function_configuration(FunctionName=resource)["State"] == "Pending"
    lam.untag_resource(Resource=resource, TagKeys=["a"])
    lam.get_waiter("function_active_v2").wait(FunctionName=resource)
    assert lam.list_tags(Resource=resource)["Tags"] == {"b": "2"}
    assert lam.get_function(FunctionName=resource)["Tags"] == {"b": "2"}


def test_account_settings(lam: Any) -> None:
    settings = lam.get_account_settings()
    assert settings["AccountLimit"] == {
        "TotalCodeSize": 80_530_636_800,
        "CodeSizeUnzipped": 262_144_000,
        "CodeSizeZipped": 52_428_800,
        "ConcurrentExecutions": 1000,
        "UnreservedConcurrentExecutions": 1000,
    }
    functions = [f for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert settings["AccountUsage"]["FunctionCount"] == len(functions)
    assert settings["AccountUsage"]["TotalCodeSize"] == sum(f["CodeSize"] for f in functions)
    create(lam, wait=False)
    after = lam.get_account_settings()["AccountUsage"]
    assert after["FunctionCount"] == len(functions) + 1


def test_no_content_responses_have_no_body(server: Any, lam: Any) -> None:
    """A 204 carries no body: stray bytes would corrupt the next response on a kept-alive
    connection (seen as `BadStatusLine('{}HTTP/1.1 404 ...')` in botocore)."""
    name = create(lam, wait=False)["FunctionName"]
    credentials = server.credentials
    path = f"/2015-03-31/functions/{name}"
    request = AWSRequest(method="DELETE", url=server.endpoint + path)
    SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        "lambda",
        REGION,
    ).add_auth(request)
    head = f"DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{key}: {value}\r\n" for key, value in request.headers.items()
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"\r\n")
        received = b""
        deadline = time.monotonic() + 0.5  # whatever the server sends, body included
        while time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 204 No Content"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert body == b""
    assert b"content-length: 0" in headers.lower() or b"content-length" not in headers.lower()
    with pytest.raises(ClientError) as gone:
        lam.get_function(FunctionName=name)
    assert error_of(gone)[0] == 404
