"""The Claude client on the `anthropic` SDK (bot.claude.ClaudeClient): one streamed structured turn, or a
streamed handoff draft; the newest Sonnet the SDK lists; the warm-up at start."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast, get_args

import anthropic
import httpx2
from anthropic.types import Model
from pydantic import ValidationError

from .claude import (
    DRAFT_FIELDS,
    DRAFT_MAX_TOKENS,
    DRAFT_TOOL,
    TURN_FIELDS,
    TURN_MAX_TOKENS,
    TURN_TOOL,
    DraftPiece,
    MessageText,
    TurnPiece,
    TurnResult,
)
from .claude_choice import Choice, chosen, with_choice
from .claude_stream import FieldStream, FieldText, StreamedAnswer, Usage
from .errors import ClaudeBadOutput, ClaudeUnavailable
from .schemas import DRAFT_TOOL_NAME, TURN_TOOL_NAME, ClaudeTurn, HandoffDraft

logger = logging.getLogger(__name__)


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


def newest_sonnet() -> str:
    """The first Sonnet in the installed SDK's model list (the SDK lists newest first)."""
    try:
        from anthropic.resources.messages.messages import DEPRECATED_MODELS
    except ImportError:  # moved in a later SDK: then only the list's order counts
        DEPRECATED_MODELS = {}
    for alias in get_args(Model):
        for name in get_args(alias):
            if isinstance(name, str) and name.startswith("claude-sonnet-") and name not in DEPRECATED_MODELS:
                return name
    return "claude-sonnet-4-5"


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
            "tools": [with_choice(TURN_TOOL, choice) if choice else TURN_TOOL],
            "tool_choice": {"type": "tool", "name": TURN_TOOL_NAME},
            "messages": messages,
        }

    async def _streamed(
        self, params: dict[str, Any], fields: FieldStream
    ) -> AsyncGenerator[FieldText | StreamedAnswer, None]:
        """The watched fields' text as the forced tool's input streams in, then the whole answer.

        The SDK sends the request (headers, retries, errors, an `error` event mid-stream raised as its
        APIStatusError) and decodes the event stream; the events are read as plain dicts. Its MessageStream
        helper rebuilt a snapshot of the whole message at every fragment, and a typed model per event cost
        another half millisecond a turn: together more CPU than the rest of FlowPilot's work on a turn.
        """
        began = False  # the answer began: a dropped connection cut it off, rather than not reaching Claude
        answer = StreamedAnswer()
        try:
            # AsyncStream[object]: each event is the decoded JSON as it came. With dict[str, Any] the SDK ran
            # every event through its type construction: about 8 % of the process's CPU on a turn.
            stream = await self._client.post(
                "/v1/messages",
                body={**params, "stream": True},
                cast_to=object,
                stream=True,
                stream_cls=anthropic.AsyncStream[object],
            )
            began = True
            async with stream:
                async for decoded in stream:
                    event = cast(dict[str, Any], decoded)
                    delta = event.get("delta") if event.get("type") == "content_block_delta" else None
                    if delta is not None and delta.get("type") == "input_json_delta":
                        answer.parts.append(delta["partial_json"])
                        for piece in fields.feed(delta["partial_json"]):
                            yield piece
                    else:
                        answer.add(event)
        except anthropic.APIConnectionError as err:
            cut = began and not isinstance(err, anthropic.APITimeoutError)
            raise (ClaudeUnavailable("the answer was cut off") if cut else _unavailable(err)) from err
        except anthropic.APIError as err:
            raise _unavailable(err) from err
        except httpx2.TransportError as err:
            # A connection dropped mid-stream surfaces as the transport's error, not the SDK's.
            raise ClaudeUnavailable("the answer was cut off") from err
        if not answer.stopped:
            raise ClaudeUnavailable("the answer was cut off")
        yield answer

    async def turn(
        self, *, system: str, messages: list[dict[str, Any]], choice: Choice | None = None
    ) -> AsyncGenerator[TurnPiece, None]:
        usage = Usage()
        attempt_messages = messages
        first_shown = False  # the first attempt put words on screen
        for attempt in (1, 2):
            final: StreamedAnswer | None = None
            params = self._turn_params(system, attempt_messages, choice)
            async with contextlib.aclosing(self._streamed(params, FieldStream(TURN_FIELDS))) as pieces:
                async for piece in pieces:
                    if isinstance(piece, FieldText):
                        # A second attempt streams only onto an empty screen; else its whole message
                        # replaces the first attempt's words at the end (see ClaudeClient.turn).
                        if attempt == 1 or not first_shown:
                            first_shown = first_shown or attempt == 1
                            yield MessageText(piece.text)
                    else:
                        final = piece
            assert final is not None
            usage = usage + final.usage
            tool_use = None
            try:
                tool_use = final.tool_use()
                if tool_use is None:
                    raise ValueError("no tool call in the answer")
                turn = ClaudeTurn.model_validate(tool_use.input)
                made = chosen(tool_use.input, choice)
            except (ValidationError, ValueError) as err:
                problems = _problems(err)
                # Log the shape of the problem, never the content (it may quote the engineer's paste).
                logger.warning("Claude turn broke the schema (attempt %d): %s", attempt, problems[:5])
                if tool_use is not None:
                    attempt_messages = [*messages, *_schema_feedback(tool_use, problems)]
                continue
            yield TurnResult(turn, usage, made)
            return
        raise ClaudeBadOutput("Claude's answer broke the schema twice")

    async def draft(self, *, system: str, messages: list[dict[str, Any]]) -> AsyncIterator[DraftPiece]:
        params = {
            **self._turn_params(system, messages),
            "max_tokens": DRAFT_MAX_TOKENS,
            "tools": [DRAFT_TOOL],
        }
        params["tool_choice"] = {"type": "tool", "name": DRAFT_TOOL_NAME}
        final: StreamedAnswer | None = None
        async with contextlib.aclosing(self._streamed(params, FieldStream(DRAFT_FIELDS))) as pieces:
            async for piece in pieces:
                if isinstance(piece, FieldText):
                    yield piece
                else:
                    final = piece
        assert final is not None
        try:
            tool_use = final.tool_use()
            if tool_use is None:
                raise ValueError("no tool call in the answer")
            draft = HandoffDraft.model_validate(tool_use.input)
        except (ValidationError, ValueError) as err:
            logger.warning("Claude draft broke the schema: %s", _problems(err)[:5])
            raise ClaudeBadOutput("Claude's draft broke the schema") from err
        yield draft
        yield final.usage


def _problems(err: ValidationError | ValueError) -> list[tuple[Any, str]]:
    """Where and what the schema problems are (never the values: they may quote the engineer's paste)."""
    if isinstance(err, ValidationError):
        return [(p.get("loc"), p.get("msg", "")) for p in err.errors()]
    return [(None, str(err))]


def _schema_feedback(tool_use: Any, problems: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    """The broken call and the tool result telling Claude what to fix, for the second attempt."""
    return [
        {"role": "assistant", "content": [tool_use.model_dump(exclude_none=True)]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use.id,
                    "is_error": True,
                    "content": "The input did not match the schema: "
                    + "; ".join(f"{loc}: {problem}" for loc, problem in problems[:10])
                    + f". Call {TURN_TOOL_NAME} again with valid input.",
                }
            ],
        },
    ]


# ── warming up ─────────────────────────────────────────────────────────────────────────────────────
_WARM_USAGE = {"input_tokens": 1, "output_tokens": 1}


def _warm_answer(request: httpx2.Request) -> httpx2.Response:
    """Canned streamed answers, in the API's shapes, for the warm-up's in-memory transport (no network)."""
    tool = json.loads(request.content)["tool_choice"]["name"]
    if tool == TURN_TOOL_NAME:
        answer: dict[str, Any] = {"message": "ok", "confidence": 0.5}
    else:
        answer = {"root_cause": "ok", "steps_taken": ["ok"], "recommendations": "ok"}
    message: dict[str, Any] = {
        "id": "msg_warm",
        "type": "message",
        "role": "assistant",
        "model": "warm-up",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _WARM_USAGE,
    }
    events = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_warm", "name": tool, "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": json.dumps(answer)}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    sse = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx2.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})


async def warm_up(client: AnthropicClaude) -> None:
    """Run one streamed turn and one streamed draft through the SDK against canned answers in memory.

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
        async for _ in warm.turn(system="warm-up", messages=messages):
            pass
        async for _ in warm.draft(system="warm-up", messages=messages):
            pass
    except Exception as err:  # never keep FlowPilot from starting: the first turn just pays the cost
        logger.info("Claude client warm-up skipped: %s", type(err).__name__)
    finally:
        await warm.close()
