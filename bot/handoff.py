"""The handoff draft as text: read Claude's markdown into its three sections and write it back."""

from __future__ import annotations

import re

from bot.schemas import HandoffFields

# Heading text (lower case, single spaces) → the field it opens. Bare "steps" or "troubleshooting" are left
# out on purpose: those words start ordinary lines too often to be read as headings.
_SECTION_NAMES: dict[str, str] = {
    "root cause": "root_cause",
    "root causes": "root_cause",
    "root cause analysis": "root_cause",
    "cause": "root_cause",
    "probable cause": "root_cause",
    "likely cause": "root_cause",
    "suspected cause": "root_cause",
    "steps taken": "steps_taken",
    "what we tried": "steps_taken",
    "what was tried": "steps_taken",
    "troubleshooting steps": "steps_taken",
    "troubleshooting steps taken": "steps_taken",
    "troubleshooting performed": "steps_taken",
    "actions taken": "steps_taken",
    "recommendations": "recommendations",
    "recommendation": "recommendations",
    "next steps": "recommendations",
    "recommended next steps": "recommendations",
    "recommended actions": "recommendations",
}
_FIELDS = ("root_cause", "steps_taken", "recommendations")
_TITLES = {"root_cause": "Root cause", "steps_taken": "Steps taken", "recommendations": "Recommendations"}

_ATX = re.compile(r"\s{0,3}#{1,6}(?!#)\s*")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(.+?)\1(.*)")
_NUMBERING = re.compile(r"(?:\d{1,2}|[ivx]{1,4})[.)]\s*")
_FENCE = re.compile(r"\s{0,3}(```|~~~)")
_ITEM = re.compile(
    r"(?P<indent>[ \t]*)(?:[-*+•]|\d{1,5}[.)]|step\s+\d{1,5}\s*[:.)-])[ \t]+(?:\[[ xX]\][ \t]+)?(?P<body>.*)",
    re.IGNORECASE,
)


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _heading(line: str) -> tuple[str, str] | None:
    """(field, text after the heading on the same line) when `line` opens a section."""
    s = line.strip()
    if not s:
        return None
    hashes = _ATX.match(s)
    if hashes:
        s = s[hashes.end() :].rstrip("#").strip()
    emphasized = _EMPHASIS.fullmatch(s)
    label, rest = (emphasized[2], emphasized[3]) if emphasized else (s, "")
    label = label.strip().strip("*_").strip()
    rest = rest.strip().strip("*_").strip()
    colon = label.endswith(":")
    label = label.removesuffix(":").strip()
    if rest.startswith(":"):
        colon, rest = True, rest[1:].strip()
    # A bare "Root cause" line is prose; a decorated one or "Root cause:" is a heading. Text on the same
    # line is only taken after an emphasized label with a colon ("**Root cause:** ..."), unlike any prose.
    if not (hashes or emphasized or colon) or (rest and not (emphasized and colon)):
        return None
    key = " ".join(label.lower().replace("-", " ").split())
    numbering = _NUMBERING.match(key)
    if numbering and (hashes or emphasized):
        key = key[numbering.end() :]
    field = _SECTION_NAMES.get(key)
    return (field, rest) if field else None


def _unwrap_fence(lines: list[str]) -> list[str]:
    """Drop a code fence around the whole draft, which Claude sometimes adds."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) >= 2:
        first, last = filled[0], filled[-1]
        if lines[first].strip().startswith("```") and lines[last].strip() == "```":
            return lines[first + 1 : last]
    return lines


def parse_draft(text: str) -> HandoffFields:
    """Split Claude's handoff draft into root cause, steps taken and recommendations; missing ones are ""."""
    sections: dict[str, list[str]] = {name: [] for name in _FIELDS}
    preamble: list[str] = []
    seen: set[str] = set()
    current: list[str] = preamble
    for line in _unwrap_fence(_normalize_newlines(text).split("\n")):
        heading = _heading(line)
        if heading is None:
            current.append(line)
            continue
        field, rest = heading
        current = sections[field]
        if field in seen:
            current.append("")
        seen.add(field)
        if rest:
            current.append(rest)
    if "root_cause" not in seen:
        sections["root_cause"] = preamble
    return HandoffFields(**{name: "\n".join(lines).strip() for name, lines in sections.items()})


def render_draft(fields: HandoffFields) -> str:
    """Write the fields back as markdown with one `##` heading per section (the inverse of parse_draft)."""
    parts = [f"## {_TITLES[name]}\n\n{getattr(fields, name).strip()}".rstrip() for name in _FIELDS]
    return "\n\n".join(parts) + "\n"


def is_complete(fields: HandoffFields) -> bool:
    """True when the handoff says what the cause was and what was done, so it can be confirmed."""
    return bool(fields.root_cause.strip() and fields.steps_taken.strip())


def split_items(text: str) -> list[str]:
    """A section's list items, markers removed ("- x", "1. x", "* x", "Step 2: x"); continuation lines stay.

    Text with no list markers at all gives one item per non-empty line.
    """
    lines = _normalize_newlines(text).split("\n")
    has_markers = any(_ITEM.fullmatch(line) for line in lines)
    items: list[list[str]] = []
    top_indent: int | None = None
    fence_indent: int | None = None
    after_blank = True
    for raw in lines:
        line = raw.expandtabs(4)
        indent = len(line) - len(line.lstrip(" "))
        if fence_indent is not None:
            items[-1].append(line[min(indent, fence_indent) :].rstrip())
            if _FENCE.match(line.lstrip(" ")):
                fence_indent = None
            continue
        if not line.strip():
            after_blank = True
            continue
        marker = _ITEM.fullmatch(line)
        fence = _FENCE.match(line.lstrip(" "))
        if marker and (top_indent is None or indent <= top_indent + 1):
            top_indent = indent if top_indent is None else top_indent
            items.append([marker["body"].strip()])
        elif items and (fence or (has_markers and (not after_blank or indent > (top_indent or 0)))):
            # A code block, an indented line or a line straight after an item belongs to that item.
            items[-1].append(line.strip())
        else:
            items.append([line.strip()])
        if fence and not marker:
            fence_indent = indent
        after_blank = False
    return [joined for item in items if (joined := "\n".join(item).strip())]
