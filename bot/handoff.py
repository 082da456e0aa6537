"""The handoff draft as text: its three sections under their headings, and the items of a section."""

from __future__ import annotations

import re

from bot.schemas import HandoffFields

_FIELDS = ("root_cause", "steps_taken", "recommendations")
SECTION_TITLES = {
    "root_cause": "Root cause",
    "steps_taken": "Steps taken",
    "recommendations": "Recommendations",
}

_FENCE = re.compile(r"\s{0,3}(```|~~~)")
_ITEM = re.compile(
    r"(?P<indent>[ \t]*)(?:[-*+•]|\d{1,5}[.)]|step\s+\d{1,5}\s*[:.)-])[ \t]+(?:\[[ xX]\][ \t]+)?(?P<body>.*)",
    re.IGNORECASE,
)


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def render_draft(fields: HandoffFields) -> str:
    """The fields as markdown with one `##` heading per section, as the draft streamed."""
    parts = [f"## {SECTION_TITLES[name]}\n\n{getattr(fields, name).strip()}".rstrip() for name in _FIELDS]
    return "\n\n".join(parts)


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
