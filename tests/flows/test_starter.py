"""The starter library: every file in flows/ validates (so CI validates the library), is written the way the
format asks (evidence, exact commands, a hand-over where the known path ends), jumps only to flows that
exist, is stocked at start once per content, and finds the right flow for everyday intakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.runtime import open_runtime
from bot.flows.library import FlowLibrary
from bot.flows.model import ActionNode, AiNode, EscalateNode, Flow, GotoFlowNode, QuestionNode
from bot.flows.schema import json_schema_text
from bot.flows.starter import starter_files, stock
from bot.flows.validate import validate
from fakes.anthropic import FakeAnthropic
from tests.conftest import app_settings

SCHEMA_FILE = Path(__file__).parents[2] / "flows" / "schema.json"


def _library() -> dict[str, Flow]:
    flows: dict[str, Flow] = {}
    for name, text in starter_files():
        checked = validate(text, file=name)
        assert checked.faults == (), [str(f) for f in checked.faults]
        assert checked.flow is not None
        flows[checked.flow.id] = checked.flow
    return flows


def test_every_starter_flow_validates_and_there_are_at_least_15() -> None:
    assert len(_library()) >= 15


def test_starter_flows_carry_evidence_commands_and_a_hand_over() -> None:
    flows = _library()
    for slug, flow in flows.items():
        nodes = list(flow.nodes.values())
        options = [o for n in nodes if isinstance(n, QuestionNode) for o in n.options]
        assert any(o.evidence for o in options), f"{slug}: no answer records evidence"
        assert any(isinstance(n, ActionNode) and n.command for n in nodes), f"{slug}: no exact command"
        assert any(isinstance(n, AiNode | EscalateNode) for n in nodes), f"{slug}: no ai or escalate node"
        for node in nodes:
            if isinstance(node, GotoFlowNode):
                assert node.flow in flows, f"{slug}: goto_flow {node.flow!r} is not in the library"


def test_the_json_schema_in_the_repo_is_current() -> None:
    assert SCHEMA_FILE.read_text() == json_schema_text(), (
        "flows/schema.json is stale: regenerate it with "
        "python -c 'from bot.flows.schema import json_schema_text as s; print(s(), end=\"\")' > flows/schema.json"
    )


async def test_stocking_is_once_per_content_and_keeps_an_engineers_edit(
    db: async_sessionmaker[AsyncSession],
) -> None:
    library = FlowLibrary(db)
    first = await stock(library)
    assert len(first) == len(starter_files())
    assert await stock(library) == []  # the second start stores nothing

    # An engineer improves a starter flow; the next start must not put the shipped one back.
    edited = _library()["network-wifi"].model_copy(update={"title": "Wi-Fi problems at Contoso"})
    await library.save(edited, source="edited", origin="cli")
    assert await stock(library) == []
    stored = await library.get(account_id=None, slug_or_id="network-wifi")
    assert (stored.ref.title, stored.ref.version) == ("Wi-Fi problems at Contoso", 2)


async def test_serve_stocks_the_library_at_start(db_url: str, fake_claude: FakeAnthropic) -> None:
    async with open_runtime(app_settings(db_url, fake_claude), migrate=True, listen=False) as runtime:
        account = await runtime.flows.account_id(platform="slack", workspace_id="T-ACME", create=True)
        assert account is not None
        slugs = {ref.slug for ref in await runtime.flows.visible(account_id=account)}
    assert slugs == set(_library())


@pytest.mark.parametrize(
    ("intake", "expected"),
    [
        ("outlook asks for password again and again", "m365-outlook-password-prompts"),
        ("outlok pasword promt", "m365-outlook-password-prompts"),
        ("user locked out of their account after password change", "account-locked-out"),
        ("authenticator app not showing approval on new phone", "m365-mfa-authenticator"),
        ("vpn keeps dropping every 10 minutes when working from home", "network-vpn-drops"),
        ("jobs stuck in print queue, printer shows offline", "print-printer-offline"),
        ("S drive missing after login", "files-mapped-drive-missing"),
        ("onedrive not syncing, red x on files", "m365-onedrive-sync"),
        ("nobody can hear me in teams meetings, microphone", "m365-teams-audio-video"),
        ("C drive full, no space left", "windows-disk-full"),
        ("word says unlicensed product", "m365-licensing"),
        ("cannot send as the shared mailbox", "m365-shared-mailbox-access"),
    ],
)
async def test_everyday_intakes_find_their_starter_flow(
    db: async_sessionmaker[AsyncSession], intake: str, expected: str
) -> None:
    library = FlowLibrary(db)
    await stock(library)
    account = await library.account_id(platform="slack", workspace_id="T-ACME", create=True)
    assert account is not None
    found = await library.candidates(account_id=account, text=intake, client_name=None)
    assert found and found[0].ref.slug == expected, [(c.ref.slug, c.score) for c in found]
