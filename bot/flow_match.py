"""Matching at intake: the flow library's candidates for the problem go to Claude in the first turn, which
picks one or none through a constrained field (their slugs plus "none", never a free-text id) with a
confidence. At 0.8 or more the session follows that flow (tier guided, matched_flow_id and match_score
kept); otherwise Claude's first turn stands as usual."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from storage import raw
from storage.state import SessionState

from . import messages as msg
from .claude import Choice, ClaudeClient, TurnResult
from .claude_answer import apply_turn
from .commands import Actor, StartSession
from .errors import NotConfigured
from .events import Event, Thinking
from .flow_text import ask_with_choice, assistant_step, save_as_turn
from .flows.runner import enter
from .limits import RateLimiter
from .redaction import redact
from .session_core import Loaded
from .turn_lease import Turn

if TYPE_CHECKING:
    from .flow_steps import FlowSteps

NONE = "none"
GUIDED_AT = 0.8  # DESIGN.md: a match of 0.8 or more and the flow guides the session
CANDIDATES = 5


def choice_for(candidates: Sequence[Any]) -> Choice:
    return Choice(
        values=(*(c.ref.slug for c in candidates), NONE),
        description="The flow that fits the engineer's problem, or 'none' when none clearly does.",
    )


def candidates_context(candidates: Sequence[Any]) -> str:
    lines = [
        "[FlowPilot context, not written by the engineer] Troubleshooting flows that may fit this problem "
        f"(id: title). Set `choice` to the id of the one that clearly fits, or {NONE!r}, with your confidence:"
    ]
    lines += [f"- {c.ref.slug}: {c.ref.title}" for c in candidates]
    return "\n".join(lines)


def with_context(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The first turn's messages with the candidates told after everything else (the cached prefix stays)."""
    out = copy.copy(messages)
    last = dict(out[-1])
    last["content"] = [*last["content"], {"type": "text", "text": text}]
    out[-1] = last
    return out


class FlowMatch:
    def __init__(self, *, steps: FlowSteps, claude: ClaudeClient | None, claude_turns: RateLimiter) -> None:
        self._steps = steps
        self._claude = claude
        self._claude_turns = claude_turns

    async def start(self, command: StartSession) -> AsyncIterator[Event]:
        """Start a session, offering Claude the library's candidates for its problem in the first turn."""
        library = self._steps.library
        candidates: list[Any] = []
        if library is not None and command.text.strip():
            account = await self._steps.sessions.identities.account(None, command.actor, create=True)
            assert account is not None
            # Matching reads the problem as stored: with what the engineer pasted masked.
            text = redact(command.text[:4000]).text
            candidates = await library.candidates(
                account_id=account.id, text=text, client_name=None, limit=CANDIDATES
            )
        if not candidates:
            async for event in self._steps.conversation.start(command):
                yield event
            return

        async def first(
            session_id: uuid.UUID, actor: Actor, prefetched: Any, turn: Turn
        ) -> AsyncIterator[Event]:
            async for event in self._first(candidates, actor, prefetched, turn):
                yield event

        async for event in self._steps.conversation.start(command, first=first):
            yield event

    async def _first(
        self, candidates: list[Any], actor: Actor, prefetched: Any, turn: Turn
    ) -> AsyncIterator[Event]:
        if self._claude is None:
            raise NotConfigured(msg.CLAUDE_NOT_CONFIGURED)
        loaded: Loaded[SessionState] = prefetched.loaded
        self._claude_turns.check(actor)
        yield Thinking(loaded.session.id, "turn")
        messages = with_context(prefetched.messages, candidates_context(candidates))
        result = await ask_with_choice(self._claude, messages, choice_for(candidates))
        chosen = result.chosen
        picked = next((c for c in candidates if chosen is not None and c.ref.slug == chosen.value), None)
        if picked is None or chosen is None or chosen.confidence < GUIDED_AT:
            async for event in save_as_turn(
                self._steps, loaded, result, actor=actor, turn=turn, before=prefetched.before
            ):
                yield event
            return
        async for event in self._follow(
            loaded, picked, result, actor=actor, turn=turn, before=prefetched.before
        ):
            yield event

    async def _follow(
        self,
        loaded: Loaded[SessionState],
        picked: Any,
        result: TurnResult,
        *,
        actor: Actor,
        turn: Turn,
        before: Any,
    ) -> AsyncIterator[Event]:
        """Claude picked a flow: its header update and words are kept, and the flow's first node follows."""
        s = loaded.session
        assert result.chosen is not None
        library = self._steps.library
        assert library is not None
        ref, flow = await self._steps.version(picked.ref.version_id)
        s.step_count += 1
        apply_turn(
            s, result.turn, s.step_count, result.usage
        )  # the header and the tokens; the lane is the flow's
        s.matched_flow_id = ref.flow_id
        s.match_score = result.chosen.confidence
        s.confidence_tier = "guided"
        async with raw.autocommit(self._steps.db) as db:
            await self._steps.conversation.save_step(db, loaded, assistant_step(result, questions=False))
        await library.count(ref.version_id, event="started")
        step = enter(flow, ref.version_id)
        async for event in self._steps.arrive(loaded, step, ref=ref, actor=actor, turn=turn, before=before):
            yield event
