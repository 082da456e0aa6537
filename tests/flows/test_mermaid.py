"""A flow as a Mermaid diagram: every node and way out drawn, in the author's order, labels that cannot
break the diagram's syntax."""

from __future__ import annotations

from bot.flows.mermaid import escape, mermaid
from bot.flows.validate import validate

from .test_validate import GOOD


def test_every_node_and_answer_is_drawn_in_the_authors_order() -> None:
    flow = validate(GOOD).flow
    assert flow is not None
    lines = mermaid(flow).splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[1] == '    start(("Outlook keeps prompting for password")) --> n0'
    assert lines[2] == '    n0{"Does Outlook on the web work?"}'  # the start node first, as written
    assert '    n0 -->|"Yes"| n1' in lines
    assert '    n1 -->|"Didn\'t work"| n3' in lines
    assert '    n4[["Escalate to Tier 2: Mailbox-level issue"]]' in lines


def test_labels_cannot_break_the_diagram() -> None:
    assert (
        escape('Run "ipconfig | findstr #1" <now>')
        == '"Run #quot;ipconfig #124; findstr #35;1#quot; #lt;now#gt;"'
    )
    assert escape("a\nb   c") == '"a b c"'
    assert len(escape("x" * 200)) == 80 + 2
