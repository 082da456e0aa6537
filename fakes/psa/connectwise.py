"""A fake ConnectWise PSA (Manage) REST API 3.0: company info, tickets, notes, boards and their statuses.

Auth as the real one: `Authorization: Basic base64("{company}+{public}:{private}")` and a `clientId` header on
every API call (`/login/companyinfo/{company}` needs neither). Errors in ConnectWise's shape:
`{"code": "NotFound", "message": "…", "errors": null}`.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

from aiohttp import web

from fakes.psa.base import FakePsa, Refused, SeedTicket, body_of

CODEBASE = "v2025_1/"
_CODES = {
    400: "InvalidObject",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    429: "TooManyRequests",
}

DEFAULT_BOARDS: dict[str, list[str]] = {
    "Service Desk": ["New", "In Progress", "Waiting on Customer", "Resolved", "Closed"],
    "Projects": ["New", "Scheduled", "Done"],
}


def ref(id_: int, name: str, **more: Any) -> dict[str, Any]:
    """A ConnectWise reference object as the API nests it."""
    return {"id": id_, **more, "name": name, "_info": {"href": f"https://example.invalid/{id_}"}}


class FakeConnectWise(FakePsa):
    name = "ConnectWise"

    def __init__(
        self,
        *,
        company: str = "contoso",
        public_key: str = "pubKEY123",
        private_key: str = "privSECRET456",
        client_id: str = "0f1e2d3c-client-id",
    ) -> None:
        super().__init__()
        self.company, self.public_key, self.private_key, self.client_id = (
            company,
            public_key,
            private_key,
            client_id,
        )
        self.company_name = "Contoso IT Services"
        self.tickets: dict[int, dict[str, Any]] = {}
        self.ticket_notes: dict[int, list[dict[str, Any]]] = {}
        self.ticket_configurations: dict[int, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1001)
        self.boards: dict[int, str] = {}
        self.board_statuses: dict[int, list[dict[str, Any]]] = {}
        for board, statuses in DEFAULT_BOARDS.items():
            self.add_board(board, statuses)

    # ---- seeding and reading back ----------------------------------------------------------------------

    def add_board(self, name: str, statuses: list[str], *, inactive: tuple[str, ...] = ()) -> int:
        board_id = next(self._ids)
        self.boards[board_id] = name
        self.board_statuses[board_id] = [
            {"id": next(self._ids), "name": s, "boardId": board_id, "inactive": s in inactive}
            for s in statuses
        ]
        return board_id

    def _board_id(self, name: str) -> int:
        found = [bid for bid, bname in self.boards.items() if bname == name]
        return found[0] if found else self.add_board(name, ["New", "Closed"])

    def add_ticket(self, seed: SeedTicket) -> dict[str, Any]:
        board_id = self._board_id(seed.board)
        status = next(s for s in self.board_statuses[board_id] if s["name"] == seed.status)
        ticket: dict[str, Any] = {
            "id": seed.number,
            "summary": seed.title,
            "recordType": "ServiceTicket",
            "board": ref(board_id, seed.board),
            "status": ref(status["id"], status["name"], sort=0),
            "company": ref(next(self._ids), seed.company, identifier=seed.company.split()[0]),
            "priority": ref(next(self._ids), seed.priority, sort=6),
            "_info": {"lastUpdated": "2026-12-01T09:00:00Z"},
        }
        if seed.contact:
            ticket["contact"] = ref(next(self._ids), seed.contact)
            ticket["contactName"] = seed.contact
        if seed.site:
            ticket["site"] = ref(next(self._ids), seed.site)
            ticket["siteName"] = seed.site
        self.tickets[seed.number] = ticket
        # The description is the ticket's first note, flagged "detail description", as the web UI makes it.
        self.ticket_notes[seed.number] = []
        if seed.description:
            self._add_note(seed.number, seed.description, detail=True, internal=False, resolution=False)
        for text in seed.notes:
            self._add_note(seed.number, text, detail=False, internal=True, resolution=False)
        self.ticket_configurations[seed.number] = [
            {"id": next(self._ids), "deviceIdentifier": name, "_info": {}} for name in seed.configurations
        ]
        return ticket

    def notes(self, number: int) -> list[dict[str, Any]]:
        """The ticket's notes as the API stores them, oldest first."""
        return list(self.ticket_notes.get(number, []))

    def status_of(self, number: int) -> str:
        return str(self.tickets[number]["status"]["name"])

    def _add_note(
        self, number: int, text: str, *, detail: bool, internal: bool, resolution: bool
    ) -> dict[str, Any]:
        note = {
            "id": next(self._ids),
            "ticketId": number,
            "text": text,
            "detailDescriptionFlag": detail,
            "internalAnalysisFlag": internal,
            "resolutionFlag": resolution,
            "member": ref(7, "FlowPilot API", identifier="flowpilot"),
            "dateCreated": f"2026-12-01T10:{len(self.ticket_notes[number]):02d}:00Z",
            "createdBy": "flowpilot",
            "internalFlag": internal,
            "externalFlag": detail,
        }
        self.ticket_notes[number].append(note)
        return note

    # ---- HTTP ------------------------------------------------------------------------------------------

    def error(self, status: int, message: str) -> web.Response:
        code = _CODES.get(status, "InternalServerError" if status >= 500 else "Error")
        return web.json_response({"code": code, "message": message, "errors": None}, status=status)

    def refusal(self, request: web.Request) -> web.Response | None:
        if request.path.startswith("/login/"):
            return None
        login = f"{self.company}+{self.public_key}:{self.private_key}"
        expected = "Basic " + base64.b64encode(login.encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self.error(401, "Authentication failed.")
        if request.headers.get("clientId") != self.client_id:
            return self.error(401, "clientId is missing or not valid.")
        return None

    def add_routes(self, app: web.Application) -> None:
        api = f"/{CODEBASE}apis/3.0"
        app.router.add_get("/login/companyinfo/{company}", self._company_info)
        app.router.add_get(f"{api}/system/info", self._system_info)
        app.router.add_get(api + "/service/tickets/{id:\\d+}", self._get_ticket)
        app.router.add_patch(api + "/service/tickets/{id:\\d+}", self._patch_ticket)
        app.router.add_get(api + "/service/tickets/{id:\\d+}/configurations", self._get_configurations)
        app.router.add_get(api + "/service/tickets/{id:\\d+}/notes", self._get_notes)
        app.router.add_post(api + "/service/tickets/{id:\\d+}/notes", self._post_note)
        app.router.add_get(f"{api}/service/boards", self._get_boards)
        app.router.add_get(api + "/service/boards/{id:\\d+}/statuses", self._get_statuses)

    async def _company_info(self, request: web.Request) -> web.Response:
        if request.match_info["company"].lower() != self.company.lower():
            # The real one answers an unknown company with nulls rather than a 404.
            return web.json_response({"CompanyName": None, "Codebase": None, "VersionCode": None})
        return web.json_response(
            {
                "CompanyName": self.company_name,
                "Codebase": CODEBASE,
                "VersionCode": "v2025.1",
                "VersionNumber": "v4.6.2025",
                "CompanyID": self.company,
                "IsCloud": True,
                "SiteUrl": "na.myconnectwise.net",
            }
        )

    async def _system_info(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "v2025.1.12345", "isCloud": True, "serverTimeZone": "UTC"})

    def _ticket(self, request: web.Request) -> dict[str, Any]:
        number = int(request.match_info["id"])
        if number not in self.tickets:
            raise Refused(self.error(404, f"Ticket {number} not found"))
        return self.tickets[number]

    async def _get_ticket(self, request: web.Request) -> web.Response:
        return web.json_response(self._ticket(request))

    async def _get_configurations(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        return web.json_response(self.ticket_configurations[ticket["id"]])

    async def _get_notes(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        notes = list(self.ticket_notes[ticket["id"]])
        conditions = request.query.get("conditions", "").replace(" ", "")
        if conditions:
            field, _, value = conditions.partition("=")
            if field not in (
                "detailDescriptionFlag",
                "internalAnalysisFlag",
                "resolutionFlag",
            ) or value not in (
                "true",
                "false",
            ):
                return self.error(400, "conditions: this fake knows only '<note flag>=true|false'.")
            notes = [n for n in notes if n[field] == (value == "true")]
        if request.query.get("orderBy", "").lower() == "id desc":
            notes.reverse()
        return web.json_response(_page(request, notes))

    async def _post_note(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        body = body_of(request)
        if not isinstance(body, dict) or not str(body.get("text") or "").strip():
            return self.error(400, "text: Text is required.")
        flags = [
            bool(body.get(f)) for f in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")
        ]
        if not any(flags):
            return self.error(
                400, "At least one of the description, internal or resolution flags must be set."
            )
        note = self._add_note(
            ticket["id"], str(body["text"]), detail=flags[0], internal=flags[1], resolution=flags[2]
        )
        return web.json_response(note, status=201)

    async def _patch_ticket(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        operations = body_of(request)
        if not isinstance(operations, list) or not operations:
            return self.error(400, "The request must be a JSON Patch array.")
        for op in operations:
            if (
                not isinstance(op, dict)
                or op.get("op") != "replace"
                or op.get("path") not in ("status", "/status")
            ):
                return self.error(400, "Only replacing the status is supported by this fake.")
            value = op.get("value")
            status_id = value.get("id") if isinstance(value, dict) else None
            statuses = {s["id"]: s for s in self.board_statuses[ticket["board"]["id"]] if not s["inactive"]}
            if not isinstance(status_id, int) or status_id not in statuses:
                return self.error(400, "status: The status is not valid for this board.")
            ticket["status"] = ref(status_id, statuses[status_id]["name"], sort=0)
        return web.json_response(ticket)

    async def _get_boards(self, request: web.Request) -> web.Response:
        boards = [
            ref(bid, name, inactiveFlag=False)
            for bid, name in sorted(self.boards.items(), key=lambda b: b[1])
        ]
        return web.json_response(_page(request, boards))

    async def _get_statuses(self, request: web.Request) -> web.Response:
        board_id = int(request.match_info["id"])
        if board_id not in self.boards:
            return self.error(404, f"Board {board_id} not found")
        return web.json_response(_page(request, self.board_statuses[board_id]))


def _page(request: web.Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ConnectWise paging: `page` from 1, `pageSize` default 25, at most 1,000."""
    size = min(int(request.query.get("pageSize", "25")), 1000)
    page = max(int(request.query.get("page", "1")), 1)
    return rows[(page - 1) * size : page * size]
