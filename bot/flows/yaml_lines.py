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
_PLAIN = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
# Aliases let a small file name one node many times; past this many nodes the file is refused, not expanded.
MAX_NODES = 50_000
MAX_DEPTH = 64


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


def parse(text: str) -> Parsed:
    """The document's data and lines; a file that is not YAML is one fault at the line the reader stopped."""
    parsed = Parsed()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        parsed.faults.append((_line(err), f"not valid YAML: {err.problem or err.context}"))
        return parsed
    except yaml.YAMLError as err:
        parsed.faults.append((1, f"not valid YAML: {str(err).splitlines()[0]}"))
        return parsed
    except RecursionError:
        parsed.faults.append((1, TOO_DEEP))
        return parsed
    if root is None:
        parsed.faults.append((1, "the file is empty"))
        return parsed
    try:
        parsed.data = _build(root, (), parsed, _Walk(_scalar_reader()))
    except _Refused as err:
        parsed.data = None
        parsed.faults.append((err.line, err.problem))
    return parsed


TOO_DEEP = f"the document is nested more than {MAX_DEPTH} levels deep"


def _line(err: yaml.MarkedYAMLError) -> int:
    mark = err.problem_mark or err.context_mark
    return mark.line + 1 if mark is not None else 1


class _Refused(Exception):
    """A document that is not read further: too large, too deep, an alias inside itself, a bad value."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


@dataclass
class _Walk:
    scalar: Callable[[yaml.Node], Any]
    budget: int = MAX_NODES
    inside: set[int] = field(default_factory=set)  # the nodes being built: an alias to one is a cycle


def _scalar_reader() -> Callable[[yaml.Node], Any]:
    # A loader of an empty document: only its constructor is used, on the nodes composed above.
    construct: Callable[[yaml.Node], Any] = yaml.SafeLoader("").construct_object
    return construct


def _build(node: yaml.Node, path: Path, parsed: Parsed, walk: _Walk) -> Any:
    line = node.start_mark.line + 1
    walk.budget -= 1
    if walk.budget < 0:
        raise _Refused(1, f"the document has more than {MAX_NODES:,} values (aliases expanded)")
    if len(path) > MAX_DEPTH:
        raise _Refused(line, TOO_DEEP)
    if id(node) in walk.inside:
        raise _Refused(line, "an alias refers to a value that contains it")
    parsed.lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if node.tag not in _PLAIN:  # a tag the safe loader would refuse (!!python/…, !!set, !!omap)
            raise _Refused(line, f"not valid YAML: the tag {node.tag} is not allowed here")
        walk.inside.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return _mapping(node, path, parsed, walk)
            return [_build(item, (*path, i), parsed, walk) for i, item in enumerate(node.value)]
        finally:
            walk.inside.discard(id(node))
    try:
        value = walk.scalar(node)
    except yaml.MarkedYAMLError as err:
        raise _Refused(_line(err), f"not valid YAML: {err.problem or err.context}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as err:  # e.g. a date such as 2001-02-30
        raise _Refused(line, f"{dotted(path) or 'the document'}: not a valid value ({err})") from None
    if isinstance(value, str) and not _storable(value):
        parsed.faults.append((line, f"{dotted(path) or 'the document'}: {NOT_TEXT}"))
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


def _mapping(node: yaml.MappingNode, path: Path, parsed: Parsed, walk: _Walk) -> dict[str, Any]:
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
        out[key] = _build(value_node, (*path, key), parsed, walk)
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
