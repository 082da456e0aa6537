"""Claude's streamed answer as it arrives: the forced tool call's input, its usage, and the new text of
chosen fields as Claude writes them.

Turns watch their `message`, drafts their three sections. The SDK hands over the tool input in fragments
(`input_json_delta`); jiter reads the JSON so far with the last string kept open, and each watched field's
growth since the previous fragment becomes a FieldText. Values of the wrong type show nothing here: they are
validated whole at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jiter

from .schemas import numbered

if TYPE_CHECKING:
    import anthropic


@dataclass(frozen=True)
class Usage:
    """The tokens an answer was billed for."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_creation_tokens + other.cache_creation_tokens,
        )


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


_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


@dataclass
class StreamedAnswer:
    """A streamed answer as its events arrive: the tool call's id, name and input fragments, and the usage."""

    parts: list[str] = field(default_factory=list)
    block: dict[str, Any] | None = None  # the tool_use content block, as it opened
    counts: dict[str, int] = field(default_factory=dict)
    stopped: bool = False

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self._count(event["message"].get("usage"))
        elif kind == "content_block_start" and event["content_block"].get("type") == "tool_use":
            self.block = self.block or event["content_block"]
        elif kind == "message_delta":
            self._count(event.get("usage"))  # the counts on message_delta are running totals
        elif kind == "message_stop":
            self.stopped = True

    def _count(self, usage: dict[str, Any] | None) -> None:
        for name in _USAGE_FIELDS:
            if isinstance(value := (usage or {}).get(name), int):
                self.counts[name] = value

    @property
    def usage(self) -> Usage:
        c = self.counts
        return Usage(
            input_tokens=c.get("input_tokens", 0),
            output_tokens=c.get("output_tokens", 0),
            cache_read_tokens=c.get("cache_read_input_tokens", 0),
            cache_creation_tokens=c.get("cache_creation_input_tokens", 0),
        )

    def tool_use(self) -> anthropic.types.ToolUseBlock | None:
        """The whole tool call (None when Claude answered without one); ValueError if its input is not JSON."""
        if self.block is None:
            return None
        from anthropic.types import ToolUseBlock  # here: only the SDK's client reads the answer whole

        text = "".join(self.parts).strip()
        data = json.loads(text) if text else {}
        return ToolUseBlock(type="tool_use", id=self.block["id"], name=self.block["name"], input=data)


def _field_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(step, str) for step in value):
        return numbered(value)
    return None
