"""The ticket note, markdown and JSON a confirmed handoff becomes, judged as a service desk would."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.outputs import OutputContext, ResolutionOutputGenerator, format_duration
from bot.schemas import HandoffFields

STARTED = datetime(2025, 3, 3, 9, 0, tzinfo=timezone(timedelta(hours=-5)))

JSON_KEYS = {
    "schema_version",
    "session_id",
    "kind",
    "summary",
    "client",
    "asset",
    "category",
    "ticket",
    "hypothesis",
    "root_cause",
    "steps_taken",
    "recommendations",
    "evidence",
    "engineer",
    "escalated_to",
    "escalation_reason",
    "started_at",
    "finished_at",
    "active_seconds",
    "step_count",
}


def _context(**changes: Any) -> OutputContext:
    context = OutputContext(
        session_id="8f0c2a",
        kind="resolve",
        problem_summary="Outlook keeps prompting for a password",
        client_name="Acme Dental",
        asset_name="ACME-LT-042",
        issue_category="Email / M365",
        hypothesis="Stale modern-auth token",
        evidence=[
            {"text": "Pending check of the **token** cache", "status": "pending"},
            {"text": "Webmail sign-in works", "status": "confirmed"},
            {"text": "Licence is assigned", "status": "ruled_out"},
        ],
        engineer="Dana Ruiz",
        escalated_to=None,
        escalation_reason=None,
        started_at=STARTED,
        finished_at=STARTED + timedelta(hours=2),
        active_seconds=3900,
        step_count=14,
        psa_ticket_id="T20250303.0042",
    )
    return dataclasses.replace(context, **changes)


FIELDS = HandoffFields(
    root_cause="The **modern auth** token cached in `Credential Manager` was stale after the password change.",
    steps_taken=(
        "- Cleared cached credentials with `cmdkey /delete:MicrosoftOffice16_Data:SSPI:dana@acme.example`\n"
        "* Recreated the Outlook profile\n"
        "3. Signed in again and **confirmed** no prompt"
    ),
    recommendations="- Tell the user to sign out of Office after password changes\n- Check the other laptops",
)


def _outputs(context: OutputContext | None = None, fields: HandoffFields = FIELDS) -> dict[str, str]:
    outputs = ResolutionOutputGenerator().generate(context=context or _context(), fields=fields)
    return {output.format: output.content for output in outputs}


def _plain(context: OutputContext | None = None, fields: HandoffFields = FIELDS) -> str:
    return _outputs(context, fields)["plain"]


def _assert_pasteable(note: str) -> None:
    for marker in ("**", "##", "`"):
        assert marker not in note
    assert "\r" not in note
    assert max(len(line) for line in note.splitlines()) <= 100


def test_generate_gives_plain_markdown_and_json_in_that_order() -> None:
    outputs = ResolutionOutputGenerator().generate(context=_context(), fields=FIELDS)

    assert [output.format for output in outputs] == ["plain", "markdown", "json"]


def test_resolution_note_reads_top_to_bottom_as_a_ticket_note() -> None:
    note = _plain()

    assert note.splitlines()[:6] == [
        "Resolved: Outlook keeps prompting for a password",
        "Client: Acme Dental",
        "Asset: ACME-LT-042",
        "Category: Email / M365",
        "Ticket: T20250303.0042",
        "Engineer: Dana Ruiz",
    ]
    order = ["Root cause:", "Steps taken:", "What we know:", "Recommendations:", "Time spent:"]
    positions = [note.index(f"\n{heading}") for heading in order]
    assert positions == sorted(positions)
    assert note.endswith("Time spent: 1h 05m active, 14 steps")
    _assert_pasteable(note)


def test_markdown_is_stripped_from_the_note_but_the_words_stay() -> None:
    note = _plain()

    assert "The modern auth token cached in Credential Manager was stale" in note
    assert "cmdkey /delete:MicrosoftOffice16_Data:SSPI:dana@acme.example" in note


def test_only_markup_is_stripped_from_a_line_not_similar_looking_text() -> None:
    root = (
        "### Details\nSee [KB 123](https://kb.example/123) and ticket #4512 ## moved; keep snake_case_name."
    )

    note = _plain(fields=FIELDS.model_copy(update={"root_cause": root}))

    assert (
        "Root cause:\nDetails\nSee KB 123 (https://kb.example/123) and ticket #4512 # moved; keep snake_case_name."
        in note
    )


def test_steps_become_one_numbered_list_whatever_markers_claude_used() -> None:
    note = _plain()

    steps = note.split("Steps taken:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line[:3] for line in steps if not line.startswith(" ")] == ["1. ", "2. ", "3. "]
    assert "2. Recreated the Outlook profile" in steps


def test_long_lines_are_wrapped_at_100_columns_with_the_step_text_aligned() -> None:
    long_step = "Checked " + " ".join(f"mailbox{i}@acme.example" for i in range(20))
    note = _plain(fields=FIELDS.model_copy(update={"steps_taken": long_step}))

    steps = note.split("Steps taken:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(steps) > 1
    assert steps[0].startswith("1. Checked ")
    assert all(line.startswith("   ") for line in steps[1:])
    _assert_pasteable(note)


def test_evidence_is_listed_confirmed_then_ruled_out_then_pending_with_ascii_markers() -> None:
    note = _plain()

    known = note.split("What we know:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert known == [
        "[confirmed] Webmail sign-in works",
        "[ruled out] Licence is assigned",
        "[pending] Pending check of the token cache",
    ]


def test_empty_fields_leave_no_empty_lines_or_headings_behind() -> None:
    context = _context(client_name=None, asset_name="  ", issue_category="", psa_ticket_id=None, evidence=[])
    fields = FIELDS.model_copy(update={"recommendations": "  \n"})

    note = _plain(context, fields)

    for label in ("Client:", "Asset:", "Category:", "Ticket:", "What we know:", "Recommendations:"):
        assert label not in note
    assert "\n\n\n" not in note
    assert note.splitlines()[:2] == [
        "Resolved: Outlook keeps prompting for a password",
        "Engineer: Dana Ruiz",
    ]


def test_escalation_note_names_the_receiving_engineer_and_the_reason() -> None:
    context = _context(
        kind="escalate",
        escalated_to="Sam Lee",
        escalation_reason="Needs **Exchange admin** rights to reset the mailbox.",
    )

    note = _plain(context)

    assert note.splitlines()[0] == "Escalated to Sam Lee: Outlook keeps prompting for a password"
    assert "Reason for escalation:\nNeeds Exchange admin rights to reset the mailbox." in note
    assert "Working hypothesis:\nStale modern-auth token" in note
    assert note.index("Recommendations:") < note.index("Reason for escalation:") < note.index("Time spent:")
    _assert_pasteable(note)


def test_a_resolution_note_never_shows_an_escalation_reason_or_hypothesis() -> None:
    note = _plain(_context(escalation_reason="left over from an earlier request"))

    assert "Reason for escalation" not in note
    assert "left over" not in note
    assert "Working hypothesis" not in note


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0m"),
        (59, "0m"),
        (65, "1m"),
        (3599, "59m"),
        (3600, "1h 00m"),
        (3900, "1h 05m"),
        (90061, "25h 01m"),
    ],
)
def test_active_time_is_shown_in_hours_and_minutes(seconds: int, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_time_spent_line_uses_the_singular_for_one_step() -> None:
    note = _plain(_context(active_seconds=0, step_count=1))

    assert note.endswith("Time spent: 0m active, 1 step")


def test_huge_and_odd_input_still_gives_a_pasteable_note() -> None:
    crlf_emoji = "Printer 🖨️ jammed ✅ again 👩🏽‍💻\r\n" * 1500
    one_word = "x" * 50_000
    fields = HandoffFields(
        root_cause=crlf_emoji, steps_taken=one_word, recommendations="**a _b* `c ~~d " * 3000
    )
    context = _context(problem_summary="🔥" * 20_000, client_name="\x00\x1b[31mAcme\u2028Dental\ud800")

    outputs = _outputs(context, fields)

    _assert_pasteable(outputs["plain"])
    assert "Printer 🖨️ jammed ✅ again 👩🏽‍💻" in outputs["plain"]
    assert "Client: [31mAcme Dental" in outputs["plain"]
    assert json.loads(outputs["json"])["steps_taken"] == [one_word]


@pytest.mark.parametrize(
    "text",
    ["[" * 50_000, "a" + "`" * 50_000, "<http://" * 6_000, "[a](" * 12_000, "- x\n" * 12_000, "*a " * 16_000],
)
def test_pathological_50kb_fields_are_handled_quickly(text: str) -> None:
    fields = HandoffFields(root_cause=text, steps_taken=text, recommendations=text)

    started = time.perf_counter()
    outputs = _outputs(_context(kind="escalate", escalated_to="Sam", escalation_reason=text), fields)
    elapsed = time.perf_counter() - started

    _assert_pasteable(outputs["plain"])
    assert elapsed < 3  # each took minutes when a pattern backtracked quadratically


_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.sampled_from(["**", "##", "`", "```", "*", "_", "- ", "1. ", "\r\n", "\n", " ", "a", "🙂", "#"])
    ).map("".join),
)


@settings(max_examples=200, deadline=None)
@given(root=_TEXT, steps=_TEXT, recs=_TEXT, summary=st.none() | _TEXT, reason=st.none() | _TEXT)
def test_any_input_gives_a_pasteable_note_and_valid_json(
    root: str, steps: str, recs: str, summary: str | None, reason: str | None
) -> None:
    context = _context(kind="escalate", escalated_to="Sam", problem_summary=summary, escalation_reason=reason)

    outputs = _outputs(context, HandoffFields(root_cause=root, steps_taken=steps, recommendations=recs))

    _assert_pasteable(outputs["plain"])
    assert set(json.loads(outputs["json"])) == JSON_KEYS


def test_markdown_note_has_headings_numbered_steps_and_keeps_formatting() -> None:
    markdown = _outputs()["markdown"]

    assert markdown.startswith("## Resolved: Outlook keeps prompting for a password\n")
    assert "- **Client:** Acme Dental" in markdown
    assert "### Root cause\n\nThe **modern auth** token cached in `Credential Manager`" in markdown
    assert "### Steps taken\n\n1. Cleared cached credentials" in markdown
    assert "\n2. Recreated the Outlook profile\n3. Signed in again and **confirmed** no prompt\n" in markdown
    assert "- ✓ **Confirmed:** Webmail sign-in works" in markdown
    assert "### Recommendations\n\n- Tell the user" in markdown
    assert "_Time spent: 1h 05m active, 14 steps_" in markdown


def test_json_document_has_the_documented_shape_and_round_trips() -> None:
    document = json.loads(_outputs()["json"])

    assert set(document) == JSON_KEYS
    assert document["schema_version"] == 1
    assert document["kind"] == "resolve"
    assert document["summary"] == "Outlook keeps prompting for a password"
    assert document["ticket"] == "T20250303.0042"
    assert document["root_cause"] == FIELDS.root_cause
    assert document["steps_taken"] == [
        "Cleared cached credentials with `cmdkey /delete:MicrosoftOffice16_Data:SSPI:dana@acme.example`",
        "Recreated the Outlook profile",
        "Signed in again and **confirmed** no prompt",
    ]
    assert document["recommendations"] == [
        "Tell the user to sign out of Office after password changes",
        "Check the other laptops",
    ]
    assert document["evidence"][0] == {"text": "Webmail sign-in works", "status": "confirmed"}
    assert datetime.fromisoformat(document["started_at"]) == STARTED
    assert datetime.fromisoformat(document["finished_at"]) == STARTED + timedelta(hours=2)
    assert (document["active_seconds"], document["step_count"]) == (3900, 14)
    assert document["escalated_to"] is None


def test_json_for_an_escalation_carries_receiver_and_reason_and_blank_values_as_null() -> None:
    context = _context(
        kind="escalate", escalated_to="Sam Lee", escalation_reason="Needs admin", asset_name=" "
    )

    document = json.loads(_outputs(context)["json"])

    assert (document["kind"], document["escalated_to"], document["escalation_reason"]) == (
        "escalate",
        "Sam Lee",
        "Needs admin",
    )
    assert document["asset"] is None


def test_unknown_evidence_status_counts_as_pending_and_blank_evidence_is_dropped() -> None:
    context = _context(evidence=[{"text": "Odd", "status": "maybe"}, {"text": "  ", "status": "confirmed"}])

    assert json.loads(_outputs(context)["json"])["evidence"] == [{"text": "Odd", "status": "pending"}]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _context(started_at=datetime(2025, 3, 3, 9, 0))
    assert _context(finished_at=datetime(2025, 3, 3, 9, 0, tzinfo=UTC)).finished_at.tzinfo is UTC


def test_fenced_code_in_a_step_stays_readable_and_cannot_render_as_a_heading() -> None:
    fields = FIELDS.model_copy(
        update={
            "steps_taken": "1. Ran:\n   ```powershell\n   # list services\n   Get-Service\n   ```\n2. Rebooted"
        }
    )

    steps = _plain(fields=fields).split("Steps taken:\n", 1)[1].split("\n\n", 1)[0].splitlines()

    assert steps == ["1. Ran:", "       # list services", "       Get-Service", "2. Rebooted"]
