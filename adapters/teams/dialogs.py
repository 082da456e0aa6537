"""The dialogs (task modules): the triage form and the draft form, and the task/fetch answers that open them."""

from __future__ import annotations

import uuid

from bot.events import SessionView

from . import messages as text
from .cards import Card, block, card, plain, submit
from .commands import button


def triage_form(view: SessionView) -> Card:
    def field(name: str, label: str, current: str | None, multiline: bool = False) -> Card:
        return {
            "type": "Input.Text",
            "id": name,
            "label": label,
            "value": current or "",
            "isMultiline": multiline,
        }

    body = [
        field("problem_summary", "Problem", view.problem_summary),
        field("client_name", "Client", view.client_name),
        field("asset_name", "Asset", view.asset_name),
        field("issue_category", "Category", view.issue_category),
        field("hypothesis", "Hypothesis", view.hypothesis, multiline=True),
        field("add_evidence", "Add evidence (one per line)", "", multiline=True),
    ]
    return card(body, [submit("Save", button("edit_triage", view.session_id))])


def draft_form(
    session_id: uuid.UUID,
    *,
    kind: str,
    root_cause: str,
    steps_taken: str,
    recommendations: str,
    escalate_to: tuple[str, str] | None = None,
    reason: str = "",
) -> Card:
    def field(name: str, label: str, current: str) -> Card:
        return {"type": "Input.Text", "id": name, "label": label, "value": current, "isMultiline": True}

    body = [
        field("root_cause", "Root cause", root_cause),
        field("steps_taken", "Steps taken", steps_taken),
        field("recommendations", "Recommendations", recommendations),
    ]
    data = button("edit_draft", session_id, kind=kind)
    if kind == "escalate":
        to_id, to_name = escalate_to or ("", "")
        if to_name:
            body.insert(0, block(text.ESCALATE_TO.format(name=plain(to_name))))
        body.append({"type": "Input.Text", "id": "reason", "label": "Reason", "value": reason})
        data.update(to=to_id, to_name=to_name)
    title = "Confirm resolution" if kind == "resolve" else "Confirm escalation"
    return card(body, [submit(title, data)])


def task(title: str, content: Card) -> Card:
    """The body of a task/fetch answer that opens `content` in a dialog."""
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
    return {"task": {"type": "continue", "value": {"title": title, "card": attachment}}}


def task_message(message: str) -> Card:
    return {"task": {"type": "message", "value": message}}
