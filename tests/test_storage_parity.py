"""One way in, read back the same every way: after every command of a session's life, the hot path's copy
(storage.raw), the ORM's row and the REST API's detail hold the same values."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from adapters.runtime import Runtime
from bot.commands import (
    Actor,
    AnswerQuestion,
    DraftHandoff,
    EditTriage,
    Escalate,
    MarkAction,
    Pause,
    Rate,
    Resolve,
    Resume,
    SetEvidenceStatus,
    StartSession,
    TakeOver,
    UserMessage,
)
from bot.events import AssistantTurn, Notice, SessionStarted
from fakes.anthropic import FakeAnthropic
from storage import raw, repo
from storage.models import AISession
from storage.state import SessionState
from tests.conftest import app_settings, collect, running_app

ALICE = Actor(platform="slack", workspace_id="T-ACME", user_id="U-ALICE", display_name="Alice")
BOB = Actor(platform="slack", workspace_id="T-ACME", user_id="U-BOB", display_name="Bob")
COLUMNS = [c.key for c in AISession.__table__.columns]


@pytest.fixture
async def app(db_url: str, fake_claude: FakeAnthropic) -> AsyncIterator[tuple[str, Runtime, Any]]:
    settings = app_settings(db_url, fake_claude, FLOWPILOT_API_TOKENS="tok@slack:T-ACME")
    async with running_app(settings) as (base, runtime), aiohttp.ClientSession() as http:
        yield base, runtime, http


async def _do(runtime: Runtime, command: Any) -> list[Any]:
    events = await collect(runtime.handler.handle(command))
    errors = [e.text for e in events if isinstance(e, Notice) and e.level == "error"]
    assert not errors, (type(command).__name__, errors)
    return events


def _when(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def _same_everywhere(base: str, runtime: Runtime, http: Any, sid: uuid.UUID, after: str) -> None:
    async with raw.autocommit(runtime.db) as conn:
        copy = await raw.session_copy(conn, sid)
        prompt = await raw.prompt_steps(conn, sid)
    async with runtime.db() as db:
        row = await repo.session_row(db, sid)
        steps = await repo.steps_of(db, sid)
        orm_prompt = await repo.prompt_steps(db, sid)
    assert copy is not None and row is not None
    # The hot path's session is a plain typed value, never an ORM object that may or may not be tracked.
    assert isinstance(copy, SessionState) and not isinstance(copy, AISession), after
    # The hot path's copy and the ORM's row: every column.
    assert {k: getattr(copy, k) for k in COLUMNS} == {k: getattr(row, k) for k in COLUMNS}, after
    assert [tuple(p) for p in prompt] == [tuple(p) for p in orm_prompt], after
    async with http.get(
        f"{base}/api/ai-sessions/{sid}",
        headers={"Authorization": "Bearer tok", "X-FlowPilot-User": "U-ALICE"},
    ) as r:
        assert r.status == 200, await r.text()
        detail = await r.json()
    rest = {
        "status": detail["status"],
        "title": detail["title"],
        "client_name": detail["client_name"],
        "asset_name": detail["asset_name"],
        "issue_category": detail["issue_category"],
        "triage_hypothesis": detail["hypothesis"],
        "confidence_tier": detail["confidence_tier"],
        "confidence_score": detail["confidence_score"],
        "step_count": detail["step_count"],
        "session_rating": detail["rating"],
        "session_feedback": detail["feedback"],
        "intake_type": detail["intake_type"],
        "manual_fields": detail["manual_fields"],
        "awaiting_reply": detail["awaiting_reply"],
        "escalation_reason": detail["escalation_reason"],
        "resolution_summary": detail["resolution_summary"],
        "handoff_count": detail["handoff_count"],
        "total_input_tokens": detail["tokens"]["input"],
        "total_output_tokens": detail["tokens"]["output"],
        "total_active_seconds": detail["active_seconds"],
        "total_parked_seconds": detail["parked_seconds"],
        "created_at": _when(detail["created_at"]),
        "updated_at": _when(detail["updated_at"]),
        "last_activity_at": _when(detail["last_activity_at"]),
        "resolved_at": _when(detail["resolved_at"]),
    }
    assert rest == {k: getattr(row, k) for k in rest}, after
    assert [(s["step_order"], s["role"], s["kind"], s["content"]) for s in detail["steps"]] == [
        (s.step_order, s.role, s.kind, s.content) for s in steps
    ], after
    assert row.step_count == len(steps), after


async def test_every_command_reads_back_the_same_through_every_path(app: tuple[str, Runtime, Any]) -> None:
    base, runtime, http = app
    events = await _do(runtime, StartSession(actor=ALICE, text="Outlook asks for the password at Contoso"))
    sid = next(e for e in events if isinstance(e, SessionStarted)).session_id
    assert sid is not None
    turn = next(e for e in events if isinstance(e, AssistantTurn))
    await _same_everywhere(base, runtime, http, sid, "start")

    await _do(runtime, UserMessage(actor=ALICE, session_id=sid, text="It started after the update"))
    await _same_everywhere(base, runtime, http, sid, "message")
    async with runtime.db() as db:
        row = await repo.session_row(db, sid)
        assert row is not None and row.pending_task_lane is not None
        lane = row.pending_task_lane
    for q in lane["questions"]:
        await _do(runtime, AnswerQuestion(actor=ALICE, session_id=sid, question_id=q["id"], answer="All"))
        await _same_everywhere(base, runtime, http, sid, "answer")
    async with runtime.db() as db:
        row = await repo.session_row(db, sid)
        assert row is not None and row.pending_task_lane is not None
        lane = row.pending_task_lane
    action = lane["actions"][0]
    await _do(runtime, MarkAction(actor=ALICE, session_id=sid, action_id=action["id"], outcome="done"))
    await _same_everywhere(base, runtime, http, sid, "mark")
    await _do(
        runtime,
        EditTriage(
            actor=ALICE,
            session_id=sid,
            changes={"client_name": "Contoso Ltd", "hypothesis": "Stale credential"},
            add_evidence=("Credential manager holds an old token",),
        ),
    )
    await _same_everywhere(base, runtime, http, sid, "edit triage")
    await _do(runtime, SetEvidenceStatus(actor=ALICE, session_id=sid, index=1, status="confirmed"))
    await _same_everywhere(base, runtime, http, sid, "evidence status")
    await _do(runtime, Pause(actor=ALICE, session_id=sid))
    await _same_everywhere(base, runtime, http, sid, "pause")
    await _do(runtime, Resume(actor=ALICE, session_id=sid))
    await _same_everywhere(base, runtime, http, sid, "resume")
    await _do(runtime, DraftHandoff(actor=ALICE, session_id=sid, kind="resolve"))
    await _same_everywhere(base, runtime, http, sid, "draft")
    await _do(runtime, Resolve(actor=ALICE, session_id=sid))
    await _same_everywhere(base, runtime, http, sid, "resolve")
    await _do(runtime, Rate(actor=ALICE, session_id=sid, rating=4, feedback="Quick"))
    await _same_everywhere(base, runtime, http, sid, "rate")
    assert turn.session_id == sid

    events = await _do(runtime, StartSession(actor=ALICE, text="VPN drops every 10 minutes on LAPTOP-7"))
    other = next(e for e in events if isinstance(e, SessionStarted)).session_id
    assert other is not None
    await _do(runtime, DraftHandoff(actor=ALICE, session_id=other, kind="escalate"))
    await _same_everywhere(base, runtime, http, other, "escalation draft")
    await _do(runtime, Escalate(actor=ALICE, session_id=other, reason="Needs gateway access"))
    await _same_everywhere(base, runtime, http, other, "escalate")
    await _do(runtime, TakeOver(actor=BOB, session_id=other))
    await _same_everywhere(base, runtime, http, other, "take over")
    async with runtime.db() as db:
        status = await db.scalar(sa.select(AISession.status).where(AISession.id == other))
    assert status in ("escalated", "active")
