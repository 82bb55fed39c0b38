"""Presigned download URLs for function code (GetFunction's Code.Location)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

URL_LIFETIME_S = 600  # AWS' Code.Location links are valid for 10 minutes


class CodeUrlSigner:
    def __init__(self, endpoint_url: str, secret: bytes) -> None:
        self._endpoint = endpoint_url.rstrip("/")
        self._secret = secret

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, key: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + URL_LIFETIME_S)
        query = urlencode({"Expires": expires, "Signature": self._signature(key, expires)})
        return f"{self._endpoint}/_nimbus/code/{key}.zip?{query}"

    def verify(self, key: str, expires: str, signature: str, now: float | None = None) -> bool:
        try:
            deadline = int(expires)
        except ValueError:
            return False
        if deadline < (now or time.time()):
            return False
        return hmac.compare_digest(self._signature(key, deadline), signature)
