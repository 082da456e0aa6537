"""Socket Mode: the ``/socket`` WebSocket an app opens with a ticket, the envelopes pushed to it, their acks.

These coroutines run on the server's event loop (FakeSlack hops there from the caller's loop).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web


class SocketMode:
    """The app connections of one FakeSlack; ``tickets`` are those apps.connections.open handed out."""

    def __init__(self, *, app_id: str, tickets: set[str]) -> None:
        self.connected = asyncio.Event()
        self._app_id = app_id
        self._tickets = tickets
        self._sockets: list[web.WebSocketResponse] = []
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """The ``GET /socket`` route: say hello, then hand each ack to the envelope waiting for it."""
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self._app_id},
            }
        )
        self.connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                ack = json.loads(msg.data)
                future = self._pending_acks.get(ack.get("envelope_id"))
                if future is not None and not future.done():
                    future.set_result(ack)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self.connected.clear()
        return ws

    async def send(self, envelope: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Push ``envelope`` on the newest connection and return the app's ack for it."""
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no Socket Mode connection within {timeout}s") from None
        envelope_id = envelope["envelope_id"]
        future = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = future
        try:
            await self._sockets[-1].send_json(envelope)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no ack for the {envelope['type']} envelope within {timeout}s") from None
        finally:
            self._pending_acks.pop(envelope_id, None)

    async def disconnect(self, reason: str) -> None:
        """Ask every connected app to reconnect."""
        for ws in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})

    async def close(self) -> None:
        for future in self._pending_acks.values():
            future.cancel()
        for ws in list(self._sockets):
            await ws.close()
