"""What the measurements share: a results row, the context, the token tracker and the turn driver.

The measurements themselves are in `load.py` and `sessions.py`; each returns rows for the results table
(metric, FlowPilot, baseline, ratio, target)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.anthropic import FakeAnthropic, RecordedRequest
from fakes.slack import FakeSlack

from . import harness as h


@dataclass(frozen=True)
class Row:
    metric: str
    flowpilot: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None


TOKEN = re.compile(r"zz[a-z0-9]+zz")


class Tracker:
    """Indexes, as they arrive, the Claude requests and Slack writes that carry a turn's token.

    Scanning every recorded call on each poll is quadratic and would make the bench process itself the
    bottleneck with hundreds of sessions.
    """

    def __init__(self, anthropic: FakeAnthropic, slack: FakeSlack) -> None:
        self.posts: dict[str, list[float]] = {}
        self.requests: dict[str, RecordedRequest] = {}
        anthropic.observers.append(self._on_request)
        slack.observers.append(self._on_call)

    def _on_request(self, request: RecordedRequest) -> None:
        messages = (request.body or {}).get("messages") or []
        if messages:
            for token in TOKEN.findall(json.dumps(messages[-1])):
                self.requests.setdefault(token, request)

    def _on_call(self, method: str, payload: dict[str, Any], at: float) -> None:
        if method in ("chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream"):
            for token in TOKEN.findall(bot_text(payload)):
                self.posts.setdefault(token, []).append(at)


def mark(*parts: object) -> str:
    """A marker the fakes can find in what the app sends: lowercase letters and digits between zz…zz."""
    return "zz" + "".join(str(p) for p in parts).lower() + "zz"


@dataclass
class Context:
    anthropic: FakeAnthropic
    slack: FakeSlack
    admin_url: str
    quick: bool
    tracker: Tracker = field(init=False)

    def __post_init__(self) -> None:
        self.tracker = Tracker(self.anthropic, self.slack)

    def env(self) -> dict[str, str]:
        return h.common_env(slack_api_url=self.slack.api_url, anthropic_url=self.anthropic.base_url)

    async def flowpilot(self, name: str = "flowpilot", database: str | None = None) -> tuple[h.Server, str]:
        db = database or await h.fresh_database(self.admin_url)
        server = h.flowpilot({**self.env(), "DATABASE_URL": db}, name)
        await server.start("/readyz")
        return server, db

    async def baseline(self) -> h.Server:
        server = h.baseline(self.env())
        await server.start("/slack/events")
        return server


def bot_text(payload: dict[str, Any]) -> str:
    return json.dumps(
        [payload.get("text"), payload.get("blocks"), payload.get("chunks"), payload.get("markdown_text")]
    )


def claude_request_with(ctx: Context, token: str) -> tuple[float, float] | None:
    """(received, answered) times of the Claude request whose newest message carries `token`."""
    request = ctx.tracker.requests.get(token)
    return (request.received_at, request.answered_at) if request else None


def replied(ctx: Context, token: str) -> Callable[[], bool]:
    """Whether the reply carrying `token` has arrived (a predicate for `h.wait_until`)."""
    return lambda: reply_with(ctx, token) is not None


def reply_with(ctx: Context, token: str) -> float | None:
    """When the app first wrote Claude's reply to Slack: the first write carrying `token` (the reply quotes
    it) after Claude answered the request carrying it. Earlier writes with the token (a header showing the
    engineer's own words as the session title) are not the reply."""
    request = ctx.tracker.requests.get(token)
    if request is None or not request.answered_at:
        return None
    posts = ctx.tracker.posts.get(token, ())
    after = next((at for at in posts if at >= request.answered_at), None)
    if after is not None:
        return after
    # A streamed reply may show its first words (the ones quoting the token) while Claude is still writing,
    # and write nothing carrying the token after: then its first write since Claude began answering counts.
    began = request.first_text_at or request.answered_at
    return next((at for at in posts if at >= began), None)


async def drive_turns(
    ctx: Context,
    url: str,
    *,
    sessions: int,
    turns: int,
    prefix: str,
    concurrent: bool = True,
    sender: h.Sender | None = None,
    spread: float = 0.0,
) -> tuple[list[float], list[float], list[float], float]:
    """Open `sessions` threads and take `turns` turns in each (the mention is turn 1); with `spread`, the
    sessions start evenly over that many seconds instead of in the same instant.

    Returns (ack latencies, event→Claude request, Claude answer→Slack post, wall seconds).
    """
    async with h.http_session() as http:
        driver = h.SlackDriver(http, sender)
        to_claude: list[float] = []
        to_slack: list[float] = []

        async def one_turn(send: Callable[[], Awaitable[object]], token: str) -> None:
            t0 = time.perf_counter()
            await send()
            ok = await h.wait_until(lambda: reply_with(ctx, token) is not None, timeout=120)
            if not ok:
                raise RuntimeError(f"no reply for {token}")
            claude = claude_request_with(ctx, token)
            t3 = reply_with(ctx, token)
            assert t3 is not None
            if claude is not None:
                t1, t2 = claude
                to_claude.append(t1 - t0)
                to_slack.append(t3 - t2)

        async def session(i: int) -> None:
            if spread:
                await asyncio.sleep(spread * i / sessions)
            user = f"U{i % 50:09d}"
            token = mark(prefix, "s", i, "t0")
            holder: dict[str, str] = {}

            async def start() -> None:
                holder["ts"], _ = await driver.mention(
                    url, channel=ctx.slack.general, user=user, text=f"{token} printer offline at Contoso"
                )

            await one_turn(start, token)
            for t in range(1, turns):
                token = mark(prefix, "s", i, "t", t)
                reply = functools.partial(
                    driver.reply,
                    url,
                    channel=ctx.slack.general,
                    user=user,
                    thread_ts=holder["ts"],
                    text=f"{token} still offline",
                )
                await one_turn(reply, token)

        started = time.perf_counter()
        if concurrent:
            await asyncio.gather(*(session(i) for i in range(sessions)))
        else:
            for i in range(sessions):
                await session(i)
        return driver.acks, to_claude, to_slack, time.perf_counter() - started
