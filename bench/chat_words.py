"""First words in the chat surfaces: how soon a turn's words show in Slack and in Teams once Claude starts
writing it, how often one message is edited, and whether 429s lose any of the words.

Per surface, N sessions are opened first (Claude answering at once); then all N engineers reply in the same
instant while Claude writes each turn slowly (`first_words.CHUNK_DELAY`), a turn of about 1 KB whose message
carries a marker of its own. A turn's delay runs from the fake Anthropic sending the first fragment of its
tool input to the first write the fake Slack *accepted* in its thread showing the words (`chat.startStream`,
`chat.appendStream`, `chat.postMessage` or `chat.update`), or to the fake connector receiving the first
streaming activity with text in its Teams personal chat. Both fakes run in this process, on the same clock
(CLOCK_MONOTONIC behind both perf_counter and monotonic on Linux).

A second round takes the same turns again with 429s injected on the writes that carry words; every turn's
whole message must still be on screen at the end.

The baseline is the bare Bolt bot of `first_words`: no streaming, its words appear with the whole reply.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from fakes.connector import FakeConnector, personal_message

from . import harness as h
from .first_words import CHUNK_DELAY, TARGET_P99, _baseline
from .scenarios import Context, Row, bot_text, mark, replied

SLACK_CHANNEL = "CCHATWORDS"
SLACK_WRITES = ("chat.startStream", "chat.appendStream", "chat.postMessage", "chat.update")
FILLER = "Check the spooler queue on the print server and clear the stuck job before restarting it. " * 11


@dataclass
class Measured:
    """One surface's numbers: first-words delays, the most edits of one message in a second, turns whole."""

    delays: list[float]
    per_second: int
    whole: int
    whole_under_429: int


def _answer(token: str) -> dict[str, Any]:
    """A respond tool input whose message (about 1 KB) starts and ends with the turn's own marker."""
    return {
        "message": f"{token} {FILLER}{token}end",
        "questions": [{"id": "q1", "text": "Is the queue empty now?", "options": ["Empty", "Still stuck"]}],
        "actions": [{"id": "a1", "text": "Restart the Print Spooler service."}],
        "confidence": 0.6,
    }


def _normalized(text: str) -> str:
    return " ".join(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).split())


def _queue(ctx: Context, tokens: list[str]) -> None:
    for token in tokens:
        ctx.anthropic.queue_turn(_answer(token), chunk_delay=CHUNK_DELAY)


def _any_of(tokens: list[str], shown: str) -> bool:
    """Whether `shown` has words of one of the round's turns (the fake hands its queued answers to the
    requests in the order they arrive, so a thread's answer may be any of them)."""
    return any(t in shown for t in tokens)


def _whole(shown: list[str], tokens: list[str]) -> int:
    """How many of the turns' whole messages are on screen (each in one of the `shown` texts)."""
    wanted = [_normalized(_answer(t)["message"]) for t in tokens]
    return sum(1 for w in wanted if any(w in s for s in shown))


# ── Slack ─────────────────────────────────────────────────────────────────────────────────────────────
async def _slack(ctx: Context, sessions: int) -> Measured:
    ctx.slack.add_channel(SLACK_CHANNEL, "chat-words")
    server, _ = await ctx.flowpilot("flowpilot-chat-words")
    try:
        async with h.http_session() as http:
            driver = h.SlackDriver(http)
            threads = []
            for i in range(sessions):
                token = mark("cwstart", i)
                ts, _ = await driver.mention(
                    server.url, channel=SLACK_CHANNEL, user=f"U{i:09d}", text=f"{token} printer jam"
                )
                await h.wait_until(replied(ctx, token), 60)
                threads.append(ts)
            since = time.perf_counter()
            tokens = [mark("cwslack", i) for i in range(sessions)]
            delays = await _slack_round(ctx, driver, server.url, threads, tokens)
            per_second = ctx.slack.most_edits_in_one_second(since)
            whole = _whole(_slack_texts(ctx, threads), tokens)
            again = [mark("cwslack429", i) for i in range(sessions)]
            for method in ("chat.appendStream", "chat.update", "chat.startStream", "chat.postMessage"):
                ctx.slack.rate_limit(method, times=max(2, sessions // 4), retry_after=1)
            await _slack_round(ctx, driver, server.url, threads, again)
            under_429 = _whole(_slack_texts(ctx, threads), again)
    finally:
        await server.stop()
    return Measured(delays, per_second, whole, under_429)


async def _slack_round(
    ctx: Context, driver: h.SlackDriver, url: str, threads: list[str], tokens: list[str]
) -> list[float]:
    """All engineers reply at once; returns each turn's first-words delay once every turn is on screen."""
    _queue(ctx, tokens)
    await asyncio.gather(
        *(
            driver.reply(
                url, channel=SLACK_CHANNEL, user=f"U{i:09d}", thread_ts=ts, text=f"{tokens[i]} still"
            )
            for i, ts in enumerate(threads)
        )
    )
    await h.wait_until(lambda: _whole(_slack_texts(ctx, threads), tokens) == len(tokens), 120, 0.2)
    delays = []
    for token, ts in zip(tokens, threads, strict=True):
        request = ctx.tracker.requests.get(token)
        if request is None or not request.first_text_at:
            continue
        shown = [
            at
            for method in SLACK_WRITES
            for at, payload in ctx.slack.timed_calls(method, accepted=True)
            if at >= request.first_text_at
            and (payload.get("thread_ts") == ts or payload.get("ts") in _thread_ts(ctx, ts))
            and _any_of(tokens, bot_text(payload))
        ]
        if shown:
            delays.append(min(shown) - request.first_text_at)
    return delays


def _thread_ts(ctx: Context, thread: str) -> set[str]:
    return {str(m["ts"]) for m in ctx.slack.thread(SLACK_CHANNEL, thread)}


def _slack_texts(ctx: Context, threads: list[str]) -> list[str]:
    """Per message in the threads: its text as shown (a streamed message: its chunks joined)."""
    shown = []
    for thread in threads:
        for message in ctx.slack.thread(SLACK_CHANNEL, thread):
            chunks = ctx.slack.stream_chunks(SLACK_CHANNEL, message["ts"])
            streamed = "".join(str(c.get("text") or "") for c in chunks)
            shown.append(_normalized(f"{message.get('text') or ''} {streamed}"))
    return shown


# ── Teams ─────────────────────────────────────────────────────────────────────────────────────────────
def _chat(i: int) -> str:
    return f"a:bench-chat-words-{i:04d}"


async def _teams(ctx: Context, sessions: int) -> Measured:
    with FakeConnector.in_thread() as fake:
        db = await h.fresh_database(ctx.admin_url)
        env = {**ctx.env(), "DATABASE_URL": db, "FLOWPILOT_TEAMS_ANONYMOUS": "true"}
        server = h.flowpilot(env, "flowpilot-chat-words-teams")
        await server.start("/readyz")
        try:
            async with h.http_session() as http:
                for i in range(sessions):
                    await _say(http, server.url, fake, i, f"{mark('cwtstart', i)} printer jam at Contoso")
                    await h.wait_until(functools.partial(_started, fake, i), 60)
                since = time.monotonic()
                tokens = [mark("cwteams", i) for i in range(sessions)]
                delays = await _teams_round(ctx, http, server.url, fake, tokens)
                per_second = _teams_edits(fake, sessions, since)
                whole = _whole(_teams_texts(fake, sessions), tokens)
                again = [mark("cwteams429", i) for i in range(sessions)]
                fake.fail("/activities", 429, times=max(2, sessions // 4), retry_after=1)
                await _teams_round(ctx, http, server.url, fake, again)
                under_429 = _whole(_teams_texts(fake, sessions), again)
        finally:
            await server.stop()
    return Measured(delays, per_second, whole, under_429)


async def _say(http: aiohttp.ClientSession, url: str, fake: FakeConnector, i: int, text: str) -> None:
    activity = personal_message(
        text, service_url=fake.service_url, conversation_id=_chat(i), user_id=f"29:bench-{i:04d}"
    )
    async with http.post(f"{url}/api/messages", json=activity) as r:
        if r.status >= 300:
            raise RuntimeError(f"Teams message {i} refused: {r.status} {await r.text()}")


def _started(fake: FakeConnector, i: int) -> bool:
    """Session i's header and first turn are in its chat."""
    return len(_cards(fake, i)) >= 2


def _cards(fake: FakeConnector, i: int) -> list[Any]:
    return [a for a in fake.activities(_chat(i)) if a.attachments]


async def _teams_round(
    ctx: Context, http: aiohttp.ClientSession, url: str, fake: FakeConnector, tokens: list[str]
) -> list[float]:
    _queue(ctx, tokens)
    await asyncio.gather(*(_say(http, url, fake, i, f"{t} still stuck") for i, t in enumerate(tokens)))
    await h.wait_until(lambda: _whole(_teams_texts(fake, len(tokens)), tokens) == len(tokens), 120, 0.2)
    delays = []
    for i, token in enumerate(tokens):
        request = ctx.tracker.requests.get(token)
        if request is None or not request.first_text_at:
            continue
        started = [
            s.started_at
            for s in fake.streams(_chat(i))
            if s.started_at >= request.first_text_at and _any_of(tokens, s.streamed_text + str(s.final or ""))
        ]
        if started:
            delays.append(min(started) - request.first_text_at)
    return delays


def _teams_texts(fake: FakeConnector, sessions: int) -> list[str]:
    """Each streamed message's final text (what stays in the chat), and each card's texts."""
    shown = []
    for i in range(sessions):
        shown += [_normalized(str((s.final or {}).get("text") or "")) for s in fake.streams(_chat(i))]
        shown += [_normalized(str(a.attachments)) for a in _cards(fake, i)]
    return shown


def _teams_edits(fake: FakeConnector, sessions: int, since: float) -> int:
    """The most versions (stream chunks, the final message or card updates) one message got in any 1 s
    window since `since`."""
    worst = 0
    for i in range(sessions):
        for activity in fake.activities(_chat(i)):
            times = [at for at in activity.times if at >= since]
            first = 0
            for k, at in enumerate(times):
                while at - times[first] >= 1.0:
                    first += 1
                worst = max(worst, k - first + 1)
    return worst


# ── rows ──────────────────────────────────────────────────────────────────────────────────────────────
async def chat_words(ctx: Context) -> list[Row]:
    sessions = 5 if ctx.quick else 20
    slack = await _slack(ctx, sessions)
    teams = await _teams(ctx, sessions)
    writing = len(_answer(mark("x"))["message"]) / 16 * CHUNK_DELAY  # the fake's 16-character fragments
    base = await _baseline(ctx, sessions, writing)
    rows: list[Row] = []
    for surface, m, how in (
        ("Slack", slack, "first accepted chat.startStream/appendStream/postMessage/update"),
        ("Teams", teams, "first streaming activity in a personal chat"),
    ):
        p99 = h.percentile(m.delays, 99) if m.delays else float("nan")
        base_p99 = h.percentile(base, 99) if base else float("nan")
        rows += [
            Row(
                f"first Claude token → first visible words of a turn, {sessions} turns at once, Claude writing "
                f"{writing:.1f} s ({surface}: {how})",
                h.summary_ms(m.delays) if m.delays else "no data",
                h.summary_ms(base) + " (whole reply)" if base else "no data",
                f"{p99 / base_p99:.2f}x p99" if m.delays and base else "",
                target="p99 ≤ 300 ms",
                ok=len(m.delays) == sessions and p99 <= TARGET_P99,
            ),
            Row(
                f"{surface}: edits per message of those turns in any 1 s window, max",
                str(m.per_second),
                target="≤ 1 per second",
                ok=m.per_second <= 1,
            ),
            Row(
                f"{surface}: {sessions} streamed turns at once, whole on screen (without / with injected 429s)",
                f"{m.whole} of {sessions} / {m.whole_under_429} of {sessions}",
                target=f"{sessions} of {sessions}",
                ok=m.whole == sessions and m.whole_under_429 == sessions,
            ),
        ]
    return rows
