"""A forced tool call's input as Claude writes it: partial JSON in, the new text of chosen fields out.

Turns watch their `message`, drafts their three sections. The SDK hands over the tool input in fragments
(`input_json_delta`); jiter reads the JSON so far with the last string kept open, and each watched field's
growth since the previous fragment becomes a FieldText. Values of the wrong type show nothing here: they are
validated whole at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jiter

from .schemas import numbered


@dataclass(frozen=True)
class FieldText:
    """More of one field of a tool call's input, as Claude writes it (a draft's steps as their numbered list)."""

    field: str  # "message" of a turn; "root_cause", "steps_taken" or "recommendations" of a draft
    text: str


class FieldStream:
    """A tool call's partial JSON → the text each watched field gained since the last fragment."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self._fields = fields
        self._json = b""
        self._shown: dict[str, str] = {}
        self._done = False

    def feed(self, partial_json: str) -> list[FieldText]:
        if self._done:
            return []
        self._json += partial_json.encode()
        try:
            so_far = jiter.from_json(self._json, partial_mode="trailing-strings")
        except ValueError:
            return []  # not yet parseable (a fragment ending inside a number or literal): the next one is
        if not isinstance(so_far, dict):
            return []
        pieces: list[FieldText] = []
        for name in so_far:
            text = _field_text(so_far[name]) if name in self._fields else None
            shown = self._shown.get(name, "")
            # A field's text only grows; anything else (a value of the wrong type) shows at the end, validated.
            if text is not None and len(text) > len(shown) and text.startswith(shown):
                pieces.append(FieldText(name, text[len(shown) :]))
                self._shown[name] = text
        # Once every watched field is written and a later key has begun, they are complete: the rest of the
        # input (a turn's questions and triage) need not be parsed again at every fragment.
        keys = list(so_far)
        self._done = all(f in so_far for f in self._fields) and keys[-1] not in self._fields
        return pieces


def _field_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(step, str) for step in value):
        return numbered(value)
    return None
