"""Read YAML (or JSON) into plain data, remembering the line every key and item came from.

PyYAML's safe composer gives nodes with their start marks; we construct the data ourselves so that what
`yaml.safe_load` would hide is reported instead: a key written twice (safe_load keeps the last one silently),
and a key such as `on:` or `yes:` that YAML 1.1 readers turn into a boolean (kept here as its text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_BOOL = "tag:yaml.org,2002:bool"
# Aliases let a small file name one node many times; past this many nodes the file is refused, not expanded.
MAX_NODES = 50_000


@dataclass
class Parsed:
    data: Any = None
    lines: dict[Path, int] = field(default_factory=dict)  # path → 1-based line
    faults: list[tuple[int, str]] = field(default_factory=list)  # (line, problem)

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor the file has."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


class _TooLarge(Exception):
    pass


def parse(text: str) -> Parsed:
    """The document's data and lines; a file that is not YAML is one fault at the line the reader stopped."""
    parsed = Parsed()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        parsed.faults.append((line, f"not valid YAML: {err.problem or err.context}"))
        return parsed
    except yaml.YAMLError as err:
        parsed.faults.append((1, f"not valid YAML: {err}"))
        return parsed
    if root is None:
        parsed.faults.append((1, "the file is empty"))
        return parsed
    scalar = _scalar_reader()
    budget = [MAX_NODES]
    try:
        parsed.data = _build(root, (), parsed, scalar, budget)
    except _TooLarge:
        parsed.data = None
        parsed.faults.append((1, f"the document has more than {MAX_NODES:,} values (aliases expanded)"))
    except yaml.YAMLError as err:  # a scalar that names an unknown tag, a bad timestamp
        parsed.data = None
        parsed.faults.append((1, f"not valid YAML: {err}"))
    return parsed


def _scalar_reader() -> Callable[[yaml.Node], Any]:
    # A loader of an empty document: only its constructor is used, on the nodes composed above.
    construct: Callable[[yaml.Node], Any] = yaml.SafeLoader("").construct_object
    return construct


def _build(
    node: yaml.Node, path: Path, parsed: Parsed, scalar: Callable[[yaml.Node], Any], budget: list[int]
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    parsed.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return _mapping(node, path, parsed, scalar, budget)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), parsed, scalar, budget) for i, item in enumerate(node.value)]
    value = scalar(node)
    if isinstance(value, str) and not _storable(value):
        parsed.faults.append((node.start_mark.line + 1, f"{dotted(path) or 'the document'}: {NOT_TEXT}"))
        return ""
    return value


NOT_TEXT = "holds a NUL or an unpaired surrogate character, which text cannot store"


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _mapping(
    node: yaml.MappingNode, path: Path, parsed: Parsed, scalar: Callable[[yaml.Node], Any], budget: list[int]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            parsed.faults.append((line, "a key must be plain text, not a list or a mapping"))
            continue
        key = str(key_node.value)
        if key_node.tag == _BOOL:
            parsed.faults.append(
                (line, f'key {key!r} is read as a boolean by YAML 1.1 readers: quote it ("{key}")')
            )
        if key in out:
            parsed.faults.append((line, f"{_where(path, key)} is written twice"))
            continue
        parsed.lines[(*path, key)] = line
        out[key] = _build(value_node, (*path, key), parsed, scalar, budget)
    return out


def _where(path: Path, key: str) -> str:
    if len(path) == 2 and path[0] == "nodes":
        return f"key {key!r} of node {path[1]!r}"
    if path == ("nodes",):
        return f"node id {key!r}"
    return f"key {dotted((*path, key))!r}"


def dotted(path: Path) -> str:
    """A path as an author reads it: nodes.owa.options[1].next."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
