"""What must hold whatever happens: signatures, retries, double clicks, bots, tenants, limits, outages."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from adapters.slack.streaming import DraftWriter
from bot.events import AssistantTurn, Question, SuggestedAction
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack, message_block_errors, slash_command_body, slash_command_payload
from tests.conftest import running_app

from .conftest import (
    ALICE,
    BOB,
    EVIL_TEAM,
    MALLORY,
    SlackHarness,
    action_ids,
    shown_text,
    slack_settings,
    started,
    wait_for,
)


async def test_bad_signature_and_stale_timestamp_get_401(slack: SlackHarness) -> None:
    body = slash_command_body(
        "/flowpilot", "help", user_id=ALICE, channel_id=slack.fake.general, team_id=slack.team
    )
    assert (await slack.post(body, secret="wrong")).status == 401
    assert (await slack.post(body, timestamp=int(time.time()) - 600)).status == 401
    assert (await slack.post(body)).status == 200


async def test_a_retried_event_makes_one_turn(slack: SlackHarness) -> None:
    event = slack.fake.post_user_message(
        slack.fake.general, "<@U0FAKEBOT1> VPN is down at Contoso", user=ALICE
    )
    event["type"] = "app_mention"
    first = await slack.event(event, event_id="Ev0RETRIED1")
    again = await slack.event(event, event_id="Ev0RETRIED1", retry_num=1)
    assert (first.status, again.status) == (200, 200)
    await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the first reply")
    # The plain message event for the same message must not start a second session either.
    plain = {**event, "type": "message"}
    await slack.event(plain)
    await asyncio.sleep(0.3)
    assert slack.claude_calls() == 1
    assert len(slack.with_action("fp_resolve")) == 1


async def test_a_double_click_makes_one_turn_and_bots_are_ignored(slack: SlackHarness) -> None:
    header, turn = await started(slack)
    after = turn
    await slack.click(turn, "fp_answer_1_0")
    await wait_for(
        lambda: "fp_answer_1_0" not in action_ids(slack.fake.message(slack.fake.general, turn["ts"]) or {})
    )
    after = slack.fake.message(slack.fake.general, turn["ts"]) or {}
    await asyncio.gather(slack.click(after, "fp_answer_2_0"), slack.click(after, "fp_answer_2_0"))
    await wait_for(lambda: slack.claude_calls() == 2)
    # A bot's message in the session thread is not a user message.
    bot_message = slack.fake.post_user_message(
        slack.fake.general, "beep", user="U0OTHERBOT", thread_ts=header["ts"]
    )
    bot_message["bot_id"] = "B0OTHERBOT"
    await slack.event(bot_message)
    await asyncio.sleep(0.5)
    assert slack.claude_calls() == 2


async def test_a_click_from_another_workspace_is_refused(slack: SlackHarness) -> None:
    _, turn = await started(slack)
    await slack.click(turn, "fp_answer_1_0", user=MALLORY, team=EVIL_TEAM)
    refused = await wait_for(lambda: slack.fake.ephemerals(slack.fake.general), what="a private refusal")
    assert refused[0]["user"] == MALLORY and "can't find that session" in refused[0]["text"]
    assert "fp_answer_1_0" in action_ids(slack.fake.message(slack.fake.general, turn["ts"]) or {})
    session = await slack.session()
    assert session is not None and session.pending_task_lane is not None
    assert session is not None and all(
        q.get("answer") is None for q in session.pending_task_lane["questions"]
    )


async def test_a_claude_outage_gives_a_retry_that_continues(slack: SlackHarness) -> None:
    slack.claude.queue_error(529, times=1)
    await slack.slash("Printer at Contoso is stuck")
    notice = (await wait_for(lambda: slack.with_action("fp_retry"), what="a Retry button"))[0]
    assert "Claude is not answering" in shown_text(notice)
    await slack.click(notice, "fp_retry")
    await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the reply after Retry")
    await wait_for(
        lambda: "fp_retry" not in action_ids(slack.fake.message(slack.fake.general, notice["ts"]) or {})
    )


async def test_a_huge_claude_message_stays_inside_block_kit_limits(slack: SlackHarness) -> None:
    # The largest turn the core's schema lets through, with markup that could break a naive split.
    slack.claude.queue_turn(
        {
            "message": ("```\n" + "Look at this <@U0BOSS> line.\n" * 80 + "```\n") * 2 + "x" * 300,
            "questions": [
                {
                    "id": f"q{i}",
                    "text": "Which one? " * 90,
                    "options": [f"Option {j} " * 40 for j in range(8)],
                }
                for i in range(5)
            ],
            "actions": [{"id": f"a{i}", "text": "Do it " * 160} for i in range(8)],
            "triage_update": {
                "hypothesis": "H" * 2000,
                "evidence": [{"text": f"{i} " + "e" * 490, "status": "pending"} for i in range(30)],
            },
            "problem_summary": "S" * 500,
            "confidence": 0.5,
        }
    )
    await slack.slash("DNS is broken at Contoso")
    await wait_for(lambda: len(slack.with_action("fp_done_8")) == 1, what="the whole reply")
    replies = [
        m for m in slack.fake.messages(slack.fake.general) if m.get("thread_ts") and m["ts"] != m["thread_ts"]
    ]
    assert slack.with_action("fp_answer_5_7")  # every question and option made it
    for message in replies:
        assert not message_block_errors(message.get("blocks"))
    assert not [c for c in slack.fake.calls("chat.postMessage") if len(c.get("text", "")) > 3000]
    header = await wait_for(lambda: [m for m in slack.with_action("fp_evidence_30")], what="the header")
    assert not message_block_errors(header[0]["blocks"])
    assert not [
        c for c in slack.fake.calls("chat.update") if c.get("blocks") and message_block_errors(c["blocks"])
    ]


def test_render_limits_hold_for_any_turn() -> None:
    import uuid

    sid = uuid.uuid4()
    turn = AssistantTurn(
        sid,
        1,
        "x" * 200_000,
        tuple(Question(f"1.q{i}", "?" * 5000, tuple("o" * 500 for _ in range(40))) for i in range(60)),
        tuple(SuggestedAction(f"1.a{i}", "!" * 5000) for i in range(60)),
        "guided",
    )
    messages = render.turn_messages(turn)
    assert len(messages) > 1  # long text is split over messages
    for blocks in messages:
        assert len(blocks) <= 50
        assert not message_block_errors(blocks)


async def _writer(
    fake: FakeSlack, client: AsyncWebClient, text: str, **kwargs: Any
) -> tuple[DraftWriter, str]:
    question = fake.post_user_message(fake.general, "help", user=ALICE)
    writer = DraftWriter(
        client, channel=fake.general, thread_ts=question["ts"], recipient_user_id=ALICE,
        recipient_team_id=fake.team_id, **kwargs,
    )  # fmt: skip
    return writer, question["ts"]


async def test_streaming_falls_back_when_disabled_or_expired(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    text = "".join(f"Line {i} of the draft.\n" for i in range(200))
    fake_slack.disable_streaming()
    writer, _ = await _writer(fake_slack, client, text, interval=0)
    for i in range(0, len(text), 50):
        await writer.add(text[i : i + 50])
    await writer.finish()
    assert (fake_slack.message(fake_slack.general, writer.ts or "") or {})["text"] == text
    assert fake_slack.call_count("chat.update") > 0

    fake_slack.enable_streaming()
    writer, _ = await _writer(fake_slack, client, text, interval=0)
    await writer.add(text[:1000])
    assert writer.ts and fake_slack.is_streaming(fake_slack.general, writer.ts)
    fake_slack.expire_stream(writer.ts)
    await writer.add(text[1000:])
    await writer.finish()
    assert (fake_slack.message(fake_slack.general, writer.ts) or {})["text"] == text


async def test_twenty_drafts_at_once_under_429s_lose_no_text(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    fake_slack.rate_limit("chat.appendStream", times=15, retry_after=1)
    fake_slack.rate_limit("chat.startStream", times=5, retry_after=1)

    async def draft(n: int) -> tuple[str, str]:
        text = "".join(f"Draft {n}, part {i}. " for i in range(120))
        writer, _ = await _writer(fake_slack, client, text, interval=0.05)
        for i in range(0, len(text), 40):
            await writer.add(text[i : i + 40])
            await asyncio.sleep(0)
        await writer.finish()
        return writer.ts or "", text

    results = await asyncio.gather(*(draft(n) for n in range(20)))
    for ts, text in results:
        assert (fake_slack.message(fake_slack.general, ts) or {})["text"] == text


async def test_escalation_dms_the_engineer_with_take_over(slack: SlackHarness) -> None:
    header, _ = await started(slack)
    await slack.click(header, "fp_escalate")
    controls = (await wait_for(lambda: slack.with_action("fp_confirm"), what="draft controls"))[0]
    await slack.click(controls, "fp_confirm")
    modal = (await wait_for(slack.fake.views, what="the escalation modal"))[0]
    prefilled = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"]}
    assert prefilled["root_cause"]
    values = {
        "to": {"to": {"type": "users_select", "selected_user": BOB}},
        **{
            k: {k: {"type": "plain_text_input", "value": prefilled[k]}}
            for k in ("root_cause", "steps_taken", "recommendations")
        },
        "reason": {"reason": {"type": "plain_text_input", "value": "Needs Exchange admin rights"}},
    }
    await slack.submit(modal, values)
    dm = await wait_for(
        lambda: [c for c in slack.fake.calls("conversations.open") if c.get("users") == BOB], what="a DM"
    )
    assert dm
    dm_channel = await wait_for(lambda: _dm_with_takeover(slack), what="the Take over button")
    session = await slack.session()
    assert session is not None and session.status == "escalated"
    message = slack.with_action("fp_takeover", dm_channel)[0]
    assert "*Why:* Needs Exchange admin rights" in shown_text(message)
    await slack.click(message, "fp_takeover", user=BOB, channel=dm_channel)
    await wait_for(lambda: _status(slack, "active"), what="the take-over")
    await wait_for(
        lambda: "took this session over" in shown_text(slack.fake.message(dm_channel, message["ts"]) or {})
    )


def _dm_with_takeover(slack: SlackHarness) -> str | None:
    for call in slack.fake.calls("chat.postMessage"):
        channel: str = call.get("channel", "")
        if channel.startswith("D") and slack.with_action("fp_takeover", channel):
            return channel
    return None


async def _status(slack: SlackHarness, status: str) -> bool:
    session = await slack.session()
    return session is not None and session.status == status


async def test_socket_mode_round_trip(db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack) -> None:
    settings = slack_settings(
        db_url, fake_claude, fake_slack, SLACK_APP_TOKEN="xapp-test", SLACK_SIGNING_SECRET=""
    )
    async with running_app(settings) as (url, _runtime), aiohttp.ClientSession() as http:
        await fake_slack.wait_socket_connected()
        payload = slash_command_payload(
            "/flowpilot",
            "VPN drops at Contoso",
            user_id=ALICE,
            channel_id=fake_slack.general,
            team_id=fake_slack.team_id,
        )
        ack = await fake_slack.socket_send("slash_commands", payload)
        assert "envelope_id" in ack
        await wait_for(
            lambda: [m for m in fake_slack.messages(fake_slack.general) if "fp_answer_1_0" in action_ids(m)],
            what="the first reply over Socket Mode",
        )
        async with http.post(f"{url}/slack/events", data=b"{}") as response:
            assert response.status == 404  # no signing secret: no HTTP endpoint
