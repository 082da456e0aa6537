"""The runner, by table: a position and an answer → the next position, the evidence, and how a flow ends."""

from __future__ import annotations

import uuid

import pytest

from bot.flows.model import Flow
from bot.flows.runner import (
    AiEnd,
    EscalateEnd,
    FlowError,
    GotoEnd,
    Marked,
    Option,
    Position,
    ResolutionEnd,
    Walked,
    advance,
    asked,
    enter,
)
from bot.schemas import EvidenceItem

V = uuid.uuid4()
FLOW = Flow.model_validate(
    {
        "schema": "flowpilot.flow/1",
        "id": "m365-outlook-password-loop",
        "title": "Outlook keeps prompting for password",
        "start": "intro",
        "nodes": {
            "intro": {"type": "info", "text": "We check web access first.", "next": "owa"},
            "owa": {
                "type": "question",
                "text": "Does Outlook on the web work?",
                "options": [
                    {
                        "label": "Yes",
                        "next": "creds",
                        "evidence": {"text": "OWA works", "status": "confirmed"},
                    },
                    {"label": "No", "next": "acct"},
                ],
            },
            "creds": {
                "type": "action",
                "text": "Clear MicrosoftOffice16 entries in Credential Manager",
                "command": "cmdkey /list",
                "next": {"done": "fixed", "didnt_work": "explore"},
            },
            "acct": {
                "type": "question",
                "text": "What does Outlook on the web say?",
                "options": [
                    {"label": "Account locked", "next": "locked"},
                    {"label": "Mailbox error", "next": "note"},
                ],
            },
            "note": {"type": "info", "text": "Mailbox errors need Exchange admin rights.", "next": "tier2"},
            "locked": {"type": "goto_flow", "flow": "m365-account-locked"},
            "fixed": {
                "type": "resolution",
                "root_cause": "Stale cached Office credentials",
                "fix": "Cleared",
            },
            "explore": {"type": "ai", "hint": "Consider Conditional Access"},
            "tier2": {"type": "escalate", "team": "Tier 2", "reason": "Mailbox-level issue"},
        },
    }
)
OWA = Walked(
    "owa", "Does Outlook on the web work?", "Yes", EvidenceItem(text="OWA works", status="confirmed")
)
AT_OWA = Position(V, "owa", 1)
AT_CREDS = Position(V, "creds", 2, (OWA,))


def test_entering_passes_info_nodes_and_asks_the_first_question() -> None:
    step = enter(FLOW, V)
    assert step.position == AT_OWA
    assert step.shown == ("We check web access first.",)
    assert step.ask is not None and step.ask.options == ("Yes", "No") and step.end is None


@pytest.mark.parametrize(
    ("position", "answer", "node", "step_n", "evidence", "end"),
    [
        # a question's option moves on and adds its evidence
        (AT_OWA, Option(0), "creds", 2, ("OWA works",), None),
        # an option without evidence adds none
        (AT_OWA, Option(1), "acct", 2, (), None),
        # an action done leads to the resolution with its root cause and fix
        (AT_CREDS, Marked("done"), "fixed", 2, ("Clear MicrosoftOffice16 entries in Credential Manager: done",),
         ResolutionEnd("Stale cached Office credentials", "Cleared")),
        # an action that didn't work leads to Claude with the hint and the walked path
        (AT_CREDS, Marked("failed"), "explore", 2,
         ("Clear MicrosoftOffice16 entries in Credential Manager: didn't work",),
         AiEnd("Consider Conditional Access", (
             OWA, Walked("creds", "Clear MicrosoftOffice16 entries in Credential Manager", "didn't work")))),
        # goto_flow names the flow to jump to
        (Position(V, "acct", 2), Option(0), "locked", 2, (), GotoEnd("m365-account-locked")),
        # an info node before an escalation is shown and passed
        (Position(V, "acct", 2), Option(1), "tier2", 2, (), EscalateEnd("Tier 2", "Mailbox-level issue")),
    ],
)  # fmt: skip
def test_an_answer_leads_to_the_next_node(
    position: Position,
    answer: Option | Marked,
    node: str,
    step_n: int,
    evidence: tuple[str, ...],
    end: object,
) -> None:
    step = advance(FLOW, position, answer)
    assert step.position.node == node
    assert step.position.step == step_n
    assert tuple(e.text for e in step.evidence) == evidence
    assert step.end == end
    assert (step.ask is None) == (end is not None)
    assert len(step.position.path) == len(position.path) + 1


def test_info_text_before_an_end_is_shown() -> None:
    step = advance(FLOW, Position(V, "acct", 2), Option(1))
    assert step.shown == ("Mailbox errors need Exchange admin rights.",)


def test_the_walked_path_keeps_every_answer_in_order() -> None:
    step = advance(FLOW, AT_OWA, Option(0))
    assert [w.answer for w in step.position.path] == ["Yes"]
    assert step.ask is not None and step.ask.kind == "action" and step.ask.command == "cmdkey /list"
    again = advance(FLOW, step.position, Marked("failed"))
    assert [(w.node, w.answer) for w in again.position.path] == [("owa", "Yes"), ("creds", "didn't work")]
    assert Walked.from_json(OWA.to_json()) == OWA


@pytest.mark.parametrize(
    ("position", "answer"),
    [
        (AT_OWA, Option(2)),  # no such option
        (AT_OWA, Option(-1)),
        (AT_OWA, Marked("done")),  # a question is not an action
        (AT_CREDS, Option(0)),  # an action is not a question
        (Position(V, "fixed", 2), Option(0)),  # an end takes no answer
        (Position(V, "gone", 2), Option(0)),  # a node the flow does not have
    ],
)
def test_an_answer_that_does_not_fit_is_refused(position: Position, answer: Option | Marked) -> None:
    with pytest.raises(FlowError):
        advance(FLOW, position, answer)


def test_only_questions_and_actions_ask() -> None:
    assert asked(FLOW, AT_CREDS).kind == "action"
    with pytest.raises(FlowError):
        asked(FLOW, Position(V, "explore", 2))
