"""A quick run of the benchmarks, so `python -m bench` cannot rot. Nothing here is timed: it checks that the
scenarios run end to end against `flowpilot serve` and that what they count as correct is correct."""

from __future__ import annotations

from bench.__main__ import run, table


async def test_a_quick_bench_run_completes_with_whole_drafts_and_no_lost_or_duplicate_turns() -> None:
    rows = await run(("streaming", "scaleout"), quick=True)
    printed = table(rows)
    assert "did not complete" not in printed, printed
    whole = next(r for r in rows if "drafts arriving whole" in r.metric)
    assert whole.ok, printed
    lost = next(r for r in rows if "lost / duplicate" in r.metric)
    assert lost.flowpilot.startswith("0 lost, 0 duplicate"), printed
    first_text = next(r for r in rows if "first visible draft text" in r.metric)
    assert first_text.flowpilot.startswith("p50"), printed  # measured for every draft, not "no data"
