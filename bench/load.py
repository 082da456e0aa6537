"""Load: how fast Slack gets its ack, what FlowPilot adds to a turn, throughput, and N processes on one database."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from . import harness as h
from .scenarios import (
    Context,
    Row,
    drive_turns,
    mark,
    replied,
    reply_with,
)


async def ack_latency(ctx: Context) -> list[Row]:
    """Target 1: acks under 200 concurrent sessions with Claude at 2 s.

    The sessions start evenly over the first 2 s (one Claude answer's time), so all of them are in flight
    at once, as with 200 engineers working; a second run sends every session's first message in the same
    instant, the worst burst there can be, and is reported beside it.
    """
    n = 20 if ctx.quick else 200
    ctx.anthropic.latency = 2.0
    results: dict[tuple[str, float], list[float]] = {}
    for name in ("flowpilot", "baseline"):
        for spread in (2.0, 0.0):
            server = (await ctx.flowpilot())[0] if name == "flowpilot" else await ctx.baseline()
            # The acks are timed in a process of their own (bench/sender.py), not in this one, which also
            # runs the fakes answering all the sessions.
            sender = h.Sender()
            await sender.start()
            try:
                acks, *_ = await drive_turns(
                    ctx,
                    server.url,
                    sessions=n,
                    turns=2,
                    prefix=f"ack{name}{spread:g}",
                    sender=sender,
                    spread=spread,
                )
                results[name, spread] = acks
            finally:
                await sender.stop()
                await server.stop()
    ctx.anthropic.latency = 0.0
    rows: list[Row] = []
    for spread, label, target in (
        (2.0, f"ack latency, {n} sessions started over 2 s, Claude 2 s", "p99 < 100 ms"),
        (0.0, f"ack latency, {n} sessions' first messages in the same instant", "report"),
    ):
        fp, base = results["flowpilot", spread], results["baseline", spread]
        p99 = h.percentile(fp, 99)
        ratio = f"{p99 / max(h.percentile(base, 99), 1e-9):.2f}x p99"
        rows.append(
            Row(label, h.summary_ms(fp), h.summary_ms(base), ratio, target, p99 < 0.1 if spread else None)
        )
    return rows


async def overhead_and_throughput(ctx: Context) -> list[Row]:
    """Targets 2 and 3: overhead per turn (sequential) and turns per second (concurrent), zero-latency Claude."""
    seq_sessions, seq_turns = (3, 3) if ctx.quick else (20, 5)
    conc_sessions, conc_turns = (10, 2) if ctx.quick else (50, 4)
    out: dict[str, dict[str, Any]] = {}
    for name in ("flowpilot", "baseline"):
        server = (await ctx.flowpilot())[0] if name == "flowpilot" else await ctx.baseline()
        try:
            _, to_claude, to_slack, _ = await drive_turns(
                ctx, server.url, sessions=seq_sessions, turns=seq_turns, prefix=f"ov{name}", concurrent=False
            )
            _, _, _, wall = await drive_turns(
                ctx, server.url, sessions=conc_sessions, turns=conc_turns, prefix=f"tp{name}"
            )
            out[name] = {
                "overhead": [a + b for a, b in zip(to_claude, to_slack, strict=True)],
                "to_claude": to_claude,
                "to_slack": to_slack,
                "tps": conc_sessions * conc_turns / wall,
            }
        finally:
            await server.stop()
    fp, base = out["flowpilot"], out["baseline"]
    p50, p99 = h.percentile(fp["overhead"], 50), h.percentile(fp["overhead"], 99)
    ratio = fp["tps"] / base["tps"]
    return [
        Row("event in → Claude request out", h.summary_ms(fp["to_claude"]), h.summary_ms(base["to_claude"])),
        Row(
            "Claude answer out → Slack post in", h.summary_ms(fp["to_slack"]), h.summary_ms(base["to_slack"])
        ),
        Row(
            "overhead per turn (sum of both)",
            h.summary_ms(fp["overhead"]),
            h.summary_ms(base["overhead"]),
            f"{p50 / max(h.percentile(base['overhead'], 50), 1e-9):.1f}x p50",
            "p50 < 10 ms, p99 < 40 ms",
            p50 < 0.010 and p99 < 0.040,
        ),
        Row(
            f"turns per second, {conc_sessions} sessions × {conc_turns} turns, Claude 0 s",
            f"{fp['tps']:.1f}",
            f"{base['tps']:.1f}",
            f"{ratio:.2f}",
            "≥ 0.5 of baseline",
            ratio >= 0.5,
        ),
    ]


async def scale_out(ctx: Context, single_tps: float | None = None) -> list[Row]:
    """Target 8: two processes on one database, load spread across both."""
    sessions, turns = (6, 3) if ctx.quick else (50, 4)
    one, db = await ctx.flowpilot("flowpilot-a")
    two, _ = await ctx.flowpilot("flowpilot-b", database=db)
    try:
        async with h.http_session() as http:
            driver = h.SlackDriver(http)
            urls = [one.url, two.url]

            async def session(i: int) -> None:
                token = mark("so", i, "t0")
                ts, _ = await driver.mention(
                    urls[i % 2], channel=ctx.slack.general, user="USO", text=f"{token} DNS"
                )
                await h.wait_until(lambda: reply_with(ctx, token) is not None, 120)
                for t in range(1, turns):
                    token = mark("so", i, "t", t)
                    # Alternate processes within one session, as a load balancer would.
                    await driver.reply(
                        urls[(i + t) % 2], channel=ctx.slack.general, user="USO", thread_ts=ts, text=token
                    )
                    await h.wait_until(replied(ctx, token), 120)

            started = time.perf_counter()
            await asyncio.gather(*(session(i) for i in range(sessions)))
            wall = time.perf_counter() - started
        conn = await asyncpg.connect(db)
        try:
            counts = await conn.fetch(
                "SELECT session_id, count(*) FILTER (WHERE role = 'assistant') AS replies, "
                "count(*) FILTER (WHERE role = 'user') AS asks FROM ai_session_steps GROUP BY session_id"
            )
        finally:
            await conn.close()
    finally:
        await one.stop()
        await two.stop()
    lost = sum(max(0, turns - r["replies"]) for r in counts) + max(0, sessions - len(counts)) * turns
    duplicated = sum(max(0, r["replies"] - turns) for r in counts)
    tps = sessions * turns / wall
    return [
        Row(
            "two processes, one database: lost / duplicate turns",
            f"{lost} lost, {duplicated} duplicate of {sessions * turns}",
            target="0 and 0",
            ok=lost == 0 and duplicated == 0,
        ),
        Row(
            "two processes: turns per second",
            f"{tps:.1f}",
            ratio=f"{tps / single_tps:.2f}x one process" if single_tps else "",
            target="report",
        ),
    ]
