"""Shared fixtures: a real PostgreSQL per test, the fake Anthropic server, the session handler.

The database is the embedded PostgreSQL, or the server TEST_DATABASE_URL points at. Migrations are applied
once, the way production applies them, to a template database; each test gets its own copy of it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.runtime import Runtime, open_runtime
from adapters.server import RUNNER_OPTIONS, build_app
from bot.anthropic_claude import AnthropicClaude
from bot.commands import Actor
from bot.handler import SessionHandler
from bot.settings import Settings
from fakes.anthropic import FakeAnthropic
from storage.embedded import start_embedded
from storage.engine import create_engine, normalize_url, session_factory
from storage.migrate import upgrade_to_head

TEMPLATE = f"fp_template_{os.getpid()}"

T = TypeVar("T")


def _with_database(url: str, database: str) -> str:
    return make_url(normalize_url(url)).set(database=database).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    """asyncpg's own DSN (no +asyncpg driver suffix) for admin statements."""
    return _with_database(url, make_url(normalize_url(url)).database or "postgres").replace(
        "postgresql+asyncpg://", "postgresql://"
    )


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL to a database on the test server from which others are created."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return normalize_url(configured)
    data_dir = Path("/tmp") / f"flowpilot-test-pg-{os.getpid()}"
    return start_embedded(data_dir, database="postgres", delete_on_exit=True)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template_db(pg_admin_url: str) -> AsyncIterator[str]:
    await _admin(
        pg_admin_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)', f'CREATE DATABASE "{TEMPLATE}"'
    )
    await upgrade_to_head(_with_database(pg_admin_url, TEMPLATE))
    yield TEMPLATE
    await _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')


@pytest.fixture
async def db_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    name = f"fp_test_{uuid.uuid4().hex[:12]}"
    await _admin(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _with_database(pg_admin_url, name)
    await _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(db_url, pool_size=5, max_overflow=5)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def fake_claude() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


_claudes: list[AnthropicClaude] = []


def make_claude(fake: FakeAnthropic, **kwargs: object) -> AnthropicClaude:
    params: dict[str, Any] = {
        "api_key": "test-key",
        "base_url": fake.base_url,
        "model": "claude-test",
        "max_retries": 0,
    }
    params.update(kwargs)
    claude = AnthropicClaude(**params)
    _claudes.append(claude)
    return claude


@pytest.fixture(autouse=True)
async def _close_claudes() -> AsyncIterator[None]:
    """The Claude clients a test made close their connections when it ends."""
    yield
    while _claudes:
        await _claudes.pop().close()


@pytest.fixture
def handler(db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic) -> SessionHandler:
    return SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=10)


@pytest.fixture
def alice() -> Actor:
    return Actor(platform="slack", workspace_id="T-ACME", user_id="U-ALICE", display_name="Alice")


@pytest.fixture
def bob() -> Actor:
    return Actor(platform="slack", workspace_id="T-ACME", user_id="U-BOB", display_name="Bob")


@pytest.fixture
def mallory() -> Actor:
    """A user of another workspace."""
    return Actor(platform="slack", workspace_id="T-EVIL", user_id="U-MAL", display_name="Mallory")


async def collect(agen: AsyncIterator[T]) -> list[T]:
    return [event async for event in agen]


def app_settings(db_url: str, fake: FakeAnthropic, **overrides: object) -> Settings:
    """Settings for an app under test: this test's database and the fake Anthropic, nothing from .env."""
    values: dict[str, Any] = {
        "DATABASE_URL": db_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": fake.base_url,
        "FLOWPILOT_MODEL": "claude-test",
        "FLOWPILOT_CLAUDE_MAX_RETRIES": 0,
        "FLOWPILOT_LEASE_WAIT_SECONDS": 10,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # pydantic-settings' init keyword, unseen by mypy


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[str, Runtime]]:
    """The real aiohttp app of `flowpilot serve`, on a free port; yields its base URL and runtime."""
    async with open_runtime(settings, migrate=False) as runtime:
        app = build_app(runtime)
        runner = web.AppRunner(app, **RUNNER_OPTIONS)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}", runtime
        finally:
            await runtime.handler.shutdown(5)
            await runner.cleanup()
