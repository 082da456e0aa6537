"""Starting a session from a PSA ticket: which ticket, reading it, and what of it the session keeps.

The ticket is read before anything is stored: a ticket that does not exist, credentials the PSA refuses, a
PSA that does not answer, or no PSA at all is a private message and no session. What is kept (ticket_data)
and what Claude reads in the first turn is the snapshot with every text redacted like any paste.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from typing import Any

from .commands import StartSession
from .errors import FlowPilotError, IntakeError
from .identities import Identities
from .psa import PSA_NAMES, PsaAuthFailed, PsaError, PsaUnavailable, TicketNotFound, TicketSnapshot
from .psa_connections import NO_PSA, PsaConnections
from .redaction import redact

# A ticket number as engineers type it (ConnectWise 12345, Autotask T20250303.0042, HaloPSA 1042), with
# an optional '#': anything else never reaches a PSA's URL.
_NUMBER = re.compile(r"#?([A-Za-z0-9][A-Za-z0-9.\-]{0,39})")
_URL = re.compile(r"https?://[^\s<>|]+")
TICKET_ONLY = "Start from this ticket."  # the engineer's words when they gave only the number
PROMPT_CHARS = 12_000  # the ticket's share of the first prompt
NOT_A_NUMBER = "“{number}” is not a ticket number: give the number as your PSA shows it, e.g. 12345."
NOT_FOUND = (
    "Ticket #{number} was not found in {psa} (or FlowPilot's API member may not see it): check the number."
)
REFUSED = (
    "{psa} refused FlowPilot's credentials, so the ticket could not be read. An administrator can check them "
    "with `flowpilot psa test`."
)
UNAVAILABLE = "{psa} did not answer in time ({reason}), so no session was started. Try again in a minute."


class PsaRefused(FlowPilotError):
    """The ticket could not be read; nothing was stored. `code` says why (the REST API's status follows)."""

    private = True

    def __init__(self, message: str, *, code: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class TicketStart:
    """The ticket a new session starts from, redacted."""

    connection_id: uuid.UUID
    number: str
    data: dict[str, Any]
    prompt: str

    @property
    def client(self) -> str | None:
        return self.data.get("company") or None

    @property
    def asset(self) -> str | None:
        configurations = self.data.get("configurations") or []
        return str(configurations[0]) if configurations else None

    def columns(self, intake_type: str) -> dict[str, Any]:
        """The new session's columns that come from the ticket; `intake_type` is the engineer's own text's."""
        manual = [f for f, v in (("client_name", self.client), ("asset_name", self.asset)) if v]
        return {
            "psa_ticket_id": self.number,
            "psa_connection_id": self.connection_id,
            "ticket_data": self.data,
            "client_name": (self.client or "")[:255] or None,
            "asset_name": (self.asset or "")[:255] or None,
            # The PSA's company and configuration are facts, not guesses: Claude's updates keep them.
            "manual_fields": manual,
            "intake_type": "psa_ticket" if intake_type in ("free_text", "psa_ticket") else "combined",
        }


def intake_columns(intake_type: str, psa_ticket_id: str | None, ticket: TicketStart | None) -> dict[str, Any]:
    """A new session's intake columns: how it came in, and what its ticket (if any) fills in. Without a PSA
    service a named ticket is kept as a bare reference."""
    columns: dict[str, Any] = {
        "intake_type": intake_type,
        "psa_ticket_id": psa_ticket_id,
        "manual_fields": [],
    }
    return {**columns, **(ticket.columns(intake_type) if ticket else {})}


def ticket_number(text: str) -> str:
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        raise IntakeError(NOT_A_NUMBER.format(number=text.strip()[:40]))
    return match.group(1)


def redacted(value: Any) -> Any:
    """Every text of a snapshot's data masked like a paste."""
    if isinstance(value, str):
        return redact(value).text
    if isinstance(value, list):
        return [redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    return value


def prompt_of(data: dict[str, Any], psa: str) -> str:
    """The ticket as Claude reads it in the first turn."""
    lines = [f"PSA ticket #{data['number']} ({psa}): {data.get('title') or ''}".rstrip()]
    for label, key in (("Company", "company"), ("Contact", "contact"), ("Site", "site"), ("Status", "status"),
                       ("Board / queue", "board"), ("Priority", "priority")):  # fmt: skip
        if data.get(key):
            lines.append(f"{label}: {data[key]}")
    if data.get("configurations"):
        lines.append("Configurations: " + ", ".join(str(c) for c in data["configurations"]))
    if data.get("description"):
        lines += ["", "Description:", str(data["description"])]
    notes = data.get("notes") or []
    if notes:
        lines += ["", "Recent notes (newest first):"]
        lines += [f"- {n.get('author') or 'someone'}: {n.get('text') or ''}" for n in notes]
    return "\n".join(lines)[:PROMPT_CHARS]


class Tickets:
    """Finds and reads the ticket a new session starts from."""

    def __init__(self, connections: PsaConnections) -> None:
        self._connections = connections

    async def for_command(self, command: StartSession, identities: Identities) -> TicketStart | None:
        """The ticket a StartSession names or links, read before anything is stored (None: not from one)."""
        account = await identities.account(None, command.actor)
        return await self.for_start(
            account.id if account else None, number=command.psa_ticket_id, text=command.text
        )

    async def for_start(
        self, account_id: uuid.UUID | None, *, number: str | None, text: str
    ) -> TicketStart | None:
        """The ticket named (`number`) or linked in `text`; None when neither; PsaRefused when unreadable."""
        if number is not None:
            number = ticket_number(number)
        elif not _URL.search(text):
            return None
        row = await self._connections.of_account(account_id) if account_id is not None else None
        if row is None:
            if number is None:
                return None  # a link, but no PSA to recognise it: just text
            raise PsaRefused(NO_PSA, code="psa_not_connected")
        psa = PSA_NAMES.get(row.kind, row.kind)
        try:  # a connection whose stored settings the client refuses is told like any refusal
            async with self._connections.opened(row) as connector:
                if number is None:
                    # Chat platforms escape a link's & as &amp; (Slack does): the link as the PSA wrote it.
                    links = [html.unescape(u) for u in _URL.findall(text)]
                    number = next((n for u in links if (n := connector.ticket_from_url(u))), None)
                    if number is None:
                        return None
                snapshot = await connector.get_ticket(number)
        except PsaError as err:
            raise _refusal(err, psa=psa, number=number or "?") from None
        data = redacted(_data(snapshot))
        return TicketStart(connection_id=row.id, number=snapshot.number or number, data=data,
                           prompt=prompt_of(data, psa))  # fmt: skip


def _data(snapshot: TicketSnapshot) -> dict[str, Any]:
    return snapshot.as_data()


def _refusal(err: PsaError, *, psa: str, number: str) -> FlowPilotError:
    if isinstance(err, TicketNotFound):
        return PsaRefused(NOT_FOUND.format(number=number, psa=psa), code="not_found")
    if isinstance(err, PsaAuthFailed):
        return PsaRefused(REFUSED.format(psa=psa), code="psa_refused")
    if isinstance(err, PsaUnavailable):
        return PsaRefused(
            UNAVAILABLE.format(psa=psa, reason=err.message), code="psa_unavailable", retryable=True
        )
    return PsaRefused(f"{psa} could not give ticket #{number}: {err.message}", code="psa_refused")
