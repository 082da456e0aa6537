"""`flowpilot shell` in a pseudo-terminal: /status shows the open questions as numbered choices that work;
--session and /takeover show the escalation package after a hand-over."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakes.anthropic import FakeAnthropic
from storage.models import AISession
from tests.test_shell_terminal import shell_in_terminal

CHOICES = "(type a number to choose"


async def test_status_shows_the_open_choices_and_takeover_the_package(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    async with shell_in_terminal(db_url, fake_claude, tmp_path / "alice") as term:
        await term.line("DNS fails for the intranet at Tailspin")
        await term.expect(CHOICES)
        await term.line("/status")
        shown = await term.expect(CHOICES)
        assert "┌─ DNS fails for the intranet at Tailspin" in shown
        assert "? What does nslookup return for the failing name?" in shown and "[1] Right IP" in shown
        await term.line("1")  # the choice /status showed answers the question
        await term.expect("answered “What does nslookup return for the failing name?”: Right IP")
        await term.line("/escalate bob needs a domain admin")
        await term.expect("Confirm (c), edit (e) or discard (d)?")
        await term.line("c")
        await term.expect("Escalated to bob")
        await term.line("/quit")
        await term.expect("Bye.")

    async with db() as s:
        session_id = (await s.execute(sa.select(AISession.id))).scalar_one()
    async with shell_in_terminal(
        db_url, fake_claude, tmp_path / "bob", "--session", str(session_id), user="bob"
    ) as term:
        # --session shows the hand-over's package (escalating closed the questions: there are none to offer).
        await term.expect("── Escalation package ──")
        await term.line("/takeover")
        await term.expect("bob took over this session")
        shown = await term.expect("you> ")
        assert "── Escalation package ──" in shown and "needs a domain admin" in shown
        assert "FlowPilot: You said" in shown and CHOICES not in shown
        term.type("Both clients use the router for DNS\r")  # at the prompt just shown
        await term.expect(CHOICES)  # Claude answers bob, with choices to pick
        await term.line("/status")
        assert "[1]" in await term.expect(CHOICES)
        await term.line("/quit")
        await term.expect("Bye.")
