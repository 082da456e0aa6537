"""The handoff draft shows its first words at once, then at most one edit per second per message."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.streaming import DraftWriter
from bot.handoff import render_draft
from bot.schemas import HandoffDraft
from fakes.slack import FakeSlack

from .conftest import ALICE, SlackHarness, started, wait_for


def _draft() -> dict[str, Any]:
    steps = [f"Checked item {n}: the result is noted and nothing unusual was found." for n in range(30)]
    return {
        "root_cause": "A corrupt spool job blocked the queue.",
        "steps_taken": steps,
        "recommendations": "End.",
    }


async def test_draft_shows_first_words_at_once_then_one_edit_per_second(slack: SlackHarness) -> None:
    header, _ = await started(slack)
    fake, draft = slack.fake, _draft()
    slack.claude.chunk_chars = 16
    slack.claude.chunk_delay = 0.02  # about 3 s of streaming
    slack.claude.queue_turn(draft)
    since = time.perf_counter()
    await slack.click(fake.message(fake.general, header["ts"]) or {}, "fp_resolve")
    await wait_for(lambda: slack.with_action("fp_confirm"), timeout=30, what="draft controls")

    started_at, start = fake.timed_calls("chat.startStream")[-1]
    stopped_at, stop = fake.timed_calls("chat.stopStream")[-1]
    assert "Root cause" in "".join(c.get("text", "") for c in start["chunks"])
    assert stopped_at - started_at > 2.0  # the first words were visible long before the draft was done
    appends = [at for at, call in fake.timed_calls("chat.appendStream") if at >= since]
    assert len(appends) >= 2  # and it grew in between
    assert fake.most_edits_in_one_second(since) == 1
    # What streamed is the draft's fields under their headings, whole.
    assert (fake.message(fake.general, stop["ts"]) or {})["text"] == render_draft(
        HandoffDraft.model_validate(draft).fields()
    )


async def test_edit_cadence_holds_under_429s(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    fake_slack.rate_limit("chat.appendStream", times=2, retry_after=1)
    question = fake_slack.post_user_message(fake_slack.general, "help", user=ALICE)
    writer = DraftWriter(
        client, channel=fake_slack.general, thread_ts=question["ts"], recipient_user_id=ALICE,
        recipient_team_id=fake_slack.team_id,
    )  # fmt: skip
    since = time.perf_counter()
    text = "".join(f"Part {i} of the draft. " for i in range(150))
    for i in range(0, len(text), 20):
        await writer.add(text[i : i + 20])
        await asyncio.sleep(0.02)
    await writer.finish()
    assert fake_slack.most_edits_in_one_second(since) == 1
    assert (fake_slack.message(fake_slack.general, writer.ts or "") or {})["text"] == text
