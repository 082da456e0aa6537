"""Handoffs: the streamed draft, resolution and escalation with their outputs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repo
from storage.models import (
    AISession,
    SessionHandoff,
    SessionResolutionOutput,
    User,
)

from . import messages as msg
from .claude import ClaudeClient, FieldText, Usage
from .commands import (
    DiscardDraft,
    DraftHandoff,
    Escalate,
    Resolve,
)
from .errors import (
    ClaudeBadOutput,
    ClaudeUnavailable,
    Forbidden,
    IntakeError,
    InvalidTransition,
    NotConfigured,
)
from .events import (
    DraftDelta,
    DraftFinished,
    DraftStarted,
    Event,
    Notice,
    StatusChanged,
    Thinking,
)
from .flows.track import draft_note
from .handoff import SECTION_TITLES, is_complete, render_draft
from .history import PromptHistory
from .lane import TaskLane
from .limits import RateLimiter
from .outputs import OutputContext, ResolutionOutputGenerator
from .prompts import SYSTEM_PROMPT, StepForPrompt, build_messages, draft_request
from .redaction import redact
from .schemas import HandoffDraft, HandoffFields
from .session_core import Loaded, Sessions, changed, ensure_lease, now, require_active, touch
from .status import SessionStatus
from .triage import header_dict
from .turn_lease import Turn


class Handoffs:
    """Handoff drafts, resolution, escalation and take-over."""

    def __init__(
        self,
        *,
        db: async_sessionmaker[AsyncSession],
        claude: ClaudeClient | None,
        sessions: Sessions,
        history: PromptHistory,
        claude_turns: RateLimiter,
        outputs: ResolutionOutputGenerator,
        owner: uuid.UUID,
    ) -> None:
        self._db = db
        self._claude = claude
        self._sessions = sessions
        self._history = history
        self._claude_turns = claude_turns
        self._outputs = outputs
        self._owner = owner

    # ── handoff ────────────────────────────────────────────────────────────────────────────────────
    async def draft(self, command: DraftHandoff, turn: Turn) -> AsyncIterator[Event]:
        """Stream a new handoff draft; when the command waited for another turn, a draft of the same kind
        written since it arrived is shown instead: one draft at a time, one Claude call."""
        written_since = turn.arrived if turn.waited else None
        if self._claude is None:
            raise NotConfigured(msg.CLAUDE_NOT_CONFIGURED)
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id, lock=False)
            s = loaded.session
            require_active(s)
            fresh = await self.latest_draft(db, s.id) if written_since is not None else None
            if fresh is not None and written_since is not None:
                if fresh.kind != command.kind or fresh.created_at < written_since:
                    fresh = None
            history = await self._history.steps(db, s.id) if fresh is None else []
            # A flow's resolution or escalate node says what the draft starts from (bot.flows.track).
            request = draft_request(command.kind, header_dict(s)) + draft_note(s)
            note = await self._note(db, loaded, fresh) if fresh is not None else ""
        if fresh is not None:
            yield DraftStarted(command.session_id, command.kind)
            yield _finished(fresh, note)
            return
        messages = build_messages([*history, StepForPrompt(role="user", content=request)])
        self._claude_turns.check(command.actor)
        yield DraftStarted(command.session_id, command.kind)
        yield Thinking(command.session_id, "draft")
        usage = Usage()
        draft: HandoffDraft | None = None
        section: str | None = None
        try:
            async for piece in self._claude.draft(system=SYSTEM_PROMPT, messages=messages):
                if isinstance(piece, FieldText):
                    # Each field streams under its heading, in the order Claude writes them.
                    text = piece.text
                    if piece.field != section:
                        heading = f"## {SECTION_TITLES[piece.field]}\n\n"
                        text = ("\n\n" if section else "") + heading + text
                        section = piece.field
                    yield DraftDelta(command.session_id, text)
                elif isinstance(piece, HandoffDraft):
                    draft = piece
                else:
                    usage = piece
        except ClaudeUnavailable as err:
            err.message = msg.CLAUDE_DOWN.format(reason=err.message)
            raise
        if draft is None:
            raise ClaudeBadOutput("Claude's answer had no draft")
        yield await self._save(command, draft.fields(), usage)

    async def _save(self, command: DraftHandoff, fields: HandoffFields, usage: Usage) -> DraftFinished:
        """Store the finished draft (replacing an open one) with what it cost."""
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            ensure_lease(s, self._owner)
            require_active(s)
            await db.execute(
                sa.update(SessionHandoff)
                .where(SessionHandoff.session_id == s.id, SessionHandoff.status == "draft")
                .values(status="discarded")
            )
            handoff = SessionHandoff(
                session_id=s.id,
                kind=command.kind,
                status="draft",
                draft_text=render_draft(fields),
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
            note = await self._note(db, loaded, handoff)
        return _finished(handoff, note)

    async def _note(self, db: AsyncSession, loaded: Loaded[AISession], handoff: SessionHandoff) -> str:
        """The plain ticket note the draft would make if confirmed now: what the engineer checks first."""
        context = _context(loaded, kind=handoff.kind, engineer=await _engineer(db, loaded), finished_at=now())
        outputs = self._outputs.generate(context=context, fields=_redacted(_fields_of(handoff)))
        return next(o.content for o in outputs if o.format == "plain")

    async def latest_draft(self, db: AsyncSession, session_id: uuid.UUID) -> SessionHandoff | None:
        return (
            await db.execute(
                sa.select(SessionHandoff)
                .where(SessionHandoff.session_id == session_id, SessionHandoff.status == "draft")
                .order_by(SessionHandoff.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()

    async def discard_draft(self, command: DiscardDraft) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            await self._sessions.load(db, command.actor, command.session_id)
            draft = await self.latest_draft(db, command.session_id)
            if draft is None:
                raise InvalidTransition(msg.NO_DRAFT)
            draft.status = "discarded"
        yield Notice(command.session_id, msg.DRAFT_DISCARDED, code="discarded")

    async def _confirm(
        self,
        db: AsyncSession,
        loaded: Loaded[AISession],
        *,
        kind: str,
        fields: HandoffFields | None,
        to_user: User | None = None,
        reason: str = "",
    ) -> tuple[SessionHandoff, dict[str, str]]:
        s = loaded.session
        draft = await self.latest_draft(db, s.id)
        if draft is not None and draft.kind != kind and fields is None:
            raise InvalidTransition(msg.DRAFT_KIND_MISMATCH.format(draft_kind=draft.kind, kind=kind))
        if fields is None:
            if draft is None:
                raise InvalidTransition(msg.NO_DRAFT)
            fields = _fields_of(draft)
        fields = _redacted(fields)
        if not is_complete(fields):
            raise IntakeError(msg.DRAFT_INCOMPLETE)
        if draft is None or draft.kind != kind:
            draft = SessionHandoff(session_id=s.id, kind=kind, from_user_id=loaded.user.id, draft_text="")
            db.add(draft)
        at = now()
        draft.status = "confirmed"
        draft.confirmed_at = at
        draft.root_cause, draft.steps_taken, draft.recommendations = (
            fields.root_cause,
            fields.steps_taken,
            fields.recommendations,
        )
        draft.to_user_id = to_user.id if to_user else None
        await db.flush()
        context = _context(
            loaded,
            kind=kind,
            engineer=await _engineer(db, loaded),
            finished_at=at,
            escalated_to=(to_user.display_name or to_user.external_id) if to_user else None,
            reason=reason,
        )
        outputs: dict[str, str] = {
            o.format: o.content for o in self._outputs.generate(context=context, fields=fields)
        }
        for fmt, content in outputs.items():
            db.add(SessionResolutionOutput(session_id=s.id, handoff_id=draft.id, format=fmt, content=content))
        s.pending_task_lane = None
        s.awaiting_reply = False
        return draft, outputs

    async def resolve(self, command: Resolve) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            if s.status == SessionStatus.RESOLVED:
                raise InvalidTransition(msg.ALREADY.format(status=SessionStatus.RESOLVED.value))
            require_active(s)
            touch(s, now())
            done = [a.text for a in TaskLane.from_json(s.pending_task_lane).actions if a.outcome == "done"]
            handoff, outputs = await self._confirm(db, loaded, kind="resolve", fields=command.fields)
            old = s.status
            s.status = SessionStatus.RESOLVED
            s.resolved_at = now()
            s.resolution_summary = handoff.root_cause
            s.resolution_action = done[-1] if done else None
            await changed(db, s, command.actor, "status")
            view = await self._sessions.view_of(db, loaded)
        yield StatusChanged(
            command.session_id, old, SessionStatus.RESOLVED, command.actor.name, view, outputs
        )

    async def escalate(self, command: Escalate) -> AsyncIterator[Event]:
        async with self._db() as db, db.begin():
            loaded = await self._sessions.load(db, command.actor, command.session_id)
            s = loaded.session
            if SessionStatus(s.status).escalated:
                raise InvalidTransition(msg.ALREADY.format(status=SessionStatus.ESCALATED.value))
            require_active(s)
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
            touch(s, now())
            reason = redact(command.reason.strip()).text[:2000]
            handoff, outputs = await self._confirm(
                db, loaded, kind="escalate", fields=command.fields, to_user=to_user, reason=reason
            )
            old = s.status
            s.status = SessionStatus.ESCALATED if to_user else SessionStatus.REQUESTING_ESCALATION
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
            await changed(db, s, command.actor, "status")
            view = await self._sessions.view_of(db, loaded)
        yield StatusChanged(
            command.session_id, old, s.status, command.actor.name, view, outputs, command.to, reason or None
        )


def _finished(handoff: SessionHandoff, ticket_note: str) -> DraftFinished:
    return DraftFinished(
        handoff.session_id,
        handoff.id,
        handoff.kind,
        handoff.draft_text,
        handoff.root_cause,
        handoff.steps_taken,
        handoff.recommendations,
        ticket_note,
    )


def _fields_of(handoff: SessionHandoff) -> HandoffFields:
    return HandoffFields(
        root_cause=handoff.root_cause,
        steps_taken=handoff.steps_taken,
        recommendations=handoff.recommendations,
    )


def _redacted(fields: HandoffFields) -> HandoffFields:
    """The fields as a confirmed handoff keeps them: trimmed, secrets masked."""
    return HandoffFields(
        root_cause=redact(fields.root_cause.strip()).text,
        steps_taken=redact(fields.steps_taken.strip()).text,
        recommendations=redact(fields.recommendations.strip()).text,
    )


async def _engineer(db: AsyncSession, loaded: Loaded[AISession]) -> str:
    """Who the ticket note names: the session's owner."""
    owner = (await repo.users_by_id(db, [loaded.session.user_id])).get(loaded.session.user_id)
    return (owner.display_name or owner.external_id) if owner else loaded.user.external_id


def _context(
    loaded: Loaded[AISession],
    *,
    kind: str,
    engineer: str,
    finished_at: datetime,
    escalated_to: str | None = None,
    reason: str = "",
) -> OutputContext:
    """What the ticket note says about the session besides the handoff's own fields."""
    s = loaded.session
    return OutputContext(
        session_id=str(s.id),
        kind=kind,  # type: ignore[arg-type]
        problem_summary=s.problem_summary,
        client_name=s.client_name,
        asset_name=s.asset_name,
        issue_category=s.issue_category,
        hypothesis=s.triage_hypothesis,
        evidence=[{"text": e["text"], "status": e["status"]} for e in s.evidence_items or []],
        engineer=engineer,
        escalated_to=escalated_to,
        escalation_reason=reason or None,
        started_at=s.created_at,
        finished_at=finished_at,
        active_seconds=s.total_active_seconds,
        step_count=s.step_count,
        psa_ticket_id=s.psa_ticket_id,
    )
