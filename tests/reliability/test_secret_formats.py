"""Secrets an engineer pastes, end to end (issue 12, item 4): the whole catalogue of tests/reliability/
secret_catalogue.py pasted into `flowpilot serve` over its REST API, as the problem text and as an attached
file, reaches neither Claude, nor the database (steps, intake, title), nor the REST answers unmasked."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.harness import Server, flowpilot
from bot.redaction import redact
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from storage.models import AISession, AISessionStep
from tests.reliability.conftest import serve_env
from tests.reliability.secret_catalogue import CATALOGUE, table

TOKEN = "tok-secret-formats"
PASTE = "\n".join(sample.text for sample in CATALOGUE)
# Secrets long enough that finding one anywhere is a leak, not a coincidence with the prompt's own words.
SECRETS = sorted({s for sample in CATALOGUE for s in sample.secrets if len(s) >= 6 and not s.isalpha()})


def _leaks(haystack: str) -> list[str]:
    """The secrets found in `haystack`, as pasted or as JSON writes them (`\\"`, `\\\\`)."""
    return [s for s in SECRETS if s in haystack or json.dumps(s, ensure_ascii=False)[1:-1] in haystack]


@pytest.fixture
async def rest(
    db_url: str,
    fake_claude: FakeAnthropic,
    fake_slack: FakeSlack,
) -> AsyncIterator[Server]:
    """`flowpilot serve` in a subprocess with a REST token, on this test's database and fakes."""
    env = {**serve_env(db_url, fake_claude, fake_slack), "FLOWPILOT_API_TOKENS": f"{TOKEN}@slack:T-ACME"}
    server = flowpilot(env, name="secret-formats")
    await server.start(ready_path="/readyz", timeout=60)
    try:
        yield server
    finally:
        await server.stop()
        if server.log:
            server.log.unlink(missing_ok=True)


async def _call(http: aiohttp.ClientSession, server: Server, method: str, path: str, body: Any = None) -> str:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-FlowPilot-User": "U-ALICE"}
    async with http.request(method, f"{server.url}{path}", json=body, headers=headers) as response:
        text = await response.text()
        assert response.status in (200, 201), (response.status, text[:2000])
        return text


async def _stored(db: async_sessionmaker[AsyncSession]) -> str:
    async with db() as s:
        steps = (await s.execute(sa.select(AISessionStep.content))).scalars().all()
        sessions = (await s.execute(sa.select(AISession.intake_content, AISession.title))).all()
    return "\n".join(
        [
            *map(str, steps),
            *(
                json.dumps(intake, ensure_ascii=False, default=str) + f"\n{title}"
                for intake, title in sessions
            ),
        ]
    )


def test_the_paste_holds_every_secret_of_the_catalogue() -> None:
    assert len(SECRETS) >= 240
    assert all(secret in PASTE for secret in SECRETS)


async def test_the_catalogue_pasted_over_rest_reaches_no_one_unmasked(
    rest: Server, fake_claude: FakeAnthropic, db: async_sessionmaker[AsyncSession]
) -> None:
    attachment = {
        "filename": "running-config.txt",
        "media_type": "text/plain",
        "content_base64": base64.b64encode(PASTE.encode()).decode(),
    }
    async with aiohttp.ClientSession() as http:
        started = await _call(http, rest, "POST", "/api/ai-sessions", {"text": PASTE})
        session_id = json.loads(started)["session"]["id"]
        added = await _call(
            http,
            rest,
            "POST",
            f"/api/ai-sessions/{session_id}/messages",
            {"text": "and the config:", "attachments": [attachment]},
        )
        detail = await _call(http, rest, "GET", f"/api/ai-sessions/{session_id}")

    assert len(fake_claude.requests) == 2
    first, second = (json.dumps(r.body, ensure_ascii=False) for r in fake_claude.requests)
    assert _leaks(first + second) == []
    assert _leaks(await _stored(db)) == []
    assert _leaks(started + added + detail) == []
    # The paste did reach Claude whole, masked: a mark for every secret, and the words around them.
    marks = sum(len(sample.secrets) for sample in CATALOGUE)
    assert first.count("[REDACTED:") >= marks
    assert second.count("[REDACTED:") >= 2 * marks
    assert "snmp-server community [REDACTED:" in first and "Cookie: ESTSAUTHPERSISTENT=[REDACTED:" in second
    assert json.loads(detail)["title"].startswith("username admin privilege 15 password 0 [REDACTED:")


def test_the_readme_table_is_the_catalogues() -> None:
    readme = (Path(__file__).parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Secrets an engineer pastes", 1)[1]
    shown = {
        cells[0]: (cells[1], cells[3], cells[4])
        for row in section.splitlines()
        if row.startswith("| ") and not row.startswith("| family")
        for cells in [[c.strip().strip("*") for c in row.strip("|").split("|")]]
    }
    computed = {
        cells[0]: (cells[1], cells[3], cells[4])
        for row in table(redact).splitlines()
        if row.startswith("| ") and not row.startswith("| family")
        for cells in [[c.strip().strip("*") for c in row.strip("|").split("|")]]
    }
    assert shown == computed
