"""One Retry button for every platform: a retryable command as a short value, and back.

The value names the command, its session, whose it was (a digest of the actor, never the ids themselves) and
the command's own arguments. Decoding rebuilds it for the actor acting now and refuses when that is someone
else: a Retry repeats one engineer's request, so pressing another's would put their words under your name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from .commands import (
    Abandon,
    Actor,
    AnswerQuestion,
    DiscardDraft,
    DraftHandoff,
    EditTriage,
    Escalate,
    GetStatus,
    MarkAction,
    Pause,
    Rate,
    Resolve,
    Resume,
    RetryTurn,
    RetryWriteBack,
    SessionCommand,
    SetEvidenceStatus,
    TakeOver,
    UserMessage,
)
from .errors import Forbidden, InvalidTransition
from .schemas import HandoffFields

VALUE_LIMIT = 2000  # a Slack button value's limit; the shortest any platform allows
NOT_YOURS = (
    "This Retry repeats what someone else asked, so only they can press it. "
    "Do it again yourself if you need it."
)
UNREADABLE = "This Retry button can no longer be read: send your message or click the button again."
_SEP = "|"

Args = dict[str, Any]
_Encode = Callable[[Any], Args]
_Decode = Callable[[Args, Actor], dict[str, Any]]


class NotYours(Forbidden):
    """Another engineer's Retry was pressed."""


class Unreadable(InvalidTransition):
    """A Retry value that is not one of ours (made by an older release, or tampered with)."""


def _none(_command: Any) -> Args:
    return {}


def _fields(fields: HandoffFields | None) -> Args:
    return {"fields": fields.model_dump()} if fields is not None else {}


def _fields_of(args: Args) -> HandoffFields | None:
    fields = args.get("fields")
    return HandoffFields(**{k: str(v) for k, v in fields.items()}) if isinstance(fields, dict) else None


def _escalate(args: Args, actor: Actor) -> dict[str, Any]:
    to = args.get("to")
    # The receiving engineer is of the acting engineer's own workspace, as when the escalation was asked.
    named = Actor(actor.platform, actor.workspace_id, str(to[0]), str(to[1])) if to else None
    return {"to": named, "reason": str(args.get("reason") or ""), "fields": _fields_of(args)}


def _outcome(value: Any) -> str:
    if value not in ("done", "failed"):
        raise ValueError("not an outcome")
    return str(value)


def _status(value: Any) -> str:
    if value not in ("confirmed", "ruled_out", "pending"):
        raise ValueError("not an evidence status")
    return str(value)


# name → (command class, its arguments as JSON, the arguments back for the actor acting now)
_CODECS: dict[str, tuple[type[SessionCommand], _Encode, _Decode]] = {
    "turn": (RetryTurn, _none, lambda a, _: {}),
    "psa": (RetryWriteBack, _none, lambda a, _: {}),
    "pause": (Pause, _none, lambda a, _: {}),
    "resume": (Resume, _none, lambda a, _: {}),
    "status": (GetStatus, _none, lambda a, _: {}),
    "takeover": (TakeOver, _none, lambda a, _: {}),
    "discard": (DiscardDraft, _none, lambda a, _: {}),
    "abandon": (Abandon, _none, lambda a, _: {}),
    "draft": (
        DraftHandoff,
        lambda c: {"kind": c.kind},
        lambda a, _: {"kind": {"resolve": "resolve", "escalate": "escalate"}[a["kind"]]},
    ),
    "answer": (
        AnswerQuestion,
        lambda c: {"q": c.question_id, "a": c.answer},
        lambda a, _: {"question_id": str(a["q"]), "answer": str(a["a"])},
    ),
    "mark": (
        MarkAction,
        lambda c: {"id": c.action_id, "o": c.outcome},
        lambda a, _: {"action_id": str(a["id"]), "outcome": _outcome(a["o"])},
    ),
    "message": (UserMessage, lambda c: {"t": c.text}, lambda a, _: {"text": str(a["t"])}),
    "triage": (
        EditTriage,
        lambda c: {"c": c.changes, "e": list(c.add_evidence)},
        lambda a, _: {
            "changes": {str(k): str(v) for k, v in dict(a["c"]).items()},
            "add_evidence": tuple(str(e) for e in a["e"]),
        },
    ),
    "evidence": (
        SetEvidenceStatus,
        lambda c: {"i": c.index, "s": c.status},
        lambda a, _: {"index": int(a["i"]), "status": _status(a["s"])},
    ),
    "resolve": (Resolve, lambda c: _fields(c.fields), lambda a, _: {"fields": _fields_of(a)}),
    "escalate": (
        Escalate,
        lambda c: {
            "to": [c.to.user_id, c.to.display_name] if c.to else None,
            "reason": c.reason,
            **_fields(c.fields),
        },
        _escalate,
    ),
    "rate": (
        Rate,
        lambda c: {"r": c.rating, "f": c.feedback, "x": c.replace},
        lambda a, _: {
            "rating": int(a["r"]),
            "feedback": str(a["f"]) if a.get("f") is not None else None,
            "replace": bool(a.get("x")),
        },
    ),
}
_NAMES = {cls: name for name, (cls, _, _) in _CODECS.items()}


def whose(actor: Actor) -> str:
    """A short digest naming one engineer of one account (ids never travel in a button)."""
    digest = hashlib.sha256(f"{actor.platform}\0{actor.workspace_id}\0{actor.user_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:8]).decode().rstrip("=")


def encode(command: SessionCommand, *, limit: int = VALUE_LIMIT) -> str | None:
    """The Retry value for `command`; None when it cannot travel in a button (files, or too long)."""
    name = _NAMES.get(type(command))
    if name is None or (isinstance(command, UserMessage) and command.attachments):
        return None
    head = _SEP.join((name, str(command.session_id), whose(command.actor)))
    args = _CODECS[name][1](command)
    value = head + _SEP + json.dumps(args, separators=(",", ":")) if args else head
    return value if len(value) <= limit else None


def _pieces(value: str) -> tuple[str, uuid.UUID, str, str] | None:
    """(name, session, whose, arguments) of a value; None when it is not shaped like one of ours."""
    pieces = value.split(_SEP, 3)
    if len(pieces) < 3:
        return None
    try:
        sid = uuid.UUID(pieces[1])
    except ValueError:
        return None
    return pieces[0], sid, pieces[2], pieces[3] if len(pieces) == 4 else ""


def session_of(value: str) -> uuid.UUID | None:
    """The session a Retry value is about (to find where to answer), without decoding the rest."""
    pieces = _pieces(value)
    return pieces[1] if pieces is not None else None


def decode(value: str, actor: Actor) -> SessionCommand:
    """The command a Retry value carries, acted by `actor`.

    Raises NotYours when the value is another engineer's, Unreadable when it is not a value of ours.
    """
    pieces = _pieces(value)
    codec = _CODECS.get(pieces[0]) if pieces is not None else None
    if pieces is None or codec is None:
        raise Unreadable(UNREADABLE)
    _, sid, who, extra = pieces
    if who != whose(actor):
        raise NotYours(NOT_YOURS)
    cls, _, arguments = codec
    try:
        args = json.loads(extra) if extra else {}
        if not isinstance(args, dict):
            raise TypeError("not an object")
        return cls(actor=actor, session_id=sid, **arguments(args, actor))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
        raise Unreadable(UNREADABLE) from err
