"""A flow guides a Teams personal chat: `flows` lists the workspace's flows with Start; the header card shows
"Flow: <title> · step n" with Leave flow; answer buttons advance the flow with no Claude call; Leave flow
hands the chat to Claude."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fakes.anthropic import FakeAnthropic
from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import FakeConnector, SentActivity, card_submit, personal_message
from tests.conftest import app_settings, running_app
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import button, card_of, card_with, texts

from .outlook import load

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

STEP = "Flow: Outlook keeps prompting for password · step {n}"


@pytest.fixture
async def teams(db_url: str, fake_claude: FakeAnthropic) -> AsyncIterator[Teams]:
    async with (
        FakeConnector() as connector,
        running_app(app_settings(db_url, fake_claude, FLOWPILOT_TEAMS_ANONYMOUS=True)) as (url, runtime),
    ):
        await load(runtime.flows)
        yield Teams(url, runtime, connector, fake_claude)


def _header(teams: Teams) -> SentActivity | None:
    """The chat's header card (the one with Resolve), as last shown."""
    return card_with(teams.connector, CHAT, "Resolve")


async def test_a_flow_in_a_teams_chat_is_answered_by_buttons_and_left_to_claude(teams: Teams) -> None:
    url = teams.connector.service_url
    await teams.post(personal_message("flows", service_url=url))
    listing = await wait_for(lambda: card_with(teams.connector, CHAT, "Start"), what="the flow list")
    shown = texts(card_of(listing))
    assert "Outlook keeps prompting for password" in shown and "Microsoft 365 account locked" in shown
    start = next(
        b for b in card_of(listing)["body"] if b.get("type") == "ActionSet"
        and b["actions"][0]["data"]["flow"] == "m365-outlook-password-loop"
    )["actions"][0]  # fmt: skip
    await teams.post(card_submit(start["data"], service_url=url, reply_to_id=listing.id))

    question = await wait_for(
        lambda: card_with(teams.connector, CHAT, "Yes"), what="the flow's first question"
    )
    assert "Does Outlook on the web work?" in texts(card_of(question))
    await wait_for(
        lambda: (h := _header(teams)) and STEP.format(n=1) in texts(card_of(h)), what="the flow line"
    )
    assert teams.claude.requests == []

    await teams.post(
        card_submit(button(card_of(question), "Yes")["data"], service_url=url, reply_to_id=question.id)
    )
    await wait_for(lambda: card_with(teams.connector, CHAT, "Done"), what="the flow's action with Done")
    await wait_for(lambda: (h := _header(teams)) and STEP.format(n=2) in texts(card_of(h)), what="step 2")
    header = _header(teams)
    assert header is not None and "OWA works" in texts(card_of(header))
    assert teams.claude.requests == []

    leave = button(card_of(header), "Leave flow")
    await teams.post(card_submit(leave["data"], service_url=url, reply_to_id=header.id))
    await wait_for(lambda: len(teams.claude.requests) == 1, what="Claude taking over")
    assert "Does Outlook on the web work? → Yes" in str(teams.claude.last_request.body)
    await wait_for(
        lambda: (h := _header(teams)) and "Flow:" not in texts(card_of(h)), what="the header without the flow"
    )
