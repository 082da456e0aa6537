"""Engine and session factory for PostgreSQL through asyncpg."""

from __future__ import annotations

import socket
import uuid
import weakref
from contextvars import ContextVar
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import await_only, greenlet_spawn

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


# How long a command waits for a free connection of the process's budget before it is told FlowPilot is busy:
# a statement holds a connection for milliseconds, so a wait this long means the budget is far too small.
POOL_TIMEOUT_SECONDS = 10.0
# Every connection a process opens, the change listener's included (FLOWPILOT_DB_POOL_SIZE).
DEFAULT_BUDGET = 10

# Engines whose statements go through PgBouncer in transaction mode (see create_engine).
_behind_pgbouncer: weakref.WeakSet[AsyncEngine] = weakref.WeakSet()


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
    pgbouncer: bool = False,
) -> AsyncEngine:
    """The process's one engine and pool: the ORM and storage.raw's statements both take connections here.

    `pgbouncer`: every statement safe behind PgBouncer in transaction mode, where consecutive transactions
    of one client connection may run on different server connections: no prepared statement outlives its
    transaction (asyncpg's statement cache and SQLAlchemy's are off, each statement SQLAlchemy prepares
    has a name of its own, and storage.raw runs its statements inside a transaction).
    """
    connect_args: dict[str, Any] = {}
    if pgbouncer:
        connect_args = {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__fp_{uuid.uuid4().hex}__",
        }
    engine = create_async_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args=connect_args,
    )
    if pgbouncer:
        _behind_pgbouncer.add(engine)
    pool = engine.sync_engine.pool
    event.listen(pool, "connect", _mark_new)
    event.listen(pool, "checkout", _begin_on_checkout)
    event.listen(engine.sync_engine, "handle_error", _broken_connection_is_a_disconnect)
    return engine


def create_budgeted_engine(url: str, *, budget: int = DEFAULT_BUDGET, pgbouncer: bool = False) -> AsyncEngine:
    """An engine that keeps a process within `budget` connections in all: the pool holds `budget - 1` (and
    never more), the change listener the last one."""
    return create_engine(url, pool_size=max(1, budget - 1), max_overflow=0, pgbouncer=pgbouncer)


def behind_pgbouncer(engine: AsyncEngine) -> bool:
    return engine in _behind_pgbouncer


# Set while storage.raw borrows a connection: it sends its own statements without a transaction, so the
# checkout must not begin one (the pool would roll it back, with what was written, when it is given back).
_NO_BEGIN: ContextVar[bool] = ContextVar("flowpilot_no_begin", default=False)


async def borrow(engine: AsyncEngine) -> PoolProxiedConnection:
    """A connection of the engine's pool with no transaction begun; give it back with `give_back`."""
    token = _NO_BEGIN.set(True)
    dbapi = engine.dialect.loaded_dbapi
    try:
        return await greenlet_spawn(engine.sync_engine.raw_connection)
    except dbapi.Error as err:  # as the ORM's would be: a server away is told by is_outage
        raise DBAPIError.instance(None, None, err, dbapi.Error) from err
    finally:
        _NO_BEGIN.reset(token)


async def give_back(conn: PoolProxiedConnection, *, broken: bool = False) -> None:
    """Return a borrowed connection to the pool; a `broken` one is closed and replaced instead."""
    if broken and conn.driver_connection is not None:
        conn.driver_connection.terminate()  # at once, with no round trip: its protocol state is unknown
        await greenlet_spawn(conn.invalidate)
    await greenlet_spawn(conn.close)


def is_busy(err: BaseException) -> bool:
    """True when `err` is a command that waited too long for one of the process's connections."""
    return isinstance(err, PoolTimeout)


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
    if _NO_BEGIN.get():
        return  # storage.raw's: its first statement is checked instead (raw.Conn)
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


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# SQLSTATE classes of a server that is down, restarting, full or refusing this database, not of a bug:
# 08 connection exception, 53 insufficient resources, 57P operator intervention (shutdown, starting up).
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def is_outage(err: BaseException) -> bool:
    """True when `err` means the database cannot be reached right now (retrying later can help)."""
    if isinstance(err, OperationalError | InterfaceError | OSError):
        return True
    if is_busy(err):
        return False  # every connection of the budget in use: the database is fine, this process is busy
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
