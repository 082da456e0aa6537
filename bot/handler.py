"""The session handler: `handle(command)` applies one command and yields the events adapters render.

Each turn takes the session's lease (storage.lease), works in short transactions, and never holds a
transaction or a pooled connection while Claude thinks.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import sqlalchemy as sa

from storage import repo
from storage.engine import is_busy, is_outage
from storage.models import (
    Account,
    AISession,
    ThreadBinding,
    User,
)

from . import messages as msg
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
    MarkAction,
    Pause,
    Rate,
    Resolve,
    Resume,
    RetryTurn,
    SessionCommand,
    SetEvidenceStatus,
    StartSession,
    TakeOver,
    UserMessage,
)
from .conversation import ConversationMixin
from .errors import (
    ClaudeBadOutput,
    ClaudeUnavailable,
    DatabaseUnavailable,
    FlowPilotError,
    InternalError,
    RateLimited,
    SessionBusy,
    ShuttingDown,
)
from .events import (
    AssistantTurn,
    DraftView,
    Event,
    Notice,
    SessionStarted,
    SessionView,
    Thinking,
    TriageChanged,
)
from .handoffs import HandoffMixin
from .lifecycle import LifecycleMixin
from .session_core import _Queue, _Turn
from .triage import session_view
from .triage_edits import TriageMixin

logger = logging.getLogger(__name__)


class SessionHandler(ConversationMixin, TriageMixin, HandoffMixin, LifecycleMixin):
    """`handle(command)` applies one command and yields the events adapters render."""

    # ── entry point ────────────────────────────────────────────────────────────────────────────────
    async def handle(self, command: Command) -> AsyncIterator[Event]:
        """Apply one command; yields events in the order the user should see them."""
        session_id = getattr(command, "session_id", None)
        # Between Thinking("turn") and AssistantTurn the engineer's input is saved and waiting for Claude's
        # answer: a failure there is retried with RetryTurn, never by sending the input a second time.
        input_saved = False
        queue: _Queue | None = None
        carried = command
        try:
            if self._closing:
                raise ShuttingDown(msg.SHUTTING_DOWN)
            if isinstance(command, StartSession):
                async for event in self._start(command):
                    if isinstance(event, SessionStarted):
                        session_id = event.session_id
                    input_saved = _input_saved(event, input_saved)
                    yield event
            elif isinstance(command, GetStatus):
                yield TriageChanged(
                    command.session_id, await self.view(actor=command.actor, session_id=command.session_id)
                )
            else:
                assert isinstance(command, SessionCommand)
                queue = self._queue_for(command) if isinstance(command, UserMessage) else None
                if queue is not None and queue.joined and queue.joined[-1] is command:
                    queue = None  # joined another message's queue: that one carries it
                    await self._require_access(command.actor, command.session_id)
                    yield Notice(command.session_id, msg.JOINED, code="queued", private=True)
                    return
                async with contextlib.AsyncExitStack() as stack:
                    turn = _Turn()
                    async for queued in self._take_turn(command, stack, turn):
                        yield queued
                    if queue is not None and isinstance(command, UserMessage):
                        command = self._close_queue(command, queue)  # what joined it while it waited
                    notice = (
                        self._interrupted_notice(
                            command.actor, command.session_id, turn.interrupted, command=command
                        )
                        if turn.interrupted
                        else None
                    )
                    if notice is not None:
                        yield notice
                    async for event in self._dispatch(command, turn):
                        input_saved = _input_saved(event, input_saved)
                        yield event
        except FlowPilotError as err:
            if queue is not None and queue.joined and isinstance(carried, UserMessage):
                # The messages that joined this one share its fate: its Retry sends them all again.
                command = self._close_queue(carried, queue)
                if not err.retryable:
                    err.message = f"{err.message} {msg.JOINED_LOST.format(count=len(queue.joined))}"
            yield _failure_notice(command, err, session_id, input_saved)
        except Exception as err:
            if is_busy(err):  # every connection of the process's budget stayed in use (storage.engine)
                logger.warning("no free database connection for %s", type(command).__name__)
                yield _failure_notice(command, SessionBusy(msg.DATABASE_BUSY), session_id, input_saved)
                return
            if is_outage(err):
                logger.warning(
                    "database unavailable during %s: %s", type(command).__name__, type(err).__name__
                )
                yield _failure_notice(
                    command, DatabaseUnavailable(msg.DATABASE_DOWN), session_id, input_saved
                )
                return
            ref = uuid.uuid4().hex[:8]
            logger.exception("unexpected error %s while handling %s", ref, type(command).__name__)
            yield _failure_notice(
                command, InternalError(msg.INTERNAL_ERROR.format(ref=ref)), session_id, input_saved
            )
        finally:
            if queue is not None and isinstance(carried, UserMessage):
                self._drop_queue(carried, queue)

    async def _dispatch(self, command: SessionCommand, turn: _Turn) -> AsyncIterator[Event]:
        if isinstance(command, DraftHandoff) and turn.waited:
            # Pressed again (or on another screen) while a draft was being written: that draft answers it.
            async for event in self._draft(command, written_since=turn.arrived):
                yield event
            return
        handlers = {
            UserMessage: self._user_message,
            AnswerQuestion: self._answer,
            MarkAction: self._mark_action,
            EditTriage: self._edit_triage,
            SetEvidenceStatus: self._set_evidence,
            DraftHandoff: self._draft,
            DiscardDraft: self._discard_draft,
            Resolve: self._resolve,
            Escalate: self._escalate,
            TakeOver: self._take_over,
            Pause: self._pause,
            Resume: self._resume,
            Abandon: self._abandon,
            Rate: self._rate,
            RetryTurn: self._retry,
        }
        async for event in handlers[type(command)](command):  # type: ignore[operator]
            yield event

    # ── queries (no lease needed) ──────────────────────────────────────────────────────────────────
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
            return await self._header_view(db, s, account)

    async def latest_draft(self, *, actor: Actor, session_id: uuid.UUID) -> DraftView | None:
        """The open handoff draft of a session (for an Edit dialog), checked against the actor's account."""
        async with self._db() as db, db.begin():
            await self._load(db, actor, session_id, lock=False)
            draft = await self._latest_draft(db, session_id)
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

    async def session_for_thread(
        self, *, platform: str, workspace_id: str, channel_id: str, thread_id: str
    ) -> ThreadBinding | None:
        async with self._db() as db:
            return await repo.binding_for(
                db, platform=platform, workspace_id=workspace_id, channel_id=channel_id, thread_id=thread_id
            )

    async def thread_held_elsewhere(
        self, *, platform: str, workspace_id: str, channel_id: str, thread_id: str
    ) -> bool:
        """True when the thread holds a session of another workspace (a channel shared between workspaces):
        the thread is that workspace's, so nobody from this one may start or bind a session in it."""
        async with self._db() as db:
            held = await repo.thread_workspaces(
                db, platform=platform, channel_id=channel_id, thread_id=thread_id
            )
        return any(w != workspace_id for w in held)

    async def latest_open_thread(
        self, *, actor: Actor, platform: str, channel_id: str
    ) -> ThreadBinding | None:
        """The thread of the actor's most recently active open (active or paused) session in one channel."""
        async with self._db() as db:
            account = await self._account(db, actor)
            if account is None:
                return None
            return await repo.latest_open_binding(
                db,
                account_id=account.id,
                platform=platform,
                workspace_id=actor.workspace_id,
                channel_id=channel_id,
                user_external_id=actor.user_id,
            )

    async def threads_of(
        self, session_id: uuid.UUID, *, platform: str, workspace_id: str
    ) -> list[ThreadBinding]:
        """Where a session is shown in one workspace of a platform, oldest first (a system read, like `header`).

        Adapters must pass the workspace they are answering in, so a thread is never shown to a stranger.
        """
        async with self._db() as db:
            bindings = await repo.bindings_of(db, session_id)
        mine = [b for b in bindings if b.platform == platform and b.workspace_id == workspace_id]
        return sorted(mine, key=lambda b: (b.created_at, b.id))

    async def list_sessions(
        self,
        *,
        actor: Actor,
        statuses: tuple[str, ...] = ("active", "paused"),
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


def _input_saved(event: Event, saved: bool) -> bool:
    if isinstance(event, Thinking) and event.purpose == "turn":
        return True
    if isinstance(event, AssistantTurn):
        return False
    return saved


def _failure_notice(
    command: Command, err: FlowPilotError, session_id: uuid.UUID | None, input_saved: bool = False
) -> Notice:
    retry = _retry_for(command, err, session_id, input_saved)
    # A start that was refused made no session: only the engineer who tried needs to hear of it.
    return Notice(
        session_id,
        err.message,
        level="error",
        code=err.code,
        retry=retry,
        private=err.private or session_id is None,
    )


def _retry_for(
    command: Command, err: FlowPilotError, session_id: uuid.UUID | None, input_saved: bool = False
) -> SessionCommand | None:
    """The command a Retry button should send, or None when retrying cannot help.

    Once the engineer's input is saved (the turn is waiting for Claude's answer), Retry asks for that answer
    again: resending the original message or click would record it twice or be refused as already answered.
    """
    if not err.retryable or session_id is None:
        return None
    if input_saved:
        return RetryTurn(actor=command.actor, session_id=session_id)
    if isinstance(err, ClaudeUnavailable | ClaudeBadOutput | RateLimited):
        if isinstance(command, DraftHandoff):
            return command
        return RetryTurn(actor=command.actor, session_id=session_id)
    return command if isinstance(command, SessionCommand) else None
