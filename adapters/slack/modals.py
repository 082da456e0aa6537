"""Modals: edit the triage header, edit a handoff before confirming it (and pick who gets an escalation)."""

from __future__ import annotations

import json
from typing import Any

from bot.commands import TRIAGE_FIELDS
from bot.events import SessionView
from bot.schemas import HandoffFields

from .render import clip, text_obj

TRIAGE_CALLBACK = "fp_triage_modal"
HANDOFF_CALLBACK = "fp_handoff_modal"
LABELS = {
    "problem_summary": "Problem summary",
    "client_name": "Client",
    "asset_name": "Asset",
    "issue_category": "Category",
    "hypothesis": "Hypothesis",
}
SECTIONS = (
    ("root_cause", "Root cause"),
    ("steps_taken", "Steps taken"),
    ("recommendations", "Recommendations"),
)
INPUT_LIMIT = 3000


def _input(
    block_id: str, label: str, initial: str | None, *, multiline: bool, optional: bool
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": block_id, "multiline": multiline}
    if initial:
        element["initial_value"] = clip(initial, INPUT_LIMIT)
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": text_obj(label, plain=True, limit=2000),
        "element": element,
    }


def _modal(
    callback_id: str, title: str, submit: str, blocks: list[dict[str, Any]], meta: dict[str, str]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": text_obj(title, plain=True, limit=24),
        "submit": text_obj(submit, plain=True, limit=24),
        "close": text_obj("Cancel", plain=True, limit=24),
        "private_metadata": json.dumps(meta),
        "blocks": blocks,
    }


def triage_modal(view: SessionView, meta: dict[str, str]) -> dict[str, Any]:
    current = {
        "problem_summary": view.problem_summary,
        "client_name": view.client_name,
        "asset_name": view.asset_name,
        "issue_category": view.issue_category,
        "hypothesis": view.hypothesis,
    }
    blocks = [
        _input(name, LABELS[name], current[name], multiline=name == "hypothesis", optional=True)
        for name in TRIAGE_FIELDS
    ]
    blocks.append(_input("add_evidence", "Add evidence (one per line)", None, multiline=True, optional=True))
    return _modal(TRIAGE_CALLBACK, "Edit triage", "Save", blocks, meta)


def handoff_modal(kind: str, fields: HandoffFields | None, meta: dict[str, str]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if kind == "escalate":
        blocks.append(
            {
                "type": "input",
                "block_id": "to",
                "label": text_obj("Escalate to", plain=True),
                "element": {"type": "users_select", "action_id": "to"},
            }
        )
        blocks.append(_input("reason", "Why escalate?", None, multiline=True, optional=True))
    for name, label in SECTIONS:
        initial = getattr(fields, name) if fields else None
        blocks.append(_input(name, label, initial, multiline=True, optional=False))
    title = "Resolve session" if kind == "resolve" else "Escalate session"
    return _modal(HANDOFF_CALLBACK, title, "Confirm", blocks, {**meta, "kind": kind})


def submitted(view: dict[str, Any]) -> dict[str, str | None]:
    """The modal's values by block id (`value` for text, `selected_user` for a user)."""
    out: dict[str, str | None] = {}
    for block_id, actions in (view.get("state", {}).get("values") or {}).items():
        action = actions.get(block_id) or {}
        out[block_id] = action.get("selected_user") or action.get("value")
    return out


def handoff_fields(values: dict[str, str | None]) -> HandoffFields:
    return HandoffFields(
        root_cause=values.get("root_cause") or "",
        steps_taken=values.get("steps_taken") or "",
        recommendations=values.get("recommendations") or "",
    )
