"""Starting a session and its conversation: messages, answers, marked steps and Claude's replies."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from storage import notify, raw
from storage.models import AISession, AISessionStep

from . import messages as msg
from .claude import Usage
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
    ClaudeUnavailable,
    FlowPilotError,
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
from .intake import PreparedInput, prepare_input, visible
from .prompts import SYSTEM_PROMPT, StepForPrompt, build_messages, triage_context
from .redaction import redact
from .schemas import ClaudeTurn, confidence_tier
from .session_core import Db, SessionCore, _Loaded, _now
from .triage import apply_update, header_dict, lane_actions, lane_questions


@dataclass(frozen=True)
class _TurnInput:
    messages: list[dict[str, Any]]
    before: SessionView  # the header before the turn, to tell whether it changed
    # The session as the turn read it, under the lease it holds until Claude's answer is saved: nobody else
    # writes the row meanwhile, so the answer is saved without reading it again (storage.raw.save_turn).
    loaded: _Loaded


class ConversationMixin(SessionCore):
    """Starting a session and the conversation turns: messages, answers, marked steps, Claude's replies."""

    # ── starting ───────────────────────────────────────────────────────────────────────────────────
    def _prepare(self, text: str, attachments: Any) -> PreparedInput:
        return prepare_input(text, attachments, psa_enabled=self._psa_enabled)

    async def _start(self, command: StartSession) -> AsyncIterator[Event]:
        if self._claude is None:  # a session nobody can answer would be a dead end: none is made
            raise NotConfigured(msg.CLAUDE_NOT_CONFIGURED)
        prepared = self._prepare(command.text, command.attachments)
        self._new_sessions.check(command.actor)
        session_id = uuid.uuid4()
        # The process's lock for the new session is taken before the session exists, like every turn's.
        async with self._local.hold(session_id, timeout=self._lease_wait_seconds):
            async for event in self._start_locked(command, prepared, session_id):
                yield event

    async def _start_locked(
        self, command: StartSession, prepared: PreparedInput, session_id: uuid.UUID
    ) -> AsyncIterator[Event]:
        actor = command.actor
        try:
            # Each in a short transaction of its own when not remembered yet: before this one takes a
            # connection, so that starts never wait on each other for the pool.
            account = await self._account(None, actor, create=True)
            assert account is not None
            user = await self._user(account, actor)
            async with raw.transaction(self._db) as db:
                s = await raw.insert_session(
                    db,
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
                    step_count=1,
                    manual_fields=[],
                    last_activity_at=_now(),
                    system_prompt_snapshot=SYSTEM_PROMPT,
                    # Born leased: nobody else can take a turn before the first answer.
                    lease_owner=self.owner,
                    lease_seconds=self._lease_seconds,
                    turn_in_flight={"command": "StartSession"},
                )
                await raw.insert_step(
                    db,
                    session_id=s.id,
                    step_order=1,
                    role="user",
                    kind="intake",
                    user_id=user.id,
                    content=prepared.text,
                    images=[dataclasses.asdict(i) for i in prepared.images] or None,
                )
                if command.thread is not None:
                    t = command.thread
                    await raw.insert_binding(
                        db,
                        platform=t.platform,
                        workspace_id=t.workspace_id,
                        channel_id=t.channel_id,
                        thread_id=t.thread_id,
                        session_id=s.id,
                        header_message_id=command.header_message_id,
                        extra=dict(command.thread_extra),
                    )
                prefetched = await self._turn_input(db, _Loaded(s, account, user))
        except raw.ThreadTaken:
            raise InvalidTransition("This thread already has a FlowPilot session.") from None
        async with self._holding(session_id):
            yield SessionStarted(session_id, prefetched.before)
            for note in prepared.notes:
                yield Notice(session_id, note)
            async for event in self._claude_turn(session_id, actor, prefetched):
                yield event

    # ── conversation ───────────────────────────────────────────────────────────────────────────────
    async def _user_message(self, command: UserMessage) -> AsyncIterator[Event]:
        prepared = self._prepare(command.text, command.attachments)
        loaded = await self._load_copy(command.actor, command.session_id)
        async with raw.autocommit(self._db) as db:
            s = loaded.session
            self._require_active(s)
            self._touch(s, _now())
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
        async for event in self._claude_turn(command.session_id, command.actor, prefetched):
            yield event

    async def _retry(self, command: RetryTurn) -> AsyncIterator[Event]:
        loaded = await self._load_copy(command.actor, command.session_id)
        async with raw.autocommit(self._db) as db:
            self._require_active(loaded.session)
            pending = loaded.session.awaiting_reply
            prefetched = await self._turn_input(db, loaded) if pending else None
        if prefetched is None:
            yield Notice(command.session_id, msg.NOTHING_TO_RETRY)
            return
        async for event in self._claude_turn(command.session_id, command.actor, prefetched):
            yield event

    async def _answer(self, command: AnswerQuestion) -> AsyncIterator[Event]:
        answer = visible(redact(command.answer).text)[:2000]
        if not answer:
            raise IntakeError(msg.EMPTY_MESSAGE)
        loaded = await self._load_copy(command.actor, command.session_id)
        async with raw.autocommit(self._db) as db:
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
            remaining = sum(1 for x in questions if x.get("answer") is None)
            if remaining == 0:
                s.awaiting_reply = True
            await self._record(db, loaded, kind="answer", content=f'Answer to "{q["text"]}": {answer}')
            prefetched = await self._turn_input(db, loaded) if remaining == 0 else None
            turn = int(lane.get("step_order", 0))
            question = next(x for x in lane_questions(s.pending_task_lane) if x.id == q["id"])
        yield QuestionAnswered(command.session_id, turn, question, remaining)
        if prefetched is not None:
            async for event in self._claude_turn(command.session_id, command.actor, prefetched):
                yield event
        else:
            yield Notice(command.session_id, msg.WAITING_FOR_ANSWERS.format(remaining=remaining))

    async def _mark_action(self, command: MarkAction) -> AsyncIterator[Event]:
        loaded = await self._load_copy(command.actor, command.session_id)
        async with raw.autocommit(self._db) as db:
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
            open_questions = any(q.get("answer") is None for q in lane.get("questions", []))
            all_marked = all(x.get("outcome") is not None for x in actions)
            ready = not open_questions and all_marked
            if ready:
                s.awaiting_reply = True
            await self._record(
                db, loaded, kind="action_result", content=f'Suggested step "{a["text"]}": {result}'
            )
            prefetched = await self._turn_input(db, loaded) if ready else None
            turn = int(lane.get("step_order", 0))
            action = next(x for x in lane_actions(s.pending_task_lane) if x.id == a["id"])
        yield ActionMarked(command.session_id, turn, action)
        if prefetched is not None:
            async for event in self._claude_turn(command.session_id, command.actor, prefetched):
                yield event

    async def _record(self, conn: raw.Conn, loaded: _Loaded, **step: Any) -> None:
        """Save what the engineer said or did as the session's next step, with the session's changes (the
        turn's checks and this write need no transaction: see _save_step)."""
        loaded.session.step_count += 1
        await self._save_step(conn, loaded, {"role": "user", "user_id": loaded.user.id, **step})

    async def _save_step(
        self,
        conn: raw.Conn,
        loaded: _Loaded,
        step: dict[str, Any],
        *,
        tell: tuple[str, str] | None = None,
    ) -> AISessionStep:
        """Write the session's changes and its step number `step_count`, in one statement and only while this
        turn holds the lease (`tell`: a change notification sent with it). The step joins the remembered
        prompt history."""
        s = loaded.session
        saved = await raw.save_turn(
            conn,
            s,
            owner=self.owner,
            step={"session_id": s.id, "step_order": s.step_count, **step},
            notify=tell,
        )
        if saved is None:
            # Our lease expired and another process took the session over: its turn wins, ours is dropped.
            raise SessionBusy(msg.BUSY)
        self._remember_step(s.id, saved.step_order, StepForPrompt.of(saved))
        return saved

    async def _turn_input(self, db: Db, loaded: _Loaded) -> _TurnInput:
        """What the next Claude turn needs, read inside the caller's transaction (no extra round trip)."""
        s = loaded.session
        context = triage_context(header_dict(s), s.manual_fields or [])
        history = await self._history(db, s.id, upto=s.step_count)
        return _TurnInput(build_messages(history, context=context), await self._view_of(db, loaded), loaded)

    async def _claude_turn(
        self, session_id: uuid.UUID, actor: Actor, prefetched: _TurnInput
    ) -> AsyncIterator[Event]:
        """Ask Claude for the next turn (the lease is held) and persist it."""
        if self._claude is None:
            raise NotConfigured(msg.CLAUDE_NOT_CONFIGURED)
        messages, before = prefetched.messages, prefetched.before
        self._claude_turns.check(actor)
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
        loaded = prefetched.loaded
        s = loaded.session
        self._touch(s, _now())
        s.step_count += 1
        self._apply_turn(s, turn, s.step_count, result.usage)
        self._release_with(s)
        # One statement: the session's changes, Claude's step, the lease let go, and (only when the header
        # changed) a notification for other processes and adapters to re-render it.
        async with raw.autocommit(self._db) as db:
            after = await self._view_of(db, loaded)
            changed = _header_changed(before, after)
            change = notify.SessionChange(s.id, "triage", actor.origin, actor.platform)
            step = await self._save_step(
                db,
                loaded,
                {
                    "role": "assistant",
                    "content": turn.message,
                    "questions": [q.model_dump() for q in turn.questions] or None,
                    "actions": [a.model_dump() for a in turn.actions] or None,
                    "triage_update": turn.triage_update.model_dump() if turn.triage_update else None,
                    "confidence_score": turn.confidence,
                    "input_tokens": result.usage.input_tokens,
                    "output_tokens": result.usage.output_tokens,
                    "cache_read_tokens": result.usage.cache_read_tokens,
                    "cache_creation_tokens": result.usage.cache_creation_tokens,
                },
                tell=notify.message(change) if changed else None,
            )
        self._released[session_id] = True
        yield AssistantTurn(
            session_id, step.step_order, turn.message, after.questions, after.actions, after.confidence_tier
        )
        if changed:
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
