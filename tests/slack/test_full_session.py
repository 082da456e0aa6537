"""The "Done when" scenario: a whole session from the slash command to the rating, through signed requests."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.slack import messages as msg
from storage.models import AISessionStep, SessionHandoff
from tests.structured_draft import ISSUE_DRAFT, filed_note

from .conftest import ALICE, SlackHarness, action_ids, shown_text, started, text_values, wait_for

LOG = "\n".join(
    ["```"]
    + [f"2026-11-24 10:0{i}:00 ERROR Outlook: authentication failed for alice@contoso.com" for i in range(9)]
    + ["```"]
)


async def test_a_full_session_from_slash_command_to_rating(slack: SlackHarness) -> None:
    fake, general = slack.fake, slack.fake.general
    header, turn = await started(slack)
    thread_ts = header["ts"]
    assert turn["thread_ts"] == thread_ts
    assert "Microsoft 365 / Identity" in shown_text(header)
    session = await slack.session()
    assert session is not None and session.status == "active"

    # Two button answers: the first leaves one question open, the second lets Claude go on.
    await slack.click(turn, "fp_answer_1_0")
    answered = await wait_for(
        lambda: "fp_answer_1_0" not in action_ids(fake.message(general, turn["ts"]) or {}), what="q1 answered"
    )
    assert answered
    after_first = fake.message(general, turn["ts"]) or {}
    assert "answered: MFA required" in shown_text(after_first)
    assert "fp_answer_2_0" in action_ids(after_first)
    await slack.click(after_first, "fp_answer_2_1")
    await wait_for(lambda: slack.claude_calls() == 2, what="Claude's second turn")
    second = (
        await wait_for(lambda: [m for m in slack.with_action("fp_answer_1_0") if m["ts"] != turn["ts"]])
    )[0]
    # Both questions of the first reply now show who answered what, with no buttons left for them.
    assert not [a for a in action_ids(fake.message(general, turn["ts"]) or {}) if a.startswith("fp_answer")]

    # A typed reply with a pasted log.
    await slack.event(fake.post_user_message(general, LOG, user=ALICE, thread_ts=thread_ts))
    await wait_for(lambda: slack.claude_calls() == 3, what="Claude's third turn")
    await wait_for(
        lambda: [m for m in slack.with_action("fp_answer_1_0") if m["ts"] != second["ts"]], what="reply 3"
    )
    async with slack.runtime.db() as db:
        kinds = (
            (await db.execute(sa.select(AISessionStep.kind).order_by(AISessionStep.step_order)))
            .scalars()
            .all()
        )
    assert kinds.count("answer") == 2 and "message" in kinds

    # A triage edit in the modal.
    header = fake.message(general, thread_ts) or {}
    await slack.click(header, "fp_edit_triage")
    modal = (await wait_for(fake.views, what="the triage modal"))[0]
    initial = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"]}
    assert initial["issue_category"] == "Microsoft 365 / Identity"
    await slack.submit(
        modal, text_values(client_name="Contoso Ltd", asset_name="LAPTOP-042", add_evidence="")
    )
    await wait_for(
        lambda: "Contoso Ltd" in shown_text(fake.message(general, thread_ts) or {}), what="header edit"
    )
    session = await slack.session()
    assert session is not None and session.client_name == "Contoso Ltd" and session.asset_name == "LAPTOP-042"
    assert "client_name" in session.manual_fields

    # Resolve: the draft streams into the thread, then Confirm.
    await slack.click(fake.message(general, thread_ts) or {}, "fp_resolve")
    controls = (await wait_for(lambda: slack.with_action("fp_confirm"), what="draft controls"))[0]
    # (Claude's turns stream too: the draft is the stream that starts with its first heading.)
    streamed = [c for c in fake.calls("chat.startStream") if "Root cause" in str(c["chunks"])]
    assert len(streamed) == 1 and streamed[0]["recipient_user_id"] == ALICE
    draft_ts = next(
        m["ts"]
        for m in fake.messages(general)
        if m["ts"] not in (controls["ts"],) and "Root cause" in m.get("text", "")
    )
    assert not fake.is_streaming(general, draft_ts)
    assert "## Steps taken" in (fake.message(general, draft_ts) or {})["text"]
    await slack.click(controls, "fp_confirm")
    rating = (await wait_for(lambda: slack.with_action("fp_rate_4"), what="the rating prompt"))[0]
    session = await slack.session()
    assert session is not None and session.status == "resolved"
    await wait_for(lambda: "Confirmed by" in shown_text(fake.message(general, controls["ts"]) or {}))
    assert "Resolved" in shown_text(fake.message(general, thread_ts) or {})
    assert "fp_resolve" not in action_ids(fake.message(general, thread_ts) or {})

    # Rate.
    await slack.click(rating, "fp_rate_4")
    await wait_for(lambda: slack.session(), what="session")
    rated = await wait_for(lambda: _rating(slack), what="the rating")
    assert rated == 4
    async with slack.runtime.db() as db:
        handoff = (await db.execute(sa.select(SessionHandoff))).scalars().one()
    assert handoff.status == "confirmed" and handoff.root_cause


async def _rating(slack: SlackHarness) -> int | None:
    session = await slack.session()
    return session.session_rating if session else None


def _note_in(slack: SlackHarness, title: str) -> str | None:
    """The ticket note a message titled `title` shows in the thread, as its code block holds it."""
    for message in slack.fake.messages(slack.fake.general):
        shown = shown_text(message)
        if shown.startswith(title):
            return shown.split("```\n", 1)[1].rsplit("\n```", 1)[0]
    return None


async def test_a_draft_is_filed_by_field_and_the_note_shown_before_confirm_is_the_one_filed(
    slack: SlackHarness,
) -> None:
    header, _ = await started(slack)
    slack.claude.queue_turn(ISSUE_DRAFT)
    await slack.click(header, "fp_resolve")
    controls = (await wait_for(lambda: slack.with_action("fp_confirm"), what="draft controls"))[0]
    before = _note_in(slack, msg.TICKET_NOTE_PREVIEW)
    assert before is not None and "Root cause:\nRoot cause: the VPN client certificate" in before
    assert "Recommendations:\nRecommendations: monitor certificate expiry" in before and "3." not in before

    await slack.click(controls, "fp_confirm")
    after = await wait_for(lambda: _note_in(slack, msg.TICKET_NOTE), what="the ticket note after Confirm")
    stored_note = await filed_note(slack.runtime.db)
    assert before == after == stored_note
