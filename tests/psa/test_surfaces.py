"""Starting from a ticket in Teams (`ticket 12345`) and in the shell (`/ticket 12345`): the same core command,
the header filled from the ticket; "Ticket system is down" stays a problem for Claude."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.runtime import Runtime, psa_services
from adapters.teams.commands import parse_typed
from bot.settings import Settings
from fakes.anthropic import FakeAnthropic
from fakes.connector import FakeConnector, personal_message
from fakes.connector.defaults import DEFAULT_TENANT_ID
from fakes.psa.connectwise import FakeConnectWise
from storage.models import AISession
from tests.api.conftest import Api
from tests.conftest import app_settings, running_app
from tests.teams.conftest import connector, fast_timing, wait_for
from tests.teams.helpers import card_of, texts
from tests.test_shell import run_shell

from .harness import SECRET_KEY, TICKET, TICKET_SEED, running_with_jobs
from .kinds import NOTE_POST_PATH

__all__ = ["connector", "fast_timing"]  # the Teams suite's fixtures, for this module's tests

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


async def _connect(
    db: async_sessionmaker[AsyncSession], fake: FakeConnectWise, *, platform: str, team: str
) -> None:
    settings = Settings(_env_file=None, FLOWPILOT_SECRET_KEY=SECRET_KEY)  # type: ignore[call-arg]  # pydantic-settings' init keyword
    await psa_services(settings, db)[0].add(
        platform=platform,
        workspace_id=team,
        kind="connectwise",
        settings={"url": fake.url, "company": fake.company, "public_key": fake.public_key,
                  "client_id": fake.client_id},
        secret=fake.private_key,
    )  # fmt: skip


async def _sessions(db: async_sessionmaker[AsyncSession]) -> list[AISession]:
    async with db() as s:
        return list((await s.execute(sa.select(AISession).order_by(AISession.created_at))).scalars())


@pytest.mark.parametrize(
    ("text", "ticket"),
    [("ticket 12345", "12345"), ("ticket #T20250303.0042 printer jammed", "#T20250303.0042 printer jammed"),
     ("Ticket system is down for everyone", None), ("ticket", None)],
)  # fmt: skip
def test_teams_reads_ticket_only_with_a_number(text: str, ticket: str | None) -> None:
    typed = parse_typed(text)
    assert (typed.rest if typed is not None and typed.word == "ticket" else None) == ticket


@pytest.fixture
async def teams_app(db_url: str, fake_claude: FakeAnthropic) -> AsyncIterator[tuple[str, Runtime]]:
    settings = app_settings(
        db_url, fake_claude, FLOWPILOT_TEAMS_ANONYMOUS=True, FLOWPILOT_SECRET_KEY=SECRET_KEY
    )
    async with running_app(settings) as (url, runtime):
        yield url, runtime


async def test_teams_ticket_starts_a_session_from_the_ticket(
    teams_app: tuple[str, Runtime], connector: FakeConnector, connectwise_fake: FakeConnectWise
) -> None:
    url, runtime = teams_app
    connectwise_fake.add_ticket(TICKET_SEED)
    await _connect(runtime.db, connectwise_fake, platform="teams", team=DEFAULT_TENANT_ID)
    async with aiohttp.ClientSession() as http:
        for text in (f"ticket {TICKET} VPN error 809 again", "Ticket system is down for everyone"):
            # Each in a chat of its own: in one personal chat the second would be a reply to the first.
            activity = personal_message(
                text, service_url=connector.service_url, conversation_id=f"a:chat-{text[:6]}"
            )
            expected = len(await _sessions(runtime.db)) + 1
            async with http.post(f"{url}/api/messages", json=activity) as response:
                assert response.status in (200, 201, 202)
            await wait_for(functools.partial(_answered, runtime, expected), what=f"the session of {text!r}")
    from_ticket, plain = await _sessions(runtime.db)
    assert from_ticket.psa_ticket_id == str(TICKET) and from_ticket.client_name == "Contoso Ltd"
    assert from_ticket.asset_name == "CONTOSO-LT-042" and from_ticket.intake_type == "psa_ticket"
    assert plain.psa_ticket_id is None and plain.ticket_data is None


async def _answered(runtime: Runtime, sessions: int) -> bool:
    """`sessions` sessions exist and Claude has answered the newest one's first turn."""
    rows = await _sessions(runtime.db)
    return len(rows) == sessions and not rows[-1].awaiting_reply


@pytest.fixture
async def shell_connectwise(
    db: async_sessionmaker[AsyncSession], connectwise_fake: FakeConnectWise, monkeypatch: pytest.MonkeyPatch
) -> FakeConnectWise:
    """The fake ConnectWise, with its ticket, connected for the shell's account; the shell's environment
    (this one) has the secret key, and a short pause between retries of a note."""
    monkeypatch.setenv("FLOWPILOT_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("FLOWPILOT_PSA_RETRY_SECONDS", "0.05")
    connectwise_fake.add_ticket(TICKET_SEED)
    await _connect(db, connectwise_fake, platform="shell", team="local")
    return connectwise_fake


async def test_shell_ticket_starts_a_session_from_the_ticket(
    db_url: str,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeAnthropic,
    shell_connectwise: FakeConnectWise,
) -> None:
    out = await run_shell(db_url, fake_claude, [f"/ticket {TICKET} the user is remote", "/quit"])
    assert "FlowPilot:" in out, out
    (session,) = await _sessions(db)
    assert session.psa_ticket_id == str(TICKET) and session.client_name == "Contoso Ltd"
    missing = await run_shell(db_url, fake_claude, ["/ticket 99999", "/quit"])
    assert "#99999 was not found in ConnectWise" in missing
    assert len(await _sessions(db)) == 1


async def test_the_shell_posts_the_note_of_a_ticket_it_resolves_and_retry_posts_a_refused_one(
    db_url: str, fake_claude: FakeAnthropic, shell_connectwise: FakeConnectWise
) -> None:
    """No `flowpilot serve` runs: the shell's own job worker posts the note, and the shell waits to say so."""
    connectwise_fake = shell_connectwise
    out = await run_shell(
        db_url, fake_claude, [f"/ticket {TICKET} the user is remote", "/resolve", "c", "/quit"]
    )
    assert f"Posted to ConnectWise #{TICKET} ✓" in out, out
    assert len(flowpilot_notes(connectwise_fake, TICKET)) == 1

    # A second ticket whose note ConnectWise refuses: told with /retry, which posts it once it is accepted.
    other = TICKET + 1
    connectwise_fake.add_ticket(dataclasses.replace(TICKET_SEED, number=other))
    connectwise_fake.fail(NOTE_POST_PATH["connectwise"], 400, method="POST")
    out = await run_shell(
        db_url, fake_claude, [f"/ticket {other} printer offline", "/resolve", "c", "/retry", "/quit"]
    )
    assert f"Could not post the ticket note to ConnectWise #{other}" in out and "/retry" in out, out
    assert f"Posted to ConnectWise #{other} ✓" in out, out
    assert len(flowpilot_notes(connectwise_fake, other)) == 1
    assert len(flowpilot_notes(connectwise_fake, TICKET)) == 1


def flowpilot_notes(fake: FakeConnectWise, ticket: int) -> list[dict[str, Any]]:
    """The ticket's notes FlowPilot wrote (its marker ends each), not the ones the ticket came with."""
    return [n for n in fake.notes(ticket) if "[FlowPilot " in n["text"]]


async def test_teams_is_told_in_the_chat_when_the_note_is_posted(
    db_url: str, fake_claude: FakeAnthropic, connector: FakeConnector, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(TICKET_SEED)
    settings = app_settings(
        db_url,
        fake_claude,
        FLOWPILOT_TEAMS_ANONYMOUS=True,
        FLOWPILOT_SECRET_KEY=SECRET_KEY,
        FLOWPILOT_API_TOKENS=f"tok@teams:{DEFAULT_TENANT_ID}",
    )
    async with running_with_jobs(settings) as (url, runtime), aiohttp.ClientSession() as http:
        await _connect(runtime.db, connectwise_fake, platform="teams", team=DEFAULT_TENANT_ID)
        chat = "a:chat-writeback"
        activity = personal_message(
            f"ticket {TICKET}", service_url=connector.service_url, conversation_id=chat
        )
        async with http.post(f"{url}/api/messages", json=activity) as response:
            assert response.status in (200, 201, 202)
        await wait_for(functools.partial(_answered, runtime, 1), what="the session from the ticket")
        (session,) = await _sessions(runtime.db)
        # Resolved through the REST API (the same core command a Teams card's Confirm sends).
        api = Api(url, http, runtime, fake_claude, token="tok")
        assert (await api.draft(str(session.id)))[-1][0] == "done"
        await api.call("POST", f"/api/ai-sessions/{session.id}/resolve", {}, expect=200)

        def told() -> list[str]:
            shown = [texts(card_of(a)) for a in connector.activities(chat) if a.attachments]
            return [t for t in shown if "Posted to ConnectWise" in t]

        (line,) = await wait_for(told, what="the chat told of the posted note")
        assert f"#{TICKET} ✓" in line
