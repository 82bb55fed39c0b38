"""The AWS CLI (v1), unchanged, against the session server."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

from e2e import ROLE, RUNTIME, NimbusServer, arn, make_zip, not_found, sha256_b64, unique


def test_cli_lifecycle(server: NimbusServer, tmp_path: Path) -> None:
    name = unique("cli")
    package = tmp_path / "function.zip"
    code = make_zip()
    package.write_bytes(code)
    created = json.loads(
        server.aws(
            "lambda", "create-function", "--function-name", name, "--runtime", RUNTIME,
            "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{package}",
            "--environment", "Variables={STAGE=cli}",
        ).stdout
    )  # fmt: skip
    assert created["FunctionArn"] == arn(name)
    assert created["CodeSha256"] == sha256_b64(code)
    assert created["State"] == "Pending"
    server.aws("lambda", "wait", "function-active-v2", "--function-name", name)

    out = tmp_path / "out.json"
    invoked = json.loads(
        server.aws(
            "lambda", "invoke", "--function-name", name, "--payload", '{"env": ["STAGE"]}',
            "--log-type", "Tail", str(out),
        ).stdout
    )  # fmt: skip
    assert invoked["StatusCode"] == 200
    assert invoked["ExecutedVersion"] == "$LATEST"
    assert "START RequestId: " in base64.b64decode(invoked["LogResult"]).decode()
    payload = json.loads(out.read_text())
    assert payload["env"] == {"STAGE": "cli"}

    server.aws(
        "lambda", "update-function-configuration", "--function-name", name, "--timeout", "30",
        "--memory-size", "256",
    )  # fmt: skip
    server.aws("lambda", "wait", "function-updated-v2", "--function-name", name)
    config = json.loads(
        server.aws(
            "lambda", "get-function-configuration", "--function-name", name,
            "--query", "{t: Timeout, m: MemorySize, s: LastUpdateStatus}",
        ).stdout
    )  # fmt: skip
    assert config == {"t": 30, "m": 256, "s": "Successful"}

    listed = json.loads(
        server.aws("lambda", "list-functions", "--query", "Functions[].FunctionName").stdout
    )
    assert name in listed

    server.aws("lambda", "delete-function", "--function-name", name)
    missing = server.aws("lambda", "get-function", "--function-name", name, check=False)
    assert missing.returncode != 0
    assert (
        "An error occurred (ResourceNotFoundException) when calling the GetFunction operation: "
        f"{not_found(name)}"
    ) in missing.stderr


def test_cli_errors(server: NimbusServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    # A zip to the CLI (which opens it) but its content does not match its CRC.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", "ORIGINAL = 1\n")
    bad.write_bytes(buffer.getvalue().replace(b"ORIGINAL", b"TAMPERED"))
    result = server.aws(
        "lambda", "create-function", "--function-name", unique("cli"), "--runtime", RUNTIME,
        "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{bad}",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert (
        "An error occurred (InvalidParameterValueException) when calling the CreateFunction "
        "operation: Could not unzip uploaded file. Please check your file, then try to upload "
        "again."
    ) in result.stderr
