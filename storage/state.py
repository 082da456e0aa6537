"""A session's state on the conversation's hot path (storage.raw): a plain typed value, never an ORM object
that may or may not be tracked.

Its fields are exactly the `ai_sessions` columns, with the model's types: the model (storage.models.AISession)
stays the one place they are written down, and this module refuses to load when the two differ. New
sessions take the model's column defaults (`defaults`), the one place defaults live.

A state remembers the values it was read (or last saved) with, so that `raw.save_turn` writes only the
columns that changed.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
import weakref
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .models import AISession


@dataclasses.dataclass(slots=True, eq=False, weakref_slot=True)
class SessionState:
    """One `ai_sessions` row, untracked by anything: change its fields and `raw.save_turn` writes them."""

    id: uuid.UUID
    user_id: uuid.UUID
    account_id: uuid.UUID
    team_id: uuid.UUID | None
    session_type: str
    title: str | None
    intake_type: str
    intake_content: dict[str, Any]
    problem_summary: str | None
    problem_domain: str | None
    status: str
    confidence_tier: str
    confidence_score: float
    matched_flow_id: uuid.UUID | None
    match_score: float | None
    psa_ticket_id: str | None
    psa_connection_id: uuid.UUID | None
    ticket_data: dict[str, Any] | None
    client_name: str | None
    asset_name: str | None
    issue_category: str | None
    triage_hypothesis: str | None
    evidence_items: list[dict[str, Any]] | None
    manual_fields: list[str]
    resolution_summary: str | None
    resolution_action: str | None
    escalation_reason: str | None
    escalation_package: dict[str, Any] | None
    escalated_to_id: uuid.UUID | None
    session_rating: int | None
    session_feedback: str | None
    analysis_status: str | None
    total_input_tokens: int
    total_output_tokens: int
    total_cache_read_tokens: int
    total_cache_creation_tokens: int
    step_count: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    last_activity_at: datetime
    system_prompt_snapshot: str | None
    pending_task_lane: dict[str, Any] | None
    awaiting_reply: bool
    is_branching: bool
    active_branch_id: uuid.UUID | None
    handoff_count: int
    total_active_seconds: int
    total_parked_seconds: int
    lease_owner: uuid.UUID | None
    lease_expires_at: datetime | None
    turn_in_flight: dict[str, Any] | None
    flow_version_id: uuid.UUID | None
    flow_node: str | None
    flow_step: int
    flow_path: dict[str, Any] | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> SessionState:
        """The state of a row that holds all of the session's columns (and maybe more), remembered as read."""
        state = cls(**{k: row[k] for k in COLUMNS})
        state.mark_saved()
        return state

    def values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in COLUMNS}

    def changed(self) -> dict[str, Any]:
        """The columns whose values differ from those the state was read (or last saved) with."""
        before = _as_read[self]
        return {k: v for k in COLUMNS if (v := getattr(self, k)) != before[k]}

    def mark_saved(self, names: tuple[str, ...] | None = None) -> None:
        """What the row now holds: these columns (all when None) as they are now."""
        now = self.values() if names is None else {k: getattr(self, k) for k in names}
        _as_read[self] = {**_as_read.get(self, {}), **_snapshot(now)}


def _model_columns() -> list[tuple[str, str, bool]]:
    """(name, annotation, is JSON) of each column of the model, in the table's order."""
    annotations: dict[str, Any] = {}
    for klass in reversed(AISession.__mro__):
        annotations |= getattr(klass, "__annotations__", {})
    out = []
    for column in AISession.__table__.columns:
        annotation = str(annotations[column.key]).removeprefix("Mapped[").removesuffix("]")
        out.append((column.key, annotation, isinstance(column.type, sa.JSON)))
    return out


_MODEL = _model_columns()
COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in _MODEL)
JSON_COLUMNS = frozenset(name for name, _, is_json in _MODEL if is_json)
_OURS = [(f.name, str(f.type)) for f in dataclasses.fields(SessionState)]
if _OURS != [(name, annotation) for name, annotation, _ in _MODEL]:  # pragma: no cover - a developer's slip
    raise TypeError(f"SessionState's fields differ from the ai_sessions columns: {_OURS} != {_MODEL}")

# What each state looked like when read (or last saved): keyed by the state itself, gone with it.
_as_read: weakref.WeakKeyDictionary[SessionState, dict[str, Any]] = weakref.WeakKeyDictionary()


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    # JSON values are copied: a list or dict changed in place must still differ from what was read.
    return {k: copy.deepcopy(v) if k in JSON_COLUMNS else v for k, v in values.items()}


def defaults(model: type) -> dict[str, Any]:
    """Fresh values of a model's Python-side column defaults (what the ORM fills in on INSERT): the model is
    the one place defaults are written down."""
    out: dict[str, Any] = {}
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        default = column.default
        if default is None:
            continue
        # A callable default takes the execution context (None here: none of ours reads it).
        out[column.key] = default.arg(None) if default.is_callable else default.arg
    return out
