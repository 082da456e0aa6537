"""POST …/messages with `Accept: text/event-stream`: the turn's words as Claude writes them, then the turn."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from fakes.anthropic import Hold
from tests.api.conftest import Api, iter_sse, read_sse

ANSWER: dict[str, Any] = {
    "message": "The spooler on PRN-2 is holding a stuck job. Let's clear it and check the driver first.",
    "questions": [{"id": "q1", "text": "Is the queue empty now?", "options": ["Yes", "No"]}],
    "actions": [{"id": "a1", "text": "Restart the Print Spooler service."}],
    "confidence": 0.6,
}
WAIT = 60  # a guard against a hung stream, not a timing assertion


async def post_streamed(api: Api, sid: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
    headers = {**api.headers(), "Accept": "text/event-stream"}
    return await api.http.post(f"{api.base}/api/ai-sessions/{sid}/messages", json=body, headers=headers)


def deltas(events: list[tuple[str, Any]]) -> str:
    return "".join(data["text"] for name, data in events if name == "delta")


async def test_the_words_arrive_while_claude_writes_and_the_turn_with_its_choices_at_the_end(
    api: Api,
) -> None:
    sid = (await api.start())["session"]["id"]
    hold = Hold()
    api.fake.queue_turn(ANSWER, hold=hold)
    events: list[tuple[str, Any]] = []
    async with asyncio.timeout(WAIT):
        response = await post_streamed(api, sid, {"text": "Still stuck"})
        async with response:
            assert response.status == 200 and response.content_type == "text/event-stream"
            async for name, data in iter_sse(response):
                events.append((name, data))
                if name == "delta" and not hold.released:
                    # The first words are here while Claude has not sent the end of its answer.
                    assert api.fake.last_request.last_text_at == 0.0
                    hold.release()
    names = [name for name, _ in events]
    assert names[0] == "delta" and names[-1] == "done" and "cut" not in names and "error" not in names
    done = events[-1][1]
    # The done event is the JSON the same request answers without the header: the whole turn, its buttons.
    assert deltas(events) == done["turn"]["message"] == ANSWER["message"]
    assert [q["text"] for q in done["turn"]["questions"]] == ["Is the queue empty now?"]
    assert [a["text"] for a in done["turn"]["actions"]] == ["Restart the Print Spooler service."]
    assert done["session"]["steps"][-1]["content"] == ANSWER["message"]
    assert done["session"]["questions"] == done["turn"]["questions"]

    # Without the header the route answers JSON, as before.
    api.fake.queue_turn(ANSWER)
    _, plain = await api.call("POST", f"/api/ai-sessions/{sid}/messages", {"text": "And now?"}, expect=200)
    assert plain["turn"]["message"] == ANSWER["message"]


async def test_a_turn_cut_mid_stream_is_marked_with_retry_which_works(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    api.fake.queue_cut_stream(ANSWER, after_chars=50, error_type="overloaded_error")
    async with asyncio.timeout(WAIT):
        async with await post_streamed(api, sid, {"text": "Still stuck"}) as response:
            assert response.status == 200
            events = await read_sse(response)
    names = [name for name, _ in events]
    assert names[0] == "delta" and names[-2:] == ["cut", "error"], names
    cut, error = events[-2][1], events[-1][1]
    retry: dict[str, Any] = {
        "method": "POST",
        "path": f"/api/ai-sessions/{sid}/messages",
        "body": {"retry": True},
    }
    assert cut["shown"] == deltas(events) and ANSWER["message"].startswith(cut["shown"])
    assert cut["retry"] == retry
    assert error["code"] == "claude_unavailable" and error["retryable"] is True and error["retry"] == retry
    # Nothing half-written was stored: the engineer's message waits for Claude's answer.
    _, detail = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert detail["awaiting_reply"] is True and detail["steps"][-1]["content"] == "Still stuck"

    api.fake.queue_turn(ANSWER)
    async with asyncio.timeout(WAIT):
        async with await post_streamed(api, sid, retry["body"]) as response:
            retried = await read_sse(response)
    assert retried[-1][0] == "done" and retried[-1][1]["turn"]["message"] == ANSWER["message"]
    assert deltas(retried) == ANSWER["message"]
    assert retried[-1][1]["session"]["awaiting_reply"] is False


async def test_a_turn_refused_before_claude_is_asked_is_a_plain_json_error(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    await api.call("POST", f"/api/ai-sessions/{sid}/resolve",
                   {"root_cause": "r", "steps_taken": "s", "recommendations": "x"}, expect=200)  # fmt: skip
    async with await post_streamed(api, sid, {"text": "one more thing"}) as response:
        assert response.status == 409 and response.content_type == "application/json"
        assert (await response.json())["error"]["code"] == "invalid_transition"


async def test_the_openapi_document_describes_the_turn_stream(api: Api) -> None:
    _, doc = await api.call("GET", "/api/openapi.json", expect=200)
    content = doc["paths"]["/api/ai-sessions/{session_id}/messages"]["post"]["responses"]["200"]["content"]
    assert "application/json" in content
    events = {e["properties"]["event"]["const"] for e in content["text/event-stream"]["schema"]["oneOf"]}
    assert events == {"delta", "done", "cut", "error"}
