"""Reading what reached the fake connector: cards, their texts and their buttons."""

from __future__ import annotations

import re
from typing import Any

from fakes.connector import FakeConnector, SentActivity

# A backslash before ASCII punctuation is a Markdown escape: Teams shows the character alone.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def card_of(activity: SentActivity) -> dict[str, Any]:
    content: dict[str, Any] = activity.attachments[0]["content"]
    return content


def texts(content: dict[str, Any]) -> str:
    """The card's texts as Teams shows them (Markdown escapes resolved)."""
    return _ESCAPE.sub(r"\1", raw_texts(content))


def raw_texts(content: dict[str, Any]) -> str:
    """The card's texts as sent, Markdown and its escapes included."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("text", "value", "title"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(content)
    return "\n".join(found)


def buttons(content: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(content)
    return found


def button(content: dict[str, Any], title: str) -> dict[str, Any]:
    return next(b for b in buttons(content) if b["title"] == title)


def card_with(fake: FakeConnector, conversation_id: str, title: str) -> SentActivity | None:
    """The newest card in the conversation with a button titled `title`."""
    for activity in reversed(fake.activities(conversation_id)):
        if activity.attachments and any(b["title"] == title for b in buttons(card_of(activity))):
            return activity
    return None


def cards_in(fake: FakeConnector, conversation_id: str) -> list[SentActivity]:
    """The cards posted in a conversation (a turn's streamed words are typing and message activities)."""
    return [a for a in fake.activities(conversation_id) if a.attachments]
