"""A flow guides a `flowpilot shell` session in a real pseudo-terminal: /flows lists the workspace's flows,
/flow SLUG starts on one, numbered choices answer it with no Claude call, the header shows where it stands,
and /leave hands the session to Claude."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.flows.library import FlowLibrary
from fakes.anthropic import FakeAnthropic
from tests.test_shell_terminal import shell_in_terminal

from .outlook import load


async def test_a_flow_in_the_shell_answers_choices_without_claude_and_leaves_to_claude(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    await load(FlowLibrary(db))
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        await term.line("/flows")
        listed = await term.expect("m365-outlook-password-loop  Outlook keeps prompting for password")
        assert "m365-account-locked  Microsoft 365 account locked" in listed
        await term.line("/flow m365-outlook-password-loop Dana's Outlook asks for her password")
        shown = await term.expect("Flow: Outlook keeps prompting for password · step 1")
        assert "Does Outlook on the web work?" in shown and "[1] Yes" in shown and "[2] No" in shown
        await term.line("1")
        shown = await term.expect("OWA works")  # the answer's evidence, in the header
        assert "Clear MicrosoftOffice16 entries in Credential Manager" in shown
        assert "Flow: Outlook keeps prompting for password · step 2" in shown
        assert fake_claude.requests == []  # the flow answered, not Claude
        await term.line("/leave")
        await term.expect("FlowPilot:")
        assert len(fake_claude.requests) == 1
        assert "Does Outlook on the web work? → Yes" in str(fake_claude.last_request.body)
        await term.line("/flow no-such-flow")
        assert "There is no flow 'no-such-flow'" in await term.expect("flows` lists")
        await term.line("/quit")
        await term.expect("Bye.")
