"""A turn left unfinished by a process that died: the engineer is told in the Teams chat, unprompted, with
a Retry that gets Claude's answer."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import card_submit, personal_message
from storage.models import AISession
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import button, card_of, card_with, texts

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


async def test_a_turn_a_dead_process_left_is_announced_with_a_retry_that_answers_it(teams: Teams) -> None:
    url = teams.connector.service_url
    await teams.post(personal_message("VPN drops every 30 minutes at Fabrikam", service_url=url))
    await wait_for(lambda: len(teams.connector.activities(CHAT)) >= 2, what="header and first turn")

    async def idle() -> bool:
        async with teams.db() as db:
            return (await db.execute(sa.select(AISession.lease_owner))).scalar_one() is None

    await wait_for(idle, what="the first turn to end")
    async with teams.db() as db, db.begin():
        session = (await db.execute(sa.select(AISession))).scalar_one()
        # As another process would leave it when killed while Claude thought about a saved message.
        await db.execute(
            sa.update(AISession)
            .where(AISession.id == session.id)
            .values(
                lease_owner=uuid.uuid4(),
                lease_expires_at=sa.func.now() - sa.text("interval '1 second'"),
                turn_in_flight={"command": "UserMessage"},
                awaiting_reply=True,
            )
        )
    calls = len(teams.claude.requests)

    # The sweep leaves a session alone while a turn of this process still holds it (the first turn may
    # still be finishing its rendering), so it is asked until it has taken this one over.
    assert await wait_for(teams.runtime.recover, what="the unfinished turn taken over") == 1
    notice = await wait_for(lambda: card_with(teams.connector, CHAT, "Retry"), what="the interrupted notice")
    assert "interrupted" in texts(card_of(notice))
    assert await teams.runtime.recover() == 0, "told once"
    async with teams.db() as db:
        row = await db.get(AISession, session.id)
        assert row is not None and row.lease_owner is None and row.turn_in_flight is None

    sent = len(teams.connector.activities(CHAT))
    await teams.post(
        card_submit(button(card_of(notice), "Retry")["data"], service_url=url, reply_to_id=notice.id)
    )
    await wait_for(lambda: len(teams.claude.requests) > calls, what="Claude asked again")
    answered = await wait_for(
        lambda: [a for a in teams.connector.activities(CHAT)[sent:] if a.attachments],
        what="Claude's answer in the chat",
    )
    assert "interrupted" not in texts(card_of(answered[0]))
    async with teams.db() as db:
        row = await db.get(AISession, session.id)
        assert row is not None and not row.awaiting_reply and row.status == "active"
