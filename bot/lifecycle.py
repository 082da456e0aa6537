"""Pause, resume, abandon and rating."""

from __future__ import annotations

from collections.abc import AsyncIterator

from . import messages as msg
from .commands import (
    Abandon,
    Pause,
    Rate,
    Resume,
    SessionCommand,
)
from .errors import (
    AlreadyAnswered,
    IntakeError,
    InvalidTransition,
)
from .events import (
    Event,
    Notice,
    StatusChanged,
)
from .redaction import redact
from .session_core import SessionCore, _now


class LifecycleMixin(SessionCore):
    """Pause, resume, abandon and rating."""

    # ── lifecycle ──────────────────────────────────────────────────────────────────────────────────
    async def _transition(
        self, command: SessionCommand, *, allowed: tuple[str, ...], new: str, notice: str
    ) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status == new:
                raise InvalidTransition(msg.ALREADY.format(status=new))
            if s.status not in allowed:
                hint = msg.PAUSED_HINT if s.status == "paused" else msg.CLOSED_HINT
                raise InvalidTransition(msg.NOT_ACTIVE.format(status=s.status.replace("_", " "), hint=hint))
            self._touch(s, _now())
            old, s.status = s.status, new
            await self._changed(db, s, command.actor, "status")
            view = await self._view_of(db, loaded)
        yield StatusChanged(command.session_id, old, new, command.actor.name, view)
        yield Notice(command.session_id, notice)

    def _pause(self, command: Pause) -> AsyncIterator[Event]:
        return self._transition(command, allowed=("active",), new="paused", notice=msg.PAUSED)

    def _resume(self, command: Resume) -> AsyncIterator[Event]:
        return self._transition(command, allowed=("paused",), new="active", notice=msg.RESUMED)

    def _abandon(self, command: Abandon) -> AsyncIterator[Event]:
        return self._transition(command, allowed=("active", "paused"), new="abandoned", notice=msg.ABANDONED)

    async def _rate(self, command: Rate) -> AsyncIterator[Event]:
        if not 1 <= command.rating <= 5:
            raise IntakeError(msg.RATING_RANGE)
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status not in ("resolved", "escalated", "requesting_escalation"):
                raise InvalidTransition(msg.RATING_NOT_YET)
            if s.session_rating is not None and not command.replace and s.session_rating != command.rating:
                raise AlreadyAnswered(msg.ALREADY_RATED.format(rating=s.session_rating))
            s.session_rating = command.rating
            await self._changed(db, s, command.actor, "status")
            if command.feedback:
                s.session_feedback = redact(command.feedback.strip()).text[:4000]
        yield Notice(command.session_id, msg.RATED.format(rating=command.rating))
