"""A troubleshooting session from first message to rating, through the real handler, PostgreSQL and SDK."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
from bot.events import (
    ActionMarked,
    AssistantTurn,
    DraftDelta,
    DraftFinished,
    Event,
    Notice,
    QuestionAnswered,
    SessionStarted,
    StatusChanged,
    TriageChanged,
)
from bot.handler import SessionHandler
from bot.schemas import HandoffFields
from fakes.anthropic import FakeAnthropic
from storage.models import AISession, AISessionStep, SessionHandoff, SessionResolutionOutput
from tests.conftest import collect

E = TypeVar("E", bound=Event)


def first(events: Sequence[Event], kind: type[E]) -> E:
    return next(e for e in events if isinstance(e, kind))


def errors(events: Sequence[Event]) -> list[Notice]:
    return [e for e in events if isinstance(e, Notice) and e.level == "error"]


async def start(
    handler: SessionHandler,
    actor: Actor,
    text: str = "Outlook keeps asking for the password at Contoso on LAPTOP-042",
) -> tuple[uuid.UUID, list[Event]]:
    events = await collect(handler.handle(StartSession(actor=actor, text=text)))
    assert not errors(events), errors(events)
    session_id = first(events, SessionStarted).session_id
    assert session_id is not None
    return session_id, events


async def test_full_session_start_to_rating(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, events = await start(handler, alice)
    turn = first(events, AssistantTurn)
    assert turn.questions and turn.questions[0].options, "the first turn asks a question with options"
    header = first(events, TriageChanged).view
    assert header.client_name == "Contoso"
    assert header.issue_category == "Microsoft 365 / Identity"
    assert header.evidence

    # Answering both questions of the turn: the first only records, the second makes the next turn.
    q1, q2 = turn.questions
    events = await collect(
        handler.handle(
            AnswerQuestion(actor=alice, session_id=session_id, question_id=q1.id, answer=q1.options[0])
        )
    )
    answered = first(events, QuestionAnswered)
    assert answered.question.answered_by == "Alice" and answered.remaining == 1
    assert not any(isinstance(e, AssistantTurn) for e in events)
    events = await collect(
        handler.handle(
            AnswerQuestion(actor=alice, session_id=session_id, question_id=q2.id, answer=q2.options[1])
        )
    )
    second_turn = first(events, AssistantTurn)
    assert second_turn.step_order > turn.step_order
    # Claude saw both answers.
    sent = json.dumps(fake_claude.last_request.body["messages"])
    assert q1.options[0] in sent and q2.options[1] in sent

    # The engineer fixes the client by hand; Claude's next update must not overwrite it.
    events = await collect(
        handler.handle(
            EditTriage(actor=alice, session_id=session_id, changes={"client_name": "Contoso Ltd (EU)"})
        )
    )
    assert first(events, TriageChanged).view.client_name == "Contoso Ltd (EU)"
    for action in second_turn.actions:
        events = await collect(
            handler.handle(
                MarkAction(actor=alice, session_id=session_id, action_id=action.id, outcome="failed")
            )
        )
        assert first(events, ActionMarked).action.outcome == "failed"
    events = await collect(
        handler.handle(UserMessage(actor=alice, session_id=session_id, text="OWA works fine"))
    )
    assert first(events, AssistantTurn)
    last_body = json.dumps(fake_claude.last_request.body)
    assert "set these fields by hand" in last_body and "client_name" in last_body
    view = await handler.view(actor=alice, session_id=session_id)
    assert view.client_name == "Contoso Ltd (EU)"
    assert "client_name" in view.manual_fields

    events = await collect(
        handler.handle(SetEvidenceStatus(actor=alice, session_id=session_id, index=1, status="ruled_out"))
    )
    assert first(events, TriageChanged).view.evidence[0].status == "ruled_out"

    # The draft streams in pieces, then is parsed into the three sections.
    fake_claude.chunk_chars = 12
    events = await collect(handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="resolve")))
    deltas = [e.text for e in events if isinstance(e, DraftDelta)]
    finished = first(events, DraftFinished)
    assert len(deltas) > 3 and "".join(deltas) == finished.text
    assert finished.root_cause and finished.steps_taken and finished.recommendations

    events = await collect(handler.handle(Resolve(actor=alice, session_id=session_id)))
    changed = first(events, StatusChanged)
    assert changed.new == "resolved"
    assert set(changed.outputs) == {"plain", "markdown", "json"}
    assert "##" not in changed.outputs["plain"]

    events = await collect(
        handler.handle(Rate(actor=alice, session_id=session_id, rating=5, feedback="spot on"))
    )
    assert not errors(events)

    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert row.status == "resolved" and row.resolved_at is not None
        assert row.session_rating == 5 and row.session_feedback == "spot on"
        assert row.client_name == "Contoso Ltd (EU)"
        assert row.resolution_summary == finished.root_cause
        steps = (
            (await s.execute(sa.select(AISessionStep).where(AISessionStep.session_id == session_id)))
            .scalars()
            .all()
        )
        assert row.step_count == len(steps) >= 8
        assert sum(st.input_tokens for st in steps) <= row.total_input_tokens
        assert row.total_output_tokens > 0
        handoff = (
            await s.execute(sa.select(SessionHandoff).where(SessionHandoff.session_id == session_id))
        ).scalar_one()
        assert handoff.status == "confirmed" and handoff.kind == "resolve"
        outputs = (
            (
                await s.execute(
                    sa.select(SessionResolutionOutput).where(SessionResolutionOutput.handoff_id == handoff.id)
                )
            )
            .scalars()
            .all()
        )
        assert {o.format for o in outputs} == {"plain", "markdown", "json"}
        assert json.loads(next(o.content for o in outputs if o.format == "json"))["root_cause"]


async def test_resolve_with_edited_fields_overrides_the_draft(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice, "Printer at Fabrikam is offline")
    await collect(handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="resolve")))
    edited = HandoffFields(
        root_cause="Stuck job in the spooler", steps_taken="1. Restarted spooler", recommendations=""
    )
    events = await collect(handler.handle(Resolve(actor=alice, session_id=session_id, fields=edited)))
    assert first(events, StatusChanged).new == "resolved"
    async with db() as s:
        handoff = (
            await s.execute(sa.select(SessionHandoff).where(SessionHandoff.status == "confirmed"))
        ).scalar_one()
        assert handoff.root_cause == "Stuck job in the spooler"


async def test_escalation_and_take_over(
    handler: SessionHandler, alice: Actor, bob: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice, "VPN drops every 10 minutes for the Northwind sales team")
    await collect(handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="escalate")))
    events = await collect(
        handler.handle(Escalate(actor=alice, session_id=session_id, to=bob, reason="Needs firewall access"))
    )
    changed = first(events, StatusChanged)
    assert changed.new == "escalated" and changed.escalated_to == bob
    assert "Bob" in changed.outputs["plain"] and "firewall" in changed.outputs["plain"]

    # Only the receiving engineer may take it over.
    carol = type(alice)(platform="slack", workspace_id="T-ACME", user_id="U-CAROL", display_name="Carol")
    events = await collect(handler.handle(TakeOver(actor=carol, session_id=session_id)))
    assert errors(events) and "Bob" in errors(events)[0].text

    events = await collect(handler.handle(TakeOver(actor=bob, session_id=session_id)))
    assert first(events, StatusChanged).new == "active"
    view = await handler.view(actor=bob, session_id=session_id)
    assert view.owner == "Bob" and view.status == "active"
    events = await collect(
        handler.handle(UserMessage(actor=bob, session_id=session_id, text="Firewall logs attached soon"))
    )
    assert first(events, AssistantTurn)
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert row.handoff_count == 1
        assert row.escalation_package is not None
        assert row.escalation_package["reason"] == "Needs firewall access"


async def test_pause_blocks_turns_until_resumed_and_counts_parked_time(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    await collect(handler.handle(Pause(actor=alice, session_id=session_id)))
    async with db() as s, s.begin():
        # Pretend the pause lasted ten minutes.
        await s.execute(
            sa.update(AISession)
            .where(AISession.id == session_id)
            .values(last_activity_at=AISession.last_activity_at - sa.text("interval '600 seconds'"))
        )
    events = await collect(
        handler.handle(UserMessage(actor=alice, session_id=session_id, text="still broken"))
    )
    assert errors(events) and "paused" in errors(events)[0].text.lower()
    assert not any(isinstance(e, AssistantTurn) for e in events)
    events = await collect(handler.handle(Resume(actor=alice, session_id=session_id)))
    assert first(events, StatusChanged).new == "active"
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert row.total_parked_seconds >= 600
        steps = (
            await s.execute(sa.select(sa.func.count()).where(AISessionStep.session_id == session_id))
        ).scalar()
        assert steps == 2, "the refused message was not stored"


async def test_lifecycle_errors_are_clear_and_change_nothing(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, events = await start(handler, alice)
    q = first(events, AssistantTurn).questions[0]
    await collect(
        handler.handle(AnswerQuestion(actor=alice, session_id=session_id, question_id=q.id, answer="Yes"))
    )
    again = await collect(
        handler.handle(AnswerQuestion(actor=alice, session_id=session_id, question_id=q.id, answer="No"))
    )
    assert errors(again)[0].code == "already_answered" and "Alice" in errors(again)[0].text

    missing = await collect(handler.handle(Resolve(actor=alice, session_id=session_id)))
    assert errors(missing)[0].code == "invalid_transition"  # no draft yet

    await collect(handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="resolve")))
    await collect(handler.handle(Resolve(actor=alice, session_id=session_id)))
    twice = await collect(handler.handle(Resolve(actor=alice, session_id=session_id)))
    assert "already resolved" in errors(twice)[0].text
    bad_rating = await collect(handler.handle(Rate(actor=alice, session_id=session_id, rating=9)))
    assert errors(bad_rating)[0].code == "bad_input"
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert row.status == "resolved" and row.session_rating is None


async def test_active_time_counts_work_not_idle_hours(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    async with db() as s, s.begin():
        # The engineer went home for two hours with the session open.
        await s.execute(
            sa.update(AISession)
            .where(AISession.id == session_id)
            .values(last_activity_at=AISession.last_activity_at - sa.text("interval '2 hours'"))
        )
    await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="back, still broken")))
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
    assert 15 * 60 <= row.total_active_seconds < 20 * 60
    assert row.total_parked_seconds == 0


async def test_an_engineer_whose_first_command_is_refused_can_go_on(
    handler: SessionHandler, alice: Actor, bob: Actor
) -> None:
    session_id, _ = await start(handler, alice)
    await collect(handler.handle(Pause(actor=alice, session_id=session_id)))
    # Bob's very first command is refused (the session is paused) ...
    refused = await collect(handler.handle(UserMessage(actor=bob, session_id=session_id, text="hi")))
    assert errors(refused)[0].code == "invalid_transition"
    # ... and his next ones work normally.
    await collect(handler.handle(Resume(actor=bob, session_id=session_id)))
    events = await collect(
        handler.handle(UserMessage(actor=bob, session_id=session_id, text="taking a look"))
    )
    assert first(events, AssistantTurn)


async def test_adapters_can_read_the_header_and_the_open_draft(
    handler: SessionHandler, alice: Actor, mallory: Actor
) -> None:
    import uuid

    import pytest

    from bot.errors import NotFound

    session_id, _ = await start(handler, alice)
    header = await handler.header(session_id)
    assert header is not None and header.owner == "Alice" and header.client_name == "Contoso"
    assert await handler.header(uuid.uuid4()) is None
    assert await handler.latest_draft(actor=alice, session_id=session_id) is None
    events = await collect(handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="escalate")))
    finished = first(events, DraftFinished)
    draft = await handler.latest_draft(actor=alice, session_id=session_id)
    assert draft is not None and draft.kind == "escalate" and draft.root_cause == finished.root_cause
    with pytest.raises(NotFound):
        await handler.latest_draft(actor=mallory, session_id=session_id)


async def test_escalation_event_carries_the_reason(handler: SessionHandler, alice: Actor, bob: Actor) -> None:
    session_id, _ = await start(handler, alice)
    await collect(handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="escalate")))
    events = await collect(
        handler.handle(Escalate(actor=alice, session_id=session_id, to=bob, reason="on-site visit"))
    )
    assert first(events, StatusChanged).reason == "on-site visit"
