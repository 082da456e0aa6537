"""Running a command after Teams got its answer, rendering its events in a continued conversation.

The core's turn always runs to its end (and persists) even when showing it fails; Retry then shows what was
saved, or replays the core's own retry.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.app.proactive import Conversation

from bot.commands import Command, SessionCommand
from bot.errors import FlowPilotError
from bot.events import Notice, SessionStarted, TriageChanged
from bot.handler import SessionHandler

from . import cards
from .commands import actor_of, button, retry_button
from .conversations import Conversations
from .outbox import Outbox
from .render import Escalation, Renderer, Shows

logger = logging.getLogger(__name__)


class Runner:
    def __init__(self, handler: SessionHandler, conversations: Conversations, shows: Shows) -> None:
        self._handler = handler
        self._conversations = conversations
        self._shows = shows

    def _outbox(self, context: TurnContext, conversation: Conversation) -> Outbox:
        outbox = Outbox(context, self._conversations.delivery)
        outbox.reference = conversation.store_item_to_json()
        return outbox

    def spawn(
        self,
        context: TurnContext,
        command: Command,
        *,
        escalation: Escalation | None = None,
        fresh_header: bool = False,
    ) -> None:
        conversation = Conversation.from_turn_context(context)
        self._conversations.track(self._run(conversation, command, escalation, fresh_header))

    async def _run(
        self, conversation: Conversation, command: Command, escalation: Escalation | None, fresh_header: bool
    ) -> None:
        async def render_all(context: TurnContext) -> None:
            outbox = self._outbox(context, conversation)
            renderer = Renderer(
                self._shows,
                outbox,
                actor=command.actor,
                escalation=escalation,
                fresh_header=fresh_header,
                command=command,
            )
            session_id = getattr(command, "session_id", None)
            failed = False
            core_retry: SessionCommand | None = None
            async for event in self._handler.handle(command):
                if isinstance(event, SessionStarted):
                    session_id = event.session_id
                if isinstance(event, Notice) and event.retry is not None:
                    core_retry = event.retry
                if failed:
                    continue
                try:
                    await renderer.render(event)
                except Exception:
                    logger.exception("could not show a %s in Teams", type(event).__name__)
                    failed = True
            if failed and session_id is not None:
                # What the core saved is the truth: Retry shows it again, unless the core itself failed
                # (then Retry is the core's own, which Teams did not manage to show).
                retry = retry_button(core_retry) if core_retry is not None else button("show", session_id)
                with contextlib.suppress(Exception):
                    await outbox.send_card(cards.failure(retry, saved=core_retry is None))

        try:
            await self._conversations.resume(conversation, render_all)
        except Exception:
            logger.exception("a Teams command failed")

    def spawn_show(self, context: TurnContext, data: dict[str, Any]) -> None:
        """Retry after Teams refused part of a reply: show Claude's latest reply and the header again."""
        try:
            session_id = uuid.UUID(str(data.get("sid")))
        except ValueError:
            return
        actor = actor_of(context.activity)
        conversation = Conversation.from_turn_context(context)

        async def show(context: TurnContext) -> None:
            outbox = self._outbox(context, conversation)
            renderer = Renderer(self._shows, outbox, actor=actor)
            try:
                turn, view = await self._handler.last_turn(actor=actor, session_id=session_id)
            except FlowPilotError as err:
                await outbox.send_card(
                    cards.notice(Notice(session_id, err.message, level="error", code=err.code))
                )
                return
            try:
                if turn is not None:
                    await renderer.render(turn)
                await renderer.render(TriageChanged(session_id, view))
            except Exception:
                logger.exception("could not show session %s again in Teams", session_id)
                with contextlib.suppress(Exception):
                    await outbox.send_card(cards.failure(button("show", session_id), saved=True))

        async def run() -> None:
            try:
                await self._conversations.resume(conversation, show)
            except Exception:
                logger.exception("showing a Teams session again failed")

        self._conversations.track(run())
