"""Flows: a button answer inside a flow, end to end, and the Claude tokens a flow saves.

`flows` starts `flowpilot serve` on a fresh database holding one generated flow: a chain of questions, each
answered "Yes" to go on, that ends in a resolution. Engineers start it from Slack's Start button (the signed
`block_actions` Slack would send) and click through it; each click is timed from the moment it is sent to
the moment the fake Slack receives the next question (the marker in its text; one walk first warms the
process and is not counted), and the fake Anthropic's request count must not move. Then the same problem is resolved twice through the REST API: once on the flow
(its answers cost nothing; only the resolution draft asks Claude) and once without it (each answer is a
Claude turn, then the draft), and their tokens (input, cache reads and writes, output) are compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.flows.library import FlowLibrary
from bot.flows.model import Flow
from fakes.slack import block_actions_body, signed_headers
from storage.engine import create_engine, session_factory

from . import harness as h
from .scenarios import Context, Row, mark

SLUG = "bench-chain"
CHANNEL = "CFLOWS"  # + the walk's number
USER = "U000000001"
API_TOKEN = "bench-flows"


def chain(steps: int) -> Flow:
    """A flow of `steps` questions; "Yes" goes on, "No" hands over to Claude; the last "Yes" resolves it."""
    nodes: dict[str, Any] = {}
    for i in range(steps):
        nodes[f"q{i}"] = {
            "type": "question",
            "text": f"Check {i + 1}: does {mark('flowq', i)} pass?",
            "options": [
                {"label": "Yes", "next": f"q{i + 1}" if i + 1 < steps else "fixed",
                 "evidence": {"text": f"Check {i + 1} passes", "status": "confirmed"}},
                {"label": "No", "next": "explore"},
            ],
        }  # fmt: skip
    nodes["fixed"] = {"type": "resolution", "root_cause": "Stale cached credentials on the workstation"}
    nodes["explore"] = {"type": "ai", "hint": "Look beyond the standard checks"}
    body = {"schema": "flowpilot.flow/1", "id": SLUG, "title": "Bench chain", "start": "q0", "nodes": nodes}
    return Flow.model_validate(body)


async def _load(db_url: str, flow: Flow) -> None:
    engine = create_engine(db_url, pool_size=1, max_overflow=0)
    try:
        await FlowLibrary(session_factory(engine)).save(flow, source=SLUG)
    finally:
        await engine.dispose()


async def _click(
    http: aiohttp.ClientSession,
    url: str,
    action_id: str,
    value: str,
    message: dict[str, Any],
    *,
    channel: str,
) -> None:
    body = block_actions_body(
        action_id=action_id, user_id=USER, team_id=h.TEAM, value=value, channel_id=channel, message=message
    )
    headers = signed_headers(body, secret=h.SIGNING_SECRET)
    async with http.post(url + "/slack/events", data=body, headers=headers) as r:
        await r.read()
        if r.status != 200:
            raise RuntimeError(f"click answered {r.status}")


class Posted:
    """Wakes the bench when the fake Slack (in its own thread) receives a write: no busy polling in the
    process that also runs the fakes, which would slow them down and be counted as the server's time."""

    def __init__(self, ctx: Context) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        ctx.slack.observers.append(self._wake)

    def _wake(self, method: str, payload: dict[str, Any], at: float) -> None:
        self._loop.call_soon_threadsafe(self._event.set)

    async def until(self, probe: Callable[[], object], timeout: float = 30) -> None:
        deadline = self._loop.time() + timeout
        while not probe():
            self._event.clear()
            if probe():
                return
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                raise RuntimeError("the flow's next question never came")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)


def _arrived(ctx: Context, i: int, after: float) -> float | None:
    """When the fake Slack received question i (its marker) after `after`."""
    return next((at for at in ctx.tracker.posts.get(mark("flowq", i), ()) if at >= after), None)


async def _question(ctx: Context, i: int, channel: str) -> dict[str, Any]:
    """The message asking question i (stored by the fake just after it told the observers: not timed)."""
    token = mark("flowq", i)

    def found() -> dict[str, Any] | None:
        asked = [m for m in ctx.slack.messages(channel) if token in json.dumps(m.get("blocks"))]
        return asked[-1] if asked else None

    if not await h.wait_until(lambda: found() is not None, 30, interval=0.005):
        raise RuntimeError(f"question {i} was not stored")
    message = found()
    assert message is not None
    return message


def _answer_button(message: dict[str, Any]) -> tuple[str, str]:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if str(element.get("action_id", "")).startswith("fp_answer_") and element["action_id"].endswith(
                "_0"
            ):
                return element["action_id"], element["value"]
    raise RuntimeError("no answer button on the flow's question")


async def _walk(
    ctx: Context, posted: Posted, http: aiohttp.ClientSession, url: str, steps: int, *, channel: str
) -> list[float]:
    """Start the flow from Slack's Start button in `channel` (one per walk, so that an earlier walk's question
    is never taken for this one's) and answer each question "Yes": the click → next question times."""
    ctx.slack.add_channel(channel, channel.lower())
    t0 = time.perf_counter()
    await _click(http, url, "fp_start_flow_0", SLUG, {"ts": h.new_ts(), "blocks": []}, channel=channel)
    await posted.until(lambda: _arrived(ctx, 0, t0) is not None)
    message = await _question(ctx, 0, channel)
    times: list[float] = []
    for i in range(1, steps):
        action_id, value = _answer_button(message)
        sent = time.perf_counter()
        await _click(http, url, action_id, value, message, channel=channel)
        await posted.until(lambda i=i, sent=sent: _arrived(ctx, i, sent) is not None)  # type: ignore[misc]
        arrived = _arrived(ctx, i, sent)
        assert arrived is not None
        times.append(arrived - sent)
        message = await _question(ctx, i, channel)
    return times


async def _api(http: aiohttp.ClientSession, url: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {API_TOKEN}", "X-FlowPilot-User": USER}
    async with http.request(method, url + path, json=body, headers=headers) as r:
        text = await r.text()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path} answered {r.status}: {text[:200]}")
        return json.loads(text) if r.content_type == "application/json" else text


def _tokens(usage: dict[str, int], before: dict[str, int]) -> int:
    return sum(usage[k] - before.get(k, 0) for k in usage)


async def _resolved(ctx: Context, http: aiohttp.ClientSession, url: str, steps: int, *, flow: bool) -> int:
    """The Claude tokens of one session that answers `steps` checks and is resolved (draft included)."""
    before = dict(ctx.anthropic.total_usage)
    problem = "Outlook keeps prompting the user for the password after the password change"
    started = await _api(
        http, url, "POST", "/api/ai-sessions", {"text": problem, **({"flow": SLUG} if flow else {})}
    )
    sid, turn = started["session"]["id"], started["turn"]
    for i in range(steps):
        if flow:
            question = turn["questions"][0]
            body: dict[str, Any] = {"answer": {"question_id": question["id"], "answer": "Yes"}}
        else:
            body = {"text": f"Check {i + 1} passes: " + "the result looks as expected " * 3}
        reply = await _api(http, url, "POST", f"/api/ai-sessions/{sid}/messages", body)
        turn = reply["turn"] or turn
    if not flow:
        await _api(http, url, "POST", f"/api/ai-sessions/{sid}/handoff-draft", {"kind": "resolve"})
    detail = await _api(http, url, "GET", f"/api/ai-sessions/{sid}")
    if not any(hd["status"] == "draft" and hd["kind"] == "resolve" for hd in detail["handoffs"]):
        raise RuntimeError("the session has no resolution draft")
    return _tokens(ctx.anthropic.total_usage, before)


async def flow_runs(ctx: Context) -> list[Row]:
    steps = 6 if ctx.quick else 10
    walks = 2 if ctx.quick else 12
    db = await h.fresh_database(ctx.admin_url)
    server = h.flowpilot(
        {**ctx.env(), "DATABASE_URL": db, "FLOWPILOT_API_TOKENS": f"{API_TOKEN}@slack:{h.TEAM}"}
    )
    await server.start("/readyz")
    try:
        await _load(db, chain(steps))
        async with h.http_session() as http:
            times: list[float] = []
            posted = Posted(ctx)
            claude_before = len(ctx.anthropic.requests)
            # One walk first, not counted: a fresh process's first clicks pay its imports and first queries.
            await _walk(ctx, posted, http, server.url, steps, channel=f"{CHANNEL}WARM")
            for w in range(walks):
                times += await _walk(ctx, posted, http, server.url, steps, channel=f"{CHANNEL}{w:03d}")
            claude_calls = len(ctx.anthropic.requests) - claude_before
            with_flow = await _resolved(ctx, http, server.url, steps, flow=True)
            without = await _resolved(ctx, http, server.url, steps, flow=False)
    finally:
        await server.stop()
    p99 = h.percentile(times, 99) * 1000
    ratio = without / with_flow if with_flow else float("inf")
    return [
        Row(
            f"flows: button answer inside a flow, click → next question posted ({len(times)} clicks)",
            h.summary_ms(times),
            target="p99 ≤ 50 ms",
            ok=p99 <= 50,
        ),
        Row(
            "flows: Claude requests during those clicks", str(claude_calls), target="0", ok=claude_calls == 0
        ),
        Row(
            f"flows: Claude tokens of a session resolved by a {steps}-step flow (vs the same session without it)",
            str(with_flow),
            baseline=f"{without} without the flow",
            ratio=f"{ratio:.1f}× fewer",
            target="≥ 10× fewer",
            ok=ratio >= 10,
        ),
    ]
