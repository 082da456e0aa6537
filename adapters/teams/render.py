"""Core events → what one Teams conversation shows: cards posted, the header and turn cards updated in place."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bot.commands import Actor
from bot.events import (
    ActionMarked,
    AssistantTurn,
    DraftDelta,
    DraftFinished,
    DraftStarted,
    Event,
    Notice,
    QuestionAnswered,
    SessionStarted,
    SessionView,
    StatusChanged,
    Thinking,
    TriageChanged,
)

from . import cards
from . import messages as text
from .headers import Headers
from .outbox import Outbox
from .streaming import DraftStream, Pace, open_stream

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Escalation:
    """Who a typed `escalate @Name reason` named, carried into the confirm card."""

    to_id: str = ""
    to_name: str = ""
    reason: str = ""


class Views(Protocol):
    async def view(self, *, actor: Actor, session_id: uuid.UUID) -> SessionView: ...


@dataclass(frozen=True)
class Shows:
    """What rendering needs beyond the conversation: the header cards, the escalation chat, the session's
    view (to redraw a turn card) and the streaming pace."""

    headers: Headers
    send_escalation: Callable[[Outbox, Actor, StatusChanged], Awaitable[bool]]
    views: Views
    pace: Pace


class Renderer:
    """Renders the events of one command into the conversation the command came from."""

    def __init__(
        self,
        shows: Shows,
        outbox: Outbox,
        *,
        actor: Actor,
        escalation: Escalation | None = None,
        fresh_header: bool = False,
    ) -> None:
        self._shows = shows
        self._out = outbox
        self._actor = actor
        self._escalation = escalation or Escalation()
        self._fresh_header = fresh_header
        self._stream: DraftStream | None = None
        self._binding: dict[str, Any] | None = None

    async def _binding_info(self, session_id: uuid.UUID) -> dict[str, Any]:
        if self._binding is None:
            self._binding = await self._shows.headers.info(session_id, self._out.conversation_id)
        return self._binding

    async def render(self, event: Event) -> None:
        match event:
            case SessionStarted(view=view):
                await self._new_header(view)
            case Thinking(purpose="turn"):
                with contextlib.suppress(aiohttp.ClientError):
                    await self._out.typing()
            case AssistantTurn():
                assert event.session_id is not None
                card_id = await self._out.send_card(cards.assistant_turn(event))
                turn = {"step": event.step_order, "id": card_id, "message": event.message[:6000]}
                await self._shows.headers.remember(event.session_id, self._out, extra={"turn": turn})
            case TriageChanged(view=view):
                if self._fresh_header:
                    await self._new_header(view)
                else:
                    await self._update_headers(view)
            case StatusChanged():
                await self._status(event)
            case QuestionAnswered() | ActionMarked():
                await self._refresh_turn(event)
            case DraftStarted(kind=kind):
                self._stream = open_stream(self._out, kind=kind, pace=self._shows.pace)
                await self._stream.start()
            case DraftDelta(text=chunk) if self._stream is not None:
                await self._stream.add(chunk)
            case DraftFinished():
                await self._draft_finished(event)
            case Notice():
                await self._out.send_card(cards.notice(event))

    async def _new_header(self, view: SessionView) -> None:
        header_id = await self._out.send_card(cards.header(view))
        await self._shows.headers.remember(view.session_id, self._out, header_id=header_id)
        self._binding = None

    async def _update_headers(self, view: SessionView) -> None:
        info = await self._binding_info(view.session_id)
        if info.get("header_id"):
            await self._out.update_card(info["header_id"], cards.header(view))
        elif info.get("bound"):
            await self._new_header(view)
        # Other Teams conversations showing this session (the taker's chat) follow too.
        await self._shows.headers.refresh(view.session_id, view, skip=self._out.conversation_id)

    async def _status(self, event: StatusChanged) -> None:
        assert event.session_id is not None
        info = await self._binding_info(event.session_id)
        if (
            event.new == "active"
            and event.old in ("escalated", "requesting_escalation")
            and not info["bound"]
        ):
            # The engineer took it over from their own chat: that chat now carries the session too.
            await self._shows.headers.bind(event.session_id, self._out)
            await self._new_header(event.view)
            await self._shows.headers.refresh(event.session_id, event.view, skip=self._out.conversation_id)
            return
        await self._update_headers(event.view)
        if event.outputs.get("plain"):
            await self._out.send_card(cards.ticket_note(event.outputs["plain"]))
        if event.new == "resolved":
            await self._out.send_card(cards.rating(event.session_id))
        elif event.new in ("escalated", "requesting_escalation"):
            to = event.escalated_to if isinstance(event.escalated_to, Actor) else None
            if to is not None:
                name = cards.plain(to.display_name) or "the receiving engineer"
                sent = await self._shows.send_escalation(self._out, to, event)
                line = (text.ESCALATION_SENT if sent else text.ESCALATION_NOT_SENT).format(name=name)
                await self._out.send_card(cards.closed(line))
            await self._out.send_card(cards.rating(event.session_id))

    async def _refresh_turn(self, event: QuestionAnswered | ActionMarked) -> None:
        assert event.session_id is not None
        turn = (await self._binding_info(event.session_id)).get("turn") or {}
        if turn.get("step") != event.step_order or not turn.get("id"):
            return
        view = await self._shows.views.view(actor=self._actor, session_id=event.session_id)
        content = cards.turn(event.session_id, turn.get("message", ""), view.questions, view.actions)
        await self._out.update_card(turn["id"], content)

    async def _draft_finished(self, event: DraftFinished) -> None:
        if self._stream is not None:
            await self._stream.finish(event.text)
            self._stream = None
        assert event.session_id is not None
        e = self._escalation
        await self._out.send_card(
            cards.draft_ready(
                event.session_id,
                kind=event.kind,
                ticket_note=event.ticket_note,
                escalate_to=(e.to_id, e.to_name) if e.to_id else None,
                reason=e.reason,
            )
        )
