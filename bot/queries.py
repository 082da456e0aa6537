"""Read-side queries: a session's full record and filtered, cursor-paginated listings, scoped to one account.

The session handler owns every change; these only read, with no lease, in one short transaction each.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import psa as psa_store
from storage import repo
from storage.models import Account, AISession, SessionHandoff, SessionResolutionOutput, User

from .events import SessionView
from .psa_writeback import writeback_state
from .triage import session_view


@dataclass(frozen=True)
class AccountRef:
    platform: str
    workspace_id: str


@dataclass(frozen=True)
class StepRecord:
    step_order: int
    role: str
    kind: str
    content: str
    user_id: str | None
    images: int
    questions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    triage_update: dict[str, Any] | None
    confidence_score: float | None
    input_tokens: int
    output_tokens: int
    created_at: datetime


@dataclass(frozen=True)
class HandoffRecord:
    id: uuid.UUID
    kind: str
    status: str
    draft_text: str
    root_cause: str
    steps_taken: str
    recommendations: str
    from_user_id: str | None
    to_user_id: str | None
    input_tokens: int
    output_tokens: int
    created_at: datetime
    confirmed_at: datetime | None
    outputs: dict[str, str] = field(default_factory=dict)  # format -> content


@dataclass(frozen=True)
class SessionRecord:
    """Everything stored about one session that a client may read back to resume or report on it."""

    view: SessionView
    row: AISession
    evidence: list[dict[str, Any]]  # text, status, manual
    escalated_to_user_id: str | None
    steps: list[StepRecord]
    handoffs: list[HandoffRecord]
    psa_writeback: dict[str, Any] | None = None  # the ticket note's write-back, when it came from a ticket

    @property
    def confirmed(self) -> HandoffRecord | None:
        """The handoff that closed the session, if any."""
        done = [h for h in self.handoffs if h.status == "confirmed"]
        return done[-1] if done else None

    @property
    def draft(self) -> HandoffRecord | None:
        drafts = [h for h in self.handoffs if h.status == "draft"]
        return drafts[-1] if drafts else None


@dataclass(frozen=True)
class SessionFilter:
    statuses: tuple[str, ...] = ()
    user_id: str | None = None  # the owner's platform user id
    client: str | None = None  # case-insensitive substring of the client name
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class Page:
    items: list[SessionView]
    # (created_at, id) of the last item when more follow: the next page starts after it.
    next_after: tuple[datetime, uuid.UUID] | None


async def account_of(db: async_sessionmaker[AsyncSession], session_id: uuid.UUID) -> AccountRef | None:
    """The account a session belongs to, or None when there is no such session."""
    async with db() as s:
        row = (
            await s.execute(
                sa.select(Account.platform, Account.external_id)
                .join(AISession, AISession.account_id == Account.id)
                .where(AISession.id == session_id)
            )
        ).first()
    return AccountRef(row.platform, row.external_id) if row else None


async def _account(s: AsyncSession, account: AccountRef) -> Account | None:
    return await repo.find_account(s, platform=account.platform, external_id=account.workspace_id)


async def session_record(
    db: async_sessionmaker[AsyncSession], *, account: AccountRef, session_id: uuid.UUID
) -> SessionRecord | None:
    """One session of `account` with its steps, handoffs and outputs; None if it is not that account's."""
    async with db() as s, s.begin():
        acct = await _account(s, account)
        row = await repo.session_row(s, session_id)
        if acct is None or row is None or row.account_id != acct.id:
            return None
        steps = await repo.steps_of(s, session_id)
        handoffs = (
            (
                await s.execute(
                    sa.select(SessionHandoff)
                    .where(SessionHandoff.session_id == session_id)
                    .order_by(SessionHandoff.created_at, SessionHandoff.id)
                )
            )
            .scalars()
            .all()
        )
        outputs = (
            (
                await s.execute(
                    sa.select(SessionResolutionOutput).where(SessionResolutionOutput.session_id == session_id)
                )
            )
            .scalars()
            .all()
        )
        user_ids = {row.user_id, row.escalated_to_id}
        user_ids |= {st.user_id for st in steps}
        user_ids |= {h.from_user_id for h in handoffs} | {h.to_user_id for h in handoffs}
        users = await repo.users_by_id(s, [u for u in user_ids if u])
        writeback = writeback_state(await psa_store.latest_writeback(s, session_id))
    by_handoff: dict[uuid.UUID, dict[str, str]] = {}
    for o in outputs:
        by_handoff.setdefault(o.handoff_id, {})[o.format] = o.content
    return SessionRecord(
        psa_writeback=writeback,
        view=session_view(
            row, account_platform=acct.platform, account_external_id=acct.external_id, users=users
        ),
        row=row,
        evidence=[
            {"text": e["text"], "status": e["status"], "manual": bool(e.get("manual"))}
            for e in row.evidence_items or []
        ],
        escalated_to_user_id=_external(users, row.escalated_to_id),
        steps=[
            StepRecord(
                step_order=st.step_order,
                role=st.role,
                kind=st.kind,
                content=st.content,
                user_id=_external(users, st.user_id),
                images=len(st.images or []),
                questions=list(st.questions or []),
                actions=list(st.actions or []),
                triage_update=st.triage_update,
                confidence_score=st.confidence_score,
                input_tokens=st.input_tokens,
                output_tokens=st.output_tokens,
                created_at=st.created_at,
            )
            for st in steps
        ],
        handoffs=[
            HandoffRecord(
                id=h.id,
                kind=h.kind,
                status=h.status,
                draft_text=h.draft_text,
                root_cause=h.root_cause,
                steps_taken=h.steps_taken,
                recommendations=h.recommendations,
                from_user_id=_external(users, h.from_user_id),
                to_user_id=_external(users, h.to_user_id),
                input_tokens=h.input_tokens,
                output_tokens=h.output_tokens,
                created_at=h.created_at,
                confirmed_at=h.confirmed_at,
                outputs=by_handoff.get(h.id, {}),
            )
            for h in handoffs
        ],
    )


async def list_sessions(
    db: async_sessionmaker[AsyncSession],
    *,
    account: AccountRef,
    where: SessionFilter,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 20,
) -> Page:
    """Sessions of `account`, newest first, `limit` at a time; `after` continues from a previous page."""
    async with db() as s, s.begin():
        acct = await _account(s, account)
        if acct is None:
            return Page([], None)
        stmt = sa.select(AISession).where(AISession.account_id == acct.id)
        if where.statuses:
            stmt = stmt.where(AISession.status.in_(where.statuses))
        if where.user_id is not None:
            stmt = stmt.join(User, User.id == AISession.user_id).where(User.external_id == where.user_id)
        if where.client:
            stmt = stmt.where(AISession.client_name.ilike(f"%{_escape_like(where.client)}%", escape="\\"))
        if where.created_after is not None:
            stmt = stmt.where(AISession.created_at >= where.created_after)
        if where.created_before is not None:
            stmt = stmt.where(AISession.created_at < where.created_before)
        if after is not None:
            stmt = stmt.where(sa.tuple_(AISession.created_at, AISession.id) < sa.tuple_(*after))
        stmt = stmt.order_by(AISession.created_at.desc(), AISession.id.desc()).limit(limit + 1)
        rows: Sequence[AISession] = (await s.execute(stmt)).scalars().all()
        users = await repo.users_by_id(s, [u for r in rows for u in (r.user_id, r.escalated_to_id) if u])
    page = list(rows[:limit])
    views = [
        session_view(r, account_platform=acct.platform, account_external_id=acct.external_id, users=users)
        for r in page
    ]
    more = len(rows) > limit
    return Page(views, (page[-1].created_at, page[-1].id) if more and page else None)


def _external(users: dict[uuid.UUID, User], user_id: uuid.UUID | None) -> str | None:
    user = users.get(user_id) if user_id else None
    return user.external_id if user else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
