"""Who is acting: accounts and users, remembered by each process.

Accounts never change and users only change their display name, so a turn costs no look-ups for who is
acting once they are known.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeAlias, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import raw, repo
from storage.models import Account, User

from .commands import Actor

# Where a query runs: an ORM session, or a plain asyncpg connection (storage.raw: the conversation's turns).
Db: TypeAlias = AsyncSession | raw.Conn

# A bound, not a policy: past it the cache is emptied and refills as needed.
MAX_USERS = 50_000

_T = TypeVar("_T")


class Identities:
    """The accounts and users this process has seen, by platform ids and by user id."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db
        self._accounts: dict[tuple[str, str], Account] = {}
        self._users: dict[tuple[uuid.UUID, str], User] = {}
        self._by_id: dict[uuid.UUID, User] = {}

    async def account(self, db: Db | None, actor: Actor, *, create: bool = False) -> Account | None:
        """The actor's account (made in a short transaction of its own when `create`), None if unknown.

        `db`: an ORM session to read it in, when the caller has one open; otherwise one of its own.
        """
        key = (actor.platform, actor.workspace_id)
        account = self._accounts.get(key)
        if account is None:
            if create:
                account = await self._committed(
                    lambda own: repo.account_for(own, platform=actor.platform, external_id=actor.workspace_id)
                )
            else:
                async with _same(db) if isinstance(db, AsyncSession) else self._db() as orm:
                    account = await repo.find_account(
                        orm, platform=actor.platform, external_id=actor.workspace_id
                    )
                    if account is not None:
                        orm.expunge(account)
            if account is not None:
                self._accounts[key] = account
        return account

    async def user(self, account: Account, actor: Actor) -> User:
        """The actor as a user of `account`, made or renamed when needed."""
        cached = self._users.get((account.id, actor.user_id))
        if cached is not None and (not actor.display_name or cached.display_name == actor.display_name):
            return cached
        user = await self._committed(
            lambda own: repo.user_for(
                own, account=account, external_id=actor.user_id, display_name=actor.display_name
            )
        )
        self._remember(user)
        return user

    async def by_id(self, db: Db, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, User]:
        """Users by id, read in `db` (a connection or an ORM session) only when not remembered."""
        wanted = [u for u in ids if u]
        missing = [u for u in wanted if u not in self._by_id]
        if missing and isinstance(db, raw.Conn):
            for user in (await raw.users_by_id(db, missing)).values():
                self._remember(user)
        elif missing and isinstance(db, AsyncSession):
            for user in (await repo.users_by_id(db, missing)).values():
                db.expunge(user)  # detached: a rollback of this transaction cannot expire the cached copy
                self._remember(user)
        return {u: self._by_id[u] for u in wanted if u in self._by_id}

    async def _committed(self, make: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """Create a row in its own short transaction, so what is cached never rolls back with a command."""
        async with self._db() as own, own.begin():
            row = await make(own)
        return row

    def _remember(self, user: User) -> None:
        if len(self._by_id) > MAX_USERS:
            self._users.clear()
            self._by_id.clear()
        self._users[(user.account_id, user.external_id)] = user
        self._by_id[user.id] = user


@contextlib.asynccontextmanager
async def _same(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    yield db
