"""Sending an answer as the real SSE event sequence, and dropping the connection part way when scripted."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from fakes.anthropic.caching import USAGE_KEYS
from fakes.anthropic.records import RecordedRequest
from fakes.anthropic.script import Cut, Pace


async def stream(
    request: web.Request,
    message: dict[str, Any],
    *,
    headers: dict[str, str],
    chunk_chars: int,
    chunk_delay: float,
    cut: Cut | None,
    recorded: RecordedRequest | None = None,
    pace: Pace | None = None,
) -> web.StreamResponse:
    """Send `message` as the real SSE event sequence; with `cut`, drop the connection part way.

    `pace` (a scripted answer's own) overrides `chunk_delay` and may hold the last chunk until released.
    """
    pace = pace or Pace()
    delay = chunk_delay if pace.chunk_delay is None else pace.chunk_delay
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    # An answer nothing paces is written in one go, as a fast answer arrives on the wire (and at a fraction
    # of the fake's CPU when it serves hundreds of turns a second beside the app it measures).
    out = _Out(response, recorded, at_once=not delay and pace.hold is None and cut is None)
    block = message["content"][0]
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    await out.send("message_start", {"type": "message_start", "message": start})
    if block["type"] == "text":
        opening: dict[str, Any] = {"type": "text", "text": ""}
        pieces = _chunks(block["text"], chunk_chars)
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
    else:
        opening = {**block, "input": {}}
        # The real API opens a tool_use block with an empty partial_json before the first fragment, and
        # writes the input's keys in the order the model generates them (the schema's), not sorted.
        pieces = ["", *_chunks(json.dumps(block["input"], ensure_ascii=False), chunk_chars)]
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
    await out.send(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": opening},
    )
    await out.send("ping", {"type": "ping"})
    sent = 0
    for n, delta in enumerate(deltas, 1):
        if cut is not None and sent >= cut.after_chars:
            return await _cut(request, response, cut)
        if delay:
            await asyncio.sleep(delay)
        if pace.hold is not None and n == len(deltas):
            await pace.hold.wait()
        if cut is not None:
            key = "text" if "text" in delta else "partial_json"
            delta = {**delta, key: delta[key][: cut.after_chars - sent]}
        fragment = len(delta.get("text", delta.get("partial_json", "")))
        await out.send(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": delta},
            fragment=bool(fragment),
            last=n == len(deltas),
        )
        sent += fragment
    if cut is not None:
        return await _cut(request, response, cut)
    await out.send("content_block_stop", {"type": "content_block_stop", "index": 0})
    await out.send(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            # Counts on message_delta are cumulative totals, as the real API sends them.
            "usage": {key: usage[key] for key in USAGE_KEYS},
        },
    )
    await out.send("message_stop", {"type": "message_stop"})
    await out.flush()
    await response.write_eof()
    return response


class _Out:
    """The SSE frames of one answer, each written as it comes or (`at_once`) all in one write at the end; the
    record of what was sent is stamped when the text actually leaves."""

    def __init__(
        self, response: web.StreamResponse, recorded: RecordedRequest | None, *, at_once: bool
    ) -> None:
        self.response = response
        self.recorded = recorded
        self.at_once = at_once
        self.frames: list[bytes] = []
        self.fragments = 0

    async def send(
        self, event: str, data: dict[str, Any], *, fragment: bool = False, last: bool = False
    ) -> None:
        frame = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
        if self.at_once:
            self.frames.append(frame)
            self.fragments += fragment
            return
        await self.response.write(frame)
        if fragment:
            self._stamp(1, last=last)

    async def flush(self) -> None:
        if self.frames:
            await self.response.write(b"".join(self.frames))
            self.frames.clear()
            if self.fragments:
                self._stamp(self.fragments, last=True)

    def _stamp(self, fragments: int, *, last: bool) -> None:
        if self.recorded is None:
            return
        now = time.perf_counter()
        self.recorded.first_text_at = self.recorded.first_text_at or now
        self.recorded.chunks_sent += fragments
        if last:
            self.recorded.last_text_at = now


async def send_cut_json(
    request: web.Request, message: dict[str, Any], cut: Cut, *, headers: dict[str, str]
) -> web.StreamResponse:
    """A non-streaming answer whose body stops after `after_chars` characters of its JSON."""
    payload = json.dumps(message).encode()
    response = web.StreamResponse(headers=headers)
    response.content_length = len(payload)
    await response.prepare(request)
    await response.write(payload[: cut.after_chars])
    await _abort(request)
    return response


async def _cut(request: web.Request, response: web.StreamResponse, cut: Cut) -> web.StreamResponse:
    if cut.error_type is not None:
        message = "Overloaded" if cut.error_type == "overloaded_error" else "Internal server error"
        payload = {"type": "error", "error": {"type": cut.error_type, "message": message}}
        await _send(response, "error", payload)
    await _abort(request)
    return response


def _chunks(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def _send(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


async def _abort(request: web.Request) -> None:
    """Drop the TCP connection without finishing the body, as a network failure or proxy timeout does."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # Give the loop a turn so the abort happens before aiohttp tries to finish the response.
    await asyncio.sleep(0)
