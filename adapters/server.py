"""The composition root: one aiohttp app with health checks and every adapter whose settings are present."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.claude import AnthropicClaude
from bot.handler import SessionHandler
from bot.settings import Settings
from storage.embedded import start_embedded
from storage.engine import create_engine, safe_url, session_factory
from storage.migrate import current_revision, head_revision, upgrade_to_head

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running FlowPilot shares: settings, database, the session handler."""

    settings: Settings
    db_url: str
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    handler: SessionHandler


RUNTIME = web.AppKey("runtime", Runtime)

# Each adapter: (name, is it configured?, mount function, what to set when it is off).
Mount = Callable[[web.Application, Runtime], None]


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL under FLOWPILOT_DATA_DIR when it is unset."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


@asynccontextmanager
async def open_runtime(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Runtime]:
    url = await asyncio.to_thread(database_url, settings)
    logger.info("database: %s", safe_url(url))
    if migrate:
        await upgrade_to_head(url)
    engine = create_engine(url)
    claude = None
    if settings.claude_configured:
        assert settings.anthropic_api_key is not None
        claude = AnthropicClaude(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            model=settings.model,
            timeout=settings.claude_timeout,
            max_retries=settings.claude_max_retries,
        )
    else:
        logger.warning("Claude is off: set ANTHROPIC_API_KEY to let FlowPilot answer")
    db = session_factory(engine)
    handler = SessionHandler(
        db=db,
        claude=claude,
        lease_seconds=settings.lease_seconds,
        lease_wait_seconds=settings.lease_wait_seconds,
    )
    try:
        yield Runtime(settings=settings, db_url=url, engine=engine, db=db, handler=handler)
    finally:
        await engine.dispose()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        current = await current_revision(runtime.engine)
    except Exception as err:  # any database failure means "not ready", never a 500
        logger.warning("readiness check failed: %s", type(err).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    head = head_revision()
    if current != head:
        return web.json_response(
            {"status": "unavailable", "migrations": {"current": current, "head": head}}, status=503
        )
    return web.json_response({"status": "ok", "migrations": {"current": current}})


def adapters() -> list[tuple[str, Callable[[Settings], bool], str, Callable[[], Mount]]]:
    """The chat and API adapters, imported only when configured (only this root knows them all)."""
    return []


def build_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=25 * 1024 * 1024)
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    for name, configured, missing, load in adapters():
        if configured(runtime.settings):
            load()(app, runtime)
            logger.info("%s adapter on", name)
        else:
            logger.info("%s adapter off: %s", name, missing)
    return app


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    async with open_runtime(settings) as runtime:
        app = build_app(runtime)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        logger.info("FlowPilot listening on http://%s:%d", settings.host, settings.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logger.info(
            "shutting down: letting turns in flight finish (up to %ss)", settings.shutdown_grace_seconds
        )
        await runtime.handler.shutdown(settings.shutdown_grace_seconds)
        await runner.cleanup()
