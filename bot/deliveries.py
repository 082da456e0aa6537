"""De-duplication of platform deliveries: a retried webhook, a double click or a replayed command runs once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import raw

KEY_LIMIT = 255  # the stored key's length (processed_events.event_id)


class Deliveries:
    """Remembers what each platform delivered, in PostgreSQL, so every process sees every delivery."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def first(self, platform: str, key: str, *, within: float | None = None) -> bool:
        """True the first time `key` is seen from `platform`, in any process; with `within` (seconds), also
        when it was last accepted longer ago than that (a second click is a request of its own then)."""
        async with raw.autocommit(self._db) as conn:
            return await raw.first_delivery(conn, platform=platform, event_id=key[:KEY_LIMIT], within=within)
