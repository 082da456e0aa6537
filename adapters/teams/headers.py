"""Where each session's header card lives (its bindings), and the header re-rendered after outside changes."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from microsoft_agents.hosting.core import TurnContext

from bot.bindings import Binding, Bindings
from bot.changes import SessionChange
from bot.events import Notice, SessionView
from bot.handler import SessionHandler

from . import cards
from .commands import PLATFORM, tenant_of
from .conversations import Conversations
from .outbox import Outbox

logger = logging.getLogger(__name__)


class Headers:
    def __init__(self, bindings: Bindings, handler: SessionHandler, conversations: Conversations) -> None:
        self._bindings = bindings
        self._handler = handler
        self._conversations = conversations

    async def _mine(self, session_id: uuid.UUID) -> list[Binding]:
        return await self._bindings.of_session(session_id, platform=PLATFORM)

    async def _here(self, session_id: uuid.UUID, conversation_id: str) -> Binding | None:
        mine = [b for b in await self._mine(session_id) if b.channel_id == conversation_id]
        return max(mine, key=lambda b: b.created_at) if mine else None

    async def info(self, session_id: uuid.UUID, conversation_id: str) -> dict[str, Any]:
        """What this conversation keeps about the session: bound or not, its header and latest turn card."""
        binding = await self._here(session_id, conversation_id)
        if binding is None:
            return {"bound": False}
        return {"bound": True, "header_id": binding.header_message_id, **binding.extra}

    async def remember(
        self,
        session_id: uuid.UUID,
        outbox: Outbox,
        *,
        header_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        binding = await self._here(session_id, outbox.conversation_id)
        if binding is not None:
            await self._bindings.remember(binding.id, extra=extra or {}, header_message_id=header_id)

    async def bind(self, session_id: uuid.UUID, outbox: Outbox) -> None:
        """Make this conversation show the session too (the engineer who took it over)."""
        await self._bindings.bind(
            platform=PLATFORM,
            workspace_id=tenant_of(outbox.context.activity),
            channel_id=outbox.conversation_id,
            thread_id=f"takeover:{session_id}",
            session_id=session_id,
            extra={"conversation": outbox.reference},
        )

    async def refresh(self, session_id: uuid.UUID, view: SessionView, *, skip: str = "") -> None:
        """Update the header card of every Teams conversation showing the session (but `skip`)."""
        for binding in await self._mine(session_id):
            stored = binding.extra.get("conversation")
            if binding.channel_id == skip or not binding.header_message_id or not stored:
                continue
            header_id = binding.header_message_id

            async def update(context: TurnContext, header_id: str = header_id) -> None:
                await Outbox(context, self._conversations.delivery).update_card(header_id, cards.header(view))

            try:
                await self._conversations.resume_stored(stored, update)
            except Exception:
                logger.exception("could not update a Teams header of session %s", session_id)

    async def on_recovered(self, notice: Notice) -> None:
        """A turn a dead or stopped process left unfinished: say so, with Retry, where the session is now."""
        if notice.session_id is None:
            return
        bindings = [b for b in await self._mine(notice.session_id) if b.extra.get("conversation")]
        if not bindings:
            return
        latest = max(bindings, key=lambda b: (b.created_at, b.id))

        async def tell(context: TurnContext) -> None:
            await Outbox(context, self._conversations.delivery).send_card(cards.notice(notice))

        await self._conversations.resume_stored(latest.extra["conversation"], tell)

    async def on_change(self, change: SessionChange) -> None:
        """A change made elsewhere (REST API, Slack, another process): re-render our header cards."""
        if change.origin == PLATFORM or change.platform not in ("", PLATFORM):
            return
        if not await self._mine(change.session_id):
            return
        view = await self._handler.header(change.session_id)
        if view is not None:
            await self.refresh(change.session_id, view)
