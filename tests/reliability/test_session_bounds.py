"""What one session may grow to and take: a bounded evidence list inside Claude's budget, empty-looking input
refused, one draft at a time, a rating changed only on purpose, and no session made that nobody can answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot import messages as msg
from bot.commands import Actor, EditTriage, Rate
from bot.prompts import HISTORY_BUDGET_CHARS
from bot.triage import MAX_EVIDENCE
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from storage.models import AISession
from tests.api.conftest import TOKENS, Api, read_sse
from tests.conftest import app_settings, collect, running_app
from tests.slack.conftest import ALICE, SlackHarness, shown_text, slack_settings, started, wait_for

from .conftest import settle

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff \u200b"


async def test_the_evidence_list_is_bounded_and_the_session_can_always_take_its_next_turn(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    accepted = 0
    for call in range(60):
        items = [f"Observation {call}.{i}: " + "x" * 480 for i in range(5)]
        status, body = await api.call("PATCH", f"/api/ai-sessions/{sid}/triage", {"add_evidence": items})
        if status == 200:
            accepted += 1
            continue
        assert status == 422 and f"at most {MAX_EVIDENCE} evidence items" in body["error"]["message"]
    assert accepted == MAX_EVIDENCE // 5 - 1, (
        "Claude's first items and five calls fill it; the rest is refused"
    )
    _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert len(detail["evidence"]) <= MAX_EVIDENCE == detail["evidence_limit"]

    # Claude's own updates stay within the bound too, and the next turn goes through, inside the budget.
    api.fake.queue_turn(
        {
            "message": "Let's look at the mailbox.",
            "questions": [],
            "actions": [],
            "triage_update": {
                "evidence": [{"text": f"Claude saw {i}", "status": "pending"} for i in range(30)]
            },
            "problem_summary": "Outlook password prompts",
            "confidence": 0.5,
        }
    )
    await api.call("POST", f"/api/ai-sessions/{sid}/messages", {"text": "Still failing"}, expect=200)
    _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert len(detail["evidence"]) == MAX_EVIDENCE, "the engineer's items kept, Claude's cut to what fits"
    assert sum(1 for e in detail["evidence"] if e["manual"]) == MAX_EVIDENCE - 5
    status, body = await api.call("POST", f"/api/ai-sessions/{sid}/messages", {"text": "And now?"})
    assert status == 200 and body["turn"] is not None
    request = json.dumps(api.fake.requests[-1].body["messages"])
    assert len(request) < HISTORY_BUDGET_CHARS * 1.2, "everything sent to Claude counts against the budget"


async def test_input_made_of_zero_width_characters_is_empty(api: Api) -> None:
    status, body = await api.call("POST", "/api/ai-sessions", {"text": ZERO_WIDTH})
    assert status == 422 and "Describe the problem" in body["error"]["message"]
    calls = len(api.fake.requests)
    sid = (await api.start())["session"]["id"]
    status, body = await api.call("POST", f"/api/ai-sessions/{sid}/messages", {"text": ZERO_WIDTH})
    assert status == 422
    status, _ = await api.call("PATCH", f"/api/ai-sessions/{sid}/triage", {"add_evidence": [ZERO_WIDTH]})
    _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert not [e for e in detail["evidence"] if not e["text"].strip("\u200b\u200c\u200d\u2060\ufeff ")]
    assert len(api.fake.requests) == calls + 1, "only the real start reached Claude"


async def test_an_evidence_index_must_be_a_number_not_true(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    await api.call(
        "PATCH", f"/api/ai-sessions/{sid}/triage", {"add_evidence": ["Spooler restarted"]}, expect=200
    )
    status, body = await api.call(
        "PATCH",
        f"/api/ai-sessions/{sid}/triage",
        {"evidence_status": [{"index": True, "status": "ruled_out"}]},
    )
    assert status == 422 and "index" in json.dumps(body)
    _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert detail["evidence"][-1]["status"] == "pending", "nothing changed"


async def test_three_draft_requests_at_once_cost_one_claude_call(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    api.fake.latency = 0.5
    calls = len(api.fake.requests)

    async def draft() -> list[tuple[str, Any]]:
        async with api.http.post(
            f"{api.base}/api/ai-sessions/{sid}/handoff-draft", json={"kind": "resolve"}, headers=api.headers()
        ) as r:
            assert r.status == 200
            return await read_sse(r)

    results = await asyncio.gather(draft(), draft(), draft())
    done = [events[-1] for events in results]
    assert all(kind == "done" for kind, _ in done)
    assert len({data["handoff_id"] for _, data in done}) == 1, "all three show the one draft"
    assert len(api.fake.requests) == calls + 1


async def test_a_given_rating_changes_only_on_purpose(slack: SlackHarness) -> None:
    header, _ = await started(slack)
    await slack.click(header, "fp_resolve")
    controls = (await wait_for(lambda: slack.with_action("fp_confirm"), what="the draft"))[0]
    await slack.click(controls, "fp_confirm")
    prompt = (await wait_for(lambda: slack.with_action("fp_rate_4"), what="the rating prompt"))[0]
    await slack.click(prompt, "fp_rate_5")

    async def rating() -> int | None:
        session = await slack.session()
        return session.session_rating if session else None

    async def rated(value: int) -> bool:
        return await rating() == value

    await wait_for(lambda: rated(5), what="the rating")
    # The old rating message pressed again (a replay, a second device, a slip): the rating stays.
    await slack.click(prompt, "fp_rate_1")
    told = await wait_for(
        lambda: [
            e
            for e in slack.fake.ephemerals(slack.fake.general)
            if e["text"] == msg.ALREADY_RATED.format(rating=5)
        ],
        what="the refusal",
    )
    assert told[0]["user"] == ALICE
    assert await rating() == 5
    # Rated again on purpose (the REST API's rating call, a typed rating in the shell): it changes.
    api_actor = Actor(platform="slack", workspace_id=slack.team, user_id=ALICE, via="api")
    session = await slack.session()
    assert session is not None
    await collect(
        slack.runtime.handler.handle(Rate(actor=api_actor, session_id=session.id, rating=3, replace=True))
    )
    assert await rating() == 3


@pytest.fixture
async def keyless(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    settings = slack_settings(db_url, fake_claude, fake_slack, ANTHROPIC_API_KEY="")
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        yield SlackHarness(url, runtime, fake_slack, fake_claude, http)


async def test_without_a_claude_key_no_session_is_made_into_a_dead_end(keyless: SlackHarness) -> None:
    slack = keyless
    await slack.slash("Outlook keeps asking for the password", user=ALICE)
    told = await wait_for(
        lambda: [e for e in slack.fake.ephemerals(slack.fake.general) if "ANTHROPIC_API_KEY" in e["text"]],
        what="the private word that the administrator must set the key",
    )
    assert told[0]["user"] == ALICE and "administrator" in told[0]["text"]
    await settle()
    assert slack.fake.messages(slack.fake.general) == [], "nothing public, no header, no Retry"
    assert await slack.session() is None


async def test_the_rest_api_says_what_the_administrator_must_do_without_a_claude_key(
    db_url: str, fake_claude: FakeAnthropic
) -> None:
    settings = app_settings(db_url, fake_claude, FLOWPILOT_API_TOKENS=TOKENS, ANTHROPIC_API_KEY="")
    async with running_app(settings) as (base, runtime), aiohttp.ClientSession() as http:
        api = Api(base, http, runtime, fake_claude)
        status, body = await api.call("POST", "/api/ai-sessions", {"text": "Printer offline"})
        assert status == 503 and "ANTHROPIC_API_KEY" in body["error"]["message"]
        assert not body["error"]["retryable"]
        async with runtime.db() as db:
            assert await db.scalar(sa.select(sa.func.count()).select_from(AISession)) == 0


async def test_the_slack_header_says_when_its_evidence_list_is_full(slack: SlackHarness) -> None:
    header, _ = await started(slack)
    session = await slack.session()
    assert session is not None
    # Filled from elsewhere (the REST API of the same account): the header in the thread is redrawn.
    api_actor = Actor(platform="slack", workspace_id=slack.team, user_id=ALICE, via="api")
    room = MAX_EVIDENCE - len(session.evidence_items or [])
    await collect(
        slack.runtime.handler.handle(
            EditTriage(
                actor=api_actor,
                session_id=session.id,
                add_evidence=tuple(f"Checked item {i}" for i in range(room)),
            )
        )
    )
    await wait_for(
        lambda: (
            "the most a header keeps"
            in shown_text(slack.fake.message(slack.fake.general, header["ts"]) or {})
        ),
        what="the full evidence list named in the header",
    )
