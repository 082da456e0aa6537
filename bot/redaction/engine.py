"""Mask secrets in pasted text before it is stored, logged or sent to Claude.

A rule masks only the secret itself (`password=[REDACTED:password]`) and keeps the key name and the
structure around it, so the text stays useful for troubleshooting.

Speed matters because engineers paste multi-megabyte logs:
- patterns start with a literal wherever they can (the regex engine finds those with a fast scan) and their
  repetitions never overlap, so nothing backtracks catastrophically; that a word starts a word is checked
  by a lookbehind behind it (`_word`), and the start of a line by finding a newline, since a lookbehind or
  `(?m)^` in front would be tried at every position;
- a scan along a command line commits to the first place it could match (an atomic group), so masking one
  value cannot bring the next into view on a later pass;
- a rule is skipped unless one of its trigger words occurs;
- a flag's value on a command line (`sqlcmd … -P x`, `snmpwalk … -A x -X y`) is found in two steps: the
  rule's pattern finds the command's line, its inner pattern every flag on that line, so flags may come in
  any order and any number without a pattern that scans a line once per flag;
- case-insensitive rules are written in lower case and run case-sensitively on a lower-cased copy of the
  text, several times faster than `re.IGNORECASE`; the copy keeps every character at its position, so a
  match's position is also its position in the original.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from . import blocks, command_lines, network, settings, web
from .patterns import _MARK, _MAX_PASSES, Redaction, _Rule

# Every rule, in the order they run: whole private-key blocks first (their base64 could look like anything
# else), named settings last, most specific first.
_RULES: tuple[_Rule, ...] = (
    *blocks.RULES,
    *web.RULES,
    *command_lines.RULES,
    *network.RULES,
    *settings.RULES,
)


def _lower(text: str) -> str:
    """Lower-case `text` keeping every character at its position."""
    # U+0130 is the one character whose lower case is two characters long.
    return text.replace("\u0130", "i").lower()


def _spans(rule: _Rule, subject: str) -> list[tuple[int, int]]:
    spans = []
    for region in rule.pattern.finditer(subject):
        matches = [region] if rule.inner is None else rule.inner.finditer(subject, *region.span())
        for match in matches:
            for name in rule.secret_groups:
                start, end = match.span(name)
                if start >= 0:
                    spans.append((max(start - rule.back, 0), end))
    return spans


def _mask(text: str, spans: list[tuple[int, int]], kind: str) -> str:
    mark = f"[REDACTED:{kind}]"
    parts: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:  # overlaps the previous span: widen that mask instead of adding another
            pos = max(pos, end)
            continue
        parts += (text[pos:start], mark)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _pass(text: str) -> tuple[str, int, set[str]]:
    """Apply every rule once, in order."""
    lowered = _lower(text)
    present: dict[str, bool] = {}

    def occurs(word: str) -> bool:
        if word not in present:
            present[word] = word in lowered
        return present[word]

    count = 0
    kinds: set[str] = set()
    for rule in _RULES:
        if not any(occurs(word) for word in rule.triggers):
            continue
        spans = _spans(rule, lowered if rule.mode == "lower" else text)
        if spans:
            text = _mask(text, spans, rule.kind)
            lowered = _lower(text)
            present.clear()
            count += len(spans)
            kinds.add(rule.kind)
    return text, count, kinds


def _around_masks(text: str, *, context: int = 2) -> str:
    """The lines holding a mask, with `context` lines either side: the only places where masking can
    have brought a new match into view (rules match within a line or two)."""
    pieces: list[str] = []
    covered = 0
    pos = text.find(_MARK)
    while pos >= 0:
        start = end = pos
        for _ in range(context + 1):
            start = text.rfind("\n", 0, start - 1) + 1 if start > 0 else 0
        for _ in range(context + 1):
            found = text.find("\n", end + 1)
            end = len(text) if found < 0 else found
        start = max(start, covered)
        if start < end:
            pieces.append(text[start:end])
        covered = end
        pos = text.find(_MARK, end)
    return "\n".join(pieces)


def redact(text: str) -> Redaction:
    """Mask every secret found in `text`."""
    text, found, kinds = _pass(text)
    count = found
    # Masking can bring a match for an earlier rule into view. Looking again only around the masks
    # keeps a second full pass (rarely needed) off the common path; repeating until nothing changes
    # keeps `redact` idempotent.
    for _ in range(_MAX_PASSES - 1):
        if not found or not _pass(_around_masks(text))[1]:
            break
        text, found, more = _pass(text)
        count += found
        kinds |= more
    return Redaction(text=text, count=count, kinds=tuple(sorted(kinds)))


class LogMask(logging.Filter):
    """A handler filter masking secrets in every record it passes: message, exception and stack.

    The configured credentials are masked by value; anything `redact` recognises is masked too, which covers
    credentials learnt at run time (a workspace's OAuth-installed bot token in a library's DEBUG line or in
    a SQL parameter). The record is changed in place, so every handler after this one sees it masked.
    """

    _MIN_SECRET = 8  # shorter values would mask ordinary words

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        unique = {s for s in secrets if len(s) >= self._MIN_SECRET}
        self._secrets = sorted(unique, key=len, reverse=True)  # a longer secret holding a shorter one first

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED:credential]")
        return redact(text).text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._mask_record(record)
        except Exception:  # never let masking break the code that logs, nor let an unmasked line through
            record.msg, record.args = "(log record withheld: it could not be masked)", None
            record.exc_info = record.exc_text = record.stack_info = None
        return True

    def _mask_record(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Arguments that do not fit the message: logging's own error report would print them raw.
            message = f"{record.msg} (log arguments withheld: they do not fit the message)"
            record.msg, record.args = message, None
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
