"""Plain-text rendering of the core's events for a terminal."""

from __future__ import annotations

import re

from bot import labels
from bot.events import (
    ActionMarked,
    AssistantTurn,
    DraftStarted,
    Event,
    Notice,
    Question,
    QuestionAnswered,
    SessionView,
    SuggestedAction,
    Thinking,
    TriageChanged,
)

PRESS_RETRY = re.compile(r"[Pp]ress Retry")
EVIDENCE_MARK = {"confirmed": "✅", "ruled_out": "❌", "pending": "⏳"}


def header(view: SessionView) -> str:
    def field(name: str, value: str | None) -> str:
        manual = " ✎" if name in view.manual_fields else ""
        return f"{value or '—'}{manual}"

    lines = [
        f"┌─ {view.title}",
        f"│ Session {view.session_id}  ·  {view.status.replace('_', ' ')}  ·  owner {view.owner}",
        f"│ Client: {field('client_name', view.client_name)}   Asset: {field('asset_name', view.asset_name)}"
        f"   Category: {field('issue_category', labels.category(view.issue_category))}",
        f"│ Confidence: {labels.confidence(view.confidence_tier, view.confidence_score)}",
        f"│ Hypothesis: {field('hypothesis', view.hypothesis)}",
    ]
    if view.flow_line:
        lines.append(f"│ {view.flow_line}   (/leave to leave the flow)")
    if view.escalated_to:
        lines.append(f"│ Escalated to: {view.escalated_to}")
    if view.evidence:
        lines.append(f"│ {view.evidence_heading}:")
        lines.extend(
            f"│   {i}. {EVIDENCE_MARK.get(e.status, '•')} {e.text}"
            for i, e in enumerate(view.evidence, start=1)
        )
    lines.append("└─")
    return "\n".join(lines)


class Choices:
    """Numbered choices standing in for buttons: number -> (kind, item id, value)."""

    def __init__(self) -> None:
        self.items: dict[int, tuple[str, str, str]] = {}
        self.last = 0

    def clear(self) -> None:
        self.items.clear()
        self.last = 0

    def drop(self, item_id: str) -> None:
        """An answered question's (or a marked step's) choices stop meaning anything."""
        for number in [n for n, (_, i, _) in self.items.items() if i == item_id]:
            del self.items[number]

    def add(self, kind: str, item_id: str, value: str) -> int:
        self.last = number = self.last + 1
        self.items[number] = (kind, item_id, value)
        return number


def turn(event: AssistantTurn, choices: Choices) -> str:
    choices.clear()
    return "\n".join([f"FlowPilot: {event.message}", *open_items(event.questions, event.actions, choices)])


def open_items(
    questions: tuple[Question, ...], actions: tuple[SuggestedAction, ...], choices: Choices
) -> list[str]:
    """The questions not answered yet and the steps not marked yet, as numbered choices."""
    lines: list[str] = []
    open_questions = [q for q in questions if q.answer is None]
    if open_questions:
        lines.append("")
    for q in open_questions:
        lines.append(question(q, choices))
    open_actions = [a for a in actions if a.outcome is None]
    if open_actions:
        lines.append("")
        lines.append("  Suggested steps:")
        for a in open_actions:
            lines.append(action(a, choices))
    if open_questions or open_actions:
        lines.append("  (type a number to choose, or just reply in words)")
    return lines


def question(q: Question, choices: Choices) -> str:
    options = "  ".join(f"[{choices.add('answer', q.id, option)}] {option}" for option in q.options)
    return f"  ? {q.text}\n    {options}" if options else f"  ? {q.text}"


def action(a: SuggestedAction, choices: Choices) -> str:
    done = choices.add("action", a.id, "done")
    failed = choices.add("action", a.id, "failed")
    return f"  • {a.text}\n    [{done}] done  [{failed}] didn't work"


def session_line(view: SessionView) -> str:
    return f"  {view.session_id}  {view.status:<10} {view.title[:70]}"


def line(event: Event) -> str | None:
    """The line an event that changes nothing in the shell shows (None: it shows nothing)."""
    if isinstance(event, Thinking):
        return "… FlowPilot is thinking" if event.purpose == "turn" else "… drafting the handoff"
    if isinstance(event, TriageChanged):
        return header(event.view)
    if isinstance(event, QuestionAnswered):
        return f"  ✓ {event.question.answered_by} answered “{event.question.text}”: {event.question.answer}"
    if isinstance(event, ActionMarked):
        outcome = "done" if event.action.outcome == "done" else "didn't work"
        return f"  ✓ {event.action.marked_by} marked “{event.action.text}”: {outcome}"
    if isinstance(event, DraftStarted):
        return f"── {'Resolution' if event.kind == 'resolve' else 'Escalation'} draft ──"
    if isinstance(event, Notice):
        prefix = "⚠ " if event.level == "error" else "ℹ "
        return prefix + notice_text(event)
    return None


def notice_text(event: Notice) -> str:
    """A notice's text, where Retry is the /retry command (the shell has no buttons)."""
    if event.retry is None:
        return event.text
    text = PRESS_RETRY.sub(lambda m: "Type /retry" if m.group(0)[0] == "P" else "type /retry", event.text)
    return text if text != event.text else f"{text}  (/retry to try again)"
