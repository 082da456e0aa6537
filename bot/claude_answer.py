"""What Claude's answer changes in a session: the header (under the engineer's edits), the confidence, the
task lane of its questions and suggested steps, the token counts; and whether the header changed."""

from __future__ import annotations

from typing import Any

from storage.models import AISession
from storage.state import SessionState

from .claude import Usage
from .events import SessionView
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
        "flow_title",
        "flow_step",
    )
    return any(getattr(before, k) != getattr(after, k) for k in keys)
