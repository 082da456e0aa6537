"""What every Slack listener shares: background work, de-duplication, places, and running a command."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.runtime import Runtime
from bot.bindings import Binding
from bot.changes import SessionChange
from bot.commands import Actor, Command, SessionCommand
from bot.events import Event, Notice, Thinking
from bot.outage import is_outage

from . import files
from . import messages as msg
from .output import Renderer
from .places import Clicked, Place
from .streaming import UNREACHABLE, error_code

logger = logging.getLogger(__name__)

PLATFORM = "slack"
# Requests doing their CPU work at once (the others wait, costing nothing); turns waiting for Claude don't count.
ADMITTED = 8
ADMISSION_HOLD_SECONDS = 0.25
THREADS_REMEMBERED = 4096  # recently active threads whose session is known without a database read
ClientFor = Callable[[str], Awaitable[AsyncWebClient | None]]


class SlackService:
    def __init__(
        self, runtime: Runtime, *, client_for: ClientFor, file_origins: frozenset[files.Origin]
    ) -> None:
        self.runtime = runtime
        self.handler = runtime.handler
        self.client_for = client_for
        self.file_origins = file_origins
        self._tasks: set[asyncio.Task[Any]] = set()
        self._admission = asyncio.Semaphore(ADMITTED)
        self._threads: OrderedDict[tuple[str, str, str], tuple[uuid.UUID, Place]] = OrderedDict()
        self._names: dict[tuple[str, str], str] = {}

    # ── background work ────────────────────────────────────────────────────────────────────────────
    def spawn(
        self,
        work: Coroutine[Any, Any, None],
        *,
        name: str,
        reply_to: tuple[AsyncWebClient, dict[str, Any]] | None = None,
    ) -> None:
        """Run after the ack; tracked so shutdown can wait for it.

        `reply_to` (the client and the request body) is who is told privately when the database is down
        before the core could take the request (deduplication and thread look-ups need PostgreSQL too).
        """
        task = asyncio.create_task(self._guarded(work, name, reply_to), name=f"slack:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(
        self,
        work: Coroutine[Any, Any, None],
        name: str,
        reply_to: tuple[AsyncWebClient, dict[str, Any]] | None,
    ) -> None:
        # Admission: only so many requests do their CPU work (parsing, database, rendering) at once; the rest
        # wait their turn here, so the event loop always has room to ack what Slack sends next. A request
        # gives its place up once it is waiting for Claude (see run) or when it is done.
        ticket = _Ticket(self._admission)
        await self._admission.acquire()
        _TICKET.set(ticket)
        # Never a long wait for the others: a request waiting on something (a busy session's lease, a slow
        # Slack call) gives its place up after a moment anyway.
        expiry = asyncio.get_running_loop().call_later(ADMISSION_HOLD_SECONDS, ticket.release)
        try:
            await work
        except Exception as err:
            if not is_outage(err):
                logger.exception("Slack background work failed: %s", name)
                return
            logger.warning("database unavailable for Slack %s: %s", name, type(err).__name__)
            if reply_to is not None:
                await _tell_database_down(*reply_to)
        finally:
            expiry.cancel()
            ticket.release()

    async def drain(self, timeout: float) -> None:
        """Let background work finish (shutdown), then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

    async def first(self, key: str, *, within: float | None = None) -> bool:
        """True the first time `key` is seen, in any process (PostgreSQL); with `within`, also when it was
        last seen longer ago than that many seconds."""
        return await self.runtime.deliveries.first(PLATFORM, key, within=within)

    # ── places ─────────────────────────────────────────────────────────────────────────────────────
    async def place_for(self, session_id: uuid.UUID, team_id: str) -> Place | None:
        """The session's Slack thread, only when it belongs to `team_id` (never show a thread to a stranger)."""
        threads = await self.runtime.bindings.of_session(session_id, platform=PLATFORM, workspace_id=team_id)
        return place_of(threads[0]) if threads else None

    async def place_of_thread(
        self, *, team_id: str, channel: str, thread_ts: str
    ) -> tuple[uuid.UUID, Place] | None:
        """The session a thread shows. A Slack thread's binding never changes once made, so each process
        remembers the threads it has seen (a reply then costs no look-up)."""
        key = (team_id, channel, thread_ts)
        known = self._threads.get(key)
        if known is not None:
            self._threads.move_to_end(key)
            return known
        b = await self.runtime.bindings.of_thread(
            platform=PLATFORM, workspace_id=team_id, channel_id=channel, thread_id=thread_ts
        )
        if b is None:
            return None
        found = (b.session_id, place_of(b))
        self._threads[key] = found
        if len(self._threads) > THREADS_REMEMBERED:
            self._threads.popitem(last=False)
        return found

    async def latest_open(self, actor: Actor, channel: str) -> tuple[uuid.UUID, Place] | None:
        """The actor's most recently active open session in a channel, and its thread."""
        b = await self.runtime.bindings.latest_open(actor=actor, platform=PLATFORM, channel_id=channel)
        return (b.session_id, place_of(b)) if b is not None else None

    async def name_of(self, client: AsyncWebClient, team: str, user: str) -> str:
        """A user's display name, remembered per process; the id when Slack cannot say."""
        if not user:
            return ""
        key = (team, user)
        if key not in self._names:
            try:
                info = (await client.users_info(user=user))["user"]
                profile = info.get("profile") or {}
                self._names[key] = (
                    profile.get("display_name") or info.get("real_name") or info.get("name") or user
                )
            except (SlackApiError, *UNREACHABLE):  # a name is a nicety: the message must still be handled
                return user
        return self._names[key]

    # ── running a command ──────────────────────────────────────────────────────────────────────────
    async def run(
        self,
        command: Command,
        *,
        client: AsyncWebClient,
        place: Place | None,
        clicked: Clicked | None = None,
    ) -> Renderer:
        renderer = Renderer(
            client,
            place=place,
            actor=command.actor,
            command=command,
            clicked=clicked,
            note_draft=self._note_draft,
        )
        # Slack calls run beside the turn, in order, so posting the header or the "thinking" line never
        # delays the Claude request (render() keeps Slack's refusals to itself and reports them at the end).
        events: asyncio.Queue[Event | None] = asyncio.Queue()

        async def draw() -> None:
            while (event := await events.get()) is not None:
                await renderer.render(event)

        drawing = asyncio.create_task(draw())
        ticket = _TICKET.get(None)
        try:
            async for event in self.handler.handle(command):
                if isinstance(event, Thinking) and ticket is not None:
                    ticket.release()  # waiting for Claude now: let another request in
                events.put_nowait(event)
        finally:
            events.put_nowait(None)
            await drawing
            await renderer.close()
        return renderer

    async def _note_draft(self, session_id: uuid.UUID, where: dict[str, str]) -> None:
        await self.handler.note_draft_message(session_id, PLATFORM, where)

    # ── turns a dead or stopped process left unfinished ────────────────────────────────────────────
    async def on_recovered(self, notice: Notice) -> None:
        """Say so in the session's thread, with Retry, and mark the draft that was streaming as cut off."""
        retry = notice.retry
        actor = notice.owner or (retry.actor if isinstance(retry, SessionCommand) else None)
        if actor is None or actor.platform != PLATFORM or notice.session_id is None:
            return
        place = await self.place_for(notice.session_id, actor.workspace_id)
        client = await self.client_for(actor.workspace_id)
        if place is None or client is None:
            return
        renderer = Renderer(client, place=place, actor=actor)
        await renderer.render(notice)
        if renderer.failure:
            logger.warning("could not tell about an interrupted turn in Slack: %s", renderer.failure)

    # ── changes made elsewhere (REST API, another process) ─────────────────────────────────────────
    async def on_change(self, change: SessionChange) -> None:
        if change.origin == PLATFORM or change.platform not in ("", PLATFORM):
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


class _Ticket:
    """A place among the requests admitted to work at once; given back exactly once."""

    def __init__(self, admission: asyncio.Semaphore) -> None:
        self._admission = admission
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._admission.release()


_TICKET: contextvars.ContextVar[_Ticket] = contextvars.ContextVar("slack_admission_ticket")


def place_of(b: Binding) -> Place:
    """Where a bound thread is, for rendering into it."""
    return Place(b.channel_id, b.thread_id, b.header_message_id, bool(b.extra.get("assistant")))


async def _tell_database_down(client: AsyncWebClient, body: dict[str, Any]) -> None:
    """Tell the engineer privately that their message or click was not handled and should be sent again."""
    event = body.get("event") or {}
    channel = body.get("channel")
    channel_id = event.get("channel") or body.get("channel_id") or (channel or {}).get("id")
    user = body.get("user")
    user_id = event.get("user") or body.get("user_id") or (user or {}).get("id")
    if not channel_id or not user_id:
        return
    thread_ts = event.get("thread_ts") or ((body.get("message") or {}).get("thread_ts"))
    try:
        await client.chat_postEphemeral(
            channel=str(channel_id), user=str(user_id), text=msg.DATABASE_DOWN, thread_ts=thread_ts
        )
    except (SlackApiError, *UNREACHABLE) as err:
        logger.warning("could not tell the engineer the database is down: %s", type(err).__name__)
