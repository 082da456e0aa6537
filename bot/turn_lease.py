"""The turn lease: one turn at a time per session, across processes (storage.lease) and within one.

A turn takes the session's lease, renews it while it runs and lets go after; within the process, turns of
one session queue on a lock instead of polling the database. A command that has to wait is told so at once
("this one is next"), and an engineer's messages sent while their previous one waits join it: when it gets
the turn, they go to Claude together, as one turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import lease as leases

from . import messages as msg
from .commands import Actor, DraftHandoff, RetryTurn, SessionCommand, UserMessage
from .errors import FlowPilotError, NotFound, SessionBusy
from .events import Notice

logger = logging.getLogger(__name__)


@dataclass
class Turn:
    """One command's turn on a session, as taking the lease found it; travels with the command.

    `interrupted`: the turn a previous holder left unfinished, if any. `waited`: the command had to wait
    for another turn (which may have done what it asks: see Handoffs.draft). `row`: the session row the
    lease returned, for the turn's first read (taken once). `released`: the turn's last write let go of the
    lease, so there is nothing left to release.
    """

    arrived: datetime = field(default_factory=lambda: datetime.now(UTC))
    interrupted: dict[str, Any] | None = None
    waited: bool = False
    row: dict[str, Any] | None = None
    released: bool = False

    def take_row(self) -> dict[str, Any] | None:
        row, self.row = self.row, None
        return row


@dataclass
class WaitingMessages:
    """An engineer's messages that arrived while their previous one waited for the session's turn."""

    actor: tuple[str, str, str]
    joined: list[UserMessage] = field(default_factory=list)


# Before anything is said about a session someone else is using: is it the actor's account's?
AccessCheck = Callable[[Actor, uuid.UUID], Awaitable[None]]


class TurnLease:
    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        owner: uuid.UUID,
        check_access: AccessCheck,
        lease_seconds: float,
        wait_seconds: float,
    ) -> None:
        self._db = db
        self.owner = owner
        self._check_access = check_access
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.local = KeyedLocks()
        # Per session, the messages waiting to join the next turn of the engineer whose message waits.
        self.queues: dict[uuid.UUID, WaitingMessages] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()
        self.closing = False
        # Sessions whose running turn its engineer stopped (the shell's Ctrl-C): kept as interrupted.
        self._stopped: set[uuid.UUID] = set()

    def stop(self, session_id: uuid.UUID) -> None:
        """The engineer is stopping this session's turn or draft: if it ends cut short, keep it as
        interrupted (a draft too, unlike one whose reader went away), so that Retry can do it again."""
        self._stopped.add(session_id)

    async def take(
        self, command: SessionCommand, stack: contextlib.AsyncExitStack, turn: Turn
    ) -> AsyncIterator[Notice]:
        """Wait for and take the session's lease, entering what holds it into `stack`; yields a private
        "this one is next" notice at once when the turn has to wait, and fills in `turn`."""
        session_id = command.session_id
        self._stopped.discard(session_id)  # a stop is meant for the turn running then, not this one
        told = self.local.busy(session_id)
        if told:
            await self._check_access(command.actor, session_id)
            yield _queued(command)
        await stack.enter_async_context(self.local.hold(session_id, timeout=self.wait_seconds))
        name, kind = type(command).__name__, getattr(command, "kind", None)
        acquired = await self._try_acquire(session_id, name, kind=kind)
        turn.waited = told
        if acquired is None:  # another process's turn holds it
            if not told:
                await self._check_access(command.actor, session_id)
                yield _queued(command)
            turn.waited = True
            acquired = await self._acquire(session_id, name, kind=kind)
        # Our own leftover (a release that failed while the database was away) was already reported.
        turn.interrupted = None if acquired.previous_owner == self.owner else acquired.interrupted
        turn.row = acquired.row
        # A draft cut short (the reader went away) leaves nothing to retry: not an interruption.
        await stack.enter_async_context(
            self.holding(session_id, turn, marks_interruption=not isinstance(command, DraftHandoff))
        )

    @contextlib.asynccontextmanager
    async def holding(
        self, session_id: uuid.UUID, turn: Turn, *, marks_interruption: bool = True
    ) -> AsyncIterator[None]:
        """Renew the lease while the turn runs; release it after, marked interrupted if cut short."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        heartbeat = asyncio.create_task(self._heartbeat(session_id, turn))
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
                self._in_flight.discard(task)
            stopped = session_id in self._stopped
            self._stopped.discard(session_id)
            # A turn that ended by saving Claude's answer let go of the lease in that same transaction.
            if not turn.released:
                # Released even when the turn is cancelled (client gone, shutdown): shield the write.
                interrupted = (marks_interruption or stopped) and not completed
                await asyncio.shield(self._release(session_id, interrupted=interrupted, stopped=stopped))

    async def _release(self, session_id: uuid.UUID, *, interrupted: bool, stopped: bool) -> None:
        if interrupted and stopped:  # the record says its engineer stopped it, so nobody is told of a restart
            await leases.note(self._db, session_id=session_id, owner=self.owner, extra={"stopped": True})
        await leases.release(self._db, session_id=session_id, owner=self.owner, interrupted=interrupted)

    async def _try_acquire(
        self, session_id: uuid.UUID, turn: str, *, kind: str | None = None
    ) -> leases.Acquired | None:
        try:
            return await leases.try_acquire(
                self._db,
                session_id=session_id,
                owner=self.owner,
                ttl=self.lease_seconds,
                turn=turn,
                kind=kind if isinstance(kind, str) else None,
            )
        except leases.NoSuchSession:
            raise NotFound(msg.SESSION_NOT_FOUND) from None

    async def _acquire(self, session_id: uuid.UUID, turn: str, *, kind: str | None = None) -> leases.Acquired:
        """Wait for another process's turn to end (or for it to be seen dead: storage.liveness)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        delay = 0.02
        while True:
            acquired = await self._try_acquire(session_id, turn, kind=kind)
            if acquired is not None:
                return acquired
            if loop.time() >= deadline:
                raise SessionBusy(msg.BUSY)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    async def _heartbeat(self, session_id: uuid.UUID, turn: Turn) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if turn.released:
                return
            try:
                if not await leases.renew(
                    self._db, session_id=session_id, owner=self.owner, ttl=self.lease_seconds
                ):
                    logger.warning("lease on session %s was lost", session_id)
                    return
            except Exception:
                logger.exception("could not renew the lease on session %s", session_id)

    async def unfinished(self, *, limit: int) -> AsyncIterator[tuple[uuid.UUID, dict[str, Any]]]:
        """Take over, one at a time, the turns that processes which died or were stopped left unfinished:
        yields each with the lease held (released after); a session another process is recovering, or that
        an engineer is using right now, is left to them."""
        if self.closing:
            return
        for session_id in await leases.unfinished(self._db, owner=self.owner, limit=limit):
            if self.local.busy(session_id):
                continue
            async with self.local.hold(session_id, timeout=self.wait_seconds):
                acquired = await leases.try_acquire(
                    self._db, session_id=session_id, owner=self.owner, ttl=self.lease_seconds, turn="Recover"
                )
                if acquired is None:
                    continue
                try:
                    if acquired.interrupted:
                        yield session_id, acquired.interrupted
                finally:
                    await leases.release(self._db, session_id=session_id, owner=self.owner)

    async def note_draft_message(self, session_id: uuid.UUID, platform: str, where: dict[str, str]) -> None:
        await leases.note(self._db, session_id=session_id, owner=self.owner, extra={platform: where})

    async def shutdown(self, grace_seconds: float) -> None:
        """Refuse new turns, let turns in flight finish, then interrupt the rest (they stay retryable)."""
        self.closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self._in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._in_flight):
            task.cancel()
        while self._in_flight and loop.time() < deadline + 5:
            await asyncio.sleep(0.05)

    # ── messages sent while the previous one waits ──────────────────────────────────────────────────
    def queue_for(self, command: UserMessage) -> WaitingMessages | None:
        """The queue this message carries, or joins (then it is the queue's last message), or None when
        another engineer's message is waiting for the session (theirs and ours stay separate turns)."""
        actor = (command.actor.platform, command.actor.workspace_id, command.actor.user_id)
        queue = self.queues.get(command.session_id)
        if queue is None:
            queue = self.queues[command.session_id] = WaitingMessages(actor)
            return queue
        if queue.actor != actor:
            return None
        queue.joined.append(command)
        return queue

    def close_queue(self, command: UserMessage, queue: WaitingMessages) -> UserMessage:
        """The turn was taken: later messages start a queue of their own; this one answers them all."""
        self.drop_queue(command, queue)
        if not queue.joined:
            return command
        parts = [command, *queue.joined]
        return UserMessage(
            actor=command.actor,
            session_id=command.session_id,
            text="\n\n".join(p.text.strip() for p in parts if p.text.strip()),
            attachments=tuple(a for p in parts for a in p.attachments),
        )

    def drop_queue(self, command: SessionCommand, queue: WaitingMessages) -> None:
        if self.queues.get(command.session_id) is queue:
            del self.queues[command.session_id]


def _queued(command: SessionCommand) -> Notice:
    return Notice(command.session_id, msg.QUEUED, code="queued", private=True)


def interrupted_notice(
    actor: Actor,
    session_id: uuid.UUID,
    interrupted: dict[str, Any],
    *,
    command: SessionCommand | None = None,
) -> Notice | None:
    """What to tell the engineer about a turn a dead or stopped process left unfinished.

    `command` is what the engineer sent that found it (None when the recovery sweep found it first).
    """
    stopped = bool(interrupted.get("stopped"))
    if interrupted.get("command") == "DraftHandoff":
        # Drafts are saved only when finished: the text shown so far was lost, writing it again is the fix.
        kind: Literal["resolve", "escalate"] = (
            "escalate" if interrupted.get("kind") == "escalate" else "resolve"
        )
        again = isinstance(command, DraftHandoff)
        if again and stopped:
            return None  # stopped on purpose and being written again: nothing to explain
        if stopped:
            text = msg.DRAFT_STOPPED
        else:
            text = msg.DRAFT_INTERRUPTED_AGAIN if again else msg.DRAFT_INTERRUPTED
        return Notice(
            session_id,
            text,
            level="error",
            code="interrupted",
            retry=None if again else DraftHandoff(actor=actor, session_id=session_id, kind=kind),
            interrupted=interrupted,
        )
    if isinstance(command, RetryTurn):
        return None
    return Notice(
        session_id,
        msg.TURN_STOPPED if stopped else msg.INTERRUPTED,
        level="error",
        code="interrupted",
        retry=RetryTurn(actor=actor, session_id=session_id),
        interrupted=interrupted,
    )


class KeyedLocks:
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
