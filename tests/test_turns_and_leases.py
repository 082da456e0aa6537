"""One turn at a time per session, across handlers (processes), and no session stuck after a crash."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncGenerator, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import messages as msg
from bot.commands import Actor, RetryTurn, UserMessage
from bot.events import AssistantTurn, Notice
from bot.handler import SessionHandler
from fakes.anthropic import FakeAnthropic
from storage.models import AISession, AISessionStep
from tests.conftest import collect, make_claude
from tests.test_session_lifecycle import errors, first, start


async def roles_in_order(
    db: async_sessionmaker[AsyncSession], session_id: uuid.UUID
) -> Sequence[sa.Row[str, str]]:
    async with db() as s:
        rows = (
            await s.execute(
                sa.select(AISessionStep.role, AISessionStep.content)
                .where(AISessionStep.session_id == session_id)
                .order_by(AISessionStep.step_order)
            )
        ).all()
    return rows


async def test_two_messages_racing_on_one_session_are_serialized(
    handler: SessionHandler,
    alice: Actor,
    bob: Actor,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeAnthropic,
) -> None:
    session_id, _ = await start(handler, alice)
    fake_claude.latency = 0.3
    a, b = await asyncio.gather(
        collect(
            handler.handle(UserMessage(actor=alice, session_id=session_id, text="first: spooler restarted"))
        ),
        collect(handler.handle(UserMessage(actor=bob, session_id=session_id, text="second: still offline"))),
    )
    assert first(a, AssistantTurn) and first(b, AssistantTurn)
    rows = await roles_in_order(db, session_id)
    # intake, reply, then each message followed by its own reply: never two turns interleaved.
    assert [r.role for r in rows] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    # The second turn's request already contained the first turn's answer.
    second_request = json.dumps(fake_claude.requests[-1].body["messages"])
    assert "first: spooler restarted" in second_request and "second: still offline" in second_request


async def test_a_finished_turn_leaves_no_turn_in_flight_for_the_recovery_sweep(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    """A turn that ended normally is not an interrupted one: nothing is left for the sweep to announce."""
    session_id, _ = await start(handler, alice)
    await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="still offline")))
    async with db() as s:
        row = (
            await s.execute(
                sa.text(
                    "SELECT lease_owner, turn_in_flight IS NULL AS cleared FROM ai_sessions WHERE id = :id"
                ),
                {"id": session_id},
            )
        ).one()
    assert row.lease_owner is None and row.cleared, "SQL NULL, not the JSON value null"
    assert await handler.recover_unfinished() == []


async def test_handlers_in_two_processes_share_the_lease(
    db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, alice: Actor
) -> None:
    # Two handlers with separate owners stand for two `flowpilot serve` processes on one database.
    one = SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=10)
    two = SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=10)
    session_id, _ = await start(one, alice)
    fake_claude.latency = 0.2
    # Four engineers of the account (one engineer's messages sent while waiting join one turn instead).
    engineers = [dataclasses.replace(alice, user_id=f"U-{i}", display_name=f"Engineer {i}") for i in range(4)]
    results = await asyncio.gather(
        *[
            collect(h.handle(UserMessage(actor=engineers[i], session_id=session_id, text=f"message {i}")))
            for i, h in enumerate([one, two, one, two])
        ]
    )
    assert all(first(r, AssistantTurn) for r in results)
    rows = await roles_in_order(db, session_id)
    assert [r.role for r in rows] == ["user", "assistant"] * 5
    assert sorted(r.content for r in rows if r.role == "user")[1:] == [f"message {i}" for i in range(4)]


async def test_a_lease_left_by_a_dead_process_expires_and_the_turn_is_retryable(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    # A process died mid-turn: the engineer's message is stored, the lease is stale, no reply was written.
    async with db() as s, s.begin():
        row = await s.get(AISession, session_id)
        assert row is not None
        s.add(
            AISessionStep(session_id=session_id, step_order=row.step_count + 1, role="user", content="did X")
        )
        row.step_count += 1
        row.awaiting_reply = True
        row.lease_owner = uuid.uuid4()
        row.lease_expires_at = sa.func.now() - sa.text("interval '1 second'")
        row.turn_in_flight = {"command": "UserMessage"}
    events = await collect(handler.handle(RetryTurn(actor=alice, session_id=session_id)))
    assert first(events, AssistantTurn), "the retried turn is answered"
    rows = await roles_in_order(db, session_id)
    assert rows[-2].content == "did X" and rows[-1].role == "assistant"
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert row.lease_owner is None and row.awaiting_reply is False


async def test_any_command_after_a_crash_says_the_turn_was_interrupted(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    async with db() as s, s.begin():
        row = await s.get(AISession, session_id)
        assert row is not None
        row.awaiting_reply = True
        row.lease_owner = uuid.uuid4()
        row.lease_expires_at = sa.func.now() - sa.text("interval '1 second'")
        row.turn_in_flight = {"command": "UserMessage"}
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="hello?")))
    interrupted = [e for e in events if isinstance(e, Notice) and e.code == "interrupted"]
    assert interrupted and isinstance(interrupted[0].retry, RetryTurn)
    assert first(events, AssistantTurn)


async def test_a_live_lease_makes_others_wait_not_fail(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    other_owner = uuid.uuid4()
    async with db() as s, s.begin():
        row = await s.get(AISession, session_id)
        assert row is not None
        row.lease_owner = other_owner
        row.lease_expires_at = sa.func.now() + sa.text("interval '30 seconds'")

    async def release_soon() -> None:
        await asyncio.sleep(0.5)
        async with db() as s, s.begin():
            await s.execute(
                sa.update(AISession)
                .where(AISession.id == session_id)
                .values(lease_owner=None, lease_expires_at=None)
            )

    releaser = asyncio.create_task(release_soon())
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="waiting")))
    await releaser
    assert first(events, AssistantTurn) and not errors(events)


async def test_busy_session_gives_a_clear_retryable_notice(
    db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, alice: Actor
) -> None:
    impatient = SessionHandler(
        db=db, claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=0.3
    )
    session_id, _ = await start(impatient, alice)
    async with db() as s, s.begin():
        row = await s.get(AISession, session_id)
        assert row is not None
        row.lease_owner = uuid.uuid4()
        row.lease_expires_at = sa.func.now() + sa.text("interval '30 seconds'")
    events = await collect(impatient.handle(UserMessage(actor=alice, session_id=session_id, text="hi")))
    notice = errors(events)[0]
    assert notice.code == "busy" and isinstance(notice.retry, UserMessage)
    rows = await roles_in_order(db, session_id)
    assert len(rows) == 2, "nothing was written while the session was busy"


async def test_graceful_shutdown_lets_a_turn_finish(
    db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, alice: Actor
) -> None:
    handler = SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=10)
    session_id, _ = await start(handler, alice)
    fake_claude.latency = 0.5
    turn = asyncio.create_task(
        collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="go")))
    )
    await asyncio.sleep(0.2)
    await handler.shutdown(grace_seconds=5)
    assert first(await turn, AssistantTurn)
    refused = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="late")))
    assert errors(refused)[0].code == "shutting_down"


async def test_shutdown_past_the_grace_period_leaves_the_turn_retryable(
    db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, alice: Actor
) -> None:
    handler = SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=10)
    session_id, _ = await start(handler, alice)
    fake_claude.latency = 5
    turn = asyncio.create_task(
        collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="slow")))
    )
    await asyncio.sleep(0.3)
    await handler.shutdown(grace_seconds=0.2)
    try:
        await turn
    except asyncio.CancelledError:
        pass
    fake_claude.latency = 0
    restarted = SessionHandler(
        db=db, claude=make_claude(fake_claude), lease_seconds=30, lease_wait_seconds=10
    )
    events = await collect(restarted.handle(RetryTurn(actor=alice, session_id=session_id)))
    assert first(events, AssistantTurn)
    rows = await roles_in_order(db, session_id)
    assert rows[-2].content == "slow" and rows[-1].role == "assistant"


async def test_a_draft_abandoned_by_its_reader_is_not_reported_as_interrupted(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    from bot.commands import DraftHandoff
    from bot.events import DraftDelta

    session_id, _ = await start(handler, alice)
    fake_claude.chunk_chars = 8
    fake_claude.chunk_delay = 0.05
    draft = handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="resolve"))
    async for event in draft:
        if isinstance(event, DraftDelta):
            break
    assert isinstance(draft, AsyncGenerator)
    await draft.aclose()  # the reader went away mid-draft
    fake_claude.chunk_delay = 0
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="back")))
    assert not [e for e in events if isinstance(e, Notice) and e.code == "interrupted"]
    assert first(events, AssistantTurn)


async def test_an_answer_that_arrives_after_another_process_took_the_session_over_is_dropped_whole(
    db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, alice: Actor
) -> None:
    # Claude took longer than the lease and another process took the session over meanwhile: the late
    # answer must not be written over that process's turn, not even in part.
    handler = SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30)
    session_id, _ = await start(handler, alice)
    fake_claude.latency = 0.5
    turn = asyncio.create_task(
        collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="hi")))
    )
    await asyncio.sleep(0.25)  # the message is saved and Claude is thinking
    other = uuid.uuid4()
    async with db() as s, s.begin():
        row = await s.get(AISession, session_id)
        assert row is not None
        row.lease_owner = other
        before = (row.step_count, row.pending_task_lane, row.confidence_score)
    events = await turn
    notice = errors(events)[0]
    assert notice.code == "busy"
    assert not [e for e in events if isinstance(e, AssistantTurn)]
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert (row.step_count, row.pending_task_lane, row.confidence_score) == before
        assert row.lease_owner == other, "the other process keeps its lease"
    rows = await roles_in_order(db, session_id)
    assert [r.role for r in rows][-1] == "user", "no step of the dropped answer was written"


async def test_claude_hears_the_whole_conversation_when_two_processes_take_turns(
    db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, alice: Actor
) -> None:
    # Each process remembers the steps it wrote; the steps the other process wrote in between must still
    # reach Claude, in order, each once.
    one = SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30)
    two = SessionHandler(db=db, claude=make_claude(fake_claude), lease_seconds=30)
    session_id, _ = await start(one, alice)
    said = []
    for i, h in enumerate([one, one, two, one, two, two, one]):
        said.append(f"message number {i}")
        events = await collect(h.handle(UserMessage(actor=alice, session_id=session_id, text=said[-1])))
        assert first(events, AssistantTurn)
        messages = fake_claude.last_request.body["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * (len(said)) + ["user"]
        engineer = [m["content"][0]["text"] for m in messages if m["role"] == "user"][1:]
        assert engineer == said, f"turn {i}: Claude was told {engineer}"
        replies = [m["content"][0]["text"] for m in messages if m["role"] == "assistant"][1:]
        assert [r.split('"')[1] for r in replies] == said[:-1], f"turn {i}: Claude's own replies, in order"


async def test_a_message_that_must_wait_says_so_at_once_privately(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    fake_claude.latency = 1.0
    calls = len(fake_claude.requests)
    running = asyncio.create_task(
        collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="spooler restarted")))
    )
    while len(fake_claude.requests) == calls:  # the first message's turn is with Claude
        await asyncio.sleep(0.01)
    waiting = handler.handle(UserMessage(actor=alice, session_id=session_id, text="still offline"))
    told = await anext(waiting)
    assert isinstance(told, Notice) and told.text == msg.QUEUED and told.private
    assert not running.done(), "told while the previous turn is still running, not after"
    rest = [event async for event in waiting]
    await running
    assert first(rest, AssistantTurn), "and then it is answered"


async def test_messages_sent_while_one_waits_join_its_turn_one_claude_call(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    fake_claude.latency = 0.5
    calls = len(fake_claude.requests)
    running = asyncio.create_task(
        collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="spooler restarted")))
    )
    while len(fake_claude.requests) == calls:
        await asyncio.sleep(0.01)
    burst = await asyncio.gather(
        *[
            collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text=f"detail {i}")))
            for i in range(20)
        ]
    )
    await running
    answered = [events for events in burst if any(isinstance(e, AssistantTurn) for e in events)]
    joined = [events for events in burst if [e for e in events if getattr(e, "text", "") == msg.JOINED]]
    assert len(answered) == 1 and len(joined) == 19, "one turn answers the whole burst"
    assert len(fake_claude.requests) == calls + 2, "two Claude calls, not twenty-one"
    rows = await roles_in_order(db, session_id)
    assert [r.role for r in rows] == ["user", "assistant"] * 3
    assert all(f"detail {i}" in rows[-2].content for i in range(20)), "nothing of the burst is lost"
