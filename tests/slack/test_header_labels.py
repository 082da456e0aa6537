"""The Slack header shows the category and confidence in words people use, not slugs."""

from __future__ import annotations

from .conftest import SlackHarness, shown_text, started

SLUG_TURN = {
    "message": "Let's look at the mailbox first.",
    "questions": [{"id": "q1", "text": "Does Outlook on the web work?", "options": ["Yes", "No"]}],
    "triage_update": {"issue_category": "m365", "hypothesis": "Stale token in Credential Manager"},
    "confidence": 0.85,
}


async def test_the_header_shows_microsoft_365_and_guided_85(slack: SlackHarness) -> None:
    slack.claude.queue_turn(SLUG_TURN)
    header, _ = await started(slack)
    shown = shown_text(header)
    assert "*Category*\nMicrosoft 365" in shown, shown
    assert "Guided · 85%" in shown, shown
    assert "m365" not in shown
