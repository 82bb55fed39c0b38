"""The HTTP ceiling: a raw ASGI app answering `200 {}` under the same uvicorn as Nimbus.

uvloop + httptools, one worker, log level warning, no access log: everything `nimbus
server` does minus Nimbus. Run:  .venv/bin/python bench/ceiling_app.py --port 8901
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Message = dict[str, Any]
BODY = b"{}"
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):  # read the request body, as Nimbus does
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
