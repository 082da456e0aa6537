"""The Teams header card shows the category and confidence in words people use, not slugs."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import personal_message
from tests.teams.conftest import Teams, wait_for
from tests.teams.helpers import card_of

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


def facts(card: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for b in card["body"] if b.get("type") == "FactSet" for f in b["facts"]}


async def test_the_header_card_shows_microsoft_365_and_guided_85(teams: Teams) -> None:
    teams.claude.queue_turn(
        {
            "message": "Let's look at the mailbox first.",
            "triage_update": {"issue_category": "m365", "hypothesis": "Stale token"},
            "confidence": 0.85,
        }
    )
    await teams.post(
        personal_message("Outlook asks for the password", service_url=teams.connector.service_url)
    )
    header = await wait_for(
        lambda: next(
            (
                a
                for a in teams.connector.activities(CHAT)
                if a.attachments and facts(card_of(a)).get("Category", "—") != "—"
            ),
            None,
        ),
        what="the header with the first triage",
    )
    shown = facts(card_of(header))
    assert shown["Category"] == "Microsoft 365" and shown["Confidence"] == "Guided · 85%", shown
