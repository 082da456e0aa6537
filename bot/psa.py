"""The PSA port: what a connector to a ticketing system (ConnectWise PSA, Autotask, HaloPSA) must do.

The core speaks only this protocol; `adapters/psa/` holds one small async HTTP client per PSA. A connector never
decides what is written back or when: that policy lives in the core, beside the session it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

PsaKind = Literal["connectwise", "autotask", "halopsa"]
PSA_KINDS: tuple[PsaKind, ...] = ("connectwise", "autotask", "halopsa")
PSA_NAMES: Mapping[str, str] = {"connectwise": "ConnectWise", "autotask": "Autotask", "halopsa": "HaloPSA"}

# How a note is marked: internal (technicians only), resolution (internal, and the PSA's resolution flag or
# type where it has one) or public (the contact sees it).
NoteKind = Literal["internal", "resolution", "public"]


class PsaError(Exception):
    """A PSA call failed; the message is one the engineer can act on (never a credential, never a body)."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(PsaError):
    """The ticket number does not exist in that PSA (or the API member may not see it)."""


class PsaAuthFailed(PsaError):
    """The PSA refused the credentials (401/403): someone must fix the connection."""


class PsaUnavailable(PsaError):
    """A timeout, a 5xx or a 429: worth trying again later."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, from Retry-After when the PSA sent one


class PsaBadRequest(PsaError):
    """The PSA rejected what we sent (4xx other than auth / not found / 429): retrying will not help."""


@dataclass(frozen=True)
class TicketNote:
    """A note already on the ticket."""

    id: str
    text: str
    created_at: datetime | None = None
    author: str | None = None
    internal: bool = True


@dataclass(frozen=True)
class TicketSnapshot:
    """What FlowPilot reads of a ticket at the start of a session (redacted before it is stored or sent)."""

    number: str
    title: str
    description: str = ""
    company: str | None = None  # the client, for the header
    contact: str | None = None
    site: str | None = None
    configurations: tuple[str, ...] = ()  # assets; the first fills the header
    status: str | None = None
    board: str | None = None  # ConnectWise board, Autotask queue, HaloPSA team
    priority: str | None = None
    url: str | None = None  # the ticket in the PSA's own web UI
    notes: tuple[TicketNote, ...] = ()  # the most recent first, at most a handful

    def as_data(self) -> dict[str, Any]:
        """The JSON kept in ai_sessions.ticket_data."""
        return {
            "number": self.number,
            "title": self.title,
            "description": self.description,
            "company": self.company,
            "contact": self.contact,
            "site": self.site,
            "configurations": list(self.configurations),
            "status": self.status,
            "board": self.board,
            "priority": self.priority,
            "url": self.url,
            "notes": [
                {
                    "id": n.id,
                    "text": n.text,
                    "created_at": n.created_at.isoformat() if n.created_at else None,
                    "author": n.author,
                    "internal": n.internal,
                }
                for n in self.notes
            ],
        }


@dataclass(frozen=True)
class PostedNote:
    """A note FlowPilot wrote (or found already written, on a retry)."""

    id: str
    already_there: bool = False


@dataclass(frozen=True)
class PsaReach:
    """What `psa test` reached: proof the credentials work and a picture of the instance."""

    company: str | None
    boards: tuple[str, ...] = ()  # boards / queues / teams
    statuses: tuple[str, ...] = ()
    note_types: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


class PsaConnector(Protocol):
    """One PSA instance, reached with one connection's credentials."""

    kind: PsaKind

    async def get_ticket(self, number: str) -> TicketSnapshot:
        """The ticket with its company, contact, configurations and recent notes; TicketNotFound if none."""
        ...

    async def find_note(self, number: str, *, marker: str) -> PostedNote | None:
        """A note on the ticket whose text contains marker (what a retried post looks for first)."""
        ...

    async def add_note(self, number: str, *, text: str, kind: NoteKind) -> PostedNote:
        """Post a note, marked as the PSA expects for kind."""
        ...

    async def set_status(self, number: str, *, status: str) -> None:
        """Move the ticket to the named status (a name as the PSA shows it; the connector finds its id)."""
        ...

    def ticket_from_url(self, url: str) -> str | None:
        """The ticket number in a link to a ticket of this PSA instance; None for any other link."""
        ...

    async def test(self) -> PsaReach:
        """Reach the PSA with these credentials and say what is there."""
        ...

    async def close(self) -> None:
        """Close the HTTP session."""
        ...
