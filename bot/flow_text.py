"""Free text on a flow node: Claude maps the engineer's words to one of the node's answers (a constrained
choice, never free text), and the flow goes on from it; or, when no answer fits, the flow is left and
Claude's reply stands as an ordinary turn (the walked path is kept as evidence, tier exploring)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from storage import notify, raw
from storage.state import SessionState

from . import messages as msg
from .claude import Choice, Chosen, ClaudeClient, TurnResult
from .claude_answer import apply_turn, header_changed
from .commands import Actor, UserMessage
from .errors import ClaudeUnavailable, FlowPilotError, NotConfigured
from .events import AssistantTurn, Event, SessionView, Thinking, TriageChanged
from .flows import track
from .flows.runner import Answer, Ask, Marked, Option, asked
from .history import PromptHistory
from .intake import prepare_input
from .limits import RateLimiter
from .prompts import SYSTEM_PROMPT, build_messages, triage_context
from .session_core import Loaded, now, release_with, touch
from .triage import header_dict
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

    def __init__(
        self,
        *,
        steps: FlowSteps,
        claude: ClaudeClient | None,
        history: PromptHistory,
        claude_turns: RateLimiter,
        psa_enabled: bool,
    ) -> None:
        self._steps = steps
        self._claude = claude
        self._history = history
        self._claude_turns = claude_turns
        self._psa_enabled = psa_enabled

    async def user_message(self, command: UserMessage, turn: Turn) -> AsyncIterator[Event]:
        if self._claude is None:
            raise NotConfigured(msg.CLAUDE_NOT_CONFIGURED)
        prepared = prepare_input(command.text, command.attachments, psa_enabled=self._psa_enabled)
        loaded, lane, flow, ref = await self._steps.at_node(command.actor, command.session_id, turn)
        s = loaded.session
        ask = asked(flow, track.position(s))
        touch(s, now())
        s.awaiting_reply = True
        s.step_count += 1
        async with raw.autocommit(self._steps.db) as db:
            step = {"role": "user", "user_id": loaded.user.id, "kind": "message", "content": prepared.text}
            await self._steps.conversation.save_step(db, loaded, step)
            before = await self._steps.sessions.view_of(db, loaded)
            history = await self._history.steps(db, s.id, upto=s.step_count)
        context = triage_context(header_dict(s), s.manual_fields or []) + "\n" + flow_context(ask, ref.title)
        self._claude_turns.check(command.actor)
        yield Thinking(s.id, "turn")
        result = await ask_with_choice(
            self._claude, build_messages(history, context=context), choice_for(ask)
        )
        answer = answer_for(ask, result.chosen)
        if answer is None:
            async for event in self._left(loaded, result, command=command, turn=turn, before=before):
                yield event
            return
        # Claude's words are kept (and counted) as its step; the flow then goes on from the answer it mapped.
        count_tokens(s, result)
        s.step_count += 1
        async with raw.autocommit(self._steps.db) as db:
            step = assistant_step(result, questions=False)
            await self._steps.conversation.save_step(db, loaded, step)
        async for event in self._steps.advanced(
            loaded, lane, flow, ref, answer, actor=command.actor, turn=turn, before=before, said=None
        ):
            yield event

    async def _left(
        self,
        loaded: Loaded[SessionState],
        result: TurnResult,
        *,
        command: UserMessage,
        turn: Turn,
        before: Any,
    ) -> AsyncIterator[Event]:
        """No answer fits: the flow is left and Claude's reply is the session's next turn."""
        s = loaded.session
        await self._steps.left(s, node=s.flow_node)
        async for event in save_as_turn(
            self._steps, loaded, result, actor=command.actor, turn=turn, before=before, tier="exploring"
        ):
            yield event


async def ask_with_choice(claude: ClaudeClient, messages: list[dict[str, Any]], choice: Choice) -> TurnResult:
    """One Claude turn with a constrained choice; failures say what the engineer can do, as every turn's."""
    try:
        return await claude.turn(system=SYSTEM_PROMPT, messages=messages, choice=choice)
    except FlowPilotError as err:
        if isinstance(err, ClaudeUnavailable):
            err.message = msg.CLAUDE_DOWN.format(reason=err.message)
        else:
            err.message = msg.CLAUDE_BAD_OUTPUT
        raise


async def save_as_turn(
    steps: FlowSteps,
    loaded: Loaded[SessionState],
    result: TurnResult,
    *,
    actor: Actor,
    turn: Turn,
    before: SessionView,
    tier: str | None = None,
) -> AsyncIterator[Event]:
    """Claude's answer as the session's next turn (its questions and steps open), the lease let go: what
    Conversation._claude_turn saves, for a turn that asked Claude a flow's choice too (`tier`: set after)."""
    s = loaded.session
    s.step_count += 1
    apply_turn(s, result.turn, s.step_count, result.usage)
    if tier is not None:
        s.confidence_tier = tier
    release_with(s)
    async with raw.autocommit(steps.db) as db:
        after = await steps.sessions.view_of(db, loaded)
        changed = header_changed(before, after)
        change = notify.SessionChange(s.id, "triage", actor.origin, actor.platform)
        saved = await steps.conversation.save_step(
            db,
            loaded,
            assistant_step(result, questions=True),
            tell=notify.message(change) if changed else None,
        )
    turn.released = True
    t = result.turn
    yield AssistantTurn(
        s.id, saved.step_order, t.message, after.questions, after.actions, after.confidence_tier
    )
    if changed:
        yield TriageChanged(s.id, after)


def count_tokens(s: SessionState, result: TurnResult) -> None:
    u = result.usage
    s.total_input_tokens += u.input_tokens
    s.total_output_tokens += u.output_tokens
    s.total_cache_read_tokens += u.cache_read_tokens
    s.total_cache_creation_tokens += u.cache_creation_tokens


def assistant_step(result: TurnResult, *, questions: bool) -> dict[str, Any]:
    t, u = result.turn, result.usage
    return {
        "role": "assistant",
        "content": t.message,
        "questions": [q.model_dump() for q in t.questions] or None if questions else None,
        "actions": [a.model_dump() for a in t.actions] or None if questions else None,
        "triage_update": t.triage_update.model_dump() if t.triage_update and questions else None,
        "confidence_score": t.confidence,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_creation_tokens": u.cache_creation_tokens,
    }
