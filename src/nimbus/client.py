"""A client of the real HTTP API (what the CLI and the console use): boto3 for the AWS
services, a SigV4-signed JSON call for Nimbus' own API."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from nimbus.protocol.awsjson import NIMBUS_TARGET_PREFIX
from nimbus.services.accounts import load_credentials


class NotConfigured(Exception):
    """No endpoint/credentials: the message says what to do."""


@dataclass(frozen=True)
class Connection:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    account_id: str = "000000000000"

    @classmethod
    def discover(cls, data_dir: Path, endpoint_url: str | None = None) -> Connection:
        """Explicit option > AWS_* environment > the local server's data dir."""
        saved = load_credentials(data_dir)
        endpoint_file = data_dir / "endpoint"
        endpoint = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL")
            or (endpoint_file.read_text().strip() if endpoint_file.exists() else None)
        )
        key = os.environ.get("AWS_ACCESS_KEY_ID") or (saved.access_key_id if saved else None)
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or (
            saved.secret_access_key if saved else None
        )
        if not endpoint or not key or not secret:
            raise NotConfigured(
                f"Don't know which Nimbus to talk to: start one with `nimbus server` (data dir "
                f"{data_dir}), or set AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (e.g. `eval $(nimbus env)`)."
            )
        region = (
            os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or ("us-east-1")
        )
        account = saved.account_id if saved else "000000000000"
        return cls(endpoint, key, secret, region, account)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 2}, read_timeout=960),
        )

    def nimbus(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call Nimbus' own API (SigV4, service `nimbus`)."""
        body = json.dumps(params).encode()
        request = AWSRequest(
            method="POST",
            url=self.endpoint_url + "/",
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"{NIMBUS_TARGET_PREFIX}.{operation}",
            },
        )
        credentials = Credentials(self.access_key_id, self.secret_access_key)
        SigV4Auth(credentials, "nimbus", self.region).add_auth(request)
        prepared = urllib.request.Request(
            self.endpoint_url + "/", data=body, headers=dict(request.headers.items()), method="POST"
        )
        try:
            with urllib.request.urlopen(prepared, timeout=60) as response:
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}")
            raise RuntimeError(f"{detail.get('__type', e.code)}: {detail.get('message')}") from None
