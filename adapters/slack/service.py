"""What every Slack listener shares: background work, de-duplication, places, and running a command."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.server import Runtime
from bot.commands import Actor, Command
from bot.events import Event
from storage import repo
from storage.notify import SessionChange

from .output import Clicked, Place, Renderer
from .streaming import error_code

logger = logging.getLogger(__name__)

PLATFORM = "slack"
ClientFor = Callable[[str], Awaitable[AsyncWebClient | None]]


class SlackService:
    def __init__(self, runtime: Runtime, *, client_for: ClientFor, file_hosts: frozenset[str]) -> None:
        self.runtime = runtime
        self.handler = runtime.handler
        self.client_for = client_for
        self.file_hosts = file_hosts
        self._tasks: set[asyncio.Task[Any]] = set()

    # ── background work ────────────────────────────────────────────────────────────────────────────
    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run after the ack; tracked so shutdown can wait for it."""
        task = asyncio.create_task(self._guarded(work, name), name=f"slack:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except Exception:
            logger.exception("Slack background work failed: %s", name)

    async def drain(self, timeout: float) -> None:
        """Let background work finish (shutdown), then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

    async def first(self, key: str) -> bool:
        """True the first time `key` is seen, in any process (PostgreSQL)."""
        async with self.runtime.db() as db, db.begin():
            return await repo.first_delivery(db, platform=PLATFORM, event_id=key[:255])

    # ── places ─────────────────────────────────────────────────────────────────────────────────────
    async def place_for(self, session_id: uuid.UUID, team_id: str) -> Place | None:
        """The session's Slack thread, only when it belongs to `team_id` (never show a thread to a stranger)."""
        async with self.runtime.db() as db:
            bindings = await repo.bindings_of(db, session_id)
        for b in bindings:
            if b.platform == PLATFORM and b.workspace_id == team_id:
                return Place(b.channel_id, b.thread_id, b.header_message_id, bool(b.extra.get("assistant")))
        return None

    async def place_of_thread(
        self, *, team_id: str, channel: str, thread_ts: str
    ) -> tuple[uuid.UUID, Place] | None:
        b = await self.handler.session_for_thread(
            platform=PLATFORM, workspace_id=team_id, channel_id=channel, thread_id=thread_ts
        )
        if b is None:
            return None
        return b.session_id, Place(
            b.channel_id, b.thread_id, b.header_message_id, bool(b.extra.get("assistant"))
        )

    # ── running a command ──────────────────────────────────────────────────────────────────────────
    async def run(
        self,
        command: Command,
        *,
        client: AsyncWebClient,
        place: Place | None,
        clicked: Clicked | None = None,
    ) -> Renderer:
        renderer = Renderer(client, place=place, actor=command.actor, command=command, clicked=clicked)
        # Slack calls run beside the turn, in order, so posting the header or the "thinking" line never
        # delays the Claude request (render() keeps Slack's refusals to itself and reports them at the end).
        events: asyncio.Queue[Event | None] = asyncio.Queue()

        async def draw() -> None:
            while (event := await events.get()) is not None:
                await renderer.render(event)

        drawing = asyncio.create_task(draw())
        try:
            async for event in self.handler.handle(command):
                events.put_nowait(event)
        finally:
            events.put_nowait(None)
            await drawing
            await renderer.close()
        return renderer

    # ── changes made elsewhere (REST API, another process) ─────────────────────────────────────────
    async def on_change(self, change: SessionChange) -> None:
        if change.origin == PLATFORM:
            return
        view = await self.handler.header(change.session_id)
        if view is None or view.platform != PLATFORM:
            return
        place = await self.place_for(change.session_id, view.workspace_id)
        client = await self.client_for(view.workspace_id)
        if place is None or client is None:
            return
        actor = Actor(platform=PLATFORM, workspace_id=view.workspace_id, user_id=view.owner_user_id)
        renderer = Renderer(client, place=place, actor=actor)
        try:
            await renderer.header(view)
        except SlackApiError as err:
            logger.warning("could not refresh a Slack header: %s", error_code(err))
