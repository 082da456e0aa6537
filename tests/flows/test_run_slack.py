"""A flow guides a Slack session: `/flowpilot flows` lists the workspace's flows with Start; Start opens a
session whose header shows "Flow: <title> · step n" with Leave flow; the flow's questions are buttons answered
with no Claude call; Leave flow hands the thread to Claude."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from tests.conftest import running_app
from tests.slack.conftest import (
    ALICE,
    SlackHarness,
    action_ids,
    shown_text,
    slack_settings,
    wait_for,
)

from .outlook import load

SLUG = "m365-outlook-password-loop"
STEP = "Flow: Outlook keeps prompting for password · step {n}"


@pytest.fixture
async def slack(db_url: str, fake_claude: FakeAnthropic) -> AsyncIterator[SlackHarness]:
    async with FakeSlack() as fake:
        fake.add_user(ALICE, "alice", "Alice Admin")
        async with (
            running_app(slack_settings(db_url, fake_claude, fake)) as (url, runtime),
            aiohttp.ClientSession() as http,
        ):
            yield SlackHarness(url, runtime, fake, fake_claude, http)


def _header(slack: SlackHarness, ts: str) -> dict[str, Any]:
    return slack.fake.message(slack.fake.general, ts) or {}


def _latest_with(slack: SlackHarness, action_id: str, text: str) -> dict[str, Any] | None:
    found = [m for m in slack.with_action(action_id) if text in shown_text(m)]
    return found[-1] if found else None


async def test_a_flow_started_from_the_list_is_answered_by_buttons_and_left_to_claude(
    slack: SlackHarness,
) -> None:
    fake = slack.fake
    await load(slack.runtime.flows)
    await slack.slash("flows")
    listing = await wait_for(lambda: fake.ephemerals(fake.general), what="the flow list")
    shown = shown_text(listing[-1])
    assert "Outlook keeps prompting for password" in shown and "Microsoft 365 account locked" in shown
    (start,) = [
        b["accessory"] for b in listing[-1]["blocks"] if (b.get("accessory") or {}).get("value") == SLUG
    ]
    await slack.click(listing[-1], start["action_id"])

    question = await wait_for(
        lambda: _latest_with(slack, "fp_answer_1_0", "Does Outlook on the web work?"),
        what="the first question",
    )
    header_ts = question["thread_ts"]
    await wait_for(lambda: STEP.format(n=1) in shown_text(_header(slack, header_ts)), what="the flow line")
    assert "fp_leave_flow" in action_ids(_header(slack, header_ts))
    assert slack.claude_calls() == 0  # the flow asked, not Claude

    await slack.click(question, "fp_answer_1_0")  # "Yes"
    await wait_for(
        lambda: _latest_with(slack, "fp_done_1", "Credential Manager"), what="the flow's action with Done"
    )
    await wait_for(lambda: STEP.format(n=2) in shown_text(_header(slack, header_ts)), what="step 2")
    assert "OWA works" in shown_text(_header(slack, header_ts))
    assert slack.claude_calls() == 0

    await slack.click(_header(slack, header_ts), "fp_leave_flow")
    await wait_for(lambda: slack.claude_calls() == 1, what="Claude taking over")
    await wait_for(
        lambda: "fp_leave_flow" not in action_ids(_header(slack, header_ts)),
        what="the header without the flow",
    )
    assert "Flow:" not in shown_text(_header(slack, header_ts))
    assert "OWA works" in shown_text(_header(slack, header_ts))  # the flow's answers stay after Claude's turn
    assert shown_text(_header(slack, header_ts)).startswith("Outlook keeps prompting for password")
    session = await slack.session()
    assert session is not None and session.flow_node is None and session.flow_version_id is not None
