"""What a confirmed handoff becomes: a PSA ticket note in plain text, the same note in markdown, and JSON.

The JSON document (`schema_version` 1) is an object with these keys, always all present:

    schema_version      1
    session_id          str
    kind                "resolve" | "escalate"
    summary, client, asset, category, ticket, hypothesis
                        str | null (blank → null)
    root_cause          str, the engineer's confirmed markdown ("" when empty)
    steps_taken         [str], one per step, list markers removed
    recommendations     [str], one per recommendation, list markers removed
    evidence            [{"text": str, "status": "confirmed" | "ruled_out" | "pending"}]
    engineer            str
    escalated_to, escalation_reason
                        str | null
    started_at, finished_at
                        ISO 8601 with offset
    active_seconds, step_count
                        int
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.handoff import split_items
from bot.schemas import EvidenceStatus, HandoffFields, HandoffKind

SCHEMA_VERSION = 1
NOTE_WIDTH = 100

OutputFormat = Literal["plain", "markdown", "json"]

_EVIDENCE_ORDER: tuple[EvidenceStatus, ...] = ("confirmed", "ruled_out", "pending")
_EVIDENCE_STATUS: dict[str, EvidenceStatus] = {status: status for status in _EVIDENCE_ORDER}
_EVIDENCE_PLAIN = {"confirmed": "[confirmed]", "ruled_out": "[ruled out]", "pending": "[pending]"}
_EVIDENCE_MARKDOWN = {
    "confirmed": "✓ **Confirmed:**",
    "ruled_out": "✗ **Ruled out:**",
    "pending": "? **Pending:**",
}


@dataclass(frozen=True, kw_only=True)
class OutputContext:
    """What the session knows about itself when the handoff is confirmed."""

    session_id: str
    kind: HandoffKind
    engineer: str
    started_at: datetime
    finished_at: datetime
    active_seconds: int = 0
    step_count: int = 0
    problem_summary: str | None = None
    client_name: str | None = None
    asset_name: str | None = None
    issue_category: str | None = None
    hypothesis: str | None = None
    evidence: Sequence[Mapping[str, str]] = field(default_factory=list)
    escalated_to: str | None = None
    escalation_reason: str | None = None
    psa_ticket_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("started_at", "finished_at"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"OutputContext.{name} must be timezone-aware")


@dataclass(frozen=True)
class ResolutionOutput:
    format: OutputFormat
    content: str


class ResolutionOutputGenerator:
    """Builds every output of a confirmed handoff."""

    def generate(self, *, context: OutputContext, fields: HandoffFields) -> list[ResolutionOutput]:
        """The plain-text ticket note, the markdown note and the JSON document, in that order."""
        note = _Note.build(context=context, fields=fields)
        return [
            ResolutionOutput("plain", _render_plain(note)),
            ResolutionOutput("markdown", _render_markdown(note)),
            ResolutionOutput("json", _render_json(note=note, context=context)),
        ]


def format_duration(seconds: int) -> str:
    """Active time as a ticket shows it: 0 → "0m", 65 → "1m", 3900 → "1h 05m"."""
    hours, minutes = divmod(max(0, int(seconds)) // 60, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


# --- the content every format shares -------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _clean(text: str | None) -> str:
    """Text with every kind of line break made "\n", control characters and lone surrogates removed."""
    return _CONTROL.sub("", "\n".join((text or "").splitlines())).strip()


def _one_line(text: str | None) -> str | None:
    value = " ".join(_clean(text).split())
    return value or None


@dataclass(frozen=True)
class _Note:
    title: str
    facts: list[tuple[str, str]]
    root_cause: str
    steps: list[str]
    evidence: list[tuple[EvidenceStatus, str]]
    hypothesis: str | None
    recommendations: list[str]
    escalation_reason: str
    time_spent: str

    @classmethod
    def build(cls, *, context: OutputContext, fields: HandoffFields) -> _Note:
        summary = _one_line(context.problem_summary)
        if context.kind == "escalate":
            receiver = _one_line(context.escalated_to)
            title = f"Escalated to {receiver}" if receiver else "Escalated"
        else:
            title = "Resolved"
        facts = [
            (label, value)
            for label, raw in (
                ("Client", context.client_name),
                ("Asset", context.asset_name),
                ("Category", context.issue_category),
                ("Ticket", context.psa_ticket_id),
                ("Engineer", context.engineer),
            )
            if (value := _one_line(raw))
        ]
        steps = context.step_count
        return cls(
            title=f"{title}: {summary}" if summary else title,
            facts=facts,
            root_cause=_clean(fields.root_cause),
            steps=split_items(_clean(fields.steps_taken)),
            evidence=_evidence(context.evidence),
            # The working hypothesis matters to whoever takes an escalation over; a resolution has its cause.
            hypothesis=_one_line(context.hypothesis) if context.kind == "escalate" else None,
            recommendations=split_items(_clean(fields.recommendations)),
            escalation_reason=_clean(context.escalation_reason) if context.kind == "escalate" else "",
            time_spent=(
                f"Time spent: {format_duration(context.active_seconds)} active, "
                f"{steps} step{'' if steps == 1 else 's'}"
            ),
        )


def _evidence(entries: Sequence[Mapping[str, str]]) -> list[tuple[EvidenceStatus, str]]:
    """Evidence grouped confirmed, ruled out, pending; an unknown status counts as pending."""
    items: list[tuple[EvidenceStatus, str]] = []
    for entry in entries:
        text = _one_line(entry.get("text"))
        if text:
            status = _EVIDENCE_STATUS.get(str(entry.get("status")), "pending")
            items.append((status, text))
    return sorted(items, key=lambda item: _EVIDENCE_ORDER.index(item[0]))


# --- plain text: what gets pasted into ConnectWise, Autotask or HaloPSA -------------------------------

_FENCE_LINE = re.compile(r"\s{0,3}(```|~~~)")
_HEADING_MARK = re.compile(r"\s{0,3}#{1,6}(?:\s+|$)")
_QUOTE_MARK = re.compile(r"\s*>(?:\s?>)*\s?")
_RULE_LINE = re.compile(r"\s*([-*_])(?:\s*\1){2,}\s*")
_TABLE_RULE = re.compile(r"\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*")
_BULLET_MARK = re.compile(r"(\s*)[*+•]\s+")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_INLINE: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"\[([^\[\]\n]+)\]\(([^()\[\]\s]+)\)"),
        lambda m: m[1] if m[1] == m[2] else f"{m[1]} ({m[2]})",
    ),
    (re.compile(r"<(https?://[^|<>\s]+)\|([^<>\n]+)>"), lambda m: f"{m[2]} ({m[1]})"),
    (re.compile(r"<(https?://[^|<>\s]+)>"), r"\1"),
    (re.compile(r"\*\*([^*\n]+)\*\*"), r"\1"),
    (re.compile(r"(?<!\w)__([^_\n]+)__(?!\w)"), r"\1"),
    (re.compile(r"~~([^~\n]+)~~"), r"\1"),
    (re.compile(r"(?<![\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_([^_\s](?:[^_\n]*[^_\s])?)_(?![\w_])"), r"\1"),
]


_MAY_BE_INLINE = re.compile(r"[*_~\[<]")


def _scrub(line: str) -> str:
    """Last guard for paste-ability: no backticks, no `**`, no `##`, whatever the input looked like."""
    return re.sub(r"#{2,}", "#", re.sub(r"\*{2,}", "", line.replace("`", "")))


def _inline_plain(text: str) -> str:
    parts = _CODE_SPAN.split(text)
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        if not _MAY_BE_INLINE.search(parts[i]):
            continue
        for pattern, replacement in _INLINE:
            parts[i] = pattern.sub(replacement, parts[i])
    return _scrub("".join(parts))


def _plain_lines(text: str) -> list[str]:
    """Markdown (or Slack mrkdwn) turned into plain lines; code blocks are kept, indented four spaces."""
    lines: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE_LINE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            lines.append(_scrub("    " + line) if line.strip() else "")
            continue
        if _RULE_LINE.fullmatch(line) or _TABLE_RULE.fullmatch(line):
            continue
        if heading := _HEADING_MARK.match(line):
            line = line[heading.end() :]
        if quote := _QUOTE_MARK.match(line):
            line = line[quote.end() :]
        if bullet := _BULLET_MARK.match(line):
            line = f"{bullet[1]}- {line[bullet.end() :]}"
        lines.append(_inline_plain(line).rstrip())
    return _tidy(lines)


def _tidy(lines: list[str]) -> list[str]:
    """No leading, trailing or doubled blank lines."""
    out: list[str] = []
    for line in lines:
        if line.strip() or (out and out[-1]):
            out.append(line if line.strip() else "")
    while out and not out[-1]:
        out.pop()
    return out


def _wrap(text: str, *, first: str = "", rest: str | None = None) -> list[str]:
    """One logical line wrapped at NOTE_WIDTH; its own indentation (capped) is kept on every piece."""
    rest = " " * len(first) if rest is None else rest
    expanded = text.expandtabs(4)
    body = expanded.lstrip(" ")
    lead = " " * min(len(expanded) - len(body), 8)
    if not body:
        return [first.rstrip()]
    if len(first) + len(lead) + len(body) <= NOTE_WIDTH:
        return [first + lead + body]
    return textwrap.wrap(
        body,
        width=NOTE_WIDTH,
        initial_indent=first + lead,
        subsequent_indent=rest + lead,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def _wrap_item(item: str, *, marker: str) -> list[str]:
    lines = [line for line in _plain_lines(item) if line.strip()]
    if not lines:
        return []
    indent = " " * len(marker)
    wrapped = _wrap(lines[0], first=marker)
    for line in lines[1:]:
        wrapped += _wrap(line, first=indent, rest=indent)
    return wrapped


def _render_plain(note: _Note) -> str:
    header = _wrap(_inline_plain(note.title), rest="  ")
    for label, value in note.facts:
        header += _wrap(_inline_plain(value), first=f"{label}: ", rest="  ")
    blocks: list[list[str]] = [header]

    def section(title: str, lines: list[str]) -> None:
        if any(line.strip() for line in lines):
            blocks.append([f"{title}:", *lines])

    section("Root cause", [piece for line in _plain_lines(note.root_cause) for piece in _wrap(line)])
    steps: list[str] = []
    number = 0
    for item in note.steps:
        wrapped = _wrap_item(item, marker=f"{number + 1}. ")
        number += bool(wrapped)
        steps += wrapped
    section("Steps taken", steps)
    section(
        "What we know",
        [
            line
            for status, text in note.evidence
            for line in _wrap(_inline_plain(text), first=f"{_EVIDENCE_PLAIN[status]} ")
        ],
    )
    if note.hypothesis:
        section("Working hypothesis", _wrap(_inline_plain(note.hypothesis)))
    if len(note.recommendations) == 1:
        recommendations = [p for line in _plain_lines(note.recommendations[0]) for p in _wrap(line)]
    else:
        recommendations = [line for item in note.recommendations for line in _wrap_item(item, marker="- ")]
    section("Recommendations", recommendations)
    section(
        "Reason for escalation", [p for line in _plain_lines(note.escalation_reason) for p in _wrap(line)]
    )
    blocks.append([note.time_spent])
    return "\n\n".join("\n".join(block) for block in blocks)


# --- markdown: for PSAs and chat surfaces that render it -----------------------------------------------


def _markdown_item(item: str, *, marker: str) -> str:
    first, *rest = item.split("\n")
    indent = " " * len(marker)
    return "\n".join([marker + first, *(indent + line if line.strip() else "" for line in rest)])


def _render_markdown(note: _Note) -> str:
    blocks = [f"## {note.title}"]
    if note.facts:
        blocks.append("\n".join(f"- **{label}:** {value}" for label, value in note.facts))

    def section(title: str, body: str) -> None:
        if body.strip():
            blocks.append(f"### {title}\n\n{body}")

    section("Root cause", note.root_cause)
    section("Steps taken", "\n".join(_markdown_item(s, marker=f"{n}. ") for n, s in enumerate(note.steps, 1)))
    section(
        "What we know", "\n".join(f"- {_EVIDENCE_MARKDOWN[status]} {text}" for status, text in note.evidence)
    )
    section("Working hypothesis", note.hypothesis or "")
    if len(note.recommendations) == 1:
        section("Recommendations", note.recommendations[0])
    else:
        section("Recommendations", "\n".join(_markdown_item(r, marker="- ") for r in note.recommendations))
    section("Reason for escalation", note.escalation_reason)
    blocks.append(f"_{note.time_spent}_")
    return "\n\n".join(blocks) + "\n"


# --- JSON: for integrations; the shape is documented at the top of this module --------------------------


def _render_json(*, note: _Note, context: OutputContext) -> str:
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "session_id": context.session_id,
        "kind": context.kind,
        "summary": _one_line(context.problem_summary),
        "client": _one_line(context.client_name),
        "asset": _one_line(context.asset_name),
        "category": _one_line(context.issue_category),
        "ticket": _one_line(context.psa_ticket_id),
        "hypothesis": _one_line(context.hypothesis),
        "root_cause": note.root_cause,
        "steps_taken": note.steps,
        "recommendations": note.recommendations,
        "evidence": [{"text": text, "status": status} for status, text in note.evidence],
        "engineer": _one_line(context.engineer) or "",
        "escalated_to": _one_line(context.escalated_to),
        "escalation_reason": _clean(context.escalation_reason) or None,
        "started_at": context.started_at.isoformat(),
        "finished_at": context.finished_at.isoformat(),
        "active_seconds": max(0, int(context.active_seconds)),
        "step_count": max(0, int(context.step_count)),
    }
    return json.dumps(document)
