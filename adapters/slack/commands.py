"""Slack payloads → who acts and what they ask for. The actor always comes from Slack's own fields."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.commands import Actor

from .places import Clicked

PLATFORM = "slack"
MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SUBCOMMANDS = ("help", "list", "status", "pause", "resume", "resolve", "escalate", "flows", "ticket")
# Buttons whose second click is never a new request, however late: Retry replays a command once.
ONE_SHOT = ("fp_retry",)
# Two clicks of the same button by the same person closer than this are one double click. Later ones are
# requests of their own: the core refuses what cannot happen twice ("already answered", "already paused"),
# and an answer refused while the session was paused can be given again once it is resumed.
DOUBLE_CLICK_SECONDS = 1.5


def actor_of(payload: dict[str, Any]) -> Actor:
    """The actor of an interactive payload: its team and user, as Slack signed them."""
    team = payload.get("team") or {}
    user = payload.get("user") or {}
    team_id = team.get("id") if isinstance(team, dict) else None
    return Actor(
        platform=PLATFORM,
        workspace_id=str(team_id or user.get("team_id") or ""),
        user_id=str(user.get("id") or ""),
        display_name=str(user.get("name") or user.get("username") or ""),
    )


def slash_actor(body: dict[str, Any]) -> Actor:
    return Actor(
        platform=PLATFORM,
        workspace_id=str(body.get("team_id") or ""),
        user_id=str(body.get("user_id") or ""),
        display_name=str(body.get("user_name") or ""),
    )


def slash_key(body: dict[str, Any], headers: Mapping[str, Sequence[str]]) -> str | None:
    """What makes one slash command invocation itself, for de-duplication: its signature (an HMAC of the
    timestamp and the body, so a replay carries the same one), or in Socket Mode its trigger_id."""
    signature = next(iter(headers.get("x-slack-signature") or ()), None)
    trigger = body.get("trigger_id")
    if signature:
        return f"slash:{signature}"
    return f"slash:{trigger}" if trigger else None


def parse_slash(text: str) -> tuple[str, str]:
    """(subcommand, rest); the subcommand is "start" when the text is a problem description."""
    stripped = text.strip()
    word, _, rest = stripped.partition(" ")
    if not stripped:
        return "help", ""
    if word.lower() in SUBCOMMANDS:
        return word.lower(), rest.strip()
    return "start", stripped


def strip_mentions(text: str) -> str:
    return MENTION.sub("", text).strip()


@dataclass(frozen=True)
class Click:
    actor: Actor
    action_id: str
    value: str
    action_ts: str
    trigger_id: str
    clicked: Clicked

    @property
    def dedupe_key(self) -> str:
        c = self.clicked
        key = f"click:{self.actor.workspace_id}:{self.actor.user_id}:{c.channel}:{c.ts}:{self.action_id}:{self.value}"
        return key[:255]

    @property
    def double_click_window(self) -> float | None:
        """How long a second click of this button counts as the same click (None: forever)."""
        return None if self.action_id.startswith(ONE_SHOT) else DOUBLE_CLICK_SECONDS


def click_of(body: dict[str, Any]) -> Click:
    action = (body.get("actions") or [{}])[0]
    value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
    message = body.get("message") or {}
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    return Click(
        actor=actor_of(body),
        action_id=str(action.get("action_id") or ""),
        value=str(value),
        action_ts=str(action.get("action_ts") or ""),
        trigger_id=str(body.get("trigger_id") or ""),
        clicked=Clicked(
            channel=channel,
            ts=str(message.get("ts") or container.get("message_ts") or ""),
            blocks=list(message.get("blocks") or []),
            block_id=str(action.get("block_id") or ""),
        ),
    )
