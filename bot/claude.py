"""What the core asks of Claude: one streamed structured turn, or a streamed handoff draft (ClaudeClient), and
the tools it is asked to call. The client on the `anthropic` SDK is bot.anthropic_claude: importing the SDK
costs over a second, which the core and the `flowpilot flows|psa …` commands do not pay."""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from .claude_choice import Choice, Chosen

# Re-exported: the draft pieces are FieldText, and the core counts tokens in Usage.
from .claude_stream import FieldText as FieldText
from .claude_stream import Usage as Usage
from .schemas import DRAFT_TOOL_NAME, TURN_TOOL_NAME, ClaudeTurn, HandoffDraft

TURN_MAX_TOKENS = 2048
DRAFT_MAX_TOKENS = 2048


DraftPiece = FieldText | HandoffDraft | Usage


@dataclass(frozen=True)
class TurnResult:
    turn: ClaudeTurn
    usage: Usage
    chosen: Chosen | None = None  # the answer to the turn's Choice, when it had one


@dataclass(frozen=True)
class MessageText:
    """More of a turn's `message` as Claude writes it (only the newly added text)."""

    text: str


TurnPiece = MessageText | TurnResult


class ClaudeClient(Protocol):
    """What the core needs from a model; the fake Anthropic server stands behind the real one in tests."""

    def turn(
        self, *, system: str, messages: list[dict[str, Any]], choice: Choice | None = None
    ) -> AsyncGenerator[TurnPiece, None]:
        """MessageText pieces as the turn's message is written, then the validated TurnResult.

        The pieces are provisional, the TurnResult's message is what counts: when Claude's first answer broke
        the schema after some of its message was shown, the second attempt is not streamed over it, and
        whoever showed the pieces replaces them with the final message.
        """
        ...

    def draft(self, *, system: str, messages: list[dict[str, Any]]) -> AsyncIterator[DraftPiece]:
        """FieldText pieces as the draft tool's input arrives, then the validated HandoffDraft, then Usage."""
        ...


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic puts nested models in $defs; tool schemas read best (and validate everywhere) inlined."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]))
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


TURN_TOOL: dict[str, Any] = {
    "name": TURN_TOOL_NAME,
    # `message` is the schema's first property (ClaudeTurn declares it first) and the description asks for it
    # first: the engineer's first words follow Claude's first token, streamed while the rest is written.
    "description": "Answer the engineer. Write `message` first (it is shown as you write it), then the "
    "diagnostic questions, suggested steps and triage.",
    "input_schema": _inline_refs(ClaudeTurn.model_json_schema()),
    # Fine-grained tool streaming: the API sends the input as Claude writes it instead of buffering each
    # value to validate it first (a long message would otherwise arrive in one burst). The input may then
    # end as invalid JSON (max_tokens): that is a broken answer like any other, asked again once.
    "eager_input_streaming": True,
}


DRAFT_TOOL: dict[str, Any] = {
    "name": DRAFT_TOOL_NAME,
    "description": "Write the handoff for the ticket: root cause, steps taken and recommendations.",
    "input_schema": _inline_refs(HandoffDraft.model_json_schema()),
    "eager_input_streaming": True,  # as the turn's: each section streams as it is written
}
DRAFT_FIELDS = ("root_cause", "steps_taken", "recommendations")
TURN_FIELDS = ("message",)
