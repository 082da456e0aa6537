"""The conversation with what a flow needs of it: the flow's own steps saved under the turn's lease, and
Claude's turns when a flow hands over or asks Claude a constrained choice, through the conversation's one
Claude turn (Conversation._claude_turn: its limits, errors, streaming and saving are the same for flows)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from storage import raw
from storage.state import SessionState

from .claude_choice import Choice
from .commands import Actor
from .conversation import Conversation, Follow, TurnInput
from .events import Event
from .session_core import Loaded
from .turn_lease import Turn


class FlowConversation(Conversation):
    """Conversation, plus the ways in a flow needs: Claude taking over from a flow, and a turn with a choice
    (bot.flow_steps, bot.flow_text, bot.flow_match)."""

    async def hand_over(
        self, loaded: Loaded[SessionState], *, actor: Actor, turn: Turn, note: str
    ) -> AsyncIterator[Event]:
        """Claude takes the session over from a flow: FlowPilot's `note` (the path walked, the hint) is saved
        as the session's next step and Claude answers it."""
        async for event in self.turn_on(
            loaded, actor=actor, turn=turn, step={"kind": "flow", "content": note}
        ):
            yield event

    async def turn_on(
        self,
        loaded: Loaded[SessionState],
        *,
        actor: Actor,
        turn: Turn,
        step: dict[str, Any] | None = None,
        context: str = "",
        choice: Choice | None = None,
        follow: Follow | None = None,
        prefetched: TurnInput | None = None,
    ) -> AsyncIterator[Event]:
        """Save the engineer's `step` (if any), then Claude's turn, told FlowPilot's `context` after the
        conversation, answering `choice` (what it chose goes to `follow` first). A start passes the turn
        input it read in its own transaction (`prefetched`, with no `step`): it is not read twice."""
        assert prefetched is None or step is None, "a step changes the turn input: read it after the step"
        if prefetched is None:
            async with raw.autocommit(self._db) as db:
                if step is not None:
                    loaded.session.awaiting_reply = True
                    await self._record(db, loaded, **step)
                prefetched = await self._turn_input(db, loaded)
        if context:
            last = prefetched.messages[-1]
            last = {**last, "content": [*last["content"], {"type": "text", "text": context}]}
            prefetched.messages[-1] = last
        session_id = loaded.session.id
        async for event in self._claude_turn(
            session_id, actor, prefetched, turn, choice=choice, follow=follow
        ):
            yield event
