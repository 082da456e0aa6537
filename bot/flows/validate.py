"""Is a flow file sound? Every fault at once, each as `file:line: problem`, so an author fixes them in one go.

Three passes over the same document, each independent of the others so that one fault does not hide the
next: the YAML itself (bot.flows.yaml_lines: syntax, keys written twice, YAML 1.1 boolean keys), the shape
(bot.flows.model through pydantic: unknown fields, wrong types, missing text), and the graph, read from the
plain data so it is checked even when a node elsewhere has a shape fault: every `next` and `start` names a
node, every node is reached from `start`, there is an end, every loop has a way out, labels fit a button
(75 characters), at most 25 options, no flow jumps to itself.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..redaction import redact
from .model import END_TYPES, MAX_LABEL, MAX_OPTIONS, NODE_ID, Flow, GotoFlowNode
from .yaml_lines import Parsed, Path, dotted, parse

NOT_A_MAPPING = "a flow is a mapping of schema:, id:, title:, start: and nodes:"
MISSING = "{where}missing field {field!r}"
UNKNOWN_FIELD = "{where}: unknown field"
QUOTE_IT = " (YAML reads {value} as {kind}: quote it)"
UNKNOWN_NODE = "{where}: unknown node {target!r}"
UNREACHABLE = "node {node!r} is never reached from start {start!r}"
NO_END = "no end node: add a resolution, escalate, ai or goto_flow node"
NO_EXIT = (
    "{nodes} loop with no way out: no resolution, escalate, ai or goto_flow node can be reached from {them}"
)
LONG_LABEL = "{where}: label is {length} characters; a button holds at most {limit}"
TOO_MANY_OPTIONS = "{where}: {count} options; at most {limit} fit"
SAME_LABEL = "{where}: label {label!r} is used twice in this question"
SELF_GOTO = "{where}: goto_flow jumps to this same flow"
UNKNOWN_FLOW = (
    "{where}: no flow {target!r} in the library yet: a session that reaches this node goes on with Claude "
    "(import that flow too)"
)
BAD_NODE_ID = "node id {node!r}: use letters, digits, - and _ (at most 64)"
SECRET = (
    "this looks like a {kinds} written into the flow: a flow is shown to every engineer and stored as written; "
    "leave the secret out (a command can read it when it runs, e.g. Read-Host)"
)


@dataclass(frozen=True)
class Fault:
    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


@dataclass(frozen=True)
class Jump:
    """A goto_flow node of a valid flow: the flow it names, and where that is written."""

    target: str
    file: str
    line: int
    where: str


@dataclass(frozen=True)
class Checked:
    """A validated flow (None when there are faults) and every fault found."""

    flow: Flow | None
    faults: tuple[Fault, ...]
    jumps: tuple[Jump, ...] = ()

    def unknown_jumps(self, known: Collection[str]) -> list[Fault]:
        """The goto_flow nodes naming a flow not among `known` (the slugs the library holds for whoever
        imports it, and those imported with it): not faults, as the flow may come later, but a session
        reaching such a node would go on with Claude instead."""
        return [
            Fault(j.file, j.line, UNKNOWN_FLOW.format(where=j.where, target=j.target))
            for j in self.jumps
            if j.target not in known
        ]

    @property
    def ok(self) -> bool:
        return not self.faults


def validate(text: str, *, file: str = "<flow>") -> Checked:
    """Check a flow written in YAML (or JSON); `file` names it in each fault."""
    parsed = parse(text)
    problems = list(parsed.faults)
    flow = None
    if (parsed.data is not None or not problems) and not isinstance(parsed.data, dict):
        problems.append((1, NOT_A_MAPPING))  # a list, a number, or nothing but `null`
    elif parsed.data is not None:
        flow, shape = _shape(parsed)
        problems += shape + list(_graph(parsed))
    problems += _secrets(text)
    faults = tuple(Fault(file, line, problem) for line, problem in sorted(set(problems)))
    if faults or flow is None:
        return Checked(flow=None, faults=faults)
    jumps = tuple(
        Jump(node.flow, file, parsed.line(("nodes", node_id, "flow")), dotted(("nodes", node_id, "flow")))
        for node_id, node in flow.nodes.items()
        if isinstance(node, GotoFlowNode)
    )
    return Checked(flow=flow, faults=faults, jumps=jumps)


def _secrets(text: str) -> list[tuple[int, str]]:
    """Lines holding what the redaction (bot.redaction) would mask: a password, a key, a token."""
    found = redact(text)
    if not found.count:
        return []
    faults = []
    for number, line in enumerate(text.splitlines(), 1):
        masked = redact(line)
        if masked.count:
            faults.append((number, SECRET.format(kinds=" or ".join(masked.kinds))))
    return faults or [(1, SECRET.format(kinds=" or ".join(found.kinds)))]


# ── shape ────────────────────────────────────────────────────────────────────────────────────────────
def _shape(parsed: Parsed) -> tuple[Flow | None, list[tuple[int, str]]]:
    try:
        return Flow.model_validate(parsed.data), []
    except ValidationError as err:
        return None, [_shape_fault(e, parsed) for e in err.errors()]


def _shape_fault(error: ErrorDetails, parsed: Parsed) -> tuple[int, str]:
    path: Path = ()
    rest: list[str | int] = []
    for part in error["loc"]:
        if (*path, part) in parsed.lines and not rest:
            path = (*path, part)
        elif not (len(path) == 2 and path[0] == "nodes" and part in _NODE_TYPES):
            rest.append(part)  # a part the file lacks (a missing field); a node's type tag is skipped
    where = dotted(path)
    kind = error["type"]
    if kind == "missing":
        return parsed.line(path), MISSING.format(
            where=f"{where}: " if where else "", field=dotted(tuple(rest))
        )
    if kind == "extra_forbidden":
        return parsed.line(path), UNKNOWN_FIELD.format(where=where)
    message = f"{where}: {error['msg']}" if where else error["msg"]
    hint = _quote_hint(error.get("input")) if kind == "string_type" else ""
    return parsed.line(path), message + hint


_NODE_TYPES = {"question", "action", "info", "goto_flow", "ai", "resolution", "escalate"}


def _quote_hint(value: Any) -> str:
    # `label: Yes` and `label: 1.10` are a boolean and a number to YAML, and a flow's text is text.
    if isinstance(value, bool):
        return QUOTE_IT.format(value=str(value).lower(), kind="a boolean")
    if isinstance(value, int | float):
        return QUOTE_IT.format(value=value, kind="a number")
    return ""


# ── graph ────────────────────────────────────────────────────────────────────────────────────────────
def _graph(parsed: Parsed) -> Iterator[tuple[int, str]]:
    data: dict[str, Any] = parsed.data
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        return  # the shape pass says so
    edges: dict[str, list[str]] = {}
    # Nodes already at fault (a `next` to nowhere, no known type) are not also called a loop without exit.
    faulty: set[str] = set()
    for node_id, node in nodes.items():
        if not isinstance(node, dict) or node.get("type") not in _NODE_TYPES:
            faulty.add(node_id)
        if not re.match(NODE_ID, node_id):
            yield parsed.line(("nodes", node_id)), BAD_NODE_ID.format(node=node_id)
        edges[node_id] = []
        for path, target in _nexts(node_id, node):
            if target in nodes:
                edges[node_id].append(target)
            else:
                faulty.add(node_id)
                yield parsed.line(path), UNKNOWN_NODE.format(where=dotted(path), target=target)
        yield from _node_faults(parsed, node_id, node, flow_id=data.get("id"))
    start = data.get("start")
    if isinstance(start, str) and start not in nodes:
        yield parsed.line(("start",)), UNKNOWN_NODE.format(where="start", target=start)
    elif isinstance(start, str):
        yield from _reach(parsed, edges, nodes, start=start, faulty=faulty)


def _nexts(node_id: str, node: Any) -> Iterator[tuple[Path, str]]:
    """(where, target) of each `next` a node names, read defensively: the shape pass reports bad shapes."""
    if not isinstance(node, dict):
        return
    here: Path = ("nodes", node_id)
    kind, nxt = node.get("type"), node.get("next")
    if kind == "question" and isinstance(node.get("options"), list):
        for i, option in enumerate(node["options"]):
            if isinstance(option, dict) and isinstance(option.get("next"), str):
                yield (*here, "options", i, "next"), option["next"]
    elif kind == "action" and isinstance(nxt, dict):
        for answer in ("done", "didnt_work"):
            if isinstance(nxt.get(answer), str):
                yield (*here, "next", answer), nxt[answer]
    elif kind == "info" and isinstance(nxt, str):
        yield (*here, "next"), nxt


def _node_faults(parsed: Parsed, node_id: str, node: Any, *, flow_id: Any) -> Iterator[tuple[int, str]]:
    if not isinstance(node, dict):
        return
    here: Path = ("nodes", node_id)
    if node.get("type") == "goto_flow" and node.get("flow") == flow_id:
        yield parsed.line((*here, "flow")), SELF_GOTO.format(where=dotted((*here, "flow")))
    options = node.get("options") if node.get("type") == "question" else None
    if not isinstance(options, list):
        return
    if len(options) > MAX_OPTIONS:
        where = (*here, "options")
        yield (
            parsed.line(where),
            TOO_MANY_OPTIONS.format(where=dotted(where), count=len(options), limit=MAX_OPTIONS),
        )
    seen: set[str] = set()
    for i, option in enumerate(options):
        label = option.get("label") if isinstance(option, dict) else None
        if not isinstance(label, str):
            continue
        where = (*here, "options", i, "label")
        if len(label) > MAX_LABEL:
            yield (
                parsed.line(where),
                LONG_LABEL.format(where=dotted(where), length=len(label), limit=MAX_LABEL),
            )
        if label.strip().casefold() in seen:
            yield parsed.line(where), SAME_LABEL.format(where=dotted(where), label=label)
        seen.add(label.strip().casefold())


def _reach(
    parsed: Parsed, edges: dict[str, list[str]], nodes: dict[str, Any], *, start: str, faulty: set[str]
) -> Iterator[tuple[int, str]]:
    reached = _closure({start}, edges)
    for node_id in nodes:
        if node_id not in reached:
            yield parsed.line(("nodes", node_id)), UNREACHABLE.format(node=node_id, start=start)
    ends = {n for n, node in nodes.items() if isinstance(node, dict) and node.get("type") in END_TYPES}
    if not ends:
        yield parsed.line(("nodes",)), NO_END
        return
    backwards: dict[str, list[str]] = {n: [] for n in nodes}
    for source, targets in edges.items():
        for target in targets:
            backwards[target].append(source)
    can_end = _closure(ends | faulty, backwards)
    # A node that reaches no end is caught in a loop (every non-end node has a next); one fault per file.
    stuck = [n for n in nodes if n in reached and n not in can_end]
    if stuck:
        names = ", ".join(repr(n) for n in stuck)
        message = NO_EXIT.format(nodes=f"nodes {names}", them="them") if len(stuck) > 1 else None
        message = message or NO_EXIT.format(nodes=f"node {names}", them="it")
        yield parsed.line(("nodes", stuck[0])), message


def _closure(seeds: set[str], edges: dict[str, list[str]]) -> set[str]:
    seen, todo = set(seeds), list(seeds)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
