"""Correcting the client or asset name: the title and what the ticket note says follow the correction, also
after Claude's later turns (which still use the old names) and in a draft written afterwards."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.commands import Actor, DraftHandoff, EditTriage, Resolve, StartSession, UserMessage
from bot.events import DraftFinished, SessionStarted, StatusChanged, TriageChanged
from bot.handler import SessionHandler
from bot.triage import renamed
from storage.models import AISession
from tests.conftest import collect

PROBLEM = "Outlook keeps asking for the password at Contoso on LAPTOP-042"
OLD = re.compile(r"Contoso(?! Ltd \(EU\))|LAPTOP-042(?!B)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Prompts at Contoso on LAPTOP-042", "Prompts at Contoso Ltd (EU) on LAPTOP-042B"),
        ("contoso's users", "Contoso Ltd (EU)'s users"),
        ("Already Contoso Ltd (EU) on LAPTOP-042B", "Already Contoso Ltd (EU) on LAPTOP-042B"),
        ("ContosoCloud and LAPTOP-0421 are other names", "ContosoCloud and LAPTOP-0421 are other names"),
        (None, None),
    ],
)
def test_a_corrected_name_is_replaced_as_a_whole_word_once(text: str | None, expected: str | None) -> None:
    renames = [("Contoso", "Contoso Ltd (EU)"), ("LAPTOP-042", "LAPTOP-042B")]
    assert renamed(text, renames) == expected


async def test_title_and_ticket_note_follow_a_corrected_client_and_asset(
    handler: SessionHandler, alice: Actor, db: async_sessionmaker[AsyncSession]
) -> None:
    started = await collect(handler.handle(StartSession(actor=alice, text=PROBLEM)))
    sid = next(e for e in started if isinstance(e, SessionStarted)).session_id
    assert sid is not None
    assert "Contoso" in (await handler.view(actor=alice, session_id=sid)).title

    edited = await collect(
        handler.handle(
            EditTriage(
                actor=alice,
                session_id=sid,
                changes={"client_name": "Contoso Ltd (EU)", "asset_name": "LAPTOP-042B"},
            )
        )
    )
    view = next(e for e in edited if isinstance(e, TriageChanged)).view
    assert view.title == "Outlook keeps asking for the password at Contoso Ltd (EU) on LAPTOP-042B"
    async with db() as session:
        row = await session.get(AISession, sid)
    assert row is not None and row.title == view.title  # the session's own title (REST, lists) too

    # Claude's next turn still calls them Contoso and LAPTOP-042 (the fake repeats the first message).
    await collect(handler.handle(UserMessage(actor=alice, session_id=sid, text="It happens every 5 minutes")))
    view = await handler.view(actor=alice, session_id=sid)
    assert "Contoso Ltd (EU)" in view.title and not OLD.search(view.title)
    assert (view.client_name, view.asset_name) == ("Contoso Ltd (EU)", "LAPTOP-042B")

    # The ticket note of a draft written afterwards: its title and facts say the corrected names (the
    # sections are the draft's own words, which may quote what the engineer first wrote).
    drafted = await collect(handler.handle(DraftHandoff(actor=alice, session_id=sid, kind="resolve")))
    note = next(e for e in drafted if isinstance(e, DraftFinished)).ticket_note
    about, _, _ = note.partition("Root cause:")
    assert "Resolved: Outlook keeps asking for the password at Contoso Ltd (EU) on LAPTOP-042B" in about
    assert "Contoso Ltd (EU)" in about and "LAPTOP-042B" in about and not OLD.search(about), note

    resolved = await collect(handler.handle(Resolve(actor=alice, session_id=sid)))
    filed = next(e for e in resolved if isinstance(e, StatusChanged)).outputs["plain"]
    assert filed.partition("Root cause:")[0] == about
