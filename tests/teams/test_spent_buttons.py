"""Buttons that stopped meaning anything go: a confirmed or discarded draft, a given rating, a superseded
header, an answered question — each card is updated in place and carries no live buttons for it."""

from __future__ import annotations

import pytest

from fakes.anthropic import Hold
from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import SentActivity, card_submit, personal_message
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import button, buttons, card_of, card_with, texts
from tests.teams.test_personal_chat import session_row, start_personal

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


def shown(activity: SentActivity) -> str:
    """What a message says, as text or as a card."""
    return (activity.text or "") + (texts(card_of(activity)) if activity.attachments else "")


def titles(activity: SentActivity) -> list[str]:
    return [b["title"] for b in buttons(card_of(activity))]


async def test_status_supersedes_the_old_header_and_confirm_and_rating_lose_their_buttons(
    teams: Teams,
) -> None:
    fake = teams.connector
    url = fake.service_url
    header, turn = await start_personal(teams)

    # An answered question shows who answered, and its options are gone; the other question stays open.
    first, second = (
        q for q in buttons(card_of(turn)) if q["data"]["fp"] == "answer" and q["data"]["option"] == 0
    )
    await teams.post(card_submit(first["data"], service_url=url, reply_to_id=turn.id))
    await wait_for(lambda: "answered" in texts(card_of(turn)), what="turn card updated")
    answers = [b["data"] for b in buttons(card_of(turn)) if b["data"]["fp"] == "answer"]
    assert {a["qid"] for a in answers} == {second["data"]["qid"]}

    # `status` posts a new header; the old one keeps its title but loses its status and buttons.
    before = len(fake.activities(CHAT))
    await teams.post(personal_message("status", service_url=url))
    new_header = await wait_for(
        lambda: next((a for a in fake.activities(CHAT)[before:] if "Resolve" in titles(a)), None),
        what="the new header",
    )
    await wait_for(lambda: titles(header) == [], what="the old header without buttons")
    assert "Active" not in texts(card_of(header)) and "moved below" in texts(card_of(header))
    assert {"Resolve", "Escalate", "Pause"} <= set(titles(new_header))

    # Confirm: the draft card says who confirmed it, with no Confirm · Edit · Discard left.
    await teams.post(personal_message("resolve", service_url=url))
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm resolution"), what="draft card")
    await teams.post(card_submit(button(card_of(draft), "Confirm resolution")["data"], service_url=url))
    rating = await wait_for(lambda: card_with(fake, CHAT, "⭐⭐⭐⭐⭐"), what="rating card")
    await wait_for(lambda: titles(draft) == [], what="the draft card without buttons")
    assert "Ada Lovelace confirmed this resolution" in texts(card_of(draft))
    # The resolved session's current header has no session buttons; the superseded one still none.
    await wait_for(lambda: "Resolved" in texts(card_of(new_header)), what="header resolved")
    assert titles(new_header) == [] and titles(header) == []

    # Rate: the rating card shows the rating given instead of five live buttons.
    await teams.post(card_submit(button(card_of(rating), "⭐⭐⭐⭐")["data"], service_url=url))
    await wait_for(lambda: titles(rating) == [], what="the rating card without buttons")
    assert "rated this session 4/5" in texts(card_of(rating))
    assert (await session_row(teams)).session_rating == 4


async def test_a_discarded_draft_loses_its_buttons(teams: Teams) -> None:
    fake = teams.connector
    url = fake.service_url
    await start_personal(teams)
    await teams.post(personal_message("resolve", service_url=url))
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm resolution"), what="draft card")
    await teams.post(card_submit(button(card_of(draft), "Discard")["data"], service_url=url))
    await wait_for(lambda: titles(draft) == [], what="the draft card without buttons")
    assert "discarded this draft" in texts(card_of(draft))
    assert (await session_row(teams)).status == "active"


async def test_a_discard_that_waits_for_a_turn_keeps_the_draft_buttons_until_it_is_done(teams: Teams) -> None:
    """Discard pressed while Claude answers a message: "this one is next" is not the discard itself, so the
    draft card keeps Confirm · Edit · Discard until the discard has happened."""
    fake = teams.connector
    url = fake.service_url
    await start_personal(teams)
    await teams.post(personal_message("resolve", service_url=url))
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm resolution"), what="draft card")
    hold = Hold()
    teams.claude.queue_turn(
        {"message": "Try clearing the queue first.", "confidence": 0.5}, chunk_delay=0.01, hold=hold
    )
    await teams.post(personal_message("One more thing: the queue is stuck again", service_url=url))
    await wait_for(hold.waiting.is_set, what="Claude answering the message")
    await teams.post(card_submit(button(card_of(draft), "Discard")["data"], service_url=url))
    await wait_for(lambda: any("this one is next" in shown(a) for a in fake.activities(CHAT)), what="queued")
    assert "Discard" in titles(draft) and "discarded" not in texts(card_of(draft))

    hold.release()
    await wait_for(lambda: titles(draft) == [], what="the draft card without buttons")
    assert "discarded this draft" in texts(card_of(draft))
