"""A confirm from a ticket, in the shell: the shell runs the job worker when a PSA can be connected, waits for
the ticket note to be on the ticket and says how it went. Ctrl-C stops the waiting, not the posting."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from bot.psa_writeback import WriteBacks

from . import show

if TYPE_CHECKING:
    from .repl import Shell

# The PSA's own retries (bot.psa_writeback) fit in this; a longer outage is told as queued.
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.25  # one indexed row read: the shell does not listen for other processes' changes
QUEUED = (
    "The ticket note for {ticket} is not posted yet: it stays queued and is posted as soon as a job worker "
    "runs (`flowpilot serve`, `flowpilot worker`, or this shell)."
)


async def wait_for_note(shell: Shell, writebacks: WriteBacks, session_id: uuid.UUID) -> None:
    """After a resolution, an escalation or /retry of a note: the outcome of the session's write-back."""
    ticket = await writebacks.ticket_of(session_id)
    if ticket is None:
        return  # not a session from a ticket
    shell.terminal.spinner(f"Posting the ticket note to {ticket}…")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    try:
        while loop.time() < deadline:
            found = await writebacks.outcome(session_id)
            if found is not None:
                show.event(shell, found[1])  # posted with its link, or why not with /retry
                return
            await asyncio.sleep(POLL_SECONDS)
    finally:
        shell.terminal.stop_spinner()
    shell.say(QUEUED.format(ticket=ticket), "yellow")
