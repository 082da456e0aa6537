"""A session's place in its flow, as the session row keeps it (`flow_version_id`, `flow_node`, `flow_step`,
`flow_path`), and what the rest of the core reads of it: the handover note Claude gets when the flow ends or is
left, and the note a handoff draft gets at a resolution or escalate node. Pure functions.

`flow_path` holds the flow's slug and title beside the walked path, so the header needs no look-up:
{"slug": …, "title": …, "walked": [Walked.to_json(), …], "end": {"type": "resolution", …} | None}.
"""

from __future__ import annotations

from typing import Any

from storage.models import AISession
from storage.state import SessionState

from ..triage import EVIDENCE_TEXT_LIMIT, MAX_EVIDENCE
from .runner import AiEnd, End, EscalateEnd, GotoEnd, Position, ResolutionEnd, Walked

AnySession = AISession | SessionState
ID_PREFIX = "flow:"  # a flow node's question / action id; Claude's ids always start with a step number


def node_id(step_order: int, node: str) -> str:
    return f"{ID_PREFIX}{step_order}:{node}"


def is_flow_id(item_id: str) -> bool:
    return item_id.startswith(ID_PREFIX)


def on_flow(s: AnySession) -> bool:
    """A flow guides the session: it stands at one of the flow's questions or actions."""
    return s.flow_version_id is not None and s.flow_node is not None


def position(s: AnySession) -> Position:
    assert s.flow_version_id is not None and s.flow_node is not None
    walked = (s.flow_path or {}).get("walked", [])
    return Position(s.flow_version_id, s.flow_node, s.flow_step, tuple(Walked.from_json(w) for w in walked))


def store(s: AnySession, at: Position, *, slug: str, title: str, end: End | None = None) -> None:
    """Keep `at` on the session (with its flow's slug and title, and the end it reached, if any)."""
    s.flow_version_id = at.version_id
    s.flow_node = at.node
    s.flow_step = at.step
    s.flow_path = {
        "slug": slug,
        "title": title,
        "walked": [w.to_json() for w in at.path],
        "end": end_json(end) if end is not None else None,
    }


def leave(s: AnySession) -> None:
    """The session no longer follows the flow: the version and the walked path stay (what it did), the node
    goes, and the walked answers are kept as evidence."""
    s.flow_node = None
    add_evidence(s, [{"text": w.line(), "status": "confirmed"} for w in walked(s) if w.evidence is None])


def walked(s: AnySession) -> tuple[Walked, ...]:
    return tuple(Walked.from_json(w) for w in (s.flow_path or {}).get("walked", []))


def title(s: AnySession) -> str:
    return str((s.flow_path or {}).get("title", ""))


def add_evidence(s: AnySession, items: list[dict[str, Any]]) -> None:
    """Append evidence the flow's answers gave, skipping what the header already says, within its bound."""
    current = list(s.evidence_items or [])
    known = {e["text"].strip().lower() for e in current}
    for item in items:
        text = item["text"].strip()[:EVIDENCE_TEXT_LIMIT]
        if text and text.lower() not in known and len(current) < MAX_EVIDENCE:
            # The engineer's own answers: kept like their manual items, so Claude's later lists never drop them.
            current.append({"text": text, "status": item["status"], "manual": True})
            known.add(text.lower())
    if current != (s.evidence_items or []):
        s.evidence_items = current


def end_json(end: End) -> dict[str, Any]:
    if isinstance(end, ResolutionEnd):
        return {"type": "resolution", "root_cause": end.root_cause, "fix": end.fix}
    if isinstance(end, EscalateEnd):
        return {"type": "escalate", "team": end.team, "reason": end.reason}
    if isinstance(end, AiEnd):
        return {"type": "ai", "hint": end.hint}
    assert isinstance(end, GotoEnd)
    return {"type": "goto_flow", "flow": end.slug}


def handover_note(s: AnySession, *, why: str, hint: str = "") -> str:
    """What Claude is told when the flow hands the session over: the flow, the path walked, the hint."""
    lines = [f'[FlowPilot] The session followed the flow "{title(s)}"; {why}. Path walked:']
    lines += [f"- {w.line()}" for w in walked(s)] or ["- (nothing answered yet)"]
    if hint:
        lines.append(f"The flow's author suggests: {hint}")
    lines.append("Continue troubleshooting from here; do not ask again what the path already answered.")
    return "\n".join(lines)


def end_reached(s: AnySession) -> None:
    """The flow's end is the session's latest step: a draft asked for before anything else happens follows it."""
    path = dict(s.flow_path or {})
    if path.get("end"):
        path["end"] = {**path["end"], "at_step": s.step_count}
        s.flow_path = path


def draft_note(s: AnySession) -> str:
    """For a handoff draft right after the flow reached a resolution or escalate node: what that node says.
    Once the session went on (Claude, the engineer), the draft is written from what happened since."""
    end = (s.flow_path or {}).get("end") or {}
    if end.get("at_step") != s.step_count:
        return ""
    if end.get("type") == "resolution":
        fix = f" The fix: {end['fix']}." if end.get("fix") else ""
        return (
            f'\nThe flow "{title(s)}" reached its resolution. Use this root cause: {end["root_cause"]}.{fix}'
            " The steps taken are the path walked in the conversation."
        )
    if end.get("type") == "escalate":
        team = f" to {end['team']}" if end.get("team") else ""
        return f'\nThe flow "{title(s)}" escalates{team}: {end["reason"]}.'
    return ""
