"""Matching at intake: the flow library's candidates for the problem go to Claude in the first turn, which
picks one or none through a constrained field (their slugs plus "none", never a free-text id) with a
confidence. At 0.8 or more the session follows that flow (tier guided, matched_flow_id and match_score
kept); otherwise Claude's first turn stands as usual."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from storage import raw
from storage.state import SessionState

from .claude import TurnResult
from .claude_answer import apply_turn
from .claude_choice import Choice
from .commands import Actor, StartSession
from .events import Event, SessionView
from .flow_text import assistant_step
from .flows.library import Candidate
from .flows.runner import enter
from .psa_intake import TicketStart
from .redaction import redact
from .session_core import Loaded
from .session_start import FirstTurn
from .turn_lease import Turn

if TYPE_CHECKING:
    from .flow_steps import FlowSteps

NONE = "none"
GUIDED_AT = 0.8  # DESIGN.md: a match of 0.8 or more and the flow guides the session
CANDIDATES = 5


def choice_for(candidates: Sequence[Candidate]) -> Choice:
    return Choice(
        values=(*(c.ref.slug for c in candidates), NONE),
        description="The flow that fits the engineer's problem, or 'none' when none clearly does.",
    )


def candidates_context(candidates: Sequence[Candidate]) -> str:
    lines = [
        "[FlowPilot context, not written by the engineer] Troubleshooting flows that may fit this problem "
        f"(id: title). Set `choice` to the id of the one that clearly fits, or {NONE!r}, with your confidence:"
    ]
    lines += [f"- {c.ref.slug}: {c.ref.title}" for c in candidates]
    return "\n".join(lines)


def match_text(typed: str, ticket: TicketStart | None) -> str:
    """What matching reads: a ticket's title, the engineer's words masked as stored, and the ticket's
    description (already masked in its snapshot); in that order, as matching reads only the first
    characters (bot.flows.library.MATCH_TEXT_LIMIT) and a long paste must not push the title out."""
    data = ticket.data if ticket is not None else {}
    parts = [str(data.get("title") or ""), redact(typed[:4000]).text, str(data.get("description") or "")]
    return "\n".join(p.strip() for p in parts if p.strip())


class FlowMatch:
    def __init__(self, *, steps: FlowSteps) -> None:
        self._steps = steps

    async def start(self, command: StartSession) -> AsyncIterator[Event]:
        """Start a session, offering Claude the library's candidates for what it is about in the first
        turn: the engineer's words and, from a ticket, its title, description and company (the ticket is
        read once, by the start, before the candidates are looked for)."""

        async def opening(ticket: TicketStart | None) -> FirstTurn | None:
            candidates = await self._candidates(command, ticket)
            return self._first(candidates) if candidates else None

        async for event in self._steps.conversation.start(command, opening=opening):
            yield event

    async def _candidates(self, command: StartSession, ticket: TicketStart | None) -> list[Candidate]:
        library = self._steps.library
        text = match_text(command.text, ticket)
        if library is None or not text:
            return []
        account = await self._steps.sessions.identities.account(None, command.actor, create=True)
        assert account is not None
        # A flow written for some clients is offered on their tickets only (none known: flows for all).
        client = ticket.client if ticket is not None else None
        return await library.candidates(
            account_id=account.id, text=text, client_name=client, limit=CANDIDATES
        )

    def _first(self, candidates: Sequence[Candidate]) -> FirstTurn:
        """Claude's first turn, told the candidates and choosing among them; a pick follows the flow."""

        async def first(
            session_id: uuid.UUID, actor: Actor, prefetched: Any, turn: Turn
        ) -> AsyncIterator[Event]:
            loaded: Loaded[SessionState] = prefetched.loaded

            async def follow(result: TurnResult) -> AsyncIterator[Event] | None:
                chosen = result.chosen
                if chosen is None or chosen.confidence < GUIDED_AT:
                    return None
                picked = next((c for c in candidates if c.ref.slug == chosen.value), None)
                if picked is None:  # "none": Claude's first turn is saved as any other
                    return None
                return self._follow(loaded, picked, result, actor=actor, turn=turn, before=prefetched.before)

            async for event in self._steps.conversation.turn_on(
                loaded,
                actor=actor,
                turn=turn,
                context=candidates_context(candidates),
                choice=choice_for(candidates),
                follow=follow,
                prefetched=prefetched,
            ):
                yield event

        return first

    async def _follow(
        self,
        loaded: Loaded[SessionState],
        picked: Candidate,
        result: TurnResult,
        *,
        actor: Actor,
        turn: Turn,
        before: SessionView,
    ) -> AsyncIterator[Event]:
        """Claude picked a flow: its header update and words are kept, and the flow's first node follows."""
        s = loaded.session
        assert result.chosen is not None and self._steps.library is not None
        ref, flow = await self._steps.version(picked.ref.version_id)
        s.step_count += 1
        apply_turn(
            s, result.turn, s.step_count, result.usage
        )  # the header and the tokens; the lane is the flow's
        s.matched_flow_id = ref.flow_id
        s.match_score = result.chosen.confidence
        s.confidence_tier = "guided"
        async with raw.autocommit(self._steps.db) as db:
            await self._steps.conversation.save_step(db, loaded, assistant_step(result))
        await self._steps.library.count(ref.version_id, event="started")
        step = enter(flow, ref.version_id)
        async for event in self._steps.arrive(loaded, step, ref=ref, actor=actor, turn=turn, before=before):
            yield event
