"""CreateFunction / UpdateFunctionCode with the package in S3 (Code.S3Bucket / S3Key /
S3ObjectVersion), with boto3 and the AWS CLI, and AWS' errors when the object is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import ROLE, RUNTIME, NimbusServer, error_of, invoke_json, make_zip, sha256_b64, unique


@pytest.fixture(scope="module")
def s3(server: NimbusServer) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


@pytest.fixture(scope="module")
def code_bucket(s3: Any) -> str:
    name = unique("s3code")
    s3.create_bucket(Bucket=name)
    return name


def test_create_and_update_from_s3(lam: Any, s3: Any, code_bucket: str) -> None:
    v1, v2 = make_zip(VERSION="v1"), make_zip(VERSION="v2")
    s3.put_object(Bucket=code_bucket, Key="pkg/app.zip", Body=v1)
    name = unique("s3code")
    created = lam.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": code_bucket, "S3Key": "pkg/app.zip"},
    )
    assert created["CodeSha256"] == sha256_b64(v1)
    assert created["CodeSize"] == len(v1)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    assert invoke_json(lam, name, {})[0]["version"] == "v1"

    s3.put_object(Bucket=code_bucket, Key="pkg/app.zip", Body=v2)
    updated = lam.update_function_code(FunctionName=name, S3Bucket=code_bucket, S3Key="pkg/app.zip")
    assert updated["CodeSha256"] == sha256_b64(v2)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert invoke_json(lam, name, {})[0]["version"] == "v2"


def test_packages_from_s3_may_exceed_the_50_mb_of_a_direct_upload(
    lam: Any, s3: Any, code_bucket: str
) -> None:
    """AWS holds a package from S3 only to the 250 MB unzipped limit."""
    import io
    import os
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 'big'\n")
        archive.writestr("blob.bin", os.urandom(53 * 1024 * 1024))  # incompressible
    package = buffer.getvalue()
    assert len(package) > 52_428_800
    s3.put_object(Bucket=code_bucket, Key="big.zip", Body=package)
    name = unique("s3big")
    created = lam.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": code_bucket, "S3Key": "big.zip"},
    )
    assert created["CodeSize"] == len(package)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    assert invoke_json(lam, name, {})[0] == "big"
    with pytest.raises(ClientError) as info:  # the same bytes uploaded directly: too large
        lam.update_function_code(FunctionName=name, ZipFile=package)
    assert error_of(info)[:2] == (413, "RequestEntityTooLargeException")


def test_object_version(lam: Any, s3: Any) -> None:
    bucket = unique("s3code-v")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="app.zip", Body=make_zip(VERSION="old"))
    s3.put_object(Bucket=bucket, Key="app.zip", Body=make_zip(VERSION="new"))
    name = unique("s3code")
    lam.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": bucket, "S3Key": "app.zip", "S3ObjectVersion": old["VersionId"]},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    assert invoke_json(lam, name, {})[0]["version"] == "old"


@pytest.mark.parametrize(
    ("where", "s3_code", "s3_message"),
    [
        ("key", "NoSuchKey", "The specified key does not exist."),
        ("bucket", "NoSuchBucket", "The specified bucket does not exist"),
    ],
)
def test_missing_package(
    lam: Any, code_bucket: str, where: str, s3_code: str, s3_message: str
) -> None:
    bucket = code_bucket if where == "key" else unique("s3code-missing")
    name = unique("s3code")
    with pytest.raises(ClientError) as info:
        lam.create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="app.handler",
            Code={"S3Bucket": bucket, "S3Key": "nothing-here.zip"},
        )
    assert error_of(info) == (
        400,
        "InvalidParameterValueException",
        f"Error occurred while GetObject. S3 Error Code: {s3_code}. S3 Error Message: {s3_message}",
    )
    with pytest.raises(ClientError) as info:
        lam.get_function(FunctionName=name)
    assert error_of(info)[1] == "ResourceNotFoundException"  # nothing was created


def test_not_a_zip_in_s3(lam: Any, s3: Any, code_bucket: str) -> None:
    s3.put_object(Bucket=code_bucket, Key="notes.txt", Body=b"not a zip")
    with pytest.raises(ClientError) as info:
        lam.create_function(
            FunctionName=unique("s3code"),
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="app.handler",
            Code={"S3Bucket": code_bucket, "S3Key": "notes.txt"},
        )
    assert error_of(info)[:2] == (400, "InvalidParameterValueException")


def test_aws_cli_from_s3(server: NimbusServer, s3: Any, code_bucket: str, tmp_path: Path) -> None:
    package = tmp_path / "app.zip"
    package.write_bytes(make_zip(VERSION="cli"))
    server.aws("s3", "cp", str(package), f"s3://{code_bucket}/cli/app.zip")
    name = unique("s3code-cli")
    created = json.loads(
        server.aws(
            "lambda", "create-function", "--function-name", name, "--runtime", RUNTIME,
            "--role", ROLE, "--handler", "app.handler",
            "--code", f"S3Bucket={code_bucket},S3Key=cli/app.zip",
        ).stdout
    )  # fmt: skip
    assert created["CodeSize"] == package.stat().st_size
    server.aws("lambda", "wait", "function-active-v2", "--function-name", name)
    out = tmp_path / "out.json"
    server.aws("lambda", "invoke", "--function-name", name, str(out))
    assert json.loads(out.read_text())["version"] == "cli"
