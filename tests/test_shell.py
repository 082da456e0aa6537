"""`flowpilot shell` driven as a person would: typed lines in, the terminal's text out."""

from __future__ import annotations

import asyncio
import os
import sys

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakes.anthropic import FakeAnthropic
from storage.models import AISession, AISessionStep, SessionHandoff, SessionResolutionOutput
from tests.structured_draft import ISSUE_DRAFT, filed_note


async def run_shell(
    db_url: str, fake_claude: FakeAnthropic, lines: list[str], *args: str, user: str = "alice"
) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "SLACK"))}
    env.update(
        {
            "DATABASE_URL": db_url,
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": fake_claude.base_url,
            "FLOWPILOT_MODEL": "claude-test",
            "FLOWPILOT_SHELL_USER": user,
        }
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "shell", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(("\n".join(lines) + "\n").encode()), 120)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


async def test_shell_session_from_problem_to_confirmed_resolution(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    out = await run_shell(
        db_url,
        fake_claude,
        [
            "Outlook keeps asking for the password at Contoso on LAPTOP-042",
            "1",  # first option of the first question
            "4",  # first option of the second question (the first had three options)
            "/triage client_name=Contoso Ltd hypothesis=Stale token in Credential Manager",
            "/paste",
            "2026-11-24 09:00:01 INFO MSAL acquiring token",
            "2026-11-24 09:00:02 ERROR AADSTS50076 MFA required password=Winter2026!",
            ".",
            "/evidence 1 confirmed",
            "/resolve",
            "c",
            "5",
            "/quit",
        ],
    )
    assert "FlowPilot:" in out and "[1]" in out, out
    assert "alice answered" in out
    assert "## Root cause" in out and "Confirm (c), edit (e) or discard (d)?" in out
    assert "Resolved. Ticket note for your PSA" in out
    assert "Thanks for rating this session 5/5." in out
    assert "Winter2026!" not in out

    async with db() as s:
        session = (await s.execute(sa.select(AISession))).scalar_one()
        assert session.status == "resolved" and session.session_rating == 5
        assert session.client_name == "Contoso Ltd"
        assert session.triage_hypothesis == "Stale token in Credential Manager"
        assert session.evidence_items is not None
        assert session.evidence_items[0]["status"] == "confirmed"
        steps = (await s.execute(sa.select(AISessionStep).order_by(AISessionStep.step_order))).scalars().all()
        assert any("AADSTS50076" in st.content for st in steps)
        assert not any("Winter2026!" in st.content for st in steps)
        handoff = (await s.execute(sa.select(SessionHandoff))).scalar_one()
        assert handoff.status == "confirmed"
        formats = (await s.execute(sa.select(SessionResolutionOutput.format))).scalars().all()
        assert sorted(formats) == ["json", "markdown", "plain"]


async def test_a_session_is_picked_up_again_in_a_new_shell(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    await run_shell(db_url, fake_claude, ["The VPN drops every ten minutes at Northwind", "/pause", "/quit"])
    async with db() as s:
        session_id = (await s.execute(sa.select(AISession.id))).scalar_one()
    out = await run_shell(
        db_url,
        fake_claude,
        ["/list", "/resume", "still dropping after the update", "/quit"],
        "--session",
        str(session_id),
    )
    assert f"{session_id}  paused" in out, "the paused session is listed"
    assert "Session resumed." in out and "FlowPilot:" in out
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert row.status == "active"
        contents = (
            await s.execute(sa.select(AISessionStep.content).where(AISessionStep.session_id == session_id))
        ).scalars()
        assert "still dropping after the update" in list(contents)


async def test_escalate_to_a_colleague_who_takes_over(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    await run_shell(
        db_url,
        fake_claude,
        ["DNS fails for the intranet at Tailspin", "/escalate bob needs a domain admin", "c", "/quit"],
    )
    async with db() as s:
        session_id = (await s.execute(sa.select(AISession.id))).scalar_one()
    out = await run_shell(
        db_url, fake_claude, ["/takeover", "/quit"], "--session", str(session_id), user="bob"
    )
    assert "bob took over this session" in out
    # After the hand-over: the escalation package and Claude's last reply (--session showed them already).
    before, after = out.split("bob took over this session")
    assert "── Escalation package ──" in before and "── Escalation package ──" in after, out
    assert "needs a domain admin" in after and "FlowPilot:" in after
    async with db() as s:
        row = await s.get(AISession, session_id)
        assert row is not None
        assert row.status == "active" and row.handoff_count == 1


async def test_help_and_bad_session_id(db_url: str, fake_claude: FakeAnthropic) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "--help", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and b"serve" in out and b"shell" in out and b"migrate" in out
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        "shell",
        "--session",
        "not-a-uuid",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2 and b"not a session id" in err


async def test_a_draft_is_filed_by_field_and_the_note_shown_before_confirm_is_the_one_filed(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic
) -> None:
    await run_shell(db_url, fake_claude, ["The VPN on LAP-7 fails with a certificate error", "/quit"])
    async with db() as s:
        session_id = (await s.execute(sa.select(AISession.id))).scalar_one()
    fake_claude.queue_turn(ISSUE_DRAFT)
    out = await run_shell(db_url, fake_claude, ["/resolve", "c", "/quit"], "--session", str(session_id))
    stored_note = await filed_note(db)
    assert "Root cause:\nRoot cause: the VPN client certificate" in stored_note
    assert "Recommendations:\nRecommendations: monitor certificate expiry" in stored_note
    # The note is printed before the engineer is asked to confirm, and once after it.
    before, after = out.split("Confirm (c), edit (e) or discard (d)?", 1)
    assert "Ticket note, as Confirm will file it:\n\n" + stored_note in before
    assert "Ticket note for your PSA:\n\n" + stored_note in after


async def test_the_header_shows_the_category_and_confidence_in_words(
    db_url: str, fake_claude: FakeAnthropic
) -> None:
    fake_claude.queue_turn(
        {
            "message": "Let's look at the mailbox first.",
            "triage_update": {"issue_category": "m365", "hypothesis": "Stale token"},
            "confidence": 0.85,
        }
    )
    out = await run_shell(db_url, fake_claude, ["Outlook asks for the password at Contoso", "/quit"])
    assert "Category: Microsoft 365" in out and "Confidence: Guided · 85%" in out, out
    assert "m365" not in out
