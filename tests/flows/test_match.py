"""Matching an intake to flows in PostgreSQL: any of the intake's words count (not all of them), misspellings
still find the flow, word order does not matter, a flow for another client is never offered, and a problem no
flow is about gets nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.flows.library import FlowLibrary

from .helpers import flow


@pytest.fixture
async def library(db: async_sessionmaker[AsyncSession]) -> FlowLibrary:
    library = FlowLibrary(db)
    for f in (
        flow(
            "outlook-password-prompts",
            "Outlook keeps prompting for password",
            triggers=("Outlook desktop repeatedly asks for the user's password",),
            keywords=("outlook", "password", "prompt", "credential"),
        ),
        flow(
            "printer-offline",
            "Printer offline or print queue stuck",
            triggers=("Jobs sit in the print queue and nothing prints",),
            keywords=("printer", "spooler", "queue", "offline"),
        ),
        flow(
            "vpn-drops",
            "VPN connection keeps dropping",
            triggers=("The VPN disconnects every few minutes",),
            keywords=("vpn", "tunnel", "disconnect"),
        ),
        flow(
            "acme-erp-login",
            "ERP login fails with password error",
            keywords=("erp", "login", "password"),
            clients=("ACME Corp",),
        ),
    ):
        await library.save(f, source="")
    return library


async def _acme(library: FlowLibrary) -> uuid.UUID:
    account = await library.account_id(platform="slack", workspace_id="T-ACME", create=True)
    assert account is not None
    return account


async def _best(library: FlowLibrary, text: str, client: str | None = None) -> list[tuple[str, float]]:
    found = await library.candidates(account_id=await _acme(library), text=text, client_name=client)
    return [(c.ref.slug, c.score) for c in found]


async def test_any_of_the_intake_words_count_not_all_of_them(library: FlowLibrary) -> None:
    found = await _best(library, "outlook asks for password again and again")
    assert found[0][0] == "outlook-password-prompts"
    assert found[0][1] >= 0.6


async def test_misspelt_words_still_find_the_flow(library: FlowLibrary) -> None:
    found = await _best(library, "outlok pasword promt")
    assert found[0][0] == "outlook-password-prompts"
    assert found[0][1] >= 0.5


async def test_word_order_does_not_change_the_score(library: FlowLibrary) -> None:
    one = await _best(library, "print queue stuck on the printer")
    other = await _best(library, "the printer is stuck, print queue")
    assert one[0][0] == "printer-offline"
    assert one == other


async def test_a_flow_for_another_client_is_not_offered(library: FlowLibrary) -> None:
    for_acme = [slug for slug, _ in await _best(library, "erp login password error", "acme corp")]
    for_globex = [slug for slug, _ in await _best(library, "erp login password error", "Globex")]
    unknown = [slug for slug, _ in await _best(library, "erp login password error")]
    assert for_acme[0] == "acme-erp-login"
    assert "acme-erp-login" not in for_globex
    assert "acme-erp-login" not in unknown


async def test_an_unrelated_problem_gets_nothing_or_little(library: FlowLibrary) -> None:
    assert await _best(library, "the coffee machine in the kitchen leaks water") == []
    weak = await _best(library, "new laptop for the CEO, needs a docking station and a password manager")
    assert all(score < 0.4 for _, score in weak)


async def test_hidden_flows_are_not_offered(library: FlowLibrary) -> None:
    acme = await _acme(library)
    assert [slug for slug, _ in await _best(library, "vpn keeps dropping")][:1] == ["vpn-drops"]
    await library.set_hidden(account_id=acme, slug_or_id="vpn-drops")
    assert "vpn-drops" not in [slug for slug, _ in await _best(library, "vpn keeps dropping")]
