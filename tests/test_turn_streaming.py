"""A turn's words stream from Claude's tool input as it is written, through the real handler, SDK and fake.

The fake Anthropic holds the last fragment of its answer until the test lets it go, so "the words arrived
while Claude was still writing" is known without timing anything.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.anthropic_claude import warm_up
from bot.claude import TURN_TOOL
from bot.commands import Actor, RetryTurn, UserMessage
from bot.events import AssistantTurn, Event, MessageDelta, Notice, Thinking, TurnCut
from bot.handler import SessionHandler
from fakes.anthropic import FakeAnthropic, Hold
from storage.models import AISession, AISessionStep
from tests.conftest import collect, make_claude
from tests.test_session_lifecycle import errors, first, start

ANSWER: dict[str, Any] = {
    "message": "The spooler on PRN-2 is holding a stuck job. Let's clear it and check the driver.",
    "questions": [{"id": "q1", "text": "Is the queue empty now?", "options": ["Yes", "No"]}],
    "actions": [{"id": "a1", "text": "Restart the Print Spooler service."}],
    "confidence": 0.6,
}


def deltas(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, MessageDelta))


async def steps(db: async_sessionmaker[AsyncSession], session_id: uuid.UUID) -> list[tuple[str, str]]:
    async with db() as s:
        rows = await s.execute(
            sa.select(AISessionStep.role, AISessionStep.content)
            .where(AISessionStep.session_id == session_id)
            .order_by(AISessionStep.step_order)
        )
        return [(role, content) for role, content in rows.all()]


async def test_the_words_arrive_while_claude_still_writes_and_the_choices_at_the_end(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    hold = Hold()
    fake_claude.queue_turn(ANSWER, hold=hold)
    events: list[Event] = []
    command = UserMessage(actor=alice, session_id=session_id, text="PRN-2 is stuck")
    async with asyncio.timeout(60):  # a guard: without streaming, no word comes before the held end
        async for event in handler.handle(command):
            events.append(event)
            if isinstance(event, MessageDelta) and not hold.released:
                # The first words are here and Claude has not sent the end of its answer.
                assert fake_claude.last_request.last_text_at == 0.0
                hold.release()
    kinds = [type(e) for e in events]
    assert kinds.index(Thinking) < kinds.index(MessageDelta) < kinds.index(AssistantTurn)
    turn = first(events, AssistantTurn)
    assert deltas(events) == turn.message == ANSWER["message"]
    # The buttons come with the whole turn, after the words.
    assert [q.text for q in turn.questions] == ["Is the queue empty now?"]
    assert [a.text for a in turn.actions] == ["Restart the Print Spooler service."]
    assert not [e for e in events if isinstance(e, TurnCut)]
    assert (await steps(db, session_id))[-1] == ("assistant", ANSWER["message"])


async def test_a_turn_cut_mid_stream_is_marked_with_retry_and_nothing_half_written_is_stored(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    before = await steps(db, session_id)
    fake_claude.queue_cut_stream(ANSWER, after_chars=50)  # the connection drops inside the message
    events = await collect(
        handler.handle(UserMessage(actor=alice, session_id=session_id, text="PRN-2 is stuck"))
    )
    cut = first(events, TurnCut)
    assert cut.shown and ANSWER["message"].startswith(cut.shown) and cut.shown == deltas(events)
    notice = events[-1]
    assert isinstance(notice, Notice) and notice.level == "error" and notice.code == "claude_unavailable"
    assert events.index(cut) < events.index(notice)
    assert isinstance(notice.retry, RetryTurn)
    assert not [e for e in events if isinstance(e, AssistantTurn)]
    assert await steps(db, session_id) == [*before, ("user", "PRN-2 is stuck")]
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None and row.awaiting_reply and row.lease_owner is None

    fake_claude.queue_turn(ANSWER)
    retried = await collect(handler.handle(notice.retry))
    assert first(retried, AssistantTurn).message == ANSWER["message"] == deltas(retried)
    assert (await steps(db, session_id))[-1] == ("assistant", ANSWER["message"])


async def test_an_error_event_mid_stream_is_a_cut_too(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    fake_claude.queue_cut_stream(ANSWER, after_chars=40, error_type="overloaded_error")
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="more")))
    assert first(events, TurnCut).shown
    assert "overloaded" in errors(events)[0].text


async def test_a_failure_before_any_word_is_no_cut(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    fake_claude.queue_error(529)
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="more")))
    assert errors(events) and not [e for e in events if isinstance(e, TurnCut | MessageDelta)]


async def test_a_second_attempt_after_a_broken_answer_replaces_the_words_shown(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    # The first answer's words were shown, then it broke the schema: the second is not streamed over them,
    # the AssistantTurn carries it whole and is what is stored.
    fake_claude.queue_turn({"message": "First words", "confidence": 7})
    fake_claude.queue_turn({**ANSWER, "message": "Corrected answer"})
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="more")))
    assert deltas(events) == "First words"
    assert first(events, AssistantTurn).message == "Corrected answer"
    assert (await steps(db, session_id))[-1] == ("assistant", "Corrected answer")

    # A first answer that showed nothing: the second one streams.
    fake_claude.queue_turn({"confidence": 0.5})
    fake_claude.queue_turn({**ANSWER, "message": "Streamed the second time"})
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="again")))
    assert deltas(events) == "Streamed the second time" == first(events, AssistantTurn).message


async def test_the_message_is_what_claude_is_asked_to_write_first_and_stream_unbuffered(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    await start(handler, alice)
    body = fake_claude.last_request.body
    [tool] = body["tools"]
    assert body["stream"] is True and body["tool_choice"] == {"type": "tool", "name": tool["name"]}
    assert next(iter(tool["input_schema"]["properties"])) == "message"
    assert "`message` first" in tool["description"] and tool["eager_input_streaming"] is True
    assert tool == TURN_TOOL


async def test_an_answer_whose_input_ends_unparseable_is_asked_again(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic, db: async_sessionmaker[AsyncSession]
) -> None:
    session_id, _ = await start(handler, alice)
    # Fine-grained streaming can end mid-value (max_tokens): the words shown stay until the whole answer.
    fake_claude.queue_turn('{"message": "The spooler is stuck, so', chunk_delay=0.0)
    fake_claude.queue_turn(ANSWER)
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="more")))
    assert deltas(events) == "The spooler is stuck, so"
    assert first(events, AssistantTurn).message == ANSWER["message"]
    assert (await steps(db, session_id))[-1] == ("assistant", ANSWER["message"])


async def test_the_warm_up_runs_a_streamed_turn_and_draft(
    fake_claude: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.anthropic_claude"):
        await warm_up(make_claude(fake_claude))
    assert "warm-up skipped" not in caplog.text
    assert not fake_claude.requests  # in memory: nothing reached the network
