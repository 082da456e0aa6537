"""Reliability fixtures: `flowpilot serve` as a real subprocess (to kill -9), and helpers shared by the suite."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.harness import Server, flowpilot
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from storage.models import AISession, AISessionStep
from tests.api.conftest import api  # noqa: F401  (fixtures shared with the API suite)
from tests.slack.conftest import SECRET, SlackHarness, fake_slack, slack  # noqa: F401  (fixtures shared with the Slack suite)
from tests.teams.conftest import connector, teams  # noqa: F401  (fixtures shared with the Teams suite)

LEASE_SECONDS = 2


@dataclass
class _DbOnly:
    """What SlackHarness needs of a runtime when the app runs in another process: the database."""

    db: async_sessionmaker[AsyncSession]


@dataclass
class Served:
    """`flowpilot serve` in a subprocess on this test's database, talking to the fakes of this test."""

    server: Server
    slack: SlackHarness
    db: async_sessionmaker[AsyncSession]

    async def start(self) -> None:
        await self.server.start(ready_path="/readyz", timeout=60)

    async def kill(self) -> None:
        """kill -9: no shutdown hook runs, leases stay taken, streams stay open."""
        proc = self.server.proc
        assert proc is not None and proc.returncode is None
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()

    def log(self) -> str:
        return self.server.log.read_text() if self.server.log else ""


def serve_env(db_url: str, fake_claude: FakeAnthropic, slack_api: FakeSlack) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_api.api_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": fake_claude.base_url,
        "FLOWPILOT_MODEL": "claude-test",
        "FLOWPILOT_CLAUDE_MAX_RETRIES": "0",
        "FLOWPILOT_LEASE_SECONDS": str(LEASE_SECONDS),
        "FLOWPILOT_LEASE_WAIT_SECONDS": "15",
        "FLOWPILOT_SHUTDOWN_GRACE_SECONDS": "1",
        "FLOWPILOT_LOG_LEVEL": "INFO",
    }


@pytest.fixture
async def served(
    db_url: str,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeAnthropic,
    fake_slack: FakeSlack,  # noqa: F811  (the Slack suite's fixture)
) -> AsyncIterator[Served]:
    server = flowpilot(serve_env(db_url, fake_claude, fake_slack), name="reliability")
    async with aiohttp.ClientSession() as http:
        harness = SlackHarness(server.url, _DbOnly(db), fake_slack, fake_claude, http)  # type: ignore[arg-type]  # only .db of a Runtime
        served = Served(server, harness, db)
        await served.start()
        try:
            yield served
        finally:
            await server.stop()
            if server.log:
                server.log.unlink(missing_ok=True)


# ── reading the database the way a user would notice it ──────────────────────────────────────────────
async def session_row(db: async_sessionmaker[AsyncSession], session_id: Any = None) -> AISession:
    async with db() as s:
        stmt = sa.select(AISession).order_by(AISession.created_at.desc()).limit(1)
        if session_id is not None:
            stmt = sa.select(AISession).where(AISession.id == session_id)
        row = (await s.execute(stmt)).scalar_one()
        return row


async def steps(db: async_sessionmaker[AsyncSession], session_id: Any) -> list[AISessionStep]:
    async with db() as s:
        return list(
            (
                await s.execute(
                    sa.select(AISessionStep)
                    .where(AISessionStep.session_id == session_id)
                    .order_by(AISessionStep.step_order)
                )
            )
            .scalars()
            .all()
        )


async def no_session_leased(db: async_sessionmaker[AsyncSession]) -> bool:
    """True once no session is held by a live lease (a dead process's lease has expired or been released)."""
    async with db() as s:
        held = await s.scalar(
            sa.select(sa.func.count())
            .select_from(AISession)
            .where(AISession.lease_owner.is_not(None), AISession.lease_expires_at > sa.func.now())
        )
    return held == 0


async def settle(seconds: float = 0.3) -> None:
    """Give background work a moment before asserting that something did NOT happen."""
    await asyncio.sleep(seconds)
