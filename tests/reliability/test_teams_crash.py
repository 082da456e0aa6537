"""kill -9 of `flowpilot serve` while a turn's words stream into Teams: after a restart the words shown end
"… (cut off)" (the streamed message in a personal chat, the card in a channel), the engineer is told with
Retry, and Retry gets Claude's answer. A real subprocess, the fake connector and the fake Anthropic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.harness import flowpilot
from fakes.anthropic import FakeAnthropic, Hold
from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import FakeConnector, SentActivity, card_submit, channel_message, personal_message
from fakes.slack import FakeSlack
from tests.teams.conftest import wait_for
from tests.teams.helpers import button, buttons, card_of, card_with, cards_in, texts

from .conftest import Served, serve_env, session_row

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

ANSWER: dict[str, Any] = {
    "message": "The spooler on PRN-2 is holding a stuck job. " + "Let's clear it and check the driver. " * 20,
    "questions": [{"id": "q1", "text": "Is the queue empty now?", "options": ["Queue empty", "Still stuck"]}],
    "actions": [{"id": "a1", "text": "Restart the Print Spooler service."}],
    "confidence": 0.6,
}
WORDS = ANSWER["message"]
CUT_OFF = "… *(cut off)*"


@dataclass
class TeamsServed(Served):
    """`flowpilot serve` with its Teams endpoint, posting to this test's fake connector."""

    connector: FakeConnector

    async def post(self, activity: dict[str, Any]) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.server.url}/api/messages", json=activity) as r:
                assert r.status < 300, await r.text()


@pytest.fixture
async def served_teams(
    db_url: str,
    db: async_sessionmaker[AsyncSession],
    fake_claude: FakeAnthropic,
    fake_slack: FakeSlack,
    connector: FakeConnector,
) -> AsyncIterator[TeamsServed]:
    # The fake connector is on this machine: anonymous local mode, as with the Agents Playground.
    env = {**serve_env(db_url, fake_claude, fake_slack), "FLOWPILOT_TEAMS_ANONYMOUS": "true"}
    server = flowpilot(env, name="reliability-teams")
    served = TeamsServed(server, None, db, connector)  # type: ignore[arg-type]  # no Slack harness: Teams only
    await served.start()
    try:
        yield served
    finally:
        await server.stop()
        if server.log:
            server.log.unlink(missing_ok=True)


async def _words_noted(served: TeamsServed) -> bool:
    """The running turn's record says where its words show in Teams (what a restart marks)."""
    row = await session_row(served.db)
    return bool(row.turn_in_flight and (row.turn_in_flight.get("teams") or {}).get("text"))


async def _crash_mid_words(
    served: TeamsServed,
    claude: FakeAnthropic,
    message: dict[str, Any],
    shown: Any,
    while_down: Callable[[], None] = lambda: None,
) -> None:
    """Claude's next words stream slowly (the fake holds their end) when the process is killed; `while_down`
    runs before the restart."""
    hold = Hold()
    claude.queue_turn(ANSWER, chunk_delay=0.01, hold=hold)
    await served.post(message)
    await wait_for(shown, what="the words on screen")
    await wait_for(lambda: _words_noted(served), what="where the words show, noted with the turn")
    await served.kill()
    hold.release()
    while_down()
    await served.start()


def _retry_card(fake: FakeConnector, conversation: str) -> SentActivity:
    card = card_with(fake, conversation, "Retry")
    assert card is not None
    return card


async def test_kill_9_while_words_stream_in_a_personal_chat_ends_them_cut_off(
    served_teams: TeamsServed, fake_claude: FakeAnthropic
) -> None:
    fake, url, served = served_teams.connector, served_teams.connector.service_url, served_teams
    await served.post(personal_message("The printer PRN-2 is stuck at Contoso", service_url=url))
    await wait_for(lambda: len(cards_in(fake, CHAT)) >= 2, what="header and first turn")

    def streaming() -> list[Any]:
        return [s for s in fake.streams(CHAT) if s.streamed_text and not s.finished]

    left: list[Any] = []

    def left_streaming() -> None:  # looked at while the process is down: the restart may mark it at once
        stream = fake.streams(CHAT)[-1]
        assert WORDS.startswith(stream.streamed_text) and not stream.finished
        left.append(stream)

    await _crash_mid_words(
        served, fake_claude, personal_message("PRN-2 is stuck", service_url=url), streaming, left_streaming
    )
    stream = left[0]

    # Nobody sends anything: the restarted process ends the streamed words "… (cut off)" and offers Retry.
    notice = await wait_for(lambda: card_with(fake, CHAT, "Retry"), timeout=20, what="the notice with Retry")
    assert "interrupted" in texts(card_of(notice))
    assert stream.finished, "the streamed message is no longer left streaming"
    final = str((stream.final or {}).get("text"))
    assert final.endswith(CUT_OFF) and final.startswith(WORDS[:20])

    # Retry gets Claude's answer, with its buttons.
    before = len(cards_in(fake, CHAT))
    await served.post(card_submit(button(card_of(_retry_card(fake, CHAT)), "Retry")["data"], service_url=url))
    await wait_for(
        lambda: any(buttons(card_of(a)) for a in cards_in(fake, CHAT)[before:]), what="the retried turn"
    )

    async def released() -> bool:  # the lease goes just after the turn's card
        return (await session_row(served.db)).lease_owner is None

    await wait_for(released, what="nothing left half-way")


async def test_kill_9_while_words_stream_in_a_channel_card_ends_the_card_cut_off(
    served_teams: TeamsServed, fake_claude: FakeAnthropic
) -> None:
    fake, url, served = served_teams.connector, served_teams.connector.service_url, served_teams
    incoming = channel_message("The printer PRN-2 is stuck at Contoso", service_url=url)
    thread = incoming["conversation"]["id"]
    await served.post(incoming)
    await wait_for(lambda: len(cards_in(fake, thread)) >= 2, what="header and first turn")
    posted = len(cards_in(fake, thread))

    def words_card() -> list[SentActivity]:
        return [a for a in cards_in(fake, thread)[posted:] if "spooler on PRN-2" in texts(card_of(a))]

    reply = channel_message("PRN-2 is stuck", service_url=url, reply_to_id=incoming["id"])

    def left_whole() -> None:  # looked at while the process is down: the restart may mark it at once
        assert not texts(card_of(words_card()[0])).endswith("(cut off)")

    await _crash_mid_words(served, fake_claude, reply, words_card, left_whole)
    card = words_card()[0]

    notice = await wait_for(
        lambda: card_with(fake, thread, "Retry"), timeout=20, what="the notice with Retry"
    )
    assert "interrupted" in texts(card_of(notice))
    shown = texts(card_of(card))
    assert shown.endswith(CUT_OFF) and shown.startswith("The spooler on PRN-2"), shown


async def test_kill_9_while_a_draft_streams_in_a_personal_chat_ends_it_cut_off_and_retry_drafts_again(
    served_teams: TeamsServed, fake_claude: FakeAnthropic
) -> None:
    fake, url, served = served_teams.connector, served_teams.connector.service_url, served_teams
    await served.post(personal_message("The printer PRN-2 is stuck at Contoso", service_url=url))
    await wait_for(lambda: len(cards_in(fake, CHAT)) >= 2, what="header and first turn")
    # The resolution draft streams slowly when the process dies.
    fake_claude.chunk_chars, fake_claude.chunk_delay = 4, 0.2
    await served.post(personal_message("resolve", service_url=url))
    await wait_for(
        lambda: [s for s in fake.streams(CHAT) if s.streamed_text and not s.finished],
        what="the draft streaming",
    )
    await wait_for(lambda: _words_noted(served), what="where the draft shows, noted with the turn")
    await served.kill()
    fake_claude.chunk_chars, fake_claude.chunk_delay = 16, 0.0
    await served.start()

    notice = await wait_for(lambda: card_with(fake, CHAT, "Retry"), timeout=20, what="the notice with Retry")
    assert "draft was cut off" in texts(card_of(notice))
    stream = fake.streams(CHAT)[-1]
    assert stream.finished and str((stream.final or {}).get("text")).endswith(CUT_OFF)

    # Retry writes the draft again, whole: its Confirm card comes.
    await served.post(card_submit(button(card_of(notice), "Retry")["data"], service_url=url))
    await wait_for(lambda: card_with(fake, CHAT, "Confirm resolution"), what="the draft written again")


async def test_words_of_a_stream_teams_already_ended_come_back_cut_off_in_a_card(
    served_teams: TeamsServed, fake_claude: FakeAnthropic
) -> None:
    fake, url, served = served_teams.connector, served_teams.connector.service_url, served_teams
    await served.post(personal_message("The printer PRN-2 is stuck at Contoso", service_url=url))
    await wait_for(lambda: len(cards_in(fake, CHAT)) >= 2, what="header and first turn")
    posted = len(cards_in(fake, CHAT))

    def streaming() -> list[Any]:
        return [s for s in fake.streams(CHAT) if s.streamed_text and not s.finished]

    # The restart comes after Teams has ended the stream itself (its time limit): it refuses the final message.
    fake.stream_time_limit = 0.0
    await _crash_mid_words(
        served, fake_claude, personal_message("PRN-2 is stuck", service_url=url), streaming
    )
    shown = fake.streams(CHAT)[-1].streamed_text

    await wait_for(lambda: card_with(fake, CHAT, "Retry"), timeout=20, what="the notice with Retry")
    cut = [texts(card_of(a)) for a in cards_in(fake, CHAT)[posted:] if CUT_OFF in texts(card_of(a))]
    assert cut and cut[0].startswith(shown[:40]), "the words shown are kept, marked cut off, in a card"
