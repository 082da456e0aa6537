"""kill -9 of `flowpilot serve` with one session mid-turn and another mid-draft: after a restart nothing is
stuck half-way, each engineer is told what was lost, and Retry (or the next message) carries on."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AISession, SessionHandoff
from tests.slack.conftest import ALICE, BOB, SlackHarness, action_ids, shown_text, wait_for

from .conftest import Served, no_session_leased, session_row, steps


async def open_session(slack: SlackHarness, problem: str, *, user: str) -> tuple[dict[str, Any], AISession]:
    """Start a session by slash command; returns its header message and its row."""
    before = len(slack.with_action("fp_answer_1_0"))
    await slack.slash(problem, user=user)
    turn = (await wait_for(lambda: slack.with_action("fp_answer_1_0")[before:], what="the first reply"))[0]
    header = slack.fake.message(slack.fake.general, turn["thread_ts"])
    assert header is not None
    return header, await session_row(slack.runtime.db)


def in_thread(slack: SlackHarness, thread: str, action: str) -> list[dict[str, Any]]:
    return [m for m in slack.fake.thread(slack.fake.general, thread) if action in action_ids(m)]


async def drafts_of(db: async_sessionmaker[AsyncSession], session_id: Any) -> list[SessionHandoff]:
    async with db() as s:
        rows = await s.execute(sa.select(SessionHandoff).where(SessionHandoff.session_id == session_id))
        return list(rows.scalars().all())


async def start_draft_and_turn(slack: SlackHarness) -> tuple[dict[str, Any], Any, dict[str, Any], Any, str]:
    """Alice's reply is with Claude and Bob's resolution draft is streaming, both in `slack`'s process;
    returns Alice's header and session, Bob's header and session, and the streaming draft's ts."""
    turn_header, turning = await open_session(slack, "Outlook keeps asking for the password", user=ALICE)
    draft_header, drafting = await open_session(slack, "Printer PRN-2 at Contoso is offline", user=BOB)
    # Bob's resolution draft streams slowly into his thread…
    slack.claude.chunk_chars, slack.claude.chunk_delay = 4, 0.2
    await slack.click(draft_header, "fp_resolve", user=BOB)
    streaming = await wait_for(
        lambda: [
            m
            for m in slack.fake.thread(slack.fake.general, draft_header["ts"])
            if slack.fake.is_streaming(slack.fake.general, m["ts"])
        ],
        what="the draft streaming into the thread",
    )
    # …while Claude is thinking about Alice's reply.
    slack.claude.latency = 60
    calls = slack.claude_calls()
    await slack.event(
        slack.fake.post_user_message(
            slack.fake.general, "The spooler restarts fine", user=ALICE, thread_ts=turn_header["ts"]
        )
    )
    await wait_for(lambda: slack.claude_calls() > calls, what="Alice's turn to reach Claude")
    return turn_header, turning, draft_header, drafting, streaming[0]["ts"]


async def test_kill_9_mid_turn_and_mid_draft_then_restart_loses_nothing(served: Served) -> None:
    slack, db = served.slack, served.db
    turn_header, turning, draft_header, drafting, cut = await start_draft_and_turn(slack)
    await served.kill()

    for session in (turning, drafting):
        stuck = await session_row(db, session.id)
        assert stuck.lease_owner is not None and stuck.turn_in_flight, "the dead turns left their leases"
    assert (await steps(db, turning.id))[-1].content == "The spooler restarts fine", "the message was kept"
    assert not await drafts_of(db, drafting.id), "half a draft is never saved"

    slack.claude.latency, slack.claude.chunk_chars, slack.claude.chunk_delay = 0, 16, 0.0
    await served.start()

    # Nobody has to send anything: once the dead process's leases expire, the restarted one takes the
    # unfinished turns over and says so in each thread, with Retry.
    notice = (
        await wait_for(lambda: in_thread(slack, turn_header["ts"], "fp_retry"), timeout=15, what="a notice")
    )[0]
    assert "interrupted" in shown_text(notice)
    lost = (
        await wait_for(lambda: in_thread(slack, draft_header["ts"], "fp_retry"), timeout=15, what="a notice")
    )[0]
    assert "draft was cut off" in shown_text(lost) and "not saved" in shown_text(lost)
    # The half-written draft message is no longer left streaming, and says it was cut off.
    assert not slack.fake.is_streaming(slack.fake.general, cut)
    assert "cut off when FlowPilot restarted" in shown_text(slack.fake.message(slack.fake.general, cut) or {})
    for session in (turning, drafting):
        recovered = await session_row(db, session.id)
        assert recovered.lease_owner is None and recovered.turn_in_flight is None, "nothing left half-way"

    # Alice's next message: Claude answers both her messages, and she is not told twice.
    await slack.event(
        slack.fake.post_user_message(slack.fake.general, "Any idea?", user=ALICE, thread_ts=turn_header["ts"])
    )
    await wait_for(
        lambda: len(in_thread(slack, turn_header["ts"], "fp_answer_1_0")) >= 2,
        what="the answer after restart",
    )
    assert len(in_thread(slack, turn_header["ts"], "fp_retry")) == 1
    rows = await steps(db, turning.id)
    assert [r.role for r in rows[-3:]] == ["user", "user", "assistant"], "both messages answered, once"
    request = str(slack.claude.requests[-1].body["messages"])
    assert "The spooler restarts fine" in request and "Any idea?" in request

    # Bob's Retry writes the draft again, and he can resolve.
    await slack.click(lost, "fp_retry", user=BOB)
    confirm = (await wait_for(lambda: in_thread(slack, draft_header["ts"], "fp_confirm"), what="a draft"))[0]
    written = await drafts_of(db, drafting.id)
    assert len(written) == 1 and written[0].root_cause and written[0].steps_taken
    await slack.click(confirm, "fp_confirm", user=BOB)

    async def resolved() -> bool:
        return (await session_row(db, drafting.id)).status == "resolved"

    await wait_for(resolved, what="Bob's session resolved after the crash")
    final = await session_row(db, turning.id)
    assert final.status == "active" and not final.awaiting_reply
    # The confirm's turn lets go of its lease just after the status is written: wait for that, not a moment.
    await wait_for(lambda: no_session_leased(db), what="every lease let go")


async def test_kill_9_while_a_turns_words_stream_marks_them_cut_off_after_restart(served: Served) -> None:
    slack, db = served.slack, served.db
    header, session = await open_session(slack, "Outlook keeps asking for the password", user=ALICE)
    # Claude's next words stream slowly into the thread when the process dies.
    slack.claude.chunk_chars, slack.claude.chunk_delay = 4, 0.2
    await slack.event(
        slack.fake.post_user_message(
            slack.fake.general, "The spooler restarts fine", user=ALICE, thread_ts=header["ts"]
        )
    )
    streaming = await wait_for(
        lambda: [
            m
            for m in slack.fake.thread(slack.fake.general, header["ts"])
            if slack.fake.is_streaming(slack.fake.general, m["ts"])
        ],
        what="the words streaming into the thread",
    )
    await served.kill()
    slack.claude.chunk_chars, slack.claude.chunk_delay = 16, 0.0
    await served.start()

    notice = (
        await wait_for(lambda: in_thread(slack, header["ts"], "fp_retry"), timeout=15, what="a notice")
    )[0]
    assert "interrupted" in shown_text(notice)
    cut = streaming[0]["ts"]
    assert not slack.fake.is_streaming(slack.fake.general, cut)
    assert "cut off when FlowPilot restarted" in shown_text(slack.fake.message(slack.fake.general, cut) or {})
    # Retry answers the message that was with Claude.
    await slack.click(notice, "fp_retry")
    await wait_for(lambda: len(in_thread(slack, header["ts"], "fp_answer_1_0")) >= 2, what="the retried turn")
    assert (await session_row(db, session.id)).lease_owner is None
