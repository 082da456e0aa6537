"""What a command means is the core's: the Teams triage dialog adds evidence as Slack's modal does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import invoke, personal_message
from storage.models import AISession
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import button, card_of

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
PROBLEM = "Users at Contoso cannot sign in to the VPN since this morning"
EVIDENCE = "Event ID 4625 on DC-01\n\n   Certificate on the VPN gateway expired  \n"


async def evidence(teams: Teams) -> list[str]:
    async with teams.db() as db:
        session = (await db.execute(sa.select(AISession))).scalar_one_or_none()
    return [e["text"] for e in (session.evidence_items or [])] if session else []


async def test_evidence_typed_on_several_lines_becomes_one_item_per_line(teams: Teams) -> None:
    fake, url = teams.connector, teams.connector.service_url
    await teams.post(personal_message(PROBLEM, service_url=url))
    header = (await wait_for(lambda: fake.activities(CHAT), what="header"))[0]
    await wait_for(lambda: len(fake.activities(CHAT)) >= 2, what="first turn")
    before = len(await evidence(teams))
    status, body = await teams.post(
        invoke("task/fetch", {"data": button(card_of(header), "Edit triage")["data"]}, service_url=url)
    )
    assert status == 200
    form = body["task"]["value"]["card"]["content"]
    values = {i["id"]: i.get("value", "") for i in form["body"] if "id" in i}
    values["add_evidence"] = EVIDENCE
    await teams.post(
        invoke("task/submit", {"data": {**button(form, "Save")["data"], **values}}, service_url=url)
    )

    async def added() -> list[str]:
        return (await evidence(teams))[before:]

    assert await wait_for(added, what="the evidence") == [
        "Event ID 4625 on DC-01",
        "Certificate on the VPN gateway expired",
    ]
