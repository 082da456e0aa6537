"""What a running FlowPilot shares: settings, database, the session handler, change notifications.

Adapters receive a Runtime; only the composition root (server.py, cli.py) builds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bindings import Bindings
from bot.changes import ChangeFeed, SessionChange
from bot.deliveries import Deliveries
from bot.events import Notice
from bot.flows.library import FlowLibrary
from bot.flows.starter import stock
from bot.handler import SessionHandler
from bot.psa import PsaConnector
from bot.psa_connections import ConnectionSpec, PsaConnections
from bot.psa_intake import Tickets
from bot.psa_secrets import SecretBox
from bot.psa_writeback import CHANGE_KIND as WRITEBACK_CHANGE
from bot.psa_writeback import ENTRYPOINT as WRITEBACK_JOB
from bot.psa_writeback import WriteBacks
from bot.settings import Settings
from storage.embedded import EmbeddedStartError, start_embedded
from storage.engine import (
    DatabaseUnreachable,
    check_database,
    create_budgeted_engine,
    create_engine,
    safe_url,
    session_factory,
)
from storage.jobs import Worker
from storage.migrate import upgrade_to_head
from storage.notify import ChangeListener

logger = logging.getLogger(__name__)

# The recovery sweep's longest interval: one indexed query over the turns in flight.
RECOVERY_SECONDS = 2.0
# With the job worker: its connection, the change listener's, and at least one for the pool.
JOBS_MIN_BUDGET = 3
# How often, and after how long, a PSA write-back left pending without a job is queued again.
SWEEP_SECONDS = 60.0


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
    # PSA connections and the write-back of confirmed handoffs to their tickets (bot/psa_*.py).
    psa: PsaConnections
    writebacks: WriteBacks
    # The job worker (pgqueuer), in `flowpilot serve` and `flowpilot worker`; None elsewhere.
    worker: Worker | None = None
    # Chat adapters that tell an engineer about a turn a dead or stopped process left unfinished (and about
    # a PSA write-back's outcome).
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
        self.feed.subscribe(self._writeback_told)

    async def _writeback_told(self, change: SessionChange) -> None:
        """A write-back finished (in this process's worker or another's): one process tells the thread."""
        if change.kind != WRITEBACK_CHANGE or not self.recovered:
            return  # no chat adapter here (a worker alone): leave it to a process that has one
        found = await self.writebacks.outcome(change.session_id)
        if found is None or not await self.deliveries.first("psa", found[0]):
            return
        for tell in self.recovered:
            try:
                await tell(found[1])
            except Exception:
                logger.exception("could not tell the write-back of session %s", change.session_id)

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


@asynccontextmanager
async def command_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The database for one CLI command (`flowpilot psa …`, `flowpilot flows …`): ready and migrated, two
    connections at most, PgBouncer-safe when FLOWPILOT_DB_PGBOUNCER is set; closed when the command ends."""
    url = await ready_database(settings)
    engine = create_engine(url, pool_size=2, max_overflow=0, pgbouncer=settings.db_pgbouncer)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


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


def psa_connector(spec: ConnectionSpec, *, timeout: float = 15.0) -> PsaConnector:
    """The client for one stored PSA connection (adapters/psa), imported when first needed."""
    from .psa.connect import open_connector

    return open_connector(_PSA_SETTINGS[spec.kind](spec, timeout))


def _connectwise(spec: ConnectionSpec, timeout: float) -> Any:
    from .psa.connectwise import ConnectWiseSettings

    s = spec.settings
    return ConnectWiseSettings(site=s["url"], company=s["company"], public_key=s["public_key"],
                               private_key=spec.secret, client_id=s["client_id"], timeout=timeout)  # fmt: skip


def _autotask(spec: ConnectionSpec, timeout: float) -> Any:
    from .psa.autotask import AutotaskSettings

    s = spec.settings
    return AutotaskSettings(username=s["username"], integration_code=s["integration_code"], secret=spec.secret,
                            zone_url=s.get("url"), timeout=timeout)  # fmt: skip


def _halopsa(spec: ConnectionSpec, timeout: float) -> Any:
    from .psa.halopsa import HaloPsaSettings

    s = spec.settings
    return HaloPsaSettings(url=s["url"], client_id=s["client_id"], client_secret=spec.secret,
                           tenant=s.get("tenant"), auth_url=s.get("auth_url"), timeout=timeout)  # fmt: skip


# Each PSA's stored settings (bot.psa_connections.REQUIRED / OPTIONAL) as its client's settings.
_PSA_SETTINGS: dict[str, Callable[[ConnectionSpec, float], Any]] = {
    "connectwise": _connectwise,
    "autotask": _autotask,
    "halopsa": _halopsa,
}


def psa_services(
    settings: Settings, db: async_sessionmaker[AsyncSession]
) -> tuple[PsaConnections, Tickets, WriteBacks]:
    """The PSA connections, reading tickets at start, and writing notes back at confirm."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None

    def connect(spec: ConnectionSpec) -> PsaConnector:
        return psa_connector(spec, timeout=settings.psa_timeout_seconds)

    connections = PsaConnections(db=db, box=SecretBox(key), connect=connect)
    writebacks = WriteBacks(
        db=db,
        connections=connections,
        retry_seconds=settings.psa_retry_seconds,
        attempts=settings.psa_attempts,
    )
    return connections, Tickets(connections), writebacks


async def _sweep_forever(writebacks: WriteBacks) -> None:
    """Now and then, a write-back left pending without a job gets one again (bot.psa_writeback.sweep)."""
    while True:
        try:
            queued = await writebacks.sweep(older_than=SWEEP_SECONDS)
            if queued:
                logger.info("queued %d stalled PSA write-back(s) again", queued)
        except Exception as err:
            logger.warning("write-back sweep failed (%s); trying again later", type(err).__name__)
        await asyncio.sleep(SWEEP_SECONDS)


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, migrate: bool = True, listen: bool = True, jobs: bool = False
) -> AsyncIterator[Runtime]:
    """`jobs`: run the job worker here too (`flowpilot serve`, `flowpilot worker`)."""
    if jobs and settings.db_pool_size < JOBS_MIN_BUDGET:
        raise StartupError(
            f"FLOWPILOT_DB_POOL_SIZE={settings.db_pool_size} leaves no connection for the job worker: "
            f"set it to {JOBS_MIN_BUDGET} or more"
        )
    url = await ready_database(settings, migrate=migrate)
    # One pool for everything a turn does (ORM and storage.raw); the listener and the job worker (when it
    # runs here) hold the budget's last connections.
    budget = settings.db_pool_size - (1 if jobs else 0)
    engine = create_budgeted_engine(url, budget=budget, pgbouncer=settings.db_pgbouncer)
    claude = None
    if settings.claude_configured:
        # Imported here: the SDK costs over a second to import, which commands without Claude skip.
        from bot.anthropic_claude import AnthropicClaude, newest_sonnet, warm_up

        assert settings.anthropic_api_key is not None
        claude = AnthropicClaude(
            api_key=settings.anthropic_api_key.get_secret_value(),
            base_url=settings.anthropic_base_url,
            model=settings.model or newest_sonnet(),
            timeout=settings.claude_timeout,
            max_retries=settings.claude_max_retries,
        )
        await warm_up(claude)  # the SDK's first-use cost, paid before the first engineer's turn
    else:
        logger.warning("Claude is off: set ANTHROPIC_API_KEY to let FlowPilot answer")
    db = session_factory(engine)
    psa, tickets, writebacks = psa_services(settings, db)
    handler = SessionHandler(
        db=db,
        claude=claude,
        lease_seconds=settings.lease_seconds,
        lease_wait_seconds=settings.lease_wait_seconds,
        limits=settings.limits,
        flows=FlowLibrary(db),
        tickets=tickets,
        writebacks=writebacks,
    )
    if migrate:  # a process that set the database up stocks the starter flows too (idempotent)
        await stock(FlowLibrary(db))
    changes = ChangeListener(settings.db_direct_url or url, owner=handler.owner)
    worker = None
    if jobs:  # LISTEN, like the change listener: on the direct URL behind PgBouncer
        handlers = {WRITEBACK_JOB: writebacks.run}
        worker = Worker(
            settings.db_direct_url or url, handlers, heartbeat_seconds=settings.job_heartbeat_seconds
        )
    if listen:
        await changes.start()
    sweeping: asyncio.Task[None] | None = None
    try:
        if worker is not None:
            await worker.start()
            sweeping = asyncio.create_task(_sweep_forever(writebacks), name="write-back-sweep")
        yield Runtime(
            settings=settings,
            db_url=url,
            engine=engine,
            db=db,
            handler=handler,
            changes=changes,
            psa=psa,
            writebacks=writebacks,
            worker=worker,
        )
    finally:
        if sweeping is not None:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping
        if worker is not None:
            await worker.stop()
        await changes.stop()
        if claude is not None:
            await claude.close()
        await engine.dispose()
