"""A connection budget: one process never holds more than FLOWPILOT_DB_POOL_SIZE connections, the change
listener's included, however many engineers start sessions at once; and a command that cannot get one in
time is told FlowPilot is busy, never an internal error."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url

from adapters.runtime import open_runtime
from bot import messages as msg
from bot.commands import Actor, StartSession
from bot.events import AssistantTurn, Notice, SessionStarted
from bot.handler import SessionHandler
from fakes.anthropic import FakeAnthropic
from storage.engine import create_engine, session_factory
from tests.conftest import _asyncpg_dsn, app_settings, collect, make_claude

BUDGET = 4
SESSIONS = 40


async def _connections(admin: asyncpg.Connection, database: str) -> int:
    return int(
        await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database) or 0
    )


async def test_forty_sessions_at_once_stay_within_the_budget_and_all_are_answered(
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
    )
    admin = await asyncpg.connect(_asyncpg_dsn(pg_admin_url))
    try:
        async with open_runtime(settings, migrate=False) as runtime:
            actors = [
                Actor(platform="slack", workspace_id="T-LOAD", user_id=f"U{i:03d}", display_name=f"E{i}")
                for i in range(SESSIONS)
            ]
            load = asyncio.gather(
                *(
                    collect(runtime.handler.handle(StartSession(actor=a, text=f"VPN drops on laptop {i}")))
                    for i, a in enumerate(actors)
                )
            )
            # Sampled back to back for as long as the load runs (the sampler's own connection is to another
            # database, so it is not counted).
            seen = [await _connections(admin, database)]
            while not load.done():
                seen.append(await _connections(admin, database))
                await asyncio.wait({load}, timeout=0)
            results = await load
    finally:
        await admin.close()

    assert max(seen) <= BUDGET, f"at most {BUDGET} connections, saw up to {max(seen)}"
    assert max(seen) >= 2, "the sampler saw the load (the listener and at least one statement)"
    for events in results:
        assert any(isinstance(e, SessionStarted) for e in events)
        assert any(isinstance(e, AssistantTurn) for e in events), [
            e.text for e in events if isinstance(e, Notice)
        ]


async def test_no_free_connection_in_time_is_a_busy_notice(
    db_url: str, fake_claude: FakeAnthropic, alice: Actor
) -> None:
    engine = create_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    handler = SessionHandler(
        db=session_factory(engine), claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=5
    )
    try:
        async with engine.connect():  # the budget's only connection, busy elsewhere
            events = await collect(handler.handle(StartSession(actor=alice, text="Printer offline")))
        notices = [e for e in events if isinstance(e, Notice)]
        assert [(n.code, n.text) for n in notices] == [("busy", msg.DATABASE_BUSY)]
        # Once a connection is free again, the same start goes through.
        events = await collect(handler.handle(StartSession(actor=alice, text="Printer offline")))
        assert any(isinstance(e, AssistantTurn) for e in events)
    finally:
        await engine.dispose()
