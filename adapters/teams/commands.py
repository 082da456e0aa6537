"""Teams input → core commands: typed words, card submits and dialog submits, with the actor from the activity.

The actor (tenant and user) always comes from the activity Teams delivered, never from card data, so a card
forwarded to another tenant can only act on that tenant's sessions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from microsoft_agents.activity import Activity

from bot import retry_codec
from bot.commands import (
    Abandon,
    Actor,
    DiscardDraft,
    DraftHandoff,
    Escalate,
    GetStatus,
    LeaveFlow,
    MarkAction,
    Pause,
    Rate,
    Resolve,
    Resume,
    RetryTurn,
    SessionCommand,
    TakeOver,
    ThreadRef,
)
from bot.schemas import HandoffFields

PLATFORM = "teams"
# Card data key naming the command; the rest of the data carries its arguments.
KEY = "fp"
# A Retry's value may be longer than a Slack button's: a card carries up to about 28 KB.
RETRY_LIMIT = 8000
TYPED = ("resolve", "escalate", "pause", "resume", "status", "list", "help", "flows", "flow")
_MENTION = re.compile(r"<at>(.*?)</at>", re.IGNORECASE)
# `ticket 12345 …`: a PSA ticket number has a digit in it (the core checks the rest).
_TICKET_NUMBER = re.compile(r"#?[A-Za-z0-9.\-]*\d[A-Za-z0-9.\-]*")


def tenant_of(activity: Activity) -> str:
    conversation = activity.conversation
    tenant = conversation.tenant_id if conversation else None
    if not tenant and isinstance(activity.channel_data, dict):
        tenant = (activity.channel_data.get("tenant") or {}).get("id")
    return tenant or "local"


def actor_of(activity: Activity) -> Actor:
    """The user who sent the activity, in the tenant Teams delivered it from."""
    sender = activity.from_property
    user_id = (sender.aad_object_id or sender.id) if sender else "unknown"
    return Actor(
        platform=PLATFORM,
        workspace_id=tenant_of(activity),
        user_id=user_id,
        display_name=(sender.name or "") if sender else "",
    )


def conversation_type(activity: Activity) -> str:
    conversation = activity.conversation
    return (conversation.conversation_type if conversation else None) or "personal"


def thread_of(activity: Activity) -> ThreadRef:
    """A personal or group chat is one session; in a channel each thread (root message) is one."""
    conversation_id = activity.conversation.id if activity.conversation else ""
    _, _, root = conversation_id.partition(";messageid=")
    return ThreadRef(
        platform=PLATFORM,
        workspace_id=tenant_of(activity),
        channel_id=conversation_id,
        thread_id=root or conversation_id,
    )


@dataclass(frozen=True)
class Typed:
    """A typed command word and what follows it."""

    word: str
    rest: str


# Commands that take no arguments: "Pause Windows Updates was enabled by GPO" is a problem, not a pause.
BARE = frozenset(TYPED) - {"escalate"}
# What may open an escalation reason given without an @mention ("escalate to tier 2 because …").
REASON_OPENERS = ("to", "because", ":", "-", "—", "–")


def parse_typed(text: str) -> Typed | None:
    """A typed command: the word alone (a trailing . ! or ? allowed), or `escalate` with its own arguments.

    `escalate`'s arguments are an @mention (as `<at>Name</at>`, the bot's own mention already removed) and/or a
    reason; a reason without a mention starts with "to", "because", ":" or a dash. Anything else that merely
    begins with a command word is problem text for Claude.
    """
    words = text.split()
    if not words:
        return None
    word = words[0].lower().lstrip("/")
    if word == "ticket" and len(words) > 1 and _TICKET_NUMBER.fullmatch(words[1]):
        return Typed("ticket", " ".join(words[1:]))  # "Ticket system is down" stays problem text
    if len(words) == 1 and word.rstrip(".!?") in BARE:
        return Typed(word.rstrip(".!?"), "")
    if word.rstrip(":") != "escalate":
        return None
    rest = " ".join(words[1:])
    if word.endswith(":") and rest:
        return Typed("escalate", rest)
    opener = words[1].lower() if len(words) > 1 else ""
    if not rest or rest.lower().startswith("<at>") or opener in REASON_OPENERS or opener[:1] in ":-—–":
        return Typed("escalate", rest)
    return None


@dataclass(frozen=True)
class Mentioned:
    id: str
    name: str


def mentions_of(activity: Activity) -> list[Mentioned]:
    """People @mentioned in the message, the bot itself left out."""
    bot_id = activity.recipient.id if activity.recipient else None
    found = []
    for entity in activity.entities or []:
        data = entity.model_dump(by_alias=True, exclude_none=True)
        if data.get("type") != "mention":
            continue
        mentioned = data.get("mentioned") or {}
        if mentioned.get("id") and mentioned["id"] != bot_id:
            found.append(Mentioned(mentioned["id"], mentioned.get("name") or ""))
    return found


def strip_mentions(text: str) -> str:
    return " ".join(_MENTION.sub("", text).split())


def without_bot_mention(activity: Activity, text: str) -> str:
    """The message with the bot's own @mention (how a channel addresses it) removed, other mentions kept."""
    bot = activity.recipient
    own = {f"<at>{bot.name}</at>"} if bot and bot.name else set()
    for entity in activity.entities or []:
        data = entity.model_dump(by_alias=True, exclude_none=True)
        mentioned = data.get("mentioned") or {}
        if data.get("type") == "mention" and bot and mentioned.get("id") == bot.id and data.get("text"):
            own.add(str(data["text"]))
    for mention in own:
        text = text.replace(mention, " ")
    return " ".join(text.split())


def button(command: str, session_id: uuid.UUID | str, **args: Any) -> dict[str, Any]:
    """Action.Submit data for a command on a session."""
    return {KEY: command, "sid": str(session_id), **args}


def retry_button(command: SessionCommand) -> dict[str, Any] | None:
    """Card data for a Retry that replays `command` (bot.retry_codec), or None when it cannot travel."""
    value = retry_codec.encode(command, limit=RETRY_LIMIT)
    return button("again", command.session_id, v=value) if value is not None else None


def data_of(value: Any) -> dict[str, Any]:
    """An activity's or a card's data as a dict (anything else as no data)."""
    return value if isinstance(value, dict) else {}


def _fields(data: dict[str, Any]) -> HandoffFields | None:
    keys = ("root_cause", "steps_taken", "recommendations")
    if not any(str(data.get(k) or "").strip() for k in keys):
        return None
    return HandoffFields(**{k: str(data.get(k) or "") for k in keys})


def decode(data: dict[str, Any], actor: Actor) -> SessionCommand | None:
    """The command a card button asks for, acted by `actor`; None when the data is not ours.

    An answer button (its option index) and a Retry (bot.retry_codec) are resolved by the core: see submits.
    """
    kind = data.get(KEY)
    try:
        sid = uuid.UUID(str(data.get("sid")))
    except ValueError:
        return None
    common: dict[str, Any] = {"actor": actor, "session_id": sid}
    value = str(data.get("value") or "")
    match kind:
        case "retry":
            return RetryTurn(**common)
        case "draft" if data.get("kind") in ("resolve", "escalate"):
            return DraftHandoff(**common, kind=data["kind"])
        case "mark" if value in ("done", "failed"):
            return MarkAction(**common, action_id=str(data.get("aid")), outcome=value)  # type: ignore[arg-type]
        case "resolve":
            return Resolve(**common, fields=_fields(data))
        case "escalate":
            named = str(data.get("to") or "").strip()
            to_id = str(data.get("to_pick") or "").strip() or named
            to = None
            if to_id:
                # The receiving engineer is always of the actor's own tenant. A person picked in the card
                # arrives as a bare id; the adapter looks the name up before the command runs.
                name = str(data.get("to_name") or "") if to_id == named else ""
                to = Actor(PLATFORM, actor.workspace_id, to_id, name)
            return Escalate(**common, to=to, reason=str(data.get("reason") or ""), fields=_fields(data))
        case "rate":
            try:
                return Rate(**common, rating=int(str(data.get("rating") or value)))
            except ValueError:
                return None
    simple: dict[str, type[SessionCommand]] = {
        "pause": Pause,
        "resume": Resume,
        "takeover": TakeOver,
        "status": GetStatus,
        "discard": DiscardDraft,
        "abandon": Abandon,
        "leave_flow": LeaveFlow,
    }
    if isinstance(kind, str) and kind in simple:
        return simple[kind](**common)
    return None


def typed_command(typed: Typed, *, actor: Actor, session_id: uuid.UUID) -> SessionCommand | None:
    """Typed words on a session; list and help need no session and are answered by the adapter."""
    common: dict[str, Any] = {"actor": actor, "session_id": session_id}
    match typed.word:
        case "resolve":
            return DraftHandoff(**common, kind="resolve")
        case "escalate":
            return DraftHandoff(**common, kind="escalate")
        case "pause":
            return Pause(**common)
        case "resume":
            return Resume(**common)
        case "status" | "flow":  # the header shows where the session stands in its flow
            return GetStatus(**common)
    return None
