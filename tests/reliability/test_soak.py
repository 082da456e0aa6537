"""The soak (`python -m bench.soak`) in small: 8 engineers for 10 seconds against a real `flowpilot serve`."""

from __future__ import annotations

from bench.soak import Config, Result, run


def _report(result: Result) -> str:
    return f"\n{result.table()}\n{result.notes()}"


async def test_a_short_soak_loses_and_duplicates_nothing(db_url: str) -> None:
    config = Config(
        sessions=8,
        seconds=10,
        seed=11,
        claude_latency=(0.05, 0.3),
        think=(0.3, 1.5),
        double_click=0.3,
        retry=0.3,
        mention_reply=0.2,
        click_again=0.3,
        sample_every=2,
        wait_timeout=15,
        settle_timeout=20,
    )
    result = await run(config, database_url=db_url, log=lambda _: None)
    report = _report(result)
    # Not vacuous: the engineers did work, and sent double clicks, Slack retries and mention + message pairs.
    assert result.inputs["open"] >= config.sessions, report
    assert result.inputs["answer"] > 0 and result.inputs["reply"] > 0 and result.inputs["mark"] > 0, report
    assert result.duplicates_sent["double click"] > 0, report
    assert result.duplicates_sent["slow double click"] > 0, report
    assert result.duplicates_sent["slack retry"] > 0, report
    assert result.engineer_steps > 0 and result.claude_answers > 0, report
    # What must hold.
    assert result.lost == 0, report
    assert result.duplicate == 0, report
    assert result.http_5xx == 0, report
    assert result.errors == 0, report
    assert result.settled and not result.stuck and not result.inconsistent, report
    assert not result.turn_json_null, report
