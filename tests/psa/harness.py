"""A FlowPilot app with its job worker, Slack wired to the fake Slack and a PSA connection to a fake ConnectWise.

The connection is added the way `flowpilot psa add` and the REST API add one (the core's PsaConnections), with
the fake's real credentials; the ticket the tests start from is seeded on the fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet

from adapters.runtime import Runtime, open_runtime
from adapters.server import RUNNER_OPTIONS, build_app
from bot.psa_connections import ConnectionView
from bot.settings import Settings
from fakes.anthropic import FakeAnthropic
from fakes.psa.base import SeedTicket
from fakes.psa.connectwise import FakeConnectWise
from fakes.slack import FakeSlack
from tests.slack.conftest import SlackHarness, slack_settings

SECRET_KEY = Fernet.generate_key().decode()
TICKET = 12345
# A password in the ticket's description: it must never reach storage, Claude or a log unmasked.
TICKET_PASSWORD = "Tr0ub4dor&3xyzzy"
TICKET_SEED = SeedTicket(
    number=TICKET,
    title="Laptop cannot reach the VPN since this morning",
    description=f"User says VPN fails with error 809. Local admin password: {TICKET_PASSWORD}",
    company="Contoso Ltd",
    contact="Jane Doe",
    configurations=("CONTOSO-LT-042", "CONTOSO-DOCK-7"),
    notes=("Called the user, no answer.",),
)


def psa_settings(db_url: str, claude: FakeAnthropic, slack: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "FLOWPILOT_SECRET_KEY": SECRET_KEY,
        # A test's patience: retries in a fraction of a second, a dead worker's job picked up in seconds.
        "FLOWPILOT_PSA_RETRY_SECONDS": 0.05,
        "FLOWPILOT_PSA_TIMEOUT_SECONDS": 2,
        "FLOWPILOT_JOB_HEARTBEAT_SECONDS": 2,
    }
    values.update(overrides)
    settings: Settings = slack_settings(db_url, claude, slack, **values)
    return settings


@asynccontextmanager
async def running_with_jobs(settings: Settings) -> AsyncIterator[tuple[str, Runtime]]:
    """`flowpilot serve` in this process: the app on a free port, with the job worker running."""
    async with open_runtime(settings, migrate=False, jobs=True) as runtime:
        runner = web.AppRunner(build_app(runtime), **RUNNER_OPTIONS)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}", runtime
        finally:
            await runtime.handler.shutdown(5)
            await runner.cleanup()


async def connect_connectwise(
    runtime: Runtime, fake: FakeConnectWise, *, team: str, resolved_status: str | None = "Resolved"
) -> ConnectionView:
    return await runtime.psa.add(
        platform="slack",
        workspace_id=team,
        kind="connectwise",
        settings={
            "url": fake.url,
            "company": fake.company,
            "public_key": fake.public_key,
            "client_id": fake.client_id,
        },
        secret=fake.private_key,
        resolved_status=resolved_status,
    )


@asynccontextmanager
async def slack_with_psa(
    db_url: str, claude: FakeAnthropic, slack: FakeSlack, psa: FakeConnectWise, **overrides: Any
) -> AsyncIterator[SlackHarness]:
    """The Slack harness of tests/slack, with the job worker and the workspace connected to `psa`."""
    settings = psa_settings(db_url, claude, slack, **overrides)
    async with running_with_jobs(settings) as (url, runtime), aiohttp.ClientSession() as http:
        await connect_connectwise(runtime, psa, team=slack.team_id)
        yield SlackHarness(url, runtime, slack, claude, http)
