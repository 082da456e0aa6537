"""First words: how soon an engineer sees Claude's words once Claude starts writing a turn.

FlowPilot streams each turn's message from the tool input as it arrives; it is measured at the REST API
(`POST …/messages` with `Accept: text/event-stream`): from the fake sending the first fragment of the turn's
tool input to the bench reading the first `delta` event, for N sessions taking a turn at once while Claude
writes slowly. The bench process holds both clocks (the fake runs in one of its threads).

The baseline bot does not stream: its words appear when Claude has written the whole answer. It is given the
same writing time (the fake waits as long before answering as FlowPilot's turns took to stream), and its
delay is counted from the request reaching the fake (where a streamed answer's first token would be) to its
Slack post.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import aiohttp

from . import harness as h
from .scenarios import Context, Row, mark, replied, reply_with

API_TOKEN = "bench-api-token"
# Claude writing slowly: a 16-character fragment every 40 ms, about 400 characters a second, so a turn of
# about 1 KB takes some 2.5 s to write.
CHUNK_DELAY = 0.04
TARGET_P99 = 0.3


async def first_words(ctx: Context) -> list[Row]:
    sessions = 5 if ctx.quick else 20
    fp_delays, writing = await _flowpilot(ctx, sessions)
    base_delays = await _baseline(ctx, sessions, writing)
    p99 = h.percentile(fp_delays, 99) if fp_delays else float("nan")
    base_p99 = h.percentile(base_delays, 99) if base_delays else float("nan")
    return [
        Row(
            f"first Claude token → first visible words of a turn, {sessions} turns at once, Claude writing "
            f"{writing:.1f} s (REST event stream)",
            h.summary_ms(fp_delays) if fp_delays else "no data",
            h.summary_ms(base_delays) + " (whole reply)" if base_delays else "no data",
            f"{p99 / base_p99:.2f}x p99" if fp_delays and base_delays else "",
            target="p99 ≤ 300 ms",
            ok=len(fp_delays) == sessions and p99 <= TARGET_P99,
        )
    ]


async def _flowpilot(ctx: Context, sessions: int) -> tuple[list[float], float]:
    """Per session, first fragment sent → first `delta` read; and how long the turns took to write."""
    db = await h.fresh_database(ctx.admin_url)
    env = {**ctx.env(), "DATABASE_URL": db, "FLOWPILOT_API_TOKENS": f"{API_TOKEN}@slack:{h.TEAM}"}
    server = h.flowpilot(env, "flowpilot-first-words")
    await server.start("/readyz")
    try:
        async with h.http_session() as http:
            ids = [await _start(http, server.url, i) for i in range(sessions)]
            ctx.anthropic.chunk_delay = CHUNK_DELAY
            seen = await asyncio.gather(
                *(_first_delta(http, server.url, sid, i) for i, sid in enumerate(ids))
            )
    finally:
        ctx.anthropic.chunk_delay = 0.0
        await server.stop()
    delays, writing = [], []
    for i, at in enumerate(seen):
        request = ctx.tracker.requests.get(mark("fw", i))
        if at is None or request is None or not request.first_text_at:
            continue
        delays.append(at - request.first_text_at)
        writing.append(request.answered_at - request.first_text_at)
    return delays, statistics.median(writing) if writing else 0.0


def _headers(i: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}", "X-FlowPilot-User": f"UFW{i:04d}"}


async def _start(http: aiohttp.ClientSession, url: str, i: int) -> str:
    body = {"text": f"{mark('fwstart', i)} printer jam at Contoso"}
    async with http.post(f"{url}/api/ai-sessions", json=body, headers=_headers(i)) as r:
        if r.status != 201:
            raise RuntimeError(f"session {i} did not start: {r.status} {await r.text()}")
        data: dict[str, Any] = await r.json()
        return str(data["session"]["id"])


async def _first_delta(http: aiohttp.ClientSession, url: str, sid: str, i: int) -> float | None:
    """When the first `delta` event of session i's streamed turn was read (None if none came)."""
    headers = {**_headers(i), "Accept": "text/event-stream"}
    body = {"text": f"{mark('fw', i)} the queue is still stuck"}
    first: float | None = None
    async with http.post(f"{url}/api/ai-sessions/{sid}/messages", json=body, headers=headers) as r:
        async for line in r.content:
            if first is None and line.startswith(b"event: delta"):
                first = time.perf_counter()
            if line.startswith(b"event: done"):
                break
    return first


async def _baseline(ctx: Context, sessions: int, writing: float) -> list[float]:
    """Per message, request reaching the fake → the bot's reply posted, Claude taking `writing` seconds."""
    server = await ctx.baseline()
    ctx.anthropic.latency = writing
    try:
        async with h.http_session() as http:
            driver = h.SlackDriver(http)
            tokens = [mark("fwbase", i) for i in range(sessions)]
            await asyncio.gather(
                *(
                    driver.mention(server.url, channel=ctx.slack.general, user=f"U{i:09d}", text=f"{t} jam")
                    for i, t in enumerate(tokens)
                )
            )
            await asyncio.gather(*(h.wait_until(replied(ctx, t), 60) for t in tokens))
    finally:
        ctx.anthropic.latency = 0.0
        await server.stop()
    delays = []
    for token in tokens:
        request, posted = ctx.tracker.requests.get(token), reply_with(ctx, token)
        if request is not None and posted is not None:
            delays.append(posted - request.received_at)
    return delays
