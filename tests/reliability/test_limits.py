"""Limits per engineer and per workspace: a flood of new sessions or Claude turns is refused with a notice
saying when to try again, nothing of a session is lost, and another engineer is not held up by it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import aiohttp
import pytest

from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from tests.conftest import running_app
from tests.slack.conftest import ALICE, BOB, SlackHarness, action_ids, shown_text, slack_settings, wait_for

from .conftest import session_row, settle, steps


@pytest.fixture
async def limited(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    settings = slack_settings(
        db_url,
        fake_claude,
        fake_slack,
        FLOWPILOT_SESSIONS_PER_USER_PER_MINUTE=3,
        FLOWPILOT_SESSIONS_PER_WORKSPACE_PER_MINUTE=4,
        FLOWPILOT_TURNS_PER_USER_PER_MINUTE=5,
    )
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        yield SlackHarness(url, runtime, fake_slack, fake_claude, http)


def refusals(slack: SlackHarness, user: str) -> list[dict[str, Any]]:
    return [
        e for e in slack.fake.ephemerals(slack.fake.general) if e["user"] == user and "limit of" in e["text"]
    ]


async def test_a_flood_of_new_sessions_is_refused_per_engineer_and_per_workspace(
    limited: SlackHarness,
) -> None:
    slack = limited
    for i in range(6):
        response = await slack.slash(f"Printer {i} at Contoso is offline", user=ALICE)
        assert response.status == 200
    await wait_for(lambda: len(slack.with_action("fp_answer_1_0")) >= 3, what="three sessions answered")
    told = await wait_for(lambda: refusals(slack, ALICE)[2:], what="three refusals")
    assert "limit of 3 new sessions a minute" in told[0]["text"] and "Try again in" in told[0]["text"]
    await settle()
    assert slack.claude_calls() == 3, "a refused session costs no Claude call"
    assert len(slack.with_action("fp_answer_1_0")) == 3

    # Bob is not held up by Alice's flood, until the workspace as a whole reaches its own limit.
    await slack.slash("VPN drops every ten minutes", user=BOB)
    await wait_for(lambda: len(slack.with_action("fp_answer_1_0")) >= 4, what="Bob's session")
    await slack.slash("Wi-Fi is slow in the warehouse", user=BOB)
    told = await wait_for(lambda: refusals(slack, BOB), what="the workspace's limit")
    assert "This workspace reached FlowPilot's limit of 4 new sessions a minute" in told[0]["text"]
    assert slack.claude_calls() == 4


async def test_too_many_turns_a_minute_are_refused_with_retry_and_nothing_is_lost(
    limited: SlackHarness,
) -> None:
    slack = limited
    await slack.slash("Outlook keeps asking for the password", user=ALICE)
    first = (await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the first reply"))[0]
    thread = first["thread_ts"]
    session = await session_row(slack.runtime.db)

    def replies() -> list[dict[str, Any]]:
        return [m for m in slack.fake.thread(slack.fake.general, thread) if "fp_answer_1_0" in action_ids(m)]

    def at_least(count: int) -> bool:
        return len(replies()) >= count

    # The start was Claude turn 1; four replies are turns 2-5, each answered before the next is sent.
    for n in range(4):
        await slack.event(
            slack.fake.post_user_message(slack.fake.general, f"detail {n}", user=ALICE, thread_ts=thread)
        )
        await wait_for(partial(at_least, n + 2), what=f"reply {n + 2}")
    assert slack.claude_calls() == 5

    await slack.event(
        slack.fake.post_user_message(slack.fake.general, "one more detail", user=ALICE, thread_ts=thread)
    )
    refused = await wait_for(
        lambda: [
            m
            for m in slack.fake.thread(slack.fake.general, thread)
            if "limit of 5 questions to Claude a minute" in shown_text(m)
        ],
        what="the turn refused",
    )
    assert "fp_retry" in action_ids(refused[0]), "Retry asks Claude once the minute has passed"
    await settle()
    assert slack.claude_calls() == 5
    # The engineer's words are kept, waiting for Claude's answer; the session is as it was.
    rows = await steps(slack.runtime.db, session.id)
    assert rows[-1].content == "one more detail" and rows[-1].role == "user"
    after = await session_row(slack.runtime.db, session.id)
    assert after.status == "active" and after.awaiting_reply and after.lease_owner is None
