"""What every part of the session handler shares: the turn lease, loading with account checks, time.

Each turn takes the session's lease (storage.lease), works in short transactions, and never holds a
transaction or a pooled connection while Claude thinks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import lease as leases
from storage import notify, raw, repo
from storage.models import (
    Account,
    AISession,
    AISessionStep,
    User,
)

from . import messages as msg
from .claude import ClaudeClient
from .commands import (
    Actor,
    DraftHandoff,
    RetryTurn,
    SessionCommand,
    UserMessage,
)
from .errors import (
    FlowPilotError,
    InvalidTransition,
    NotFound,
    SessionBusy,
)
from .events import (
    AssistantTurn,
    Notice,
    SessionView,
)
from .limits import Limits, session_limiter, turn_limiter
from .outputs import ResolutionOutputGenerator
from .prompts import StepForPrompt
from .triage import session_view

logger = logging.getLogger(__name__)

# Idle gaps longer than this between two commands count as parked, not active, time.
IDLE_CAP_SECONDS = 15 * 60
OPEN = ("active",)
CLOSED = ("resolved", "escalated", "abandoned", "requesting_escalation")


# How many sessions' prompt histories one process keeps (the most recently used ones).
HISTORY_CACHE_SESSIONS = 256

_T = TypeVar("_T")

# Where a query runs: an ORM session, or a plain asyncpg connection (storage.raw: the conversation's turns).
Db: TypeAlias = AsyncSession | raw.Conn


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Loaded:
    session: AISession
    account: Account
    user: User


@dataclass
class _Turn:
    """What taking a session's turn found: the turn a previous holder left unfinished, if any, and whether the
    command had to wait for another turn (which may have done what it asks: see HandoffMixin._draft)."""

    interrupted: dict[str, Any] | None = None
    arrived: datetime = field(default_factory=lambda: _now())
    waited: bool = False


@dataclass
class _Queue:
    """An engineer's messages that arrived while their previous one waited for the session's turn: when that
    one gets the turn, they all go to Claude with it, as one turn (not one Claude call each)."""

    actor: tuple[str, str, str]
    joined: list[UserMessage] = field(default_factory=list)


def _queued(command: SessionCommand) -> Notice:
    return Notice(command.session_id, msg.QUEUED, code="queued", private=True)


class SessionCore:
    """State and helpers every part of the session handler shares: the lease, loading, checks."""

    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        claude: ClaudeClient | None,
        lease_seconds: float = 90.0,
        lease_wait_seconds: float = 300.0,
        psa_enabled: bool = False,
        outputs: ResolutionOutputGenerator | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._db = db
        self._claude = claude
        self._lease_seconds = lease_seconds
        self._lease_wait_seconds = lease_wait_seconds
        self._psa_enabled = psa_enabled
        self._new_sessions = session_limiter(limits or Limits())
        self._claude_turns = turn_limiter(limits or Limits())
        self._outputs = outputs or ResolutionOutputGenerator()
        self.owner = uuid.uuid4()
        self._local = _KeyedLocks()
        self._turns: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._accounts: dict[tuple[str, str], Account] = {}
        self._users: dict[tuple[uuid.UUID, str], User] = {}
        self._users_by_id: dict[uuid.UUID, User] = {}
        # session id -> (last step order, the steps as prompt input), most recently used last
        self._histories: dict[uuid.UUID, tuple[int, list[StepForPrompt]]] = {}
        # Sessions whose current turn released its lease in its last transaction (see _release_with).
        self._released: dict[uuid.UUID, bool] = {}
        # The session row as taking the lease returned it, for the turn's first read (see _load_copy).
        self._leased: dict[uuid.UUID, dict[str, Any]] = {}
        # Per session, the messages waiting to join the next turn of the engineer whose message waits (see
        # _joined).
        self._queues: dict[uuid.UUID, _Queue] = {}

    # ── the turn lease ─────────────────────────────────────────────────────────────────────────────
    async def _take_turn(
        self, command: SessionCommand, stack: contextlib.AsyncExitStack, turn: _Turn
    ) -> AsyncIterator[Notice]:
        """Wait for and take the session's lease, entering what holds it into `stack`; yields a private
        "this one is next" notice at once when the turn has to wait, and sets `turn.interrupted` to the
        turn a previous holder left unfinished."""
        session_id = command.session_id
        told = self._local.busy(session_id)
        if told:
            await self._require_access(command.actor, session_id)
            yield _queued(command)
        await stack.enter_async_context(self._local.hold(session_id, timeout=self._lease_wait_seconds))
        name, kind = type(command).__name__, getattr(command, "kind", None)
        acquired = await self._try_acquire(session_id, name, kind=kind)
        turn.waited = told
        if acquired is None:  # another process's turn holds it
            if not told:
                await self._require_access(command.actor, session_id)
                yield _queued(command)
            turn.waited = True
            acquired = await self._acquire(session_id, name, kind=kind)
        # Our own leftover (a release that failed while the database was away) was already reported.
        turn.interrupted = None if acquired.previous_owner == self.owner else acquired.interrupted
        if acquired.row is not None:
            self._leased[session_id] = acquired.row
        stack.callback(self._leased.pop, session_id, None)
        # A draft cut short (the reader went away) leaves nothing to retry: not an interruption.
        await stack.enter_async_context(
            self._holding(session_id, marks_interruption=not isinstance(command, DraftHandoff))
        )

    async def _require_access(self, actor: Actor, session_id: uuid.UUID) -> None:
        """Before anything is said about a session someone else is using: is it the actor's account's? (Only
        on the waiting path: a turn that takes the lease at once checks when it loads the session.)"""
        account = await self._account(None, actor)
        async with self._db() as db:
            owner = await db.scalar(sa.select(AISession.account_id).where(AISession.id == session_id))
        if account is None or owner != account.id:
            raise NotFound(msg.SESSION_NOT_FOUND)

    # ── messages sent while the previous one waits ──────────────────────────────────────────────────
    def _queue_for(self, command: UserMessage) -> _Queue | None:
        """The queue this message carries, or joins (then it is the queue's last message), or None when
        another engineer's message is waiting for the session (theirs and ours stay separate turns)."""
        actor = (command.actor.platform, command.actor.workspace_id, command.actor.user_id)
        queue = self._queues.get(command.session_id)
        if queue is None:
            queue = self._queues[command.session_id] = _Queue(actor)
            return queue
        if queue.actor != actor:
            return None
        queue.joined.append(command)
        return queue

    def _close_queue(self, command: UserMessage, queue: _Queue) -> UserMessage:
        """The turn was taken: later messages start a queue of their own; this one answers them all."""
        if self._queues.get(command.session_id) is queue:
            del self._queues[command.session_id]
        if not queue.joined:
            return command
        parts = [command, *queue.joined]
        return UserMessage(
            actor=command.actor,
            session_id=command.session_id,
            text="\n\n".join(p.text.strip() for p in parts if p.text.strip()),
            attachments=tuple(a for p in parts for a in p.attachments),
        )

    def _drop_queue(self, command: SessionCommand, queue: _Queue) -> None:
        if self._queues.get(command.session_id) is queue:
            del self._queues[command.session_id]

    @contextlib.asynccontextmanager
    async def _holding(
        self, session_id: uuid.UUID, *, marks_interruption: bool = True
    ) -> AsyncIterator[None]:
        """Renew the lease while the turn runs; release it after, marked interrupted if cut short."""
        task = asyncio.current_task()
        if task is not None:
            self._turns.add(task)
        heartbeat = asyncio.create_task(self._heartbeat(session_id))
        completed = False
        try:
            yield
            completed = True
        except FlowPilotError:
            completed = True  # a clean refusal or a reported failure, not an interruption
            raise
        finally:
            heartbeat.cancel()
            if task is not None:
                self._turns.discard(task)
            # A turn that ended by saving Claude's answer let go of the lease in that same transaction.
            if not self._released.pop(session_id, False):
                # Released even when the turn is cancelled (client gone, shutdown): shield the write.
                await asyncio.shield(
                    leases.release(
                        self._db,
                        session_id=session_id,
                        owner=self.owner,
                        interrupted=marks_interruption and not completed,
                    )
                )

    async def _try_acquire(
        self, session_id: uuid.UUID, turn: str, *, kind: str | None = None
    ) -> leases.Acquired | None:
        try:
            return await leases.try_acquire(
                self._db,
                session_id=session_id,
                owner=self.owner,
                ttl=self._lease_seconds,
                turn=turn,
                kind=kind if isinstance(kind, str) else None,
            )
        except leases.NoSuchSession:
            raise NotFound(msg.SESSION_NOT_FOUND) from None

    async def _acquire(self, session_id: uuid.UUID, turn: str, *, kind: str | None = None) -> leases.Acquired:
        """Wait for another process's turn to end (or for it to be seen dead: storage.liveness)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lease_wait_seconds
        delay = 0.02
        while True:
            acquired = await self._try_acquire(session_id, turn, kind=kind)
            if acquired is not None:
                return acquired
            if loop.time() >= deadline:
                raise SessionBusy(msg.BUSY)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    @staticmethod
    def _interrupted_notice(
        actor: Actor,
        session_id: uuid.UUID,
        interrupted: dict[str, Any],
        *,
        command: SessionCommand | None = None,
    ) -> Notice | None:
        """What to tell the engineer about a turn a dead or stopped process left unfinished.

        `command` is what the engineer sent that found it (None when the recovery sweep found it first).
        """
        if interrupted.get("command") == "DraftHandoff":
            # Drafts are saved only when finished: the text shown so far was lost, writing it again is the fix.
            kind: Literal["resolve", "escalate"] = (
                "escalate" if interrupted.get("kind") == "escalate" else "resolve"
            )
            again = isinstance(command, DraftHandoff)
            return Notice(
                session_id,
                msg.DRAFT_INTERRUPTED_AGAIN if again else msg.DRAFT_INTERRUPTED,
                level="error",
                code="interrupted",
                retry=None if again else DraftHandoff(actor=actor, session_id=session_id, kind=kind),
                interrupted=interrupted,
            )
        if isinstance(command, RetryTurn):
            return None
        return Notice(
            session_id,
            msg.INTERRUPTED,
            level="error",
            code="interrupted",
            retry=RetryTurn(actor=actor, session_id=session_id),
            interrupted=interrupted,
        )

    async def note_draft_message(self, session_id: uuid.UUID, platform: str, where: dict[str, str]) -> None:
        """Remember where this process shows the draft it is streaming, so that if the process dies, whoever
        finds the turn unfinished can mark that message as cut off."""
        await leases.note(self._db, session_id=session_id, owner=self.owner, extra={platform: where})

    async def recover_unfinished(self, *, limit: int = 50) -> list[Notice]:
        """Take over the turns that processes which died or were stopped left unfinished, and say so.

        Each session's owner gets the notice (with Retry) without having to send anything first; a session
        another process is recovering, or that an engineer is using right now, is left to them.
        """
        notices: list[Notice] = []
        if self._closing:
            return notices
        for session_id in await leases.unfinished(self._db, owner=self.owner, limit=limit):
            if self._local.busy(session_id):
                continue
            async with self._local.hold(session_id, timeout=self._lease_wait_seconds):
                acquired = await leases.try_acquire(
                    self._db, session_id=session_id, owner=self.owner, ttl=self._lease_seconds, turn="Recover"
                )
                if acquired is None:
                    continue
                try:
                    if not acquired.interrupted:
                        continue
                    actor = await self._owner_of(session_id)
                    notice = self._interrupted_notice(actor, session_id, acquired.interrupted)
                    if notice is not None:
                        notices.append(notice)
                finally:
                    await leases.release(self._db, session_id=session_id, owner=self.owner)
        return notices

    async def _owner_of(self, session_id: uuid.UUID) -> Actor:
        async with self._db() as db:
            s = await repo.session_row(db, session_id)
            assert s is not None
            account = await db.get(Account, s.account_id)
            owner = await db.get(User, s.user_id)
            assert account is not None and owner is not None
            return Actor(
                platform=account.platform,
                workspace_id=account.external_id,
                user_id=owner.external_id,
                display_name=owner.display_name or "",
            )

    async def _heartbeat(self, session_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            if self._released.get(session_id):
                return
            try:
                if not await leases.renew(
                    self._db, session_id=session_id, owner=self.owner, ttl=self._lease_seconds
                ):
                    logger.warning("lease on session %s was lost", session_id)
                    return
            except Exception:
                logger.exception("could not renew the lease on session %s", session_id)

    async def shutdown(self, grace_seconds: float) -> None:
        """Refuse new commands, let turns in flight finish, then interrupt the rest (they stay retryable)."""
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self._turns and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._turns):
            task.cancel()
        while self._turns and loop.time() < deadline + 5:
            await asyncio.sleep(0.05)

    # ── loading and checks ─────────────────────────────────────────────────────────────────────────
    async def _load(
        self, db: AsyncSession, actor: Actor, session_id: uuid.UUID, *, lock: bool = True
    ) -> _Loaded:
        self._leased.pop(session_id, None)  # read again here: the row the lease returned may be stale now
        s = await repo.session_row(db, session_id, lock=lock)
        account = await self._account(db, actor)
        # Another account's session is reported exactly like a missing one: ids leak nothing.
        if s is None or account is None or s.account_id != account.id:
            raise NotFound(msg.SESSION_NOT_FOUND)
        return _Loaded(s, account, await self._user(account, actor))

    async def _load_copy(self, actor: Actor, session_id: uuid.UUID) -> _Loaded:
        """Like _load, for the conversation's turns (storage.raw): the session is a copy the ORM does not
        track, and `raw.save_turn` writes its changes. The turn holds the lease, and nobody else writes a
        leased session: no row lock is needed.

        A turn's first read takes the row its lease returned (no round trip). Nothing here holds a pooled
        connection while another is taken (account and user, when not remembered, are read on their own).
        """
        account = await self._account(None, actor)
        row = self._leased.pop(session_id, None)
        if row is not None:
            s: AISession | None = raw.copy_from(row)
        else:
            async with raw.autocommit(self._db) as conn:
                s = await raw.session_copy(conn, session_id)
        if s is None or account is None or s.account_id != account.id:
            raise NotFound(msg.SESSION_NOT_FOUND)
        return _Loaded(s, account, await self._user(account, actor))

    # Accounts never change and users only change their display name, so each process remembers them:
    # a turn then costs no look-ups for who is acting.
    async def _account(self, db: Db | None, actor: Actor, *, create: bool = False) -> Account | None:
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

    async def _user(self, account: Account, actor: Actor) -> User:
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

    async def _committed(self, make: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """Create a row in its own short transaction, so what is cached never rolls back with a command."""
        async with self._db() as own, own.begin():
            row = await make(own)
        return row

    def _remember(self, user: User) -> None:
        if len(self._users_by_id) > 50_000:  # a bound, not a policy: the cache refills as needed
            self._users.clear()
            self._users_by_id.clear()
        self._users[(user.account_id, user.external_id)] = user
        self._users_by_id[user.id] = user

    async def _view_of(self, db: Db, loaded: _Loaded) -> SessionView:
        return await self._header_view(db, loaded.session, loaded.account)

    async def _header_view(self, db: Db, s: AISession, account: Account) -> SessionView:
        wanted = [u for u in (s.user_id, s.escalated_to_id) if u]
        missing = [u for u in wanted if u not in self._users_by_id]
        if missing and isinstance(db, raw.Conn):
            for user in (await raw.users_by_id(db, missing)).values():
                self._remember(user)
        elif missing and isinstance(db, AsyncSession):
            for user in (await repo.users_by_id(db, missing)).values():
                db.expunge(user)  # detached: a rollback of this transaction cannot expire the cached copy
                self._remember(user)
        return session_view(
            s,
            account_platform=account.platform,
            account_external_id=account.external_id,
            users={u: self._users_by_id[u] for u in wanted if u in self._users_by_id},
        )

    async def view(self, *, actor: Actor, session_id: uuid.UUID) -> SessionView:
        """The header of one session, for an actor of its account."""
        async with self._db() as db, db.begin():
            return await self._view_of(db, await self._load(db, actor, session_id, lock=False))

    async def last_turn(
        self, *, actor: Actor, session_id: uuid.UUID
    ) -> tuple[AssistantTurn | None, SessionView]:
        """Claude's latest reply with the questions and steps still open, and the header: what a chat shows
        again when it failed to show them the first time (nothing is asked of Claude)."""
        async with self._db() as db, db.begin():
            loaded = await self._load(db, actor, session_id, lock=False)
            step = await repo.last_assistant_message(db, session_id)
            view = await self._view_of(db, loaded)
        if step is None:
            return None, view
        turn = AssistantTurn(
            session_id, step.step_order, step.content, view.questions, view.actions, view.confidence_tier
        )
        return turn, view

    @staticmethod
    def _require_active(s: AISession) -> None:
        if s.status == "active":
            return
        hint = msg.PAUSED_HINT if s.status == "paused" else msg.CLOSED_HINT
        raise InvalidTransition(msg.NOT_ACTIVE.format(status=s.status.replace("_", " "), hint=hint))

    @staticmethod
    def _touch(s: AISession, now: datetime) -> None:
        """Account the time since the last command: active (capped) or parked."""
        elapsed = max(0, int((now - s.last_activity_at).total_seconds()))
        if s.status == "paused":
            s.total_parked_seconds += elapsed
        elif s.status == "active":
            s.total_active_seconds += min(elapsed, IDLE_CAP_SECONDS)
        s.last_activity_at = now

    @staticmethod
    async def _changed(db: AsyncSession, s: AISession, actor: Actor, kind: str) -> None:
        """Tell other processes (and other adapters) the header changed, when this transaction commits."""
        await notify.publish(db, notify.SessionChange(s.id, kind, actor.origin, actor.platform))

    async def _add_step(self, db: AsyncSession, s: AISession, **fields: Any) -> AISessionStep:
        s.step_count += 1
        step = AISessionStep(session_id=s.id, step_order=s.step_count, **fields)
        db.add(step)
        return step

    @staticmethod
    def _require_active_or_paused(s: AISession) -> None:
        if s.status not in ("active", "paused"):
            raise InvalidTransition(
                msg.NOT_ACTIVE.format(status=s.status.replace("_", " "), hint=msg.CLOSED_HINT)
            )

    @staticmethod
    def _release_with(s: AISession) -> None:
        """Let go of the lease in the caller's transaction (the turn's last write), not in one more; once it
        has committed, the caller says so with `_released[s.id] = True`."""
        s.lease_owner = None
        s.lease_expires_at = None
        s.turn_in_flight = None

    def _ensure_lease(self, s: AISession) -> None:
        if s.lease_owner != self.owner:
            # Our lease expired and another process took the session over: its turn wins, ours is dropped.
            raise SessionBusy(msg.BUSY)

    def _remember_step(self, session_id: uuid.UUID, order: int, step: StepForPrompt) -> None:
        """A step this process has just written joins the session's remembered history, when it follows on
        from it: the next turn then reads nothing."""
        known = self._histories.get(session_id)
        if known is not None and known[0] == order - 1:
            self._histories[session_id] = (order, known[1] + [step])

    async def _history(
        self, db: Db, session_id: uuid.UUID, *, upto: int | None = None
    ) -> list[StepForPrompt]:
        """The session's steps for the prompt: steps are append-only, so only new ones are read, and none
        when the remembered ones reach `upto` (the session's step count, when the caller knows it)."""
        known = self._histories.get(session_id)
        if known is not None and upto is not None and known[0] == upto:
            self._histories[session_id] = self._histories.pop(session_id)  # the most recently used
            return known[1]
        read = raw.prompt_steps if isinstance(db, raw.Conn) else repo.prompt_steps
        known = self._histories.pop(session_id, None)
        since, steps = known if known else (0, [])
        rows: Sequence[Any] = await read(db, session_id, after=since)  # type: ignore[arg-type]
        if rows and rows[0].step_order != since + 1:  # a gap: read it all again
            since, steps = 0, []
            rows = await read(db, session_id)  # type: ignore[arg-type]
        steps = steps + [StepForPrompt.of(r) for r in rows]
        self._histories[session_id] = (rows[-1].step_order if rows else since, steps)
        while len(self._histories) > HISTORY_CACHE_SESSIONS:
            self._histories.pop(next(iter(self._histories)))
        return steps


@contextlib.asynccontextmanager
async def _same(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    yield db


class _KeyedLocks:
    """One asyncio.Lock per session in this process, so local waiters queue instead of polling the database."""

    def __init__(self) -> None:
        self._locks: dict[uuid.UUID, tuple[asyncio.Lock, int]] = {}

    def busy(self, key: uuid.UUID) -> bool:
        """A turn of this process holds or waits for the session."""
        return key in self._locks

    @contextlib.asynccontextmanager
    async def hold(self, key: uuid.UUID, *, timeout: float) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(), timeout)
            except TimeoutError:
                raise SessionBusy(msg.BUSY) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
