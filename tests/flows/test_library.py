"""The flow library in PostgreSQL: versions are immutable and numbered, an unchanged import is not a new
version, an account sees its own flows and the shared ones it has not hidden or replaced, counters add up."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.errors import NotFound
from bot.flows.library import FlowLibrary
from bot.flows.model import ResolutionNode

from .helpers import flow


@pytest.fixture
def library(db: async_sessionmaker[AsyncSession]) -> FlowLibrary:
    return FlowLibrary(db)


async def _account(library: FlowLibrary, workspace: str) -> uuid.UUID:
    account = await library.account_id(platform="slack", workspace_id=workspace, create=True)
    assert account is not None
    return account


async def test_a_changed_flow_is_a_new_version_and_the_old_one_stays_readable(library: FlowLibrary) -> None:
    first = await library.save(flow("vpn-drops", "VPN drops"), source="v1")
    same = await library.save(flow("vpn-drops", "VPN drops"), source="v1 with another comment")
    second = await library.save(flow("vpn-drops", "VPN drops", root_cause="MTU"), source="v2")

    assert (first.changed, first.ref.version) == (True, 1)
    assert (same.changed, same.ref.version, same.ref.version_id) == (False, 1, first.ref.version_id)
    assert (second.changed, second.ref.version, second.ref.flow_id) == (True, 2, first.ref.flow_id)
    old_ref, old = await library.version(first.ref.version_id)
    assert old_ref.version == 1
    fixed = old.nodes["fixed"]
    assert isinstance(fixed, ResolutionNode) and fixed.root_cause == "Fixed"
    acme = await _account(library, "T-ACME")
    current = await library.current(account_id=acme, slug_or_id="vpn-drops")
    assert current is not None
    assert current[0].version_id == second.ref.version_id
    assert [v.version for v in await library.versions(account_id=acme, slug_or_id="vpn-drops")] == [2, 1]
    stored = await library.get(account_id=None, slug_or_id="vpn-drops")
    assert stored.source == "v2"


async def test_an_account_sees_its_own_flows_and_the_shared_ones_it_did_not_hide_or_replace(
    library: FlowLibrary,
) -> None:
    acme, other = await _account(library, "T-ACME"), await _account(library, "T-OTHER")
    await library.save(flow("printer-offline", "Printer offline"), source="shared")
    await library.save(flow("wifi", "Wi-Fi drops"), source="shared")
    own = await library.save(
        flow("printer-offline", "Printer offline at ACME"), source="acme", account_id=acme
    )
    await library.save(flow("acme-only", "ACME's ERP login"), source="acme", account_id=acme)
    await library.set_hidden(account_id=acme, slug_or_id="wifi")

    assert sorted(r.title for r in await library.visible(account_id=acme)) == [
        "ACME's ERP login",
        "Printer offline at ACME",
    ]
    assert sorted(r.title for r in await library.visible(account_id=other)) == [
        "Printer offline",
        "Wi-Fi drops",
    ]
    current = await library.current(account_id=acme, slug_or_id="printer-offline")
    assert current is not None and current[0].flow_id == own.ref.flow_id
    # Another account's flow is not there for them, by slug or by id.
    assert await library.current(account_id=other, slug_or_id="acme-only") is None
    assert await library.current(account_id=other, slug_or_id=str(own.ref.flow_id)) is None
    with pytest.raises(NotFound):
        await library.versions(account_id=other, slug_or_id=str(own.ref.flow_id))
    await library.set_hidden(account_id=acme, slug_or_id="wifi", hidden=False)
    assert "Wi-Fi drops" in [r.title for r in await library.visible(account_id=acme)]


async def test_counters_add_up_per_version(library: FlowLibrary) -> None:
    saved = await library.save(flow("disk-full", "Disk full"), source="x")
    version_id = saved.ref.version_id
    for event in ("started", "started", "started", "resolved", "escalated"):
        await library.count(version_id, event=event)
    await library.count(version_id, event="left", node="ask")
    await library.count(version_id, event="left", node="ask")
    await library.count(version_id, event="left", node="explore")

    [summary] = await library.summaries(account_id=None)
    counters = summary.counters
    assert (counters.started, counters.resolved, counters.escalated, counters.left) == (3, 1, 1, 3)
    assert dict(counters.left_at) == {"ask": 2, "explore": 1}
    # A new version starts from zero.
    await library.save(flow("disk-full", "Disk full", root_cause="Temp files"), source="y")
    [summary] = await library.summaries(account_id=None)
    assert summary.counters.started == 0


async def test_the_lexicon_counts_the_flows_holding_each_word(
    library: FlowLibrary, db: async_sessionmaker[AsyncSession]
) -> None:
    async def holders(word: str) -> int | None:
        async with db() as session:
            found = await session.execute(
                sa.text("SELECT flows FROM flow_lexicon WHERE lexeme = :w"), {"w": word}
            )
            return found.scalar_one_or_none()

    await library.save(flow("zebra-labels", "Zebra label printer", keywords=("zebra",)), source="1")
    await library.save(flow("zebra-drivers", "Zebra driver update", keywords=("zebra",)), source="1")
    assert await holders("zebra") == 2
    # A new version without the word lets it go; an unchanged import counts nothing twice.
    await library.save(flow("zebra-labels", "Label printer", keywords=("label",)), source="2")
    await library.save(flow("zebra-labels", "Label printer", keywords=("label",)), source="2")
    assert (await holders("zebra"), await holders("label")) == (1, 1)
