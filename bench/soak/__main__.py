"""`python -m bench.soak`: see the package's docstring."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from ..__main__ import machine
from . import __doc__ as soak_doc
from .model import Config
from .runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=soak_doc.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100, help="engineers at once (default 100)")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the load runs (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    config = Config(sessions=args.sessions, seconds=args.minutes * 60, seed=args.seed)
    result = asyncio.run(run(config))
    print(
        f"Machine: {machine()}. Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {config.sessions} engineers, "
        f"{args.minutes:g} min, seed {config.seed}, Claude {config.claude_latency[0]:g}-"
        f"{config.claude_latency[1]:g} s, think {config.think[0]:g}-{config.think[1]:g} s; "
        f"turns in flight finished {result.settle_seconds:.0f} s after the load.\n"
    )
    print(f"RSS over time (s:MB): {result.rss_series()}\n")
    print(result.table())
    notes = result.notes()
    if notes:
        print("\n" + notes)
    print("\nFAILED" if result.failed else "\nOK")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
