"""Helpers for the SNS delivery tests (no tests here): a recording HTTP endpoint, signature
checks with the certificate fetched from SigningCertURL, what a function printed."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from e2e import NimbusServer, log_lines, wait_for

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
)  # fmt: skip


class Recorder:
    """A local HTTP endpoint that records every POST; answers with queued statuses
    (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: deque[int] = deque()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                recorder.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                status = recorder.statuses.popleft() if recorder.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["headers"].get("x-amz-sns-message-type") == kind]

    def wait(self, kind: str, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = wait_for(
            lambda: len(self.of_type(kind)) >= count and self.of_type(kind), timeout
        )
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def verify(document: dict[str, Any], cert_key: str = "SigningCertURL") -> None:
    """Checks a document's signature as AWS' SDKs do: the canonical string, the certificate
    from its SigningCertURL, SHA1 for SignatureVersion 1 and SHA256 for 2."""
    fields = NOTIFICATION_FIELDS if document["Type"] == "Notification" else CONFIRMATION_FIELDS
    canonical = "".join(
        f"{name}\n{document[name]}\n" for name in fields if document.get(name) is not None
    ).encode()
    status, pem = fetch(document[cert_key])
    assert status == 200
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    algorithm = hashes.SHA256() if document["SignatureVersion"] == "2" else hashes.SHA1()
    key.verify(base64.b64decode(document["Signature"]), canonical, padding.PKCS1v15(), algorithm)


def sink_events(server: NimbusServer, function: str, count: int) -> list[Any]:
    lines = wait_for(
        lambda: (found := log_lines(server, function, "SINK ")) and len(found) >= count and found
    )
    return [json.loads(line[5:]) for line in lines]
