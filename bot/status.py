"""A session's status: one enum for the whole core (storage keeps its string column; the values are equal)."""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    REQUESTING_ESCALATION = "requesting_escalation"
    ABANDONED = "abandoned"

    @property
    def label(self) -> str:
        """How an engineer reads it: "requesting escalation"."""
        return self.value.replace("_", " ")

    @property
    def is_open(self) -> bool:
        """Still being worked on (active or paused)."""
        return self in OPEN

    @property
    def handed_off(self) -> bool:
        """Closed by a handoff (resolved or escalated): the session can be rated."""
        return self in HANDED_OFF

    @property
    def escalated(self) -> bool:
        return self in (SessionStatus.ESCALATED, SessionStatus.REQUESTING_ESCALATION)


OPEN = frozenset({SessionStatus.ACTIVE, SessionStatus.PAUSED})
HANDED_OFF = frozenset({SessionStatus.RESOLVED, SessionStatus.ESCALATED, SessionStatus.REQUESTING_ESCALATION})
CLOSED = HANDED_OFF | {SessionStatus.ABANDONED}
