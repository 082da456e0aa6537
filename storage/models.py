"""SQLAlchemy 2.0 models: accounts, users, sessions and everything a session owns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SESSION_STATUSES = ("active", "paused", "resolved", "escalated", "requesting_escalation", "abandoned")
INTAKE_TYPES = ("free_text", "psa_ticket", "screenshot", "log_paste", "combined")
CONFIDENCE_TIERS = ("guided", "exploring", "discovery")
HANDOFF_STATUSES = ("draft", "confirmed", "discarded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now() -> sa.ColumnElement[datetime]:
    return sa.func.now()


class Base(DeclarativeBase):
    # Server-side defaults (created_at, updated_at) come back with RETURNING: no lazy loads under asyncio.
    __mapper_args__ = {"eager_defaults": True}
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dict[str, Any]: JSONB,
        list[dict[str, Any]]: JSONB,
        uuid.UUID: UUID(as_uuid=True),
        datetime: sa.DateTime(timezone=True),
    }


class Account(Base):
    """A Slack workspace, a Teams tenant, or a local install (shell, API)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=_now())


class User(Base):
    """A platform identity inside one account."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=_now())


class AISession(Base):
    """A FlowPilot troubleshooting session, from intake to resolution or escalation."""

    __tablename__ = "ai_sessions"
    __table_args__ = (
        CheckConstraint(_in("intake_type", INTAKE_TYPES), name="intake_type"),
        CheckConstraint(_in("status", SESSION_STATUSES), name="status"),
        CheckConstraint(_in("confidence_tier", CONFIDENCE_TIERS), name="confidence_tier"),
        CheckConstraint("session_type IN ('guided', 'chat')", name="session_type"),
        CheckConstraint("confidence_score >= 0 AND confidence_score <= 1", name="confidence_score"),
        CheckConstraint("session_rating IS NULL OR session_rating BETWEEN 1 AND 5", name="session_rating"),
        CheckConstraint(
            "analysis_status IS NULL OR analysis_status IN ('pending', 'completed', 'failed')",
            name="analysis_status",
        ),
        CheckConstraint("match_score IS NULL OR (match_score >= 0 AND match_score <= 1)", name="match_score"),
        Index("ix_ai_sessions_account_status", "account_id", "status"),
        Index("ix_ai_sessions_user_created", "user_id", "created_at"),
        # Turns left unfinished by a process that died or was stopped: what the recovery sweep looks for.
        Index(
            "ix_ai_sessions_turn_in_flight",
            "lease_expires_at",
            postgresql_where=sa.text("turn_in_flight IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    team_id: Mapped[uuid.UUID | None]

    session_type: Mapped[str] = mapped_column(String(10), default="guided")
    title: Mapped[str | None] = mapped_column(String(255))

    intake_type: Mapped[str] = mapped_column(String(20), default="free_text")
    intake_content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    problem_summary: Mapped[str | None] = mapped_column(Text)
    problem_domain: Mapped[str | None] = mapped_column(String(100))

    status: Mapped[str] = mapped_column(String(30), default="active")
    confidence_tier: Mapped[str] = mapped_column(String(20), default="discovery")
    confidence_score: Mapped[float] = mapped_column(default=0.0)

    # Soft references: the flow library and PSA connections live outside this service.
    matched_flow_id: Mapped[uuid.UUID | None]
    match_score: Mapped[float | None]
    psa_ticket_id: Mapped[str | None] = mapped_column(String(100))
    psa_connection_id: Mapped[uuid.UUID | None]
    ticket_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    client_name: Mapped[str | None] = mapped_column(String(255))
    asset_name: Mapped[str | None] = mapped_column(String(255))
    issue_category: Mapped[str | None] = mapped_column(String(100))
    triage_hypothesis: Mapped[str | None] = mapped_column(Text)
    evidence_items: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # Header fields the engineer set by hand: Claude's updates do not overwrite them.
    manual_fields: Mapped[list[str]] = mapped_column(JSONB, default=list)

    resolution_summary: Mapped[str | None] = mapped_column(Text)
    resolution_action: Mapped[str | None] = mapped_column(Text)
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    escalation_package: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    escalated_to_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    session_rating: Mapped[int | None]
    session_feedback: Mapped[str | None] = mapped_column(Text)
    analysis_status: Mapped[str | None] = mapped_column(String(20))

    total_input_tokens: Mapped[int] = mapped_column(default=0)
    total_output_tokens: Mapped[int] = mapped_column(default=0)
    total_cache_read_tokens: Mapped[int] = mapped_column(default=0)
    total_cache_creation_tokens: Mapped[int] = mapped_column(default=0)
    step_count: Mapped[int] = mapped_column(default=0)

    created_at: Mapped[datetime] = mapped_column(server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(server_default=_now(), onupdate=_now())
    resolved_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(server_default=_now())

    system_prompt_snapshot: Mapped[str | None] = mapped_column(Text)
    # The open questions and suggested actions of the latest turn, with who answered what.
    pending_task_lane: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The engineer said something Claude has not answered yet (a failed or interrupted turn).
    awaiting_reply: Mapped[bool] = mapped_column(default=False)

    is_branching: Mapped[bool] = mapped_column(default=False)
    active_branch_id: Mapped[uuid.UUID | None]
    handoff_count: Mapped[int] = mapped_column(default=0)
    total_active_seconds: Mapped[int] = mapped_column(default=0)
    total_parked_seconds: Mapped[int] = mapped_column(default=0)

    # The turn lease: one turn at a time per session, across processes.
    lease_owner: Mapped[uuid.UUID | None]
    lease_expires_at: Mapped[datetime | None]
    # None is SQL NULL (not the JSON value null), so "no turn in flight" is what the recovery sweep skips.
    turn_in_flight: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))

    # The flow guiding the session (bot.flows.runner): its version, the node the engineer is asked at, the
    # step number, and the path walked with the flow's slug and title. None / 0 / None: no flow guides it.
    flow_version_id: Mapped[uuid.UUID | None]
    flow_node: Mapped[str | None] = mapped_column(String(64))
    flow_step: Mapped[int] = mapped_column(default=0, server_default="0")
    flow_path: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")
    account: Mapped[Account] = relationship(lazy="raise")


class AISessionStep(Base):
    """One turn of the conversation: what the engineer said or did, or what Claude answered."""

    __tablename__ = "ai_session_steps"
    __table_args__ = (
        UniqueConstraint("session_id", "step_order"),
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ai_sessions.id", ondelete="CASCADE"))
    step_order: Mapped[int]
    role: Mapped[str] = mapped_column(String(20))
    # message, answer, action_result, triage_edit, intake
    kind: Mapped[str] = mapped_column(String(30), default="message")
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content: Mapped[str] = mapped_column(Text, default="")
    images: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    questions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    actions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    triage_update: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    confidence_score: Mapped[float | None]
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    cache_creation_tokens: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=_now())


class SessionHandoff(Base):
    """A resolution or escalation handoff: drafted by Claude, edited and confirmed by the engineer."""

    __tablename__ = "session_handoffs"
    __table_args__ = (
        CheckConstraint("kind IN ('resolve', 'escalate')", name="kind"),
        CheckConstraint(_in("status", HANDOFF_STATUSES), name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    draft_text: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    steps_taken: Mapped[str] = mapped_column(Text, default="")
    recommendations: Mapped[str] = mapped_column(Text, default="")
    from_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=_now())
    confirmed_at: Mapped[datetime | None]


class SessionResolutionOutput(Base):
    """What the ResolutionOutputGenerator made from a confirmed handoff (ticket note, markdown, JSON)."""

    __tablename__ = "session_resolution_outputs"
    __table_args__ = (
        UniqueConstraint("handoff_id", "format"),
        CheckConstraint("format IN ('plain', 'markdown', 'json')", name="format"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_sessions.id", ondelete="CASCADE"), index=True
    )
    handoff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("session_handoffs.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=_now())


class ThreadBinding(Base):
    """Which chat thread is which session (a Slack thread, a Teams conversation, a shell)."""

    __tablename__ = "thread_bindings"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", "channel_id", "thread_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    platform: Mapped[str] = mapped_column(String(20))
    workspace_id: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[str] = mapped_column(String(255))
    thread_id: Mapped[str] = mapped_column(String(255))
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_sessions.id", ondelete="CASCADE"), index=True
    )
    # The platform message that shows the live triage header (Slack ts, Teams activity id).
    header_message_id: Mapped[str | None] = mapped_column(String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=_now())


class ProcessedEvent(Base):
    """Platform events already handled, so a retried delivery never makes a second turn."""

    __tablename__ = "processed_events"

    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(server_default=_now(), index=True)


class ProcessLiveness(Base):
    """A FlowPilot process that proves it is alive by holding an advisory lock on a connection it keeps.

    PostgreSQL releases the lock the moment the process (or its connection) dies, so a turn lease held by a
    registered owner whose lock is gone is taken over at once instead of waiting for it to expire
    (storage.liveness).
    """

    __tablename__ = "flowpilot_processes"

    owner: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The advisory lock's second key (the first is storage.liveness.LOCK_NAMESPACE): unique per process.
    lock_key: Mapped[int] = mapped_column(
        sa.Integer, sa.Identity(always=True, start=1, cycle=True, maxvalue=2_147_483_647), unique=True
    )
    started_at: Mapped[datetime] = mapped_column(server_default=_now())
