"""The streaming half of the edge: request bodies as they arrive (S3 objects up to 5 GB are
never held whole), replies sent as they are produced, and what to do with a body nobody
read. Plain ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[str, str]]
# A streamed reply (S3 GetObject): the adapter sets Content-Length itself (or leaves it out:
# chunked); the edge sends each piece as it comes, never the whole body at once.
StreamingResponse = tuple[int, Headers, bytes | AsyncIterator[bytes]]


class BodyTooLarge(Exception):
    """A body over the size the reader accepts."""


class ClientDisconnected(Exception):
    """The client went away before its body was complete."""


class BodyStream:
    """A request body as it arrives (an S3 object may be 5 GB: never held whole).
    Iterate it once; `received` counts the bytes so far."""

    __slots__ = ("_done", "_receive", "received")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._done = False
        self.received = 0

    @property
    def done(self) -> bool:
        return self._done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._done = True
                raise ClientDisconnected
            self._done = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                self.received += len(chunk)
                yield chunk

    async def read(self, limit: int) -> bytes:
        """The whole body if it is at most `limit` bytes; raises BodyTooLarge otherwise."""
        chunks: list[bytes] = []
        async for chunk in self:
            chunks.append(chunk)
            if self.received > limit:
                raise BodyTooLarge
        return b"".join(chunks)


DRAIN_LIMIT = 1024 * 1024


def declares_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


async def unread_body(
    stream: BodyStream, headers: dict[str, str], response: StreamingResponse
) -> StreamingResponse:
    """A reply sent before its request's body was read (an error): the connection must not
    read the body as the next request. A small body that is on its way is drained; else (or
    when the client waits for 100-continue and won't send it) the connection closes."""
    expecting = headers.get("expect", "").lower() == "100-continue"
    length = headers.get("content-length", "")
    if not expecting and length.isdigit() and int(length) <= DRAIN_LIMIT:
        try:
            async for _ in stream:
                pass
            return response
        except ClientDisconnected:
            pass
    status, response_headers, body = response
    return status, [*response_headers, ("Connection", "close")], body


async def send_stream(
    send: Send, status: int, headers: list[tuple[str, str]], body: AsyncIterator[bytes]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    try:
        async for chunk in body:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        closing = getattr(body, "aclose", None)
        if closing is not None:
            await closing()
    await send({"type": "http.response.body", "body": b""})
