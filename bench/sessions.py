"""Sessions: how a long session, memory and the streamed first words of a draft hold up."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from bot.handoff import render_draft
from bot.schemas import HandoffDraft
from fakes.slack import FakeSlack

from . import harness as h
from .scenarios import (
    Context,
    Row,
    bot_text,
    claude_request_with,
    drive_turns,
    mark,
    replied,
    reply_with,
)


async def session_length(ctx: Context) -> list[Row]:
    """Target 4 and 7: a long session — cost of turn 200 against turn 5, and prompt-caching savings."""
    turns = 20 if ctx.quick else 200
    server, db = await ctx.flowpilot()
    try:
        async with h.http_session() as http:
            driver = h.SlackDriver(http)
            times: list[float] = []
            wal: list[int] = []
            usage_at: dict[int, dict[str, int]] = {}
            thread_ts = ""
            for t in range(turns):
                token = mark("len", t)
                before_wal = await h.wal_bytes(db)
                before_usage = dict(ctx.anthropic.total_usage)
                t0 = time.perf_counter()
                if t == 0:
                    thread_ts, _ = await driver.mention(
                        server.url,
                        channel=ctx.slack.general,
                        user="ULONG",
                        text=f"{token} VPN drops at Northwind",
                    )
                else:
                    await driver.reply(
                        server.url, channel=ctx.slack.general, user="ULONG", thread_ts=thread_ts,
                        text=f"{token} checked item {t}: " + "detail " * 20,
                    )  # fmt: skip
                if not await h.wait_until(replied(ctx, token), 60):
                    raise RuntimeError(f"turn {t} got no reply")
                t3 = reply_with(ctx, token) or t0
                claude = claude_request_with(ctx, token)
                # FlowPilot's own time: the turn minus the time the model took to answer.
                times.append((t3 - t0) - ((claude[1] - claude[0]) if claude else 0.0))
                await asyncio.sleep(0.05)  # let the turn's last writes land before reading the WAL position
                wal.append(await h.wal_bytes(db) - before_wal)
                usage_at[t + 1] = {
                    k: ctx.anthropic.total_usage[k] - before_usage.get(k, 0) for k in before_usage
                }
    finally:
        await server.stop()
    early = slice(2, 7)
    late = slice(turns - 5, turns)
    t_ratio = h.mean(times[late]) / h.mean(times[early])
    # Medians: a checkpoint's full-page images or an autovacuum pass land on one turn or another at random
    # (steady turns write about the same); a mean over five turns would measure where they fell.
    w_late, w_early = statistics.median(wal[late]), statistics.median(wal[early])
    w_ratio = w_late / w_early
    last = min(50, turns)
    u = usage_at[last]
    fresh = u.get("input_tokens", 0)
    read = u.get("cache_read_input_tokens", 0)
    created = u.get("cache_creation_input_tokens", 0)
    billed_cached = fresh + 1.25 * created + 0.1 * read
    billed_plain = fresh + created + read
    return [
        Row(
            f"FlowPilot's time per turn (Claude excluded), turns {turns - 4}-{turns} vs 3-7",
            f"{h.mean(times[late]) * 1000:.1f} ms vs {h.mean(times[early]) * 1000:.1f} ms",
            ratio=f"{t_ratio:.2f}x",
            target="≤ 1.5x",
            ok=t_ratio <= 1.5,
        ),
        Row(
            f"WAL bytes written per turn (median), turns {turns - 4}-{turns} vs 3-7",
            f"{w_late:.0f} B vs {w_early:.0f} B",
            ratio=f"{w_ratio:.2f}x",
            target="≤ 1.5x",
            ok=w_ratio <= 1.5,
        ),
        Row(
            f"input tokens billed at turn {last} (cache read 0.1x, write 1.25x)",
            f"{billed_cached:.0f} with caching vs {billed_plain:.0f} without",
            ratio=f"{billed_cached / max(billed_plain, 1):.2f}",
            target="report",
        ),
    ]


async def memory(ctx: Context) -> list[Row]:
    """Target 6: RSS with 1,000 open sessions in one process."""
    n = 50 if ctx.quick else 1000
    server, _ = await ctx.flowpilot()
    try:
        idle = server.rss_bytes()
        # Open them in waves of 50, as engineers would over a day: what is measured is what 1,000 open
        # sessions cost in memory, not a 1,000-request burst.
        for wave in range(0, n, 50):
            await drive_turns(ctx, server.url, sessions=min(50, n - wave), turns=1, prefix=f"mem{wave}w")
        loaded = server.rss_bytes()
    finally:
        await server.stop()
    return [
        Row(
            f"RSS with {n} open sessions",
            f"{loaded / 2**20:.0f} MB (idle {idle / 2**20:.0f} MB)",
            target="< 300 MB",
            ok=loaded < 300 * 2**20,
        )
    ]


def _draft_input(i: int) -> dict[str, Any]:
    """Draft i as Claude's draft tool writes it."""
    return {
        "root_cause": f"Draft {i}: the print spooler on PRN-{i:02d} held a corrupt job that blocked the queue.",
        "steps_taken": [
            f"Checked item {n} of draft {i}: result noted, nothing unusual found there." for n in range(1, 25)
        ],
        "recommendations": f"Set the spooler to restart on failure. End of draft {i}.",
    }


def _draft_text(i: int) -> str:
    """Draft i as it streams into the thread: its fields under their headings."""
    return render_draft(HandoffDraft.model_validate(_draft_input(i)).fields())


def _thread_text(slack: FakeSlack, channel: str, thread_ts: str) -> str:
    parts = []
    for message in slack.thread(channel, thread_ts):
        parts.append(bot_text(message))
        parts.extend(json.dumps(c) for c in slack.stream_chunks(channel, message["ts"]))
    return " ".join(parts)


def _normalized(text: str) -> str:
    return " ".join(text.replace("\\n", " ").split())


async def streaming(ctx: Context) -> list[Row]:
    """Target 5: first token → first visible text, update cadence, and 20 drafts under 429s losing nothing."""
    drafts = 4 if ctx.quick else 20
    # A channel of its own: what the checks below read is then only this scenario's threads, not the
    # thousands of messages earlier scenarios left in #general (reading those slowed the fakes down).
    channel = "CSTREAMING"
    ctx.slack.add_channel(channel, "streaming")
    server, _ = await ctx.flowpilot()
    threads: list[tuple[str, str]] = []
    try:
        async with h.http_session() as http:
            driver = h.SlackDriver(http)
            for i in range(drafts):
                user = f"UDRAFT{i:04d}"
                token = mark("draft", i)
                ts, _ = await driver.mention(
                    server.url, channel=channel, user=user, text=f"{token} printer jam"
                )
                await h.wait_until(replied(ctx, token), 60)
                threads.append((user, ts))
            ctx.anthropic.chunk_chars = 16
            ctx.anthropic.chunk_delay = 0.01

            async def draft_all(rate_limited: bool) -> tuple[float, bool, int]:
                first = drafts if rate_limited else 0  # distinct texts in each round
                for i in range(first, first + drafts):
                    ctx.anthropic.queue_turn(_draft_input(i))
                if rate_limited:
                    for method in ("chat.appendStream", "chat.update", "chat.startStream"):
                        ctx.slack.rate_limit(method, times=max(2, drafts // 4), retry_after=1)
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        driver.slash(server.url, user=user, channel=channel, text="resolve")
                        for user, _ in threads
                    )
                )
                texts = [_normalized(_draft_text(i)) for i in range(first, first + drafts)]

                def whole() -> int:
                    got = [_normalized(_thread_text(ctx.slack, channel, ts)) for _, ts in threads]
                    return sum(1 for g in got if any(t in g for t in texts))

                finished = await h.wait_until(lambda: whole() == drafts, timeout=180, interval=0.2)
                return started, finished, whole()

            # First, drafts at once with Slack accepting everything: how soon text appears.
            latency_started, _, _ = await draft_all(rate_limited=False)
            delays = _first_visible_delays(ctx, threads, latency_started)
            # Then the same drafts again (a second resolve in each thread) with 429s injected.
            _, finished, intact = await draft_all(rate_limited=True)
    finally:
        ctx.anthropic.chunk_delay = 0.0
        await server.stop()
    per_second = ctx.slack.most_edits_in_one_second(latency_started)
    p99 = h.percentile(delays, 99) if delays else float("nan")
    return [
        Row(
            f"first Claude token → first visible draft text, {drafts} drafts at once",
            h.summary_ms(delays) if delays else "no data",
            target="< 300 ms",
            ok=bool(delays) and p99 < 0.3,
        ),
        Row(
            "edits per message (chat.update or appendStream) in any 1 s window, max",
            f"{per_second}",
            target="≤ 1 per second",
            ok=per_second <= 1,
        ),
        Row(
            f"{drafts} drafts at once with injected 429s: drafts arriving whole",
            f"{intact} of {drafts}" + ("" if finished else " (timed out)"),
            target=f"{drafts} of {drafts}",
            ok=intact == drafts,
        ),
    ]


def _first_visible_delays(ctx: Context, threads: list[tuple[str, str]], since: float) -> list[float]:
    """Per draft: from the fake sending its first text fragment to Slack accepting the first write that
    shows draft text in its thread (a rate-limited or refused call shows nothing)."""
    delays = []
    for i, (_, ts) in enumerate(threads):
        token = mark("draft", i)
        request = next(
            (
                r
                for r in ctx.anthropic.requests
                if r.received_at >= since
                and ((r.body or {}).get("tool_choice") or {}).get("name") == "write_handoff"
                and token in json.dumps(r.body)
            ),
            None,
        )
        if request is None or not request.first_text_at:
            continue
        shown = [
            at
            for method in ("chat.startStream", "chat.postMessage", "chat.update", "chat.appendStream")
            for at, payload in ctx.slack.timed_calls(method, accepted=True)
            if at >= request.first_text_at
            and payload.get("thread_ts") == ts
            and "Root cause" in bot_text(payload)
        ]
        if shown:
            delays.append(min(shown) - request.first_text_at)
    return delays
