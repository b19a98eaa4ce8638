"""A hand-driven ASGI request, for what ordinary test clients cannot do: send a
body in pieces and wait in between, disconnect midway, see whether the app read
the body at all."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class HandDrivenRequest:
    """One HTTP request to an ASGI app, its body pushed chunk by chunk.

    Attributes:
        received: ASGI ``receive`` calls the app made (0: it never asked for the
            body).
        status: The response status, once sent.
    """

    def __init__(
        self,
        app,
        path: str = "/predict",
        content_length: int | None = None,
        method: str = "POST",
    ) -> None:
        headers = [(b"content-type", b"application/json")]
        if content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        self.app = app
        self.received = 0
        self.status: int | None = None
        self._body = bytearray()
        self._messages: asyncio.Queue = asyncio.Queue()
        self._done = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> HandDrivenRequest:
        """Start the app on this request (in the running event loop)."""
        self._task = asyncio.ensure_future(
            self.app(self.scope, self._receive, self._send)
        )
        return self

    def push(self, chunk: bytes, more: bool = True) -> None:
        """Send one body chunk (``more=False``: the last one)."""
        self._messages.put_nowait(
            {"type": "http.request", "body": chunk, "more_body": more}
        )

    def disconnect(self) -> None:
        """The client goes away."""
        self._messages.put_nowait({"type": "http.disconnect"})

    async def response(self, timeout: float = 10) -> tuple[int, Any]:
        """``(status, JSON body)`` once the app has answered."""
        await asyncio.wait_for(self._done.wait(), timeout)
        await asyncio.wait_for(self._task, timeout)
        return self.status, json.loads(self._body or b"null")

    async def _receive(self) -> dict:
        self.received += 1
        return await self._messages.get()

    async def _send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self._body += message.get("body", b"")
            if not message.get("more_body", False):
                self._done.set()
