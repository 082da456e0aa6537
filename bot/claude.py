"""The Claude client: one structured turn, or a streamed handoff draft, through the `anthropic` SDK."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import anthropic
import httpx2
import jiter
from pydantic import ValidationError

from .errors import ClaudeBadOutput, ClaudeUnavailable
from .schemas import DRAFT_TOOL_NAME, TURN_TOOL_NAME, ClaudeTurn, HandoffDraft, numbered

logger = logging.getLogger(__name__)

TURN_MAX_TOKENS = 2048
DRAFT_MAX_TOKENS = 2048


@dataclass(frozen=True)
class Usage:
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

    @classmethod
    def of(cls, usage: Any) -> Usage:
        return cls(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", 0) or 0,
            cache_creation_tokens=getattr(usage, "cache_creation_input_tokens", 0) or 0,
        )


@dataclass(frozen=True)
class FieldText:
    """More of one field of a handoff draft, as Claude writes it (the steps as their numbered list)."""

    field: str  # "root_cause", "steps_taken" or "recommendations"
    text: str


DraftPiece = FieldText | HandoffDraft | Usage


@dataclass(frozen=True)
class TurnResult:
    turn: ClaudeTurn
    usage: Usage
    chosen: Chosen | None = None  # the answer to the turn's Choice, when it had one


@dataclass(frozen=True)
class Choice:
    """One extra field of a turn, constrained to `values` (an enum, never free text), with a confidence:
    which flow fits the intake, or which option of a flow's node the engineer's words mean."""

    values: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Chosen:
    value: str
    confidence: float


CHOICE_FIELD = "choice"
CHOICE_CONFIDENCE = "choice_confidence"


def _with_choice(tool: dict[str, Any], choice: Choice) -> dict[str, Any]:
    schema = copy.deepcopy(tool["input_schema"])
    schema["properties"][CHOICE_FIELD] = {
        "type": "string",
        "enum": list(choice.values),
        "description": choice.description,
    }
    schema["properties"][CHOICE_CONFIDENCE] = {"type": "number", "minimum": 0, "maximum": 1}
    schema["required"] = [*schema.get("required", []), CHOICE_FIELD, CHOICE_CONFIDENCE]
    return {**tool, "input_schema": schema}


def _chosen(tool_input: Any, choice: Choice | None) -> Chosen | None:
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


class ClaudeClient(Protocol):
    """What the core needs from a model; the fake Anthropic server stands behind the real one in tests."""

    async def turn(
        self, *, system: str, messages: list[dict[str, Any]], choice: Choice | None = None
    ) -> TurnResult: ...

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
    "description": "Answer the engineer: your message, diagnostic questions, suggested steps and triage.",
    "input_schema": _inline_refs(ClaudeTurn.model_json_schema()),
}


DRAFT_TOOL: dict[str, Any] = {
    "name": DRAFT_TOOL_NAME,
    "description": "Write the handoff for the ticket: root cause, steps taken and recommendations.",
    "input_schema": _inline_refs(HandoffDraft.model_json_schema()),
}
DRAFT_FIELDS = ("root_cause", "steps_taken", "recommendations")


class _FieldStream:
    """The draft tool's partial JSON → the text each field gained since the last fragment."""

    def __init__(self) -> None:
        self._json = b""
        self._shown: dict[str, str] = {}

    def feed(self, partial_json: str) -> list[FieldText]:
        self._json += partial_json.encode()
        try:
            so_far = jiter.from_json(self._json, partial_mode="trailing-strings")
        except ValueError:
            return []  # not yet parseable (a fragment ending inside a number or literal): the next one is
        if not isinstance(so_far, dict):
            return []
        pieces: list[FieldText] = []
        for name in so_far:
            text = _field_text(so_far[name]) if name in DRAFT_FIELDS else None
            shown = self._shown.get(name, "")
            # A field's text only grows; anything else (a value of the wrong type) shows at the end, validated.
            if text is not None and len(text) > len(shown) and text.startswith(shown):
                pieces.append(FieldText(name, text[len(shown) :]))
                self._shown[name] = text
        return pieces


def _field_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(step, str) for step in value):
        return numbered(value)
    return None


def _error_type(err: anthropic.APIStatusError) -> str | None:
    """The API's error type; a mid-stream error arrives with HTTP 200 and only says it here."""
    body = err.body if isinstance(err.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    return error.get("type") if isinstance(error, dict) else None


def _unavailable(err: Exception) -> ClaudeUnavailable:
    if isinstance(err, anthropic.APITimeoutError):
        reason = "it timed out"
    elif isinstance(err, anthropic.APIConnectionError):
        reason = "it could not be reached"
    elif isinstance(err, anthropic.RateLimitError):
        reason = "rate limited"
    elif isinstance(err, anthropic.AuthenticationError):
        reason = "the API key was rejected"
    elif isinstance(err, anthropic.APIStatusError) and (
        err.status_code == 529 or _error_type(err) == "overloaded_error"
    ):
        reason = "overloaded"
    elif isinstance(err, anthropic.APIStatusError):
        reason = f"error {err.status_code}"
    else:
        reason = "the answer was cut off"
    return ClaudeUnavailable(reason)


class AnthropicClaude:
    """ClaudeClient on the real SDK; it reads ANTHROPIC_BASE_URL like the SDK does when base_url is None."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self.model = model
        # By default aiohttp carries the SDK's requests (the SDK's own DefaultAioHttpClient) rather than
        # httpx's transport: a turn costs the server a fifth less CPU, with the same timeouts, retries and
        # errors.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client or anthropic.DefaultAioHttpClient(timeout=timeout),
        )

    async def close(self) -> None:
        """Close the HTTP connections to the API."""
        await self._client.close()

    @staticmethod
    def _system(system: str) -> list[dict[str, Any]]:
        return [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]

    def _turn_params(
        self, system: str, messages: list[dict[str, Any]], choice: Choice | None = None
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": TURN_MAX_TOKENS,
            "system": self._system(system),
            "tools": [_with_choice(TURN_TOOL, choice) if choice else TURN_TOOL],
            "tool_choice": {"type": "tool", "name": TURN_TOOL_NAME},
            "messages": messages,
        }

    async def turn(
        self, *, system: str, messages: list[dict[str, Any]], choice: Choice | None = None
    ) -> TurnResult:
        usage = Usage()
        attempt_messages = messages
        for attempt in (1, 2):
            try:
                response = await self._client.messages.create(
                    **self._turn_params(system, attempt_messages, choice)
                )
            except anthropic.APIError as err:
                raise _unavailable(err) from err
            except httpx2.TransportError as err:
                raise ClaudeUnavailable("the connection dropped") from err
            usage = usage + Usage.of(response.usage)
            tool_use = next((b for b in response.content if b.type == "tool_use"), None)
            try:
                if tool_use is None:
                    raise ValueError("no tool call in the answer")
                turn = ClaudeTurn.model_validate(tool_use.input)
                return TurnResult(turn, usage, _chosen(tool_use.input, choice))
            except (ValidationError, ValueError) as err:
                # Log the shape of the problem, never the content (it may quote the engineer's paste).
                problems = err.errors() if isinstance(err, ValidationError) else [{"msg": str(err)}]
                logger.warning(
                    "Claude turn broke the schema (attempt %d): %s",
                    attempt,
                    [(p.get("loc"), p.get("msg")) for p in problems][:5],
                )
                if tool_use is None:
                    continue
                attempt_messages = [
                    *messages,
                    {"role": "assistant", "content": [tool_use.model_dump(exclude_none=True)]},
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": tool_use.id,
                                "is_error": True,
                                "content": "The input did not match the schema: "
                                + "; ".join(f"{p.get('loc')}: {p.get('msg')}" for p in problems[:10])
                                + f". Call {TURN_TOOL_NAME} again with valid input.",
                            }
                        ],
                    },
                ]
        raise ClaudeBadOutput("Claude's answer broke the schema twice")

    async def draft(self, *, system: str, messages: list[dict[str, Any]]) -> AsyncIterator[DraftPiece]:
        fields = _FieldStream()
        try:
            async with self._client.messages.stream(
                model=self.model,
                max_tokens=DRAFT_MAX_TOKENS,
                system=self._system(system),  # type: ignore[arg-type]
                tools=[DRAFT_TOOL],  # type: ignore[list-item]
                tool_choice={"type": "tool", "name": DRAFT_TOOL_NAME},
                messages=messages,  # type: ignore[arg-type]
            ) as stream:
                async for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                        for piece in fields.feed(event.delta.partial_json):
                            yield piece
                final = await stream.get_final_message()
        except anthropic.APIError as err:
            raise _unavailable(err) from err
        except httpx2.TransportError as err:
            # A connection dropped mid-stream surfaces as the transport's error, not the SDK's.
            raise ClaudeUnavailable("the answer was cut off") from err
        tool_use = next((b for b in final.content if b.type == "tool_use"), None)
        try:
            if tool_use is None:
                raise ValueError("no tool call in the answer")
            draft = HandoffDraft.model_validate(tool_use.input)
        except (ValidationError, ValueError) as err:
            problems = err.errors() if isinstance(err, ValidationError) else [{"msg": str(err)}]
            logger.warning(
                "Claude draft broke the schema: %s", [(p.get("loc"), p.get("msg")) for p in problems][:5]
            )
            raise ClaudeBadOutput("Claude's draft broke the schema") from err
        yield draft
        yield Usage.of(final.usage)


# ── warming up ─────────────────────────────────────────────────────────────────────────────────────
_WARM_USAGE = {"input_tokens": 1, "output_tokens": 1}


def _warm_answer(request: httpx2.Request) -> httpx2.Response:
    """Canned answers, in the API's shapes, for the warm-up's in-memory transport (no network)."""
    message = {
        "id": "msg_warm",
        "type": "message",
        "role": "assistant",
        "model": "warm-up",
        "stop_sequence": None,
    }
    if b'"stream":true' not in request.content.replace(b" ", b""):
        valid = {"message": "ok", "confidence": 0.5}
        turn = {"type": "tool_use", "id": "toolu_warm", "name": TURN_TOOL_NAME, "input": valid}
        body = {**message, "content": [turn], "stop_reason": "tool_use", "usage": _WARM_USAGE}
        return httpx2.Response(200, json=body)
    draft = json.dumps({"root_cause": "ok", "steps_taken": ["ok"], "recommendations": "ok"})
    events = [
        ("message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None, "usage": _WARM_USAGE}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_warm", "name": DRAFT_TOOL_NAME, "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": draft}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    sse = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx2.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})


async def warm_up(client: AnthropicClaude) -> None:
    """Run one turn and one streamed draft through the SDK against canned answers in memory.

    The SDK builds its pydantic schemas on first use: 50-200 ms of CPU that would otherwise block the event
    loop in the middle of the first engineer's turn (and hold up every other request with it).
    """
    warm = AnthropicClaude(
        api_key="warm-up",
        base_url="http://warm-up.invalid",
        model=client.model,
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(_warm_answer)),
    )
    messages = [{"role": "user", "content": "warm-up"}]
    try:
        await warm.turn(system="warm-up", messages=messages)
        async for _ in warm.draft(system="warm-up", messages=messages):
            pass
    except Exception as err:  # never keep FlowPilot from starting: the first turn just pays the cost
        logger.info("Claude client warm-up skipped: %s", type(err).__name__)
    finally:
        await warm.close()
