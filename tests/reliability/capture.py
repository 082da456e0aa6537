"""A capture server: a bare TCP listener on another local port that records every connection made to it.

It speaks just enough HTTP to answer a plain request, and records whatever arrives first (an HTTP request
head with its Authorization header, or a TLS ClientHello), so "nothing was fetched from or sent to it" is
proven at the socket, whatever the app tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nstolen"
)


class Capture:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received.append(b"")  # a connection, even one that sends nothing, is recorded
        try:
            self.received[-1] = await reader.read(64 * 1024)
            writer.write(ANSWER)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@pytest.fixture(name="capture")
async def capture_server() -> AsyncIterator[Capture]:
    server = Capture()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
