"""What a filled-in triage form means, decided once for every platform's form.

Only the fields the engineer changed become manual edits (untouched ones stay Claude's), and added evidence is
one item per non-empty line.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from .commands import TRIAGE_FIELDS, Actor, EditTriage
from .events import SessionView


def evidence_items(text: str | None) -> tuple[str, ...]:
    """The evidence items an engineer typed: one per non-empty line, trimmed."""
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def triage_changes(values: Mapping[str, object], view: SessionView) -> dict[str, str]:
    """The triage fields a form changed ("" clears one); a field the form did not send is left alone."""
    changes: dict[str, str] = {}
    for name in TRIAGE_FIELDS:
        if name not in values:
            continue
        new = str(values[name] or "").strip()
        if new != (getattr(view, name) or "").strip():
            changes[name] = new
    return changes


def triage_edit(
    values: Mapping[str, object], view: SessionView, *, actor: Actor, session_id: uuid.UUID
) -> EditTriage:
    """The edit a submitted triage form asks for: its changed fields and the evidence it adds."""
    evidence = values.get("add_evidence")
    return EditTriage(
        actor=actor,
        session_id=session_id,
        changes=triage_changes(values, view),
        add_evidence=evidence_items(str(evidence) if evidence is not None else None),
    )
