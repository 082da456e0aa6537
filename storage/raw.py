"""The conversation's hot path in plain asyncpg statements, on the same pool as the ORM.

A turn reads the session row, changes a few columns, appends a step and reads the new steps. Through the
ORM each transaction cost about 0.3 ms of CPU before its first statement (session, greenlets, unit of work)
and half of a turn's CPU was SQLAlchemy. Here each is one prepared asyncpg statement, and writes need no
transaction: the turn holds the session's lease (storage.lease), nobody else writes a leased session, and
`save_turn` writes the session's changed columns and the new step in one statement, only while the lease is
still the turn's. Rows come back as AISession / User objects the ORM does not track.

Connections come from an asyncpg pool of their own (see _checked_out), which replaces a connection the
server closed or that broke under a statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple, TypeVar, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import instrumentation
from sqlalchemy.pool import QueuePool

from .models import AISession, AISessionStep, Base, ThreadBinding, User

_M = TypeVar("_M", bound=Base)

# One asyncpg pool per engine, beside SQLAlchemy's (same database, same size): taking a connection from it
# costs a tenth of going through SQLAlchemy's connection and pool layers, four times a turn.
_pools: weakref.WeakKeyDictionary[Engine, asyncio.Task[asyncpg.Pool]] = weakref.WeakKeyDictionary()
# How long a statement waits for a free connection, as SQLAlchemy's pool_timeout.
ACQUIRE_TIMEOUT_SECONDS = 30.0


async def _json_as_text(conn: asyncpg.Connection) -> None:
    # JSON goes in as the text callers serialized (see _json) and comes out decoded.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=str, decoder=json.loads, schema="pg_catalog", format="text")


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Nothing to reset between uses: these statements leave no session state (no listens, locks or SETs);
    asyncpg's default reset would cost one more round trip each time a connection is given back."""


async def _create_pool(engine: Engine) -> asyncpg.Pool:
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 10
    pool = await asyncpg.create_pool(
        dsn, min_size=0, max_size=max(2, size), init=_json_as_text, reset=_no_reset
    )

    # Closed with the engine (the server's shutdown, a test's end); a new one is made if the engine is used
    # again, as SQLAlchemy does with its own pool.
    def dispose(_engine: Engine) -> None:
        _pools.pop(engine, None)
        pool.terminate()

    event.listen(engine, "engine_disposed", dispose)
    return pool


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
    """A pooled asyncpg connection. If it turns out dead at its first statement, ended by the server while it
    sat in the pool, it is replaced by a fresh one and that statement is sent again: the statement never
    reached a live server, and a restart costs the engineer nothing."""

    def __init__(self, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        self._pool = pool
        self.conn = conn
        self._used = False

    async def _run(self, method: str, query: str, *args: Any) -> Any:
        if not self._used:
            try:
                result = await getattr(self.conn, method)(query, *args)
            except _DEAD:
                self.conn.terminate()
                await self._pool.release(self.conn)
                self.conn = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)
                result = await getattr(self.conn, method)(query, *args)
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
async def _checked_out(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Conn]:
    engine = factory.kw["bind"].sync_engine
    created = _pools.get(engine)
    if created is None or (created.done() and created.exception() is not None):
        created = _pools[engine] = asyncio.ensure_future(_create_pool(engine))
    pool = await asyncio.shield(created)
    conn = Conn(pool, await pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS))
    try:
        yield conn
    except _BROKEN:
        conn.conn.terminate()  # the pool replaces it, rather than hand out a connection in an unknown state
        raise
    finally:
        await asyncio.shield(pool.release(conn.conn))


@contextlib.asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Conn]:
    """A connection in a transaction: committed when the block ends, rolled back if it raises."""
    async with _checked_out(factory) as conn:
        await conn.execute("BEGIN")
        try:
            yield conn
        except BaseException:
            if not conn.conn.is_closed():
                await asyncio.shield(conn.execute("ROLLBACK"))
            raise
        await conn.execute("COMMIT")


@contextlib.asynccontextmanager
async def autocommit(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Conn]:
    """A connection for work that is one statement: no BEGIN and COMMIT round trips."""
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
_SESSION = _columns(AISession)
_SESSION_JSON = frozenset(name for name, is_json in _SESSION if is_json)
_SELECT_SESSION = f"SELECT {', '.join(n for n, _ in _SESSION)} FROM ai_sessions WHERE id = $1"
# What each copy looked like when read (or last saved): save_turn writes the difference.
_as_read: weakref.WeakKeyDictionary[AISession, dict[str, Any]] = weakref.WeakKeyDictionary()


def _snapshot(values: dict[str, Any]) -> dict[str, Any]:
    # JSON values are copied: a list or dict changed in place must still differ from what was read.
    return {k: copy.deepcopy(v) if k in _SESSION_JSON else v for k, v in values.items()}


async def session_copy(conn: Conn, session_id: uuid.UUID) -> AISession | None:
    """The session row as an AISession the ORM does not track (write its changes with save_turn)."""
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
_STEP_DEFAULTS: dict[str, Any] = {
    "kind": "message",
    "user_id": None,
    "content": "",
    "images": None,
    "questions": None,
    "actions": None,
    "triage_update": None,
    "confidence_score": None,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "cache_creation_tokens": 0,
}


async def insert_step(conn: Conn, **fields: Any) -> AISessionStep:
    """Append a step: `session_id`, `step_order`, `role` and what it says."""
    values = {**_STEP_DEFAULTS, "id": uuid.uuid4(), **fields}
    await conn.execute(_INSERT_STEP, *(_json(values[n]) if j else values[n] for n, j in _STEP))
    return _untracked(AISessionStep, values)


_PG = postgresql.dialect()
_STEP_CASTS = {c.key: c.type.compile(dialect=_PG) for c in AISessionStep.__table__.columns}
_SESSION_CASTS = {c.key: c.type.compile(dialect=_PG) for c in AISession.__table__.columns}
_turn_writes: dict[tuple[tuple[str, ...], bool], str] = {}


def _defaults(model: type) -> dict[str, Any]:
    """Fresh values of a model's Python-side column defaults (what the ORM fills in on INSERT)."""
    out: dict[str, Any] = {}
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        default = column.default
        if default is None:
            continue
        out[column.key] = default.arg(None) if default.is_callable else default.arg
    return out


# A new session's row: all columns but the timestamps the database stamps, and the lease's expiry, which is
# the database's now() plus the lease's length (the clock every lease comparison uses).
_NEW_SESSION = [n for n, _ in _SESSION if n not in ("created_at", "updated_at", "lease_expires_at")]
_INSERT_SESSION = (
    f"INSERT INTO ai_sessions ({', '.join(_NEW_SESSION)}, lease_expires_at) VALUES ("
    + ", ".join(f"${i}::{_SESSION_CASTS[n]}" for i, n in enumerate(_NEW_SESSION, start=1))
    + f", now() + make_interval(secs => ${len(_NEW_SESSION) + 1})) RETURNING "
    + ", ".join(n for n, _ in _SESSION)
)
_BINDING = [c.key for c in ThreadBinding.__table__.columns if c.key != "created_at"]
_INSERT_BINDING = (
    f"INSERT INTO thread_bindings ({', '.join(_BINDING)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_BINDING) + 1))})"
)


async def insert_session(conn: Conn, *, lease_seconds: float, **fields: Any) -> AISession:
    """Insert a new session, born leased for `lease_seconds`; returns it as save_turn's untracked copy."""
    values = {**_defaults(AISession), **fields}
    args = [_json(values.get(n)) if n in _SESSION_JSON else values.get(n) for n in _NEW_SESSION]
    row = await conn.fetchrow(_INSERT_SESSION, *args, float(lease_seconds))
    assert row is not None
    return copy_from(dict(row.items()))


class ThreadTaken(Exception):
    """The chat thread already has a session."""


async def insert_binding(conn: Conn, **fields: Any) -> None:
    """Bind a chat thread to a session (ThreadTaken when the thread already has one)."""
    values = {**_defaults(ThreadBinding), **fields}
    try:
        await conn.execute(
            _INSERT_BINDING, *(_json(values[n]) if n == "extra" else values[n] for n in _BINDING)
        )
    except asyncpg.UniqueViolationError:
        raise ThreadTaken from None


def copy_from(row: dict[str, Any]) -> AISession:
    """An untracked session made of a row that holds all of its columns (and maybe more)."""
    values = {k: row[k] for k, _ in _SESSION}
    s = _untracked(AISession, values)
    _as_read[s] = _snapshot(values)
    return s


async def save_turn(
    conn: Conn,
    s: AISession,
    *,
    owner: uuid.UUID,
    step: dict[str, Any],
    notify: tuple[str, str] | None = None,
) -> AISessionStep | None:
    """A turn's last write, in one statement: the session's changes, the new step, and a notification for
    other processes, all only while `owner` still holds the session's lease. None (and nothing written)
    when it does not: another process took the session over.

    `s` is a copy read under the lease this turn holds (nobody else writes a leased session), so what it
    says is still what the row holds; only the columns that changed are written.
    """
    before = _as_read[s]
    changed = {k: v for k, _ in _SESSION if (v := getattr(s, k)) != before[k]}
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
            f"WITH saved AS (UPDATE ai_sessions SET {sets}updated_at = now() "
            f"WHERE id = $1 AND lease_owner = $2 RETURNING id), "
            f"added AS (INSERT INTO ai_session_steps ({', '.join(columns)}) SELECT {values} FROM saved) "
            f"SELECT {tell} FROM saved"
        )
    row = {**_STEP_DEFAULTS, "id": uuid.uuid4(), **step}
    args = [s.id, owner, *(_json(changed[k]) if k in _SESSION_JSON else changed[k] for k in keys)]
    args += [_json(row[name]) if is_json else row[name] for name, is_json in _STEP]
    if notify:
        args += list(notify)
    if not await conn.fetch(sql, *args):
        return None
    _as_read[s] = {**before, **_snapshot(changed)}
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
