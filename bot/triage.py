"""The triage header: Claude's updates merged under the engineer's manual edits, and its views."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from storage.models import AISession, User
from storage.state import SessionState

from .commands import TRIAGE_FIELDS
from .events import Evidence, SessionView
from .lane import TaskLane
from .schemas import TriageUpdate

# Command field name -> column; "hypothesis" is what engineers call triage_hypothesis.
COLUMN = {
    "problem_summary": "problem_summary",
    "client_name": "client_name",
    "asset_name": "asset_name",
    "issue_category": "issue_category",
    "hypothesis": "triage_hypothesis",
}
LIMITS = {
    "problem_summary": 500,
    "client_name": 255,
    "asset_name": 255,
    "issue_category": 100,
    "hypothesis": 2000,
}
assert set(COLUMN) == set(TRIAGE_FIELDS)
# The header's evidence list, bounded: every item goes to Claude each turn, so an unbounded list would crowd
# out the conversation and, past the model's window, stop the session (bot/prompts.py counts it too).
MAX_EVIDENCE = 30
EVIDENCE_TEXT_LIMIT = 500


# Client and asset names the engineer corrected, oldest first: [[old, new], …] in `intake_content`.
RENAMED = "renamed"
RENAMED_FIELDS = ("client_name", "asset_name")


def renames_of(s: AISession | SessionState) -> list[tuple[str, str]]:
    return [(old, new) for old, new in (s.intake_content or {}).get(RENAMED) or []]


def renamed(text: str | None, renames: Sequence[tuple[str, str]]) -> str | None:
    """`text` with each corrected name written the engineer's way (whole words, any case).

    The new name is tried first at each place, so a text that already says "Contoso Ltd" is not made
    "Contoso Ltd Ltd" by the rename Contoso → Contoso Ltd.
    """
    for old, new in renames:
        if not text:
            return text
        names = sorted({old, new}, key=len, reverse=True)
        pattern = r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)"
        # A replacement string would read backslashes in the new name as escapes; a constant function not.
        text = re.sub(pattern, _always(new), text, flags=re.IGNORECASE)
    return text


def _always(value: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: value


def apply_renames(s: AISession | SessionState, renames: Sequence[tuple[str, str]], *, keep: set[str]) -> None:
    """The title, summary, hypothesis and evidence (but the fields in `keep` and the engineer's own
    evidence) written with the corrected names: the header and the ticket note say what the engineer set."""
    if not renames:
        return
    s.title = renamed(s.title, renames)
    if "problem_summary" not in keep:
        s.problem_summary = renamed(s.problem_summary, renames)
    if "hypothesis" not in keep:
        s.triage_hypothesis = renamed(s.triage_hypothesis, renames)
    if s.evidence_items:
        s.evidence_items = [
            e if e.get("manual") else {**e, "text": renamed(e["text"], renames)} for e in s.evidence_items
        ]


def header_dict(s: AISession | SessionState) -> dict[str, Any]:
    """The header as Claude is told about it each turn."""
    return {
        "problem_summary": s.problem_summary,
        "client_name": s.client_name,
        "asset_name": s.asset_name,
        "issue_category": s.issue_category,
        "hypothesis": s.triage_hypothesis,
        "evidence": [{"text": e["text"], "status": e["status"]} for e in s.evidence_items or []],
        "confidence_tier": s.confidence_tier,
        "status": s.status,
    }


def apply_update(s: AISession | SessionState, update: TriageUpdate | None, *, summary: str | None) -> None:
    """Merge Claude's update; fields the engineer set by hand are kept."""
    manual = set(s.manual_fields or [])
    proposed: dict[str, str | None] = {"problem_summary": summary}
    if update is not None:
        proposed |= {
            "client_name": update.client_name,
            "asset_name": update.asset_name,
            "issue_category": update.issue_category,
            "hypothesis": update.hypothesis,
        }
    for name, value in proposed.items():
        if value and value.strip() and name not in manual:
            setattr(s, COLUMN[name], value.strip()[: LIMITS[name]])
    if update is not None and update.evidence is not None:
        s.evidence_items = merge_evidence(s.evidence_items or [], [e.model_dump() for e in update.evidence])
    # Claude may still use a name the engineer corrected: its text follows the correction too.
    apply_renames(s, renames_of(s), keep=manual)


def merge_evidence(current: list[dict[str, Any]], proposed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude's list, except that items the engineer set keep their status and are never dropped; at most
    MAX_EVIDENCE items (the engineer's first, then Claude's in its order)."""
    manual = {e["text"].strip().lower(): e for e in current if e.get("manual")}
    room = MAX_EVIDENCE - len(manual)
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in proposed:
        text = item["text"].strip()[:EVIDENCE_TEXT_LIMIT]
        key = text.lower()
        if not text or key in seen:
            continue
        if key in manual:
            merged.append(manual[key])
        elif room > 0:
            merged.append({"text": text, "status": item["status"]})
            room -= 1
        else:
            continue
        seen.add(key)
    merged.extend(e for k, e in manual.items() if k not in seen)
    return merged


def session_view(
    s: AISession | SessionState, *, account_platform: str, account_external_id: str, users: dict[Any, User]
) -> SessionView:
    owner = users.get(s.user_id)
    escalated_to = users.get(s.escalated_to_id) if s.escalated_to_id else None
    lane = TaskLane.from_json(s.pending_task_lane)
    return SessionView(
        session_id=s.id,
        status=s.status,
        problem_summary=s.problem_summary,
        client_name=s.client_name,
        asset_name=s.asset_name,
        issue_category=s.issue_category,
        hypothesis=s.triage_hypothesis,
        evidence=tuple(Evidence(text=e["text"], status=e["status"]) for e in s.evidence_items or []),
        confidence_tier=s.confidence_tier,
        confidence_score=s.confidence_score,
        manual_fields=tuple(s.manual_fields or ()),
        owner=(owner.display_name or owner.external_id) if owner else "",
        owner_user_id=owner.external_id if owner else "",
        platform=account_platform,
        workspace_id=account_external_id,
        step_count=s.step_count,
        created_at=s.created_at,
        updated_at=s.updated_at,
        escalated_to=(escalated_to.display_name or escalated_to.external_id) if escalated_to else None,
        session_rating=s.session_rating,
        awaiting_reply=s.awaiting_reply,
        questions=lane.view_questions(),
        actions=lane.view_actions(),
        evidence_limit=MAX_EVIDENCE,
        **_flow_fields(s),
    )


def _flow_fields(s: AISession | SessionState) -> dict[str, Any]:
    if s.flow_node is None or not s.flow_path:
        return {}
    return {
        "flow_title": s.flow_path.get("title"),
        "flow_slug": s.flow_path.get("slug"),
        "flow_step": s.flow_step,
    }
