"""First words in the chat surfaces: how soon a turn's words show in Slack and in Teams once Claude starts
writing it, how often one message is edited, and whether 429s lose any of the words.

Per surface, N sessions are opened first (Claude answering at once); then all N engineers reply in the same
instant while Claude writes each turn slowly (`first_words.CHUNK_DELAY`), a turn of about 1 KB whose message
carries a marker of its own. A turn's delay runs from the fake Anthropic sending the first fragment of its
tool input to the first write the fake Slack *accepted* in its thread showing the words (`chat.startStream`,
`chat.appendStream`, `chat.postMessage` or `chat.update`), or to the fake connector receiving the first
streaming activity with text in its Teams personal chat, or the words card in its Teams channel thread (Teams
streams only in personal chats). Both fakes run in this process, on the same clock
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
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from fakes.connector import FakeConnector, SentActivity, channel_message, personal_message

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


def _chunk_delay(ctx: Context) -> float:
    """Claude's pace; a third of it in a quick run (the test suite's): about a second of writing a turn."""
    return CHUNK_DELAY / 3 if ctx.quick else CHUNK_DELAY


def _queue(ctx: Context, tokens: list[str]) -> None:
    for token in tokens:
        ctx.anthropic.queue_turn(_answer(token), chunk_delay=_chunk_delay(ctx))


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
TEAMS_CHANNEL = "19:bench-chat-words@thread.tacv2"


@dataclass
class Chats:
    """The sessions' Teams conversations: personal chats (Teams streaming), or channel threads (a card)."""

    fake: FakeConnector
    channel: bool
    roots: dict[int, str] = field(default_factory=dict)  # in a channel: each session's root post

    @property
    def prefix(self) -> str:
        return "cwchannel" if self.channel else "cwchat"

    def conversation(self, i: int) -> str:
        if self.channel:
            return f"{TEAMS_CHANNEL};messageid={self.roots[i]}"
        return f"a:bench-chat-words-{i:04d}"

    def message(self, i: int, text: str) -> dict[str, Any]:
        user, url = f"29:bench-{i:04d}", self.fake.service_url
        if not self.channel:
            return personal_message(text, service_url=url, conversation_id=self.conversation(i), user_id=user)
        if i in self.roots:
            return channel_message(
                text, service_url=url, channel_id=TEAMS_CHANNEL, reply_to_id=self.roots[i], user_id=user
            )
        root = channel_message(text, service_url=url, channel_id=TEAMS_CHANNEL, user_id=user)
        self.roots[i] = root["id"]
        return root

    def cards(self, i: int) -> list[SentActivity]:
        return [a for a in self.fake.activities(self.conversation(i)) if a.attachments]

    def started(self, i: int) -> bool:
        """Session i's header and first turn are in its conversation."""
        return len(self.cards(i)) >= 2

    def first_words(self, i: int, since: float, tokens: list[str]) -> list[float]:
        """When the round's words first showed in session i's conversation: a stream's first chunk, or
        the first version of a card (each turn's words card is posted with the first words)."""
        if not self.channel:
            streams = self.fake.streams(self.conversation(i))
            return [
                s.started_at for s in streams if s.started_at >= since and _any_of(tokens, s.streamed_text)
            ]
        return [a.times[0] for a in self.cards(i) if a.times[0] >= since and _any_of(tokens, str(a.versions))]

    def texts(self, sessions: int) -> list[str]:
        """Each streamed message's final text (what stays in the chat), and each card's texts."""
        shown = []
        for i in range(sessions):
            streams = self.fake.streams(self.conversation(i))
            shown += [_normalized(str((s.final or {}).get("text") or "")) for s in streams]
            shown += [_normalized(str(a.attachments)) for a in self.cards(i)]
        return shown

    def edits(self, sessions: int, since: float) -> int:
        """The most versions (stream chunks, the final message or card updates) one message got in any 1 s
        window since `since`."""
        worst = 0
        for i in range(sessions):
            for activity in self.fake.activities(self.conversation(i)):
                times = [at for at in activity.times if at >= since]
                first = 0
                for k, at in enumerate(times):
                    while at - times[first] >= 1.0:
                        first += 1
                    worst = max(worst, k - first + 1)
        return worst


async def _teams(ctx: Context, sessions: int, *, channel: bool) -> Measured:
    with FakeConnector.in_thread() as fake:
        chats = Chats(fake, channel)
        db = await h.fresh_database(ctx.admin_url)
        env = {**ctx.env(), "DATABASE_URL": db, "FLOWPILOT_TEAMS_ANONYMOUS": "true"}
        server = h.flowpilot(env, "flowpilot-chat-words-teams")
        await server.start("/readyz")
        try:
            async with h.http_session() as http:
                for i in range(sessions):
                    await _say(
                        http,
                        server.url,
                        chats.message(i, f"{mark(chats.prefix, 's', i)} printer jam at Contoso"),
                    )
                    await h.wait_until(functools.partial(chats.started, i), 60)
                since = time.monotonic()
                # Markers of this variant's own: the tracker keeps the first Claude request carrying each.
                tokens = [mark(chats.prefix, i) for i in range(sessions)]
                delays = await _teams_round(ctx, http, server.url, chats, tokens)
                per_second = chats.edits(sessions, since)
                whole = _whole(chats.texts(sessions), tokens)
                again = [mark(chats.prefix, "r", i) for i in range(sessions)]
                fake.fail("/activities", 429, times=max(2, sessions // 4), retry_after=1)
                await _teams_round(ctx, http, server.url, chats, again)
                under_429 = _whole(chats.texts(sessions), again)
        finally:
            await server.stop()
    return Measured(delays, per_second, whole, under_429)


async def _say(http: aiohttp.ClientSession, url: str, activity: dict[str, Any]) -> None:
    async with http.post(f"{url}/api/messages", json=activity) as r:
        if r.status >= 300:
            raise RuntimeError(f"Teams message refused: {r.status} {await r.text()}")


async def _teams_round(
    ctx: Context, http: aiohttp.ClientSession, url: str, chats: Chats, tokens: list[str]
) -> list[float]:
    _queue(ctx, tokens)
    await asyncio.gather(
        *(_say(http, url, chats.message(i, f"{t} still stuck")) for i, t in enumerate(tokens))
    )
    await h.wait_until(lambda: _whole(chats.texts(len(tokens)), tokens) == len(tokens), 120, 0.2)
    delays = []
    for i, token in enumerate(tokens):
        request = ctx.tracker.requests.get(token)
        if request is None or not request.first_text_at:
            continue
        shown = chats.first_words(i, request.first_text_at, tokens)
        if shown:
            delays.append(min(shown) - request.first_text_at)
    return delays


# ── rows ──────────────────────────────────────────────────────────────────────────────────────────────
async def chat_words(ctx: Context) -> list[Row]:
    sessions = 5 if ctx.quick else 20
    slack = await _slack(ctx, sessions)
    teams = await _teams(ctx, sessions, channel=False)
    teams_channel = await _teams(ctx, sessions, channel=True)
    writing = len(_answer(mark("x"))["message"]) / 16 * _chunk_delay(ctx)  # the fake's 16-character fragments
    base = await _baseline(ctx, sessions, writing)
    rows: list[Row] = []
    for surface, m, how in (
        ("Slack", slack, "first accepted chat.startStream/appendStream/postMessage/update"),
        ("Teams", teams, "first streaming activity in a personal chat"),
        ("Teams channel", teams_channel, "first version of the words card in a channel thread"),
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
