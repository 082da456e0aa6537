"""Background jobs on pgqueuer (its tables come from migration 0007_psa): enqueue, and the worker.

A job is enqueued inside the caller's transaction, on that transaction's own connection (with the row it is
about): both exist or neither, and a process killed right after the commit leaves the job queued for whichever
worker runs next. Its dedupe key (one per handoff) keeps a second copy out while the first is queued or
running.

The worker holds one connection of its own, to the direct URL (LISTEN needs a session: behind PgBouncer in
transaction mode it would be lost), and counts in FLOWPILOT_DB_POOL_SIZE: the composition root gives the
engine's pool one connection fewer when a worker runs. A job whose worker died (kill -9) stops sending
heartbeats, and pgqueuer hands it to a live worker once `heartbeat_seconds` have passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

import asyncpg
from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
from pgqueuer.core.qm import QueueManager
from pgqueuer.domain.models import Job
from pgqueuer.queries import Queries
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from .engine import normalize_url

logger = logging.getLogger(__name__)

JobHandler = Callable[[bytes], Awaitable[None]]


async def enqueue(db: AsyncSession, entrypoint: str, payload: bytes, *, key: str) -> bool:
    """Queue a job in `db`'s transaction; False when a job with that key is already queued or running."""
    conn = await db.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    ids = await Queries(AsyncpgDriver(driver)).enqueue(
        entrypoint, payload, dedupe_key=key, on_conflict="skip"
    )
    return ids[0] is not None


class Worker:
    """Runs the registered handlers for queued jobs, on one connection, reconnecting when it is lost."""

    def __init__(
        self, url: str, handlers: Mapping[str, JobHandler], *, heartbeat_seconds: float = 30.0
    ) -> None:
        self._dsn = (
            make_url(normalize_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._handlers = dict(handlers)
        self._heartbeat = timedelta(seconds=heartbeat_seconds)
        self._task: asyncio.Task[None] | None = None
        self._qm: QueueManager | None = None
        self._stopping = False
        self.running = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="job-worker")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.running.wait(), 10)

    async def stop(self) -> None:
        self._stopping = True
        if self._qm is not None:
            self._qm.shutdown.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _run(self) -> None:
        delay = 0.5
        while not self._stopping:
            conn: asyncpg.Connection | None = None
            try:
                # No statement cache: the same statements are fine through a session-mode PgBouncer too.
                conn = await asyncpg.connect(self._dsn, statement_cache_size=0)
                self._qm = self._manager(conn)
                self.running.set()
                delay = 0.5
                await self._qm.run(
                    dequeue_timeout=timedelta(seconds=5),
                    batch_size=4,
                    heartbeat_timeout=self._heartbeat,
                    log_aggregation_interval=timedelta(0),
                )
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.warning(
                    "job worker lost its connection (%s); retrying in %.1fs", type(err).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                self.running.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()

    def _manager(self, conn: asyncpg.Connection) -> QueueManager:
        qm = QueueManager(Queries(AsyncpgDriver(conn)))
        for name, handler in self._handlers.items():
            qm.entrypoint(name)(_run_job(name, handler))
        return qm


def _run_job(name: str, handler: JobHandler) -> Callable[[Job], Awaitable[None]]:
    async def run(job: Job) -> None:
        # A handler records its own outcome; an exception here would only make pgqueuer drop the job.
        try:
            await handler(job.payload or b"")
        except Exception:
            logger.exception("job %s (%s) failed", job.id, name)

    return run
