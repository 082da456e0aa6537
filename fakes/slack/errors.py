"""How a Web API method says no: ``{"ok": false, "error": ...}``, with Slack's details where it gives them."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """An ``ok: false`` answer from a method handler."""

    def __init__(self, error: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"ok": False, "error": error, **extra}


def invalid_arguments(*problems: str) -> SlackError:
    """Slack's answer to arguments it rejects (views put Block Kit errors here too)."""
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
