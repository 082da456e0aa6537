"""A flow as a Mermaid `flowchart TD` diagram (README, `flowpilot flows show --mermaid`, the REST API).

Node ids become n0, n1… (a flow's ids may hold characters Mermaid reads as syntax); every label is quoted,
with the characters Mermaid would read inside a quoted label written as its entity codes.
"""

from __future__ import annotations

from .model import (
    ActionNode,
    AiNode,
    EscalateNode,
    Flow,
    GotoFlowNode,
    InfoNode,
    Node,
    QuestionNode,
    ResolutionNode,
)

MAX_TEXT = 80  # a diagram shows the gist; the flow file has the whole text

# Mermaid reads these inside a quoted label; `#` first, as the other codes start with it.
_ENTITIES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;"), ("|", "#124;"))


def escape(text: str) -> str:
    """Text as a quoted Mermaid label: one line, at most MAX_TEXT characters, no syntax in it."""
    text = " ".join(text.split())
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1].rstrip() + "…"
    for char, code in _ENTITIES:
        text = text.replace(char, code)
    return f'"{text}"'


def _shape(node: Node) -> str:
    """The node's box: a rhombus asks, a rectangle acts, rounded ends finish, a subroutine hands on."""
    if isinstance(node, QuestionNode):
        return "{" + escape(node.text) + "}"
    if isinstance(node, ActionNode):
        return "[" + escape(node.text) + "]"
    if isinstance(node, InfoNode):
        return "(" + escape(node.text) + ")"
    if isinstance(node, ResolutionNode):
        return "([" + escape(f"Resolved: {node.root_cause}") + "])"
    if isinstance(node, EscalateNode):
        return "[[" + escape(f"Escalate to {node.team or 'the next tier'}: {node.reason}") + "]]"
    if isinstance(node, GotoFlowNode):
        return "[[" + escape(f"Flow: {node.flow}") + "]]"
    assert isinstance(node, AiNode)
    return "[/" + escape(f"Claude: {node.hint or 'takes over'}") + "/]"


def _edges(flow: Flow, node_id: str) -> list[tuple[str, str]]:
    """(label, target) of each way out of a node."""
    node = flow.nodes[node_id]
    if isinstance(node, QuestionNode):
        return [(o.label, o.next) for o in node.options]
    if isinstance(node, ActionNode):
        return [("Done", node.next.done), ("Didn't work", node.next.didnt_work)]
    if isinstance(node, InfoNode):
        return [("", node.next)]
    return []


def mermaid(flow: Flow) -> str:
    """The flow as `flowchart TD` text."""
    ids = {node_id: f"n{i}" for i, node_id in enumerate(flow.nodes)}
    lines = ["flowchart TD", f"    start(({escape(flow.title)})) --> {ids[flow.start]}"]
    for node_id, node in flow.nodes.items():
        lines.append(f"    {ids[node_id]}{_shape(node)}")
    for node_id in flow.nodes:
        for label, target in _edges(flow, node_id):
            arrow = f"-->|{escape(label)}|" if label else "-->"
            lines.append(f"    {ids[node_id]} {arrow} {ids[target]}")
    return "\n".join(lines) + "\n"
