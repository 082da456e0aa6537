"""What a running FlowPilot shares: settings, database, the session handler, change notifications.

Adapters receive a Runtime; only the composition root (server.py, cli.py) builds one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bindings import Bindings
from bot.changes import ChangeFeed
from bot.claude import AnthropicClaude, warm_up
from bot.deliveries import Deliveries
from bot.events import Notice
from bot.flows.library import FlowLibrary
from bot.flows.starter import stock
from bot.handler import SessionHandler
from bot.settings import Settings
from storage.embedded import EmbeddedStartError, start_embedded
from storage.engine import (
    DatabaseUnreachable,
    check_database,
    create_budgeted_engine,
    safe_url,
    session_factory,
)
from storage.migrate import upgrade_to_head
from storage.notify import ChangeListener

logger = logging.getLogger(__name__)

# The recovery sweep's longest interval: one indexed query over the turns in flight.
RECOVERY_SECONDS = 2.0


@dataclass
class Runtime:
    """Everything a running FlowPilot shares: settings, database, the session handler."""

    settings: Settings
    db_url: str
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    handler: SessionHandler
    # Session changes from every process (LISTEN/NOTIFY): chat adapters re-render headers from it.
    changes: ChangeListener
    # Chat adapters that tell an engineer about a turn a dead or stopped process left unfinished.
    recovered: list[Callable[[Notice], Awaitable[None]]] = field(default_factory=list)
    # The core services chat adapters use instead of storage: de-duplication, thread bindings, and the
    # session changes above as core events.
    deliveries: Deliveries = field(init=False)
    bindings: Bindings = field(init=False)
    feed: ChangeFeed = field(init=False)
    # The flows every account sees or owns: listing, matching at intake, versions, counters.
    flows: FlowLibrary = field(init=False)

    def __post_init__(self) -> None:
        self.deliveries = Deliveries(self.db)
        self.bindings = Bindings(self.db)
        self.feed = ChangeFeed(self.changes)
        self.flows = FlowLibrary(self.db)

    @property
    def recovery_interval(self) -> float:
        """How often unfinished turns are looked for: a dead process is seen at once (storage.liveness), so
        a short interval is what lets its turns be taken over within seconds of the crash."""
        return min(max(self.settings.lease_seconds / 2, 0.5), RECOVERY_SECONDS)

    async def recover(self) -> int:
        """Take over unfinished turns once and hand each notice to the adapters; returns how many."""
        notices = await self.handler.recover_unfinished()
        for notice in notices:
            for tell in self.recovered:
                try:
                    await tell(notice)
                except Exception:
                    logger.exception(
                        "could not tell about the interrupted turn of session %s", notice.session_id
                    )
        return len(notices)

    async def recover_forever(self) -> None:
        """The recovery sweep: after a crash or a restart no session stays stuck half-way, unannounced."""
        while True:
            try:
                await self.recover()
            except Exception as err:
                logger.warning("recovery sweep failed (%s); trying again later", type(err).__name__)
            await asyncio.sleep(self.recovery_interval)


class StartupError(Exception):
    """FlowPilot cannot start as configured: the message is one line saying what is wrong and how to fix it."""


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL under FLOWPILOT_DATA_DIR when it is unset."""
    if settings.database_url:
        return settings.database_url
    try:
        return start_embedded(settings.data_dir)
    except EmbeddedStartError as err:
        raise StartupError(str(err)) from err


async def ready_database(settings: Settings, *, migrate: bool = True) -> str:
    """The database's URL once it answers (and is migrated); StartupError says why it does not.

    Behind PgBouncer, the check and the migrations go to FLOWPILOT_DB_DIRECT_URL when it is set.
    """
    url = await asyncio.to_thread(database_url, settings)
    direct = settings.db_direct_url or url
    logger.info("database: %s", safe_url(url))
    if direct != url:
        logger.info("database, direct (listener, migrations): %s", safe_url(direct))
    elif settings.db_pgbouncer:
        logger.warning(
            "FLOWPILOT_DB_PGBOUNCER is on without FLOWPILOT_DB_DIRECT_URL: the change listener and the "
            "liveness lock need a session of their own; point FLOWPILOT_DB_DIRECT_URL at PostgreSQL or at a "
            "session-mode PgBouncer port"
        )
    try:
        await check_database(url)
        if direct != url:
            await check_database(direct)
    except DatabaseUnreachable as err:
        raise StartupError(str(err)) from err
    if migrate:
        await upgrade_to_head(direct)
    return url


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, migrate: bool = True, listen: bool = True
) -> AsyncIterator[Runtime]:
    url = await ready_database(settings, migrate=migrate)
    # One pool for everything a turn does (ORM and storage.raw), the listener the budget's last connection.
    engine = create_budgeted_engine(url, budget=settings.db_pool_size, pgbouncer=settings.db_pgbouncer)
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
        await warm_up(claude)  # the SDK's first-use cost, paid before the first engineer's turn
    else:
        logger.warning("Claude is off: set ANTHROPIC_API_KEY to let FlowPilot answer")
    db = session_factory(engine)
    handler = SessionHandler(
        db=db,
        claude=claude,
        lease_seconds=settings.lease_seconds,
        lease_wait_seconds=settings.lease_wait_seconds,
        limits=settings.limits,
        flows=FlowLibrary(db),
    )
    if migrate:  # a process that set the database up stocks the starter flows too (idempotent)
        await stock(FlowLibrary(db))
    changes = ChangeListener(settings.db_direct_url or url, owner=handler.owner)
    if listen:
        await changes.start()
    try:
        yield Runtime(settings=settings, db_url=url, engine=engine, db=db, handler=handler, changes=changes)
    finally:
        await changes.stop()
        if claude is not None:
            await claude.close()
        await engine.dispose()
