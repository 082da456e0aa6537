"""Teams scenario fixtures: the real app on a free port, the fake connector, fast pacing and a polling wait."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import adapters.teams.app as teams_app
from adapters.runtime import Runtime
from adapters.teams.delivery import Limits
from adapters.teams.streaming import Pace
from fakes.anthropic import FakeAnthropic
from fakes.connector import FakeConnector
from tests.conftest import app_settings, running_app

T = TypeVar("T")

# aiohttp warns when the SDK stores its configuration under a plain string key.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


@overload
async def wait_for(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, what: str = "condition"
) -> T: ...


@overload
async def wait_for(probe: Callable[[], T | None], *, timeout: float = 15.0, what: str = "condition") -> T: ...


async def wait_for(
    probe: Callable[[], T | Awaitable[T | None] | None], *, timeout: float = 15.0, what: str = "condition"
) -> T:
    """Poll until `probe` returns something truthy (background work has no completion signal)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = probe()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def fast_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        teams_app,
        "TIMING",
        teams_app.Timing(
            pace=Pace(interval=0.05, stream_limit=100.0),
            limits=Limits(ops_per_second=200.0, base_delay=0.01, max_delay=2.0),
            shutdown_grace=5.0,
        ),
    )


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


@dataclass
class Teams:
    url: str
    runtime: Runtime
    connector: FakeConnector
    claude: FakeAnthropic

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self.runtime.db

    async def post(self, activity: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/api/messages", json=activity, headers=headers) as response,
        ):
            raw = await response.text()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            return response.status, body


@pytest.fixture
async def teams(db_url: str, fake_claude: FakeAnthropic, connector: FakeConnector) -> AsyncIterator[Teams]:
    # The fake connector is on this machine: anonymous local mode, as with the Agents Playground.
    async with running_app(app_settings(db_url, fake_claude, FLOWPILOT_TEAMS_ANONYMOUS=True)) as (
        url,
        runtime,
    ):
        yield Teams(url, runtime, connector, fake_claude)
