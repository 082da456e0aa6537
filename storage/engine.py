"""Engine and session factory for PostgreSQL through asyncpg."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
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


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


# SQLSTATE classes of a server that is down, restarting, full or refusing this database, not of a bug:
# 08 connection exception, 53 insufficient resources, 57P operator intervention (shutdown, starting up).
_OUTAGE_SQLSTATES = ("08", "53", "57P")


def is_outage(err: BaseException) -> bool:
    """True when `err` means the database cannot be reached right now (retrying later can help)."""
    if isinstance(err, OperationalError | InterfaceError | OSError):
        return True
    if not isinstance(err, DBAPIError):
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
