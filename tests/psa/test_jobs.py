"""The job worker within the process's connection budget, behind PgBouncer in transaction mode, and refused
when the budget leaves it no connection."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiohttp
import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from adapters.runtime import StartupError, open_runtime
from bot.commands import Actor, StartSession
from bot.events import AssistantTurn, SessionStarted
from fakes.anthropic import FakeAnthropic
from fakes.psa.base import SeedTicket
from fakes.psa.connectwise import FakeConnectWise
from tests.api.conftest import Api
from tests.conftest import _asyncpg_dsn, app_settings, collect, running_app
from tests.slack.conftest import wait_for
from tests.test_pgbouncer import pgbouncer

from .harness import SECRET_KEY, running_with_jobs

__all__ = ["pgbouncer"]  # the fixture, for this module's tests

BUDGET = 4


async def _connections(admin: asyncpg.Connection, database: str) -> int:
    return int(
        await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database) or 0
    )


async def _worker_connected(admin: asyncpg.Connection, database: str) -> bool:
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE '%pgqueuer%'"
    return bool(await admin.fetchval(query, database))


async def test_the_worker_counts_in_the_budget_under_load(
    db_url: str, pg_admin_url: str, fake_claude: FakeAnthropic
) -> None:
    database = make_url(db_url).database
    assert database
    settings = app_settings(
        db_url,
        fake_claude,
        FLOWPILOT_DB_POOL_SIZE=BUDGET,
        FLOWPILOT_SESSIONS_PER_WORKSPACE_PER_MINUTE=0,
        FLOWPILOT_TURNS_PER_WORKSPACE_PER_MINUTE=0,
        FLOWPILOT_SECRET_KEY=SECRET_KEY,
    )
    admin = await asyncpg.connect(_asyncpg_dsn(pg_admin_url))
    try:
        async with open_runtime(settings, migrate=False, jobs=True) as runtime:
            assert runtime.worker is not None and runtime.worker.running.is_set()
            # The worker's own connection is there (its last statement is pgqueuer's), so it is in the count.
            await wait_for(lambda: _worker_connected(admin, database), what="the worker's connection")
            actors = [Actor("slack", "T-LOAD", f"U{i:03d}", f"E{i}") for i in range(30)]
            load = asyncio.gather(
                *(collect(runtime.handler.handle(StartSession(actor=a, text=f"VPN drops {i}"))) for i, a in
                  enumerate(actors))
            )  # fmt: skip
            seen = [await _connections(admin, database)]
            while not load.done():
                seen.append(await _connections(admin, database))
                await asyncio.wait({load}, timeout=0)
            results = await load
    finally:
        await admin.close()
    assert max(seen) <= BUDGET, f"at most {BUDGET} connections with the worker, saw {max(seen)}"
    for events in results:
        assert any(isinstance(e, SessionStarted) for e in events)
        assert any(isinstance(e, AssistantTurn) for e in events)


async def test_a_budget_with_no_room_for_the_worker_is_refused_at_start(
    db_url: str, fake_claude: FakeAnthropic
) -> None:
    settings = app_settings(db_url, fake_claude, FLOWPILOT_DB_POOL_SIZE=2)
    with pytest.raises(
        StartupError, match="FLOWPILOT_DB_POOL_SIZE=2 leaves no connection for the job worker"
    ):
        async with open_runtime(settings, migrate=False, jobs=True):
            pass


async def test_sessions_from_tickets_write_back_behind_pgbouncer(
    pgbouncer: str, db_url: str, fake_claude: FakeAnthropic, connectwise_fake: FakeConnectWise
) -> None:
    numbers = [7001, 7002, 7003]
    for n in numbers:
        connectwise_fake.add_ticket(
            SeedTicket(number=n, title=f"Printer {n} offline", configurations=(f"PRN-{n}",))
        )
    settings = app_settings(
        pgbouncer,
        fake_claude,
        FLOWPILOT_API_TOKENS="tok-acme@slack:T-ACME",
        FLOWPILOT_DB_PGBOUNCER=True,
        FLOWPILOT_DB_DIRECT_URL=db_url,
        FLOWPILOT_SECRET_KEY=SECRET_KEY,
    )
    async with running_with_jobs(settings) as (base, runtime), aiohttp.ClientSession() as http:
        api = Api(base, http, runtime, fake_claude, token="tok-acme")
        await runtime.psa.add(
            platform="slack",
            workspace_id="T-ACME",
            kind="connectwise",
            settings={"url": connectwise_fake.url, "company": connectwise_fake.company,
                      "public_key": connectwise_fake.public_key, "client_id": connectwise_fake.client_id},
            secret=connectwise_fake.private_key,
        )  # fmt: skip

        async def resolve_from(number: int, user: str) -> None:
            _, started = await api.call(
                "POST", "/api/ai-sessions", {"psa_ticket_id": str(number)}, user=user, expect=201
            )
            sid = started["session"]["id"]
            assert (await api.draft(sid))[-1][0] == "done"
            await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, user=user, expect=200)

        await asyncio.gather(*(resolve_from(n, f"U-{n}") for n in numbers))

        def ours(number: int) -> list[dict[str, Any]]:
            return [x for x in connectwise_fake.notes(number) if "[FlowPilot " in x["text"]]

        for n in numbers:
            await wait_for(functools.partial(ours, n), timeout=20, what=f"the note on #{n}")
        assert all(len(ours(n)) == 1 for n in numbers)


async def test_a_write_back_lost_before_or_after_it_was_recorded_is_queued_again_once(
    db_url: str, fake_claude: FakeAnthropic, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(SeedTicket(number=8001, title="Mail flow stopped"))
    settings = app_settings(
        db_url, fake_claude, FLOWPILOT_API_TOKENS="tok-acme@slack:T-ACME", FLOWPILOT_SECRET_KEY=SECRET_KEY
    )
    # No worker in this process: the job waits in pgqueuer's table.
    async with running_app(settings) as (base, runtime), aiohttp.ClientSession() as http:
        api = Api(base, http, runtime, fake_claude, token="tok-acme")
        await runtime.psa.add(
            platform="slack",
            workspace_id="T-ACME",
            kind="connectwise",
            settings={"url": connectwise_fake.url, "company": connectwise_fake.company,
                      "public_key": connectwise_fake.public_key, "client_id": connectwise_fake.client_id},
            secret=connectwise_fake.private_key,
        )  # fmt: skip
        _, started = await api.call("POST", "/api/ai-sessions", {"psa_ticket_id": "8001"}, expect=201)
        sid = started["session"]["id"]
        assert (await api.draft(sid))[-1][0] == "done"
        await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, expect=200)
        async with runtime.engine.begin() as conn:
            queued = (await conn.execute(sa.text("SELECT dedupe_key FROM pgqueuer"))).scalars().all()
            assert len(queued) == 1 and queued[0].startswith("psa:"), "queued with the confirm"
            assert await runtime.writebacks.sweep(older_than=0) == 0, "a queued job is not queued twice"
            await conn.execute(sa.text("DELETE FROM pgqueuer"))  # the job is lost
        assert await runtime.writebacks.sweep(older_than=0) == 1
        assert await runtime.writebacks.sweep(older_than=0) == 0

        # A process that died between the confirm's commit and recording its write-back: the sweep records it.
        async with runtime.engine.begin() as conn:
            await conn.execute(sa.text("DELETE FROM pgqueuer"))
            await conn.execute(sa.text("DELETE FROM psa_writebacks"))
        assert await runtime.writebacks.sweep(older_than=0) == 1
        async with runtime.engine.begin() as conn:
            rows = (
                await conn.execute(sa.text("SELECT state, ticket_number, note_text FROM psa_writebacks"))
            ).all()
            jobs = (await conn.execute(sa.text("SELECT dedupe_key FROM pgqueuer"))).scalars().all()
        assert len(rows) == 1 and rows[0].state == "pending" and rows[0].ticket_number == "8001"
        assert rows[0].note_text.rstrip().splitlines()[-1].startswith("[FlowPilot ")
        assert len(jobs) == 1
        assert await runtime.writebacks.sweep(older_than=0) == 0
