"""A channel thread with an @mention, and the rules Teams and tenants impose."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from fakes.anthropic import FakeAnthropic
from fakes.connector import (
    DEFAULT_BOT_APP_ID,
    FakeConnector,
    card_submit,
    channel_message,
    personal_message,
)
from storage.models import AISession
from tests.conftest import app_settings, running_app
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import button, buttons, card_of, card_with, cards_in, texts

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
PROBLEM = "Outlook keeps asking for the password at Contoso on LAPTOP-042"


def in_thread(activity: dict[str, Any], thread: str) -> dict[str, Any]:
    """card_submit names a new thread after its own id; a click in a thread belongs to that thread."""
    activity["conversation"]["id"] = thread
    return activity


async def sessions(teams: Teams) -> list[AISession]:
    async with teams.db() as db:
        return list((await db.execute(sa.select(AISession))).scalars())


async def test_channel_thread_updates_cards_in_place_and_never_streams(teams: Teams) -> None:
    fake = teams.connector
    url = fake.service_url
    incoming = channel_message(PROBLEM, service_url=url)
    thread = incoming["conversation"]["id"]
    assert (await teams.post(incoming))[0] == 202
    header, turn = (
        await wait_for(lambda: cards_in(fake, thread) if len(cards_in(fake, thread)) >= 2 else None)
    )[:2]
    [session] = await sessions(teams)
    assert session.title == PROBLEM  # the bot mention was removed
    await wait_for(lambda: header.edited, what="header updated in place")

    first = buttons(card_of(turn))[0]
    submit = card_submit(first["data"], service_url=url, conversation_type="channel", reply_to_id=turn.id)
    await teams.post(in_thread(submit, thread))
    await wait_for(lambda: turn.edited, what="turn card updated")

    teams.claude.chunk_delay = 0.03
    reply = channel_message("resolve", service_url=url, reply_to_id=incoming["id"])
    await teams.post(reply)
    draft = await wait_for(lambda: card_with(fake, thread, "Confirm resolution"), what="draft card")
    drafting = next(a for a in fake.activities(thread) if "Drafting" in texts(card_of(a)))
    assert drafting.edited  # the draft grew in one card, updated in place
    assert fake.streams(thread) == [] and fake.stream_errors == []
    confirm = button(card_of(draft), "Confirm resolution")["data"]
    await teams.post(in_thread(card_submit(confirm, service_url=url, conversation_type="channel"), thread))
    await wait_for(lambda: "Resolved" in texts(card_of(header)), what="header shows resolved")


async def test_configured_client_id_rejects_requests_without_a_valid_token(
    db_url: str, fake_claude: FakeAnthropic, connector: FakeConnector
) -> None:
    settings = app_settings(
        db_url,
        fake_claude,
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID=DEFAULT_BOT_APP_ID,
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET="not-a-real-secret",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID="6f1c2b9e-3d4a-4e8b-9c1d-2a3b4c5d6e7f",
    )
    async with running_app(settings) as (url, runtime):
        teams = Teams(url, runtime, connector, fake_claude)
        activity = personal_message("hi", service_url=connector.service_url)
        assert (await teams.post(activity))[0] == 401
        assert (await teams.post(activity, headers={"Authorization": "Bearer not-a-jwt"}))[0] == 401
    assert connector.requests == []


async def test_anonymous_mode_refuses_a_remote_service_url(teams: Teams) -> None:
    status, _ = await teams.post(personal_message("hi", service_url="https://smba.trafficmanager.net/emea/"))
    assert status == 403
    assert await sessions(teams) == []


async def test_a_user_of_another_tenant_cannot_act_on_the_session(teams: Teams) -> None:
    fake = teams.connector
    await teams.post(personal_message(PROBLEM, service_url=fake.service_url))
    [session] = await wait_for(lambda: sessions(teams), what="session")
    await wait_for(
        lambda: len(fake.activities("a:ada-chat-in-other-tenant")) == 0 and len(fake.requests) >= 2
    )
    intruder = card_submit(
        {"fp": "pause", "sid": str(session.id)},
        service_url=fake.service_url,
        tenant_id="other-tenant",
        conversation_id="a:mallory-chat",
        user_id="29:mallory",
        aad_object_id="mallory-aad",
    )
    await teams.post(intruder)
    [notice] = await wait_for(lambda: fake.activities("a:mallory-chat"), what="refusal")
    assert "can't find that session" in texts(card_of(notice))
    assert [s.status for s in await sessions(teams)] == ["active"]


async def test_claude_outage_shows_a_retry_card_that_works(teams: Teams) -> None:
    fake = teams.connector
    teams.claude.queue_error(500)
    await teams.post(personal_message(PROBLEM, service_url=fake.service_url))
    retry_card = await wait_for(
        lambda: card_with(fake, "a:1Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_personal-chat", "Retry")
    )
    assert "Nothing was lost" in texts(card_of(retry_card))
    before = len(fake.activities(retry_card.conversation_id))
    await teams.post(card_submit(button(card_of(retry_card), "Retry")["data"], service_url=fake.service_url))
    await wait_for(
        lambda: any(
            "Done" in [b["title"] for b in buttons(card_of(a))] or "?" in texts(card_of(a))
            for a in fake.activities(retry_card.conversation_id)[before:]
            if a.attachments
        ),
        what="Claude's turn after Retry",
    )


async def test_connector_429_is_retried_after_retry_after(teams: Teams) -> None:
    fake = teams.connector
    fake.fail("/activities", 429, retry_after=0.2, method="POST")
    await teams.post(personal_message(PROBLEM, service_url=fake.service_url))
    await wait_for(lambda: len(fake.activities("a:1Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_personal-chat")) >= 2)
    statuses = [r.status for r in fake.requests if r.method == "POST"]
    assert statuses[0] == 429 and statuses[1] == 201


async def test_a_huge_claude_answer_stays_under_the_teams_size_limit(teams: Teams) -> None:
    fake = teams.connector
    teams.claude.queue_turn(
        {
            "message": "🔥" * 6000,
            "questions": [
                {"id": f"q{i}", "text": "❓" * 1000, "options": ["🅰" * 200 for _ in range(8)]}
                for i in range(5)
            ],
            "actions": [{"id": f"a{i}", "text": "🛠" * 1000} for i in range(8)],
            "problem_summary": "Outlook password prompts",
            "confidence": 0.5,
        }
    )
    await teams.post(personal_message(PROBLEM, service_url=fake.service_url))
    chat = "a:1Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa_personal-chat"
    sent = await wait_for(lambda: cards_in(fake, chat) if len(cards_in(fake, chat)) >= 2 else None)
    assert all(r.status != 413 for r in fake.requests)
    assert all(len(json.dumps(r.body).encode()) < 28 * 1024 for r in fake.requests if r.body)
    assert "shortened for Teams" in texts(card_of(sent[1]))
