"""Engine and session factory for PostgreSQL through asyncpg."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

SessionFactory = async_sessionmaker


def normalize_url(url: str) -> str:
    """Accept `postgres://`, `postgresql://` and `postgresql+asyncpg://`; return the asyncpg spelling."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("postgresql+asyncpg://"):
        return url
    raise ValueError(
        "DATABASE_URL must be a PostgreSQL URL (postgres://, postgresql:// or postgresql+asyncpg://)"
    )


def safe_url(url: str) -> str:
    """The URL with its password hidden, for log lines."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


# A pooled connection unused for this long is checked before it is handed out (see _ping_if_idle).
PING_AFTER_IDLE_SECONDS = 2.0


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
    )
    pool = engine.sync_engine.pool
    event.listen(pool, "connect", _stamp)
    event.listen(pool, "checkin", _stamp)
    event.listen(pool, "checkout", _ping_if_idle)
    event.listen(engine.sync_engine, "handle_error", _broken_connection_is_a_disconnect)
    return engine


def _stamp(_dbapi_connection: Any, record: Any) -> None:
    record.info["used_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling, but only for connections that sat idle.

    `pool_pre_ping` checks every checkout, which with asyncpg is three round trips (BEGIN, `;`, ROLLBACK):
    15 % of a busy server's CPU. A connection that was in use a moment ago is known to be alive; one that
    sat in the pool (across a database restart, say) is pinged, and replaced when the ping fails.
    """
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():  # the server ended it (restart, terminated backend)
        raise DisconnectionError("pooled connection was closed by the server")
    if time.monotonic() - record.info.get("used_at", 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as err:
        raise DisconnectionError("pooled connection is gone") from err


# asyncpg's errors for a connection the server has just cut ("cannot switch to state …; another operation is
# in progress", "connection was closed in the middle of operation"), which SQLAlchemy does not count as
# disconnects ("connection is closed" it already does).
_CUT_UNDER_US = (asyncpg.exceptions.InternalClientError, asyncpg.exceptions.ConnectionDoesNotExistError)


def _broken_connection_is_a_disconnect(context: Any) -> None:
    """Say a connection cut under us is a disconnect, so it is thrown away instead of going back to the pool
    broken (and the command is reported as the database being away)."""
    if isinstance(context.original_exception, _CUT_UNDER_US):
        context.is_disconnect = True


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


# SQLSTATE classes of a server that is down, restarting, full or refusing this database, not of a bug:
# 08 connection exception, 53 insufficient resources, 57P operator intervention (shutdown, starting up).
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def is_outage(err: BaseException) -> bool:
    """True when `err` means the database cannot be reached right now (retrying later can help)."""
    if isinstance(err, OperationalError | InterfaceError | OSError):
        return True
    # The same from storage.raw's plain asyncpg statements: a connection cut or closed under a statement.
    if isinstance(err, (*_CUT_UNDER_US, asyncpg.exceptions.InterfaceError)):
        return True
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True  # the connection broke under us (see _broken_connection_is_a_disconnect)
    if not isinstance(err, DBAPIError | asyncpg.PostgresError):
        return False
    cause: BaseException | None = err
    while cause is not None:
        state = str(getattr(cause, "sqlstate", "") or "")
        if state.startswith(_OUTAGE_SQLSTATES):
            return True
        # A database closed for maintenance (ALLOW_CONNECTIONS false) while the server itself is up.
        if state == "55000" and "not currently accepting connections" in str(cause):
            return True
        cause = cause.__cause__
    return False
