"""Session change notifications across processes, carried by PostgreSQL LISTEN/NOTIFY.

A change made in one process (a triage edit through the REST API, a resolution in Slack) reaches every
other process, so each chat adapter can re-render the header it shows for that session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from . import liveness
from .engine import normalize_url

logger = logging.getLogger(__name__)

CHANNEL = "flowpilot_session_changes"


@dataclass(frozen=True)
class SessionChange:
    session_id: uuid.UUID
    kind: str  # triage | status
    origin: str  # the platform the change came from: slack, teams, api, shell
    platform: str = ""  # the session's own platform (its account's): only that chat adapter shows it


def message(change: SessionChange) -> tuple[str, str]:
    """The NOTIFY channel and payload that carry `change`."""
    payload = json.dumps(
        {
            "session_id": str(change.session_id),
            "kind": change.kind,
            "origin": change.origin,
            "platform": change.platform,
        }
    )
    return CHANNEL, payload


async def publish(db: AsyncSession, change: SessionChange) -> None:
    """Queue a notification in `db`'s transaction; PostgreSQL delivers it when that commits (a turn's answer
    sends its own with the write: storage.raw.save_turn)."""
    channel, payload = message(change)
    await db.execute(
        sa.text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


Subscriber = Callable[[SessionChange], Awaitable[None]]


class ChangeListener:
    """One dedicated connection LISTENing for changes; reconnects if the database goes away.

    Given the process's lease `owner`, the same connection holds the process's liveness lock
    (storage.liveness), so other processes see at once when this one dies.
    """

    def __init__(self, url: str, *, owner: uuid.UUID | None = None) -> None:
        self._owner = owner
        sa_url = make_url(normalize_url(url))
        self._dsn = sa_url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                if self._owner is not None:
                    await liveness.hold(conn, self._owner)
                await conn.add_listener(CHANNEL, self._on_notify)
                self._connected.set()
                delay = 0.5
                await lost.wait()
                logger.warning("change listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.warning(
                    "change listener cannot connect (%s); retrying in %.1fs", type(err).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            change = SessionChange(
                uuid.UUID(data["session_id"]), data["kind"], data["origin"], str(data.get("platform") or "")
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("ignored a malformed change notification")
            return
        for subscriber in self._subscribers:
            task = asyncio.get_running_loop().create_task(self._deliver(subscriber, change))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    @staticmethod
    async def _deliver(subscriber: Subscriber, change: SessionChange) -> None:
        try:
            await subscriber(change)
        except Exception:
            logger.exception("a change subscriber failed for session %s", change.session_id)
