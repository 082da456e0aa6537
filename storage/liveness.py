"""Process liveness: a lease whose owner is dead is taken over at once, not when it expires.

Each serving process registers its lease owner id in `flowpilot_processes` and holds a session-level advisory
lock on a connection it keeps open (the change listener's). PostgreSQL releases that lock the moment the
process dies (kill -9, a crashed host's TCP reset), so "registered, and its lock is free" means dead. A
process that never registered (a test's handler, the shell) is judged by its lease's expiry alone, as is one
that is alive but stuck: expiry stays the fallback.
"""

from __future__ import annotations

import uuid

import asyncpg

# The advisory lock's first key: FlowPilot's own namespace ("FPLV"), so no other user of advisory locks on
# the same database can collide with a process's lock.
LOCK_NAMESPACE = 0x46504C56

# True when the lease owner in `{owner}` registered as a process and no longer holds its lock. pg_locks lists
# a two-key advisory lock with classid = the first key, objid = the second, objsubid = 2.
OWNER_DEAD = f"""EXISTS (
    SELECT 1 FROM flowpilot_processes p
     WHERE p.owner = {{owner}}
       AND NOT EXISTS (
           SELECT 1 FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = {LOCK_NAMESPACE}::oid AND l.objid = p.lock_key::oid
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())))"""

# Register and take the lock in one statement: the row becomes visible to others only when it commits, and
# the lock is held by then, so nobody can see this process registered but lockless.
_REGISTER = f"""
    WITH p AS (
        INSERT INTO flowpilot_processes (owner) VALUES ($1)
        ON CONFLICT (owner) DO UPDATE SET started_at = flowpilot_processes.started_at
        RETURNING lock_key
    )
    SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, (SELECT lock_key FROM p))
"""
# Rows of processes long dead are forgotten (any lease they held has expired since): the table stays small.
_FORGET_DEAD = (
    "DELETE FROM flowpilot_processes d WHERE d.started_at < now() - interval '1 day' AND "
    + OWNER_DEAD.format(owner="d.owner")
)


class LockTaken(Exception):
    """Another connection holds this owner's lock: the owner id is in use by a live process."""


async def hold(conn: asyncpg.Connection, owner: uuid.UUID) -> None:
    """Register `owner` and take its lock on `conn`, for as long as `conn` lives."""
    if not await conn.fetchval(_REGISTER, owner):
        raise LockTaken(str(owner))
    await conn.execute(_FORGET_DEAD)
