"""kill -9 costs seconds: a dead process's turns are taken over as soon as it is dead, not when its lease
expires. The lease here is 90 s (the default), so anything that recovers sooner proves the liveness check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.harness import flowpilot
from bot import messages as msg
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from tests.api.conftest import Api
from tests.slack.conftest import ALICE, BOB, SlackHarness, shown_text, wait_for

from .conftest import Served, _DbOnly, serve_env, session_row, steps
from .test_crashes import drafts_of, in_thread, start_draft_and_turn

LEASE = 90
# Well under the lease: recovering within it can only come from seeing the owner dead.
RECOVERED_WITHIN = 10.0


def long_lease_env(db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack) -> dict[str, str]:
    return {
        **serve_env(db_url, fake_claude, fake_slack),
        "FLOWPILOT_LEASE_SECONDS": str(LEASE),
        "FLOWPILOT_LEASE_WAIT_SECONDS": "60",
    }


@pytest.fixture
async def pair(
    db_url: str,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeAnthropic,
    fake_slack: FakeSlack,
) -> AsyncIterator[tuple[Served, ...]]:
    """Two `flowpilot serve` processes on one database, both answering the same Slack app."""
    env = long_lease_env(db_url, fake_claude, fake_slack)
    servers = [flowpilot(env, name="liveness-a"), flowpilot(env, name="liveness-b")]
    async with aiohttp.ClientSession() as http:
        pair = tuple(
            Served(s, SlackHarness(s.url, _DbOnly(db), fake_slack, fake_claude, http), db)  # type: ignore[arg-type]  # only .db of a Runtime
            for s in servers
        )
        try:
            for served in pair:
                await served.start()
            yield pair
        finally:
            for served in pair:
                await served.server.stop()
                if served.server.log:
                    served.server.log.unlink(missing_ok=True)


async def cut_draft_announced(slack: SlackHarness, draft_header: dict[str, Any], cut: str) -> dict[str, Any]:
    """The draft the dead process was streaming is stopped with its cut-off marker, and its thread is told
    so with Retry, within seconds; returns that notice."""
    lost: dict[str, Any] = (
        await wait_for(
            lambda: in_thread(slack, draft_header["ts"], "fp_retry"),
            timeout=RECOVERED_WITHIN,
            what="the cut draft announced",
        )
    )[0]
    assert "draft was cut off" in shown_text(lost)
    assert not slack.fake.is_streaming(slack.fake.general, cut)
    assert "cut off when FlowPilot restarted" in shown_text(slack.fake.message(slack.fake.general, cut) or {})
    return lost


async def test_a_restarted_process_takes_a_dead_ones_turns_over_within_seconds(
    db_url: str,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeAnthropic,
    fake_slack: FakeSlack,
) -> None:
    server = flowpilot(long_lease_env(db_url, fake_claude, fake_slack), name="liveness-restart")
    async with aiohttp.ClientSession() as http:
        slack = SlackHarness(server.url, _DbOnly(db), fake_slack, fake_claude, http)  # type: ignore[arg-type]  # only .db of a Runtime
        served = Served(server, slack, db)
        await served.start()
        try:
            turn_header, _turning, draft_header, drafting, cut = await start_draft_and_turn(slack)
            await served.kill()
            slack.claude.latency, slack.claude.chunk_chars, slack.claude.chunk_delay = 0, 16, 0.0
            await served.start()
            restarted = time.monotonic()

            # Unprompted, long before the 90 s lease could expire: each thread is told, with Retry.
            notice = (
                await wait_for(
                    lambda: in_thread(slack, turn_header["ts"], "fp_retry"),
                    timeout=RECOVERED_WITHIN,
                    what="the interrupted turn announced",
                )
            )[0]
            assert "interrupted" in shown_text(notice)
            lost = await cut_draft_announced(slack, draft_header, cut)
            assert time.monotonic() - restarted < LEASE / 3

            # Alice's next reply is answered at once, with the message the dead process was answering.
            await slack.event(
                slack.fake.post_user_message(
                    slack.fake.general, "Any idea?", user=ALICE, thread_ts=turn_header["ts"]
                )
            )
            await wait_for(
                lambda: len(in_thread(slack, turn_header["ts"], "fp_answer_1_0")) >= 2,
                timeout=RECOVERED_WITHIN,
                what="the answer after the restart",
            )
            request = str(slack.claude.requests[-1].body["messages"])
            assert "The spooler restarts fine" in request and "Any idea?" in request

            # Bob's Retry drafts again, whole.
            await slack.click(lost, "fp_retry", user=BOB)
            await wait_for(
                lambda: in_thread(slack, draft_header["ts"], "fp_confirm"),
                timeout=RECOVERED_WITHIN,
                what="the draft written again",
            )
            assert len(await drafts_of(db, drafting.id)) == 1
        finally:
            await server.stop()
            if server.log:
                server.log.unlink(missing_ok=True)


async def test_a_live_peer_answers_the_waiting_reply_as_soon_as_the_busy_process_dies(
    pair: tuple[Served, Served],
) -> None:
    first, second = pair
    slack, db = first.slack, first.db
    turn_header, turning, draft_header, _drafting, cut = await start_draft_and_turn(slack)

    # Alice's next reply reaches the other process while the first one still has Claude's answer to wait for:
    # she is told at once, privately, that it is next, and it waits (the owner is alive).
    calls = slack.claude_calls()
    await second.slack.event(
        slack.fake.post_user_message(
            slack.fake.general, "It also fails on the web", user=ALICE, thread_ts=turn_header["ts"]
        )
    )
    told = await wait_for(
        lambda: [e for e in slack.fake.ephemerals(slack.fake.general) if e["text"] == msg.QUEUED],
        what="the private 'this one is next'",
    )
    assert told[0]["user"] == ALICE
    assert slack.claude_calls() == calls, "a live owner's turn is waited for, not taken over"

    slack.claude.latency, slack.claude.chunk_chars, slack.claude.chunk_delay = 0, 16, 0.0
    await first.kill()
    died = time.monotonic()

    # The peer takes the dead process's turns over: the waiting reply is answered with the one the dead
    # process was answering, and the interrupted turn and the cut draft are announced with Retry.
    await wait_for(
        lambda: len(in_thread(slack, turn_header["ts"], "fp_answer_1_0")) >= 2,
        timeout=RECOVERED_WITHIN,
        what="the waiting reply answered",
    )
    request = str(slack.claude.requests[-1].body["messages"])
    assert "The spooler restarts fine" in request and "It also fails on the web" in request
    lost = await cut_draft_announced(slack, draft_header, cut)
    assert time.monotonic() - died < LEASE / 3

    rows = await steps(db, turning.id)
    assert [r.role for r in rows[-3:]] == ["user", "user", "assistant"], "both replies answered, once"
    await second.slack.click(lost, "fp_retry", user=BOB)
    await wait_for(
        lambda: in_thread(slack, draft_header["ts"], "fp_confirm"),
        timeout=RECOVERED_WITHIN,
        what="the draft written again",
    )
    final = await session_row(db, turning.id)
    assert final.lease_owner is None and not final.awaiting_reply


async def test_the_rest_answer_says_a_message_waited_and_what_joined_it(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    api.fake.latency = 1.0
    calls = len(api.fake.requests)

    async def send(text: str) -> dict[str, Any]:
        _, body = await api.call("POST", f"/api/ai-sessions/{sid}/messages", {"text": text}, expect=200)
        answer: dict[str, Any] = body
        return answer

    first = asyncio.create_task(send("The spooler restarts fine"))
    await wait_for(lambda: len(api.fake.requests) > calls, what="the first turn with Claude")
    second = asyncio.create_task(send("It fails on the web too"))
    await wait_for(lambda: len(api.runtime.handler._lease.queues) == 1, what="the second message waiting")
    third = await send("And on the phone")
    assert third["turn"] is None and third["notices"] == [msg.JOINED]
    answered, waited = await first, await second
    assert answered["turn"] is not None and waited["turn"] is not None
    assert waited["notices"][0] == msg.QUEUED
    request = str(api.fake.requests[-1].body["messages"])
    assert "It fails on the web too" in request and "And on the phone" in request
    assert len(api.fake.requests) == calls + 2
