"""Reading Claude's handoff draft however it formats its headings, and writing it back."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.handoff import is_complete, parse_draft, render_draft, split_items
from bot.schemas import HandoffFields


@pytest.mark.parametrize(
    ("root", "steps", "recs"),
    [
        ("## Root cause", "## Steps taken", "## Recommendations"),
        ("### Root Cause:", "### Steps Taken:", "### Recommendations:"),
        ("**Root cause**", "**What we tried**", "**Next steps**"),
        ("**Root cause:**", "**Troubleshooting steps:**", "**Recommended next steps:**"),
        ("Root cause:", "Steps taken:", "Recommendations:"),
        ("*Root cause*", "*Steps taken*", "*Recommendations*"),
        ("ROOT CAUSE:", "WHAT WE TRIED:", "NEXT STEPS:"),
        ("## Cause", "## Troubleshooting Steps", "## Recommended Next Steps"),
        ("## 1. Root cause", "## 2. Steps taken", "## 3. Recommendations"),
        ("# Root cause #", "__Steps taken__", "_Next steps:_"),
    ],
)
def test_heading_styles_claude_uses_all_split_into_the_three_sections(
    root: str, steps: str, recs: str
) -> None:
    draft = f"{root}\nThe print spooler crashed on a bad HP driver.\n\n{steps}\n- Restarted spooler\n- Removed driver\n\n{recs}\n1. Pin the driver version\n"

    fields = parse_draft(draft)

    assert fields == HandoffFields(
        root_cause="The print spooler crashed on a bad HP driver.",
        steps_taken="- Restarted spooler\n- Removed driver",
        recommendations="1. Pin the driver version",
    )


def test_text_after_a_bold_label_on_the_same_line_belongs_to_that_section() -> None:
    fields = parse_draft("**Root cause:** Disk full on C:.\n**Steps taken:** Cleared temp files.\n")

    assert fields.root_cause == "Disk full on C:."
    assert fields.steps_taken == "Cleared temp files."


def test_text_before_the_first_heading_is_the_root_cause_when_there_is_no_root_cause_heading() -> None:
    fields = parse_draft("The VPN certificate had expired.\n\n## What we tried\n- Renewed it\n")

    assert fields.root_cause == "The VPN certificate had expired."
    assert fields.steps_taken == "- Renewed it"
    assert fields.recommendations == ""


def test_an_intro_before_the_root_cause_heading_is_not_mixed_into_the_root_cause() -> None:
    fields = parse_draft("Here is the handoff:\n\n## Root cause\nExpired certificate.\n")

    assert fields.root_cause == "Expired certificate."


def test_a_draft_without_any_heading_is_all_root_cause() -> None:
    assert parse_draft("  Just one paragraph.  \n") == HandoffFields(root_cause="Just one paragraph.")


def test_empty_draft_gives_empty_fields() -> None:
    assert parse_draft("") == HandoffFields()


def test_prose_that_merely_mentions_a_section_name_is_not_a_heading() -> None:
    draft = "## Root cause\n**Cause** of the outage was DNS.\nRoot cause\nNext steps are unclear\n"

    fields = parse_draft(draft)

    assert fields.root_cause == "**Cause** of the outage was DNS.\nRoot cause\nNext steps are unclear"
    assert fields.recommendations == ""


def test_list_formatting_and_blank_lines_inside_a_section_are_kept() -> None:
    steps = "1. Checked DNS\n   - nslookup ok\n\n2. Flushed cache\n\n```\nipconfig /flushdns\n```"

    fields = parse_draft(f"## Root cause\nx\n## Steps taken\n{steps}\n")

    assert fields.steps_taken == steps


def test_windows_line_endings_are_read_like_unix_ones() -> None:
    fields = parse_draft("## Root cause\r\nBad driver\r\n\r\n## Steps taken\r\n- Rolled back\r\n")

    assert fields == HandoffFields(root_cause="Bad driver", steps_taken="- Rolled back")


def test_a_draft_wrapped_in_a_code_fence_is_unwrapped() -> None:
    fields = parse_draft("```markdown\n## Root cause\nBad driver\n## Steps taken\n- Rolled back\n```")

    assert fields == HandoffFields(root_cause="Bad driver", steps_taken="- Rolled back")


def test_a_repeated_heading_adds_to_its_section() -> None:
    fields = parse_draft("## Steps taken\n- one\n## Root cause\nx\n## Steps taken\n- two\n")

    assert fields.steps_taken == "- one\n\n- two"


def test_render_draft_writes_the_three_headings_in_order() -> None:
    text = render_draft(
        HandoffFields(root_cause="Bad driver", steps_taken="- Rolled back", recommendations="")
    )

    assert text == "## Root cause\n\nBad driver\n\n## Steps taken\n\n- Rolled back\n\n## Recommendations\n"


_MARKDOWNISH = st.sampled_from(
    [
        "#",
        "##",
        "*",
        "**",
        "_",
        ":",
        " ",
        "\n",
        "\t",
        "```",
        "- ",
        "1. ",
        "x",
        "Root cause",
        "Cause",
        "Next steps",
    ]
)


def _section_text() -> st.SearchStrategy[str]:
    # "\r" is left out because parse_draft deliberately turns CRLF into LF (tested above).
    return st.one_of(
        st.text(st.characters(blacklist_characters="\r"), max_size=200),
        st.lists(_MARKDOWNISH, max_size=30).map("".join),
    ).map(str.strip)


@given(root=_section_text(), steps=_section_text(), recs=_section_text())
def test_parse_draft_reads_back_what_render_draft_wrote(root: str, steps: str, recs: str) -> None:
    for text in (root, steps, recs):
        # Texts that hold a heading line of their own cannot survive; parse_draft says which those are.
        assume(parse_draft(text) == HandoffFields(root_cause=text))
    fields = HandoffFields(root_cause=root, steps_taken=steps, recommendations=recs)

    assert parse_draft(render_draft(fields)) == fields


@pytest.mark.parametrize(
    ("fields", "complete"),
    [
        (HandoffFields(root_cause="Bad driver", steps_taken="- Rolled back"), True),
        (HandoffFields(root_cause="Bad driver", steps_taken="  \n "), False),
        (HandoffFields(root_cause="", steps_taken="- Rolled back", recommendations="Pin it"), False),
        (HandoffFields(), False),
    ],
)
def test_a_handoff_needs_a_root_cause_and_steps_to_be_confirmed(
    fields: HandoffFields, complete: bool
) -> None:
    assert is_complete(fields) is complete


def test_split_items_numbers_nothing_but_removes_every_kind_of_marker() -> None:
    text = "- Flushed DNS\n* Restarted the service\n3. Rebooted\n+ Ran sfc\nStep 5: Reimaged\n- [x] Closed ticket"

    assert split_items(text) == [
        "Flushed DNS",
        "Restarted the service",
        "Rebooted",
        "Ran sfc",
        "Reimaged",
        "Closed ticket",
    ]


def test_split_items_keeps_continuations_and_code_with_their_step() -> None:
    text = "1. Flushed DNS\n   still failing\n2. Ran:\n   ```\n   ipconfig /all\n\n   ping 8.8.8.8\n   ```\n3. Rebooted"

    assert split_items(text) == [
        "Flushed DNS\nstill failing",
        "Ran:\n```\nipconfig /all\n\nping 8.8.8.8\n```",
        "Rebooted",
    ]


def test_split_items_without_markers_gives_one_item_per_line() -> None:
    assert split_items("Checked DNS.\r\nRestarted the service.\n\n  \nRebooted.") == [
        "Checked DNS.",
        "Restarted the service.",
        "Rebooted.",
    ]
