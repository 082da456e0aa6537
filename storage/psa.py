"""PSA connections (one per account and PSA) and the write-back record of each confirmed handoff.

A connection's secret is stored only as the ciphertext the core hands in (bot.psa_secrets encrypts it);
nothing here ever sees it in clear. A write-back row is the one record per handoff of what was posted to
the ticket: its unique handoff_id is what makes "exactly once" hold however often the job runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from .models import Account, AISession, Base, SessionHandoff, _now

WRITEBACK_STATES = ("pending", "posted", "failed")


class PsaConnection(Base):
    """An account's connection to its PSA: where it is, who FlowPilot is there, what it writes back."""

    __tablename__ = "psa_connections"
    __table_args__ = (
        CheckConstraint("kind IN ('connectwise', 'autotask', 'halopsa')", name="kind"),
        CheckConstraint("note_visibility IN ('internal', 'public')", name="note_visibility"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(255))
    # Everything but the secret: URL, company, public key, client id, user name, integration code…
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    resolved_status: Mapped[str | None] = mapped_column(String(100))
    note_visibility: Mapped[str] = mapped_column(String(10), default="internal")
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(server_default=_now())


class PsaWriteback(Base):
    """What happened to one confirmed handoff's ticket note: pending until posted, or failed for good."""

    __tablename__ = "psa_writebacks"
    __table_args__ = (
        UniqueConstraint("handoff_id"),
        CheckConstraint("state IN ('pending', 'posted', 'failed')", name="state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    handoff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("session_handoffs.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_sessions.id", ondelete="CASCADE"), index=True
    )
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("psa_connections.id", ondelete="SET NULL")
    )
    ticket_number: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # resolve | escalate
    note_text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    note_id: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=_now(), onupdate=_now())


# ── connections ──────────────────────────────────────────────────────────────────────────────────────
async def connections_of(db: AsyncSession, account_id: uuid.UUID | None = None) -> list[PsaConnection]:
    """The connections of one account (or of every account), oldest first."""
    stmt = sa.select(PsaConnection).order_by(PsaConnection.created_at)
    if account_id is not None:
        stmt = stmt.where(PsaConnection.account_id == account_id)
    return list((await db.execute(stmt)).scalars().all())


async def accounts_by_id(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Account]:
    rows = (await db.execute(sa.select(Account).where(Account.id.in_(ids)))).scalars().all() if ids else []
    return {a.id: a for a in rows}


async def active_connection(db: AsyncSession, account_id: uuid.UUID) -> PsaConnection | None:
    """The account's PSA: its newest connection that is not disabled."""
    return (
        await db.execute(
            sa.select(PsaConnection)
            .where(PsaConnection.account_id == account_id, sa.not_(PsaConnection.disabled))
            .order_by(PsaConnection.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


# ── write-backs ──────────────────────────────────────────────────────────────────────────────────────
async def writeback_for(
    db: AsyncSession, handoff_id: uuid.UUID, *, lock: bool = False
) -> PsaWriteback | None:
    stmt = sa.select(PsaWriteback).where(PsaWriteback.handoff_id == handoff_id)
    return (await db.execute(stmt.with_for_update() if lock else stmt)).scalar_one_or_none()


async def latest_writeback(db: AsyncSession, session_id: uuid.UUID) -> PsaWriteback | None:
    return (
        await db.execute(
            sa.select(PsaWriteback)
            .where(PsaWriteback.session_id == session_id)
            .order_by(PsaWriteback.updated_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def unrecorded_handoffs(db: AsyncSession, *, older_than: timedelta) -> list[uuid.UUID]:
    """Handoffs confirmed more than `older_than` ago in sessions started from a ticket, with no write-back."""
    rows = await db.execute(
        sa.select(SessionHandoff.id)
        .join(AISession, AISession.id == SessionHandoff.session_id)
        .outerjoin(PsaWriteback, PsaWriteback.handoff_id == SessionHandoff.id)
        .where(
            SessionHandoff.status == "confirmed",
            SessionHandoff.confirmed_at < sa.func.now() - older_than,
            AISession.psa_ticket_id.is_not(None),
            AISession.psa_connection_id.is_not(None),
            PsaWriteback.id.is_(None),
        )
        .limit(100)
    )
    return list(rows.scalars().all())


# One statement: the write-back row of a confirmed handoff of a session started from a ticket (the handoff
# named, or the session's latest confirmed one), with the note and its marker, and the connection the ticket
# was read with, else the account's PSA now (removed since), else none. Nothing when the row exists already.
_RECORD = sa.text("""
    INSERT INTO psa_writebacks
        (id, handoff_id, session_id, connection_id, ticket_number, kind, note_text, state, attempts, updated_at)
    SELECT gen_random_uuid(), h.id, s.id,
           COALESCE(c.id, (SELECT a.id FROM psa_connections a WHERE a.account_id = s.account_id
                           AND NOT a.disabled ORDER BY a.created_at DESC LIMIT 1)),
           s.psa_ticket_id, h.kind, rtrim(o.content) || E'\n\n' || :before || h.id::text || :after,
           'pending', 0, now()
      FROM session_handoffs h
      JOIN ai_sessions s ON s.id = h.session_id
      JOIN session_resolution_outputs o ON o.handoff_id = h.id AND o.format = 'plain'
      LEFT JOIN psa_connections c ON c.id = s.psa_connection_id
     WHERE h.id = COALESCE(CAST(:handoff_id AS uuid), (
               SELECT l.id FROM session_handoffs l WHERE l.session_id = :session_id AND l.status = 'confirmed'
                ORDER BY l.confirmed_at DESC LIMIT 1))
       AND h.status = 'confirmed' AND s.psa_ticket_id IS NOT NULL AND s.psa_connection_id IS NOT NULL
    ON CONFLICT (handoff_id) DO NOTHING
    RETURNING handoff_id
""")


async def record_writeback(
    db: AsyncSession,
    *,
    marker: tuple[str, str],
    handoff_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Record the write-back of a handoff (or of the session's latest confirmed one); the handoff's id when a
    row was added, None when there is nothing to write back or it was recorded already. `marker` is the text
    before and after the handoff id on the note's last line."""
    params = {"handoff_id": handoff_id, "session_id": session_id, "before": marker[0], "after": marker[1]}
    added: uuid.UUID | None = await db.scalar(_RECORD, params)
    return added
