"""A fake HaloPSA: client-credentials tokens that expire, tickets, actions (notes), statuses and teams.

Auth as the real one: `POST /auth/token` (form: grant_type=client_credentials, client_id, client_secret,
scope; `?tenant=` when the fake has one) hands out bearer tokens with `expires_in`; an unknown, revoked or expired
token gets 401. `POST /api/Actions` and `POST /api/Tickets` take arrays, as Halo's do; posting a ticket id that
does not exist creates a ticket, as Halo does (so a client must check first).
"""

from __future__ import annotations

import html
import itertools
import secrets
import time
from typing import Any

from aiohttp import web

from fakes.psa.base import FakePsa, Refused, SeedTicket, body_of

STATUSES = [(1, "New"), (2, "In Progress"), (3, "Waiting on User"), (18, "Resolved"), (9, "Closed")]
TEAMS = ["Service Desk", "Projects", "Network"]


class FakeHaloPsa(FakePsa):
    name = "HaloPSA"

    def __init__(
        self,
        *,
        client_id: str = "9d8c7b6a-halo-client",
        client_secret: str = "HaloS3cret-000111",
        tenant: str | None = "contoso",
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret, self.tenant = client_id, client_secret, tenant
        self.token_lifetime = 3600  # seconds, the expires_in of each new token
        self.tokens: dict[str, float] = {}  # token → when it expires (time.monotonic())
        self.tickets: dict[int, dict[str, Any]] = {}
        self.actions: dict[int, dict[str, Any]] = {}
        self.statuses = [{"id": i, "name": n, "type": 1, "colour": "#2f80ed"} for i, n in STATUSES]
        self.teams = [{"id": i + 1, "name": n, "department_id": 1} for i, n in enumerate(TEAMS)]
        self._ids = itertools.count(5001)

    # ---- seeding and reading back ----------------------------------------------------------------------

    def add_ticket(self, seed: SeedTicket) -> dict[str, Any]:
        if seed.board not in {t["name"] for t in self.teams}:
            self.teams.append({"id": len(self.teams) + 1, "name": seed.board, "department_id": 1})
        ticket = {
            "id": seed.number,
            "summary": seed.title,
            "details": f"<p>{html.escape(seed.description)}</p>" if seed.description else "",
            "client_id": 12,
            "client_name": seed.company,
            "site_id": 34 if seed.site else None,
            "site_name": seed.site,
            "user_id": 56 if seed.contact else None,
            "user_name": seed.contact,
            "team": seed.board,
            "team_id": next(t["id"] for t in self.teams if t["name"] == seed.board),
            "status_id": next(s["id"] for s in self.statuses if s["name"] == seed.status),
            "priority_id": 3,
            "priority": {"id": 3, "name": seed.priority, "slaid": 1},
            "assets": [
                {
                    "id": next(self._ids),
                    "inventory_number": name,
                    "key_field": name,
                    "assettype_name": "Workstation",
                }
                for name in seed.configurations
            ],
        }
        self.tickets[seed.number] = ticket
        for text in seed.notes:
            self._add_action(seed.number, {"note": text, "outcome": "Private Note", "hiddenfromuser": True})
        return ticket

    def notes(self, number: int) -> list[dict[str, Any]]:
        """The ticket's actions as stored, oldest first."""
        return [a for a in self.actions.values() if a["ticket_id"] == number]

    def status_of(self, number: int) -> str:
        return next(str(s["name"]) for s in self.statuses if s["id"] == self.tickets[number]["status_id"])

    def expire_tokens(self) -> None:
        """Every token handed out so far is now expired (as after an hour, without the wait)."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def _add_action(self, number: int, fields: dict[str, Any]) -> dict[str, Any]:
        action = {
            "id": next(self._ids),
            "ticket_id": number,
            "who": "FlowPilot API",
            "datetime": f"2026-12-01T10:{len(self.notes(number)):02d}:00",
            "note_html": f"<p>{html.escape(str(fields.get('note', '')))}</p>",
            **fields,
        }
        self.actions[action["id"]] = action
        return action

    # ---- HTTP ------------------------------------------------------------------------------------------

    def refusal(self, request: web.Request) -> web.Response | None:
        if request.path == "/auth/token":
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or self.tokens.get(token, 0.0) <= time.monotonic():
            return self.error(401, "The access token is missing, unknown or expired.")
        return None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/auth/token", self._token)
        app.router.add_get("/api/Tickets/{id:\\d+}", self._get_ticket)
        app.router.add_post("/api/Tickets", self._post_tickets)
        app.router.add_get("/api/Actions", self._get_actions)
        app.router.add_post("/api/Actions", self._post_actions)
        app.router.add_get("/api/Status", self._get_statuses)
        app.router.add_get("/api/Team", self._get_teams)

    async def _token(self, request: web.Request) -> web.Response:
        form = body_of(request)
        if not isinstance(form, dict) or form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if self.tenant is not None and request.query.get("tenant") != self.tenant:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Unknown tenant."}, status=400
            )
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return web.json_response({"error": "invalid_client"}, status=400)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.token_lifetime
        scope = form.get("scope") or "all"
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime, "scope": scope}
        )

    def _ticket(self, number: Any) -> dict[str, Any]:
        ticket = self.tickets.get(int(number)) if str(number).isdigit() else None
        if ticket is None:
            raise Refused(self.error(404, f"Ticket {number} not found."))
        return ticket

    async def _get_ticket(self, request: web.Request) -> web.Response:
        ticket = dict(self._ticket(request.match_info["id"]))
        if request.query.get("includedetails", "").lower() != "true":
            ticket.pop("assets", None)
        return web.json_response(ticket)

    async def _post_tickets(self, request: web.Request) -> web.Response:
        body = body_of(request)
        if not isinstance(body, list) or not all(isinstance(t, dict) for t in body):
            return self.error(400, "Expected an array of tickets.")
        saved = []
        for update in body:
            ticket = self.tickets.setdefault(int(update.get("id") or next(self._ids)), {"summary": ""})
            if "status_id" in update and update["status_id"] not in {s["id"] for s in self.statuses}:
                return self.error(400, "Invalid status.")
            ticket.update(update)
            saved.append(ticket)
        return web.json_response(saved[0] if len(saved) == 1 else saved, status=201)

    async def _get_actions(self, request: web.Request) -> web.Response:
        number = request.query.get("ticket_id", "")
        rows = [a for a in self.actions.values() if str(a["ticket_id"]) == number]
        rows.reverse()  # the newest first, as the ticket's timeline
        rows = rows[: int(request.query.get("count", "50"))]
        return web.json_response({"record_count": len(rows), "actions": rows})

    async def _post_actions(self, request: web.Request) -> web.Response:
        body = body_of(request)
        if not isinstance(body, list) or not body or not all(isinstance(a, dict) for a in body):
            return self.error(400, "Expected an array of actions.")
        created = []
        for action in body:
            self._ticket(action.get("ticket_id"))
            if not str(action.get("note") or "").strip():
                return self.error(400, "A note is required.")
            fields = {k: action[k] for k in ("note", "outcome", "hiddenfromuser") if k in action}
            created.append(self._add_action(int(action["ticket_id"]), fields))
        return web.json_response(created[0] if len(created) == 1 else created, status=201)

    async def _get_statuses(self, request: web.Request) -> web.Response:
        return web.json_response(self.statuses)

    async def _get_teams(self, request: web.Request) -> web.Response:
        return web.json_response(self.teams)
