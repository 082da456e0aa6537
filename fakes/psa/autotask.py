"""A fake Autotask PSA REST API v1.0: zone lookup, tickets, notes, their picklists, companies and configuration items.

Auth as the real one: the `ApiIntegrationCode`, `UserName` and `Secret` headers on every call but the zone lookup
(`zoneInformation?user=`, which answers with the zone's API and web URLs: here, this server). Items come as
`{"item": …}` (`{"item": null}` for an unknown id), lists as `{"items": […], "pageDetails": …}`, writes answer
`{"itemId": n}`, errors `{"errors": ["…"]}`. Picklist values are deliberately not the ones of any real instance.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from fakes.psa.autotask_data import PICKLISTS, entity_fields, matches
from fakes.psa.base import FakePsa, Refused, SeedTicket, body_of

ROOT = "/atservicesrest/v1.0"


class FakeAutotask(FakePsa):
    name = "Autotask"

    def __init__(
        self,
        *,
        username: str = "flowpilot-api@contoso.example",
        secret: str = "At$ecret-789",
        integration_code: str = "INTEGRATIONCODE42",
    ) -> None:
        super().__init__()
        self.username, self.secret, self.integration_code = username, secret, integration_code
        self.picklists: dict[str, dict[str, list[dict[str, Any]]]] = {
            entity: {name: [dict(v) for v in values] for name, values in fields.items()}
            for entity, fields in PICKLISTS.items()
        }
        self.entities: dict[str, dict[int, dict[str, Any]]] = {
            "Tickets": {},
            "TicketNotes": {},
            "Companies": {0: {"id": 0, "companyName": "Contoso IT Services", "companyType": 5}},
            "Contacts": {},
            "CompanyLocations": {},
            "ConfigurationItems": {},
            "TicketAdditionalConfigurationItems": {},
        }
        self._ids = itertools.count(30_000_001)
        self.zone_answer: dict[str, Any] | None = None  # set: the zone lookup answers this instead

    # ---- seeding and reading back ----------------------------------------------------------------------

    def value_of(self, entity: str, field: str, label: str) -> int:
        """The picklist value of `label`; a seed's new queue is added to the picklist."""
        values = self.picklists[entity][field]
        for value in values:
            if value["label"] == label:
                return int(value["value"])
        if field != "queueID":
            raise KeyError(f"no {field} labelled {label!r}")
        new = next(self._ids)
        values.append({"value": str(new), "label": label, "isActive": True, "isDefaultValue": False})
        return new

    def label_of(self, entity: str, field: str, value: Any) -> str:
        return next(str(v["label"]) for v in self.picklists[entity][field] if v["value"] == str(value))

    def _store(self, entity: str, **item: Any) -> int:
        item_id = int(item.pop("id", None) or next(self._ids))
        self.entities[entity][item_id] = {"id": item_id, **item}
        return item_id

    def add_ticket(self, seed: SeedTicket) -> dict[str, Any]:
        company = self._store("Companies", companyName=seed.company, companyType=1)
        first, _, last = (seed.contact or "").partition(" ")
        contact = (
            self._store("Contacts", companyID=company, firstName=first, lastName=last)
            if seed.contact
            else None
        )
        site = self._store("CompanyLocations", companyID=company, name=seed.site) if seed.site else None
        items = [
            self._store("ConfigurationItems", companyID=company, referenceTitle=c)
            for c in seed.configurations
        ]
        self._store(
            "Tickets",
            id=seed.number,
            ticketNumber=f"T20261201.{len(self.entities['Tickets']) + 1:04d}",
            title=seed.title,
            description=seed.description,
            status=self.value_of("Tickets", "status", seed.status),
            priority=self.value_of("Tickets", "priority", seed.priority),
            queueID=self.value_of("Tickets", "queueID", seed.board),
            companyID=company,
            contactID=contact,
            companyLocationID=site,
            configurationItemID=items[0] if items else None,
        )
        for item in items[1:]:
            self._store("TicketAdditionalConfigurationItems", ticketID=seed.number, configurationItemID=item)
        for text in seed.notes:
            self._add_note(
                seed.number, {"title": text[:30], "description": text, "noteType": 102, "publish": 2}
            )
        return self.entities["Tickets"][seed.number]

    def ticket_number(self, number: int) -> str:
        return str(self.entities["Tickets"][number]["ticketNumber"])

    def notes(self, number: int) -> list[dict[str, Any]]:
        """The ticket's notes as stored, oldest first."""
        return [n for n in self.entities["TicketNotes"].values() if n["ticketID"] == number]

    def status_of(self, number: int) -> str:
        return self.label_of("Tickets", "status", self.entities["Tickets"][number]["status"])

    def _add_note(self, number: int, fields: dict[str, Any]) -> int:
        stamp = f"2026-12-01T10:{len(self.notes(number)):02d}:00.000Z"
        return self._store(
            "TicketNotes", ticketID=number, createDateTime=stamp, creatorResourceID=29682885, **fields
        )

    # ---- HTTP ------------------------------------------------------------------------------------------

    def error(self, status: int, message: str) -> web.Response:
        return web.json_response({"errors": [message]}, status=status)

    def refusal(self, request: web.Request) -> web.Response | None:
        if request.path == f"{ROOT}/zoneInformation":
            return None
        sent = (request.headers.get(h) for h in ("ApiIntegrationCode", "UserName", "Secret"))
        if tuple(sent) != (self.integration_code, self.username, self.secret):
            return self.error(401, "Unauthorized")
        return None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"{ROOT}/zoneInformation", self._zone)
        app.router.add_get(ROOT + "/{entity}/entityInformation/fields", self._fields)
        app.router.add_post(ROOT + "/{entity}/query", self._query)
        app.router.add_get(ROOT + "/Tickets/{id:\\d+}/Notes", self._ticket_notes)
        app.router.add_post(ROOT + "/Tickets/{id:\\d+}/Notes", self._post_note)
        app.router.add_get(ROOT + "/Tickets/{id:\\d+}/AdditionalConfigurationItems", self._additional_items)
        app.router.add_patch(f"{ROOT}/Tickets", self._patch_ticket)
        app.router.add_get(ROOT + "/{entity}/{id:\\d+}", self._item)

    async def _zone(self, request: web.Request) -> web.Response:
        if request.query.get("user", "").lower() != self.username.lower():
            return self.error(404, "Zone information could not be determined for this user.")
        if self.zone_answer is not None:
            return web.json_response(self.zone_answer)
        return web.json_response(
            {
                "zoneName": "Fake Zone 5",
                "url": f"{self.url}/atservicesrest/",
                "webUrl": f"{self.url}/",
                "ci": 7,
            }
        )

    def _entity(self, request: web.Request) -> dict[int, dict[str, Any]]:
        name = request.match_info["entity"]
        if name not in self.entities:
            raise Refused(self.error(404, f"Unknown entity {name}."))
        return self.entities[name]

    async def _fields(self, request: web.Request) -> web.Response:
        name = request.match_info["entity"]
        if name not in self.picklists:
            return self.error(404, f"Unknown entity {name}.")
        return web.json_response({"fields": entity_fields(self.picklists[name])})

    async def _item(self, request: web.Request) -> web.Response:
        return web.json_response({"item": self._entity(request).get(int(request.match_info["id"]))})

    async def _query(self, request: web.Request) -> web.Response:
        rows = self._entity(request)
        body = body_of(request)
        if not isinstance(body, dict) or not isinstance(body.get("filter"), list) or not body["filter"]:
            return self.error(400, "A query needs a non-empty filter.")
        try:
            found = [row for row in rows.values() if all(matches(row, f) for f in body["filter"])]
        except ValueError as exc:
            return self.error(400, str(exc))
        return web.json_response(_items(found))

    def _ticket(self, request: web.Request) -> dict[str, Any]:
        ticket = self.entities["Tickets"].get(int(request.match_info["id"]))
        if ticket is None:
            raise Refused(self.error(404, "Parent entity not found."))
        return ticket

    async def _ticket_notes(self, request: web.Request) -> web.Response:
        return web.json_response(_items(self.notes(self._ticket(request)["id"])))

    async def _additional_items(self, request: web.Request) -> web.Response:
        number = self._ticket(request)["id"]
        rows = self.entities["TicketAdditionalConfigurationItems"].values()
        return web.json_response(_items([r for r in rows if r["ticketID"] == number]))

    async def _post_note(self, request: web.Request) -> web.Response:
        ticket = self._ticket(request)
        body = body_of(request)
        if not isinstance(body, dict) or not body.get("title") or not body.get("description"):
            return self.error(500, "Title and Description are required.")  # Autotask answers 500 here
        for field in ("noteType", "publish"):
            if str(body.get(field)) not in {v["value"] for v in self.picklists["TicketNotes"][field]}:
                return self.error(500, f"Value {body.get(field)} does not exist for {field}.")
        fields = {k: body[k] for k in ("title", "description", "noteType", "publish")}
        return web.json_response({"itemId": self._add_note(ticket["id"], fields)})

    async def _patch_ticket(self, request: web.Request) -> web.Response:
        body = body_of(request)
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            return self.error(500, "The id of the ticket to update is required.")
        ticket = self.entities["Tickets"].get(body["id"])
        if ticket is None:
            return self.error(404, "Entity not found.")
        if "status" in body:
            if str(body["status"]) not in {
                v["value"] for v in self.picklists["Tickets"]["status"] if v["isActive"]
            }:
                return self.error(500, f"Value {body['status']} does not exist for status.")
            ticket["status"] = body["status"]
        return web.json_response({"itemId": ticket["id"]})


def _items(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "items": rows,
        "pageDetails": {"count": len(rows), "requestCount": 500, "prevPageUrl": None, "nextPageUrl": None},
    }
