"""The session handler: `handle(command)` applies one command and yields the events adapters render.

Each turn takes the session's lease (storage.lease), works in short transactions, and never holds a
transaction or a pooled connection while Claude thinks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import lease as leases
from storage import notify, repo
from storage.models import (
    Account,
    AISession,
    AISessionStep,
    SessionHandoff,
    SessionResolutionOutput,
    ThreadBinding,
    User,
)

from . import messages as msg
from .claude import ClaudeClient, Usage
from .commands import (
    TRIAGE_FIELDS,
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
from .errors import (
    AlreadyAnswered,
    ClaudeBadOutput,
    ClaudeUnavailable,
    DatabaseUnavailable,
    FlowPilotError,
    Forbidden,
    IntakeError,
    InternalError,
    InvalidTransition,
    NotFound,
    SessionBusy,
    ShuttingDown,
)
from .events import (
    ActionMarked,
    AssistantTurn,
    DraftDelta,
    DraftFinished,
    DraftStarted,
    Event,
    Notice,
    QuestionAnswered,
    SessionStarted,
    SessionView,
    StatusChanged,
    Thinking,
    TriageChanged,
)
from .handoff import is_complete, parse_draft
from .intake import PreparedInput, prepare_input
from .outputs import OutputContext, ResolutionOutputGenerator
from .prompts import SYSTEM_PROMPT, StepForPrompt, build_messages, draft_request, triage_context
from .redaction import redact
from .schemas import ClaudeTurn, HandoffFields, confidence_tier
from .triage import COLUMN, LIMITS, apply_update, header_dict, lane_actions, lane_questions, session_view

logger = logging.getLogger(__name__)

# Idle gaps longer than this between two commands count as parked, not active, time.
IDLE_CAP_SECONDS = 15 * 60
OPEN = ("active",)
CLOSED = ("resolved", "escalated", "abandoned", "requesting_escalation")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Loaded:
    session: AISession
    account: Account
    user: User


class SessionHandler:
    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        claude: ClaudeClient | None,
        lease_seconds: float = 90.0,
        lease_wait_seconds: float = 300.0,
        psa_enabled: bool = False,
        outputs: ResolutionOutputGenerator | None = None,
    ) -> None:
        self._db = db
        self._claude = claude
        self._lease_seconds = lease_seconds
        self._lease_wait_seconds = lease_wait_seconds
        self._psa_enabled = psa_enabled
        self._outputs = outputs or ResolutionOutputGenerator()
        self.owner = uuid.uuid4()
        self._local = _KeyedLocks()
        self._turns: set[asyncio.Task[Any]] = set()
        self._closing = False

    # ── entry point ────────────────────────────────────────────────────────────────────────────────
    async def handle(self, command: Command) -> AsyncIterator[Event]:
        """Apply one command; yields events in the order the user should see them."""
        session_id = getattr(command, "session_id", None)
        try:
            if self._closing:
                raise ShuttingDown(msg.SHUTTING_DOWN)
            if isinstance(command, StartSession):
                async for event in self._start(command):
                    if isinstance(event, SessionStarted):
                        session_id = event.session_id
                    yield event
            elif isinstance(command, GetStatus):
                yield TriageChanged(
                    command.session_id, await self.view(actor=command.actor, session_id=command.session_id)
                )
            else:
                assert isinstance(command, SessionCommand)
                async with self._turn(command) as interrupted:
                    if interrupted and not isinstance(command, RetryTurn):
                        yield Notice(
                            command.session_id,
                            msg.INTERRUPTED,
                            level="error",
                            code="interrupted",
                            retry=RetryTurn(actor=command.actor, session_id=command.session_id),
                        )
                    async for event in self._dispatch(command):
                        yield event
        except FlowPilotError as err:
            yield _failure_notice(command, err, session_id)
        except (DBAPIError, OSError) as err:
            logger.warning("database unavailable during %s: %s", type(command).__name__, type(err).__name__)
            yield _failure_notice(command, DatabaseUnavailable(msg.DATABASE_DOWN), session_id)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            logger.exception("unexpected error %s while handling %s", ref, type(command).__name__)
            yield _failure_notice(command, InternalError(msg.INTERNAL_ERROR.format(ref=ref)), session_id)

    async def _dispatch(self, command: SessionCommand) -> AsyncIterator[Event]:
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

    # ── the turn lease ─────────────────────────────────────────────────────────────────────────────
    @contextlib.asynccontextmanager
    async def _turn(self, command: SessionCommand) -> AsyncIterator[dict[str, Any] | None]:
        """Wait for and take the session's lease; yields the turn a previous holder left unfinished."""
        session_id = command.session_id
        async with self._local.hold(session_id, timeout=self._lease_wait_seconds):
            acquired = await self._acquire(session_id, type(command).__name__)
            async with self._holding(session_id):
                yield acquired.interrupted

    @contextlib.asynccontextmanager
    async def _holding(self, session_id: uuid.UUID) -> AsyncIterator[None]:
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
            # Released even when the turn is cancelled (client gone, shutdown): shield the write.
            await asyncio.shield(
                leases.release(self._db, session_id=session_id, owner=self.owner, interrupted=not completed)
            )

    async def _acquire(self, session_id: uuid.UUID, turn: str) -> leases.Acquired:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lease_wait_seconds
        delay = 0.02
        while True:
            try:
                acquired = await leases.try_acquire(
                    self._db, session_id=session_id, owner=self.owner, ttl=self._lease_seconds, turn=turn
                )
            except leases.NoSuchSession:
                raise NotFound(msg.SESSION_NOT_FOUND) from None
            if acquired is not None:
                return acquired
            if loop.time() >= deadline:
                raise SessionBusy(msg.BUSY)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    async def _heartbeat(self, session_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
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
        s = await repo.session_row(db, session_id, lock=lock)
        account = await repo.find_account(db, platform=actor.platform, external_id=actor.workspace_id)
        # Another account's session is reported exactly like a missing one: ids leak nothing.
        if s is None or account is None or s.account_id != account.id:
            raise NotFound(msg.SESSION_NOT_FOUND)
        user = await repo.user_for(
            db, account=account, external_id=actor.user_id, display_name=actor.display_name
        )
        return _Loaded(s, account, user)

    async def _view_of(self, db: AsyncSession, loaded: _Loaded) -> SessionView:
        s = loaded.session
        users = await repo.users_by_id(db, [u for u in (s.user_id, s.escalated_to_id) if u])
        return session_view(
            s,
            account_platform=loaded.account.platform,
            account_external_id=loaded.account.external_id,
            users=users,
        )

    async def view(self, *, actor: Actor, session_id: uuid.UUID) -> SessionView:
        """The header of one session, for an actor of its account."""
        async with self._db() as db, db.begin():
            return await self._view_of(db, await self._load(db, actor, session_id, lock=False))

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
        await notify.publish(db, notify.SessionChange(s.id, kind, actor.origin))

    async def _add_step(self, db: AsyncSession, s: AISession, **fields: Any) -> AISessionStep:
        s.step_count += 1
        step = AISessionStep(session_id=s.id, step_order=s.step_count, **fields)
        db.add(step)
        return step

    # ── starting ───────────────────────────────────────────────────────────────────────────────────
    def _prepare(self, text: str, attachments: Any) -> PreparedInput:
        return prepare_input(text, attachments, psa_enabled=self._psa_enabled)

    async def _start(self, command: StartSession) -> AsyncIterator[Event]:
        prepared = self._prepare(command.text, command.attachments)
        actor = command.actor
        session_id = uuid.uuid4()
        try:
            async with self._db() as db, db.begin():
                account = await repo.account_for(db, platform=actor.platform, external_id=actor.workspace_id)
                user = await repo.user_for(
                    db, account=account, external_id=actor.user_id, display_name=actor.display_name
                )
                now = _now()
                s = AISession(
                    id=session_id,
                    user_id=user.id,
                    account_id=account.id,
                    intake_type=prepared.intake_type,
                    intake_content={
                        "text": prepared.text[:20_000],
                        "attachments": [a.filename for a in command.attachments],
                        "images": len(prepared.images),
                        "redactions": prepared.redactions,
                    },
                    title=redact(command.text.strip().splitlines()[0] if command.text.strip() else "").text[
                        :255
                    ]
                    or None,
                    psa_ticket_id=command.psa_ticket_id,
                    status="active",
                    awaiting_reply=True,
                    step_count=0,
                    manual_fields=[],
                    last_activity_at=now,
                    system_prompt_snapshot=SYSTEM_PROMPT,
                    # Born leased: nobody else can take a turn before the first answer.
                    lease_owner=self.owner,
                    lease_expires_at=sa.func.now()
                    + sa.text(f"interval '{int(self._lease_seconds)} seconds'"),
                    turn_in_flight={"command": "StartSession"},
                )
                db.add(s)
                await db.flush()
                await self._add_step(
                    db,
                    s,
                    role="user",
                    kind="intake",
                    user_id=user.id,
                    content=prepared.text,
                    images=[dataclasses.asdict(i) for i in prepared.images] or None,
                )
                if command.thread is not None:
                    t = command.thread
                    db.add(
                        ThreadBinding(
                            platform=t.platform,
                            workspace_id=t.workspace_id,
                            channel_id=t.channel_id,
                            thread_id=t.thread_id,
                            session_id=s.id,
                            header_message_id=command.header_message_id,
                            extra={},
                        )
                    )
                await db.flush()
                await db.refresh(s)
                view = session_view(
                    s,
                    account_platform=account.platform,
                    account_external_id=account.external_id,
                    users={user.id: user},
                )
        except IntegrityError:
            raise InvalidTransition("This thread already has a FlowPilot session.") from None
        async with self._holding(session_id):
            yield SessionStarted(session_id, view)
            for note in prepared.notes:
                yield Notice(session_id, note)
            async for event in self._claude_turn(session_id, actor):
                yield event

    # ── conversation ───────────────────────────────────────────────────────────────────────────────
    async def _user_message(self, command: UserMessage) -> AsyncIterator[Event]:
        prepared = self._prepare(command.text, command.attachments)
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            self._require_active(s)
            self._touch(s, _now())
            if prepared.intake_type != "free_text" and s.intake_type != prepared.intake_type:
                s.intake_type = "combined" if s.intake_type != "free_text" else prepared.intake_type
            await self._add_step(
                db,
                s,
                role="user",
                kind="message",
                user_id=loaded.user.id,
                content=prepared.text,
                images=[dataclasses.asdict(i) for i in prepared.images] or None,
            )
            s.awaiting_reply = True
        for note in prepared.notes:
            yield Notice(command.session_id, note)
        async for event in self._claude_turn(command.session_id, command.actor):
            yield event

    async def _retry(self, command: RetryTurn) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            self._require_active(loaded.session)
            pending = loaded.session.awaiting_reply
        if not pending:
            yield Notice(command.session_id, msg.NOTHING_TO_RETRY)
            return
        async for event in self._claude_turn(command.session_id, command.actor):
            yield event

    async def _answer(self, command: AnswerQuestion) -> AsyncIterator[Event]:
        answer = redact(command.answer.strip()).text[:2000]
        if not answer:
            raise IntakeError(msg.EMPTY_MESSAGE)
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            self._require_active(s)
            lane = dict(s.pending_task_lane or {})
            questions = [dict(q) for q in lane.get("questions", [])]
            q = next((q for q in questions if q["id"] == command.question_id), None)
            if q is None:
                raise InvalidTransition(msg.QUESTION_CLOSED)
            if q.get("answer") is not None:
                raise AlreadyAnswered(
                    msg.QUESTION_ANSWERED.format(by=q.get("answered_by"), answer=q["answer"])
                )
            self._touch(s, _now())
            q["answer"], q["answered_by"] = answer, command.actor.name
            s.pending_task_lane = {**lane, "questions": questions}
            await self._add_step(
                db,
                s,
                role="user",
                kind="answer",
                user_id=loaded.user.id,
                content=f'Answer to "{q["text"]}": {answer}',
            )
            remaining = sum(1 for x in questions if x.get("answer") is None)
            if remaining == 0:
                s.awaiting_reply = True
            turn = int(lane.get("step_order", 0))
            question = next(x for x in lane_questions(s.pending_task_lane) if x.id == q["id"])
        yield QuestionAnswered(command.session_id, turn, question, remaining)
        if remaining == 0:
            async for event in self._claude_turn(command.session_id, command.actor):
                yield event
        else:
            yield Notice(command.session_id, msg.WAITING_FOR_ANSWERS.format(remaining=remaining))

    async def _mark_action(self, command: MarkAction) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            self._require_active(s)
            lane = dict(s.pending_task_lane or {})
            actions = [dict(a) for a in lane.get("actions", [])]
            a = next((a for a in actions if a["id"] == command.action_id), None)
            if a is None:
                raise InvalidTransition(msg.ACTION_UNKNOWN)
            if a.get("outcome") is not None:
                outcome = "done" if a["outcome"] == "done" else "didn't work"
                raise AlreadyAnswered(msg.ACTION_MARKED.format(by=a.get("marked_by"), outcome=outcome))
            self._touch(s, _now())
            a["outcome"], a["marked_by"] = command.outcome, command.actor.name
            s.pending_task_lane = {**lane, "actions": actions}
            result = "done, it worked as described" if command.outcome == "done" else "tried, it didn't work"
            await self._add_step(
                db,
                s,
                role="user",
                kind="action_result",
                user_id=loaded.user.id,
                content=f'Suggested step "{a["text"]}": {result}',
            )
            open_questions = any(q.get("answer") is None for q in lane.get("questions", []))
            all_marked = all(x.get("outcome") is not None for x in actions)
            go = not open_questions and all_marked
            if go:
                s.awaiting_reply = True
            turn = int(lane.get("step_order", 0))
            action = next(x for x in lane_actions(s.pending_task_lane) if x.id == a["id"])
        yield ActionMarked(command.session_id, turn, action)
        if go:
            async for event in self._claude_turn(command.session_id, command.actor):
                yield event

    async def _claude_turn(self, session_id: uuid.UUID, actor: Actor) -> AsyncIterator[Event]:
        """Ask Claude for the next turn (the lease is held) and persist it."""
        if self._claude is None:
            raise ClaudeUnavailable(msg.CLAUDE_NOT_CONFIGURED)
        async with self._db() as db, db.begin():
            loaded = await self._load(db, actor, session_id, lock=False)
            s = loaded.session
            steps = await repo.steps_of(db, session_id)
            context = triage_context(header_dict(s), s.manual_fields or [])
            before = await self._view_of(db, loaded)
        messages = build_messages(
            [
                StepForPrompt(
                    role=st.role,
                    content=st.content,
                    images=st.images or (),
                    questions=st.questions or (),
                    actions=st.actions or (),
                )
                for st in steps
            ],
            context=context,
        )
        yield Thinking(session_id, "turn")
        try:
            result = await self._claude.turn(system=SYSTEM_PROMPT, messages=messages)
        except FlowPilotError as err:
            if isinstance(err, ClaudeUnavailable):
                err.message = msg.CLAUDE_DOWN.format(reason=err.message)
            else:
                err.message = msg.CLAUDE_BAD_OUTPUT
            raise
        turn = result.turn
        async with self._db() as db, db.begin():
            loaded = await self._load(db, actor, session_id)
            s = loaded.session
            self._ensure_lease(s)
            self._touch(s, _now())
            step = await self._add_step(
                db,
                s,
                role="assistant",
                kind="message",
                content=turn.message,
                questions=[q.model_dump() for q in turn.questions] or None,
                actions=[a.model_dump() for a in turn.actions] or None,
                triage_update=turn.triage_update.model_dump() if turn.triage_update else None,
                confidence_score=turn.confidence,
                input_tokens=result.usage.input_tokens,
                output_tokens=result.usage.output_tokens,
                cache_read_tokens=result.usage.cache_read_tokens,
                cache_creation_tokens=result.usage.cache_creation_tokens,
            )
            self._apply_turn(s, turn, step.step_order, result.usage)
            await self._changed(db, s, actor, "triage")
            after = await self._view_of(db, loaded)
        yield AssistantTurn(
            session_id, step.step_order, turn.message, after.questions, after.actions, after.confidence_tier
        )
        if _header_changed(before, after):
            yield TriageChanged(session_id, after)

    def _apply_turn(self, s: AISession, turn: ClaudeTurn, step_order: int, usage: Usage) -> None:
        apply_update(s, turn.triage_update, summary=turn.problem_summary)
        if turn.problem_domain:
            s.problem_domain = turn.problem_domain[:100]
        s.confidence_score = turn.confidence
        s.confidence_tier = confidence_tier(turn.confidence)
        # Ids are made unique per session so a click on an old turn's button is recognised as stale.
        s.pending_task_lane = {
            "step_order": step_order,
            "questions": [
                {"id": f"{step_order}.{q.id}", "text": q.text, "options": q.options}
                for q in _unique(turn.questions)
            ],
            "actions": [{"id": f"{step_order}.{a.id}", "text": a.text} for a in _unique(turn.actions)],
        }
        s.awaiting_reply = False
        s.total_input_tokens += usage.input_tokens
        s.total_output_tokens += usage.output_tokens
        s.total_cache_read_tokens += usage.cache_read_tokens
        s.total_cache_creation_tokens += usage.cache_creation_tokens

    def _ensure_lease(self, s: AISession) -> None:
        if s.lease_owner != self.owner:
            # Our lease expired and another process took the session over: its turn wins, ours is dropped.
            raise SessionBusy(msg.BUSY)

    # ── triage ─────────────────────────────────────────────────────────────────────────────────────
    async def _edit_triage(self, command: EditTriage) -> AsyncIterator[Event]:
        unknown = [f for f in command.changes if f not in TRIAGE_FIELDS]
        if unknown:
            raise IntakeError(
                msg.TRIAGE_UNKNOWN_FIELD.format(field=unknown[0], fields=", ".join(TRIAGE_FIELDS))
            )
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            self._require_active_or_paused(s)
            self._touch(s, _now())
            manual = set(s.manual_fields or [])
            told: list[str] = []
            for name, raw in command.changes.items():
                value = redact(raw.strip()).text[: LIMITS[name]] or None
                setattr(s, COLUMN[name], value)
                # Clearing a field hands it back to Claude.
                (manual.add if value else manual.discard)(name)
                told.append(f"{name} = {value!r}" if value else f"{name} cleared")
            evidence = list(s.evidence_items or [])
            for text in command.add_evidence:
                clean = redact(text.strip()).text[:500]
                if clean:
                    evidence.append({"text": clean, "status": "pending", "manual": True})
                    told.append(f"evidence added: {clean!r}")
            s.evidence_items = evidence
            s.manual_fields = sorted(manual)
            if told:
                await self._add_step(
                    db,
                    s,
                    role="user",
                    kind="triage_edit",
                    user_id=loaded.user.id,
                    content="[The engineer edited the triage header: " + "; ".join(told) + "]",
                )
            await self._changed(db, s, command.actor, "triage")
            view = await self._view_of(db, loaded)
        yield TriageChanged(command.session_id, view)

    @staticmethod
    def _require_active_or_paused(s: AISession) -> None:
        if s.status not in ("active", "paused"):
            raise InvalidTransition(
                msg.NOT_ACTIVE.format(status=s.status.replace("_", " "), hint=msg.CLOSED_HINT)
            )

    async def _set_evidence(self, command: SetEvidenceStatus) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            self._require_active_or_paused(s)
            evidence = [dict(e) for e in s.evidence_items or []]
            if not 1 <= command.index <= len(evidence):
                raise IntakeError(msg.EVIDENCE_RANGE.format(index=command.index, count=len(evidence)))
            self._touch(s, _now())
            item = evidence[command.index - 1]
            item["status"], item["manual"] = command.status, True
            s.evidence_items = evidence
            await self._add_step(
                db,
                s,
                role="user",
                kind="triage_edit",
                user_id=loaded.user.id,
                content=f"[The engineer marked evidence {item['text']!r} as {command.status.replace('_', ' ')}]",
            )
            await self._changed(db, s, command.actor, "triage")
            view = await self._view_of(db, loaded)
        yield TriageChanged(command.session_id, view)

    # ── handoff ────────────────────────────────────────────────────────────────────────────────────
    async def _draft(self, command: DraftHandoff) -> AsyncIterator[Event]:
        if self._claude is None:
            raise ClaudeUnavailable(msg.CLAUDE_NOT_CONFIGURED)
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id, lock=False)
            s = loaded.session
            self._require_active(s)
            steps = await repo.steps_of(db, s.id)
            request = draft_request(command.kind, header_dict(s))
        prompt_steps = [
            StepForPrompt(
                role=st.role,
                content=st.content,
                images=st.images or (),
                questions=st.questions or (),
                actions=st.actions or (),
            )
            for st in steps
        ]
        messages = build_messages([*prompt_steps, StepForPrompt(role="user", content=request)])
        yield DraftStarted(command.session_id, command.kind)
        yield Thinking(command.session_id, "draft")
        parts: list[str] = []
        usage = Usage()
        try:
            async for chunk in self._claude.draft(system=SYSTEM_PROMPT, messages=messages):
                if isinstance(chunk, Usage):
                    usage = chunk
                else:
                    parts.append(chunk)
                    yield DraftDelta(command.session_id, chunk)
        except ClaudeUnavailable as err:
            err.message = msg.CLAUDE_DOWN.format(reason=err.message)
            raise
        text = "".join(parts)
        fields = parse_draft(text)
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            self._ensure_lease(s)
            self._require_active(s)
            await db.execute(
                sa.update(SessionHandoff)
                .where(SessionHandoff.session_id == s.id, SessionHandoff.status == "draft")
                .values(status="discarded")
            )
            handoff = SessionHandoff(
                session_id=s.id,
                kind=command.kind,
                status="draft",
                draft_text=text,
                root_cause=fields.root_cause,
                steps_taken=fields.steps_taken,
                recommendations=fields.recommendations,
                from_user_id=loaded.user.id,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
            )
            db.add(handoff)
            s.total_input_tokens += usage.input_tokens
            s.total_output_tokens += usage.output_tokens
            s.total_cache_read_tokens += usage.cache_read_tokens
            s.total_cache_creation_tokens += usage.cache_creation_tokens
            await db.flush()
        yield DraftFinished(
            command.session_id,
            handoff.id,
            command.kind,
            text,
            fields.root_cause,
            fields.steps_taken,
            fields.recommendations,
        )

    async def _latest_draft(self, db: AsyncSession, session_id: uuid.UUID) -> SessionHandoff | None:
        return (
            await db.execute(
                sa.select(SessionHandoff)
                .where(SessionHandoff.session_id == session_id, SessionHandoff.status == "draft")
                .order_by(SessionHandoff.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    async def _discard_draft(self, command: DiscardDraft) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            await self._load(db, command.actor, command.session_id)
            draft = await self._latest_draft(db, command.session_id)
            if draft is None:
                raise InvalidTransition(msg.NO_DRAFT)
            draft.status = "discarded"
        yield Notice(command.session_id, msg.DRAFT_DISCARDED)

    async def _confirm(
        self,
        db: AsyncSession,
        loaded: _Loaded,
        *,
        kind: str,
        fields: HandoffFields | None,
        to_user: User | None = None,
        reason: str = "",
    ) -> tuple[SessionHandoff, dict[str, str]]:
        s = loaded.session
        draft = await self._latest_draft(db, s.id)
        if draft is not None and draft.kind != kind and fields is None:
            raise InvalidTransition(msg.DRAFT_KIND_MISMATCH.format(draft_kind=draft.kind, kind=kind))
        if fields is None:
            if draft is None:
                raise InvalidTransition(msg.NO_DRAFT)
            fields = HandoffFields(
                root_cause=draft.root_cause,
                steps_taken=draft.steps_taken,
                recommendations=draft.recommendations,
            )
        fields = HandoffFields(
            root_cause=redact(fields.root_cause.strip()).text,
            steps_taken=redact(fields.steps_taken.strip()).text,
            recommendations=redact(fields.recommendations.strip()).text,
        )
        if not is_complete(fields):
            raise IntakeError(msg.DRAFT_INCOMPLETE)
        if draft is None or draft.kind != kind:
            draft = SessionHandoff(session_id=s.id, kind=kind, from_user_id=loaded.user.id, draft_text="")
            db.add(draft)
        now = _now()
        draft.status = "confirmed"
        draft.confirmed_at = now
        draft.root_cause, draft.steps_taken, draft.recommendations = (
            fields.root_cause,
            fields.steps_taken,
            fields.recommendations,
        )
        draft.to_user_id = to_user.id if to_user else None
        await db.flush()
        owner = (await repo.users_by_id(db, [s.user_id])).get(s.user_id)
        context = OutputContext(
            session_id=str(s.id),
            kind=kind,  # type: ignore[arg-type]
            problem_summary=s.problem_summary,
            client_name=s.client_name,
            asset_name=s.asset_name,
            issue_category=s.issue_category,
            hypothesis=s.triage_hypothesis,
            evidence=[{"text": e["text"], "status": e["status"]} for e in s.evidence_items or []],
            engineer=(owner.display_name or owner.external_id) if owner else loaded.user.external_id,
            escalated_to=(to_user.display_name or to_user.external_id) if to_user else None,
            escalation_reason=reason or None,
            started_at=s.created_at,
            finished_at=now,
            active_seconds=s.total_active_seconds,
            step_count=s.step_count,
            psa_ticket_id=s.psa_ticket_id,
        )
        outputs: dict[str, str] = {
            o.format: o.content for o in self._outputs.generate(context=context, fields=fields)
        }
        for fmt, content in outputs.items():
            db.add(SessionResolutionOutput(session_id=s.id, handoff_id=draft.id, format=fmt, content=content))
        s.pending_task_lane = None
        s.awaiting_reply = False
        return draft, outputs

    async def _resolve(self, command: Resolve) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status == "resolved":
                raise InvalidTransition(msg.ALREADY.format(status="resolved"))
            self._require_active(s)
            self._touch(s, _now())
            done = [
                a["text"]
                for a in (s.pending_task_lane or {}).get("actions", [])
                if a.get("outcome") == "done"
            ]
            handoff, outputs = await self._confirm(db, loaded, kind="resolve", fields=command.fields)
            old = s.status
            s.status = "resolved"
            s.resolved_at = _now()
            s.resolution_summary = handoff.root_cause
            s.resolution_action = done[-1] if done else None
            await self._changed(db, s, command.actor, "status")
            view = await self._view_of(db, loaded)
        yield StatusChanged(command.session_id, old, "resolved", command.actor.name, view, outputs)

    async def _escalate(self, command: Escalate) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status in ("escalated", "requesting_escalation"):
                raise InvalidTransition(msg.ALREADY.format(status="escalated"))
            self._require_active(s)
            to_user = None
            if command.to is not None:
                if (command.to.platform, command.to.workspace_id) != (
                    command.actor.platform,
                    command.actor.workspace_id,
                ):
                    raise Forbidden("You can only escalate to an engineer of the same workspace.")
                to_user = await repo.user_for(
                    db,
                    account=loaded.account,
                    external_id=command.to.user_id,
                    display_name=command.to.display_name,
                )
            self._touch(s, _now())
            reason = redact(command.reason.strip()).text[:2000]
            handoff, outputs = await self._confirm(
                db, loaded, kind="escalate", fields=command.fields, to_user=to_user, reason=reason
            )
            old = s.status
            s.status = "escalated" if to_user else "requesting_escalation"
            s.escalated_to_id = to_user.id if to_user else None
            s.escalation_reason = reason or None
            s.escalation_package = {
                "root_cause": handoff.root_cause,
                "steps_taken": handoff.steps_taken,
                "recommendations": handoff.recommendations,
                "hypothesis": s.triage_hypothesis,
                "evidence": s.evidence_items or [],
                "from": command.actor.name,
                "reason": reason,
            }
            await self._changed(db, s, command.actor, "status")
            view = await self._view_of(db, loaded)
        yield StatusChanged(command.session_id, old, s.status, command.actor.name, view, outputs, command.to)

    async def _take_over(self, command: TakeOver) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status not in ("escalated", "requesting_escalation"):
                raise InvalidTransition(msg.TAKEOVER_NOT_ESCALATED)
            if s.escalated_to_id is not None and s.escalated_to_id != loaded.user.id:
                target = (await repo.users_by_id(db, [s.escalated_to_id]))[s.escalated_to_id]
                raise Forbidden(
                    msg.TAKEOVER_NOT_FOR_YOU.format(name=target.display_name or target.external_id)
                )
            self._touch(s, _now())
            old = s.status
            s.status = "active"
            s.user_id = loaded.user.id
            s.handoff_count += 1
            await self._add_step(
                db,
                s,
                role="user",
                kind="takeover",
                user_id=loaded.user.id,
                content=f"[{command.actor.name} took over this session from the escalation.]",
            )
            await self._changed(db, s, command.actor, "status")
            view = await self._view_of(db, loaded)
        yield StatusChanged(command.session_id, old, "active", command.actor.name, view)
        yield Notice(command.session_id, msg.TOOK_OVER.format(name=command.actor.name))

    # ── lifecycle ──────────────────────────────────────────────────────────────────────────────────
    async def _transition(
        self, command: SessionCommand, *, allowed: tuple[str, ...], new: str, notice: str
    ) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status == new:
                raise InvalidTransition(msg.ALREADY.format(status=new))
            if s.status not in allowed:
                hint = msg.PAUSED_HINT if s.status == "paused" else msg.CLOSED_HINT
                raise InvalidTransition(msg.NOT_ACTIVE.format(status=s.status.replace("_", " "), hint=hint))
            self._touch(s, _now())
            old, s.status = s.status, new
            await self._changed(db, s, command.actor, "status")
            view = await self._view_of(db, loaded)
        yield StatusChanged(command.session_id, old, new, command.actor.name, view)
        yield Notice(command.session_id, notice)

    def _pause(self, command: Pause) -> AsyncIterator[Event]:
        return self._transition(command, allowed=("active",), new="paused", notice=msg.PAUSED)

    def _resume(self, command: Resume) -> AsyncIterator[Event]:
        return self._transition(command, allowed=("paused",), new="active", notice=msg.RESUMED)

    def _abandon(self, command: Abandon) -> AsyncIterator[Event]:
        return self._transition(command, allowed=("active", "paused"), new="abandoned", notice=msg.ABANDONED)

    async def _rate(self, command: Rate) -> AsyncIterator[Event]:
        if not 1 <= command.rating <= 5:
            raise IntakeError(msg.RATING_RANGE)
        async with self._db() as db, db.begin():
            loaded = await self._load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status not in ("resolved", "escalated", "requesting_escalation"):
                raise InvalidTransition(msg.RATING_NOT_YET)
            s.session_rating = command.rating
            if command.feedback:
                s.session_feedback = redact(command.feedback.strip()).text[:4000]
        yield Notice(command.session_id, msg.RATED.format(rating=command.rating))

    # ── queries (no lease needed) ──────────────────────────────────────────────────────────────────
    async def session_for_thread(
        self, *, platform: str, workspace_id: str, channel_id: str, thread_id: str
    ) -> ThreadBinding | None:
        async with self._db() as db:
            return await repo.binding_for(
                db, platform=platform, workspace_id=workspace_id, channel_id=channel_id, thread_id=thread_id
            )

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


class _KeyedLocks:
    """One asyncio.Lock per session in this process, so local waiters queue instead of polling the database."""

    def __init__(self) -> None:
        self._locks: dict[uuid.UUID, tuple[asyncio.Lock, int]] = {}

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


def _failure_notice(command: Command, err: FlowPilotError, session_id: uuid.UUID | None) -> Notice:
    return Notice(
        session_id, err.message, level="error", code=err.code, retry=_retry_for(command, err, session_id)
    )


def _retry_for(command: Command, err: FlowPilotError, session_id: uuid.UUID | None) -> SessionCommand | None:
    """The command a Retry button should send, or None when retrying cannot help."""
    if not err.retryable or session_id is None:
        return None
    if isinstance(err, ClaudeUnavailable | ClaudeBadOutput):
        if isinstance(command, DraftHandoff):
            return command
        return RetryTurn(actor=command.actor, session_id=session_id)
    return command if isinstance(command, SessionCommand) else None


def _unique(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            out.append(item)
    return out


def _header_changed(before: SessionView, after: SessionView) -> bool:
    keys = (
        "status",
        "problem_summary",
        "client_name",
        "asset_name",
        "issue_category",
        "hypothesis",
        "evidence",
        "confidence_tier",
        "manual_fields",
    )
    return any(getattr(before, k) != getattr(after, k) for k in keys)
