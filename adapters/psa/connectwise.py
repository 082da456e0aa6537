"""ConnectWise PSA (Manage) REST API 3.0: read a ticket, post a note with its flags, move its status.

The API lives under a per-company codebase (`v2024_1/`), asked once from `/login/companyinfo/{company}`. Every
request carries `Authorization: Basic base64("{company}+{public}:{private}")` and the integration's `clientId`.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from adapters.psa.http import (
    Call,
    PsaHttp,
    as_dict,
    as_list,
    checked_base_url,
    find_named,
    gather_all,
    linked_ticket,
    msg_bad_answer,
    msg_unknown_name,
    name_of,
    parsed_time,
    text_of,
    ticket_id,
)
from bot.psa import (
    NoteKind,
    PostedNote,
    PsaBadRequest,
    PsaKind,
    PsaReach,
    TicketNote,
    TicketSnapshot,
)

NAME = "ConnectWise"
AUTH_FIX = "the company id, the API member's public and private keys and the client id"
RECENT_NOTES = 5
_NOTE_PAGE = 100
_NOTE_PAGES = 20  # find_note looks at the newest 2,000 notes: far more than a ticket gathers
_COMPANY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_CODEBASE = re.compile(r"v[A-Za-z0-9_.]{1,32}/")
# The ticket pages of the web UI carry the ticket id under one of these names (query or #fragment).
_FIRST_DETAIL = {"conditions": "detailDescriptionFlag=true", "orderBy": "id asc"}
_URL_ID_KEYS = ("service_recid", "recid", "recordid", "srrecid")

# How each kind of note is flagged: a resolution is internal *and* resolution, a public note is the description.
NOTE_FLAGS: dict[NoteKind, dict[str, bool]] = {
    "internal": {"detailDescriptionFlag": False, "internalAnalysisFlag": True, "resolutionFlag": False},
    "resolution": {"detailDescriptionFlag": False, "internalAnalysisFlag": True, "resolutionFlag": True},
    "public": {"detailDescriptionFlag": True, "internalAnalysisFlag": False, "resolutionFlag": False},
}


@dataclass(frozen=True)
class ConnectWiseSettings:
    """One ConnectWise connection: `site` is the API host, e.g. https://api-na.myconnectwise.net."""

    site: str
    company: str
    public_key: str
    private_key: str = field(repr=False)
    client_id: str
    codebase: str | None = None  # e.g. "v2024_1/"; None: asked from /login/companyinfo at first use
    timeout: float = 15.0


class ConnectWiseConnector:
    """PsaConnector for one ConnectWise company."""

    kind: PsaKind = "connectwise"

    def __init__(
        self, settings: ConnectWiseSettings, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self._site = checked_base_url(settings.site, psa=NAME, what="site URL")
        if not _COMPANY_ID.fullmatch(settings.company):
            raise PsaBadRequest(f"{settings.company!r} is not a ConnectWise company id (letters and digits).")
        if settings.codebase is not None and not _CODEBASE.fullmatch(settings.codebase):
            raise PsaBadRequest(f"{settings.codebase!r} is not a ConnectWise codebase (like v2024_1/).")
        self._settings = settings
        self._codebase = settings.codebase
        self._company_name: str | None = None
        self._codebase_lock = asyncio.Lock()  # parallel first calls ask for the codebase once
        self._http = PsaHttp(psa=NAME, auth_fix=AUTH_FIX, timeout=settings.timeout, session=session)
        login = f"{settings.company}+{settings.public_key}:{settings.private_key}"
        self._headers = {
            "Authorization": "Basic " + base64.b64encode(login.encode()).decode(),
            "clientId": settings.client_id,
            "Accept": "application/json",
        }

    # ---- the codebase and the API's URLs ---------------------------------------------------------------

    async def _company_info(self) -> dict[str, Any]:
        url = f"{self._site}/login/companyinfo/{self._settings.company}"
        # A public endpoint: the keys are not sent where they are not needed.
        headers = {"clientId": self._settings.client_id, "Accept": "application/json"}
        info = as_dict(
            await self._http.request("GET", url, call=Call("look up the company"), headers=headers),
            psa=NAME,
            what="look up the company",
        )
        codebase = info.get("Codebase")
        if not isinstance(codebase, str) or not _CODEBASE.fullmatch(codebase):
            raise PsaBadRequest(
                f"ConnectWise does not know the company id {self._settings.company!r}: check it "
                "(it is the one you type at the ConnectWise login)."
            )
        self._company_name = text_of(info.get("CompanyName"))
        return info

    async def _api(self) -> str:
        async with self._codebase_lock:
            if self._codebase is None:
                self._codebase = str((await self._company_info())["Codebase"])
        return f"{self._site}/{self._codebase}apis/3.0"

    async def _call(
        self, method: str, path: str, call: Call, *, params: dict[str, str] | None = None, body: Any = None
    ) -> Any:
        url = await self._api() + path
        return await self._http.request(
            method, url, call=call, headers=self._headers, params=params, json=body
        )

    def _web_url(self, number: int) -> str:
        parts = urlsplit(self._site)
        host = parts.netloc.removeprefix("api-")  # the web UI is on the API host without its "api-"
        return (
            f"{parts.scheme}://{host}/{self._codebase or 'v4_6_release/'}services/system_io/Service/"
            f"fv_sr100_request.rpp?locale=en_US&RecordId={number}"
        )

    # ---- tickets ---------------------------------------------------------------------------------------

    async def get_ticket(self, number: str) -> TicketSnapshot:
        tid = ticket_id(number, psa=NAME)
        call = Call(f"read ticket #{tid}", ticket=str(tid))
        notes_path = f"/service/tickets/{tid}/notes"
        ticket, configs, notes, first_detail = await gather_all(
            self._call("GET", f"/service/tickets/{tid}", call),
            self._call("GET", f"/service/tickets/{tid}/configurations", call, params={"pageSize": "25"}),
            self._call("GET", notes_path, call, params={"orderBy": "id desc", "pageSize": str(RECENT_NOTES)}),
            # The web UI keeps the problem as the ticket's first "detail description" note.
            self._call("GET", notes_path, call, params={**_FIRST_DETAIL, "pageSize": "1"}),
        )
        ticket = as_dict(ticket, psa=NAME, what=call.what)
        note_rows = as_list(notes, psa=NAME, what=call.what)
        detail_rows = as_list(first_detail, psa=NAME, what=call.what)
        return TicketSnapshot(
            number=str(tid),
            title=text_of(ticket.get("summary")) or "",
            description=text_of(ticket.get("initialDescription"))
            or (text_of(detail_rows[0].get("text")) if detail_rows else None)
            or "",
            company=name_of(ticket.get("company")) or text_of(ticket.get("companyName")),
            contact=name_of(ticket.get("contact")) or text_of(ticket.get("contactName")),
            site=name_of(ticket.get("site")) or text_of(ticket.get("siteName")),
            configurations=tuple(
                name
                for c in as_list(configs, psa=NAME, what=call.what)
                if (name := text_of(c.get("deviceIdentifier")) or text_of(c.get("name")))
            ),
            status=name_of(ticket.get("status")),
            board=name_of(ticket.get("board")),
            priority=name_of(ticket.get("priority")),
            url=self._web_url(tid),
            notes=tuple(_note(row) for row in note_rows[:RECENT_NOTES]),
        )

    async def find_note(self, number: str, *, marker: str) -> PostedNote | None:
        tid = ticket_id(number, psa=NAME)
        call = Call(f"read the notes of ticket #{tid}", ticket=str(tid))
        for page in range(1, _NOTE_PAGES + 1):
            params = {"orderBy": "id desc", "pageSize": str(_NOTE_PAGE), "page": str(page)}
            rows = as_list(
                await self._call("GET", f"/service/tickets/{tid}/notes", call, params=params),
                psa=NAME,
                what=call.what,
            )
            for row in rows:
                if marker in str(row.get("text") or ""):
                    return PostedNote(id=str(row.get("id")), already_there=True)
            if len(rows) < _NOTE_PAGE:
                break
        return None

    async def add_note(self, number: str, *, text: str, kind: NoteKind) -> PostedNote:
        tid = ticket_id(number, psa=NAME)
        call = Call(f"add a note to ticket #{tid}", ticket=str(tid))
        body = {"text": text, **NOTE_FLAGS[kind]}
        note = as_dict(
            await self._call("POST", f"/service/tickets/{tid}/notes", call, body=body),
            psa=NAME,
            what=call.what,
        )
        if note.get("id") is None:
            raise PsaBadRequest(msg_bad_answer(NAME, call.what))
        return PostedNote(id=str(note["id"]))

    async def set_status(self, number: str, *, status: str) -> None:
        tid = ticket_id(number, psa=NAME)
        call = Call(f"change the status of ticket #{tid}", ticket=str(tid))
        ticket = as_dict(await self._call("GET", f"/service/tickets/{tid}", call), psa=NAME, what=call.what)
        board = ticket.get("board")
        if not isinstance(board, dict) or not isinstance(board.get("id"), int):
            raise PsaBadRequest(msg_bad_answer(NAME, call.what))
        statuses = await self._board_statuses(board["id"])
        status_id = find_named(statuses, status)
        if status_id is None:
            where = f" on board {name_of(board) or board['id']}"
            raise PsaBadRequest(msg_unknown_name(NAME, "status", status, list(statuses), where=where))
        patch = [{"op": "replace", "path": "status", "value": {"id": status_id}}]
        await self._call("PATCH", f"/service/tickets/{tid}", call, body=patch)

    async def _board_statuses(self, board_id: int) -> dict[str, int]:
        """The board's active statuses by name (each board has its own)."""
        what = "read the board's statuses"
        rows = as_list(
            await self._call(
                "GET", f"/service/boards/{board_id}/statuses", Call(what), params={"pageSize": "1000"}
            ),
            psa=NAME,
            what=what,
        )
        return {
            str(row["name"]): int(row["id"])
            for row in rows
            if isinstance(row.get("id"), int) and text_of(row.get("name")) and not row.get("inactive")
        }

    # ---- links and set-up ------------------------------------------------------------------------------

    def ticket_from_url(self, url: str) -> str | None:
        parts = urlsplit(url.strip())
        api_host = (urlsplit(self._site).hostname or "").lower()
        if (parts.hostname or "").lower() not in {api_host, api_host.removeprefix("api-")}:
            return None
        pairs = parse_qsl(parts.query) + parse_qsl(parts.fragment)
        for key, value in pairs:
            if key.lower() in _URL_ID_KEYS and (number := linked_ticket(value)):
                return number
        return None

    async def test(self) -> PsaReach:
        info = await self._company_info()
        system_call = Call("read the system info")
        system = as_dict(
            await self._call("GET", "/system/info", system_call), psa=NAME, what=system_call.what
        )
        what = "list the service boards"
        params = {"pageSize": "100", "conditions": "inactiveFlag=false", "orderBy": "name"}
        boards = as_list(
            await self._call("GET", "/service/boards", Call(what), params=params), psa=NAME, what=what
        )
        board_statuses = await gather_all(
            *(self._board_statuses(b["id"]) for b in boards[:10] if isinstance(b.get("id"), int))
        )
        statuses = dict.fromkeys(name for by_board in board_statuses for name in by_board)
        return PsaReach(
            company=self._company_name,
            boards=tuple(name for b in boards if (name := text_of(b.get("name")))),
            statuses=tuple(statuses),
            extra={"codebase": str(info["Codebase"]), "version": str(system.get("version") or "?")},
        )

    async def close(self) -> None:
        await self._http.close()


def _note(row: dict[str, Any]) -> TicketNote:
    return TicketNote(
        id=str(row.get("id")),
        text=str(row.get("text") or ""),
        created_at=parsed_time(row.get("dateCreated")),
        author=name_of(row.get("member")) or name_of(row.get("contact")) or text_of(row.get("createdBy")),
        internal=not row.get("detailDescriptionFlag") or bool(row.get("internalAnalysisFlag")),
    )
