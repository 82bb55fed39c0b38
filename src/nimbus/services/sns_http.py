"""Outbound HTTP for SNS (subscription confirmations and notifications to http/https
endpoints), with AWS' retry rule: 2xx is delivered; 429, 5xx and connection failures are
retried after each delay in turn; any other status is a permanent failure.

Retries are kept in memory only (not durable): a message still being retried when the
server stops is lost, as documented in the report/README.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import httpx

log = logging.getLogger("nimbus.sns.http")
USER_AGENT = "Amazon Simple Notification Service Agent"


class HttpSender:
    def __init__(self, retry_delays_s: Sequence[float] = (20.0, 20.0, 20.0)) -> None:
        self.retry_delays_s = tuple(retry_delays_s)
        self._client = httpx.AsyncClient(timeout=15.0, follow_redirects=False)
        self._tasks: set[asyncio.Task[bool]] = set()

    def post_later(
        self,
        url: str,
        body: str,
        headers: dict[str, str],
        retry_delays_s: Sequence[float] | None = None,
    ) -> None:
        """Deliver in the background (Publish does not wait for HTTP endpoints)."""
        task = asyncio.create_task(self.post(url, body, headers, retry_delays_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post(
        self,
        url: str,
        body: str,
        headers: dict[str, str],
        retry_delays_s: Sequence[float] | None = None,
    ) -> bool:
        """True once delivered; False when retries are exhausted or it failed for good."""
        headers = {"User-Agent": USER_AGENT, **headers}
        data = body.encode()
        delays = self.retry_delays_s if retry_delays_s is None else tuple(retry_delays_s)
        for attempt, delay in enumerate((0.0, *delays)):
            if delay:
                await asyncio.sleep(delay)
            try:
                response = await self._client.post(url, content=data, headers=headers)
            except Exception as e:  # connection, timeout, or a URL httpx cannot use
                log.info("SNS delivery to %s failed (attempt %d): %s", url, attempt + 1, e)
                continue
            if 200 <= response.status_code < 300:
                return True
            log.info("SNS delivery to %s: HTTP %d", url, response.status_code)
            if response.status_code != 429 and response.status_code < 500:
                return False
        return False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._client.aclose()
