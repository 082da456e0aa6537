"""`python -m bench`: run the benchmarks against the fakes and print one table.

python -m bench              # the full run (several minutes)
python -m bench --quick      # a few seconds per scenario, small numbers (the test suite runs this)
python -m bench --only ack,overhead --write bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack

from . import chat_words, first_words, flow_match, flows, load, scale_budget, sessions
from . import harness as h
from . import scenarios as sc

SCENARIOS = (
    "ack", "overhead", "length", "streaming", "firstwords", "chatwords", "memory", "scaleout", "scalebudget", "flowmatch",
    "flows",
)  # fmt: skip


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return f"{platform.machine()}, {cpus} cores{mem}, Python {platform.python_version()}, {platform.system()}"


def table(rows: list[sc.Row]) -> str:
    lines = [
        "| metric | FlowPilot | baseline (bare Bolt + Claude) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        lines.append(f"| {r.metric} | {r.flowpilot} | {r.baseline} | {r.ratio} | {r.target} | {met} |")
    return "\n".join(lines)


SCENARIO_RUNNERS: dict[str, Callable[[sc.Context, float | None], Awaitable[list[sc.Row]]]] = {
    "ack": lambda ctx, _: load.ack_latency(ctx),
    "overhead": lambda ctx, _: load.overhead_and_throughput(ctx),
    "length": lambda ctx, _: sessions.session_length(ctx),
    "streaming": lambda ctx, _: sessions.streaming(ctx),
    "firstwords": lambda ctx, _: first_words.first_words(ctx),
    "chatwords": lambda ctx, _: chat_words.chat_words(ctx),
    "memory": lambda ctx, _: sessions.memory(ctx),
    "scaleout": lambda ctx, tps: load.scale_out(ctx, tps),
    "scalebudget": lambda ctx, tps: scale_budget.scale_budget(ctx, tps),
    "flowmatch": lambda ctx, _: flow_match.flow_matching(ctx),
    "flows": lambda ctx, _: flows.flow_runs(ctx),
}


async def run(only: tuple[str, ...], quick: bool) -> list[sc.Row]:
    rows: list[sc.Row] = []
    with h.database_server() as admin, FakeAnthropic.in_thread() as anthropic, FakeSlack.in_thread() as slack:
        # The engineers the bench speaks for, as Slack knows them (the app looks up display names).
        for user in (
            [f"U{i:09d}" for i in range(50)] + [f"UDRAFT{i:04d}" for i in range(20)] + ["ULONG", "USO"]
        ):
            slack.add_user(user, user.lower(), team_id=h.TEAM)
        ctx = sc.Context(anthropic=anthropic, slack=slack, admin_url=admin, quick=quick)
        single_tps: float | None = None
        for name in only:
            print(f"… {name}", file=sys.stderr, flush=True)
            try:
                got = await SCENARIO_RUNNERS[name](ctx, single_tps)
            except Exception as err:  # one scenario failing must not lose the others' numbers
                got = [sc.Row(f"{name}: did not complete", f"{type(err).__name__}: {err}", ok=False)]
            if name == "overhead" and got and got[-1].flowpilot.replace(".", "", 1).isdigit():
                single_tps = float(got[-1].flowpilot)
            rows += got
        await h.drop_databases(admin)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    parser.add_argument("--write", type=Path, help="also write the results as markdown to this file")
    args = parser.parse_args(argv)
    only = tuple(s.strip() for s in args.only.split(",")) if args.only else SCENARIOS
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING)
    rows = asyncio.run(run(only, args.quick))
    header = (
        f"Machine: {machine()}. Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{' (quick)' if args.quick else ''}."
    )
    text = f"{header}\n\n{table(rows)}\n"
    print(text)
    if args.write:
        args.write.write_text(f"# Benchmark results\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
