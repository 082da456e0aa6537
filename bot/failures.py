"""What a failed command tells the engineer, and what its Retry button sends."""

from __future__ import annotations

import uuid

from .commands import Command, DraftHandoff, RetryTurn, SessionCommand
from .errors import ClaudeBadOutput, ClaudeUnavailable, FlowPilotError, RateLimited
from .events import AssistantTurn, Event, Notice, Thinking


def input_saved_after(event: Event, saved: bool) -> bool:
    """Whether the engineer's input is saved and waiting for Claude's answer once `event` was yielded."""
    if isinstance(event, Thinking) and event.purpose == "turn":
        return True
    if isinstance(event, AssistantTurn):
        return False
    return saved


def failure_notice(
    command: Command, err: FlowPilotError, session_id: uuid.UUID | None, input_saved: bool = False
) -> Notice:
    retry = _retry_for(command, err, session_id, input_saved)
    # A start that was refused made no session: only the engineer who tried needs to hear of it.
    return Notice(
        session_id,
        err.message,
        level="error",
        code=err.code,
        retry=retry,
        private=err.private or session_id is None,
    )


def _retry_for(
    command: Command, err: FlowPilotError, session_id: uuid.UUID | None, input_saved: bool = False
) -> SessionCommand | None:
    """The command a Retry button should send, or None when retrying cannot help.

    Once the engineer's input is saved (the turn is waiting for Claude's answer), Retry asks for that answer
    again: resending the original message or click would record it twice or be refused as already answered.
    """
    if not err.retryable or session_id is None:
        return None
    if input_saved:
        return RetryTurn(actor=command.actor, session_id=session_id)
    if isinstance(err, ClaudeUnavailable | ClaudeBadOutput | RateLimited):
        if isinstance(command, DraftHandoff):
            return command
        return RetryTurn(actor=command.actor, session_id=session_id)
    return command if isinstance(command, SessionCommand) else None
