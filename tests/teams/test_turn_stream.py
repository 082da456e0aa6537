"""A turn's words reach Teams while Claude is still writing (Teams streaming in a personal chat, one card
updated in a channel); the question buttons come when the turn is whole; a turn cut mid-stream is marked cut
off, with a Retry that works. Through /api/messages and the fakes."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.anthropic import Hold
from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import SentActivity, card_submit, channel_message, personal_message
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import button, buttons, card_of, card_with, cards_in, texts
from tests.teams.test_personal_chat import start_personal

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

ANSWER: dict[str, Any] = {
    "message": "The spooler on PRN-2 is holding a stuck job. " + "Let's clear it and check the driver. " * 20,
    "questions": [{"id": "q1", "text": "Is the queue empty now?", "options": ["Queue empty", "Still stuck"]}],
    "actions": [{"id": "a1", "text": "Restart the Print Spooler service."}],
    "confidence": 0.6,
}
WORDS = ANSWER["message"]


def _answered_by_buttons(fake: Any, conversation: str, before: int) -> SentActivity | None:
    return next(
        (
            a
            for a in cards_in(fake, conversation)[before:]
            if "Queue empty" in [b["title"] for b in buttons(card_of(a))]
        ),
        None,
    )


async def test_personal_chat_streams_the_words_then_posts_the_question_card(teams: Teams) -> None:
    fake, url = teams.connector, teams.connector.service_url
    _, first = await start_personal(teams)
    # Claude wrote the first turn at once: it came whole, words and buttons in one card, no stream.
    assert fake.streams(CHAT) == [] and "You said" in texts(card_of(first)) and buttons(card_of(first))
    streams, posted = 0, len(cards_in(fake, CHAT))
    hold = Hold()
    teams.claude.queue_turn(ANSWER, chunk_delay=0.01, hold=hold)
    await teams.post(personal_message("PRN-2 is stuck", service_url=url))

    # The first words are in the chat while the fake Anthropic still holds the end of the answer.
    stream = (
        await wait_for(lambda: [s for s in fake.streams(CHAT)[streams:] if s.streamed_text], what="words")
    )[0]
    assert WORDS.startswith(stream.streamed_text) and stream.stream_types[0] == "streaming"
    assert not hold.released and teams.claude.last_request.last_text_at == 0.0
    assert _answered_by_buttons(fake, CHAT, posted) is None  # no buttons before the turn is whole

    hold.release()
    card = await wait_for(lambda: _answered_by_buttons(fake, CHAT, posted), what="the question card")
    assert stream.finished and (stream.final or {}).get("text") == WORDS
    assert "clear it" not in texts(card_of(card))  # the words are not repeated in the card
    assert fake.stream_errors == []

    # The question card is the turn's: answering it shows who answered, its buttons gone.
    await teams.post(card_submit(button(card_of(card), "Queue empty")["data"], service_url=url))
    await wait_for(lambda: "answered" in texts(card_of(card)), what="the answer shown")
    assert "Queue empty" not in [b["title"] for b in buttons(card_of(card))]


async def test_a_channel_gets_one_card_updated_at_the_pace_then_it_carries_the_buttons(teams: Teams) -> None:
    fake, url = teams.connector, teams.connector.service_url
    incoming = channel_message("The printer PRN-2 is stuck at Contoso", service_url=url)
    thread = incoming["conversation"]["id"]
    await teams.post(incoming)
    await wait_for(lambda: card_with(fake, thread, "Done"), what="the first turn")
    posted = len(cards_in(fake, thread))
    fake.fail("/activities/", 429, retry_after=0.1, method="PUT")  # a throttled update loses nothing
    hold = Hold()
    teams.claude.queue_turn(ANSWER, chunk_delay=0.01, hold=hold)
    await teams.post(channel_message("PRN-2 is stuck", service_url=url, reply_to_id=incoming["id"]))

    words = await wait_for(
        lambda: next(
            (a for a in cards_in(fake, thread)[posted:] if "spooler on PRN-2" in texts(card_of(a))), None
        ),
        what="the words card",
    )
    assert not hold.released and teams.claude.last_request.last_text_at == 0.0
    assert buttons(card_of(words)) == []
    hold.release()
    await wait_for(lambda: "Queue empty" in [b["title"] for b in buttons(card_of(words))], what="buttons")
    assert WORDS.strip() in texts(card_of(words)).replace("\n", " ")
    # The test's pace is one update per 0.05 s (1 s in production); 0.04 leaves room for network jitter.
    assert words.edited and words.most_versions_within(0.04) == 1
    assert fake.streams(thread) == [] and any(r.status == 429 for r in fake.requests)


async def test_a_turn_cut_mid_stream_is_marked_and_retry_brings_the_whole_turn(teams: Teams) -> None:
    fake, url = teams.connector, teams.connector.service_url
    await start_personal(teams)
    streams, posted = len(fake.streams(CHAT)), len(cards_in(fake, CHAT))
    teams.claude.queue_cut_stream(ANSWER, after_chars=400, chunk_delay=0.02)  # cut once words show
    await teams.post(personal_message("PRN-2 is stuck", service_url=url))

    retry = await wait_for(lambda: card_with(fake, CHAT, "Retry"), what="the Retry card")
    cut = fake.streams(CHAT)[streams]
    final = (cut.final or {}).get("text", "")
    assert final.endswith("*(cut off)*") and WORDS.startswith(final.split(" … ")[0])
    assert _answered_by_buttons(fake, CHAT, posted) is None  # a cut turn offers no buttons

    teams.claude.queue_turn(ANSWER)
    await teams.post(card_submit(button(card_of(retry), "Retry")["data"], service_url=url))
    again = await wait_for(
        lambda: _answered_by_buttons(fake, CHAT, posted), what="the retried turn's buttons"
    )
    # (Claude answered at once this time: the turn came whole, its words and buttons in one card.)
    assert WORDS.strip() in texts(card_of(again)).replace("\n", " ")
