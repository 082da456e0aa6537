"""Buttons that stopped meaning anything go: the status copy, a confirmed draft, a given rating."""

from __future__ import annotations

from .conftest import SlackHarness, action_ids, shown_text, started, wait_for


async def test_status_copy_has_no_buttons_and_confirm_and_rating_are_replaced_by_what_happened(
    slack: SlackHarness,
) -> None:
    fake, general = slack.fake, slack.fake.general
    header, _ = await started(slack)

    # `/flowpilot status` shows the header privately as a glance: the buttons stay on the one header.
    await slack.slash("status")
    status = await wait_for(
        lambda: [e for e in fake.ephemerals(general) if "Hypothesis" in shown_text(e)], what="status"
    )
    assert action_ids(status[-1]) == []
    assert "buttons are on its header in the thread" in shown_text(status[-1])
    assert "fp_resolve" in action_ids(fake.message(general, header["ts"]) or {})

    # Confirm: the draft's controls become who confirmed it (chat.update), with no buttons left.
    await slack.click(fake.message(general, header["ts"]) or {}, "fp_resolve")
    controls = (await wait_for(lambda: slack.with_action("fp_confirm"), what="draft controls"))[0]
    await slack.click(controls, "fp_confirm")
    rating = (await wait_for(lambda: slack.with_action("fp_rate_4"), what="the rating prompt"))[0]
    await wait_for(lambda: "Confirmed by" in shown_text(fake.message(general, controls["ts"]) or {}))
    confirmed = fake.message(general, controls["ts"]) or {}
    assert action_ids(confirmed) == []
    # The resolved session's header has no Resolve / Escalate / Pause.
    assert not {"fp_resolve", "fp_escalate", "fp_pause"} & set(
        action_ids(fake.message(general, header["ts"]) or {})
    )

    # Rate: the five stars become the rating given.
    await slack.click(rating, "fp_rate_4")
    await wait_for(lambda: "rated this session 4/5" in shown_text(fake.message(general, rating["ts"]) or {}))
    assert action_ids(fake.message(general, rating["ts"]) or {}) == []
    updates = [c for c in fake.calls("chat.update") if c.get("ts") == rating["ts"]]
    assert updates and all("fp_rate" not in str(c.get("blocks")) for c in updates)
