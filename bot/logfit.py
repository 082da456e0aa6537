"""Fitting a long log into a character budget: its first and last lines and every line that looks like an
error are kept, with markers where lines were left out, so Claude sees what matters and the prompt stays small.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

MAX_LINE_CHARS = 1_000
HEAD_LINES = 20
TAIL_LINES = 40
KEPT_HEADER = (
    "[FlowPilot kept {kept:,} of {total:,} lines of this log: errors, warnings, first and last lines]"
)
GAP_MARKER = "… [{count:,} lines left out] …"
CUT_LINE = "… [{count:,} more characters cut]"


@dataclass(frozen=True)
class FittedLog:
    text: str
    total_lines: int
    kept_lines: int
    trimmed: bool


def fit_log(text: str, budget_chars: int) -> FittedLog:
    """Fit a log into `budget_chars`, keeping the lines that matter; the result never exceeds the budget."""
    raw = text.split("\n")
    total = len(raw) - 1 if raw[-1] == "" else len(raw)
    if len(text) <= budget_chars:
        return FittedLog(text=text, total_lines=total, kept_lines=total, trimmed=False)
    budget = max(budget_chars, 0)
    lines = [line.removesuffix("\r") for line in raw[:total]]
    head = set(range(min(HEAD_LINES, total)))
    tail = list(range(max(total - TAIL_LINES, 0), total))
    errors, frames = _error_lines(text, raw, lines)
    context = {j for i in errors for j in (i - 1, i + 1) if 0 <= j < total}
    # The header's length depends on the counts; reserve room for the widest it can be.
    body_budget = budget - len(KEPT_HEADER.format(kept=total, total=total)) - 1

    # With a line of context around each error, else without; if neither fits, fill up in order.
    body = ""
    kept: list[int] = []
    for chosen in (head | set(tail) | errors | frames | context, head | set(tail) | errors | frames):
        kept = sorted(chosen)
        if sum(min(len(lines[i]), MAX_LINE_CHARS) + 1 for i in kept) > body_budget:
            continue  # cannot fit, markers aside: skip rendering it
        body = "\n".join(_render(lines, kept))
        if len(body) <= body_budget:
            break
    else:
        kept = _greedy(lines, sorted(head | errors | frames), tail, body_budget)
        body = "\n".join(_render(lines, kept))
        if len(body) > body_budget:
            body = body[: max(body_budget - 1, 0)] + "…"
    out = f"{KEPT_HEADER.format(kept=len(kept), total=total)}\n{body}"
    return FittedLog(text=out[:budget], total_lines=total, kept_lines=len(kept), trimmed=True)


# --- fitting -----------------------------------------------------------------------------------------

# Each pattern starts with a literal so a 2 MB log is scanned quickly; they run on the lower-cased text.
_ERROR_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"err(?:or|\b(?<=\berr))",
        r"fa(?:il|tal)",
        r"exception",
        r"traceback",
        r"denied",
        r"refused",
        r"time(?:out|d out)",
        r"crit(?:ical|\b(?<=\bcrit))",
        r"warn",
        r"unable",
        r"can(?:not|'t)",
        r"could not",
        r"hresult",
        r"0x8[0-9a-f]{7}",
        r"event ?id",
        r"panic",
    )
)
TRACEBACK_HEADER = "Traceback (most recent call last)"
# Indented lines after an error: Python and .NET/Java stack frames, continuation lines.
_FRAME = re.compile(r"[ \t]+\S")
_MAX_FRAMES = 60


def _error_lines(text: str, raw: list[str], lines: list[str]) -> tuple[set[int], set[int]]:
    """Indices of error-looking lines, and of stack frames following a traceback or an exception."""
    lowered = text.replace("\u0130", "i").lower()  # same length, so positions still match `raw`
    ends = list(accumulate(len(line) + 1 for line in raw))  # one past each line's newline
    errors: set[int] = set()
    for pattern in _ERROR_PATTERNS:
        for match in pattern.finditer(lowered):
            errors.add(bisect_right(ends, match.start()))
    errors = {i for i in errors if i < len(lines)}
    frames: set[int] = set()
    for i in sorted(errors):
        # Python tracebacks and indented .NET/Java frames ("   at X.Y()") after an error line.
        j = i + 1
        while j < len(lines) and j - i <= _MAX_FRAMES and _FRAME.match(lines[j]):
            frames.add(j)
            j += 1
        if TRACEBACK_HEADER in lines[i] and j < len(lines):
            frames.add(j)  # the exception line that ends a Python traceback
    return errors, frames


def _render(lines: list[str], kept: list[int]) -> list[str]:
    out: list[str] = []
    previous = -1
    for i in kept:
        if i > previous + 1:
            out.append(GAP_MARKER.format(count=i - previous - 1))
        out.append(_cut(lines[i]))
        previous = i
    if previous < len(lines) - 1:
        out.append(GAP_MARKER.format(count=len(lines) - 1 - previous))
    return out


def _greedy(lines: list[str], wanted: list[int], tail: list[int], budget: int) -> list[int]:
    """The last lines, plus as many wanted lines (in order) as still fit."""
    tail_set = set(tail)
    widest_gap = len(GAP_MARKER.format(count=len(lines))) + 1
    room = budget - sum(len(_cut(lines[i])) + 1 for i in tail) - 2 * widest_gap
    chosen: list[int] = []
    previous = -1
    for i in wanted:
        if i in tail_set:
            continue
        cost = len(_cut(lines[i])) + 1 + (widest_gap if i > previous + 1 else 0)
        if cost > room:
            break
        room -= cost
        chosen.append(i)
        previous = i
    return chosen + tail


def _cut(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return line[:MAX_LINE_CHARS] + CUT_LINE.format(count=len(line) - MAX_LINE_CHARS)
