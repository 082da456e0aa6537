"""Core events and views as Block Kit, inside Slack's limits whatever Claude writes."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bot import labels
from bot.events import AssistantTurn, Question, SessionView, SuggestedAction

from . import messages as msg

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
CHUNK = 2900  # room for a re-opened code fence
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
FIELD_LIMIT = 2000
FALLBACK_LIMIT = 3000
MAX_BUTTONS = 24  # an actions block holds 25 elements; one is "Other…"
MAX_EVIDENCE = 30

Block = dict[str, Any]

TIER_MARK = {"guided": "🎯", "exploring": "🧭", "discovery": "🔭"}
STATUSES = {
    "active": "🟢 Active",
    "paused": "⏸️ Paused",
    "resolved": "✅ Resolved",
    "escalated": "🆙 Escalated",
    "requesting_escalation": "🆙 Escalation requested",
    "abandoned": "⚪ Closed",
}
EVIDENCE = {"confirmed": "✅", "ruled_out": "❌", "pending": "⏳"}
EVIDENCE_CHOICES = (("confirmed", "✅ Confirmed"), ("ruled_out", "❌ Ruled out"), ("pending", "⏳ Pending"))
OPEN = ("active", "paused")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Plain text made safe for mrkdwn (no accidental mentions or links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = CHUNK) -> list[str]:
    """Split text into pieces of at most `limit` (+ a closing fence), on line breaks where possible."""
    text = text.strip() or " "
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", limit // 2, limit)
        if cut <= 0:
            cut = text.rfind(" ", limit // 2, limit)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    # A code block cut in two is closed in one piece and reopened in the next.
    out: list[str] = []
    carry = False
    for piece in pieces:
        if carry:
            piece = "```\n" + piece
        if piece.count("```") % 2:
            piece += "\n```"
            carry = True
        else:
            carry = False
        out.append(piece)
    return out


def text_obj(text: str, *, plain: bool = False, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text" if plain else "mrkdwn", "text": clip(text or " ", limit)}


def section(text: str, *, block_id: str | None = None, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": text_obj(text)}
    if block_id:
        block["block_id"] = block_id
    if accessory:
        block["accessory"] = accessory
    return block


def context(text: str, *, block_id: str | None = None) -> Block:
    block: Block = {"type": "context", "elements": [text_obj(text)]}
    if block_id:
        block["block_id"] = block_id
    return block


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": text_obj(text, plain=True, limit=BUTTON_LIMIT),
        "action_id": action_id,
        "value": value[:FIELD_LIMIT],
    }
    if style:
        element["style"] = style
    return element


def actions(block_id: str, elements: list[Block]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": elements[:25]}


def fallback(text: str) -> str:
    return clip(re.sub(r"\s+", " ", text).strip() or "FlowPilot", FALLBACK_LIMIT)


def pack(groups: list[list[Block]], limit: int = MAX_BLOCKS) -> list[list[Block]]:
    """Messages of at most `limit` blocks; a group (a question and its buttons) is never split."""
    messages: list[list[Block]] = [[]]
    for group in groups:
        group = group[:limit]
        if len(messages[-1]) + len(group) > limit:
            messages.append([])
        messages[-1].extend(group)
    return [m for m in messages if m]


# ── the header ──────────────────────────────────────────────────────────────────────────────────────
def header_blocks(view: SessionView, *, live: bool = True) -> list[Block]:
    """The header; not `live`, a copy without buttons (the one header in the thread keeps them)."""
    sid = str(view.session_id)
    is_open = view.status in OPEN and live

    def field(label: str, value: str | None) -> dict[str, Any]:
        return text_obj(f"*{label}*\n{escape(value) if value else '—'}", limit=FIELD_LIMIT)

    confidence = labels.confidence(view.confidence_tier, view.confidence_score)
    if view.confidence_tier in TIER_MARK:
        confidence = f"{TIER_MARK[view.confidence_tier]} {confidence}"
    blocks: list[Block] = [
        {"type": "header", "text": text_obj(view.title, plain=True, limit=HEADER_LIMIT)},
        {
            "type": "section",
            "fields": [
                field("Client", view.client_name),
                field("Asset", view.asset_name),
                field("Category", labels.category(view.issue_category)),
                text_obj(f"*Status*\n{STATUSES.get(view.status, view.status)}"),
                text_obj(f"*Confidence*\n{confidence}"),
            ],
        },
        section(f"*Hypothesis*\n{escape(view.hypothesis) if view.hypothesis else '_None yet_'}"),
    ]
    if view.evidence:
        blocks.append(section(f"*{view.evidence_heading}*"))
        for i, item in enumerate(view.evidence[:MAX_EVIDENCE], 1):
            accessory = None
            if is_open:
                accessory = {
                    "type": "overflow",
                    "action_id": f"fp_evidence_{i}",
                    "options": [
                        {"text": text_obj(label, plain=True, limit=75), "value": f"{sid}|{i}|{status}"}
                        for status, label in EVIDENCE_CHOICES
                        if status != item.status
                    ],
                }
            emoji = EVIDENCE.get(item.status, "•")
            blocks.append(section(f"{emoji} {escape(item.text)}", accessory=accessory))
        if len(view.evidence) > MAX_EVIDENCE:
            blocks.append(context(f"…and {len(view.evidence) - MAX_EVIDENCE} more"))
    else:
        blocks.append(context("*What we know:* nothing yet"))
    if view.flow_line and is_open:
        blocks.append(
            section(f"🧭 *{escape(view.flow_line)}*", accessory=button("Leave flow", "fp_leave_flow", sid))
        )
    if is_open:
        pause = (
            button("Resume", "fp_resume", sid)
            if view.status == "paused"
            else button("Pause", "fp_pause", sid)
        )
        blocks.append(
            actions(
                "fp_header",
                [
                    button("Resolve", "fp_resolve", sid, style="primary"),
                    button("Escalate", "fp_escalate", sid),
                    pause,
                    button("Edit triage", "fp_edit_triage", sid),
                ],
            )
        )
    blocks.append(context(f"Owner: {escape(view.owner)} · {view.step_count} steps · session `{sid}`"))
    if not live:
        blocks.append(context(msg.STATUS_COPY))
    return blocks


def header_text(view: SessionView) -> str:
    """The header's notification text: Slack reads it as mrkdwn too, so the title is escaped."""
    return fallback(f"FlowPilot: {escape(view.title)} ({STATUSES.get(view.status, view.status)})")


# ── a turn ─────────────────────────────────────────────────────────────────────────────────────────
def question_group(session_id: uuid.UUID, index: int, q: Question) -> list[Block]:
    sid = str(session_id)
    buttons = [
        button(option, f"fp_answer_{index}_{o}", f"{sid}|{q.id}|{o}")
        for o, option in enumerate(q.options[:MAX_BUTTONS])
    ]
    buttons.append(button("Other…", f"fp_other_{index}", f"{sid}|{q.id}"))
    return [section(f"*{escape(q.text)}*"), actions(f"fp_q{index}", buttons)]


def action_group(session_id: uuid.UUID, index: int, a: SuggestedAction) -> list[Block]:
    sid = str(session_id)
    return [
        section(f"👉 {escape(a.text)}"),
        actions(
            f"fp_a{index}",
            [
                button("Done", f"fp_done_{index}", f"{sid}|{a.id}|done", style="primary"),
                button("Didn't work", f"fp_failed_{index}", f"{sid}|{a.id}|failed"),
            ],
        ),
    ]


def turn_messages(turn: AssistantTurn, *, text: bool = True) -> list[list[Block]]:
    """One reply as one or more messages: the text (unless it was streamed), then each question and step
    with its buttons."""
    assert turn.session_id is not None
    groups: list[list[Block]] = []
    if text:
        groups = [[section(piece)] for piece in split_text(escape(turn.message))]
    for i, q in enumerate(turn.questions, 1):
        if q.answer is None:
            groups.append(question_group(turn.session_id, i, q))
    for i, a in enumerate(turn.actions, 1):
        if a.outcome is None:
            groups.append(action_group(turn.session_id, i, a))
    return pack(groups)


def replace_block(blocks: list[Block], block_id: str, replacement: Block) -> list[Block]:
    """The message's blocks with the block `block_id` replaced (buttons become a line of who did what)."""
    return [replacement if b.get("block_id") == block_id else b for b in blocks]


def without_actions(blocks: list[Block], line: str) -> list[Block]:
    kept = [b for b in blocks if b.get("type") != "actions"]
    if line:
        kept.append(context(line))
    return kept[-MAX_BLOCKS:] or [context(" ")]


# ── handoff, rating, notices ───────────────────────────────────────────────────────────────────────
def draft_controls(session_id: uuid.UUID, kind: str) -> list[Block]:
    value = f"{session_id}|{kind}"
    return [
        section(msg.DRAFT_READY.format(kind="resolution" if kind == "resolve" else "escalation")),
        actions(
            "fp_draft",
            [
                button("Confirm", "fp_confirm", value, style="primary"),
                button("Edit", "fp_edit_draft", value),
                button("Discard", "fp_discard", value, style="danger"),
            ],
        ),
    ]


def rating_blocks(session_id: uuid.UUID) -> list[Block]:
    return [
        section(msg.RATE_PROMPT),
        actions(
            "fp_rating",
            [button("⭐" * n, f"fp_rate_{n}", f"{session_id}|{n}") for n in range(1, 6)],
        ),
    ]


def notice_blocks(text: str, *, retry_value: str | None = None, error: bool = False) -> list[Block]:
    icon = "⚠️ " if error else ""
    if retry_value is None:
        return [section(icon + escape(text)) if error else context(escape(text))]
    return [
        section(icon + escape(text)),
        actions("fp_retry", [button("Retry", "fp_retry", retry_value, style="primary")]),
    ]


def text_messages(title: str, body: str) -> list[list[Block]]:
    """A long text (a ticket note, a package) as messages of plain sections."""
    groups = [[section(title)]] + [[section(piece)] for piece in split_text(body)]
    return pack(groups)


def escalation_blocks(
    view: SessionView, *, by: str, body: str, reason: str | None = None
) -> list[list[Block]]:
    """The escalation package for the receiving engineer, with a Take over button."""
    groups: list[list[Block]] = [[section(msg.ESCALATION_DM.format(by=escape(by), title=escape(view.title)))]]
    if reason:
        groups.append([section(msg.ESCALATION_REASON.format(reason=escape(clip(reason, CHUNK))))])
    groups.extend([section(piece)] for piece in split_text(body))
    takeover = button("Take over", "fp_takeover", str(view.session_id), style="primary")
    groups.append([actions("fp_takeover", [takeover])])
    return pack(groups)


def session_list(views: list[SessionView], links: dict[uuid.UUID, str]) -> list[Block]:
    blocks: list[Block] = [section(msg.YOUR_SESSIONS)]
    for view in views[: MAX_BLOCKS - 1]:
        link = links.get(view.session_id)
        title = escape(view.title)
        shown = f"<{link}|{clip(title, 200)}>" if link else clip(title, 200)
        blocks.append(context(f"{STATUSES.get(view.status, view.status)} · {shown}"))
    return blocks
