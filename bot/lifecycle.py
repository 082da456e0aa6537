"""Pause, resume, abandon, take-over and rating."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repo

from . import messages as msg
from .commands import (
    Abandon,
    Pause,
    Rate,
    Resume,
    SessionCommand,
    TakeOver,
)
from .errors import (
    AlreadyAnswered,
    Forbidden,
    IntakeError,
    InvalidTransition,
)
from .events import (
    Event,
    Notice,
    StatusChanged,
)
from .redaction import redact
from .session_core import Sessions, add_step, changed, now, touch
from .status import OPEN, SessionStatus


class Lifecycle:
    """Pause, resume, abandon, take-over and rating."""

    def __init__(self, *, db: async_sessionmaker[AsyncSession], sessions: Sessions) -> None:
        self._db = db
        self._sessions = sessions

    # ── lifecycle ──────────────────────────────────────────────────────────────────────────────────
    async def _transition(
        self, command: SessionCommand, *, allowed: frozenset[SessionStatus], new: SessionStatus, notice: str
    ) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            status = SessionStatus(s.status)
            if status == new:
                raise InvalidTransition(msg.ALREADY.format(status=new.value))
            if status not in allowed:
                hint = msg.PAUSED_HINT if status == SessionStatus.PAUSED else msg.CLOSED_HINT
                raise InvalidTransition(msg.NOT_ACTIVE.format(status=status.label, hint=hint))
            touch(s, now())
            old, s.status = status, new
            await changed(db, s, command.actor, "status")
            view = await self._sessions.view_of(db, loaded)
        yield StatusChanged(command.session_id, old, new, command.actor.name, view)
        yield Notice(command.session_id, notice)

    def pause(self, command: Pause) -> AsyncIterator[Event]:
        return self._transition(
            command, allowed=frozenset({SessionStatus.ACTIVE}), new=SessionStatus.PAUSED, notice=msg.PAUSED
        )

    def resume(self, command: Resume) -> AsyncIterator[Event]:
        return self._transition(
            command, allowed=frozenset({SessionStatus.PAUSED}), new=SessionStatus.ACTIVE, notice=msg.RESUMED
        )

    def abandon(self, command: Abandon) -> AsyncIterator[Event]:
        return self._transition(command, allowed=OPEN, new=SessionStatus.ABANDONED, notice=msg.ABANDONED)

    async def take_over(self, command: TakeOver) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            if not SessionStatus(s.status).escalated:
                raise InvalidTransition(msg.TAKEOVER_NOT_ESCALATED)
            if s.escalated_to_id is not None and s.escalated_to_id != loaded.user.id:
                target = (await repo.users_by_id(db, [s.escalated_to_id]))[s.escalated_to_id]
                raise Forbidden(
                    msg.TAKEOVER_NOT_FOR_YOU.format(name=target.display_name or target.external_id)
                )
            touch(s, now())
            old = s.status
            s.status = SessionStatus.ACTIVE
            s.user_id = loaded.user.id
            s.handoff_count += 1
            add_step(
                db,
                s,
                role="user",
                kind="takeover",
                user_id=loaded.user.id,
                content=f"[{command.actor.name} took over this session from the escalation.]",
            )
            await changed(db, s, command.actor, "status")
            view = await self._sessions.view_of(db, loaded)
        yield StatusChanged(command.session_id, old, SessionStatus.ACTIVE, command.actor.name, view)
        yield Notice(command.session_id, msg.TOOK_OVER.format(name=command.actor.name))

    async def rate(self, command: Rate) -> AsyncIterator[Event]:
        if not 1 <= command.rating <= 5:
            raise IntakeError(msg.RATING_RANGE)
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            if not SessionStatus(s.status).handed_off:
                raise InvalidTransition(msg.RATING_NOT_YET)
            if s.session_rating is not None and not command.replace and s.session_rating != command.rating:
                raise AlreadyAnswered(msg.ALREADY_RATED.format(rating=s.session_rating))
            s.session_rating = command.rating
            await changed(db, s, command.actor, "status")
            if command.feedback:
                s.session_feedback = redact(command.feedback.strip()).text[:4000]
        yield Notice(command.session_id, msg.RATED.format(rating=command.rating), code="rated")
