"""A quick run of the benchmarks, so `python -m bench` cannot rot. Nothing here is timed: it checks that the
scenarios run end to end against `flowpilot serve` and that what they count as correct is correct."""

from __future__ import annotations

from bench.__main__ import run, table


async def test_a_quick_bench_run_has_whole_drafts_no_lost_or_duplicate_turns_and_keeps_the_budget() -> None:
    rows = await run(("streaming", "scaleout", "scalebudget"), quick=True)
    printed = table(rows)
    assert "did not complete" not in printed, printed
    whole = next(r for r in rows if "drafts arriving whole" in r.metric)
    assert whole.ok, printed
    lost = [r for r in rows if "lost / duplicate" in r.metric]
    assert len(lost) == 2, printed  # two processes, then four
    assert all(r.flowpilot.startswith("0 lost, 0 duplicate") for r in lost), printed
    peak = next(r for r in rows if "peak connections" in r.metric)
    assert peak.ok, printed  # the four listeners seen at least, and never more than 4 × the budget
    first_text = next(r for r in rows if "first visible draft text" in r.metric)
    assert first_text.flowpilot.startswith("p50"), printed  # measured for every draft, not "no data"
