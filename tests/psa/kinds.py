"""What differs per PSA in the contract suite: the seed, where faults go, how notes are marked, ticket links."""

from __future__ import annotations

import base64
from typing import Any, cast

from bot.psa import NoteKind, PsaKind
from fakes.psa.autotask import FakeAutotask
from fakes.psa.base import FakePsa, SeedTicket
from fakes.psa.connectwise import FakeConnectWise
from fakes.psa.halopsa import FakeHaloPsa

SEED = SeedTicket(
    number=4711,
    title="Outlook keeps asking for a password",
    description="Since this morning Outlook on RECEPTION-PC prompts for the password every few minutes.",
    company="Contoso Ltd",
    contact="Jane Doe",
    site="Main Office",
    configurations=("RECEPTION-PC", "CONTOSO-DC01"),
    status="New",
    board="Service Desk",
    priority="High",
    notes=("Called the user, she restarted Outlook.", "Still prompting after restart."),
)

# Where a fault is injected for "reading the ticket" and "posting a note", per PSA.
TICKET_PATH = {
    "connectwise": "/service/tickets/{n}$",
    "autotask": "/Tickets/{n}$",
    "halopsa": "/api/Tickets/{n}$",
}
NOTE_POST_PATH = {"connectwise": "/notes", "autotask": "/Notes", "halopsa": "/api/Actions"}
# The URLs a connection is set up with: each is checked before anything is sent to it.
URL_FIELDS: dict[PsaKind, tuple[str, ...]] = {
    "connectwise": ("site",),
    "autotask": ("lookup_url", "zone_url", "web_url"),
    "halopsa": ("url", "auth_url"),
}
# The secret of each connection, which must never show up in a message or a log line.
SECRET_FIELD = {"connectwise": "private_key", "autotask": "secret", "halopsa": "client_secret"}


def secrets_of(kind: PsaKind, fake: FakePsa) -> list[str]:
    """What must never be shown: the connection's secret, and what is made of it (Basic auth, bearer tokens)."""
    found = [str(getattr(fake, SECRET_FIELD[kind]))]
    if kind == "connectwise":
        cw = cast(FakeConnectWise, fake)
        found.append(base64.b64encode(f"{cw.company}+{cw.public_key}:{cw.private_key}".encode()).decode())
    if kind == "halopsa":
        found += list(cast(FakeHaloPsa, fake).tokens)
    return found


def note_marks(kind: PsaKind, fake: FakePsa, note: dict[str, Any]) -> dict[str, Any]:
    """How the PSA itself marks a stored note: the flags or picklist labels an engineer sees in its UI."""
    if kind == "connectwise":
        return {k: note[k] for k in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")}
    if kind == "autotask":
        at = cast(FakeAutotask, fake)
        return {f: at.label_of("TicketNotes", f, note[f]) for f in ("noteType", "publish")}
    if kind == "halopsa":
        return {k: note[k] for k in ("hiddenfromuser", "outcome")}
    raise AssertionError(kind)


EXPECTED_MARKS: dict[PsaKind, dict[NoteKind, dict[str, Any]]] = {
    "connectwise": {
        "internal": {"detailDescriptionFlag": False, "internalAnalysisFlag": True, "resolutionFlag": False},
        "resolution": {"detailDescriptionFlag": False, "internalAnalysisFlag": True, "resolutionFlag": True},
        "public": {"detailDescriptionFlag": True, "internalAnalysisFlag": False, "resolutionFlag": False},
    },
    "autotask": {
        "internal": {"noteType": "Task Notes", "publish": "Internal Only"},
        "resolution": {"noteType": "Ticket Resolution", "publish": "Internal Only"},
        "public": {"noteType": "Task Notes", "publish": "All Autotask Users"},
    },
    "halopsa": {
        "internal": {"hiddenfromuser": True, "outcome": "Private Note"},
        "resolution": {"hiddenfromuser": True, "outcome": "Private Note"},
        "public": {"hiddenfromuser": False, "outcome": "Public Note"},
    },
}


def seeded(fake: FakePsa, seed: SeedTicket = SEED) -> SeedTicket:
    cast(Any, fake).add_ticket(seed)
    return seed


def stored_notes(fake: FakePsa, number: int) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], cast(Any, fake).notes(number))


def note_text(kind: PsaKind, note: dict[str, Any]) -> str:
    return str(note.get({"connectwise": "text", "autotask": "description", "halopsa": "note"}[kind]))


TICKET_URLS: dict[PsaKind, list[tuple[str, str | None]]] = {
    "connectwise": [
        (
            "{web}/v4_6_release/services/system_io/Service/fv_sr100_request.rpp?locale=en_US&RecordId=12345",
            "12345",
        ),
        ("{web}/v2025_1/ConnectWise.aspx?locale=en_US&routeTo=ServiceFV&service_recid=777", "777"),
        ("{web}/v2025_1/ConnectWise.aspx?fullscreen=false#startscreen=sr100&recid=31", "31"),
        ("{api}/v2025_1/ConnectWise.aspx?service_recid=99", "99"),
        (
            "https://eu.myconnectwise.net/v4_6_release/services/system_io/Service/fv_sr100_request.rpp?RecordId=1",
            None,
        ),
        ("{web}/v4_6_release/services/system_io/Service/fv_sr100_request.rpp?RecordId=12a", None),
        ("{web}/somewhere/else", None),
        ("{web}/v4_6_release/services/system_io/Service/fv_sr100_request.rpp?RecordId=0", None),
    ],
    "autotask": [
        ("{web}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&mode=0&ticketId=12345", "12345"),
        ("https://ww5.autotask.net/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=777", "777"),
        (
            "https://ww14.autotask.net/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail"
            "&TicketNumber=T20240101.0001",
            "T20240101.0001",
        ),
        ("https://ww5.autotask.net.evil.example/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=1", None),
        ("https://example.com/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=1", None),
        ("{web}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=12a", None),
        ("{web}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=0000", None),
        ("{web}/Autotask/AutotaskExtend/ExecuteCommand.aspx?TicketNumber=T2024.1", None),
    ],
    "halopsa": [
        ("{web}/ticket?id=12345", "12345"),
        ("{web}/tickets?id=88&showmenu=true", "88"),
        ("{web}/ticket?id=0", None),
        ("{web}/ticket?id=12a", None),
        ("{web}/reports?id=12", None),
        ("https://other.halopsa.com/ticket?id=12345", None),
    ],
}


def url_bases(kind: PsaKind, fake: FakePsa) -> dict[str, str]:
    if kind == "connectwise":
        # The fake serves the API on 127.0.0.1; a real site's web UI is the API host without "api-".
        return {"web": fake.url, "api": fake.url}
    if kind == "autotask":
        return {"web": fake.url}  # the fake's zone lookup names this server as the web UI
    if kind == "halopsa":
        return {"web": fake.url}
    raise AssertionError(kind)
