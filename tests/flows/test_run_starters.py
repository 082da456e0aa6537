"""Every starter flow runs: from its start, every answer at every node it can reach leads on to a question,
an action or an end, and every goto_flow names a starter flow that exists (pure: the runner only)."""

from __future__ import annotations

import uuid

import pytest

from bot.flows.model import Flow
from bot.flows.runner import Answer, GotoEnd, Marked, Option, Position, Step, advance, enter
from bot.flows.starter import starter_files
from bot.flows.validate import validate


def _starters() -> dict[str, Flow]:
    flows = {}
    for name, text in starter_files():
        checked = validate(text, file=name)
        assert checked.flow is not None, [str(f) for f in checked.faults]
        flows[checked.flow.id] = checked.flow
    return flows


STARTERS = _starters()


def _answers(step: Step) -> list[Answer]:
    assert step.ask is not None
    if step.ask.kind == "question":
        return [Option(i) for i in range(len(step.ask.options))]
    return [Marked("done"), Marked("failed")]


@pytest.mark.parametrize("slug", sorted(STARTERS))
def test_every_answer_of_a_starter_flow_leads_somewhere(slug: str) -> None:
    flow = STARTERS[slug]
    first = enter(flow, uuid.uuid4())
    seen: set[str] = set()
    ends: set[str] = set()
    todo = [first]
    while todo:
        step = todo.pop()
        if step.end is not None:
            ends.add(type(step.end).__name__)
            if isinstance(step.end, GotoEnd):
                assert step.end.slug in STARTERS, f"{slug} jumps to a flow that is not shipped"
            continue
        if step.position.node in seen:
            continue
        seen.add(step.position.node)
        at = Position(step.position.version_id, step.position.node, step.position.step)
        todo += [advance(flow, at, answer) for answer in _answers(step)]
    assert ends, f"{slug} never ends"
    asked = {n for n, node in flow.nodes.items() if node.type in ("question", "action")}
    assert seen == asked, f"{slug}: nodes never asked {sorted(asked - seen)}"
