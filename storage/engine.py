"""Engine and session factory for PostgreSQL through asyncpg."""

from __future__ import annotations

from sqlalchemy.engine import make_url
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
