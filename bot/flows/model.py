"""A flow (`schema: flowpilot.flow/1`): a troubleshooting decision tree engineers write in YAML.

The shape only; what makes a flow sound (every `next` exists, every node reachable, an end, loops with exits,
label lengths) is bot.flows.validate's job, which reports each fault with its file and line.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..schemas import EvidenceItem

FLOW_SCHEMA = "flowpilot.flow/1"
MAX_LABEL = 75  # a Slack button's text
MAX_OPTIONS = 25
SLUG = r"^[a-z0-9][a-z0-9-]{0,99}$"
NODE_ID = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    label: str = Field(min_length=1)
    next: str
    evidence: EvidenceItem | None = None


class QuestionNode(_Strict):
    type: Literal["question"]
    text: str = Field(min_length=1, max_length=3000)
    options: tuple[Option, ...] = Field(min_length=1)


class ActionNext(_Strict):
    done: str
    didnt_work: str


class ActionNode(_Strict):
    type: Literal["action"]
    text: str = Field(min_length=1, max_length=3000)
    command: str | None = Field(default=None, max_length=3000)
    next: ActionNext


class InfoNode(_Strict):
    type: Literal["info"]
    text: str = Field(min_length=1, max_length=3000)
    next: str


class GotoFlowNode(_Strict):
    type: Literal["goto_flow"]
    flow: str = Field(pattern=SLUG)


class AiNode(_Strict):
    type: Literal["ai"]
    hint: str = Field(default="", max_length=2000)


class ResolutionNode(_Strict):
    type: Literal["resolution"]
    root_cause: str = Field(min_length=1, max_length=4000)
    fix: str | None = Field(default=None, max_length=4000)


class EscalateNode(_Strict):
    type: Literal["escalate"]
    team: str | None = Field(default=None, max_length=255)
    reason: str = Field(min_length=1, max_length=2000)


Node = Annotated[
    QuestionNode | ActionNode | InfoNode | GotoFlowNode | AiNode | ResolutionNode | EscalateNode,
    Field(discriminator="type"),
]
END_TYPES = ("goto_flow", "ai", "resolution", "escalate")  # nodes where the flow hands on


class Match(_Strict):
    triggers: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


class Flow(_Strict):
    schema_: Literal["flowpilot.flow/1"] = Field(alias="schema")
    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=1, max_length=200)
    domain: str = Field(default="general", max_length=100)
    tags: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()  # () = every client
    match: Match = Match()
    start: str
    nodes: dict[str, Node] = Field(min_length=1)

    def successors(self, node_id: str) -> tuple[str, ...]:
        """The nodes one step from node_id inside this flow (a goto_flow leaves it)."""
        node = self.nodes[node_id]
        if isinstance(node, QuestionNode):
            return tuple(option.next for option in node.options)
        if isinstance(node, ActionNode):
            return (node.next.done, node.next.didnt_work)
        if isinstance(node, InfoNode):
            return (node.next,)
        return ()
