"""Claude's answer to a turn: its words as they stream (MessageDelta), and what the whole answer changes in a
session: the header (under the engineer's edits), the confidence, the task lane of its questions and
suggested steps, the token counts; and whether the header changed."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from storage.models import AISession
from storage.state import SessionState

from . import messages as msg
from .claude import ClaudeClient, MessageText, TurnResult, Usage
from .errors import ClaudeUnavailable, FlowPilotError
from .events import MessageDelta, SessionView, TurnCut
from .lane import Action, Question, TaskLane
from .schemas import ClaudeTurn, confidence_tier
from .triage import apply_update


def apply_turn(s: AISession | SessionState, turn: ClaudeTurn, step_order: int, usage: Usage) -> None:
    apply_update(s, turn.triage_update, summary=turn.problem_summary)
    if turn.problem_domain:
        s.problem_domain = turn.problem_domain[:100]
    s.confidence_score = turn.confidence
    s.confidence_tier = confidence_tier(turn.confidence)
    # Ids are made unique per session so a click on an old turn's button is recognised as stale.
    s.pending_task_lane = TaskLane(
        step_order,
        tuple(Question(f"{step_order}.{q.id}", q.text, q.options) for q in _unique(turn.questions)),
        tuple(Action(f"{step_order}.{a.id}", a.text) for a in _unique(turn.actions)),
    ).to_json()
    s.awaiting_reply = False
    s.total_input_tokens += usage.input_tokens
    s.total_output_tokens += usage.output_tokens
    s.total_cache_read_tokens += usage.cache_read_tokens
    s.total_cache_creation_tokens += usage.cache_creation_tokens


def _unique(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            out.append(item)
    return out


def header_changed(before: SessionView, after: SessionView) -> bool:
    keys = (
        "status",
        "problem_summary",
        "client_name",
        "asset_name",
        "issue_category",
        "hypothesis",
        "evidence",
        "confidence_tier",
        "manual_fields",
    )
    return any(getattr(before, k) != getattr(after, k) for k in keys)


class TurnStream:
    """One turn's answer from Claude as it is written: `deltas()` yields the message's new text as
    MessageDelta events and keeps the validated `result`; `cut()` is what to tell adapters if the turn fails
    after words were shown (nothing of it is stored: the step is saved once, whole)."""

    def __init__(self, claude: ClaudeClient, session_id: uuid.UUID) -> None:
        self._claude = claude
        self._session_id = session_id
        self.shown = ""
        self.result: TurnResult | None = None

    async def deltas(
        self, *, system: str, messages: list[dict[str, Any]]
    ) -> AsyncGenerator[MessageDelta, None]:
        try:
            async with contextlib.aclosing(self._claude.turn(system=system, messages=messages)) as pieces:
                async for piece in pieces:
                    if isinstance(piece, MessageText):
                        self.shown += piece.text
                        yield MessageDelta(self._session_id, piece.text)
                    else:
                        self.result = piece
        except FlowPilotError as err:
            if isinstance(err, ClaudeUnavailable):
                err.message = msg.CLAUDE_DOWN.format(reason=err.message)
            else:
                err.message = msg.CLAUDE_BAD_OUTPUT
            raise
        if self.result is None:
            raise ClaudeUnavailable(msg.CLAUDE_DOWN.format(reason="the answer was cut off"))

    def cut(self) -> TurnCut | None:
        """The words already on screen, to be marked cut off; None when nothing was shown."""
        return TurnCut(self._session_id, self.shown) if self.shown else None
