"""A flow guides a REST session: button answers advance it with no Claude call, its answers' evidence lands
in the header, and each way out (the Leave button, an ai node, words that fit no answer) hands over to Claude
with the walked path; a resolution node opens the draft with its root cause; goto_flow jumps; matching at
intake picks a flow (guided) or none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from fakes.anthropic import FakeAnthropic
from tests.api.conftest import TOKENS, Api
from tests.conftest import app_settings, running_app

from .outlook import load

SLUG = "m365-outlook-password-loop"


@pytest.fixture
async def api(db_url: str, fake_claude: FakeAnthropic) -> AsyncIterator[Api]:
    settings = app_settings(db_url, fake_claude, FLOWPILOT_API_TOKENS=TOKENS)
    async with running_app(settings) as (base, runtime), aiohttp.ClientSession() as http:
        await load(runtime.flows)
        yield Api(base, http, runtime, fake_claude)


async def _send(api: Api, sid: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    _, data = await api.call("POST", f"/api/ai-sessions/{sid}/messages", body, expect=expect)
    result: dict[str, Any] = data
    return result


def _answer(turn: dict[str, Any], label: str) -> dict[str, Any]:
    (question,) = turn["questions"]
    assert label in question["options"]
    return {"answer": {"question_id": question["id"], "answer": label}}


def _mark(turn: dict[str, Any], outcome: str) -> dict[str, Any]:
    (action,) = turn["actions"]
    return {"action": {"action_id": action["id"], "outcome": outcome}}


def _evidence(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["text"], e["status"]) for e in result["session"]["evidence"]]


def _flow_text(api: Api) -> str:
    """Everything the fake Anthropic was last asked, as one text."""
    return str(api.fake.last_request.body)


async def test_button_answers_follow_the_flow_without_claude_and_a_resolution_opens_the_draft(
    api: Api,
) -> None:
    started = await api.start("Outlook keeps asking Dana for her password", flow=SLUG)
    sid, turn = started["session"]["id"], started["turn"]
    assert api.fake.requests == []  # the flow asked the first question, not Claude
    assert turn["questions"][0]["text"] == "Does Outlook on the web work?"
    assert turn["questions"][0]["options"] == ["Yes", "No"]
    assert started["session"]["flow"]["line"] == "Flow: Outlook keeps prompting for password · step 1"
    assert started["session"]["confidence_tier"] == "guided"

    after = await _send(api, sid, _answer(turn, "Yes"))
    assert api.fake.requests == []
    assert after["session"]["flow"]["step"] == 2
    assert ("OWA works", "confirmed") in _evidence(after)
    (action,) = after["turn"]["actions"]
    assert "Credential Manager" in action["text"] and "cmdkey /list" in action["text"]

    # The same answer again is refused: the question is closed.
    status, _ = await api.call("POST", f"/api/ai-sessions/{sid}/messages", _answer(turn, "Yes"))
    assert status in (409, 422)

    done = await _send(api, sid, _mark(after["turn"], "done"))
    # The only Claude call of the session is the resolution draft, told the flow's root cause.
    assert len(api.fake.requests) == 1
    assert "Stale cached Office credentials" in _flow_text(api)
    assert done["session"]["flow"] is None
    (draft,) = [h for h in done["session"]["handoffs"] if h["status"] == "draft"]
    assert draft["kind"] == "resolve"
    counters = await api.runtime.flows.summaries(account_id=None)
    outlook = next(s for s in counters if s.ref.slug == SLUG)
    assert (outlook.counters.started, outlook.counters.resolved) == (1, 1)

    # Once the session went on past the flow, a new draft is written from what happened since.
    await _send(api, sid, {"text": "The prompts came back after an hour"})
    await api.draft(sid)
    assert "Stale cached Office credentials" not in _flow_text(api)


async def test_the_leave_button_keeps_the_answers_as_evidence_and_hands_over_to_claude(api: Api) -> None:
    started = await api.start("Outlook password prompts", flow=SLUG)
    sid = started["session"]["id"]
    after = await _send(api, sid, _answer(started["turn"], "No"))
    assert api.fake.requests == []

    left = await _send(api, sid, {"leave_flow": True})
    assert len(api.fake.requests) == 1
    told = _flow_text(api)
    assert "Does Outlook on the web work? → No" in told  # the walked path went to Claude
    assert left["session"]["flow"] is None
    assert any(e["text"] == "Does Outlook on the web work? → No" for e in left["session"]["evidence"])
    assert left["turn"]["questions"] != after["turn"]["questions"]  # Claude's own questions now
    outlook = next(s for s in await api.runtime.flows.summaries(account_id=None) if s.ref.slug == SLUG)
    assert dict(outlook.counters.left_at) == {"acct": 1}
    # Leaving twice is refused with a message, nothing changes.
    status, body = await api.call("POST", f"/api/ai-sessions/{sid}/messages", {"leave_flow": True})
    assert status in (409, 422) and "No flow guides" in str(body)


async def test_an_ai_node_hands_over_with_the_hint_and_the_walked_path(api: Api) -> None:
    started = await api.start("Outlook password prompts", flow=SLUG)
    sid = started["session"]["id"]
    after = await _send(api, sid, _answer(started["turn"], "Yes"))
    handed = await _send(api, sid, _mark(after["turn"], "failed"))
    assert len(api.fake.requests) == 1
    told = _flow_text(api)
    assert "Consider Conditional Access and token protection" in told
    assert "Does Outlook on the web work? → Yes" in told
    assert handed["session"]["flow"] is None and handed["turn"]["message"]
    outlook = next(s for s in await api.runtime.flows.summaries(account_id=None) if s.ref.slug == SLUG)
    assert dict(outlook.counters.left_at) == {"explore": 1}


async def test_free_text_is_mapped_to_an_answer_or_leaves_the_flow(api: Api) -> None:
    started = await api.start("Outlook password prompts", flow=SLUG)
    sid = started["session"]["id"]
    api.fake.queue_choice("No", 0.95)
    mapped = await _send(api, sid, {"text": "web mail doesn't load either"})
    assert len(api.fake.requests) == 1
    offered = api.fake.last_request.body["tools"][0]["input_schema"]["properties"]["choice"]["enum"]
    assert offered == ["Yes", "No", "leave"]  # a constrained choice, never free text
    assert mapped["session"]["flow"]["step"] == 2
    assert mapped["turn"]["questions"][0]["text"] == "What does Outlook on the web say?"

    api.fake.queue_choice("leave", 0.9)
    left = await _send(api, sid, {"text": "it's actually a printer problem"})
    assert left["session"]["flow"] is None
    assert left["session"]["confidence_tier"] == "exploring"
    outlook = next(s for s in await api.runtime.flows.summaries(account_id=None) if s.ref.slug == SLUG)
    assert dict(outlook.counters.left_at) == {"acct": 1}


async def test_goto_flow_jumps_and_an_escalate_node_opens_the_escalation_draft(api: Api) -> None:
    started = await api.start("Outlook password prompts", flow=SLUG)
    sid = started["session"]["id"]
    acct = await _send(api, sid, _answer(started["turn"], "No"))
    jumped = await _send(api, sid, _answer(acct["turn"], "Account locked or disabled"))
    assert api.fake.requests == []
    assert jumped["session"]["flow"]["title"] == "Microsoft 365 account locked"
    assert jumped["session"]["flow"]["step"] == 1
    escalated = await _send(api, sid, _answer(jumped["turn"], "Yes"))
    assert len(api.fake.requests) == 1  # the escalation draft
    assert "Possible account compromise" in _flow_text(api)
    assert any(h["kind"] == "escalate" for h in escalated["session"]["handoffs"])
    assert ("Foreign sign-ins", "confirmed") in _evidence(escalated)
    counters = {s.ref.slug: s.counters for s in await api.runtime.flows.summaries(account_id=None)}
    assert (counters[SLUG].started, counters["m365-account-locked"].started) == (1, 1)
    assert counters["m365-account-locked"].escalated == 1


async def test_matching_at_intake_follows_the_flow_claude_picks(api: Api) -> None:
    api.fake.queue_choice(SLUG, 0.92)
    started = await api.start("Outlook keeps prompting for the password on every start")
    request = api.fake.last_request.body
    offered = request["tools"][0]["input_schema"]["properties"]["choice"]["enum"]
    assert SLUG in offered and offered[-1] == "none"
    session = started["session"]
    assert session["confidence_tier"] == "guided"
    assert session["flow"]["line"] == "Flow: Outlook keeps prompting for password · step 1"
    assert started["turn"]["questions"][0]["text"] == "Does Outlook on the web work?"
    before = len(api.fake.requests)
    await _send(api, session["id"], _answer(started["turn"], "Yes"))
    assert len(api.fake.requests) == before


async def test_matching_at_intake_says_none_and_claude_leads(api: Api) -> None:
    api.fake.queue_choice("none", 0.9)
    started = await api.start("Outlook keeps prompting for the password on every start")
    assert "choice" in api.fake.last_request.body["tools"][0]["input_schema"]["properties"]
    assert started["session"]["flow"] is None
    assert started["turn"]["questions"]  # Claude's own questions


async def test_starting_on_an_unknown_flow_is_refused_and_starts_nothing(api: Api) -> None:
    status, body = await api.call("POST", "/api/ai-sessions", {"text": "Outlook", "flow": "no-such-flow"})
    assert status == 404 and "no-such-flow" in str(body)
    _, page = await api.call("GET", "/api/ai-sessions", expect=200)
    assert page["items"] == []
