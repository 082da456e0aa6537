"""Running a flow: where a session stands in a flow, and where an answer takes it. Pure: no I/O, no Claude.

A position is the flow version, the node the engineer is asked at, the step number (questions and actions
asked so far, 1-based) and the path walked (each node passed with the answer given and its evidence). An
answer (an option's index, or an action's done / didn't work) moves the position on; info nodes on the way
are shown and passed; an end (`ai`, `resolution`, `escalate`, `goto_flow`) says what the session does next.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from ..schemas import EvidenceItem
from .model import (
    ActionNode,
    AiNode,
    EscalateNode,
    Flow,
    GotoFlowNode,
    InfoNode,
    QuestionNode,
    ResolutionNode,
)

ActionOutcome = Literal["done", "failed"]
# Info nodes passed in a row before a question, an action or an end: more means a loop of info nodes,
# which validation refuses; this bound keeps a broken stored flow from hanging a turn.
_MAX_INFO_CHAIN = 100


class FlowError(ValueError):
    """An answer that does not fit the node the session stands at, or a node the flow does not have."""


@dataclass(frozen=True)
class Walked:
    """One node passed: what it asked and what the engineer answered (with the option's evidence)."""

    node: str
    text: str
    answer: str
    evidence: EvidenceItem | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "text": self.text, "answer": self.answer}
        if self.evidence is not None:
            out["evidence"] = self.evidence.model_dump()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Walked:
        evidence = data.get("evidence")
        return cls(
            data["node"],
            data["text"],
            data["answer"],
            EvidenceItem.model_validate(evidence) if evidence else None,
        )

    def line(self) -> str:
        """The step as one line of the walked path Claude is told about."""
        return f"{self.text} → {self.answer}"


@dataclass(frozen=True)
class Position:
    version_id: uuid.UUID
    node: str
    step: int
    path: tuple[Walked, ...] = ()


@dataclass(frozen=True)
class Option:
    index: int


@dataclass(frozen=True)
class Marked:
    outcome: ActionOutcome


Answer = Option | Marked


@dataclass(frozen=True)
class AiEnd:
    hint: str
    path: tuple[Walked, ...]


@dataclass(frozen=True)
class ResolutionEnd:
    root_cause: str
    fix: str | None


@dataclass(frozen=True)
class EscalateEnd:
    team: str | None
    reason: str


@dataclass(frozen=True)
class GotoEnd:
    slug: str


End = AiEnd | ResolutionEnd | EscalateEnd | GotoEnd


@dataclass(frozen=True)
class Ask:
    """What the node the session stands at asks: a question with its options, or an action to try."""

    node: str
    kind: Literal["question", "action"]
    text: str
    options: tuple[str, ...] = ()
    command: str | None = None


@dataclass(frozen=True)
class Step:
    """Where an answer (or entering the flow) leads: the new position; the evidence the answer adds; the info
    texts passed on the way; and either what to ask next (`ask`) or how the flow ends (`end`)."""

    position: Position
    evidence: tuple[EvidenceItem, ...] = ()
    shown: tuple[str, ...] = ()
    ask: Ask | None = None
    end: End | None = None


def enter(flow: Flow, version_id: uuid.UUID, *, path: tuple[Walked, ...] = ()) -> Step:
    """The first step of a flow (`path`: what an earlier flow walked, when a goto_flow led here)."""
    return _arrive(flow, Position(version_id, flow.start, 0, path), flow.start, ())


def asked(flow: Flow, position: Position) -> Ask:
    """What the node `position` stands at asks (a position only ever stands at a question or an action)."""
    node = _node(flow, position.node)
    if isinstance(node, QuestionNode):
        return Ask(position.node, "question", node.text, tuple(o.label for o in node.options))
    if isinstance(node, ActionNode):
        return Ask(position.node, "action", node.text, command=node.command)
    raise FlowError(f"node {position.node!r} asks nothing")


def advance(flow: Flow, position: Position, answer: Answer) -> Step:
    """Where `answer`, given at the node `position` stands at, leads."""
    node = _node(flow, position.node)
    if isinstance(node, QuestionNode):
        if not isinstance(answer, Option) or not 0 <= answer.index < len(node.options):
            raise FlowError(f"node {position.node!r} takes one of its {len(node.options)} options")
        option = node.options[answer.index]
        walked = Walked(position.node, node.text, option.label, option.evidence)
        evidence = (option.evidence,) if option.evidence is not None else ()
        target = option.next
    elif isinstance(node, ActionNode):
        if not isinstance(answer, Marked):
            raise FlowError(f"node {position.node!r} is an action: done or didn't work")
        worked = answer.outcome == "done"
        said = "done" if worked else "didn't work"
        walked = Walked(position.node, node.text, said)
        evidence = (EvidenceItem(text=f"{node.text[:480]}: {said}", status="confirmed"),)
        target = node.next.done if worked else node.next.didnt_work
    else:
        raise FlowError(f"node {position.node!r} takes no answer")
    moved = dataclasses.replace(position, path=(*position.path, walked))
    return _arrive(flow, moved, target, evidence)


def _arrive(flow: Flow, position: Position, target: str, evidence: tuple[EvidenceItem, ...]) -> Step:
    """Follow info nodes from `target` to the next node that asks something or ends the flow."""
    shown: list[str] = []
    for _ in range(_MAX_INFO_CHAIN):
        node = _node(flow, target)
        if isinstance(node, InfoNode):
            shown.append(node.text)
            target = node.next
            continue
        if isinstance(node, QuestionNode | ActionNode):
            at = dataclasses.replace(position, node=target, step=position.step + 1)
            return Step(at, evidence, tuple(shown), ask=asked(flow, at))
        end = _end(node, position.path)
        return Step(dataclasses.replace(position, node=target), evidence, tuple(shown), end=end)
    raise FlowError(f"info nodes from {target!r} never reach a question or an end")


def _end(node: object, path: tuple[Walked, ...]) -> End:
    if isinstance(node, AiNode):
        return AiEnd(node.hint, path)
    if isinstance(node, ResolutionNode):
        return ResolutionEnd(node.root_cause, node.fix)
    if isinstance(node, EscalateNode):
        return EscalateEnd(node.team, node.reason)
    assert isinstance(node, GotoFlowNode)
    return GotoEnd(node.flow)


def _node(flow: Flow, node_id: str) -> Any:
    node = flow.nodes.get(node_id)
    if node is None:
        raise FlowError(f"flow {flow.id!r} has no node {node_id!r}")
    return node


def walked_lines(path: tuple[Walked, ...]) -> list[str]:
    """The walked path as Claude is told about it: one line per node passed."""
    return [w.line() for w in path]
