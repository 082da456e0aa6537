"""Socket Mode: the same Bolt app, fed over Slack's websocket instead of POST /slack/events."""

from __future__ import annotations

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


class SocketMode:
    def __init__(self, app: AsyncApp, *, app_token: str, api_url: str) -> None:
        # apps.connections.open needs the app-level token and our (possibly non-default) API URL.
        self._handler = AsyncSocketModeHandler(app, app_token, web_client=AsyncWebClient(base_url=api_url))

    async def start(self) -> None:
        await self._handler.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped

    async def stop(self) -> None:
        await self._handler.close_async()  # type: ignore[no-untyped-call]
