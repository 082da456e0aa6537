"""A handoff draft as text: its sections under their headings, and the steps of a section one by one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.handoff import is_complete, render_draft, split_items
from bot.schemas import HandoffFields, numbered


def test_render_draft_writes_the_three_headings_in_order() -> None:
    text = render_draft(
        HandoffFields(root_cause="Bad driver", steps_taken="- Rolled back", recommendations="")
    )

    assert text == "## Root cause\n\nBad driver\n\n## Steps taken\n\n- Rolled back\n\n## Recommendations"


_LINE = st.text(st.sampled_from("abc XYZ019.:-#*_()[]/"), min_size=1, max_size=40).map(str.strip).filter(bool)


@given(steps=st.lists(st.lists(_LINE, min_size=1, max_size=3).map("\n".join), min_size=1, max_size=8))
def test_steps_written_as_a_numbered_list_read_back_one_item_per_step(steps: list[str]) -> None:
    # Whatever a step says ("2. …", "- …" on a line of its own), it stays one step of the ticket note.
    assert split_items(numbered(steps)) == steps


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
