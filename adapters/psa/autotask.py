"""Autotask PSA REST API v1.0: read a ticket, post a note, move its status; every id from the instance's picklists.

The API user's zone (its API and web hosts) is asked once from `zoneInformation?user=`; every call carries the
`ApiIntegrationCode`, `UserName` and `Secret` headers. Statuses, queues, priorities, note types and publish
values differ per instance, so they are read from `entityInformation/fields`, never hard-coded.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from adapters.psa.autotask_picklists import Picklists, note_marks
from adapters.psa.http import (
    Call,
    PsaHttp,
    as_dict,
    as_list,
    checked_base_url,
    gather_all,
    linked_ticket,
    msg_bad_answer,
    msg_not_a_number,
    msg_not_found,
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
    TicketNotFound,
    TicketSnapshot,
)

NAME = "Autotask"
AUTH_FIX = "the API user's user name, secret and the integration code"
LOOKUP_URL = "https://webservices.autotask.net/atservicesrest"
RECENT_NOTES = 5
_TICKET_NUMBER = re.compile(r"T\d{8}\.\d{4}", re.IGNORECASE)  # what the web UI shows, e.g. T20240101.0001
_TITLE_CHARS = 250  # the longest note title Autotask accepts


@dataclass(frozen=True)
class AutotaskSettings:
    """One Autotask connection; the zone is found from the user name unless `zone_url` is given."""

    username: str
    integration_code: str
    secret: str = field(repr=False)
    zone_url: str | None = None  # e.g. https://webservices5.autotask.net/atservicesrest
    web_url: str | None = None  # e.g. https://ww5.autotask.net (comes with the zone when it is found)
    lookup_url: str = LOOKUP_URL
    timeout: float = 15.0


@dataclass(frozen=True)
class _Zone:
    api: str  # …/atservicesrest/v1.0
    web: str | None
    name: str | None


class AutotaskConnector:
    """PsaConnector for one Autotask instance."""

    kind: PsaKind = "autotask"

    def __init__(self, settings: AutotaskSettings, *, session: aiohttp.ClientSession | None = None) -> None:
        self._settings = settings
        self._lookup = checked_base_url(settings.lookup_url, psa=NAME, what="zone lookup URL")
        self._zone: _Zone | None = None
        web = checked_base_url(settings.web_url, psa=NAME, what="web URL") if settings.web_url else None
        if settings.zone_url is not None:
            self._zone = _Zone(_api_root(settings.zone_url), web, None)
        self._zone_lock = asyncio.Lock()
        self._http = PsaHttp(psa=NAME, auth_fix=AUTH_FIX, timeout=settings.timeout, session=session)
        self._headers = {
            "ApiIntegrationCode": settings.integration_code,
            "UserName": settings.username,
            "Secret": settings.secret,
            "Accept": "application/json",
        }
        self.picklists = Picklists(self._get)

    # ---- the zone and the API's URLs -------------------------------------------------------------------

    async def zone(self) -> _Zone:
        async with self._zone_lock:
            if self._zone is None:
                self._zone = await self._find_zone()
            return self._zone

    async def _find_zone(self) -> _Zone:
        what = "find the API user's zone"
        try:
            # Only the user name: the secret is not sent where it is not needed.
            info = await self._http.request(
                "GET",
                f"{self._lookup}/v1.0/zoneInformation",
                call=Call(what),
                params={"user": self._settings.username},
                headers={"Accept": "application/json"},
            )
        except PsaBadRequest as exc:
            raise PsaBadRequest(
                f"Autotask does not know the API user {self._settings.username!r}: check the user name."
            ) from exc
        info = as_dict(info, psa=NAME, what=what)
        if not isinstance(info.get("url"), str):
            raise PsaBadRequest(msg_bad_answer(NAME, what))
        web = info.get("webUrl")
        web_url = checked_base_url(web, psa=NAME, what="web URL") if isinstance(web, str) else None
        return _Zone(_api_root(info["url"]), web_url, text_of(info.get("zoneName")))

    async def _request(self, method: str, path: str, call: Call, *, body: Any = None) -> dict[str, Any]:
        url = (await self.zone()).api + path
        answer = await self._http.request(method, url, call=call, headers=self._headers, json=body)
        return as_dict(answer, psa=NAME, what=call.what)

    async def _get(self, path: str, call: Call) -> dict[str, Any]:
        return await self._request("GET", path, call)

    async def _query(self, entity: str, call: Call, *filters: dict[str, Any]) -> list[dict[str, Any]]:
        answer = await self._request("POST", f"/{entity}/query", call, body={"filter": list(filters)})
        return as_list(answer.get("items"), psa=NAME, what=call.what)

    async def _item(self, entity: str, item_id: Any, call: Call) -> dict[str, Any] | None:
        if not isinstance(item_id, int):
            return None
        item = (await self._get(f"/{entity}/{item_id}", call)).get("item")
        return item if isinstance(item, dict) else None

    # ---- tickets ---------------------------------------------------------------------------------------

    async def _ticket(self, number: str, call_what: str) -> dict[str, Any]:
        """The ticket by its id (digits) or its number as the web UI shows it (T20240101.0001)."""
        given = str(number).strip()
        if _TICKET_NUMBER.fullmatch(given):
            call = Call(f"{call_what} {given.upper()}", ticket=given.upper())
            rows = await self._query(
                "Tickets", call, {"op": "eq", "field": "ticketNumber", "value": given.upper()}
            )
            ticket = rows[0] if rows else None
        else:
            if not given.lstrip("#").isdigit():
                forms = "digits (12345) or as the web UI shows them (T20240101.0001)"
                raise PsaBadRequest(msg_not_a_number(NAME, given, forms=forms))
            tid = ticket_id(given, psa=NAME)
            call = Call(f"{call_what} #{tid}", ticket=str(tid))
            ticket = await self._item("Tickets", tid, call)
        if ticket is None or not isinstance(ticket.get("id"), int):
            raise _not_found(call)  # Autotask answers an unknown id with {"item": null}
        return ticket

    async def get_ticket(self, number: str) -> TicketSnapshot:
        ticket = await self._ticket(number, "read ticket")
        tid: int = ticket["id"]
        call = Call(f"read ticket #{tid}", ticket=str(tid))
        company, contact, location, configurations, notes, zone = await gather_all(
            self._item("Companies", ticket.get("companyID"), call),
            self._item("Contacts", ticket.get("contactID"), call),
            self._item("CompanyLocations", ticket.get("companyLocationID"), call),
            self._configurations(ticket, call),
            self._get(f"/Tickets/{tid}/Notes", call),
            self.zone(),
        )
        note_rows = sorted(
            as_list(notes.get("items"), psa=NAME, what=call.what), key=lambda n: str(n.get("createDateTime"))
        )
        labels = await self.picklists.labels("Tickets", ("status", "priority", "queueID"))
        publish = (await self.picklists.labels("TicketNotes", ("publish",)))["publish"]
        return TicketSnapshot(
            number=str(tid),
            title=text_of(ticket.get("title")) or "",
            description=text_of(ticket.get("description")) or "",
            company=text_of(company.get("companyName")) if company else None,
            contact=_person(contact),
            site=text_of(location.get("name")) if location else None,
            configurations=configurations,
            status=labels["status"].get(str(ticket.get("status"))),
            board=labels["queueID"].get(str(ticket.get("queueID"))),
            priority=labels["priority"].get(str(ticket.get("priority"))),
            url=_web_link(zone.web, tid),
            notes=tuple(_note(row, publish) for row in reversed(note_rows[-RECENT_NOTES:])),
        )

    async def _configurations(self, ticket: dict[str, Any], call: Call) -> tuple[str, ...]:
        """The ticket's configuration item first, then its additional ones, by reference title."""
        extra = await self._get(f"/Tickets/{ticket['id']}/AdditionalConfigurationItems", call)
        ids = [ticket.get("configurationItemID")] + [
            row.get("configurationItemID") for row in as_list(extra.get("items"), psa=NAME, what=call.what)
        ]
        wanted = [i for i in dict.fromkeys(ids) if isinstance(i, int)]
        if not wanted:
            return ()
        rows = await self._query("ConfigurationItems", call, {"op": "in", "field": "id", "value": wanted})
        titles = {
            row.get("id"): text_of(row.get("referenceTitle")) or text_of(row.get("serialNumber"))
            for row in rows
        }
        return tuple(title for i in wanted if (title := titles.get(i)))

    async def find_note(self, number: str, *, marker: str) -> PostedNote | None:
        ticket = await self._ticket(number, "read the notes of ticket")
        call = Call(f"read the notes of ticket #{ticket['id']}", ticket=str(ticket["id"]))
        rows = await self._query(
            "TicketNotes",
            call,
            {"op": "eq", "field": "ticketID", "value": ticket["id"]},
            {"op": "contains", "field": "description", "value": marker},
        )
        found = [row for row in rows if marker in str(row.get("description") or "")]
        return PostedNote(id=str(found[0].get("id")), already_there=True) if found else None

    async def add_note(self, number: str, *, text: str, kind: NoteKind) -> PostedNote:
        tid = _id_or_none(number)
        if tid is None:
            tid = (await self._ticket(number, "add a note to ticket"))["id"]
        call = Call(f"add a note to ticket #{tid}", ticket=str(tid))
        marks = note_marks(await self.picklists.of("TicketNotes"), kind)
        title = (text.strip().splitlines() or ["FlowPilot"])[0][:_TITLE_CHARS]
        body = {"ticketID": tid, "title": title, "description": text, **marks}
        answer = await self._request("POST", f"/Tickets/{tid}/Notes", call, body=body)
        if answer.get("itemId") is None:
            raise PsaBadRequest(msg_bad_answer(NAME, call.what))
        return PostedNote(id=str(answer["itemId"]))

    async def set_status(self, number: str, *, status: str) -> None:
        ticket = await self._ticket(number, "change the status of ticket")
        call = Call(f"change the status of ticket #{ticket['id']}", ticket=str(ticket["id"]))
        value = self.picklists.value_named(await self.picklists.of("Tickets"), "status", status)
        await self._request("PATCH", "/Tickets", call, body={"id": ticket["id"], "status": value})

    # ---- links and set-up ------------------------------------------------------------------------------

    def ticket_from_url(self, url: str) -> str | None:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        known = (
            {(urlsplit(self._zone.web).hostname or "").lower()} if self._zone and self._zone.web else set()
        )
        if host not in known and not host.endswith(".autotask.net"):
            return None
        for key, value in parse_qsl(parts.query):
            if key.lower() == "ticketid" and (number := linked_ticket(value)):
                return number
            if key.lower() == "ticketnumber" and _TICKET_NUMBER.fullmatch(value):
                return value.upper()
        return None

    async def test(self) -> PsaReach:
        zone = await self.zone()
        owner = await self._item("Companies", 0, Call("read your own company"))  # id 0: the instance's owner
        tickets = await self.picklists.labels("Tickets", ("queueID", "status"))
        notes = await self.picklists.labels("TicketNotes", ("noteType",))
        return PsaReach(
            company=text_of(owner.get("companyName")) if owner else None,
            boards=tuple(tickets["queueID"].values()),
            statuses=tuple(tickets["status"].values()),
            note_types=tuple(notes["noteType"].values()),
            extra={"zone": zone.name or "?", "api": zone.api},
        )

    async def close(self) -> None:
        await self._http.close()


def _api_root(zone_url: str) -> str:
    root = checked_base_url(zone_url, psa=NAME, what="zone URL")
    return root if root.lower().endswith("/v1.0") else root + "/v1.0"


def _web_link(web: str | None, tid: int) -> str | None:
    if web is None:
        return None
    return f"{web}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&mode=0&ticketId={tid}"


def _id_or_none(number: str) -> int | None:
    given = str(number).strip()
    return ticket_id(given, psa=NAME) if given.lstrip("#").isdigit() else None


def _not_found(call: Call) -> TicketNotFound:
    return TicketNotFound(msg_not_found(NAME, call.ticket or "?"))


def _note(row: dict[str, Any], publish: dict[str, str]) -> TicketNote:
    """A ticket note; internal unless its publish option says otherwise (an unknown one counts as internal)."""
    return TicketNote(
        id=str(row.get("id")),
        text=str(row.get("description") or ""),
        created_at=parsed_time(row.get("createDateTime")),
        author=None,
        internal="internal" in publish.get(str(row.get("publish")), "internal").casefold(),
    )


def _person(contact: dict[str, Any] | None) -> str | None:
    if not contact:
        return None
    return text_of(" ".join(str(contact.get(k) or "") for k in ("firstName", "lastName")))
