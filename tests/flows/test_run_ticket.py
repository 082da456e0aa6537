"""A REST session started from a PSA ticket is matched on the ticket: its title and description find the
flows offered to Claude with no typed text at all, its company decides which client-limited flows are
offered, and the PSA is asked for the ticket once for both the matching and the session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import pytest

from bot.flows.starter import stock
from fakes.anthropic import FakeAnthropic
from fakes.psa.base import SeedTicket
from fakes.psa.connectwise import FakeConnectWise
from tests.api.conftest import TOKENS, Api
from tests.conftest import app_settings, running_app
from tests.psa.harness import SECRET_KEY

from .helpers import flow

OUTLOOK = "m365-outlook-password-prompts"  # the starter flow (flows/m365-outlook-password-prompts.yaml)
CONTOSO_ONLY = "contoso-citrix-receiver"
OUTLOOK_TICKET = SeedTicket(
    number=12345,
    title="Outlook keeps asking for the password",
    description="Since this morning Outlook prompts Dana for her password again and again.",
)


def _citrix_ticket(number: int, company: str) -> SeedTicket:
    return SeedTicket(
        number=number,
        title="Citrix Receiver will not launch the ERP app",
        description="Citrix Receiver shows a blank window when the ERP app is started.",
        company=company,
    )


@pytest.fixture
async def connectwise_fake() -> AsyncIterator[FakeConnectWise]:
    async with FakeConnectWise() as fake:
        yield cast(FakeConnectWise, fake)


@pytest.fixture
async def api(
    db_url: str, fake_claude: FakeAnthropic, connectwise_fake: FakeConnectWise
) -> AsyncIterator[Api]:
    settings = app_settings(db_url, fake_claude, FLOWPILOT_API_TOKENS=TOKENS, FLOWPILOT_SECRET_KEY=SECRET_KEY)
    async with running_app(settings) as (base, runtime), aiohttp.ClientSession() as http:
        await stock(runtime.flows)
        api = Api(base, http, runtime, fake_claude)
        fake = connectwise_fake
        connection = {
            "kind": "connectwise",
            "url": fake.url,
            "company": fake.company,
            "public_key": fake.public_key,
            "client_id": fake.client_id,
            "secret": fake.private_key,
        }
        await api.call("POST", "/api/psa-connections", connection, expect=201)
        yield api


def _offered(body: dict[str, Any]) -> list[str]:
    """The flow ids a request to Claude offered as its constrained choice ([] when it offered none)."""
    for tool in body.get("tools") or []:
        choice = tool["input_schema"]["properties"].get("choice")
        if choice is not None:
            return list(choice["enum"])
    return []


def _ticket_reads(fake: FakeConnectWise, number: int) -> int:
    return sum(r.path.endswith(f"/service/tickets/{number}") for r in fake.calls("GET"))


async def test_a_ticket_with_no_typed_text_is_matched_on_its_title_and_the_flow_guides(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    connectwise_fake.add_ticket(OUTLOOK_TICKET)
    api.fake.queue_choice(OUTLOOK, 0.93)
    started = await api.start("", psa_ticket_id="12345")

    (first,) = api.fake.requests  # the first turn: Claude chose among the ticket's candidates
    offered = _offered(first.body)
    assert OUTLOOK in offered and offered[-1] == "none"
    session = started["session"]
    assert session["confidence_tier"] == "guided"
    assert session["flow"]["line"] == "Flow: Outlook keeps prompting for password · step 1"
    assert started["turn"]["questions"][0]["options"]  # the flow's first question, with its buttons
    # The one snapshot served the matching and the session: the PSA was asked for the ticket once.
    assert _ticket_reads(connectwise_fake, 12345) == 1


async def test_a_flow_for_one_client_is_offered_on_its_tickets_only(
    api: Api, connectwise_fake: FakeConnectWise
) -> None:
    citrix = flow(
        CONTOSO_ONLY,
        "Citrix Receiver does not launch apps",
        keywords=("citrix", "receiver", "erp"),
        triggers=("Citrix Receiver will not launch an app",),
        clients=("Contoso",),
    )
    await api.runtime.flows.save(citrix, source=CONTOSO_ONLY)
    connectwise_fake.add_ticket(_citrix_ticket(2001, "Contoso"))
    connectwise_fake.add_ticket(_citrix_ticket(2002, "Fabrikam"))

    api.fake.queue_choice("none", 0.9)
    contoso = await api.start("", psa_ticket_id="2001")
    assert contoso["session"]["client_name"] == "Contoso"
    assert CONTOSO_ONLY in _offered(api.fake.last_request.body)

    before = len(api.fake.requests)
    fabrikam = await api.start("", psa_ticket_id="2002")
    assert fabrikam["session"]["client_name"] == "Fabrikam"
    assert len(api.fake.requests) == before + 1
    assert CONTOSO_ONLY not in _offered(api.fake.last_request.body)
    assert fabrikam["session"]["flow"] is None
    assert (_ticket_reads(connectwise_fake, 2001), _ticket_reads(connectwise_fake, 2002)) == (1, 1)
