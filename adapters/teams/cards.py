"""Core events and views → Adaptive Cards; every card is fitted under Teams' payload limit.

TextBlocks and facts render a subset of Markdown in Teams, so text a person or Claude wrote is escaped on its
way in: a hypothesis `[Click here](https://evil.example)` or a client name `<at>Ada</at>` shows as written,
never as a link or a mention. Claude's own prose (a reply, a draft) keeps its emphasis and lists, only links,
images, autolinks and mentions are defused; short fields (names, triage, evidence, questions) are shown plain.
Input values and button titles render no Markdown and are left as they are.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from bot import labels
from bot.events import AssistantTurn, Notice, Question, SessionView, SuggestedAction

from . import messages as text
from .commands import KEY, button, retry_button

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
# Teams refuses activities over about 28 KB; the card leaves room for the activity around it.
MAX_CARD_BYTES = 24_000
MAX_FLOWS = 40  # a listing within a card's size
EVIDENCE_MARK = {"confirmed": "✅", "ruled_out": "❌", "pending": "⏳"}
STATUS_LABEL = {
    "active": "🟢 Active",
    "paused": "⏸️ Paused",
    "resolved": "✅ Resolved",
    "escalated": "⬆️ Escalated",
    "requesting_escalation": "⬆️ Escalation requested",
    "abandoned": "⚪ Closed",
}
Card = dict[str, Any]

_MARKDOWN = re.compile(r"([\\`*_\[\]()<>#~|{}])")
_LINK_MARKUP = re.compile(r"([\\\[\]<>])")
_BULLET = re.compile(r"^(\s*)([-+])(?=\s|$)", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)([.)])(?=\s|$)", re.MULTILINE)


def plain(value: str | None) -> str:
    """Text shown exactly as written: no link, emphasis, heading, list or mention of its own."""
    escaped = _MARKDOWN.sub(r"\\\1", value or "")
    escaped = _BULLET.sub(r"\1\\\2", escaped)
    return _NUMBERED.sub(r"\1\\\2", escaped)


def prose(value: str | None) -> str:
    """Claude's Markdown with its emphasis and lists, but no link, image, autolink or mention."""
    return _LINK_MARKUP.sub(r"\\\1", value or "")


def card(body: list[Card], actions: list[Card] | None = None) -> Card:
    result: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}
    if actions:
        result["actions"] = actions
    result["msteams"] = {"width": "Full"}
    return fit(result)


def block(value: str, **style: Any) -> Card:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def submit(title: str, data: Card, **extra: Any) -> Card:
    return {"type": "Action.Submit", "title": title[:60], "data": data, **extra}


def dialog(title: str, data: Card) -> Card:
    """A button that opens a dialog (task/fetch) instead of posting a message."""
    return submit(title, {"msteams": {"type": "task/fetch"}, **data})


# ── the header ────────────────────────────────────────────────────────────────────────────────────────


def header(view: SessionView) -> Card:
    def value(name: str, current: str | None) -> str:
        return (plain(current) or "—") + (" ✎" if name in view.manual_fields else "")

    facts = [
        ("Client", value("client_name", view.client_name)),
        ("Asset", value("asset_name", view.asset_name)),
        ("Category", value("issue_category", labels.category(view.issue_category))),
        ("Status", STATUS_LABEL.get(view.status, view.status)),
        ("Confidence", labels.confidence(view.confidence_tier, view.confidence_score)),
        ("Owner", plain(view.owner)),
    ]
    if view.escalated_to:
        facts.append(("Escalated to", plain(view.escalated_to)))
    body: list[Card] = [
        block(f"🛠️ {plain(view.title)}", size="Large", weight="Bolder"),
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
        block(f"**Hypothesis:** {value('hypothesis', view.hypothesis)}"),
    ]
    if view.evidence:
        body.append(block(f"**{view.evidence_heading}**", spacing="Medium"))
        body.extend(
            block(f"{i}. {EVIDENCE_MARK.get(e.status, '•')} {plain(e.text)}", spacing="None")
            for i, e in enumerate(view.evidence, start=1)
        )
    sid = view.session_id
    actions: list[Card] = []
    if view.status == "active":
        actions = [
            submit("Resolve", button("draft", sid, kind="resolve")),
            submit("Escalate", button("draft", sid, kind="escalate")),
            submit("Pause", button("pause", sid)),
            dialog("Edit triage", button("edit_triage", sid)),
        ]
        if view.flow_line:
            body.append(block(f"🧭 **{plain(view.flow_line)}**", spacing="Medium"))
            actions.append(submit("Leave flow", button("leave_flow", sid)))
    elif view.status == "paused":
        actions = [submit("Resume", button("resume", sid)), dialog("Edit triage", button("edit_triage", sid))]
    body.append(block(f"Session {sid}", size="Small", isSubtle=True, spacing="Medium"))
    return card(body, actions)


def superseded(view: SessionView) -> Card:
    """An older header once `status` posted a new one: the title only, no status that could go stale,
    no buttons."""
    return card(
        [
            block(f"🛠️ {plain(view.title)}", size="Medium", weight="Bolder"),
            block(text.HEADER_MOVED, isSubtle=True),
            block(f"Session {view.session_id}", size="Small", isSubtle=True),
        ]
    )


# ── a turn ────────────────────────────────────────────────────────────────────────────────────────────


def turn(
    session_id: uuid.UUID, message: str, questions: tuple[Question, ...], actions: tuple[SuggestedAction, ...]
) -> Card:
    # A turn whose words were streamed: its card carries only the questions and steps.
    body: list[Card] = [block(prose(message))] if message else []
    for q in questions:
        body.append(block(f"**{plain(q.text)}**", spacing="Medium"))
        if q.answer is not None:
            by, answer = plain(q.answered_by or "someone"), plain(q.answer)
            body.append(block(text.ANSWERED.format(by=by, answer=answer), isSubtle=True))
            continue
        # The option's index, not its text: button data is never shortened, and options can be long.
        buttons = [
            submit(o, button("answer", session_id, qid=q.id, option=i)) for i, o in enumerate(q.options)
        ]
        if buttons:
            body.append({"type": "ActionSet", "actions": buttons})
        else:
            body.append(block(text.ANSWER_BY_TYPING, isSubtle=True, size="Small"))
    if actions:
        body.append(block("**Suggested steps**", spacing="Medium"))
    for a in actions:
        body.append(block(f"• {plain(a.text)}"))
        if a.outcome is not None:
            outcome = "done" if a.outcome == "done" else "didn't work"
            by = plain(a.marked_by or "someone")
            body.append(block(text.MARKED.format(by=by, outcome=outcome), isSubtle=True))
            continue
        body.append(
            {
                "type": "ActionSet",
                "actions": [
                    submit("Done", button("mark", session_id, aid=a.id, value="done")),
                    submit("Didn't work", button("mark", session_id, aid=a.id, value="failed")),
                ],
            }
        )
    return card(body)


def words(so_far: str) -> Card:
    """A turn's message while Claude writes it (outside personal chats, where Teams cannot stream)."""
    return card([block(prose(so_far) or "…")])


def assistant_turn(event: AssistantTurn) -> Card:
    assert event.session_id is not None
    return turn(event.session_id, event.message, event.questions, event.actions)


# ── notices, drafts, closing ──────────────────────────────────────────────────────────────────────────


def notice(event: Notice) -> Card:
    mark = "⚠️ " if event.level == "error" else ""
    data = retry_button(event.retry) if event.retry is not None else None
    return card([block(mark + prose(event.text))], [submit("Retry", data)] if data is not None else [])


def failure(retry_data: Card | None, *, saved: bool = False) -> Card:
    """Our own failure (not the core's): short, with Retry to replay the input, or to show a `saved` turn."""
    said = text.NOT_SHOWN if saved else text.SOMETHING_WENT_WRONG
    return card([block("⚠️ " + said)], [submit("Retry", retry_data)] if retry_data else None)


def drafting(kind: str, so_far: str) -> Card:
    title = text.DRAFTING.format(kind=_kind(kind))
    return card([block(title, weight="Bolder"), block(prose(so_far) or "…")])


def draft_ready(
    session_id: uuid.UUID,
    *,
    kind: str,
    ticket_note: str,
    escalate_to: tuple[str, str] | None = None,
    reason: str = "",
) -> Card:
    """The draft as the ticket note Confirm will file (exactly, in plain text), with its buttons."""
    body: list[Card] = [block(text.DRAFT_READY.format(kind=_kind(kind)), weight="Bolder"), note(ticket_note)]
    if kind == "escalate":
        to_id, to_name = escalate_to or ("", "")
        if to_name:
            body.append(block(text.ESCALATE_TO.format(name=plain(to_name)), spacing="Medium"))
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": "to_pick",
                "label": text.PICK_ENGINEER if not to_name else text.PICK_OTHER_ENGINEER,
                "isMultiSelect": False,
                "choices": [],
                "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"},
            }
        )
        body.append(
            {"type": "Input.Text", "id": "reason", "label": "Reason", "value": reason, "isMultiline": True}
        )
        confirm = submit("Confirm escalation", button("escalate", session_id, to=to_id, to_name=to_name))
        # The dialog's submit must name the same engineer, or the escalation would go to nobody.
        edit = button("edit_draft", session_id, kind=kind, to=to_id, to_name=to_name)
    else:
        confirm = submit("Confirm resolution", button("resolve", session_id))
        edit = button("edit_draft", session_id, kind=kind)
    actions = [confirm, dialog("Edit draft", edit), submit("Discard", button("discard", session_id))]
    return card(body, actions)


def note(ticket_note: str) -> Card:
    return block(plain(ticket_note) or "—", fontType="Monospace", spacing="Medium")


def ticket_note(ticket_note: str) -> Card:
    """After Confirm: the note once in the chat, to paste into the PSA."""
    return card([block(text.TICKET_NOTE, weight="Bolder"), note(ticket_note)])


def closed(text_line: str) -> Card:
    return card([block(text_line)])


def rating(session_id: uuid.UUID) -> Card:
    buttons = [submit("⭐" * n, button("rate", session_id, rating=str(n))) for n in range(1, 6)]
    return card([block(text.RATE_PROMPT), {"type": "ActionSet", "actions": buttons}])


def escalation_package(view: SessionView, package: dict[str, str], *, sender: str, reason: str) -> Card:
    body: list[Card] = [
        block(
            text.ESCALATED_TO_YOU.format(sender=plain(sender), title=plain(view.title)),
            weight="Bolder",
            size="Medium",
        ),
        {
            "type": "FactSet",
            "facts": [
                {"title": "Client", "value": plain(view.client_name) or "—"},
                {"title": "Asset", "value": plain(view.asset_name) or "—"},
                {"title": "Category", "value": plain(labels.category(view.issue_category)) or "—"},
                {"title": "Reason", "value": plain(reason) or "—"},
            ],
        },
        block(prose(package.get("text", ""))),
        block(f"Session {view.session_id}", size="Small", isSubtle=True),
    ]
    return card(body, [submit("Take over", button("takeover", view.session_id))])


def help_card() -> Card:
    return card([block("**FlowPilot**", size="Medium"), block(text.HELP)])


def flow_list(flows: list[tuple[str, str]]) -> Card:
    """The workspace's flows (slug, title), each with Start."""
    if not flows:
        return card([block(text.NO_FLOWS)])
    body = [block(text.FLOWS_HEADING)]
    for slug, title in flows[:MAX_FLOWS]:
        body.append(block(f"**{plain(title)}** ({plain(slug)})", spacing="Medium"))
        body.append({"type": "ActionSet", "actions": [submit("Start", {KEY: "start_flow", "flow": slug})]})
    return card(body)


def session_list(views: list[SessionView]) -> Card:
    if not views:
        return card([block(text.NO_SESSIONS)])
    body = [block("**Your open sessions**")]
    body.extend(
        block(f"• {plain(v.title)} — {STATUS_LABEL.get(v.status, v.status)} ({v.session_id})") for v in views
    )
    return card(body)


def _kind(kind: str) -> str:
    return "resolution" if kind == "resolve" else "escalation handoff"


# ── size ─────────────────────────────────────────────────────────────────────────────────────────────


def size(content: Card) -> int:
    # The SDK sends JSON with \u escapes, so non-ASCII text weighs up to 12 bytes a character.
    return len(json.dumps(content).encode())


def _shrinkable(node: Any, found: list[tuple[Card, str]]) -> None:
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TextBlock" and isinstance(node.get("text"), str):
            found.append((node, "text"))
        elif kind == "Input.Text" and isinstance(node.get("value"), str):
            found.append((node, "value"))
        elif "title" in node and "value" in node and isinstance(node["value"], str) and kind is None:
            found.append((node, "value"))  # a FactSet fact
        for key, child in node.items():
            if key != "data":  # button data must arrive intact
                _shrinkable(child, found)
    elif isinstance(node, list):
        for child in node:
            _shrinkable(child, found)


def _shorten(content: Card, limit: int, *, floor: int) -> None:
    """Cut the longest texts (never below `floor` characters) until the card fits or none is left."""
    while size(content) > limit:
        found: list[tuple[Card, str]] = []
        _shrinkable(content, found)
        found = [(node, key) for node, key in found if len(node[key]) > floor + len(text.TRUNCATED)]
        if not found:
            return
        node, key = max(found, key=lambda item: len(item[0][item[1]]))
        current = node[key]
        excess = size(content) - limit
        keep = max(floor, min(len(current) * 3 // 4, len(current) - excess))
        node[key] = current[:keep].rstrip() + text.TRUNCATED


def fit(content: Card, limit: int = MAX_CARD_BYTES) -> Card:
    """Make the card fit whatever Claude wrote: shorten texts first, drop whole items only as a last resort."""
    for floor in (200, 40):
        _shorten(content, limit, floor=floor)
    body = content.get("body") or []
    dropped = 0
    while size(content) > limit and len(body) > 1:
        # Pathological: too many items even with short texts. Drop from the end, and say so.
        body[:] = [b for b in body if not b.get("fp_dropped")]
        excess = size(content) - limit + 400  # room for the notice
        while excess > 0 and len(body) > 1:
            excess -= size(body.pop()) + 2
            dropped += 1
        body.append(block("⚠️ " + text.LEFT_OUT.format(count=dropped), fp_dropped=True))
    for item in body:
        item.pop("fp_dropped", None)
    return content
