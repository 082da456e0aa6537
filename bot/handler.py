"""The session handler: `handle(command)` applies one command and yields the events adapters render.

It composes small pieces, each with one idea, passed to the handlers that need them: the turn lease
(bot/turn_lease.py), the identity cache (bot/identities.py), the prompt history (bot/history.py), the rate
limiters (bot/limits.py), and one handler per concern: the conversation, the triage edits, the handoffs and
the lifecycle. Each turn takes the session's lease, works in short transactions, and never holds a
transaction or a pooled connection while Claude thinks.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repo
from storage.engine import is_busy, is_outage
from storage.models import Account, AISession, User

from . import messages as msg
from .claude import ClaudeClient
from .commands import (
    Abandon,
    Actor,
    AnswerQuestion,
    Command,
    DiscardDraft,
    DraftHandoff,
    EditTriage,
    Escalate,
    GetStatus,
    LeaveFlow,
    MarkAction,
    Pause,
    Rate,
    Resolve,
    Resume,
    RetryTurn,
    RetryWriteBack,
    SessionCommand,
    SetEvidenceStatus,
    StartSession,
    TakeOver,
    UserMessage,
)
from .errors import DatabaseUnavailable, FlowPilotError, InternalError, SessionBusy, ShuttingDown
from .events import AssistantTurn, DraftView, Event, Notice, SessionStarted, SessionView, TriageChanged
from .failures import failure_notice, input_saved_after
from .flow_steps import FlowSteps
from .flow_turns import FlowConversation
from .flows.library import FlowLibrary, FlowRef
from .handoffs import Handoffs
from .history import PromptHistory
from .identities import Identities
from .lifecycle import Lifecycle
from .limits import Limits, session_limiter, turn_limiter
from .outputs import ResolutionOutputGenerator
from .psa_intake import Tickets
from .psa_writeback import WriteBacks
from .session_core import Sessions
from .status import SessionStatus
from .triage import session_view
from .triage_edits import TriageEdits
from .turn_lease import Turn, TurnLease, WaitingMessages, interrupted_notice

logger = logging.getLogger(__name__)


class SessionHandler:
    """`handle(command)` applies one command and yields the events adapters render."""

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
        flows: FlowLibrary | None = None,
        tickets: Tickets | None = None,
        writebacks: WriteBacks | None = None,
    ) -> None:
        self._db = db
        self.owner = uuid.uuid4()
        identities = Identities(db)
        self._sessions = Sessions(db=db, identities=identities)
        self._lease = TurnLease(
            db=db,
            owner=self.owner,
            check_access=self._sessions.require_access,
            lease_seconds=lease_seconds,
            wait_seconds=lease_wait_seconds,
        )
        history = PromptHistory()
        claude_turns = turn_limiter(limits or Limits())
        self._conversation = FlowConversation(
            db=db,
            claude=claude,
            sessions=self._sessions,
            lease=self._lease,
            history=history,
            new_sessions=session_limiter(limits or Limits()),
            claude_turns=claude_turns,
            psa_enabled=psa_enabled or tickets is not None,
            tickets=tickets,
        )
        self._triage = TriageEdits(db=db, sessions=self._sessions)
        self._handoffs = Handoffs(
            db=db,
            claude=claude,
            sessions=self._sessions,
            history=history,
            claude_turns=claude_turns,
            outputs=outputs or ResolutionOutputGenerator(),
            owner=self.owner,
        )
        self._lifecycle = Lifecycle(db=db, sessions=self._sessions)
        self._flow_library = flows
        # A flow's steps come first: what is not a flow's goes on to the conversation.
        self._flows = FlowSteps(
            db=db,
            library=flows,
            sessions=self._sessions,
            conversation=self._conversation,
            handoffs=self._handoffs,
            psa_enabled=psa_enabled,
        )
        # Which handler applies each command (with the turn it took, for those that need it).
        c, t, h, life, f = self._conversation, self._triage, self._handoffs, self._lifecycle, self._flows
        self._routes: dict[type[SessionCommand], Callable[[Any, Turn], AsyncIterator[Event]]] = {
            UserMessage: f.user_message,
            AnswerQuestion: f.answer,
            MarkAction: f.mark_action,
            LeaveFlow: f.leave,
            RetryTurn: c.retry,
            DraftHandoff: h.draft,
            EditTriage: lambda cmd, _turn: t.edit(cmd),
            SetEvidenceStatus: lambda cmd, _turn: t.set_evidence(cmd),
            DiscardDraft: lambda cmd, _turn: h.discard_draft(cmd),
            Resolve: lambda cmd, _turn: h.resolve(cmd),
            Escalate: lambda cmd, _turn: h.escalate(cmd),
            TakeOver: lambda cmd, _turn: life.take_over(cmd),
            Pause: lambda cmd, _turn: life.pause(cmd),
            Resume: lambda cmd, _turn: life.resume(cmd),
            Abandon: lambda cmd, _turn: life.abandon(cmd),
            Rate: lambda cmd, _turn: life.rate(cmd),
        }
        if writebacks is not None:  # a confirm from a ticket is written back to it (bot/psa_writeback.py)
            self._routes[RetryWriteBack] = lambda cmd, _turn: writebacks.retry(cmd)
            resolve, escalate = self._routes[Resolve], self._routes[Escalate]
            self._routes[Resolve] = lambda cmd, turn: writebacks.after_confirm(resolve(cmd, turn))
            self._routes[Escalate] = lambda cmd, turn: writebacks.after_confirm(escalate(cmd, turn))

    # ── entry point ────────────────────────────────────────────────────────────────────────────────
    # The one entry point: every failure, of whatever kind, becomes a notice here.
    async def handle(self, command: Command) -> AsyncIterator[Event]:
        """Apply one command; yields events in the order the user should see them."""
        run = _Run(command, getattr(command, "session_id", None))
        try:
            if self._lease.closing:
                raise ShuttingDown(msg.SHUTTING_DOWN)
            async with contextlib.aclosing(self._apply(command, run)) as events:
                async for event in events:
                    yield event
        except Exception as err:
            yield self._failed(err, command, run)
        finally:
            if run.queue is not None and isinstance(command, UserMessage):
                self._lease.drop_queue(command, run.queue)

    async def _apply(self, command: Command, run: _Run) -> AsyncGenerator[Event, None]:
        if isinstance(command, StartSession):
            starting = self._flows.start(command) if command.flow else self._flows.match.start(command)
            async for event in starting:
                if isinstance(event, SessionStarted):
                    run.session_id = event.session_id
                run.input_saved = input_saved_after(event, run.input_saved)
                yield event
            return
        if isinstance(command, GetStatus):
            yield TriageChanged(
                command.session_id, await self.view(actor=command.actor, session_id=command.session_id)
            )
            return
        assert isinstance(command, SessionCommand)
        run.queue = self._lease.queue_for(command) if isinstance(command, UserMessage) else None
        if run.queue is not None and run.queue.joined and run.queue.joined[-1] is command:
            run.queue = None  # joined another message's queue: that one carries it
            await self._sessions.require_access(command.actor, command.session_id)
            yield Notice(command.session_id, msg.JOINED, code="queued", private=True)
            return
        async with contextlib.AsyncExitStack() as stack:
            turn = Turn()
            async for queued in self._lease.take(command, stack, turn):
                yield queued
            if run.queue is not None and isinstance(command, UserMessage):
                # What joined it while it waited goes with it.
                command = run.command = self._lease.close_queue(command, run.queue)
            notice = (
                interrupted_notice(command.actor, command.session_id, turn.interrupted, command=command)
                if turn.interrupted
                else None
            )
            if notice is not None:
                yield notice
            async for event in self._dispatch(command, turn):
                run.input_saved = input_saved_after(event, run.input_saved)
                yield event

    def _failed(self, err: Exception, carried: Command, run: _Run) -> Notice:
        """The notice a failure becomes, with the Retry that fits how far the command got."""
        command = run.command
        failure = err if isinstance(err, FlowPilotError) else _reported(err, command)
        if run.queue is not None and run.queue.joined and isinstance(carried, UserMessage):
            # The messages that joined this one share its fate: its Retry sends them all again.
            command = self._lease.close_queue(carried, run.queue)
            if not failure.retryable:
                failure.message = f"{failure.message} {msg.JOINED_LOST.format(count=len(run.queue.joined))}"
        return failure_notice(command, failure, run.session_id, run.input_saved)

    def _dispatch(self, command: SessionCommand, turn: Turn) -> AsyncIterator[Event]:
        route = self._routes.get(type(command))
        if route is None:
            raise TypeError(f"no handler for {type(command).__name__}")
        return route(command, turn)

    # ── the lease, outside a command ───────────────────────────────────────────────────────────────
    async def note_draft_message(self, session_id: uuid.UUID, platform: str, where: dict[str, str]) -> None:
        """Remember where this process shows the draft it is streaming, so that if the process dies, whoever
        finds the turn unfinished can mark that message as cut off."""
        await self._lease.note_draft_message(session_id, platform, where)

    def stop(self, session_id: uuid.UUID) -> None:
        """The engineer is stopping this session's running turn or draft (the shell's Ctrl-C, before it cancels
        the command): it is kept as interrupted, for Retry, where a reader going away leaves no draft to retry."""
        self._lease.stop(session_id)

    async def recover_unfinished(self, *, limit: int = 50) -> list[Notice]:
        """Take over the turns that processes which died or were stopped left unfinished, and say so.

        Each session's owner gets the notice (with Retry) without having to send anything first; a session
        another process is recovering, or that an engineer is using right now, is left to them.
        """
        notices: list[Notice] = []
        async for session_id, interrupted in self._lease.unfinished(limit=limit):
            actor = await self._sessions.owner_of(session_id)
            notice = interrupted_notice(actor, session_id, interrupted)
            if notice is not None:
                notices.append(notice)
        return notices

    async def shutdown(self, grace_seconds: float) -> None:
        """Refuse new commands, let turns in flight finish, then interrupt the rest (they stay retryable)."""
        await self._lease.shutdown(grace_seconds)

    # ── queries (no lease needed) ──────────────────────────────────────────────────────────────────
    async def flows(self, *, actor: Actor) -> list[FlowRef]:
        """The flows the actor's account sees (its own, and the shared ones it has not hidden)."""
        if self._flow_library is None:
            return []
        account = await self._sessions.identities.account(None, actor, create=True)
        assert account is not None
        return await self._flow_library.visible(account_id=account.id)

    async def view(self, *, actor: Actor, session_id: uuid.UUID) -> SessionView:
        """The header of one session, for an actor of its account."""
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, actor, session_id, lock=False)
            return await self._sessions.view_of(db, loaded)

    async def last_turn(
        self, *, actor: Actor, session_id: uuid.UUID
    ) -> tuple[AssistantTurn | None, SessionView]:
        """Claude's latest reply with the questions and steps still open, and the header: what a chat shows
        again when it failed to show them the first time (nothing is asked of Claude)."""
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, actor, session_id, lock=False)
            step = await repo.last_assistant_message(db, session_id)
            view = await self._sessions.view_of(db, loaded)
        if step is None:
            return None, view
        turn = AssistantTurn(
            session_id, step.step_order, step.content, view.questions, view.actions, view.confidence_tier
        )
        return turn, view

    async def header(self, session_id: uuid.UUID) -> SessionView | None:
        """The header of a session for re-rendering after a change notification (a system read: no actor).

        Only for adapters that already hold the session's thread; user-facing reads go through `view()`.
        """
        async with self._db() as db:
            s = await repo.session_row(db, session_id)
            if s is None:
                return None
            account = await db.get(Account, s.account_id)
            assert account is not None
            return await self._sessions.header_view(db, s, account)

    async def latest_draft(self, *, actor: Actor, session_id: uuid.UUID) -> DraftView | None:
        """The open handoff draft of a session (for an Edit dialog), checked against the actor's account."""
        async with self._db() as db, db.begin():
            await self._sessions.load(db, actor, session_id, lock=False)
            draft = await self._handoffs.latest_draft(db, session_id)
            if draft is None:
                return None
            return DraftView(
                handoff_id=draft.id,
                kind=draft.kind,
                text=draft.draft_text,
                root_cause=draft.root_cause,
                steps_taken=draft.steps_taken,
                recommendations=draft.recommendations,
            )

    async def list_sessions(
        self,
        *,
        actor: Actor,
        statuses: tuple[str, ...] = (SessionStatus.ACTIVE, SessionStatus.PAUSED),
        mine: bool = True,
        limit: int = 20,
    ) -> list[SessionView]:
        """The actor's (or the account's) sessions, newest activity first."""
        async with self._db() as db:
            account = await repo.find_account(db, platform=actor.platform, external_id=actor.workspace_id)
            if account is None:
                return []
            stmt = sa.select(AISession).where(
                AISession.account_id == account.id, AISession.status.in_(statuses)
            )
            if mine:
                stmt = stmt.join(User, User.id == AISession.user_id).where(User.external_id == actor.user_id)
            rows = (
                (await db.execute(stmt.order_by(AISession.last_activity_at.desc()).limit(limit)))
                .scalars()
                .all()
            )
            users = await repo.users_by_id(db, [u for s in rows for u in (s.user_id, s.escalated_to_id) if u])
            return [
                session_view(
                    s, account_platform=account.platform, account_external_id=account.external_id, users=users
                )
                for s in rows
            ]


@dataclass
class _Run:
    """How far one command got: what the notice of its failure says, and what its Retry sends."""

    command: Command  # what a Retry sends: a message with the ones that joined it while it waited
    session_id: uuid.UUID | None
    # Between Thinking("turn") and AssistantTurn the engineer's input is saved and waiting for Claude's
    # answer: a failure there is retried with RetryTurn, never by sending the input a second time.
    input_saved: bool = False
    queue: WaitingMessages | None = None  # the queue of messages this one carries (dropped when it ends)


def _reported(err: Exception, command: Command) -> FlowPilotError:
    """What the engineer is told of a failure that is not one of the core's own: the database's budget used
    up or the database away (retryable), or a bug (logged with a reference they can quote)."""
    name = type(command).__name__
    if is_busy(err):  # every connection of the process's budget stayed in use (storage.engine)
        logger.warning("no free database connection for %s", name)
        return SessionBusy(msg.DATABASE_BUSY)
    if is_outage(err):
        logger.warning("database unavailable during %s: %s", name, type(err).__name__)
        return DatabaseUnavailable(msg.DATABASE_DOWN)
    ref = uuid.uuid4().hex[:8]
    logger.exception("unexpected error %s while handling %s", ref, name)
    return InternalError(msg.INTERNAL_ERROR.format(ref=ref))
