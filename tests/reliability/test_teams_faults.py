"""The Teams connector failing while a reply is shown: 502 / 504 are retried and the reply arrives once; a
connector failing beyond the retries (or with a 500, which is not retried) leaves the turn saved whole and
a Retry card, and Retry shows the saved reply (with its buttons) without asking Claude again."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import card_submit, personal_message
from storage.models import AISession
from tests.slack.conftest import wait_for
from tests.teams.conftest import Teams, fast_timing  # noqa: F401  (fast retries, as the Teams suite)
from tests.teams.helpers import button, buttons, card_of, card_with, texts

from .conftest import steps

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

PROBLEM = "Outlook keeps asking for the password at Contoso on LAPTOP-042"
REPLY = "The prompt comes back every 5 minutes, also on Outlook on the web"
ATTEMPTS = 5  # adapters.teams.delivery.Limits.attempts: the delivery gives up after this many


def claude_turn(message: str, hypothesis: str) -> dict[str, Any]:
    return {
        "message": message,
        "questions": [{"id": "q1", "text": "Is MFA enforced for this user?", "options": ["Yes", "No"]}],
        "actions": [],
        "triage_update": {"client_name": "Contoso", "hypothesis": hypothesis, "evidence": []},
        "problem_summary": "Outlook password prompts",
        "problem_domain": "identity",
        "confidence": 0.55,
    }


SAID = "Cached credentials are the usual cause of repeated prompts."
HYPOTHESIS = "Stale token in Credential Manager"


def cards_saying(teams: Teams, text: str) -> list[Any]:
    return [a for a in teams.connector.activities(CHAT) if a.attachments and text in texts(card_of(a))]


def message_posts(teams: Teams) -> list[int]:
    """The statuses the connector answered to the bot's message activities (not typing), in order."""
    return [
        r.status
        for r in teams.connector.requests
        if r.method == "POST" and isinstance(r.body, dict) and r.body.get("type") == "message"
    ]


async def session_row(teams: Teams) -> AISession:
    async with teams.db() as db:
        return (await db.execute(sa.select(AISession))).scalar_one()


async def start(teams: Teams) -> tuple[Any, Any]:
    """A personal-chat session, answered once; returns (header card, first turn card)."""
    status, _ = await teams.post(personal_message(PROBLEM, service_url=teams.connector.service_url))
    assert status == 202
    await wait_for(lambda: len(teams.connector.activities(CHAT)) >= 2, what="header and first turn")
    header, turn = teams.connector.activities(CHAT)[:2]
    await wait_for(lambda: header.edited, what="the first triage in the header")
    await wait_for(lambda: no_turn_running(teams), what="the first turn over")
    return header, turn


async def no_turn_running(teams: Teams) -> bool:
    session = await session_row(teams)
    return session.lease_owner is None and not session.awaiting_reply


async def assert_saved_whole(teams: Teams) -> AISession:
    """The turn is in the database once and whole: the reply, then Claude's answer; no lease, no half turn."""
    session = await session_row(teams)
    saved = await steps(teams.db, session.id)
    assert [s.step_order for s in saved] == list(range(1, len(saved) + 1)) and session.step_count == len(
        saved
    )
    assert [s.content for s in saved if s.role == "user"].count(REPLY) == 1
    assert saved[-1].role == "assistant" and saved[-2].content == REPLY
    assert SAID in saved[-1].content or saved[-1].questions
    assert session.lease_owner is None and session.turn_in_flight is None and not session.awaiting_reply
    assert session.triage_hypothesis == HYPOTHESIS
    return session


@pytest.mark.parametrize("status", [502, 504])
async def test_a_reply_the_connector_refuses_a_few_times_arrives_once(teams: Teams, status: int) -> None:
    fake = teams.connector
    header, _ = await start(teams)
    teams.claude.queue_turn(claude_turn(SAID, HYPOTHESIS))
    fake.fail("/activities", status, times=3, method="POST", activity_type="message")
    fake.fail("/activities/", status, times=2, method="PUT")  # and the header's update
    before = len(message_posts(teams))

    await teams.post(personal_message(REPLY, service_url=fake.service_url))
    await wait_for(lambda: cards_saying(teams, SAID), what="the reply")
    await wait_for(lambda: HYPOTHESIS in texts(card_of(header)), what="the header updated in place")
    await wait_for(lambda: no_turn_running(teams), what="the turn over")

    assert len(cards_saying(teams, SAID)) == 1, "shown once"
    assert message_posts(teams)[before:] == [status] * 3 + [201]
    assert [r.status for r in fake.requests if r.method == "PUT"][-3:] == [status, status, 200]
    assert card_with(fake, CHAT, "Retry") is None, "nothing for the engineer to retry"
    await assert_saved_whole(teams)


@pytest.mark.parametrize(("status", "times"), [(502, ATTEMPTS), (500, 1)], ids=["502-beyond-retries", "500"])
async def test_a_reply_the_connector_keeps_refusing_is_saved_whole_and_leaves_a_retry(
    teams: Teams, status: int, times: int
) -> None:
    fake = teams.connector
    await start(teams)
    teams.claude.queue_turn(claude_turn(SAID, HYPOTHESIS))
    fake.fail("/activities", status, times=times, method="POST", activity_type="message")
    before = len(message_posts(teams))

    await teams.post(personal_message(REPLY, service_url=fake.service_url))
    retry = await wait_for(lambda: card_with(fake, CHAT, "Retry"), what="a Retry card")
    await wait_for(lambda: no_turn_running(teams), what="the turn over")

    # Delivery gave up on the reply (a 500 at once, a 502 after every attempt), then the connector answered.
    assert message_posts(teams)[before:] == [status] * times + [201]
    assert cards_saying(teams, SAID) == [], "the reply never reached the chat"
    assert "Nothing was lost" in texts(card_of(retry)) and "press Retry" in texts(card_of(retry))
    await assert_saved_whole(teams)
    calls = len(teams.claude.requests)

    await teams.post(card_submit(button(card_of(retry), "Retry")["data"], service_url=fake.service_url))
    await wait_for(lambda: len(fake.activities(CHAT)) > 3 and no_turn_running(teams), what="Retry handled")
    assert len(teams.claude.requests) == calls, "Retry does not ask Claude again"
    await assert_saved_whole(teams)


async def test_retry_after_the_connector_gave_up_shows_the_saved_reply(teams: Teams) -> None:
    fake = teams.connector
    await start(teams)
    teams.claude.queue_turn(claude_turn(SAID, HYPOTHESIS))
    fake.fail("/activities", 502, times=ATTEMPTS, method="POST", activity_type="message")
    await teams.post(personal_message(REPLY, service_url=fake.service_url))
    retry = await wait_for(lambda: card_with(fake, CHAT, "Retry"), what="a Retry card")
    await wait_for(lambda: no_turn_running(teams), what="the turn over")
    calls, cards = len(teams.claude.requests), len(fake.activities(CHAT))

    await teams.post(card_submit(button(card_of(retry), "Retry")["data"], service_url=fake.service_url))
    await wait_for(lambda: len(fake.activities(CHAT)) > cards, what="an answer to Retry")
    shown = cards_saying(teams, SAID)
    assert len(shown) == 1, [texts(card_of(a)) for a in fake.activities(CHAT)[cards:]]
    assert [b["title"] for b in buttons(card_of(shown[0]))][:2] == ["Yes", "No"]
    assert len(teams.claude.requests) == calls, "shown from what was saved: Claude is not asked again"
