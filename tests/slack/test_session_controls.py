"""Acting on a session: shortcuts, slash subcommands, header controls, the draft modal, outside changes, errors."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import sqlalchemy as sa

from adapters.slack import messages as msg
from adapters.slack.commands import DOUBLE_CLICK_SECONDS
from bot.commands import Actor, EditTriage
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack, message_shortcut_body
from storage import lease
from storage.models import SessionHandoff
from tests.conftest import running_app

from .conftest import (
    ALICE,
    SlackHarness,
    action_ids,
    shown_text,
    slack_settings,
    started,
    text_values,
    wait_for,
)


def _header(slack: SlackHarness, ts: str) -> dict[str, Any]:
    return slack.fake.message(slack.fake.general, ts) or {}


async def _status(slack: SlackHarness, status: str) -> bool:
    session = await slack.session()
    return session is not None and session.status == status


async def _controls(slack: SlackHarness, kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = await wait_for(
        lambda: [m for m in slack.with_action("fp_confirm") if f"|{kind}" in str(m.get("blocks"))],
        what=f"the {kind} draft controls",
    )
    return found[-1]


async def _pause_and_resume(slack: SlackHarness, header: dict[str, Any]) -> None:
    """Pause from the header, see it paused with Resume; Resume, see it active with Pause again."""
    await slack.click(_header(slack, header["ts"]), "fp_pause")
    await wait_for(lambda: _status(slack, "paused"), what="paused")
    await wait_for(lambda: "fp_resume" in action_ids(_header(slack, header["ts"])), what="Resume")
    await slack.click(_header(slack, header["ts"]), "fp_resume")
    await wait_for(lambda: _status(slack, "active"), what="active again")
    await wait_for(lambda: "fp_pause" in action_ids(_header(slack, header["ts"])), what="Pause")


async def test_message_shortcuts_draft_the_threads_resolution_and_escalation(slack: SlackHarness) -> None:
    fake = slack.fake
    header, turn = await started(slack)
    shortcut = message_shortcut_body(
        callback_id="fp_resolve", message=turn, channel_id=fake.general, user_id=ALICE, team_id=slack.team
    )
    await slack.post(shortcut)
    resolve = await _controls(slack, "resolve")
    assert resolve["thread_ts"] == header["ts"]
    await slack.click(resolve, "fp_discard")
    await wait_for(lambda: "Discarded by" in shown_text(fake.message(fake.general, resolve["ts"]) or {}))

    shortcut = message_shortcut_body(
        callback_id="fp_escalate", message=turn, channel_id=fake.general, user_id=ALICE, team_id=slack.team
    )
    await slack.post(shortcut)
    escalate = await _controls(slack, "escalate")
    assert escalate["thread_ts"] == header["ts"]

    # A message outside any session: told privately, nothing drafted.
    outside = fake.post_user_message(fake.general, "lunch?", user=ALICE)
    await slack.post(
        message_shortcut_body(
            callback_id="fp_resolve",
            message=outside,
            channel_id=fake.general,
            user_id=ALICE,
            team_id=slack.team,
        )
    )
    told = await wait_for(
        lambda: [e for e in fake.ephemerals(fake.general) if e["text"] == msg.NO_SESSION_HERE], what="refusal"
    )
    assert told[0]["user"] == ALICE
    # Two drafts streamed (the first turn's words streamed too), none for the message outside a session.
    drafts = [c for c in fake.calls("chat.startStream") if "Root cause" in str(c["chunks"])]
    assert len(drafts) == 2


async def test_slash_subcommands_answer_privately_and_act_on_the_latest_session(slack: SlackHarness) -> None:
    fake = slack.fake

    def told() -> list[str]:
        return [e["text"] for e in fake.ephemerals(fake.general)]

    await slack.slash("help")
    await wait_for(lambda: msg.HELP in told(), what="help")
    await slack.slash("list")
    await wait_for(lambda: msg.NO_SESSIONS in told(), what="no sessions")
    await slack.slash("pause")
    await wait_for(lambda: msg.NO_SESSION_HERE in told(), what="no session here")

    header, _ = await started(slack)
    await slack.slash("list")
    listed = await wait_for(
        lambda: [e for e in fake.ephemerals(fake.general) if e.get("blocks")], what="list"
    )
    assert "Outlook" in shown_text(listed[-1]) and listed[-1]["user"] == ALICE

    await slack.slash("status")
    status = await wait_for(
        lambda: [e for e in fake.ephemerals(fake.general) if "Hypothesis" in shown_text(e)], what="status"
    )
    assert "Active" in shown_text(status[-1])

    await slack.slash("pause")
    await wait_for(lambda: _status(slack, "paused"), what="paused")
    await wait_for(lambda: "fp_resume" in action_ids(_header(slack, header["ts"])), what="a Resume button")
    await slack.slash("resume")
    await wait_for(lambda: _status(slack, "active"), what="resumed")
    await wait_for(lambda: "fp_pause" in action_ids(_header(slack, header["ts"])), what="a Pause button")
    # Only ephemerals answered the subcommands: nothing else was posted at the channel's top level.
    top_level = [m["ts"] for m in fake.messages(fake.general) if m.get("thread_ts", m["ts"]) == m["ts"]]
    assert top_level == [header["ts"]]


async def test_evidence_and_pause_resume_from_the_header(slack: SlackHarness) -> None:
    header, _ = await started(slack)
    assert "fp_evidence_1" in action_ids(header)
    await slack.click(header, "fp_evidence_1", option="confirmed")
    await wait_for(lambda: "✅" in shown_text(_header(slack, header["ts"])), what="a confirmed item")
    session = await slack.session()
    assert session is not None and (session.evidence_items or [])[0]["status"] == "confirmed"
    await slack.click(_header(slack, header["ts"]), "fp_evidence_1", option="ruled_out")
    await wait_for(lambda: "❌" in shown_text(_header(slack, header["ts"])), what="a ruled-out item")
    session = await slack.session()
    assert session is not None and (session.evidence_items or [])[0]["status"] == "ruled_out"

    await _pause_and_resume(slack, header)


async def test_the_edit_modal_resolves_with_the_edited_sections(slack: SlackHarness) -> None:
    fake = slack.fake
    header, _ = await started(slack)
    await slack.click(header, "fp_resolve")
    controls = await _controls(slack, "resolve")
    async with slack.runtime.db() as db:
        draft = (await db.execute(sa.select(SessionHandoff))).scalars().one()
    await slack.click(controls, "fp_edit_draft")
    modal = (await wait_for(fake.views, what="the edit modal"))[0]
    initial = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"]}
    assert initial == {
        "root_cause": draft.root_cause,
        "steps_taken": draft.steps_taken,
        "recommendations": draft.recommendations,
    }
    await slack.submit(
        modal,
        text_values(
            root_cause="Stale MFA token after the password change",
            steps_taken="Signed out of Office, cleared the credential manager",
            recommendations="Tell users to re-register MFA after password changes",
        ),
    )
    await wait_for(lambda: _status(slack, "resolved"), what="resolved")
    async with slack.runtime.db() as db:
        handoff = (await db.execute(sa.select(SessionHandoff))).scalars().one()
    assert handoff.status == "confirmed"
    assert handoff.root_cause == "Stale MFA token after the password change"
    assert handoff.steps_taken == "Signed out of Office, cleared the credential manager"
    assert handoff.recommendations == "Tell users to re-register MFA after password changes"
    await wait_for(lambda: "Confirmed by" in shown_text(fake.message(fake.general, controls["ts"]) or {}))


async def test_a_change_made_through_the_api_rerenders_the_header(slack: SlackHarness) -> None:
    header, _ = await started(slack)
    session = await slack.session()
    assert session is not None
    actor = Actor("slack", slack.team, ALICE, "Alice", via="api")
    command = EditTriage(actor=actor, session_id=session.id, changes={"client_name": "Fabrikam"})
    async for _ in slack.runtime.handler.handle(command):
        pass
    await wait_for(lambda: "Fabrikam" in shown_text(_header(slack, header["ts"])), what="the header")


async def test_slack_refusing_a_turn_leaves_a_message_and_a_retry_that_works(slack: SlackHarness) -> None:
    fake = slack.fake
    header, _ = await started(slack)
    fake.fail(
        "chat.postMessage", error="internal_error", times=1
    )  # the reply (Claude answers at once: no placeholder)
    await slack.event(
        fake.post_user_message(fake.general, "Still failing", user=ALICE, thread_ts=header["ts"])
    )
    notice = (await wait_for(lambda: slack.with_action("fp_retry"), what="the Retry notice"))[0]
    assert notice["thread_ts"] == header["ts"]
    assert msg.SLACK_FAILED.format(error="internal_error") in shown_text(notice)
    assert slack.claude_calls() == 2
    await slack.click(notice, "fp_retry")
    await wait_for(
        lambda: [m for m in slack.with_action("fp_answer_1_0") if m["ts"] > notice["ts"]], what="shown again"
    )
    assert slack.claude_calls() == 2  # shown from what was saved: Claude is not asked again
    await wait_for(lambda: "fp_retry" not in action_ids(fake.message(fake.general, notice["ts"]) or {}))


async def test_a_message_too_long_for_a_retry_button_asks_to_send_it_again(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> None:
    settings = slack_settings(db_url, fake_claude, fake_slack, FLOWPILOT_LEASE_WAIT_SECONDS=0.2)
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        slack = SlackHarness(url, runtime, fake_slack, fake_claude, http)
        header, _ = await started(slack)
        session = await slack.session()
        assert session is not None
        # Another process holds the session's turn, so the message itself is what a Retry would resend.
        held = await lease.try_acquire(
            runtime.db, session_id=session.id, owner=uuid.uuid4(), ttl=3600, turn="elsewhere"
        )
        assert held is not None
        long_text = "Event log excerpt: " + "0x80070005 access denied " * 100
        await slack.event(
            fake_slack.post_user_message(fake_slack.general, long_text, user=ALICE, thread_ts=header["ts"])
        )
        notice = await wait_for(
            lambda: [
                m for m in fake_slack.messages(fake_slack.general) if msg.RETRY_TOO_LONG in shown_text(m)
            ],
            what="the notice",
        )
        assert "fp_retry" not in action_ids(notice[0]) and notice[0]["thread_ts"] == header["ts"]
        assert slack.claude_calls() == 1


async def _after_double_click_window(since: float) -> None:
    """Wait until a second press of the same button is a new click, not a double click."""
    # The window runs from when the server took the first press, a little after it was sent: leave room.
    await asyncio.sleep(max(0.0, since + DOUBLE_CLICK_SECONDS + 1.0 - time.monotonic()))


async def test_header_buttons_pressed_again_later_work_and_a_double_click_is_one_click(
    slack: SlackHarness,
) -> None:
    header, _ = await started(slack)
    paused_at = time.monotonic()
    await _pause_and_resume(slack, header)
    # The same Pause button, pressed again a moment later: a request of its own, not a double click.
    await _after_double_click_window(paused_at)
    await slack.click(_header(slack, header["ts"]), "fp_pause")
    await wait_for(lambda: _status(slack, "paused"), what="paused again")
    # The header is redrawn after the change is saved: wait for its Resume before pressing it.
    await wait_for(lambda: "fp_resume" in action_ids(_header(slack, header["ts"])), what="Resume")
    await slack.click(_header(slack, header["ts"]), "fp_resume")
    await wait_for(lambda: _status(slack, "active"), what="active")
    await wait_for(lambda: "fp_resolve" in action_ids(_header(slack, header["ts"])), what="Resolve")

    # Resolve double-clicked (two payloads, each with its own action_ts): one draft, written once.
    drafts = len(slack.claude.requests)
    resolve = _header(slack, header["ts"])
    await asyncio.gather(slack.click(resolve, "fp_resolve"), slack.click(resolve, "fp_resolve"))
    await _controls(slack, "resolve")
    await asyncio.sleep(0.5)  # a second draft, if one had been started, would be on its way by now
    session = await slack.session()
    assert session is not None
    async with slack.runtime.db() as db:
        written = (
            (await db.execute(sa.select(SessionHandoff).where(SessionHandoff.session_id == session.id)))
            .scalars()
            .all()
        )
    assert len(written) == 1
    assert len(slack.claude.requests) == drafts + 1
    assert len(slack.with_action("fp_confirm")) == 1


async def test_an_answer_refused_while_paused_can_be_given_again_after_resuming(slack: SlackHarness) -> None:
    header, turn = await started(slack)
    await slack.click(_header(slack, header["ts"]), "fp_pause")
    await wait_for(lambda: _status(slack, "paused"), what="paused")
    answered_at = time.monotonic()
    await slack.click(turn, "fp_answer_1_0")
    refused = await wait_for(lambda: slack.fake.ephemerals(slack.fake.general), what="a private refusal")
    assert "paused" in refused[-1]["text"]
    await wait_for(lambda: "fp_resume" in action_ids(_header(slack, header["ts"])), what="Resume")
    await slack.click(_header(slack, header["ts"]), "fp_resume")
    await wait_for(lambda: _status(slack, "active"), what="active again")

    await _after_double_click_window(answered_at)
    await slack.click(turn, "fp_answer_1_0")

    async def answered() -> bool:
        session = await slack.session()
        if session is None:
            return False
        assert session.pending_task_lane is not None
        return session.pending_task_lane["questions"][0].get("answer") is not None

    await wait_for(answered, what="the answer recorded once the session is active again")


async def test_thinking_shows_only_while_claude_takes_a_moment_and_the_reply_replaces_it(
    slack: SlackHarness,
) -> None:
    fake = slack.fake
    header, _ = await started(slack)

    def thinking_posts() -> list[dict[str, Any]]:
        return [c for c in fake.calls("chat.postMessage") if msg.THINKING in str(c.get("text"))]

    # Claude answers at once: the reply comes without a "thinking…" line flashing up first.
    before = len(thinking_posts())
    await slack.event(
        fake.post_user_message(fake.general, "Rebooted, same", user=ALICE, thread_ts=header["ts"])
    )
    await wait_for(
        lambda: slack.claude_calls() == 2 and len(slack.with_action("fp_answer_1_0")) >= 2, what="reply"
    )
    assert len(thinking_posts()) == before

    # Claude takes a while: the thread says so, and the reply then takes that message's place.
    slack.claude.latency = 2.0
    await slack.event(
        fake.post_user_message(fake.general, "Still nothing", user=ALICE, thread_ts=header["ts"])
    )
    await wait_for(lambda: len(thinking_posts()) > before, what="the thinking line")
    placeholder = next(
        m
        for m in fake.thread(fake.general, header["ts"])
        if msg.THINKING in shown_text(m) or msg.THINKING in m.get("text", "")
    )
    await wait_for(
        lambda: "fp_answer_1_0" in action_ids(fake.message(fake.general, placeholder["ts"]) or {}),
        what="the reply in the thinking line's place",
    )
    assert not [m for m in fake.thread(fake.general, header["ts"]) if msg.THINKING in m.get("text", "")]
