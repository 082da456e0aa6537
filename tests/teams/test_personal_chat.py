"""A personal-chat session from the first message to the rating, through the real /api/messages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import SentActivity, card_submit, invoke, personal_message
from storage.models import AISession, AISessionStep, SessionHandoff, ThreadBinding
from tests.structured_draft import ISSUE_DRAFT, filed_note
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import _ESCAPE, button, buttons, card_of, card_with, cards_in, texts

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

PROBLEM = "Outlook keeps asking for the password at Contoso on LAPTOP-042"


async def session_row(teams: Teams) -> AISession:
    async with teams.db() as db:
        return (await db.execute(sa.select(AISession))).scalar_one()


async def start_personal(teams: Teams) -> tuple[SentActivity, SentActivity]:
    """Start a session; returns (header activity, first turn activity)."""
    status, _ = await teams.post(personal_message(PROBLEM, service_url=teams.connector.service_url))
    assert status == 202
    sent = await wait_for(
        lambda: cards_in(teams.connector, CHAT) if len(cards_in(teams.connector, CHAT)) >= 2 else None,
        what="header and first turn",
    )
    return sent[0], sent[1]


async def test_personal_chat_from_start_to_rating(teams: Teams) -> None:
    fake = teams.connector
    url = fake.service_url
    header, turn = await start_personal(teams)
    session = await session_row(teams)
    await wait_for(lambda: header.edited, what="header update")
    assert "Contoso" in texts(card_of(header))  # the header card shows the triage, updated in place
    async with teams.db() as db:
        binding = (await db.execute(sa.select(ThreadBinding))).scalar_one()
    assert binding.header_message_id == header.id
    assert binding.extra["conversation"]["conversation_reference"]["conversation"]["id"] == CHAT

    # Answer the first question by button: the turn card is updated to show who answered.
    first_option = buttons(card_of(turn))[0]
    await teams.post(card_submit(first_option["data"], service_url=url, reply_to_id=turn.id))
    await wait_for(lambda: turn.edited, what="turn card updated")
    assert "Ada Lovelace answered" in texts(card_of(turn))

    # A typed reply goes to Claude as the engineer's message, and Claude answers it.
    await teams.post(personal_message("The password prompt appears every 5 minutes", service_url=url))

    async def answered_after_typed() -> bool:
        async with teams.db() as db:
            steps = (await db.execute(sa.select(AISessionStep).order_by(AISessionStep.step_order))).scalars()
            roles = [(s.role, "every 5 minutes" in s.content) for s in steps]
        typed = next((i for i, (_, mine) in enumerate(roles) if mine), None)
        return typed is not None and any(role == "assistant" for role, _ in roles[typed + 1 :])

    await wait_for(answered_after_typed, what="Claude's answer to the typed message")

    # Edit triage: task/fetch opens the form, task/submit applies only what changed.
    status, body = await teams.post(
        invoke("task/fetch", {"data": button(card_of(header), "Edit triage")["data"]}, service_url=url)
    )
    assert status == 200
    form = body["task"]["value"]["card"]["content"]
    assert {i["id"] for i in form["body"]} >= {"client_name", "hypothesis"}
    values = {i["id"]: i.get("value", "") for i in form["body"]}
    values["client_name"] = "Contoso Ltd (EU)"
    submit_data = {**button(form, "Save")["data"], **values}
    status, body = await teams.post(invoke("task/submit", {"data": submit_data}, service_url=url))
    assert status == 200 and body["task"]["type"] == "message"
    await wait_for(lambda: "Contoso Ltd (EU)" in texts(card_of(header)), what="header edited in place")
    session = await session_row(teams)
    assert session.client_name == "Contoso Ltd (EU)"
    assert session.manual_fields == ["client_name"]

    # Typed "resolve": the draft streams with Teams streaming, sequence numbers 1, 2, 3, … then final.
    teams.claude.chunk_delay = 0.03
    await teams.post(personal_message("resolve", service_url=url))
    # (Claude's turns streamed before it: the draft's stream is the one that opens with a "Drafting" line.)
    stream = (
        await wait_for(
            lambda: [s for s in fake.streams(CHAT) if s.finished and s.stream_types[0] == "informative"],
            what="finished stream",
        )
    )[0]
    assert fake.stream_errors == []
    types = stream.stream_types
    assert types[0] == "informative" and types[-1] == "final" and "streaming" in types
    sequences = [c["entities"][0].get("streamSequence") for c in stream.chunks[:-1]]
    assert sequences == list(range(1, len(sequences) + 1))
    assert all(c["entities"][0].get("streamId") == stream.stream_id for c in stream.chunks[1:])
    draft_card = await wait_for(lambda: card_with(fake, CHAT, "Confirm resolution"), what="draft card")

    # Confirm: the session is resolved, the header says so, and a 1–5 rating is offered.
    await teams.post(card_submit(button(card_of(draft_card), "Confirm resolution")["data"], service_url=url))
    rating = await wait_for(lambda: card_with(fake, CHAT, "⭐⭐⭐⭐⭐"), what="rating card")
    assert (await session_row(teams)).status == "resolved"
    assert "Resolved" in texts(card_of(header))
    await teams.post(card_submit(button(card_of(rating), "⭐⭐⭐⭐")["data"], service_url=url))

    async def rated() -> bool:
        return (await session_row(teams)).session_rating == 4

    await wait_for(rated, what="rating stored")
    async with teams.db() as db:
        handoff = (await db.execute(sa.select(SessionHandoff))).scalar_one()
    assert handoff.status == "confirmed" and handoff.root_cause


def _note_of(activity: SentActivity | None) -> str | None:
    """The ticket note a card shows (its monospace block), as Teams displays it."""
    if activity is None or not activity.attachments:
        return None
    for block in card_of(activity).get("body", []):
        if block.get("fontType") == "Monospace":
            return _ESCAPE.sub(r"\1", block["text"])
    return None


async def test_a_draft_is_filed_by_field_and_the_note_shown_before_confirm_is_the_one_filed(
    teams: Teams,
) -> None:
    fake = teams.connector
    url = fake.service_url
    await start_personal(teams)
    teams.claude.queue_turn(ISSUE_DRAFT)
    await teams.post(personal_message("resolve", service_url=url))
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm resolution"), what="draft card")
    before = _note_of(draft)
    assert before is not None and "Root cause:\nRoot cause: the VPN client certificate" in before
    assert "Recommendations:\nRecommendations: monitor certificate expiry" in before and "3." not in before

    confirm = button(card_of(draft), "Confirm resolution")["data"]
    await teams.post(card_submit(confirm, service_url=url))
    after = await wait_for(
        lambda: next(
            (n for a in fake.activities(CHAT) if a is not draft and (n := _note_of(a)) is not None), None
        ),
        what="the ticket note after Confirm",
    )
    stored_note = await filed_note(teams.runtime.db)
    assert before == after == stored_note
