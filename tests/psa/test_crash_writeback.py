"""kill -9 of `flowpilot serve` (a real subprocess) right after the confirm, while its job worker is writing
back to the ticket, and a restart: the note the dead worker got through is found by its marker, never posted
twice, the status is set, and the thread is told it was posted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.runtime import psa_services
from bench.harness import flowpilot
from bot.settings import Settings
from fakes.anthropic import FakeAnthropic
from fakes.psa.connectwise import FakeConnectWise
from fakes.slack import FakeSlack
from storage.psa import PsaWriteback
from tests.reliability.conftest import Served, serve_env
from tests.slack.conftest import SlackHarness, fake_slack, shown_text, wait_for

from .harness import SECRET_KEY, TICKET, TICKET_PASSWORD, TICKET_SEED

__all__ = ["fake_slack"]  # the fixture, for this module's tests

HANG_SECONDS = 30.0  # how long the fake holds the status change: the window the process is killed in


class _DbOnly:
    """What SlackHarness needs of a runtime when the app runs in another process: the database."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db


@pytest.fixture
async def served_with_psa(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> AsyncIterator[Served]:
    env = serve_env(db_url, fake_claude, fake_slack) | {
        "FLOWPILOT_SECRET_KEY": SECRET_KEY,
        "FLOWPILOT_JOB_HEARTBEAT_SECONDS": "2",
        "FLOWPILOT_PSA_TIMEOUT_SECONDS": "60",
        "FLOWPILOT_PSA_RETRY_SECONDS": "0.1",
    }
    server = flowpilot(env, name="psa-crash")
    async with aiohttp.ClientSession() as http:
        harness = SlackHarness(server.url, _DbOnly(db), fake_slack, fake_claude, http)  # type: ignore[arg-type]  # only .db of a Runtime
        served = Served(server, harness, db)
        await served.start()
        try:
            yield served
        finally:
            await server.stop()
            if server.log:
                server.log.unlink(missing_ok=True)


async def _connect(served: Served, fake: FakeConnectWise, team: str) -> None:
    """As `flowpilot psa add connectwise` does it, on the served process's database."""
    settings = Settings(_env_file=None, FLOWPILOT_SECRET_KEY=SECRET_KEY)  # type: ignore[call-arg]  # pydantic-settings' init keyword
    await psa_services(settings, served.db)[0].add(
        platform="slack",
        workspace_id=team,
        kind="connectwise",
        settings={"url": fake.url, "company": fake.company, "public_key": fake.public_key,
                  "client_id": fake.client_id},
        secret=fake.private_key,
        resolved_status="Resolved",
    )  # fmt: skip


async def _writeback(served: Served) -> PsaWriteback:
    async with served.db() as db:
        return (await db.execute(sa.select(PsaWriteback))).scalar_one()


async def test_kill_9_mid_write_back_then_restart_still_makes_exactly_one_note(
    served_with_psa: Served, connectwise_fake: FakeConnectWise, fake_slack: FakeSlack
) -> None:
    served, slack = served_with_psa, served_with_psa.slack
    connectwise_fake.add_ticket(TICKET_SEED)
    await _connect(served, connectwise_fake, fake_slack.team_id)

    await slack.slash(f"ticket {TICKET} VPN error 809")
    turn = (await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the first reply"))[0]
    header = slack.fake.message(slack.fake.general, turn["thread_ts"]) or {}
    await slack.click(header, "fp_resolve")
    controls = (await wait_for(lambda: slack.with_action("fp_confirm"), what="draft controls"))[0]
    # The note goes through, then the status change hangs: the process dies between the PSA taking the
    # note and FlowPilot recording that it did (the window the marker is for).
    connectwise_fake.delay(f"/tickets/{TICKET}", HANG_SECONDS, method="PATCH")
    await slack.click(controls, "fp_confirm")
    await wait_for(
        lambda: connectwise_fake.calls("PATCH", f"/tickets/{TICKET}"), timeout=30, what="the PATCH"
    )
    assert len(_flowpilot_notes(connectwise_fake)) == 1
    await served.kill()
    wb = await _writeback(served)
    assert wb.state == "pending" and wb.attempts == 1, "FlowPilot never heard the note went through"

    await served.start()
    posted = await wait_for(
        lambda: [
            m for m in slack.fake.messages(slack.fake.general) if "Posted to ConnectWise" in shown_text(m)
        ],
        timeout=30,
        what="the restarted worker's announcement",
    )
    assert f"#{TICKET} ✓" in shown_text(posted[0])
    assert len(_flowpilot_notes(connectwise_fake)) == 1, "found by its marker, not posted again"
    assert len(connectwise_fake.calls("POST", "/notes")) == 1
    assert connectwise_fake.status_of(TICKET) == "Resolved"
    wb = await _writeback(served)
    assert wb.state == "posted" and wb.attempts == 2
    # Neither the ticket's password nor the connection's private key reached the processes' log.
    assert TICKET_PASSWORD not in served.log() and connectwise_fake.private_key not in served.log()


def _flowpilot_notes(psa: FakeConnectWise) -> list[object]:
    return [n for n in psa.notes(TICKET) if "[FlowPilot " in n["text"]]
