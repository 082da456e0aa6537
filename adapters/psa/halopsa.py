"""HaloPSA REST API: read a ticket, post an action (a note), move its status; a client-credentials token renewed.

The token comes from `{auth}/token` (grant client_credentials, scope `all`, `?tenant=` for hosted tenants) and is
renewed shortly before it expires, and once more if the API still answers 401. Notes are actions
(`POST /api/Actions` with an array; `hiddenfromuser` keeps them from the end user); a status is set with
`POST /api/Tickets` (an array) and a `status_id` read from `/api/Status`.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from adapters.psa.http import (
    Call,
    PsaHttp,
    Unauthorized,
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
    PsaAuthFailed,
    PsaBadRequest,
    PsaKind,
    PsaReach,
    TicketNote,
    TicketSnapshot,
)

NAME = "HaloPSA"
AUTH_FIX = "the client id, the client secret and the tenant"
RECENT_NOTES = 5
_EXPIRY_MARGIN = 60.0  # renew a token this many seconds before Halo would refuse it
_ACTIONS_PAGE = "500"
_TAG = re.compile(r"<[^>]+>")
_TENANT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True)
class HaloPsaSettings:
    """One HaloPSA connection: `url` is the instance, e.g. https://contoso.halopsa.com."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    tenant: str | None = None  # hosted instances name their tenant on the token request
    auth_url: str | None = None  # default {url}/auth
    # The action outcomes (Halo's "action types") each kind of note is posted as; an instance may rename them.
    internal_outcome: str = "Private Note"
    resolution_outcome: str = "Private Note"
    public_outcome: str = "Public Note"
    timeout: float = 15.0


@dataclass
class _Token:
    value: str
    renew_at: float  # time.monotonic()


class HaloPsaConnector:
    """PsaConnector for one HaloPSA instance."""

    kind: PsaKind = "halopsa"

    def __init__(self, settings: HaloPsaSettings, *, session: aiohttp.ClientSession | None = None) -> None:
        self._url = checked_base_url(settings.url, psa=NAME)
        self._auth = checked_base_url(settings.auth_url or f"{self._url}/auth", psa=NAME, what="auth URL")
        if settings.tenant is not None and not _TENANT.fullmatch(settings.tenant):
            raise PsaBadRequest(f"{settings.tenant!r} is not a HaloPSA tenant name (letters and digits).")
        self._settings = settings
        self._http = PsaHttp(psa=NAME, auth_fix=AUTH_FIX, timeout=settings.timeout, session=session)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._statuses: dict[str, int] | None = None

    # ---- the token -------------------------------------------------------------------------------------

    async def _bearer(self, *, stale: str | None = None) -> str:
        """A valid token: the one held, unless it is about to expire or is `stale` (refused by the API)."""
        async with self._token_lock:
            token = self._token
            if token is None or token.value == stale or time.monotonic() >= token.renew_at:
                self._token = token = await self._new_token()
            return token.value

    async def _new_token(self) -> _Token:
        what = "get an API token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self._settings.client_id,
            "client_secret": self._settings.client_secret,
            "scope": "all",
        }
        params = {"tenant": self._settings.tenant} if self._settings.tenant else None
        try:
            answer = await self._http.request(
                "POST", f"{self._auth}/token", call=Call(what), params=params, data=form
            )
        except PsaBadRequest as exc:  # Halo answers a wrong client id or secret with 400 invalid_client
            raise PsaAuthFailed(
                f"HaloPSA refused the client credentials: check {AUTH_FIX} in the connection."
            ) from exc
        token = as_dict(answer, psa=NAME, what=what)
        value, lifetime = token.get("access_token"), token.get("expires_in", 3600)
        if not isinstance(value, str) or not value or not isinstance(lifetime, int | float):
            raise PsaBadRequest(msg_bad_answer(NAME, what))
        return _Token(value, time.monotonic() + max(float(lifetime) - _EXPIRY_MARGIN, 0.0))

    async def _api(
        self, method: str, path: str, call: Call, *, params: dict[str, str] | None = None, body: Any = None
    ) -> Any:
        token = await self._bearer()
        for renewed in (False, True):
            try:
                return await self._http.request(
                    method,
                    f"{self._url}/api{path}",
                    call=call,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    params=params,
                    json=body,
                )
            except Unauthorized:
                if renewed:
                    raise
                token = await self._bearer(stale=token)  # revoked or expired early: one new token, one retry
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- tickets ---------------------------------------------------------------------------------------

    async def get_ticket(self, number: str) -> TicketSnapshot:
        tid = ticket_id(number, psa=NAME)
        call = Call(f"read ticket #{tid}", ticket=str(tid))
        ticket, actions, statuses = await gather_all(
            self._api("GET", f"/Tickets/{tid}", call, params={"includedetails": "true"}),
            self._actions(tid, call, count=str(RECENT_NOTES * 4)),
            self._status_ids(),
        )
        ticket = as_dict(ticket, psa=NAME, what=call.what)
        status_names = {sid: name for name, sid in statuses.items()}
        return TicketSnapshot(
            number=str(tid),
            title=text_of(ticket.get("summary")) or "",
            description=_plain(ticket.get("details")),
            company=text_of(ticket.get("client_name")),
            contact=text_of(ticket.get("user_name")),
            site=text_of(ticket.get("site_name")),
            configurations=tuple(
                name
                for asset in as_list(ticket.get("assets") or [], psa=NAME, what=call.what)
                if (name := text_of(asset.get("inventory_number")) or text_of(asset.get("key_field")))
            ),
            status=status_names.get(ticket.get("status_id"))
            if isinstance(ticket.get("status_id"), int)
            else None,
            board=text_of(ticket.get("team")),
            priority=name_of(ticket.get("priority")) or text_of(ticket.get("priority_name")),
            url=f"{self._url}/ticket?id={tid}",
            notes=tuple(_note(a) for a in actions[:RECENT_NOTES]),
        )

    async def _actions(self, tid: int, call: Call, *, count: str = _ACTIONS_PAGE) -> list[dict[str, Any]]:
        """The ticket's actions (system ones left out), the newest first."""
        params = {"ticket_id": str(tid), "count": count, "excludesys": "true"}
        answer = as_dict(await self._api("GET", "/Actions", call, params=params), psa=NAME, what=call.what)
        rows = as_list(answer.get("actions") or [], psa=NAME, what=call.what)
        return sorted(rows, key=lambda a: (str(a.get("datetime")), int(a.get("id") or 0)), reverse=True)

    async def find_note(self, number: str, *, marker: str) -> PostedNote | None:
        tid = ticket_id(number, psa=NAME)
        for action in await self._actions(tid, Call(f"read the actions of ticket #{tid}", ticket=str(tid))):
            if marker in str(action.get("note") or "") or marker in str(action.get("note_html") or ""):
                return PostedNote(id=str(action.get("id")), already_there=True)
        return None

    async def add_note(self, number: str, *, text: str, kind: NoteKind) -> PostedNote:
        tid = ticket_id(number, psa=NAME)
        call = Call(f"add a note to ticket #{tid}", ticket=str(tid))
        outcome = {
            "internal": self._settings.internal_outcome,
            "resolution": self._settings.resolution_outcome,
            "public": self._settings.public_outcome,
        }[kind]
        action = {"ticket_id": tid, "note": text, "outcome": outcome, "hiddenfromuser": kind != "public"}
        answer = await self._api("POST", "/Actions", call, body=[action])
        created = answer[0] if isinstance(answer, list) and answer else answer
        if not isinstance(created, dict) or created.get("id") is None:
            raise PsaBadRequest(msg_bad_answer(NAME, call.what))
        return PostedNote(id=str(created["id"]))

    async def set_status(self, number: str, *, status: str) -> None:
        tid = ticket_id(number, psa=NAME)
        call = Call(f"change the status of ticket #{tid}", ticket=str(tid))
        statuses = await self._status_ids()
        status_id = find_named(statuses, status)
        if status_id is None:
            raise PsaBadRequest(msg_unknown_name(NAME, "status", status, list(statuses)))
        await self._api("GET", f"/Tickets/{tid}", call)  # a missing ticket is "not found", not a new ticket
        await self._api("POST", "/Tickets", call, body=[{"id": tid, "status_id": status_id}])

    async def _status_ids(self) -> dict[str, int]:
        """The instance's ticket statuses by name, read once."""
        if self._statuses is None:
            what = "read the ticket statuses"
            rows = as_list(
                await self._api("GET", "/Status", Call(what), params={"type": "ticket"}), psa=NAME, what=what
            )
            self._statuses = {
                str(r["name"]): r["id"]
                for r in rows
                if isinstance(r.get("id"), int) and text_of(r.get("name"))
            }
        return self._statuses

    # ---- links and set-up ------------------------------------------------------------------------------

    def ticket_from_url(self, url: str) -> str | None:
        parts = urlsplit(url.strip())
        if (parts.hostname or "").lower() != (urlsplit(self._url).hostname or "").lower():
            return None
        if parts.path.rstrip("/").lower() not in ("/ticket", "/tickets", "/portal/ticket"):
            return None
        for key, value in parse_qsl(parts.query):
            if key.lower() == "id" and (number := linked_ticket(value)):
                return number
        return None

    async def test(self) -> PsaReach:
        what = "list the teams"
        statuses, teams = await gather_all(self._status_ids(), self._api("GET", "/Team", Call(what)))
        return PsaReach(
            company=urlsplit(
                self._url
            ).hostname,  # the instance: Halo's API has no single "our company" record
            boards=tuple(
                name for t in as_list(teams, psa=NAME, what=what) if (name := text_of(t.get("name")))
            ),
            statuses=tuple(statuses),
            extra={"tenant": self._settings.tenant or "-"},
        )

    async def close(self) -> None:
        await self._http.close()


def _plain(value: Any) -> str:
    """Halo keeps details and notes as HTML: the text an engineer reads."""
    text = str(value or "")
    if "<" in text:
        text = _TAG.sub("", re.sub(r"(?i)<br\s*/?>|</p>", "\n", text))
    return html.unescape(text).strip()


def _note(action: dict[str, Any]) -> TicketNote:
    return TicketNote(
        id=str(action.get("id")),
        text=_plain(action.get("note") or action.get("note_html")),
        created_at=parsed_time(action.get("datetime")),
        author=text_of(action.get("who")),
        internal=bool(action.get("hiddenfromuser", True)),
    )
