"""GET /api/ai-sessions: filters and cursor pagination, scoped to the token's account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AISession
from tests.api.conftest import Api

from .conftest import EVIL


async def _all_pages(api: Api, query: dict[str, Any], limit: int = 2) -> list[dict[str, Any]]:
    items, cursor, pages = [], None, 0
    while True:
        params = [*query.items(), ("limit", limit)] + ([("cursor", cursor)] if cursor else [])
        _, page = await api.call("GET", f"/api/ai-sessions?{urlencode(params)}", expect=200)
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        assert len(page["items"]) <= limit
        if cursor is None:
            return items
        assert pages < 20


async def test_pages_and_filters(api: Api, db: async_sessionmaker[AsyncSession]) -> None:
    made = []
    for n, (user, client) in enumerate(
        [
            ("U-ALICE", "Contoso"),
            ("U-ALICE", "Fabrikam"),
            ("U-BOB", "Contoso Ltd"),
            ("U-BOB", None),
            ("U-ALICE", "Northwind"),
        ]
    ):
        _, data = await api.call(
            "POST", "/api/ai-sessions", {"text": f"Problem {n}: the VPN drops"}, user=user, expect=201
        )
        sid = data["session"]["id"]
        made.append(sid)
        if client:
            await api.call("PATCH", f"/api/ai-sessions/{sid}/triage", {"client_name": client}, expect=200)
    await api.call(
        "POST", f"/api/ai-sessions/{made[1]}/resolve",
        {"root_cause": "r", "steps_taken": "s", "recommendations": "x"}, expect=200,
    )  # fmt: skip
    await api.call(
        "POST", f"/api/ai-sessions/{made[2]}/escalate", {"root_cause": "r", "steps_taken": "s"}, expect=200
    )
    # Spread the creation times so the range filter has something to cut.
    base = datetime(2026, 11, 1, tzinfo=UTC)
    async with db() as s, s.begin():
        for n, sid in enumerate(made):
            await s.execute(
                sa.update(AISession).where(AISession.id == sid).values(created_at=base + timedelta(days=n))
            )
    # Another account's session never shows up.
    await api.call("POST", "/api/ai-sessions", {"text": "Their printer"}, token=EVIL, expect=201)

    everything = await _all_pages(api, {})
    assert [i["id"] for i in everything] == made[::-1]  # newest first, each exactly once across pages
    assert [i["id"] for i in await _all_pages(api, {}, limit=100)] == made[::-1]

    mine = await _all_pages(api, {"user": "U-ALICE"})
    assert {i["id"] for i in mine} == {made[0], made[1], made[4]} and {i["owner_user_id"] for i in mine} == {
        "U-ALICE"
    }
    contoso = await _all_pages(api, {"client": "contoso"})
    assert {i["id"] for i in contoso} == {made[0], made[2]}
    assert await _all_pages(api, {"client": "%"}) == []  # a literal, not a wildcard

    _, closed = await api.call(
        "GET", "/api/ai-sessions?status=resolved&status=requesting_escalation", expect=200
    )
    assert {i["id"]: i["status"] for i in closed["items"]} == {
        made[1]: "resolved",
        made[2]: "requesting_escalation",
    }
    _, open_ = await api.call("GET", "/api/ai-sessions?status=active", expect=200)
    assert {i["id"] for i in open_["items"]} == {made[0], made[3], made[4]}

    window = await _all_pages(
        api,
        {
            "created_after": (base + timedelta(days=1)).isoformat(),
            "created_before": (base + timedelta(days=3)).isoformat(),
        },
    )
    assert [i["id"] for i in window] == [made[2], made[1]]  # after is inclusive, before exclusive
    both = await _all_pages(api, {"user": "U-BOB", "status": "active"})
    assert [i["id"] for i in both] == [made[3]]

    _, theirs = await api.call("GET", "/api/ai-sessions", token=EVIL, expect=200)
    assert len(theirs["items"]) == 1 and theirs["items"][0]["id"] not in made
