"""A quick run of the bench's "chat words" rows (Slack and Teams), so they cannot rot. Nothing here is timed:
it checks that every turn's first words were seen in the fake Slack and the fake connector, that no message
was edited more than once in a second, and that every turn's whole message arrived, 429s or not."""

from __future__ import annotations

from bench.__main__ import run, table


async def test_the_chat_words_rows_measure_slack_and_teams_beside_the_baseline() -> None:
    rows = await run(("chatwords",), quick=True)
    printed = table(rows)
    assert "did not complete" not in printed, printed
    for surface in ("Slack", "Teams", "Teams channel"):
        first = next(r for r in rows if "first visible words" in r.metric and f"({surface}:" in r.metric)
        assert first.flowpilot.startswith("p50") and first.baseline.startswith("p50"), printed
        edits = next(r for r in rows if r.metric.startswith(f"{surface}: edits per message"))
        assert edits.ok, printed  # the streamed message is paced, its final version included
        whole = next(r for r in rows if r.metric.startswith(f"{surface}: 5 streamed turns"))
        assert whole.flowpilot == "5 of 5 / 5 of 5", printed
