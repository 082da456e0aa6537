"""Where each session's header card lives (its bindings), and the header re-rendered after outside changes."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, StreamInfo
from microsoft_agents.hosting.core import TurnContext

from bot.bindings import Binding, Bindings
from bot.changes import SessionChange
from bot.events import Notice, SessionView
from bot.handler import SessionHandler

from . import cards
from . import messages as text
from .commands import PLATFORM, tenant_of
from .conversations import Conversations
from .outbox import Outbox
from .streaming import clip

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

    async def note_shown(self, session_id: uuid.UUID, conversation_id: str, where: dict[str, str]) -> None:
        """Remember, with the running turn, where its words (or draft) show and what they say so far: a
        process finding the turn cut off by a crash marks them (on_recovered)."""
        try:
            await self._handler.note_draft_message(
                session_id, PLATFORM, {**where, "conversation": conversation_id}
            )
        except Exception as err:  # the words go on; only their crash marker would be missing
            logger.warning("could not remember where a turn's words show: %s", type(err).__name__)

    async def on_recovered(self, notice: Notice) -> None:
        """A turn a dead or stopped process left unfinished: the words it was streaming end "… (cut off)",
        and the engineer is told, with Retry, where the session is now."""
        if notice.session_id is None:
            return
        bindings = [b for b in await self._mine(notice.session_id) if b.extra.get("conversation")]
        if not bindings:
            return
        if notice.code == "interrupted" and notice.interrupted:
            await self._mark_cut_off(bindings, notice.interrupted.get(PLATFORM))
        latest = max(bindings, key=lambda b: (b.created_at, b.id))

        async def tell(context: TurnContext) -> None:
            await Outbox(context, self._conversations.delivery).send_card(cards.notice(notice))

        await self._conversations.resume_stored(latest.extra["conversation"], tell)

    async def _mark_cut_off(self, bindings: list[Binding], where: Any) -> None:
        """End the streamed message, or update the card, that a dead process was showing words in."""
        if not isinstance(where, dict) or not where.get("id"):
            return
        here = [b for b in bindings if b.channel_id == where.get("conversation")]
        if not here:
            return
        shown_id, words = str(where["id"]), str(where.get("text") or "") + text.TURN_CUT_OFF

        async def mark(context: TurnContext) -> None:
            outbox = Outbox(context, self._conversations.delivery)
            if where.get("kind") == "stream":
                info = StreamInfo(stream_type="final", stream_id=shown_id)
                final = Activity(type="message", text=clip(cards.prose(words)), entities=[info])
                try:
                    await outbox.send(final)
                except aiohttp.ClientResponseError as err:
                    if err.status != 403:
                        raise
                    # Teams ended the stream itself (its time limit): the words in a card instead.
                    await outbox.send_card(cards.words(words))
                return
            await outbox.update_card(shown_id, cards.words(words))

        try:
            await self._conversations.resume_stored(here[-1].extra["conversation"], mark)
        except Exception as err:  # the notice with Retry still goes out
            logger.warning("could not mark cut-off words in Teams: %s", type(err).__name__)

    async def on_change(self, change: SessionChange) -> None:
        """A change made elsewhere (REST API, Slack, another process): re-render our header cards."""
        if change.origin == PLATFORM or change.platform not in ("", PLATFORM):
            return
        if not await self._mine(change.session_id):
            return
        view = await self._handler.header(change.session_id)
        if view is not None:
            await self.refresh(change.session_id, view)
