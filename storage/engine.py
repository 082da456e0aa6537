"""Engine and session factory for PostgreSQL through asyncpg."""

from __future__ import annotations

import socket
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

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


class DatabaseUnreachable(Exception):
    """The database in DATABASE_URL cannot be used at start; the message says why and what to check."""


def where(url: str) -> str:
    """host:port (or the socket directory) of a database URL, for messages."""
    parsed = make_url(normalize_url(url))
    host = parsed.host or str(parsed.query.get("host") or "localhost")
    return f"{host}:{parsed.port or parsed.query.get('port') or 5432}"


async def check_database(url: str, *, timeout: float = 10.0) -> None:
    """Connect once, so a server that is down or refuses us is one clear sentence, not a driver traceback."""
    parsed = make_url(normalize_url(url))
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except OSError as err:  # TimeoutError, ConnectionRefusedError and socket.gaierror too
        if isinstance(err, TimeoutError):
            reason = f"no answer in {timeout:g} s"
        elif isinstance(err, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(err, socket.gaierror):
            reason = "unknown host"
        else:
            reason = err.strerror or type(err).__name__
        raise DatabaseUnreachable(
            f"can't reach PostgreSQL at {where(url)} ({reason}) — is it running? check DATABASE_URL"
        ) from err
    except asyncpg.InvalidCatalogNameError as err:
        raise DatabaseUnreachable(
            f"PostgreSQL at {where(url)} has no database {parsed.database!r}: create it "
            f"(createdb {parsed.database}) or fix DATABASE_URL"
        ) from err
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError) as err:
        raise DatabaseUnreachable(
            f"PostgreSQL at {where(url)} refused user {parsed.username!r} ({err}): "
            "check the user and password in DATABASE_URL"
        ) from err
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        raise DatabaseUnreachable(f"PostgreSQL at {where(url)} refused the connection: {err}") from err
    await conn.close()


def safe_url(url: str) -> str:
    """The URL with its password hidden, for log lines."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
    )
    pool = engine.sync_engine.pool
    event.listen(pool, "connect", _mark_new)
    event.listen(pool, "checkout", _begin_on_checkout)
    event.listen(engine.sync_engine, "handle_error", _broken_connection_is_a_disconnect)
    return engine


def _mark_new(_dbapi_connection: Any, record: Any) -> None:
    record.info["new"] = True


def _begin_on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Begin a checked-out connection's transaction at once: its BEGIN is the disconnect check, for free.

    Through asyncpg every transaction starts with a BEGIN of its own, sent just before the first statement.
    Sent here instead, it costs no extra round trip, and when the server ended the connection while it sat
    in the pool (a restart, a terminated backend), even a moment ago and before this process noticed, the
    BEGIN fails with nothing of ours sent: the pool replaces the connection with a fresh one and the
    statement goes there. (`pool_pre_ping` would cost three round trips a checkout.)
    """
    new = record.info.pop("new", False)
    if dbapi_connection.driver_connection.is_closed():  # ended by the server, and this process noticed
        raise DisconnectionError("pooled connection was closed by the server")
    if dbapi_connection.autocommit or dbapi_connection._transaction is not None:
        return  # no transaction to begin (nothing here asks for AUTOCOMMIT)
    # SQLAlchemy's asyncpg adapter's own BEGIN (the one it would send before the first statement).
    try:
        await_only(dbapi_connection._start_transaction())
    except Exception as err:
        if new:
            raise  # a connection just made is not replaced by another: the server is away (see is_outage)
        raise DisconnectionError("pooled connection was ended by the server") from err


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
