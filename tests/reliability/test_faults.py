"""Faults of the outside world mid-session: every session ends consistent, the engineer sees a clear message
with Retry, and Retry continues where it stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

import adapters.slack.app as slack_app
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from tests.conftest import running_app
from tests.slack.conftest import (
    ALICE,
    SlackHarness,
    action_ids,
    shown_text,
    slack_settings,
    started,
    wait_for,
)

from .conftest import session_row, steps

CLAUDE_TIMEOUT = 1.0


@pytest.fixture
async def impatient(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SlackHarness]:
    """The Slack app with short Claude and Slack timeouts, so a timeout costs a second, not a minute."""
    monkeypatch.setattr(slack_app, "SLACK_TIMEOUT_SECONDS", 1.0)
    settings = slack_settings(db_url, fake_claude, fake_slack, FLOWPILOT_CLAUDE_TIMEOUT=CLAUDE_TIMEOUT)
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        yield SlackHarness(url, runtime, fake_slack, fake_claude, http)


def after(slack: SlackHarness, action: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.with_action(action) if m["ts"] > ts]


async def reply(slack: SlackHarness, header: dict[str, Any], text: str) -> None:
    await slack.event(
        slack.fake.post_user_message(slack.fake.general, text, user=ALICE, thread_ts=header["ts"])
    )


def claude_fault(fake: FakeAnthropic, fault: str) -> None:
    if fault == "timeout":
        fake.latency = CLAUDE_TIMEOUT * 3
    else:
        fake.queue_error(int(fault), retry_after=0 if fault == "429" else None)


@pytest.mark.parametrize("fault", ["429", "529", "500", "timeout"])
async def test_claude_failing_mid_session_keeps_the_message_and_retry_answers_it(
    impatient: SlackHarness, fault: str
) -> None:
    slack = impatient
    header, turn = await started(slack)
    claude_fault(slack.claude, fault)
    await reply(slack, header, "Credential Manager has two entries for outlook.office365.com")
    notice = (await wait_for(lambda: after(slack, "fp_retry", turn["ts"]), what="a Retry notice"))[0]
    assert "Claude is not answering" in shown_text(notice) and "Nothing was lost" in shown_text(notice)
    assert notice["thread_ts"] == header["ts"]
    session = await session_row(slack.runtime.db)
    assert session.awaiting_reply and session.lease_owner is None and session.status == "active"
    assert (await steps(slack.runtime.db, session.id))[-1].content.startswith("Credential Manager")

    slack.claude.latency = 0
    await slack.click(notice, "fp_retry")
    answered = await wait_for(lambda: after(slack, "fp_answer_1_0", notice["ts"]), what="the answer")
    assert answered[0]["thread_ts"] == header["ts"]
    session = await session_row(slack.runtime.db, session.id)
    assert not session.awaiting_reply
    assert [s.role for s in await steps(slack.runtime.db, session.id)][-2:] == ["user", "assistant"]


async def test_a_draft_stream_cut_by_claude_is_not_saved_and_retry_writes_it_whole(
    slack: SlackHarness,
) -> None:
    header, _ = await started(slack)
    draft = {"root_cause": "Stale cached credentials in Credential Manager. " * 4, "steps_taken": ["x"]}
    slack.claude.queue_cut_stream(draft, 60)
    await slack.click(header, "fp_resolve")
    notice = (await wait_for(lambda: slack.with_action("fp_retry"), what="a Retry notice"))[0]
    assert "Claude is not answering" in shown_text(notice)
    assert not slack.with_action("fp_confirm"), "a cut draft cannot be confirmed"
    await slack.click(notice, "fp_retry")
    confirm = (await wait_for(lambda: slack.with_action("fp_confirm"), what="the whole draft"))[0]
    await slack.click(confirm, "fp_confirm")

    async def resolved() -> bool:
        return (await session_row(slack.runtime.db)).status == "resolved"

    await wait_for(resolved, what="the session resolved")


async def test_slack_429s_beyond_the_sdks_retries_are_waited_out_and_the_reply_comes_once(
    slack: SlackHarness,
) -> None:
    header, turn = await started(slack)
    slack.fake.rate_limit("chat.postMessage", times=4, retry_after=0)  # more than the SDK's handler waits out
    await reply(slack, header, "Still failing after the reboot")
    await wait_for(lambda: after(slack, "fp_answer_1_0", turn["ts"]), what="the reply")
    # A later turn's reply comes after it, and the rate-limited one was posted exactly once.
    await reply(slack, header, "And now?")
    await wait_for(lambda: len(after(slack, "fp_answer_1_0", turn["ts"])) >= 2, what="the next reply")
    assert len(after(slack, "fp_answer_1_0", turn["ts"])) == 2
    assert not slack.with_action("fp_retry")


@pytest.mark.parametrize("fault", ["500", "timeout"])
async def test_slack_failing_to_show_a_reply_leaves_a_retry_that_shows_it(
    impatient: SlackHarness, fault: str
) -> None:
    slack, fake = impatient, impatient.fake
    header, turn = await started(slack)
    await reply(slack, header, "It started after the password change")
    turn = (await wait_for(lambda: after(slack, "fp_answer_1_0", turn["ts"]), what="a first reply"))[0]
    if fault == "500":
        fake.fail("chat.postMessage", error="internal_error", times=1)
    else:
        fake.latency = 3  # the next call hangs past the client's timeout; later ones are quick
    posts = fake.call_count("chat.postMessage")
    await reply(slack, header, "Still failing after the reboot")
    if fault == "timeout":
        await wait_for(lambda: fake.call_count("chat.postMessage") > posts, what="a hanging call")
        fake.latency = 0
    notice = (await wait_for(lambda: after(slack, "fp_retry", turn["ts"]), what="a Retry notice"))[0]
    assert "Nothing was lost" in shown_text(notice) and notice["thread_ts"] == header["ts"]
    calls = slack.claude_calls()
    await slack.click(notice, "fp_retry")
    await wait_for(lambda: after(slack, "fp_answer_1_0", notice["ts"]), what="the reply shown again")
    assert slack.claude_calls() == calls, "shown from what was saved: Claude is not asked again"
    session = await session_row(slack.runtime.db)
    assert not session.awaiting_reply and session.lease_owner is None


async def test_the_database_going_away_mid_session_is_a_notice_and_retry_continues(
    slack: SlackHarness,
) -> None:
    _, turn = await started(slack)
    db = slack.runtime.db
    async with db() as s:
        name = await s.scalar(sa.text("SELECT current_database()"))
    admin = await _admin_connection(db)

    # As PostgreSQL stopping: every connection dropped and no new one accepted.
    await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )
    try:
        await slack.click(turn, "fp_answer_1_0")  # the engineer answers a question meanwhile
        told = await wait_for(lambda: slack.fake.ephemerals(slack.fake.general), what="a private notice")
        assert told[0]["user"] == ALICE and "can't reach its database" in told[0]["text"]
        assert "Traceback" not in told[0]["text"]
    finally:
        await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # PostgreSQL is back: the same click now records the answer, once.
    await slack.click(turn, "fp_answer_1_0")
    await wait_for(
        lambda: "fp_answer_1_0" not in action_ids(slack.fake.message(slack.fake.general, turn["ts"]) or {}),
        what="the question shown as answered",
    )

    async def released() -> bool:  # the turn lets go of its lease just after the answered question is shown
        return (await session_row(db)).lease_owner is None

    await wait_for(released, what="the answer's turn finished")
    session = await session_row(db)
    assert session.status == "active"
    assert session.pending_task_lane is not None
    assert session.pending_task_lane["questions"][0].get("answer") is not None
    assert sum(r.kind == "answer" for r in await steps(db, session.id)) == 1, "the answer was recorded once"


async def test_the_database_going_away_while_claude_thinks_keeps_the_reply_and_retry_answers_it_once(
    slack: SlackHarness,
) -> None:
    """The reply is saved, then PostgreSQL goes away before Claude's answer can be: Retry asks Claude again
    for that reply (it is not sent twice), and does not wait for the turn's lease to expire."""
    header, turn = await started(slack)
    db = slack.runtime.db
    async with db() as s:
        name = await s.scalar(sa.text("SELECT current_database()"))
    admin = await _admin_connection(db)
    slack.claude.latency = 1.0
    calls = slack.claude_calls()
    await reply(slack, header, "The VPN drops every 30 minutes exactly")
    await wait_for(lambda: slack.claude_calls() > calls, what="Claude asked about the saved reply")
    await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )
    try:
        notice = (await wait_for(lambda: after(slack, "fp_retry", turn["ts"]), what="a Retry notice"))[0]
        assert "can't reach its database" in shown_text(notice) and notice["thread_ts"] == header["ts"]
    finally:
        await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    slack.claude.latency = 0
    await slack.click(notice, "fp_retry")
    answered = await wait_for(
        lambda: after(slack, "fp_answer_1_0", notice["ts"]), what="the answer", timeout=8
    )
    assert answered[0]["thread_ts"] == header["ts"]
    assert not after(slack, "fp_retry", notice["ts"]), "no busy or interrupted notice on the Retry"
    session = await session_row(db)
    assert session.status == "active" and not session.awaiting_reply and session.lease_owner is None
    rows = await steps(db, session.id)
    assert [r.content for r in rows].count("The VPN drops every 30 minutes exactly") == 1, (
        "the reply is kept once"
    )
    assert [r.role for r in rows][-2:] == ["user", "assistant"]


async def _admin_connection(db: Any) -> Any:
    """Run statements on the `postgres` database of the test server (not the one being cut off)."""
    import asyncpg

    url = db.kw["bind"].url.set(database="postgres", drivername="postgresql")

    async def run(statement: str, *args: Any) -> None:
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    return run
