"""Starting a session and its conversation: messages, answers, marked steps and Claude's replies."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import notify, raw
from storage.models import AISessionStep
from storage.state import SessionState

from . import messages as msg
from .claude import ClaudeClient, TurnResult
from .claude_answer import TurnStream, apply_turn, header_changed
from .claude_choice import Choice
from .commands import (
    Actor,
    AnswerQuestion,
    MarkAction,
    RetryTurn,
    StartSession,
    UserMessage,
)
from .errors import (
    AlreadyAnswered,
    IntakeError,
    InvalidTransition,
    NotConfigured,
    SessionBusy,
)
from .events import (
    ActionMarked,
    AssistantTurn,
    Event,
    Notice,
    QuestionAnswered,
    SessionStarted,
    SessionView,
    Thinking,
    TriageChanged,
)
from .history import PromptHistory
from .intake import PreparedInput, prepare_input, visible
from .lane import Action, Question, TaskLane
from .limits import RateLimiter
from .prompts import SYSTEM_PROMPT, StepForPrompt, build_messages, triage_context
from .psa_intake import TICKET_ONLY, Tickets, TicketStart
from .redaction import redact
from .session_core import Db, Loaded, Sessions, now, release_with, require_active, touch
from .session_start import FirstTurn, Opening, insert_new
from .triage import header_dict
from .turn_lease import Turn, TurnLease


@dataclass(frozen=True)
class TurnInput:
    messages: list[dict[str, Any]]
    before: SessionView  # the header before the turn, to tell whether it changed
    # The session as the turn read it, under the lease it holds until Claude's answer is saved: nobody else
    # writes the row meanwhile, so the answer is saved without reading it again (storage.raw.save_turn).
    loaded: Loaded[SessionState]


# What sees a flow's choice first (the first answer's hooks, FirstTurn and Opening: bot.session_start).
Follow = Callable[[TurnResult], Awaitable[AsyncIterator[Event] | None]]


class Conversation:
    """Starting a session and the conversation turns: messages, answers, marked steps, Claude's replies."""

    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        claude: ClaudeClient | None,
        sessions: Sessions,
        lease: TurnLease,
        history: PromptHistory,
        new_sessions: RateLimiter,
        claude_turns: RateLimiter,
        psa_enabled: bool = False,
        tickets: Tickets | None = None,
    ) -> None:
        self._tickets = tickets
        self._db = db
        self._claude = claude
        self._sessions = sessions
        self._lease = lease
        self._history = history
        self._new_sessions = new_sessions
        self._claude_turns = claude_turns
        self._psa_enabled = psa_enabled

    # ── starting ───────────────────────────────────────────────────────────────────────────────────
    def _prepare(self, text: str, attachments: Any) -> PreparedInput:
        return prepare_input(text, attachments, psa_enabled=self._psa_enabled)

    async def start(
        self, command: StartSession, *, first: FirstTurn | None = None, opening: Opening | None = None
    ) -> AsyncIterator[Event]:
        """Start a session; its first answer is Claude's, or `first`'s (a flow's first node), or what
        `opening` chooses once the ticket (if any) is read."""
        if self._claude is None:  # a session nobody can answer would be a dead end: none is made
            raise NotConfigured(msg.CLAUDE_NOT_CONFIGURED)
        if command.psa_ticket_id:  # counted before the PSA is asked: a flood of starts never reaches it
            self._new_sessions.check(command.actor)
        # Read once, here: the session keeps this snapshot and `opening` matches flows on it.
        ticket = (
            await self._tickets.for_command(command, self._sessions.identities) if self._tickets else None
        )
        text = command.text if command.text.strip() or ticket is None else TICKET_ONLY
        prepared = self._prepare(text, command.attachments)
        if not command.psa_ticket_id:
            self._new_sessions.check(command.actor)
        if opening is not None:
            first = await opening(ticket) or first
        session_id = uuid.uuid4()
        # The process's lock for the new session is taken before the session exists, like every turn's.
        async with self._lease.local.hold(session_id, timeout=self._lease.wait_seconds):
            starting = self._start_locked(command, prepared, session_id, first or self._claude_turn, ticket)
            async for event in starting:
                yield event

    async def _start_locked(
        self,
        command: StartSession,
        prepared: PreparedInput,
        session_id: uuid.UUID,
        first: FirstTurn,
        ticket: TicketStart | None,
    ) -> AsyncIterator[Event]:
        actor = command.actor
        try:
            # Each in a short transaction of its own when not remembered yet: before this one takes a
            # connection, so that starts never wait on each other for the pool.
            account = await self._sessions.identities.account(None, actor, create=True)
            assert account is not None
            user = await self._sessions.identities.user(account, actor)
            async with raw.transaction(self._db) as db:
                s = await insert_new(
                    db, command, prepared=prepared, ticket=ticket, session_id=session_id,
                    account=account, user=user, lease=self._lease,
                )  # fmt: skip
                prefetched = await self._turn_input(db, Loaded(s, account, user))
        except raw.ThreadTaken:
            raise InvalidTransition("This thread already has a FlowPilot session.") from None
        turn = Turn()
        async with self._lease.holding(session_id, turn):
            yield SessionStarted(session_id, prefetched.before)
            for note in prepared.notes:
                yield Notice(session_id, note)
            async for event in first(session_id, actor, prefetched, turn):
                yield event

    # ── conversation ───────────────────────────────────────────────────────────────────────────────
    async def user_message(self, command: UserMessage, turn: Turn) -> AsyncIterator[Event]:
        prepared = self._prepare(command.text, command.attachments)
        loaded = await self._sessions.load_copy(command.actor, command.session_id, turn)
        async with raw.autocommit(self._db) as db:
            s = loaded.session
            require_active(s)
            touch(s, now())
            if prepared.intake_type != "free_text" and s.intake_type != prepared.intake_type:
                s.intake_type = "combined" if s.intake_type != "free_text" else prepared.intake_type
            s.awaiting_reply = True
            await self._record(
                db,
                loaded,
                kind="message",
                content=prepared.text,
                images=[dataclasses.asdict(i) for i in prepared.images] or None,
            )
            prefetched = await self._turn_input(db, loaded)
        for note in prepared.notes:
            yield Notice(command.session_id, note)
        async for event in self._claude_turn(command.session_id, command.actor, prefetched, turn):
            yield event

    async def retry(self, command: RetryTurn, turn: Turn) -> AsyncIterator[Event]:
        loaded = await self._sessions.load_copy(command.actor, command.session_id, turn)
        async with raw.autocommit(self._db) as db:
            require_active(loaded.session)
            pending = loaded.session.awaiting_reply
            prefetched = await self._turn_input(db, loaded) if pending else None
        if prefetched is None:
            yield Notice(command.session_id, msg.NOTHING_TO_RETRY)
            return
        async for event in self._claude_turn(command.session_id, command.actor, prefetched, turn):
            yield event

    async def answer(self, command: AnswerQuestion, turn: Turn) -> AsyncIterator[Event]:
        answer = visible(redact(command.answer).text)[:2000]
        if not answer:
            raise IntakeError(msg.EMPTY_MESSAGE)
        loaded = await self._sessions.load_copy(command.actor, command.session_id, turn)
        async with raw.autocommit(self._db) as db:
            s = loaded.session
            require_active(s)
            lane = TaskLane.from_json(s.pending_task_lane)
            q = lane.question(command.question_id)
            if q is None:
                raise InvalidTransition(msg.QUESTION_CLOSED)
            if q.answer is not None:
                raise AlreadyAnswered(msg.QUESTION_ANSWERED.format(by=q.answered_by, answer=q.answer))
            touch(s, now())
            lane = lane.answered(q.id, answer, command.actor.name)
            s.pending_task_lane = lane.to_json()
            remaining = lane.open_questions
            if remaining == 0:
                s.awaiting_reply = True
            await self._record(db, loaded, kind="answer", content=f'Answer to "{q.text}": {answer}')
            prefetched = await self._turn_input(db, loaded) if remaining == 0 else None
            question = _answered(lane, q)
        yield QuestionAnswered(command.session_id, lane.step_order, question.view(), remaining)
        if prefetched is not None:
            async for event in self._claude_turn(command.session_id, command.actor, prefetched, turn):
                yield event
        else:
            yield Notice(command.session_id, msg.WAITING_FOR_ANSWERS.format(remaining=remaining))

    async def mark_action(self, command: MarkAction, turn: Turn) -> AsyncIterator[Event]:
        loaded = await self._sessions.load_copy(command.actor, command.session_id, turn)
        async with raw.autocommit(self._db) as db:
            s = loaded.session
            require_active(s)
            lane = TaskLane.from_json(s.pending_task_lane)
            a = lane.action(command.action_id)
            if a is None:
                raise InvalidTransition(msg.ACTION_UNKNOWN)
            if a.outcome is not None:
                outcome = "done" if a.outcome == "done" else "didn't work"
                raise AlreadyAnswered(msg.ACTION_MARKED.format(by=a.marked_by, outcome=outcome))
            touch(s, now())
            lane = lane.marked(a.id, command.outcome, command.actor.name)
            s.pending_task_lane = lane.to_json()
            result = "done, it worked as described" if command.outcome == "done" else "tried, it didn't work"
            ready = lane.open_questions == 0 and lane.all_marked
            if ready:
                s.awaiting_reply = True
            await self._record(
                db, loaded, kind="action_result", content=f'Suggested step "{a.text}": {result}'
            )
            prefetched = await self._turn_input(db, loaded) if ready else None
            action = _marked(lane, a)
        yield ActionMarked(command.session_id, lane.step_order, action.view())
        if prefetched is not None:
            async for event in self._claude_turn(command.session_id, command.actor, prefetched, turn):
                yield event

    async def _record(self, conn: raw.Conn, loaded: Loaded[SessionState], **step: Any) -> None:
        """Save what the engineer said or did as the session's next step, with the session's changes (the
        turn's checks and this write need no transaction: see save_step)."""
        loaded.session.step_count += 1
        await self.save_step(conn, loaded, {"role": "user", "user_id": loaded.user.id, **step})

    async def save_step(
        self,
        conn: raw.Conn,
        loaded: Loaded[SessionState],
        step: dict[str, Any],
        *,
        tell: tuple[str, str] | None = None,
    ) -> AISessionStep:
        """Write the session's changes and its step number `step_count`, in one statement and only while this
        turn holds the lease (`tell`: a change notification sent with it). The step joins the remembered
        prompt history. A flow's steps are saved through it too (bot.flow_steps, bot.flow_match)."""
        s = loaded.session
        saved = await raw.save_turn(
            conn,
            s,
            owner=self._lease.owner,
            step={"session_id": s.id, "step_order": s.step_count, **step},
            notify=tell,
        )
        if saved is None:
            # Our lease expired and another process took the session over: its turn wins, ours is dropped.
            raise SessionBusy(msg.BUSY)
        self._history.remember(s.id, saved.step_order, StepForPrompt.of(saved))
        return saved

    async def _turn_input(self, db: Db, loaded: Loaded[SessionState]) -> TurnInput:
        """What the next Claude turn needs, read inside the caller's transaction (no extra round trip)."""
        s = loaded.session
        context = triage_context(header_dict(s), s.manual_fields or [])
        history = await self._history.steps(db, s.id, upto=s.step_count)
        return TurnInput(
            build_messages(history, context=context), await self._sessions.view_of(db, loaded), loaded
        )

    async def _claude_turn(
        self,
        session_id: uuid.UUID,
        actor: Actor,
        prefetched: TurnInput,
        turn: Turn,
        *,
        choice: Choice | None = None,
        follow: Follow | None = None,
    ) -> AsyncIterator[Event]:
        """Ask Claude for the next turn (the lease is held) and persist it. With a flow's `choice`, `follow`
        sees the answer first and may take over saving and showing it (bot.flow_turns)."""
        if self._claude is None:
            raise NotConfigured(msg.CLAUDE_NOT_CONFIGURED)
        messages, before = prefetched.messages, prefetched.before
        self._claude_turns.check(actor)
        yield Thinking(session_id, "turn")
        answer = TurnStream(self._claude, session_id)
        try:
            # Closed at once when the reader goes away, so is the request to Claude.
            deltas = answer.deltas(system=SYSTEM_PROMPT, messages=messages, choice=choice)
            async with contextlib.aclosing(deltas):
                async for delta in deltas:
                    yield delta
            assert answer.result is not None
            followed = await follow(answer.result) if follow is not None else None
            if followed is None:
                after, step = await self._save_answer(actor, prefetched, answer.result)
        except Exception:
            # Words were shown and the turn failed (Claude cut off, or the answer could not be saved): they
            # are marked cut off before the failure's notice with Retry; nothing of the turn was stored.
            if (cut := answer.cut()) is not None:
                yield cut
            raise
        if followed is not None:  # a flow took the answer over (bot.flow_turns): it saves and shows it
            async for event in followed:
                yield event
            return
        turn.released = True
        yield AssistantTurn(
            session_id, step.step_order, answer.result.turn.message, after.questions, after.actions,
            after.confidence_tier,
        )  # fmt: skip
        if header_changed(before, after):
            yield TriageChanged(session_id, after)

    async def _save_answer(
        self, actor: Actor, prefetched: TurnInput, result: TurnResult
    ) -> tuple[SessionView, AISessionStep]:
        """Apply Claude's whole answer to the session and store it as one step, letting go of the lease."""
        answer = result.turn
        loaded = prefetched.loaded
        s = loaded.session
        touch(s, now())
        s.step_count += 1
        apply_turn(s, answer, s.step_count, result.usage)
        release_with(s)
        # One statement: the session's changes, Claude's step, the lease let go, and (only when the header
        # changed) a notification for other processes and adapters to re-render it.
        async with raw.autocommit(self._db) as db:
            after = await self._sessions.view_of(db, loaded)
            changed = header_changed(prefetched.before, after)
            change = notify.SessionChange(s.id, "triage", actor.origin, actor.platform)
            step = await self.save_step(
                db,
                loaded,
                {
                    "role": "assistant",
                    "content": answer.message,
                    "questions": [q.model_dump() for q in answer.questions] or None,
                    "actions": [a.model_dump() for a in answer.actions] or None,
                    "triage_update": answer.triage_update.model_dump() if answer.triage_update else None,
                    "confidence_score": answer.confidence,
                    "input_tokens": result.usage.input_tokens,
                    "output_tokens": result.usage.output_tokens,
                    "cache_read_tokens": result.usage.cache_read_tokens,
                    "cache_creation_tokens": result.usage.cache_creation_tokens,
                },
                tell=notify.message(change) if changed else None,
            )
        return after, step


def _answered(lane: TaskLane, q: Question) -> Question:
    found = lane.question(q.id)
    assert found is not None
    return found


def _marked(lane: TaskLane, a: Action) -> Action:
    found = lane.action(a.id)
    assert found is not None
    return found
