"""The conversation's hot path in plain asyncpg statements, on the ORM's own engine and pool.

A turn reads the session row, changes a few columns, appends a step and reads the new steps. Through the
ORM each transaction cost about 0.3 ms of CPU before its first statement (session, greenlets, unit of work)
and half of a turn's CPU was SQLAlchemy. Here each is one asyncpg statement on the driver connection
borrowed from SQLAlchemy's pool (storage.engine.borrow), and writes need no transaction: the turn holds the
session's lease (storage.lease), nobody else writes a leased session, and `save_turn` writes the session's
changed columns and the new step in one statement, only while the lease is still the turn's. A session comes
back as a plain SessionState (storage.state), steps and users as model objects the ORM does not track.

One pool, one budget: the process never opens a connection outside the engine's pool but the change
listener's (storage.notify). Behind PgBouncer in transaction mode (create_engine's `pgbouncer`) a statement
is prepared and run in two round trips, between which PgBouncer may hand the server connection to another
client: there `autocommit` runs its statements inside a transaction too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple, TypeVar, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import instrumentation
from sqlalchemy.pool import PoolProxiedConnection

from .engine import behind_pgbouncer, borrow, give_back
from .models import AISession, AISessionStep, Base, ThreadBinding, User
from .state import COLUMNS, JSON_COLUMNS, SessionState, defaults

_M = TypeVar("_M", bound=Base)

# Errors after which a connection is not fit to be used again.
_BROKEN = (
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    OSError,
    asyncio.CancelledError,  # cut mid-statement: its protocol state is unknown
)
# What the first statement on a pooled connection meets when the server ended that connection while it sat
# in the pool (a restart, pg_terminate_backend) before the client noticed.
_DEAD = (
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    ConnectionResetError,
)


class Conn:
    """A driver connection borrowed from the engine's pool. If it turns out dead at its first statement,
    ended by the server while it sat in the pool, it is replaced by a fresh one and that statement is sent
    again: the statement never reached a live server, and a restart costs the engineer nothing."""

    def __init__(self, engine: AsyncEngine, pooled: PoolProxiedConnection, *, begin: bool = False) -> None:
        self._engine = engine
        self.pooled = pooled
        self.conn: asyncpg.Connection = pooled.driver_connection
        self._begin = begin  # the first statement is preceded by a BEGIN (see transaction)
        self.in_transaction = False
        self._used = False

    async def _first(self, method: str, query: str, *args: Any) -> Any:
        if self._begin:
            await self.conn.execute("BEGIN")
            self.in_transaction = True
        return await getattr(self.conn, method)(query, *args)

    async def _run(self, method: str, query: str, *args: Any) -> Any:
        if not self._used:
            try:
                result = await self._first(method, query, *args)
            except _DEAD:
                await give_back(self.pooled, broken=True)
                self.pooled = await borrow(self._engine)
                self.conn = self.pooled.driver_connection
                result = await self._first(method, query, *args)
            self._used = True
            return result
        return await getattr(self.conn, method)(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        return cast(str, await self._run("execute", query, *args))

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return cast(list[asyncpg.Record], await self._run("fetch", query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return cast(asyncpg.Record | None, await self._run("fetchrow", query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._run("fetchval", query, *args)


@contextlib.asynccontextmanager
async def _checked_out(
    factory: async_sessionmaker[AsyncSession], *, begin: bool = False
) -> AsyncIterator[Conn]:
    engine: AsyncEngine = factory.kw["bind"]
    conn = Conn(engine, await borrow(engine), begin=begin)
    broken = False
    try:
        yield conn
    except _BROKEN:
        broken = True  # the pool replaces it, rather than hand out a connection in an unknown state
        raise
    finally:
        await asyncio.shield(give_back(conn.pooled, broken=broken))


@contextlib.asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Conn]:
    """A connection in a transaction: committed when the block ends, rolled back if it raises."""
    async with _checked_out(factory, begin=True) as conn:
        try:
            yield conn
        except BaseException:
            if conn.in_transaction and not conn.conn.is_closed():
                await asyncio.shield(conn.conn.execute("ROLLBACK"))
            raise
        if conn.in_transaction:
            await conn.conn.execute("COMMIT")


@contextlib.asynccontextmanager
async def autocommit(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Conn]:
    """A connection for work that is one statement: no BEGIN and COMMIT round trips (but behind PgBouncer,
    see the module's docstring)."""
    if behind_pgbouncer(factory.kw["bind"]):
        async with transaction(factory) as conn:
            yield conn
        return
    async with _checked_out(factory) as conn:
        yield conn


def _columns(model: type) -> list[tuple[str, bool]]:
    """(column, is JSON) for each column of a model (attribute names are the column names)."""
    attrs: Any = sa.inspect(model).column_attrs
    return [(p.key, isinstance(p.columns[0].type, sa.JSON)) for p in attrs]


def _untracked(model: type[_M], values: dict[str, Any]) -> _M:
    """A model instance holding `values`, made without the ORM's per-attribute bookkeeping (the constructor
    costs 30 times as much): nothing tracks it, and attributes set on it later behave as usual."""
    instance: _M = instrumentation.manager_of_class(model).new_instance()
    instance.__dict__.update(values)
    return instance


def _json(value: Any) -> str | None:
    # SQLAlchemy's asyncpg codec takes JSON as text; None is SQL NULL.
    return None if value is None else json.dumps(value)


# ── sessions ─────────────────────────────────────────────────────────────────────────────────────
_SESSION_JSON = JSON_COLUMNS
_SELECT_SESSION = f"SELECT {', '.join(COLUMNS)} FROM ai_sessions WHERE id = $1"


async def session_copy(conn: Conn, session_id: uuid.UUID) -> SessionState | None:
    """The session row as a SessionState (write its changes with save_turn)."""
    row = await conn.fetchrow(_SELECT_SESSION, session_id)
    if row is None:
        return None
    return copy_from(dict(row.items()))


# ── steps ────────────────────────────────────────────────────────────────────────────────────────
_STEP = [(n, j) for n, j in _columns(AISessionStep) if n != "created_at"]
_INSERT_STEP = (
    f"INSERT INTO ai_session_steps ({', '.join(n for n, _ in _STEP)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_STEP) + 1))})"
)


async def insert_step(conn: Conn, **fields: Any) -> AISessionStep:
    """Append a step: `session_id`, `step_order`, `role` and what it says."""
    values = {**_step_defaults(), **fields}
    await conn.execute(_INSERT_STEP, *(_json(values[n]) if j else values[n] for n, j in _STEP))
    return _untracked(AISessionStep, values)


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves the dialect's __init__ untyped
_STEP_CASTS = {c.key: c.type.compile(dialect=_PG) for c in AISessionStep.__table__.columns}
_SESSION_CASTS = {c.key: c.type.compile(dialect=_PG) for c in AISession.__table__.columns}
_turn_writes: dict[tuple[tuple[str, ...], bool], str] = {}


def _step_defaults() -> dict[str, Any]:
    """A new step's values before the caller's: the model's defaults, NULL for every other column."""
    return {**dict.fromkeys(n for n, _ in _STEP), **defaults(AISessionStep)}


# Columns the database stamps on every UPDATE (the models' `onupdate`, as SQL): `updated_at = now()`.
_ON_UPDATE = "".join(
    f"{c.key} = {c.onupdate.arg.compile(dialect=_PG)}, "
    for c in AISession.__table__.columns
    if c.onupdate is not None and isinstance(getattr(c.onupdate, "arg", None), sa.ColumnElement)
)


# A new session's row: all columns but the timestamps the database stamps, and the lease's expiry, which is
# the database's now() plus the lease's length (the clock every lease comparison uses).
_NEW_SESSION = [n for n in COLUMNS if n not in ("created_at", "updated_at", "lease_expires_at")]
_INSERT_SESSION = (
    f"INSERT INTO ai_sessions ({', '.join(_NEW_SESSION)}, lease_expires_at) VALUES ("
    + ", ".join(f"${i}::{_SESSION_CASTS[n]}" for i, n in enumerate(_NEW_SESSION, start=1))
    + f", now() + make_interval(secs => ${len(_NEW_SESSION) + 1})) RETURNING "
    + ", ".join(COLUMNS)
)
_BINDING = [c.key for c in ThreadBinding.__table__.columns if c.key != "created_at"]
_INSERT_BINDING = (
    f"INSERT INTO thread_bindings ({', '.join(_BINDING)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_BINDING) + 1))})"
)


async def insert_session(conn: Conn, *, lease_seconds: float, **fields: Any) -> SessionState:
    """Insert a new session, born leased for `lease_seconds`; returns its state, for save_turn."""
    values = {**defaults(AISession), **fields}
    args = [_json(values.get(n)) if n in _SESSION_JSON else values.get(n) for n in _NEW_SESSION]
    row = await conn.fetchrow(_INSERT_SESSION, *args, float(lease_seconds))
    assert row is not None
    return copy_from(dict(row.items()))


class ThreadTaken(Exception):
    """The chat thread already has a session."""


async def insert_binding(conn: Conn, **fields: Any) -> None:
    """Bind a chat thread to a session (ThreadTaken when the thread already has one)."""
    values = {**defaults(ThreadBinding), **fields}
    try:
        await conn.execute(
            _INSERT_BINDING, *(_json(values[n]) if n == "extra" else values[n] for n in _BINDING)
        )
    except asyncpg.UniqueViolationError:
        raise ThreadTaken from None


def copy_from(row: dict[str, Any]) -> SessionState:
    """A session's state made of a row that holds all of its columns (and maybe more)."""
    return SessionState.of(row)


async def save_turn(
    conn: Conn,
    s: SessionState,
    *,
    owner: uuid.UUID,
    step: dict[str, Any],
    notify: tuple[str, str] | None = None,
) -> AISessionStep | None:
    """A turn's last write, in one statement: the session's changes, the new step, and a notification for
    other processes, all only while `owner` still holds the session's lease. None (and nothing written)
    when it does not: another process took the session over.

    `s` is a state read under the lease this turn holds (nobody else writes a leased session), so what it
    says is still what the row holds; only the columns that changed are written.
    """
    changed = s.changed()
    keys = tuple(sorted(changed))
    sql = _turn_writes.get((keys, notify is not None))
    n = 2 + len(keys)
    if sql is None:
        if len(_turn_writes) >= 512:  # a bound, not a policy: a turn changes one of a few sets of columns
            _turn_writes.clear()
        sets = "".join(f"{k} = ${i}::{_SESSION_CASTS[k]}, " for i, k in enumerate(keys, start=3))
        columns = [name for name, _ in _STEP]
        values = ", ".join(f"${n + i}::{_STEP_CASTS[name]}" for i, name in enumerate(columns, start=1))
        last = len(columns) + n
        tell = f"pg_notify(${last + 1}, ${last + 2})" if notify else "1"
        sql = _turn_writes[(keys, notify is not None)] = (
            f"WITH saved AS (UPDATE ai_sessions SET {sets}{_ON_UPDATE.removesuffix(', ')} "
            f"WHERE id = $1 AND lease_owner = $2 RETURNING id), "
            f"added AS (INSERT INTO ai_session_steps ({', '.join(columns)}) SELECT {values} FROM saved) "
            f"SELECT {tell} FROM saved"
        )
    row = {**_step_defaults(), **step}
    args = [s.id, owner, *(_json(changed[k]) if k in _SESSION_JSON else changed[k] for k in keys)]
    args += [_json(row[name]) if is_json else row[name] for name, is_json in _STEP]
    if notify:
        args += list(notify)
    if not await conn.fetch(sql, *args):
        return None
    s.mark_saved(keys)
    return _untracked(AISessionStep, row)


class PromptStep(NamedTuple):
    step_order: int
    role: str
    content: str
    images: list[dict[str, Any]] | None
    questions: list[dict[str, Any]] | None
    actions: list[dict[str, Any]] | None


_PROMPT_STEPS = (
    "SELECT step_order, role, content, images, questions, actions FROM ai_session_steps "
    "WHERE session_id = $1 AND step_order > $2 ORDER BY step_order"
)


async def prompt_steps(conn: Conn, session_id: uuid.UUID, *, after: int = 0) -> list[PromptStep]:
    """What Claude needs of each step after `after`."""
    return [PromptStep(*row) for row in await conn.fetch(_PROMPT_STEPS, session_id, after)]


# ── users, events, notifications ─────────────────────────────────────────────────────────────────
_USERS = "SELECT id, account_id, external_id, display_name, created_at FROM users WHERE id = ANY($1::uuid[])"


async def users_by_id(conn: Conn, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    return {
        row["id"]: _untracked(User, dict(row.items())) for row in await conn.fetch(_USERS, list(set(ids)))
    }


_FIRST = (
    "INSERT INTO processed_events (platform, event_id) VALUES ($1, $2) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
# A repeat within the window is dropped without moving the window; a later one is accepted and moves it.
_FIRST_WITHIN = (
    "INSERT INTO processed_events (platform, event_id) VALUES ($1, $2) "
    "ON CONFLICT (platform, event_id) DO UPDATE SET received_at = clock_timestamp() "
    "WHERE processed_events.received_at < clock_timestamp() - make_interval(secs => $3) "
    "RETURNING event_id"
)


async def first_delivery(conn: Conn, *, platform: str, event_id: str, within: float | None = None) -> bool:
    """Record a platform event; False when it was seen before (a retried delivery).

    With `within` (seconds): False only when it was last *accepted* less than that long ago (a double
    click); a dropped repeat does not restart the window, an accepted one does.
    """
    if within is None:
        return await conn.fetchval(_FIRST, platform, event_id) is not None
    return await conn.fetchval(_FIRST_WITHIN, platform, event_id, float(within)) is not None
