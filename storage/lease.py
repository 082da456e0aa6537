"""The turn lease: one turn at a time per session, across processes, without holding a transaction.

A lease is a row-level claim (`lease_owner`, `lease_expires_at`) taken and released in short transactions.
While a turn runs its owner renews it; a process that dies stops renewing, the lease expires, and the next
command takes the session over and learns which turn was interrupted (`turn_in_flight`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_ACQUIRE = sa.text(
    """
    WITH prev AS (
        SELECT id, lease_owner, turn_in_flight FROM ai_sessions WHERE id = :id FOR UPDATE
    )
    UPDATE ai_sessions AS s
       SET lease_owner = :owner,
           lease_expires_at = now() + make_interval(secs => :ttl),
           turn_in_flight = CAST(:turn AS jsonb)
      FROM prev
     WHERE s.id = prev.id AND (s.lease_owner IS NULL OR s.lease_owner = :owner OR s.lease_expires_at < now())
    RETURNING prev.lease_owner AS prev_owner, prev.turn_in_flight AS prev_turn
    """
)
_RENEW = sa.text(
    "UPDATE ai_sessions SET lease_expires_at = now() + make_interval(secs => :ttl) "
    "WHERE id = :id AND lease_owner = :owner RETURNING 1"
)
_RELEASE = sa.text(
    "UPDATE ai_sessions SET lease_owner = NULL, lease_expires_at = NULL, turn_in_flight = NULL "
    "WHERE id = :id AND lease_owner = :owner"
)
# A turn cut short (shutdown, cancelled) keeps its turn_in_flight, so the next command can say so.
_RELEASE_INTERRUPTED = sa.text(
    "UPDATE ai_sessions SET lease_owner = NULL, lease_expires_at = NULL WHERE id = :id AND lease_owner = :owner"
)
_EXISTS = sa.text("SELECT 1 FROM ai_sessions WHERE id = :id")
# What a live turn adds to its own record (where a streaming draft is shown), for whoever finds it cut off.
_NOTE = sa.text(
    "UPDATE ai_sessions SET turn_in_flight = COALESCE(turn_in_flight, '{}'::jsonb) || CAST(:extra AS jsonb) "
    "WHERE id = :id AND lease_owner = :owner"
)
# Turns a process that died (lease expired) or was stopped (lease released, turn kept) left unfinished.
_UNFINISHED = sa.text(
    "SELECT id FROM ai_sessions WHERE turn_in_flight IS NOT NULL "
    "AND (lease_expires_at IS NULL OR lease_expires_at < now()) AND lease_owner IS DISTINCT FROM :owner "
    "ORDER BY lease_expires_at NULLS FIRST LIMIT :n"
)


@dataclass(frozen=True)
class Acquired:
    # The turn left unfinished by a process that died or was stopped mid-turn.
    interrupted: dict[str, Any] | None
    # Who held the lease before (None when it was free).
    previous_owner: uuid.UUID | None = None


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
    async with factory() as db, db.begin():
        row = (
            await db.execute(
                _ACQUIRE,
                {"id": session_id, "owner": owner, "ttl": ttl, "turn": json.dumps(record)},
            )
        ).first()
        if row is None:
            if (await db.execute(_EXISTS, {"id": session_id})).first() is None:
                raise NoSuchSession(str(session_id))
            return None
        return Acquired(interrupted=row.prev_turn, previous_owner=row.prev_owner)


async def renew(
    factory: async_sessionmaker[AsyncSession], *, session_id: uuid.UUID, owner: uuid.UUID, ttl: float
) -> bool:
    async with factory() as db, db.begin():
        return (await db.execute(_RENEW, {"id": session_id, "owner": owner, "ttl": ttl})).first() is not None


async def release(
    factory: async_sessionmaker[AsyncSession],
    *,
    session_id: uuid.UUID,
    owner: uuid.UUID,
    interrupted: bool = False,
) -> None:
    async with factory() as db, db.begin():
        await db.execute(
            _RELEASE_INTERRUPTED if interrupted else _RELEASE, {"id": session_id, "owner": owner}
        )


async def note(
    factory: async_sessionmaker[AsyncSession],
    *,
    session_id: uuid.UUID,
    owner: uuid.UUID,
    extra: dict[str, Any],
) -> None:
    """Add `extra` to the record of the turn `owner` holds (nothing if it no longer holds the lease)."""
    async with factory() as db, db.begin():
        await db.execute(_NOTE, {"id": session_id, "owner": owner, "extra": json.dumps(extra)})


async def unfinished(
    factory: async_sessionmaker[AsyncSession], *, owner: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    """Sessions whose turn was left unfinished by another process that died or was stopped, oldest first.

    `owner`'s own leftovers (a release that failed while the database was away) are not interruptions: the
    engineer was already told, and `owner`'s next turn on the session takes the lease back silently.
    """
    async with factory() as db:
        return list((await db.execute(_UNFINISHED, {"n": limit, "owner": owner})).scalars())
