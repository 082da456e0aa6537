"""What every handler of the session shares: loading a session with its account checks, its header view,
and the rules for a session's state (time accounting, which status allows what).

Each turn takes the session's lease (bot/turn_lease.py), works in short transactions, and never holds a
transaction or a pooled connection while Claude thinks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import notify, raw, repo
from storage.models import Account, AISession, AISessionStep, User
from storage.state import SessionState

from . import messages as msg
from .commands import Actor
from .errors import InvalidTransition, NotFound, SessionBusy
from .events import SessionView
from .identities import Db, Identities
from .status import SessionStatus
from .triage import session_view
from .turn_lease import Turn

__all__ = ["AnySession", "Db", "Loaded", "Sessions", "now"]

# Idle gaps longer than this between two commands count as parked, not active, time.
IDLE_CAP_SECONDS = 15 * 60


def now() -> datetime:
    return datetime.now(UTC)


# A session as the ORM paths hold it (a tracked row) or as the hot path does (storage.raw's plain state):
# the rules below read and change either.
AnySession = AISession | SessionState
S = TypeVar("S", AISession, SessionState)


@dataclass
class Loaded(Generic[S]):
    session: S
    account: Account
    user: User


class Sessions:
    """Loading sessions for an actor (another account's session is reported exactly like a missing one:
    ids leak nothing) and their header views."""

    def __init__(self, *, db: async_sessionmaker[AsyncSession], identities: Identities) -> None:
        self._db = db
        self.identities = identities

    async def load(
        self, db: AsyncSession, actor: Actor, session_id: uuid.UUID, *, lock: bool = True
    ) -> Loaded[AISession]:
        s = await repo.session_row(db, session_id, lock=lock)
        account = await self.identities.account(db, actor)
        if s is None or account is None or s.account_id != account.id:
            raise NotFound(msg.SESSION_NOT_FOUND)
        return Loaded(s, account, await self.identities.user(account, actor))

    async def load_copy(self, actor: Actor, session_id: uuid.UUID, turn: Turn) -> Loaded[SessionState]:
        """Like `load`, for the conversation's turns (storage.raw): the session is a plain SessionState, and `raw.save_turn` writes its changes. The turn holds the lease, and nobody else writes a
        leased session: no row lock is needed.

        A turn's first read takes the row its lease returned (no round trip). Nothing here holds a pooled
        connection while another is taken (account and user, when not remembered, are read on their own).
        """
        account = await self.identities.account(None, actor)
        row = turn.take_row()
        if row is not None:
            s: SessionState | None = raw.copy_from(row)
        else:
            async with raw.autocommit(self._db) as conn:
                s = await raw.session_copy(conn, session_id)
        if s is None or account is None or s.account_id != account.id:
            raise NotFound(msg.SESSION_NOT_FOUND)
        return Loaded(s, account, await self.identities.user(account, actor))

    async def require_access(self, actor: Actor, session_id: uuid.UUID) -> None:
        """Before anything is said about a session someone else is using: is it the actor's account's? (Only
        on the waiting path: a turn that takes the lease at once checks when it loads the session.)"""
        account = await self.identities.account(None, actor)
        async with self._db() as db:
            owner = await db.scalar(sa.select(AISession.account_id).where(AISession.id == session_id))
        if account is None or owner != account.id:
            raise NotFound(msg.SESSION_NOT_FOUND)

    async def owner_of(self, session_id: uuid.UUID) -> Actor:
        async with self._db() as db:
            s = await repo.session_row(db, session_id)
            assert s is not None
            account = await db.get(Account, s.account_id)
            owner = await db.get(User, s.user_id)
            assert account is not None and owner is not None
            return Actor(
                platform=account.platform,
                workspace_id=account.external_id,
                user_id=owner.external_id,
                display_name=owner.display_name or "",
            )

    async def view_of(self, db: Db, loaded: Loaded[AISession] | Loaded[SessionState]) -> SessionView:
        return await self.header_view(db, loaded.session, loaded.account)

    async def header_view(self, db: Db, s: AnySession, account: Account) -> SessionView:
        users = await self.identities.by_id(db, (s.user_id, s.escalated_to_id))
        return session_view(
            s, account_platform=account.platform, account_external_id=account.external_id, users=users
        )


# ── the rules for a session's state ──────────────────────────────────────────────────────────────────
def status_of(s: AnySession) -> SessionStatus:
    return SessionStatus(s.status)


def require_active(s: AnySession) -> None:
    status = status_of(s)
    if status == SessionStatus.ACTIVE:
        return
    hint = msg.PAUSED_HINT if status == SessionStatus.PAUSED else msg.CLOSED_HINT
    raise InvalidTransition(msg.NOT_ACTIVE.format(status=status.label, hint=hint))


def require_open(s: AnySession) -> None:
    """Active or paused: the header may still be edited."""
    status = status_of(s)
    if not status.is_open:
        raise InvalidTransition(msg.NOT_ACTIVE.format(status=status.label, hint=msg.CLOSED_HINT))


def touch(s: AnySession, at: datetime) -> None:
    """Account the time since the last command: active (capped) or parked."""
    elapsed = max(0, int((at - s.last_activity_at).total_seconds()))
    if s.status == SessionStatus.PAUSED:
        s.total_parked_seconds += elapsed
    elif s.status == SessionStatus.ACTIVE:
        s.total_active_seconds += min(elapsed, IDLE_CAP_SECONDS)
    s.last_activity_at = at


async def changed(db: AsyncSession, s: AISession, actor: Actor, kind: str) -> None:
    """Tell other processes (and other adapters) the header changed, when this transaction commits."""
    await notify.publish(db, notify.SessionChange(s.id, kind, actor.origin, actor.platform))


def add_step(db: AsyncSession, s: AISession, **fields: Any) -> AISessionStep:
    s.step_count += 1
    step = AISessionStep(session_id=s.id, step_order=s.step_count, **fields)
    db.add(step)
    return step


def release_with(s: AnySession) -> None:
    """Let go of the lease in the caller's transaction (the turn's last write), not in one more; once it
    has committed, the caller says so with `turn.released = True`."""
    s.lease_owner = None
    s.lease_expires_at = None
    s.turn_in_flight = None


def ensure_lease(s: AnySession, owner: uuid.UUID) -> None:
    if s.lease_owner != owner:
        # Our lease expired and another process took the session over: its turn wins, ours is dropped.
        raise SessionBusy(msg.BUSY)
