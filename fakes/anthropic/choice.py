"""The turn's constrained choice (bot.claude.Choice): which flow fits, or which option the engineer meant.

A test scripts the next choices with FakeAnthropic.queue_choice; unscripted, the fake picks like a careful
model would without understanding: an offered value the engineer's last words name, else the way out
(the last value: "none" or "leave").
"""

from __future__ import annotations

from typing import Any

CHOICE_FIELD = "choice"
CHOICE_CONFIDENCE = "choice_confidence"


def offered(tool: dict[str, Any] | None) -> list[str] | None:
    """The values the request's tool lets Claude choose from (None when it asks for no choice)."""
    if tool is None:
        return None
    field = (tool.get("input_schema") or {}).get("properties", {}).get(CHOICE_FIELD)
    return list(field["enum"]) if isinstance(field, dict) and "enum" in field else None


def pick(values: list[str], last_words: str) -> tuple[str, float]:
    said = last_words.lower()
    named = [v for v in values[:-1] if v.lower() in said]
    if named:
        return max(named, key=len), 0.9
    return values[-1], 0.9


def with_choice(tool_input: dict[str, Any], choice: tuple[str, float]) -> dict[str, Any]:
    return {**tool_input, CHOICE_FIELD: choice[0], CHOICE_CONFIDENCE: choice[1]}
