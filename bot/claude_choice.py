"""A turn's constrained choice: one extra field of the turn tool, an enum (never free text) with a confidence.

Which flow fits the intake, or which option of a flow's node the engineer's words mean.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

CHOICE_FIELD = "choice"
CHOICE_CONFIDENCE = "choice_confidence"


@dataclass(frozen=True)
class Choice:
    """The values Claude may choose from, and what they mean."""

    values: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Chosen:
    value: str
    confidence: float


def with_choice(tool: dict[str, Any], choice: Choice) -> dict[str, Any]:
    """The tool with the choice's two fields added after the turn's own (so `message` still streams first)."""
    schema = copy.deepcopy(tool["input_schema"])
    schema["properties"][CHOICE_FIELD] = {
        "type": "string",
        "enum": list(choice.values),
        "description": choice.description,
    }
    schema["properties"][CHOICE_CONFIDENCE] = {"type": "number", "minimum": 0, "maximum": 1}
    schema["required"] = [*schema.get("required", []), CHOICE_FIELD, CHOICE_CONFIDENCE]
    return {**tool, "input_schema": schema}


def chosen(tool_input: Any, choice: Choice | None) -> Chosen | None:
    """The choice Claude made (ValueError when it is not one of the values: the turn is asked again)."""
    if choice is None:
        return None
    value = tool_input.get(CHOICE_FIELD) if isinstance(tool_input, dict) else None
    if value not in choice.values:
        raise ValueError(f"{CHOICE_FIELD} must be one of {list(choice.values)}")
    confidence = tool_input.get(CHOICE_CONFIDENCE)
    return Chosen(
        value, min(1.0, max(0.0, float(confidence))) if isinstance(confidence, int | float) else 0.0
    )
