"""What a new session is made of: its row, its intake step and its thread, written in the start's one
transaction; and the hooks by which a start's first answer is chosen (Claude's, a flow's first node, or the
flow Claude picks among the candidates matched on what the session is about, its ticket included)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from storage import raw
from storage.models import Account, User
from storage.state import SessionState

from .commands import Actor, StartSession
from .events import Event
from .intake import PreparedInput
from .prompts import SYSTEM_PROMPT
from .psa_intake import TicketStart, intake_columns
from .redaction import redact
from .session_core import now
from .status import SessionStatus
from .turn_lease import Turn, TurnLease

# What answers a new session first (Claude, or the flow it starts on). Any: the conversation's turn input.
FirstTurn = Callable[[uuid.UUID, Actor, Any, Turn], AsyncIterator[Event]]
# Chooses the first answer once the start's ticket (if any) has been read, so that what depends on the
# ticket (the flows matched on it) reads the one snapshot the session keeps. None: Claude answers as usual.
Opening = Callable[[TicketStart | None], Awaitable[FirstTurn | None]]


def title_of(command: StartSession, ticket: TicketStart | None) -> str | None:
    """The session's title: the first line the engineer typed (masked), else the ticket's title."""
    typed = command.text.strip()
    title = redact(typed.splitlines()[0] if typed else "").text[:255]
    return title or (ticket.data.get("title") if ticket else None)


async def insert_new(
    db: raw.Conn,
    command: StartSession,
    *,
    prepared: PreparedInput,
    ticket: TicketStart | None,
    session_id: uuid.UUID,
    account: Account,
    user: User,
    lease: TurnLease,
) -> SessionState:
    """Write the new session, its intake step and its thread binding (raw.ThreadTaken: the thread has one)."""
    s = await raw.insert_session(
        db,
        id=session_id,
        user_id=user.id,
        account_id=account.id,
        **intake_columns(prepared.intake_type, command.psa_ticket_id, ticket),
        intake_content={
            "text": prepared.text[:20_000],
            "attachments": [a.filename for a in command.attachments],
            "images": len(prepared.images),
            "redactions": prepared.redactions,
        },
        title=title_of(command, ticket),
        status=SessionStatus.ACTIVE,
        awaiting_reply=True,
        step_count=1,
        last_activity_at=now(),
        system_prompt_snapshot=SYSTEM_PROMPT,
        # Born leased: nobody else can take a turn before the first answer.
        lease_owner=lease.owner,
        lease_seconds=lease.lease_seconds,
        turn_in_flight={"command": "StartSession"},
    )
    await raw.insert_step(
        db,
        session_id=s.id,
        step_order=1,
        role="user",
        kind="intake",
        user_id=user.id,
        content=f"{ticket.prompt}\n\n{prepared.text}" if ticket else prepared.text,
        images=[dataclasses.asdict(i) for i in prepared.images] or None,
    )
    if command.thread is not None:
        t = command.thread
        await raw.insert_binding(
            db,
            platform=t.platform,
            workspace_id=t.workspace_id,
            channel_id=t.channel_id,
            thread_id=t.thread_id,
            session_id=s.id,
            header_message_id=command.header_message_id,
            extra=dict(command.thread_extra),
        )
    return s
