"""Compact button values: a session id and what the button means. Never who clicked (that comes from Slack)."""

from __future__ import annotations

import json
import uuid

from bot.commands import (
    Abandon,
    Actor,
    AnswerQuestion,
    DiscardDraft,
    DraftHandoff,
    GetStatus,
    MarkAction,
    Pause,
    Resume,
    RetryTurn,
    SessionCommand,
    TakeOver,
    UserMessage,
)

VALUE_LIMIT = 2000
_SIMPLE: dict[str, type[SessionCommand]] = {
    "turn": RetryTurn,
    "pause": Pause,
    "resume": Resume,
    "status": GetStatus,
    "takeover": TakeOver,
    "discard": DiscardDraft,
    "abandon": Abandon,
}
RENDER = "render"  # show the session's header and open questions again (after Slack refused a message)


def parts(value: str, count: int) -> list[str] | None:
    """`count` "|"-separated parts of a button value, the first a session id; None when malformed."""
    pieces = value.split("|", count - 1)
    if len(pieces) != count:
        return None
    try:
        uuid.UUID(pieces[0])
    except ValueError:
        return None
    return pieces


def encode_retry(command: SessionCommand) -> str | None:
    """The Retry button's value for `command`, or None when it cannot be carried in a button."""
    sid = str(command.session_id)
    for kind, cls in _SIMPLE.items():
        if type(command) is cls:
            return f"{kind}|{sid}"
    if isinstance(command, DraftHandoff):
        return f"draft:{command.kind}|{sid}"
    if isinstance(command, AnswerQuestion):
        value = "answer|" + sid + "|" + json.dumps([command.question_id, command.answer])
    elif isinstance(command, MarkAction):
        value = "mark|" + sid + "|" + json.dumps([command.action_id, command.outcome])
    elif isinstance(command, UserMessage) and not command.attachments:
        value = "message|" + sid + "|" + json.dumps(command.text)
    else:
        return None
    return value if len(value) <= VALUE_LIMIT else None


def decode_retry(value: str, actor: Actor) -> SessionCommand | str | None:
    """The command a Retry button carries, acting as `actor`; RENDER (a string) for a re-render."""
    kind, _, rest = value.partition("|")
    sid_text, _, extra = rest.partition("|")
    try:
        sid = uuid.UUID(sid_text)
    except ValueError:
        return None
    if kind == RENDER:
        return RENDER
    if kind in _SIMPLE:
        return _SIMPLE[kind](actor=actor, session_id=sid)
    if kind in ("draft:resolve", "draft:escalate"):
        return DraftHandoff(actor=actor, session_id=sid, kind=kind.split(":")[1])  # type: ignore[arg-type]
    try:
        data = json.loads(extra)
        if kind == "answer":
            return AnswerQuestion(actor=actor, session_id=sid, question_id=str(data[0]), answer=str(data[1]))
        if kind == "mark" and data[1] in ("done", "failed"):
            return MarkAction(actor=actor, session_id=sid, action_id=str(data[0]), outcome=data[1])
        if kind == "message":
            return UserMessage(actor=actor, session_id=sid, text=str(data))
    except (ValueError, IndexError, TypeError):
        return None
    return None
