"""Thread bindings: which chat thread or conversation shows which session, and what the adapter keeps on it.

Adapters get a Binding (a plain value) and never a database row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repo
from storage.models import ThreadBinding

from .commands import Actor


@dataclass(frozen=True)
class Binding:
    id: uuid.UUID
    session_id: uuid.UUID
    platform: str
    workspace_id: str
    channel_id: str
    thread_id: str
    # The platform message that shows the live triage header (a Slack ts, a Teams activity id).
    header_message_id: str | None
    created_at: datetime
    # Adapter-owned facts about the thread (a DM, a conversation reference, the latest turn card).
    extra: Mapping[str, Any] = field(default_factory=dict)


def _of(b: ThreadBinding) -> Binding:
    return Binding(
        id=b.id,
        session_id=b.session_id,
        platform=b.platform,
        workspace_id=b.workspace_id,
        channel_id=b.channel_id,
        thread_id=b.thread_id,
        header_message_id=b.header_message_id,
        created_at=b.created_at,
        extra=dict(b.extra or {}),
    )


class Bindings:
    """Reads and writes thread bindings for the chat adapters."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def of_thread(
        self, *, platform: str, workspace_id: str, channel_id: str, thread_id: str
    ) -> Binding | None:
        """The session one thread shows, if any."""
        async with self._db() as db:
            b = await repo.binding_for(
                db, platform=platform, workspace_id=workspace_id, channel_id=channel_id, thread_id=thread_id
            )
        return _of(b) if b is not None else None

    async def held_elsewhere(
        self, *, platform: str, workspace_id: str, channel_id: str, thread_id: str
    ) -> bool:
        """True when the thread holds a session of another workspace (a channel shared between workspaces):
        the thread is that workspace's, so nobody from this one may start or bind a session in it."""
        async with self._db() as db:
            held = await repo.thread_workspaces(
                db, platform=platform, channel_id=channel_id, thread_id=thread_id
            )
        return any(w != workspace_id for w in held)

    async def latest_in(self, *, platform: str, workspace_id: str, channel_id: str) -> Binding | None:
        """The newest session bound to a conversation (a personal chat holds one session after another)."""
        async with self._db() as db:
            b = await repo.latest_binding(
                db, platform=platform, workspace_id=workspace_id, channel_id=channel_id
            )
        return _of(b) if b is not None else None

    async def latest_open(self, *, actor: Actor, platform: str, channel_id: str) -> Binding | None:
        """The thread of the actor's most recently active open (active or paused) session in one channel."""
        async with self._db() as db:
            account = await repo.find_account(db, platform=actor.platform, external_id=actor.workspace_id)
            if account is None:
                return None
            b = await repo.latest_open_binding(
                db,
                account_id=account.id,
                platform=platform,
                workspace_id=actor.workspace_id,
                channel_id=channel_id,
                user_external_id=actor.user_id,
            )
        return _of(b) if b is not None else None

    async def of_session(
        self, session_id: uuid.UUID, *, platform: str, workspace_id: str | None = None
    ) -> list[Binding]:
        """Where a session is shown on one platform (in one workspace of it, when given), oldest first.

        A chat adapter answering in a workspace passes it, so a thread is never shown to a stranger.
        """
        async with self._db() as db:
            rows = await repo.bindings_of(db, session_id)
        mine = [
            _of(b)
            for b in rows
            if b.platform == platform and (workspace_id is None or b.workspace_id == workspace_id)
        ]
        return sorted(mine, key=lambda b: (b.created_at, b.id))

    async def remember(
        self, binding_id: uuid.UUID, *, extra: Mapping[str, Any], header_message_id: str | None = None
    ) -> None:
        """Merge `extra` into a binding (and set its header message, when given)."""
        async with self._db() as db, db.begin():
            await repo.merge_binding_extra(
                db, binding_id=binding_id, extra=dict(extra), header_message_id=header_message_id
            )

    async def bind(
        self,
        *,
        platform: str,
        workspace_id: str,
        channel_id: str,
        thread_id: str,
        session_id: uuid.UUID,
        extra: Mapping[str, Any],
    ) -> None:
        """Make one more conversation show a session (the receiving engineer's chat after a take-over)."""
        async with self._db() as db, db.begin():
            await repo.bind_thread(
                db,
                platform=platform,
                workspace_id=workspace_id,
                channel_id=channel_id,
                thread_id=thread_id,
                session_id=session_id,
                extra=dict(extra),
            )
