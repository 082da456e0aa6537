"""The turn lease: one turn at a time per session, across processes, without holding a transaction.

A lease is a row-level claim (`lease_owner`, `lease_expires_at`) taken and released in short transactions.
While a turn runs its owner renews it. A process that dies is seen dead at once (storage.liveness: its
advisory lock is gone) and the next command, or the recovery sweep, takes the session over and learns which
turn was interrupted (`turn_in_flight`); a process that is alive but stuck or cut off loses it when it expires.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import raw
from .liveness import OWNER_DEAD

# Each is one statement, sent without BEGIN and COMMIT (storage.raw.autocommit): $1 is the session id.
_ACQUIRE = """
    WITH prev AS (
        SELECT id, lease_owner, turn_in_flight FROM ai_sessions WHERE id = $1 FOR UPDATE
    )
    UPDATE ai_sessions AS s
       SET lease_owner = $2,
           lease_expires_at = now() + make_interval(secs => $3),
           turn_in_flight = $4::jsonb
      FROM prev
     WHERE s.id = prev.id AND ({free})
    RETURNING prev.lease_owner AS prev_owner, prev.turn_in_flight AS prev_turn, s.*
"""
# The common case: the lease is free, expired or ours. Only when another owner holds it is the liveness of that
# owner looked up (pg_locks), in a second statement: the hot path keeps its plain one.
_TAKE_FREE = _ACQUIRE.format(free="s.lease_owner IS NULL OR s.lease_owner = $2 OR s.lease_expires_at < now()")
_TAKE_FROM_DEAD = _ACQUIRE.format(free=OWNER_DEAD.format(owner="s.lease_owner"))
_RENEW = (
    "UPDATE ai_sessions SET lease_expires_at = now() + make_interval(secs => $3) "
    "WHERE id = $1 AND lease_owner = $2 RETURNING 1"
)
_RELEASE = (
    "UPDATE ai_sessions SET lease_owner = NULL, lease_expires_at = NULL, turn_in_flight = NULL "
    "WHERE id = $1 AND lease_owner = $2"
)
# A turn cut short (shutdown, cancelled) keeps its turn_in_flight, so the next command can say so.
_RELEASE_INTERRUPTED = (
    "UPDATE ai_sessions SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2"
)
_EXISTS = "SELECT 1 FROM ai_sessions WHERE id = $1"
# What a live turn adds to its own record (where a streaming draft is shown), for whoever finds it cut off.
_NOTE = (
    "UPDATE ai_sessions SET turn_in_flight = COALESCE(turn_in_flight, '{}'::jsonb) || $3::jsonb "
    "WHERE id = $1 AND lease_owner = $2"
)
# Turns a process that died (lease expired) or was stopped (lease released, turn kept) left unfinished.
_UNFINISHED = (
    "SELECT id FROM ai_sessions WHERE turn_in_flight IS NOT NULL "
    "AND (lease_expires_at IS NULL OR lease_expires_at < now() OR "
    + OWNER_DEAD.format(owner="lease_owner")
    + ") AND lease_owner IS DISTINCT FROM $1 ORDER BY lease_expires_at NULLS FIRST LIMIT $2"
)


@dataclass(frozen=True)
class Acquired:
    # The turn left unfinished by a process that died or was stopped mid-turn.
    interrupted: dict[str, Any] | None
    # Who held the lease before (None when it was free).
    previous_owner: uuid.UUID | None = None
    # The session row as the lease left it: the turn needs not read it again (storage.raw.copy_from).
    row: dict[str, Any] | None = None


class NoSuchSession(Exception):
    pass


async def try_acquire(
    factory: async_sessionmaker[AsyncSession],
    *,
    session_id: uuid.UUID,
    owner: uuid.UUID,
    ttl: float,
    turn: str,
    kind: str | None = None,
) -> Acquired | None:
    """Take the lease if it is free, expired or already ours; None if another live turn holds it.

    "Already ours" is a lease this process failed to release (the database went away as the turn ended):
    callers hold the process's own lock for the session, so no turn of ours can still be using it.

    `turn` (the command's name) and `kind` (a draft's resolve/escalate) are what the next holder is told
    when this turn never finishes.
    """
    record = {"command": turn} if kind is None else {"command": turn, "kind": kind}
    async with raw.autocommit(factory) as conn:
        args = (session_id, owner, float(ttl), json.dumps(record))
        row = await conn.fetchrow(_TAKE_FREE, *args)
        if row is None:
            row = await conn.fetchrow(_TAKE_FROM_DEAD, *args)
        if row is None:
            if await conn.fetchval(_EXISTS, session_id) is None:
                raise NoSuchSession(str(session_id))
            return None
        return Acquired(interrupted=row["prev_turn"], previous_owner=row["prev_owner"], row=dict(row.items()))


async def renew(
    factory: async_sessionmaker[AsyncSession], *, session_id: uuid.UUID, owner: uuid.UUID, ttl: float
) -> bool:
    async with raw.autocommit(factory) as conn:
        return await conn.fetchval(_RENEW, session_id, owner, float(ttl)) is not None


async def release(
    factory: async_sessionmaker[AsyncSession],
    *,
    session_id: uuid.UUID,
    owner: uuid.UUID,
    interrupted: bool = False,
) -> None:
    async with raw.autocommit(factory) as conn:
        await conn.execute(_RELEASE_INTERRUPTED if interrupted else _RELEASE, session_id, owner)


async def note(
    factory: async_sessionmaker[AsyncSession],
    *,
    session_id: uuid.UUID,
    owner: uuid.UUID,
    extra: dict[str, Any],
) -> None:
    """Add `extra` to the record of the turn `owner` holds (nothing if it no longer holds the lease)."""
    async with raw.autocommit(factory) as conn:
        await conn.execute(_NOTE, session_id, owner, json.dumps(extra))


async def unfinished(
    factory: async_sessionmaker[AsyncSession], *, owner: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    """Sessions whose turn was left unfinished by another process that died or was stopped, oldest first.

    `owner`'s own leftovers (a release that failed while the database was away) are not interruptions: the
    engineer was already told, and `owner`'s next turn on the session takes the lease back silently.
    """
    async with raw.autocommit(factory) as conn:
        return [row["id"] for row in await conn.fetch(_UNFINISHED, owner, limit)]
