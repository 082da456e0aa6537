"""A quick run of the flows benchmark, so it cannot rot: it walks a flow from Slack's Start button to its end
with no Claude request, and the session the flow resolves costs fewer Claude tokens than the same session
without it. Nothing here is timed."""

from __future__ import annotations

from bench.__main__ import run, table


async def test_the_flows_bench_walks_a_flow_without_claude_and_saves_tokens() -> None:
    rows = await run(("flows",), quick=True)
    printed = table(rows)
    assert "did not complete" not in printed, printed
    clicks = next(r for r in rows if "click → next question posted" in r.metric)
    assert clicks.flowpilot.startswith("p50"), printed  # every click was answered and timed
    calls = next(r for r in rows if "Claude requests during those clicks" in r.metric)
    assert calls.ok, printed
    tokens = next(r for r in rows if "Claude tokens of a session resolved" in r.metric)
    assert int(tokens.flowpilot) * 5 < int(tokens.baseline.split()[0]), printed
