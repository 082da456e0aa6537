"""Compact button values: a session id and what the button means. Never who clicked (that comes from Slack).

A Retry button carries either the core's retry value (bot.retry_codec) or RENDER, to show again what Slack
refused to show.
"""

from __future__ import annotations

import uuid

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


def render_value(session_id: uuid.UUID | None) -> str:
    """The Retry value that shows a session again."""
    return f"{RENDER}|{session_id}"


def is_render(value: str) -> bool:
    return value.startswith(RENDER + "|")
