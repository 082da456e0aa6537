"""The fake Anthropic server, driven through the real `anthropic` SDK as FlowPilot drives the real API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest
from pydantic import ValidationError

from bot.schemas import TURN_TOOL_NAME, ClaudeTurn
from fakes.anthropic import FakeAnthropic, Hold

MODEL = "claude-sonnet-4-6"
TURN_TOOL: Any = {
    "name": TURN_TOOL_NAME,
    "description": "Answer the engineer.",
    "input_schema": ClaudeTurn.model_json_schema(),
}
FORCE_TURN: Any = {"type": "tool", "name": TURN_TOOL_NAME}
# About 2,500 tokens at the fake's four characters a token: above the 1,024-token caching minimum.
LONG_SYSTEM = "You are FlowPilot, a troubleshooting copilot for IT engineers. " * 160


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test-key", max_retries=0)
    yield sdk
    await sdk.close()


def user(text: str) -> Any:
    return {"role": "user", "content": text}


async def test_forced_turn_tool_answers_with_a_valid_claude_turn(client: anthropic.AsyncAnthropic) -> None:
    reply = await client.messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=[user("The printer at Contoso stopped printing from PC-042 this morning")],
        tools=[TURN_TOOL],
        tool_choice=FORCE_TURN,
    )

    assert reply.stop_reason == "tool_use"
    [block] = reply.content
    assert block.type == "tool_use" and block.name == TURN_TOOL_NAME
    turn = ClaudeTurn.model_validate(block.input)
    assert turn.triage_update is not None
    assert turn.triage_update.client_name == "Contoso"
    assert turn.triage_update.asset_name == "PC-042"
    assert turn.triage_update.issue_category == "Printing"
    assert 1 <= len(turn.questions) <= 2 and all(2 <= len(q.options) <= 4 for q in turn.questions)
    assert "printer at Contoso" in turn.message


async def test_default_turn_follows_the_conversation(client: anthropic.AsyncAnthropic) -> None:
    """Confidence rises per user message; the reply quotes the last one, whatever blocks it is made of."""
    first = await client.messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=[user("Outlook keeps asking for a password")],
        tools=[TURN_TOOL],
        tool_choice=FORCE_TURN,
    )
    tool_use: Any = first.content[0]
    screenshot = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    conversation: Any = [
        user("Outlook keeps asking for a password"),
        {"role": "assistant", "content": [tool_use.model_dump(exclude_none=True)]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": tool_use.id, "content": "Shown to the engineer"},
                {"type": "image", "source": screenshot},
                {"type": "text", "text": "The sign-in log says MFA required"},
            ],
        },
    ]
    later = await client.messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=conversation,
        tools=[TURN_TOOL],
        tool_choice=FORCE_TURN,
    )

    first_turn = ClaudeTurn.model_validate(tool_use.input)
    later_turn = ClaudeTurn.model_validate(later.content[0].model_dump()["input"])
    assert later_turn.confidence > first_turn.confidence
    assert "The sign-in log says MFA required" in later_turn.message
    assert later_turn.triage_update is not None
    assert later_turn.triage_update.issue_category == "Microsoft 365 / Identity"


async def test_queued_turn_is_sent_verbatim_even_when_it_breaks_the_schema(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.queue_turn({"message": "", "confidence": 7})

    reply = await client.messages.create(
        model=MODEL, max_tokens=1024, messages=[user("VPN down")], tools=[TURN_TOOL], tool_choice=FORCE_TURN
    )

    tool_input = reply.content[0].model_dump()["input"]
    assert tool_input == {"message": "", "confidence": 7}
    with pytest.raises(ValidationError):
        ClaudeTurn.model_validate(tool_input)


async def test_stream_yields_text_deltas_and_final_usage(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.queue_text("Restart the spooler, then print a test page.")
    fake.chunk_chars = 8

    async with client.messages.stream(model=MODEL, max_tokens=1024, messages=[user("printer")]) as stream:
        deltas = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert len(deltas) > 1
    assert "".join(deltas) == "Restart the spooler, then print a test page."
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens == len("".join(deltas)) // 4
    assert stream.request_id is not None and stream.request_id.startswith("req_")


async def test_streamed_tool_use_input_arrives_whole(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    turn = {"message": "Check DNS.", "confidence": 0.5, "questions": [{"id": "q1", "text": "Which DNS?"}]}
    fake.queue_turn(turn)
    fake.chunk_chars = 5

    async with client.messages.stream(
        model=MODEL, max_tokens=1024, messages=[user("dns")], tools=[TURN_TOOL], tool_choice=FORCE_TURN
    ) as stream:
        final = await stream.get_final_message()

    assert final.stop_reason == "tool_use"
    assert final.content[0].model_dump()["input"] == turn


async def test_a_streamed_turn_writes_its_message_first_at_its_own_pace_and_can_be_held(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    hold = Hold()
    fake.queue_turn({"message": "Check DNS first.", "confidence": 0.5}, chunk_delay=0.0, hold=hold)
    fragments: list[str] = []
    async with client.messages.stream(
        model=MODEL, max_tokens=1024, messages=[user("dns")], tools=[TURN_TOOL], tool_choice=FORCE_TURN
    ) as stream:
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                fragments.append(event.delta.partial_json)
                recorded = fake.last_request
                if not hold.released and "".join(fragments).startswith('{"message": "Check'):
                    # The fake is still writing: it holds its last fragment until told to go on.
                    assert recorded.chunks_sent >= len([f for f in fragments if f])
                    assert recorded.first_text_at and not recorded.last_text_at
                    hold.release()
        final = await stream.get_final_message()
    assert hold.released and final.content[0].model_dump()["input"]["message"] == "Check DNS first."
    assert fake.last_request.last_text_at >= fake.last_request.first_text_at > 0


async def test_a_default_streamed_turn_writes_the_message_first(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    async with client.messages.stream(
        model=MODEL, max_tokens=1024, messages=[user("VPN drops")], tools=[TURN_TOOL], tool_choice=FORCE_TURN
    ) as stream:
        raw = "".join(
            [
                e.delta.partial_json
                async for e in stream
                if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
            ]
        )
    assert raw.startswith('{"message": "You said: \\"VPN drops\\".')


async def test_plain_request_gets_a_handoff_draft_in_three_sections(client: anthropic.AsyncAnthropic) -> None:
    reply = await client.messages.create(
        model=MODEL,
        max_tokens=1024,
        system="Write the handoff.",
        messages=[user("Engineer: VPN drops at home\nEngineer: route print shows no office subnet")],
    )

    text = reply.content[0].model_dump()["text"]
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Root cause", "## Steps taken", "## Recommendations"]
    assert "1. " in text and "2. " in text
    assert "route print shows no office subnet" in text
    assert reply.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("status", "sdk_error", "error_type"),
    [
        (529, anthropic.OverloadedError, "overloaded_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
    ],
)
async def test_queued_error_maps_to_the_sdk_exception(
    fake: FakeAnthropic,
    client: anthropic.AsyncAnthropic,
    status: int,
    sdk_error: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake.queue_error(status, retry_after=3 if status == 429 else None)

    with pytest.raises(sdk_error) as caught:
        await client.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])

    assert caught.value.status_code == status
    assert caught.value.body == {
        "type": "error",
        "error": {"type": error_type, "message": "Scripted error from FakeAnthropic"},
        "request_id": caught.value.request_id,
    }
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "3"


async def test_sdk_retries_past_a_529(fake: FakeAnthropic) -> None:
    fake.queue_error(529, retry_after=0.01)
    fake.queue_text("Back again.")

    async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test-key", max_retries=2) as sdk:
        reply = await sdk.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])

    assert reply.content[0].model_dump()["text"] == "Back again."
    assert len(fake.requests) == 2


async def test_sdk_waits_only_as_long_as_retry_after_says(fake: FakeAnthropic) -> None:
    fake.queue_error(429, retry_after=0.01, times=2)

    async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test-key", max_retries=2) as sdk:
        started = time.monotonic()
        await sdk.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])
        elapsed = time.monotonic() - started

    assert len(fake.requests) == 3
    # Without retry-after the SDK backs off at least 0.375 s, then 0.75 s.
    assert elapsed < 0.3


async def test_cut_stream_fails_in_the_client_after_partial_text(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.queue_cut_stream("The spooler service is stuck; restart it and clear the queue.", after_chars=20)
    received: list[str] = []

    # anthropic 2.x lets the transport error through unwrapped while a stream is being read.
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=[user("hi")]) as stream:
            async for text in stream.text_stream:
                received.append(text)

    assert "".join(received) == "The spooler service "


async def test_cut_stream_with_an_error_event_raises_an_api_error(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.queue_cut_stream("Partial answer", after_chars=4, error_type="overloaded_error")

    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=[user("hi")]) as stream:
            await stream.get_final_message()

    # The HTTP status was already 200, so the SDK cannot pick OverloadedError; only the body tells.
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def cached_system() -> Any:
    return [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]


async def test_a_shared_cached_system_prompt_is_read_back(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    first = await client.messages.create(
        model=MODEL, max_tokens=64, system=cached_system(), messages=[user("printer jammed")]
    )
    second = await client.messages.create(
        model=MODEL, max_tokens=64, system=cached_system(), messages=[user("VPN drops every hour")]
    )

    assert first.usage.cache_read_input_tokens == 0
    assert (
        first.usage.cache_creation_input_tokens is not None and first.usage.cache_creation_input_tokens > 1024
    )
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens + second.usage.cache_creation_input_tokens < (
        first.usage.input_tokens + first.usage.cache_creation_input_tokens
    )
    assert fake.total_usage["cache_read_input_tokens"] == second.usage.cache_read_input_tokens


async def test_moving_the_breakpoint_to_the_newest_message_reads_the_previous_turn(
    client: anthropic.AsyncAnthropic,
) -> None:
    """The real API looks back from a breakpoint for cached prefixes; multi-turn caching relies on it."""

    def marked(text: str) -> Any:
        return {
            "role": "user",
            "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}],
        }

    first = await client.messages.create(
        model=MODEL, max_tokens=64, system=LONG_SYSTEM, messages=[marked("printer jammed")]
    )
    second = await client.messages.create(
        model=MODEL,
        max_tokens=64,
        system=LONG_SYSTEM,
        messages=[
            user("printer jammed"),
            {"role": "assistant", "content": "Which model?"},
            marked("HP M404"),
        ],
    )

    assert first.usage.cache_creation_input_tokens is not None and first.usage.cache_creation_input_tokens > 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert (
        second.usage.cache_creation_input_tokens is not None
        and 0 < second.usage.cache_creation_input_tokens < 50
    )


async def test_prefixes_below_the_minimum_are_not_cached(client: anthropic.AsyncAnthropic) -> None:
    system: Any = [{"type": "text", "text": "Short prompt.", "cache_control": {"type": "ephemeral"}}]

    replies = [
        await client.messages.create(model=MODEL, max_tokens=64, system=system, messages=[user("hi")])
        for _ in range(2)
    ]

    assert [(r.usage.cache_creation_input_tokens, r.usage.cache_read_input_tokens) for r in replies] == [
        (0, 0),
        (0, 0),
    ]


@pytest.mark.parametrize(
    ("messages", "extra", "complaint"),
    [
        ([], {}, "at least one message"),
        ([{"role": "assistant", "content": "Hi"}], {}, 'first message must use the "user" role'),
        ([{"role": "user", "content": [{"type": "video", "url": "x"}]}], {}, "messages.0.content.0.type"),
        ([user("hi")], {"tools": [TURN_TOOL], "tool_choice": {"type": "tool", "name": "nope"}}, "'nope'"),
    ],
)
async def test_malformed_request_is_refused_with_400(
    client: anthropic.AsyncAnthropic, messages: Any, extra: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model=MODEL, max_tokens=64, messages=messages, **extra)

    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert complaint in caught.value.message


@pytest.mark.parametrize(
    ("headers", "body", "status", "complaint"),
    [
        ({"anthropic-version": "2023-06-01"}, {"model": MODEL}, 401, "x-api-key"),
        ({"x-api-key": "k"}, {"model": MODEL}, 400, "anthropic-version"),
        (
            {"x-api-key": "k", "anthropic-version": "2023-06-01"},
            {"model": MODEL},
            400,
            "max_tokens: Field required",
        ),
    ],
)
async def test_raw_requests_missing_headers_or_fields_are_refused(
    fake: FakeAnthropic, headers: dict[str, str], body: Any, status: int, complaint: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/v1/messages", json=body, headers=headers) as response,
    ):
        payload = await response.json()

    assert response.status == status
    assert payload["type"] == "error" and complaint in payload["error"]["message"]


async def test_requests_are_recorded_until_reset(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.queue_text("scripted")
    await client.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])

    assert fake.last_request.body["messages"] == [user("hi")]
    assert fake.last_request.api_key == "test-key"
    assert fake.last_request.headers["Anthropic-Version"]  # recorded headers are case-insensitive

    fake.queue_text("never sent")
    fake.reset()
    reply = await client.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])

    assert len(fake.requests) == 1
    assert reply.content[0].model_dump()["text"] != "never sent"
    assert fake.total_usage["output_tokens"] == reply.usage.output_tokens


async def test_latency_delays_every_answer(fake: FakeAnthropic) -> None:
    fake.latency = 0.5

    async with anthropic.AsyncAnthropic(
        base_url=fake.base_url, api_key="test-key", max_retries=0, timeout=0.1
    ) as sdk:
        with pytest.raises(anthropic.APITimeoutError):
            await sdk.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])


def test_in_thread_mode_serves_the_sync_client() -> None:
    with (
        FakeAnthropic.in_thread() as fake,
        anthropic.Anthropic(base_url=fake.base_url, api_key="test-key") as sdk,
    ):
        fake.queue_text("From another thread.")
        reply = sdk.messages.create(model=MODEL, max_tokens=64, messages=[user("hi")])
        with sdk.messages.stream(model=MODEL, max_tokens=64, messages=[user("hi")]) as stream:
            streamed = stream.get_final_text()

    assert reply.content[0].model_dump()["text"] == "From another thread."
    assert streamed.startswith("## Root cause")
    assert len(fake.requests) == 2
