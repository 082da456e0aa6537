"""Free text on a flow node: Claude maps the engineer's words to one of the node's answers (a constrained
choice, never free text), and the flow goes on from it; or, when no answer fits, the flow is left and
Claude's reply stands as an ordinary turn (the walked path is kept as evidence, tier exploring)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from storage import raw

from .claude import TurnResult
from .claude_choice import Choice, Chosen
from .commands import UserMessage
from .events import Event
from .flows import track
from .flows.runner import Answer, Ask, Marked, Option, asked
from .intake import prepare_input
from .session_core import now, touch
from .turn_lease import Turn

if TYPE_CHECKING:
    from .flow_steps import FlowSteps

LEAVE = "leave"  # the choice that fits no answer: the flow is left
MAPPED_AT = 0.5  # below this confidence an answer is not taken for the engineer: the flow is left
_ACTION_VALUES = {"done": Marked("done"), "didn't work": Marked("failed")}


def choice_for(ask: Ask) -> Choice:
    values = (*ask.options, LEAVE) if ask.kind == "question" else (*_ACTION_VALUES, LEAVE)
    return Choice(
        values=values, description=f"Which answer to {ask.text!r} the engineer's words mean, or {LEAVE!r}."
    )


def answer_for(ask: Ask, chosen: Chosen | None) -> Answer | None:
    """The flow answer Claude's choice stands for (None: leave the flow)."""
    if chosen is None or chosen.value == LEAVE or chosen.confidence < MAPPED_AT:
        return None
    if ask.kind == "action":
        return _ACTION_VALUES.get(chosen.value)
    return Option(ask.options.index(chosen.value)) if chosen.value in ask.options else None


def flow_context(ask: Ask, title: str) -> str:
    answers = ask.options if ask.kind == "question" else tuple(_ACTION_VALUES)
    return (
        f'[FlowPilot context, not written by the engineer] The session follows the flow "{title}". It asked: '
        f"{ask.text!r}, with the answers {list(answers)}. The engineer replied in their own words: set "
        f"`choice` to the answer they mean, or to {LEAVE!r} when none fits (the flow is then left and you "
        "continue troubleshooting)."
    )


class FlowText:
    """The engineer's own words on a flow node."""

    def __init__(self, *, steps: FlowSteps, psa_enabled: bool) -> None:
        self._steps = steps
        self._psa_enabled = psa_enabled

    async def user_message(self, command: UserMessage, turn: Turn) -> AsyncIterator[Event]:
        prepared = prepare_input(command.text, command.attachments, psa_enabled=self._psa_enabled)
        loaded, lane, flow, ref = await self._steps.at_node(command.actor, command.session_id, turn)
        s = loaded.session
        ask = asked(flow, track.position(s))
        touch(s, now())
        images = [dataclasses.asdict(i) for i in prepared.images] or None
        step = {"kind": "message", "content": prepared.text, "images": images}

        async def follow(result: TurnResult) -> AsyncIterator[Event] | None:
            answer = answer_for(ask, result.chosen)
            if answer is None:  # no answer fits: the flow is left, and Claude's reply is saved as any turn
                await self._steps.left(s, node=s.flow_node)
                return None
            return self._mapped(
                result, answer, loaded=loaded, lane=lane, flow=flow, ref=ref, command=command, turn=turn
            )

        async for event in self._steps.conversation.turn_on(
            loaded,
            actor=command.actor,
            turn=turn,
            step=step,
            context=flow_context(ask, ref.title),
            choice=choice_for(ask),
            follow=follow,
        ):
            yield event

    async def _mapped(
        self,
        result: TurnResult,
        answer: Answer,
        *,
        loaded: Any,
        lane: Any,
        flow: Any,
        ref: Any,
        command: UserMessage,
        turn: Turn,
    ) -> AsyncIterator[Event]:
        """Claude's words are kept (and counted) as its step; the flow goes on from the answer it mapped."""
        s = loaded.session
        count_tokens(s, result)
        s.step_count += 1
        async with raw.autocommit(self._steps.db) as db:
            before = await self._steps.sessions.view_of(db, loaded)
            await self._steps.conversation.save_step(db, loaded, assistant_step(result))
        async for event in self._steps.advanced(
            loaded, lane, flow, ref, answer, actor=command.actor, turn=turn, before=before, said=None
        ):
            yield event


def count_tokens(s: Any, result: TurnResult) -> None:
    u = result.usage
    s.total_input_tokens += u.input_tokens
    s.total_output_tokens += u.output_tokens
    s.total_cache_read_tokens += u.cache_read_tokens
    s.total_cache_creation_tokens += u.cache_creation_tokens


def assistant_step(result: TurnResult) -> dict[str, Any]:
    """Claude's words and what they cost, as its step, when a flow (not its questions) goes on from them."""
    t, u = result.turn, result.usage
    return {
        "role": "assistant",
        "content": t.message,
        "confidence_score": t.confidence,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_creation_tokens": u.cache_creation_tokens,
    }
