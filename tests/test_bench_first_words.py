"""A quick run of the bench's "first words" row, so it cannot rot. Nothing here is timed: it checks that every
turn's first words were seen on the REST event stream, and the baseline's whole replies in Slack."""

from __future__ import annotations

from bench.__main__ import run, table


async def test_the_first_words_row_measures_every_turn_and_the_baseline_beside_it() -> None:
    rows = await run(("firstwords",), quick=True)
    printed = table(rows)
    assert "did not complete" not in printed, printed
    row = next(r for r in rows if "first visible words of a turn" in r.metric)
    assert row.flowpilot.startswith("p50") and row.baseline.startswith("p50"), printed
