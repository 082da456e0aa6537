"""Escalation to a personal chat, de-duplication, the stream time limit, errors, outside changes and pacing."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

import adapters.teams.app as teams_app
from adapters.teams import messages as text
from adapters.teams.delivery import Limits
from adapters.teams.streaming import Pace
from bot.commands import Actor, EditTriage
from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import (
    DEFAULT_TENANT_ID,
    DEFAULT_USER_AAD_ID,
    SentActivity,
    card_submit,
    invoke,
    new_activity_id,
    personal_message,
    teams_member,
)
from storage.models import AISession, AISessionStep
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import button, card_of, card_with, cards_in, texts

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
PROBLEM = "Site-to-site VPN to the Contoso branch drops every hour on FW-01"
BOB = teams_member(
    user_id="29:bob-teams-id", name="Bob Builder", aad_object_id="b0b00000-aaaa-4bbb-8ccc-000000000b0b"
)


def use_timing(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    current = teams_app.TIMING
    monkeypatch.setattr(teams_app, "TIMING", teams_app.Timing(**{**current.__dict__, **changes}))


async def session_row(teams: Teams) -> AISession:
    async with teams.db() as db:
        return (await db.execute(sa.select(AISession))).scalar_one()


async def start(teams: Teams) -> tuple[SentActivity, SentActivity]:
    await teams.post(personal_message(PROBLEM, service_url=teams.connector.service_url))
    sent = await wait_for(
        lambda: cards_in(teams.connector, CHAT) if len(cards_in(teams.connector, CHAT)) >= 2 else None,
        what="header and first turn",
    )
    await wait_for(lambda: sent[0].edited, what="header filled in")
    return sent[0], sent[1]


async def test_escalation_reaches_the_engineer_in_a_personal_chat_and_take_over_moves_the_session(
    teams: Teams,
) -> None:
    fake = teams.connector
    url = fake.service_url
    header, _ = await start(teams)
    fake.add_member(CHAT, BOB)

    mention = f"<at>{BOB['name']}</at>"
    typed = personal_message(f"escalate {mention} needs vendor access to FW-01", service_url=url)
    typed["entities"].insert(
        0, {"type": "mention", "text": mention, "mentioned": {"id": BOB["id"], "name": BOB["name"]}}
    )
    await teams.post(typed)
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm escalation"), what="escalation draft")
    assert "Escalating to **Bob Builder**" in texts(card_of(draft))
    confirm = button(card_of(draft), "Confirm escalation")["data"]
    assert confirm["to"] == BOB["aadObjectId"]  # Teams' member id became the Entra object id
    await teams.post(card_submit({**confirm, "reason": "needs vendor access to FW-01"}, service_url=url))

    [created] = await wait_for(lambda: fake.created_conversations, what="a chat opened with Bob")
    assert created["request"]["members"] == [{"id": BOB["aadObjectId"]}]
    bob_chat = created["response"]["id"]
    package = await wait_for(lambda: card_with(fake, bob_chat, "Take over"), what="package card")
    assert "needs vendor access to FW-01" in texts(card_of(package))  # the reason
    assert "Ada Lovelace escalated a session to you" in texts(card_of(package))
    assert (await session_row(teams)).status == "escalated"
    await wait_for(lambda: "Escalated" in texts(card_of(header)), what="Ada's header shows it")
    assert "Bob Builder" in texts(card_of(header))

    take_over = card_submit(
        button(card_of(package), "Take over")["data"],
        service_url=url,
        conversation_id=bob_chat,
        user_id=BOB["id"],
        user_name=BOB["name"],
        aad_object_id=BOB["aadObjectId"],
    )
    await teams.post(take_over)

    async def active() -> bool:
        return (await session_row(teams)).status == "active"

    await wait_for(active, what="session active again")
    # Bob's chat now carries the session with its own header, and Ada's header follows.
    bob_header = await wait_for(lambda: card_with(fake, bob_chat, "Resolve"), what="Bob's header")
    assert PROBLEM[:20] in texts(card_of(bob_header))
    await wait_for(lambda: "Active" in texts(card_of(header)), what="Ada's header updated")


async def test_an_escalation_edited_in_the_dialog_still_goes_to_the_named_engineer(teams: Teams) -> None:
    fake = teams.connector
    url = fake.service_url
    header, _ = await start(teams)
    fake.add_member(CHAT, BOB)
    mention = f"<at>{BOB['name']}</at>"
    typed = personal_message(f"escalate {mention} needs vendor access", service_url=url)
    typed["entities"].insert(
        0, {"type": "mention", "text": mention, "mentioned": {"id": BOB["id"], "name": BOB["name"]}}
    )
    await teams.post(typed)
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm escalation"), what="escalation draft")

    # Edit draft opens the dialog; its Confirm escalation sends the edited sections.
    edit = button(card_of(draft), "Edit draft")["data"]
    status, body = await teams.post(invoke("task/fetch", {"data": edit}, service_url=url))
    assert status == 200
    form = body["task"]["value"]["card"]["content"]
    assert "Escalating to **Bob Builder**" in texts(form)
    values = {i["id"]: i.get("value", "") for i in form["body"] if "id" in i}
    values["recommendations"] = "Open FW-01's management port for the vendor."
    values["reason"] = "vendor access"
    submit_data = {**button(form, "Confirm escalation")["data"], **values}
    status, body = await teams.post(invoke("task/submit", {"data": submit_data}, service_url=url))
    assert status == 200 and body["task"]["type"] == "message"

    [created] = await wait_for(lambda: fake.created_conversations, what="a chat opened with Bob")
    assert created["request"]["members"] == [{"id": BOB["aadObjectId"]}]
    package = await wait_for(lambda: card_with(fake, created["response"]["id"], "Take over"), what="package")
    assert "Open FW-01's management port for the vendor." in texts(card_of(package))
    assert (await session_row(teams)).status == "escalated"
    await wait_for(lambda: "Bob Builder" in texts(card_of(header)), what="header names Bob")


async def test_a_redelivered_activity_is_processed_once(teams: Teams) -> None:
    fake = teams.connector
    activity = personal_message(PROBLEM, service_url=fake.service_url, activity_id=new_activity_id())
    statuses = await asyncio.gather(teams.post(activity), teams.post(activity))
    assert [s for s, _ in statuses] == [202, 202]
    await wait_for(lambda: len(fake.activities(CHAT)) >= 2, what="first turn")
    await asyncio.sleep(0.5)  # room for a second run, had there been one
    async with teams.db() as db:
        steps = (await db.execute(sa.select(AISessionStep.content).where(AISessionStep.role == "user"))).all()
        count = (await db.execute(sa.select(sa.func.count()).select_from(AISession))).scalar_one()
    assert count == 1
    assert sum(PROBLEM in content for (content,) in steps) == 1
    assert len(teams.claude.requests) == 1


@pytest.fixture
def short_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    use_timing(monkeypatch, pace=Pace(interval=0.05, stream_limit=0.25))


async def test_a_long_draft_ends_the_teams_stream_in_time_and_continues_in_a_card(
    short_streams: None, teams: Teams
) -> None:
    fake = teams.connector
    fake.stream_time_limit = 0.6  # Teams' two minutes, scaled like our own limit
    await start(teams)
    recommendations = "Replace the tunnel's DPD timer on FW-01 and move rekeying off the hour. " * 6
    teams.claude.queue_turn(
        {
            "root_cause": "IKE phase 2 lifetime mismatch between FW-01 and the branch.",
            "steps_taken": ["Compared lifetimes on both ends.", "Matched them to 3600 s."],
            "recommendations": recommendations,
        }
    )
    teams.claude.chunk_chars = 12
    teams.claude.chunk_delay = 0.02
    await teams.post(personal_message("resolve", service_url=fake.service_url))
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm resolution"), what="draft card")

    stream = fake.streams(CHAT)[-1]  # (the first turn's words streamed before it)
    assert fake.stream_errors == []  # never past Teams' limit
    assert stream.finished and text.DRAFT_CONTINUES in (stream.final or {}).get("text", "")
    rest = next(a for a in fake.activities(CHAT) if a.attachments and "Drafting" in texts(card_of(a)))
    assert stream.final is not None
    streamed = stream.final["text"].replace(text.DRAFT_CONTINUES, "").strip()
    assert (streamed + texts(card_of(rest))).count("move rekeying off the hour") >= 6
    assert "move rekeying off the hour" in texts(card_of(draft))


async def test_a_failed_turn_shows_a_retry_card_that_replays_the_message(teams: Teams) -> None:
    fake = teams.connector
    fake.fail("/activities", 500, method="POST")  # the help card cannot be sent: the turn fails
    await teams.post(personal_message("help", service_url=fake.service_url))
    retry = await wait_for(lambda: card_with(fake, CHAT, "Retry"), what="Retry card")
    assert text.SOMETHING_WENT_WRONG in texts(card_of(retry))
    await teams.post(card_submit(button(card_of(retry), "Retry")["data"], service_url=fake.service_url))
    await wait_for(
        lambda: any(
            "escalate @Name reason" in texts(card_of(a)) for a in fake.activities(CHAT) if a.attachments
        ),
        what="help after Retry",
    )


async def test_a_change_made_through_the_api_updates_the_header_card(teams: Teams) -> None:
    header, _ = await start(teams)
    session = await session_row(teams)
    versions = len(header.versions)
    actor = Actor("teams", DEFAULT_TENANT_ID, DEFAULT_USER_AAD_ID, "Ada Lovelace", via="api")
    edit = EditTriage(actor=actor, session_id=session.id, changes={"client_name": "Fabrikam Retail"})
    async for _event in teams.runtime.handler.handle(edit):
        pass
    await wait_for(lambda: "Fabrikam Retail" in texts(card_of(header)), what="header re-rendered")
    assert len(header.versions) > versions


@pytest.fixture
def real_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_timing(monkeypatch, limits=Limits(base_delay=0.01, max_delay=2.0))  # the default pace


async def test_a_burst_stays_under_the_teams_throttle(real_pacing: None, teams: Teams) -> None:
    fake = teams.connector
    fake.max_ops_per_second = 7
    for _ in range(10):
        await teams.post(personal_message("help", service_url=fake.service_url))
    await wait_for(lambda: len(fake.activities(CHAT)) == 10, timeout=10, what="ten help cards")
    assert [r.status for r in fake.requests if r.status == 429] == []


async def test_an_engineer_picked_in_the_card_keeps_their_name(teams: Teams) -> None:
    fake = teams.connector
    url = fake.service_url
    header, _ = await start(teams)
    fake.add_member(CHAT, BOB)
    await teams.post(card_submit(button(card_of(header), "Escalate")["data"], service_url=url))
    draft = await wait_for(lambda: card_with(fake, CHAT, "Confirm escalation"), what="escalation draft")
    confirm = button(card_of(draft), "Confirm escalation")["data"]
    # The people picker answers with the Entra object id only.
    await teams.post(
        card_submit({**confirm, "to_pick": BOB["aadObjectId"], "reason": "vendor"}, service_url=url)
    )
    await wait_for(lambda: fake.created_conversations, what="a chat opened with Bob")
    await wait_for(lambda: "Bob Builder" in texts(card_of(header)), what="header names Bob")
    sent = await wait_for(
        lambda: [a for a in fake.activities(CHAT) if a.attachments and "sent to" in texts(card_of(a))],
        what="confirmation",
    )
    assert "Bob Builder" in texts(card_of(sent[0]))
