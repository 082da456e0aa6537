"""`flowpilot shell` in a pseudo-terminal: a turn's words printed as Claude writes them, the numbered choices
when the turn is whole, a turn cut off mid-stream, and Ctrl-C during a draft kept for /retry.

The fake Anthropic holds the last fragment of its answer until the test lets it go, so "the words were on the
screen while Claude was still writing" is known without timing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakes.anthropic import FakeAnthropic, Hold
from storage.models import AISession, SessionHandoff
from tests.structured_draft import ISSUE_DRAFT
from tests.test_shell_terminal import CTRL_C, shell_in_terminal

ANSWER: dict[str, Any] = {
    "message": "The spooler on PRN-2 is holding a stuck job. Let's clear it and check the driver first.",
    "questions": [{"id": "q1", "text": "Is the queue empty now?", "options": ["Yes", "No"]}],
    "actions": [{"id": "a1", "text": "Restart the Print Spooler service."}],
    "confidence": 0.6,
}
FIRST_WORDS = "FlowPilot: The spooler on PRN-2 is holding"
CHOICES = "(type a number to choose"


async def session_row(db: async_sessionmaker[AsyncSession]) -> AISession:
    async with db() as s:
        return (await s.execute(sa.select(AISession))).scalar_one()


async def test_the_words_show_while_claude_writes_and_the_choices_when_the_turn_is_whole(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    hold = Hold()
    fake_claude.queue_turn(ANSWER, hold=hold)
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        await term.line("Users at Contoso cannot print to PRN-2")
        await term.expect("FlowPilot is thinking")  # the spinner, until the first words
        await term.expect(FIRST_WORDS)
        # The words are on screen while Claude has not sent the end of its answer; no choice yet.
        assert fake_claude.last_request.last_text_at == 0.0
        assert CHOICES not in term.text and "[1]" not in term.text
        hold.release()
        shown = await term.expect(CHOICES)
        assert "? Is the queue empty now?" in shown and "[1] Yes" in shown and "Restart the Print" in shown
        assert term.text.count("The spooler on PRN-2 is holding") == 1, "the message is not printed twice"
        await term.line("1")  # the choices work as before
        await term.expect("answered “Is the queue empty now?”: Yes")
        await term.line("/quit")
        await term.expect("Bye.")


async def test_a_turn_cut_mid_stream_is_marked_and_retry_asks_again(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    fake_claude.queue_cut_stream(ANSWER, after_chars=60)
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        await term.line("Users at Contoso cannot print to PRN-2")
        await term.expect("FlowPilot: The spooler")
        cut = await term.expect("(cut off)")
        assert CHOICES not in cut
        notice = await term.expect("/retry")
        assert "Claude is not answering right now (the answer was cut off)" in notice
        assert "Press Retry" not in notice, "Retry is a shell command here, not a button"
        assert (await session_row(db)).awaiting_reply, "nothing half-written was stored"
        fake_claude.queue_turn(ANSWER)
        await term.line("/retry")
        shown = await term.expect(CHOICES)
        assert "FlowPilot: The spooler on PRN-2 is holding a stuck job." in shown
        await term.line("/quit")
        await term.expect("Bye.")
    row = await session_row(db)
    assert not row.awaiting_reply and row.step_count == 2


async def test_ctrl_c_mid_turn_marks_the_words_cut_off(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    hold = Hold()
    fake_claude.queue_turn(ANSWER, hold=hold)
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        await term.line("Users at Contoso cannot print to PRN-2")
        await term.expect(FIRST_WORDS)
        term.type(CTRL_C)
        await term.expect("(cut off)")
        await term.expect("Stopped. Claude's reply to this was not saved; /retry asks again.")
        hold.release()
        await term.line("/retry")
        assert "FlowPilot: " in await term.expect(CHOICES)  # Claude asked again: a whole answer
        await term.line("/quit")
        await term.expect("Bye.")


async def test_ctrl_c_during_a_draft_keeps_it_as_interrupted_and_retry_writes_it_again(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        await term.line("The VPN fails on LAP-7 at Contoso")
        await term.expect(CHOICES)
        hold = Hold()
        fake_claude.queue_turn(ISSUE_DRAFT, hold=hold)  # the draft stops short of its end
        await term.line("/resolve")
        await term.expect("Root cause")
        term.type(CTRL_C)
        await term.expect("Stopped the draft; it was not saved. /retry writes it again.")
        hold.release()
        row = await session_row(db)
        # Stored as interrupted: the session's unfinished turn is the stopped draft (nothing else kept).
        assert row.turn_in_flight == {"command": "DraftHandoff", "kind": "resolve", "stopped": True}
        assert row.lease_owner is None
        async with db() as s:
            assert (await s.execute(sa.select(sa.func.count()).select_from(SessionHandoff))).scalar() == 0

        fake_claude.queue_turn(ISSUE_DRAFT)
        await term.line("/retry")
        shown = await term.expect("Confirm (c), edit (e) or discard (d)?")
        assert "certificate on LAP-7 had expired" in shown and "⚠" not in shown
        await term.line("c")
        await term.expect("Resolved. Ticket note for your PSA")
        await term.line("/quit")
        await term.expect("Bye.")
    row = await session_row(db)
    assert row.status == "resolved" and row.turn_in_flight is None
