"""Core events → what one Teams conversation shows: cards posted, the header and turn cards updated in place."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import aiohttp

from bot.commands import Actor, Command, DiscardDraft, Rate
from bot.events import (
    ActionMarked,
    AssistantTurn,
    DraftDelta,
    DraftFinished,
    DraftStarted,
    Event,
    MessageDelta,
    Notice,
    QuestionAnswered,
    SessionStarted,
    SessionView,
    StatusChanged,
    Thinking,
    TriageChanged,
    TurnCut,
)

from . import cards
from . import messages as text
from .headers import Headers
from .outbox import Outbox
from .streaming import DraftStream, Pace, Shown, open_stream
from .turn_words import TurnCard, TurnWords

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
        command: Command | None = None,
    ) -> None:
        self._shows = shows
        self._out = outbox
        self._actor = actor
        self._command = command
        self._escalation = escalation or Escalation()
        self._fresh_header = fresh_header
        self._stream: DraftStream | None = None
        self._words: TurnWords | None = None  # the turn's message while Claude writes it
        self._binding: dict[str, Any] | None = None

    async def _binding_info(self, session_id: uuid.UUID) -> dict[str, Any]:
        if self._binding is None:
            self._binding = await self._shows.headers.info(session_id, self._out.conversation_id)
        return self._binding

    async def render(self, event: Event) -> None:
        show = _SHOW.get(type(event))
        if show is not None:
            await show(self, event)

    # ── one method per kind of event (the table _SHOW, below the class) ──────────────────────────────
    async def _started(self, event: SessionStarted) -> None:
        await self._new_header(event.view)

    async def _thinking(self, event: Thinking) -> None:
        if event.purpose == "turn":
            with contextlib.suppress(aiohttp.ClientError):
                await self._out.typing()

    async def _turn(self, event: AssistantTurn) -> None:
        assert event.session_id is not None
        words, self._words = self._words, None
        # Words on screen are settled and the buttons come with them; else the turn is posted whole.
        shown = await words.settle(event) if words is not None else None
        if shown is None:
            shown = TurnCard(await self._out.send_card(cards.assistant_turn(event)), event.message)
        turn = {"step": event.step_order, "id": shown.id, "message": shown.message[:6000]}
        await self._shows.headers.remember(event.session_id, self._out, extra={"turn": turn})

    async def _words_delta(self, event: MessageDelta) -> None:
        if self._words is None:
            on_shown = self._note_shown(event.session_id)
            self._words = TurnWords(self._out, pace=self._shows.pace, on_shown=on_shown)
        await self._words.add(event.text)

    async def _cut(self, event: TurnCut) -> None:
        words, self._words = self._words or TurnWords(self._out, pace=self._shows.pace), None
        await words.cut(event.shown)

    def _note_shown(self, session_id: uuid.UUID | None) -> Shown | None:
        """What a stream tells where its words show, so a restarted process can mark them cut off."""
        if session_id is None:
            return None
        return partial(self._shows.headers.note_shown, session_id, self._out.conversation_id)

    async def _triage(self, event: TriageChanged) -> None:
        if self._fresh_header:
            await self._supersede_header(event.view)
            await self._new_header(event.view)
        else:
            await self._update_headers(event.view)

    async def _draft_started(self, event: DraftStarted) -> None:
        self._stream = open_stream(self._out, kind=event.kind, pace=self._shows.pace)
        self._stream.on_shown = self._note_shown(event.session_id)
        await self._stream.start()

    async def _draft_delta(self, event: DraftDelta) -> None:
        if self._stream is not None:
            await self._stream.add(event.text)

    async def _notice(self, event: Notice) -> None:
        if self._words is not None:  # a turn that ended without its whole message: keep what was shown
            await self._cut(TurnCut(event.session_id, ""))
        if not await self._closes_card(event):
            await self._out.send_card(cards.notice(event))

    async def _new_header(self, view: SessionView) -> None:
        header_id = await self._out.send_card(cards.header(view))
        await self._shows.headers.remember(view.session_id, self._out, header_id=header_id)
        self._binding = None

    async def _supersede_header(self, view: SessionView) -> None:
        """`status` posts a new header: the old one keeps its title but loses its status and buttons."""
        old = (await self._binding_info(view.session_id)).get("header_id")
        if old:
            await self._out.update_card(old, cards.superseded(view))

    async def _remember_card(self, session_id: uuid.UUID, name: str, card_id: str | None) -> None:
        """Where this conversation shows a card whose buttons may stop meaning anything (draft, rating)."""
        await self._shows.headers.remember(session_id, self._out, extra={name: card_id})
        if self._binding is not None:
            self._binding[name] = card_id

    async def _close_card(self, session_id: uuid.UUID, name: str, line: str) -> bool:
        """Replace a remembered card's buttons by what happened; False when this conversation has none."""
        card_id = (await self._binding_info(session_id)).get(name)
        if not card_id:
            return False
        await self._out.update_card(card_id, cards.closed(line))
        await self._remember_card(session_id, name, None)
        return True

    async def _closes_card(self, event: Notice) -> bool:
        """A discard or a rating that went through: its card says so instead of a notice beside it. Only the
        command's own outcome counts: "this one is next" (it waits for a turn) is a notice too."""
        command, sid = self._command, event.session_id
        if (
            event.code not in ("discarded", "rated")
            or sid is None
            or not isinstance(command, DiscardDraft | Rate)
        ):
            return False
        by = cards.plain(self._actor.name)
        if isinstance(command, DiscardDraft):
            return await self._close_card(sid, "draft", text.DRAFT_DISCARDED.format(by=by))
        return await self._close_card(sid, "rating", text.RATED.format(by=by, rating=command.rating))

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
        if event.new in ("resolved", "escalated", "requesting_escalation"):
            kind = "resolution" if event.new == "resolved" else "escalation"
            line = text.DRAFT_CONFIRMED.format(by=cards.plain(event.by), kind=kind)
            await self._close_card(event.session_id, "draft", line)
        if event.outputs.get("plain"):
            await self._out.send_card(cards.ticket_note(event.outputs["plain"]))
        if event.new == "resolved":
            await self._rating(event.session_id)
        elif event.new in ("escalated", "requesting_escalation"):
            to = event.escalated_to if isinstance(event.escalated_to, Actor) else None
            if to is not None:
                name = cards.plain(to.display_name) or "the receiving engineer"
                sent = await self._shows.send_escalation(self._out, to, event)
                line = (text.ESCALATION_SENT if sent else text.ESCALATION_NOT_SENT).format(name=name)
                await self._out.send_card(cards.closed(line))
            await self._rating(event.session_id)

    async def _rating(self, session_id: uuid.UUID) -> None:
        await self._remember_card(session_id, "rating", await self._out.send_card(cards.rating(session_id)))

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
        card_id = await self._out.send_card(
            cards.draft_ready(
                event.session_id,
                kind=event.kind,
                ticket_note=event.ticket_note,
                escalate_to=(e.to_id, e.to_name) if e.to_id else None,
                reason=e.reason,
            )
        )
        await self._remember_card(event.session_id, "draft", card_id)


# How each kind of event shows in the conversation (an event not listed shows nothing).
_SHOW: dict[type[Event], Callable[[Renderer, Any], Awaitable[None]]] = {
    SessionStarted: Renderer._started,
    Thinking: Renderer._thinking,
    AssistantTurn: Renderer._turn,
    MessageDelta: Renderer._words_delta,
    TurnCut: Renderer._cut,
    TriageChanged: Renderer._triage,
    StatusChanged: Renderer._status,
    QuestionAnswered: Renderer._refresh_turn,
    ActionMarked: Renderer._refresh_turn,
    DraftStarted: Renderer._draft_started,
    DraftDelta: Renderer._draft_delta,
    DraftFinished: Renderer._draft_finished,
    Notice: Renderer._notice,
}
