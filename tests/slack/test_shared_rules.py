"""What a command means is the core's: Slack's triage modal and Retry follow the same rules as Teams'."""

from __future__ import annotations

from bot import retry_codec

from .conftest import ALICE, BOB, SlackHarness, action_ids, started, text_values, wait_for

EVIDENCE = "Event ID 4625 on DC-01\n\n   Certificate on the VPN gateway expired  \n"


async def test_evidence_typed_on_several_lines_becomes_one_item_per_line(slack: SlackHarness) -> None:
    fake = slack.fake
    header, _ = await started(slack)
    session = await slack.session()
    assert session is not None
    before = len(session.evidence_items or [])
    await slack.click(header, "fp_edit_triage")
    modal = (await wait_for(fake.views, what="the triage modal"))[0]
    await slack.submit(modal, text_values(add_evidence=EVIDENCE))

    async def added() -> list[str]:
        session = await slack.session()
        items = (session.evidence_items or []) if session else []
        return [e["text"] for e in items[before:]]

    assert await wait_for(added, what="the evidence") == [
        "Event ID 4625 on DC-01",
        "Certificate on the VPN gateway expired",
    ]


async def test_a_retry_pressed_by_another_engineer_is_refused_and_stays_for_its_owner(
    slack: SlackHarness,
) -> None:
    fake = slack.fake
    slack.claude.queue_error(529, times=1)
    await slack.slash("Printer at Contoso is stuck")
    notice = (await wait_for(lambda: slack.with_action("fp_retry"), what="a Retry button"))[0]
    calls = slack.claude_calls()

    await slack.click(notice, "fp_retry", user=BOB)
    refusal = await wait_for(
        lambda: [e for e in fake.ephemerals(fake.general) if e.get("user") == BOB], what="Bob's refusal"
    )
    assert refusal[0]["text"] == retry_codec.NOT_YOURS
    assert slack.claude_calls() == calls, "Bob's click asked Claude for nothing"
    assert "fp_retry" in action_ids(fake.message(fake.general, notice["ts"]) or {})

    await slack.click(notice, "fp_retry", user=ALICE)
    await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the reply after Alice's Retry")
