"""A turn's words reach the thread while Claude is still writing; its buttons come when the turn is whole; a
turn cut mid-stream is marked cut off, with a Retry that works. Through signed requests and the fakes."""

from __future__ import annotations

import time
from typing import Any

from fakes.anthropic import Hold

from .conftest import ALICE, SlackHarness, action_ids, shown_text, started, wait_for

ANSWER: dict[str, Any] = {
    "message": "The spooler on PRN-2 is holding a stuck job <@U0BOSS>. "
    + "Let's clear it and check the driver. " * 30,
    "questions": [{"id": "q1", "text": "Is the queue empty now?", "options": ["Yes", "No"]}],
    "actions": [{"id": "a1", "text": "Restart the Print Spooler service."}],
    "confidence": 0.6,
}
SHOWN = ANSWER["message"].replace("<", "&lt;").replace(">", "&gt;")  # as mrkdwn shows it, no mention


def _new(slack: SlackHarness, before: set[str], action_id: str) -> list[dict[str, Any]]:
    return [m for m in slack.with_action(action_id) if m["ts"] not in before]


async def test_words_stream_while_claude_writes_and_the_buttons_come_at_the_end(slack: SlackHarness) -> None:
    fake, general = slack.fake, slack.fake.general
    header, first = await started(slack)
    # Claude wrote the first turn at once: it came whole, words and buttons in one message, no stream.
    assert fake.call_count("chat.startStream") == 0
    assert "fp_answer_1_0" in action_ids(first) and "You said" in shown_text(first)
    asked = {m["ts"] for m in slack.with_action("fp_answer_1_0")}
    streams = 0
    hold = Hold()
    slack.claude.queue_turn(ANSWER, chunk_delay=0.01, hold=hold)
    since = time.perf_counter()
    await slack.event(fake.post_user_message(general, "PRN-2 is stuck", user=ALICE, thread_ts=header["ts"]))

    # The first words are in the thread while the fake Anthropic still holds the end of the answer.
    start = (await wait_for(lambda: fake.calls("chat.startStream")[streams:], what="the words"))[0]
    assert start["thread_ts"] == header["ts"] and start["recipient_user_id"] == ALICE
    assert SHOWN.startswith("".join(c["text"] for c in start["chunks"]))
    assert not hold.released and slack.claude.last_request.last_text_at == 0.0
    assert not _new(slack, asked, "fp_answer_1_0")  # no buttons before the turn is whole

    hold.release()
    buttons = (await wait_for(lambda: _new(slack, asked, "fp_answer_1_0"), what="the buttons"))[0]
    assert "fp_done_1" in action_ids(buttons)
    stop = fake.calls("chat.stopStream")[-1]
    words = fake.message(general, stop["ts"]) or {}
    assert words["text"] == SHOWN and not fake.is_streaming(general, stop["ts"])
    assert float(words["ts"]) < float(buttons["ts"])  # the words first, the buttons below them
    assert fake.most_edits_in_one_second(since) <= 1


async def test_without_chat_streaming_one_message_is_edited_at_most_once_a_second_under_429s(
    slack: SlackHarness,
) -> None:
    fake, general = slack.fake, slack.fake.general
    header, _ = await started(slack)
    fake.disable_streaming()
    fake.rate_limit("chat.update", times=2, retry_after=1)
    asked = {m["ts"] for m in slack.with_action("fp_answer_1_0")}
    hold = Hold()
    slack.claude.queue_turn(ANSWER, chunk_delay=0.02, hold=hold)
    since = time.perf_counter()
    await slack.event(fake.post_user_message(general, "PRN-2 is stuck", user=ALICE, thread_ts=header["ts"]))

    posted = await wait_for(
        lambda: [c for c in fake.calls("chat.postMessage") if SHOWN.startswith(c.get("text") or "\0")],
        what="the first words posted",
    )
    assert not hold.released and slack.claude.last_request.last_text_at == 0.0
    hold.release()
    await wait_for(lambda: _new(slack, asked, "fp_answer_1_0"), timeout=30, what="the buttons")
    words = next(m for m in fake.messages(general) if m.get("text") == SHOWN)  # nothing lost to the 429s
    assert len(posted) == 1 and not words.get("blocks")
    assert len(fake.history(general, words["ts"])) > 2  # it grew by edits
    assert fake.most_edits_in_one_second(since) == 1


async def test_a_turn_cut_mid_stream_is_marked_and_retry_brings_the_whole_turn(slack: SlackHarness) -> None:
    fake, general = slack.fake, slack.fake.general
    header, _ = await started(slack)
    asked = {m["ts"] for m in slack.with_action("fp_answer_1_0")}
    slack.claude.queue_cut_stream(ANSWER, after_chars=400, chunk_delay=0.02)  # cut once words show
    await slack.event(fake.post_user_message(general, "PRN-2 is stuck", user=ALICE, thread_ts=header["ts"]))

    retry = (await wait_for(lambda: slack.with_action("fp_retry"), what="the Retry button"))[0]
    stop = fake.calls("chat.stopStream")[-1]
    cut = fake.message(general, stop["ts"]) or {}
    assert cut["text"].endswith("(cut off)_") and SHOWN.startswith(cut["text"].split(" … ")[0])
    assert not _new(slack, asked, "fp_answer_1_0")  # a cut turn offers no buttons

    slack.claude.queue_turn(ANSWER)
    await slack.click(retry, "fp_retry")
    await wait_for(lambda: _new(slack, asked, "fp_answer_1_0"), what="the retried turn's buttons")
    # (Claude answered at once this time: the turn came whole, its words and buttons together.)
    assert any(SHOWN.strip() in shown_text(m) for m in fake.messages(general))
    await wait_for(
        lambda: "fp_retry" not in action_ids(fake.message(general, retry["ts"]) or {}), what="Retry spent"
    )
