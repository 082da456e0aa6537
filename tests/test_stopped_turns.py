"""An engineer stopping a draft (the shell's Ctrl-C) keeps it as interrupted, unlike a reader going away."""

from __future__ import annotations

import asyncio
import uuid

from bot import messages as msg
from bot.commands import Actor, DraftHandoff, UserMessage
from bot.events import AssistantTurn, DraftDelta, DraftFinished, Notice
from bot.handler import SessionHandler
from fakes.anthropic import FakeAnthropic, Hold
from tests.conftest import collect
from tests.structured_draft import ISSUE_DRAFT
from tests.test_session_lifecycle import first, start


async def stop_mid_draft(
    handler: SessionHandler, alice: Actor, fake: FakeAnthropic, session_id: uuid.UUID
) -> None:
    """Start a draft and stop it, as the shell does on Ctrl-C, once its first words arrived."""
    hold = Hold()
    fake.queue_turn(ISSUE_DRAFT, hold=hold)
    arrived = asyncio.Event()

    async def run() -> None:
        async for event in handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="resolve")):
            if isinstance(event, DraftDelta):
                arrived.set()

    task = asyncio.create_task(run())
    await asyncio.wait_for(arrived.wait(), 60)  # a guard, not a timing assertion
    handler.stop(session_id)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    hold.release()


async def test_a_stopped_draft_is_told_to_the_next_command_with_retry(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    await stop_mid_draft(handler, alice, fake_claude, session_id)
    events = await collect(handler.handle(UserMessage(actor=alice, session_id=session_id, text="back")))
    notice = first(events, Notice)
    assert notice.code == "interrupted" and notice.text == msg.DRAFT_STOPPED
    assert notice.retry == DraftHandoff(actor=alice, session_id=session_id, kind="resolve")
    assert first(events, AssistantTurn)


async def test_retrying_a_stopped_draft_writes_it_again_without_a_word_of_restarts(
    handler: SessionHandler, alice: Actor, fake_claude: FakeAnthropic
) -> None:
    session_id, _ = await start(handler, alice)
    await stop_mid_draft(handler, alice, fake_claude, session_id)
    fake_claude.queue_turn(ISSUE_DRAFT)
    events = await collect(handler.handle(DraftHandoff(actor=alice, session_id=session_id, kind="resolve")))
    assert not [e for e in events if isinstance(e, Notice)]
    assert first(events, DraftFinished).root_cause == ISSUE_DRAFT["root_cause"]
