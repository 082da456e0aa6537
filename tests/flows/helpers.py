"""Flows for the tests, written as an engineer would, small enough to read in the test."""

from __future__ import annotations

from typing import Any

from bot.flows.model import Flow


def flow(
    slug: str,
    title: str,
    *,
    keywords: tuple[str, ...] = (),
    triggers: tuple[str, ...] = (),
    clients: tuple[str, ...] = (),
    root_cause: str = "Fixed",
) -> Flow:
    """A two-node flow: one question, whose answers end in a resolution or with Claude."""
    body: dict[str, Any] = {
        "schema": "flowpilot.flow/1",
        "id": slug,
        "title": title,
        "domain": "test",
        "clients": list(clients),
        "match": {"triggers": list(triggers), "keywords": list(keywords)},
        "start": "ask",
        "nodes": {
            "ask": {
                "type": "question",
                "text": "Did restarting help?",
                "options": [{"label": "Yes", "next": "fixed"}, {"label": "No", "next": "explore"}],
            },
            "fixed": {"type": "resolution", "root_cause": root_cause},
            "explore": {"type": "ai", "hint": "Look further"},
        },
    }
    return Flow.model_validate(body)
