"""Turn what the engineer gave (text, log files, screenshots) into what is stored and shown to Claude.

Everything textual is redacted first, then fitted to a character budget: a long log keeps its first and
last lines and every line that looks like an error, so Claude sees what matters and the prompt stays small.
"""

from __future__ import annotations

import base64
import codecs
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.errors import IntakeError
from bot.logfit import TRACEBACK_HEADER, FittedLog, fit_log
from bot.redaction import Redaction, redact

__all__ = [
    "Attachment",
    "FittedLog",
    "ImageInput",
    "IntakeType",
    "PreparedInput",
    "fit_log",
    "prepare_input",
]

IntakeType = Literal["free_text", "log_paste", "screenshot", "psa_ticket", "combined"]

MAX_IMAGES = 5
MAX_IMAGE_BYTES = 5 * 1024 * 1024

# What the engineer reads, kept together.
EMPTY_INPUT = "Describe the problem in a sentence or two, or attach a log or a screenshot."
BINARY_FILE = (
    "{name} looks like a binary file, not text. Save or export it as plain text (.txt, .log or .csv) "
    "and attach that, or paste the lines that matter."
)
EVENT_LOG_HINT = " In Event Viewer, use Save All Events As… and pick Text or CSV."
NOT_UTF8 = (
    "{name} isn't UTF-8 text, so FlowPilot can't read it. Save it as UTF-8 (in Notepad: File › Save as › "
    "Encoding: UTF-8) and attach it again, or paste the lines that matter."
)
NOT_AN_IMAGE = (
    "{name} isn't a PNG, JPEG, GIF or WEBP image. Save the screenshot as PNG or JPEG and attach it again."
)
IMAGE_TOO_LARGE = (
    "{name} is {megabytes:.1f} MB; screenshots can be at most 5 MB. Crop it or save it as JPEG and attach "
    "it again."
)
TOO_MANY_IMAGES = (
    "You attached {count} images; FlowPilot looks at up to {limit} at a time. Attach the {limit} that "
    "show the problem best."
)
MASKED_NOTE = "Masked {count:,} {secrets} ({kinds}) before saving or sending."
TRIMMED_NOTE = "Trimmed {name} to {kept:,} of {total:,} lines (errors, warnings, first and last lines kept)."
EMPTY_FILE_NOTE = "{name} is empty, so it was left out."
YOUR_MESSAGE = "your message"
FILE_HEADER = "Attached file {name}:"


@dataclass(frozen=True)
class Attachment:
    """An uploaded file: a log, some text, or a screenshot."""

    filename: str
    media_type: str | None
    data: bytes


@dataclass(frozen=True)
class ImageInput:
    media_type: str
    data_b64: str
    filename: str


@dataclass(frozen=True)
class PreparedInput:
    text: str
    images: tuple[ImageInput, ...]
    intake_type: IntakeType
    redactions: int
    notes: tuple[str, ...]


def prepare_input(
    text: str,
    attachments: Sequence[Attachment] = (),
    *,
    psa_enabled: bool = False,
    budget_chars: int = 40_000,
) -> PreparedInput:
    """Redact, trim and classify the engineer's input; raise IntakeError when it cannot be used."""
    message = visible(_clean(text))
    images, files, notes = _sort_attachments(attachments)
    if not message and not files and not images:
        raise IntakeError(EMPTY_INPUT)

    # Redact before trimming, so a cut can never leave part of a secret readable.
    masked_message = redact(message)
    masked_files = [(name, redact(content)) for name, content in files]
    found = [masked_message, *(masked for _, masked in masked_files)]
    count = sum(r.count for r in found)
    kinds = sorted({kind for r in found for kind in r.kinds})
    if count:
        noun = "secret" if count == 1 else "secrets"
        notes.insert(0, MASKED_NOTE.format(count=count, secrets=noun, kinds=", ".join(kinds)))

    encoded = tuple(
        ImageInput(media_type=media_type, data_b64=base64.b64encode(data).decode("ascii"), filename=name)
        for name, media_type, data in images
    )
    return PreparedInput(
        text=_fit_to_budget(masked_message.text, masked_files, budget_chars, notes),
        images=encoded,
        intake_type=_intake_type(message, has_files=bool(files), has_images=bool(images), psa=psa_enabled),
        redactions=count,
        notes=tuple(notes),
    )


def _fit_to_budget(
    message: str, files: list[tuple[str, Redaction]], budget_chars: int, notes: list[str]
) -> str:
    """The message and each file (under its header, in a fence) within `budget_chars`; a note per trim."""
    # (name used in notes, header and fence or None for the message, body)
    blocks: list[tuple[str, tuple[str, str] | None, str]] = []
    if message:
        blocks.append((YOUR_MESSAGE, None, message))
    for name, masked in files:
        blocks.append((name, (FILE_HEADER.format(name=name), _fence_for(masked.text)), masked.text))
    overhead = 2 * (len(blocks) - 1) + sum(len(f[0]) + 2 * len(f[1]) + 3 for _, f, _ in blocks if f)
    shares = _fair_shares([len(body) for _, _, body in blocks], budget_chars - overhead)
    parts: list[str] = []
    for (label, frame, body), share in zip(blocks, shares, strict=True):
        if len(body) > share:
            fitted = fit_log(body, share)
            body = fitted.text
            notes.append(TRIMMED_NOTE.format(name=label, kept=fitted.kept_lines, total=fitted.total_lines))
        parts.append(f"{frame[0]}\n{frame[1]}\n{body}\n{frame[1]}" if frame else body)
    return "\n\n".join(parts)


def _fair_shares(sizes: list[int], budget: int) -> list[int]:
    """Split `budget` so small parts keep everything and large parts share the rest equally."""
    shares = [0] * len(sizes)
    remaining = max(budget, 0)
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    for position, index in enumerate(order):
        share = min(sizes[index], remaining // (len(sizes) - position))
        shares[index] = share
        remaining -= share
    return shares


# --- classifying -------------------------------------------------------------------------------------

_LOG_LINE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
    r"|\b\d{1,2}/\d{1,2}/\d{2,4},? +\d{1,2}:\d{2}"
    r"|\b\d{2}:\d{2}:\d{2}\b"
    r"|\b(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRITICAL|VERBOSE)\b"
    r"|\[(?i:trace|debug|info|notice|warn|warning|error|fatal|critical|verbose)\]"
    r"|^\s+at \S|^\s*File \".*\", line \d+"
    r"|^(?:Log Name|Source|Event ID|Task Category|Level|Keywords|Computer|OpCode):"
)
_MIN_LOG_LINES = 8
_LOG_SCAN_LINES = 500
# Ticket references come with the engineer's own words, not deep inside a pasted log.
_TICKET_SCAN_CHARS = 5_000
_TICKET = re.compile(
    r"(?<![\w&#])#\d{4,}\b"
    r"|\b(?:ticket|tkt|incident)\s*(?:no\.?|number|num|id)?\s*[:#]{0,2}\s*\d{3,}\b"
    r"|\bT\d{8}\.\d{3,4}\b"
    r"|\bINC\d{6,}\b",
    re.IGNORECASE,
)


def _intake_type(message: str, *, has_files: bool, has_images: bool, psa: bool) -> IntakeType:
    kinds: list[IntakeType] = []
    if has_files or _looks_like_log(message):
        kinds.append("log_paste")
    if has_images:
        kinds.append("screenshot")
    if psa and _TICKET.search(message, 0, _TICKET_SCAN_CHARS):
        kinds.append("psa_ticket")
    if len(kinds) > 1:
        return "combined"
    return kinds[0] if kinds else "free_text"


def _looks_like_log(text: str) -> bool:
    """A code block, or at least eight lines with timestamps, levels or stack frames."""
    if "```" in text:
        return True
    loggy = 0
    in_traceback = False
    for line in text.split("\n", _LOG_SCAN_LINES)[:_LOG_SCAN_LINES]:
        # Inside a Python traceback every indented line (frame or source) is part of a stack frame.
        in_traceback = (in_traceback and line[:1] in (" ", "\t")) or line.startswith(TRACEBACK_HEADER)
        if in_traceback or _LOG_LINE.search(line):
            loggy += 1
            if loggy >= _MIN_LOG_LINES:
                return True
    return False


# --- attachments -------------------------------------------------------------------------------------

_IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".jfif",
    ".gif",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
)


def _sort_attachments(
    attachments: Sequence[Attachment],
) -> tuple[list[tuple[str, str, bytes]], list[tuple[str, str]], list[str]]:
    """Screenshots (name, media type, bytes) and text files (name, text) in the order given, and a note for
    each empty file left out; IntakeError for a file that is neither, or screenshots over the limits."""
    images: list[tuple[str, str, bytes]] = []
    files: list[tuple[str, str]] = []
    notes: list[str] = []
    for attachment in attachments:
        name = _display_name(attachment.filename)
        media_type = _sniff_image(attachment.data)
        if media_type is not None:
            images.append((name, media_type, attachment.data))
            continue
        content = _text_of(attachment, name)
        if content.strip():
            files.append((name, content))
        else:
            notes.append(EMPTY_FILE_NOTE.format(name=name))
    _check_images(images)
    return images, files, notes


def _text_of(attachment: Attachment, name: str) -> str:
    """A file that is not an image: its text, unless it claims to be an image or is not text."""
    if _claims_image(attachment):
        raise IntakeError(NOT_AN_IMAGE.format(name=name))
    return _decode_text(attachment.data, name).strip("\r\n")


def _check_images(images: list[tuple[str, str, bytes]]) -> None:
    if len(images) > MAX_IMAGES:
        raise IntakeError(TOO_MANY_IMAGES.format(count=len(images), limit=MAX_IMAGES))
    for name, _, data in images:
        if len(data) > MAX_IMAGE_BYTES:
            raise IntakeError(IMAGE_TOO_LARGE.format(name=name, megabytes=len(data) / (1024 * 1024)))


def _sniff_image(data: bytes) -> str | None:
    """The media type the bytes really are; the uploader's claim is never trusted."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _claims_image(attachment: Attachment) -> bool:
    media_type = (attachment.media_type or "").lower()
    return media_type.startswith("image/") or attachment.filename.lower().endswith(_IMAGE_EXTENSIONS)


def _decode_text(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif b"\x00" in data:
        raise IntakeError(_binary_message(name))
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise IntakeError(
            NOT_UTF8.format(name=name) if encoding == "utf-8" else _binary_message(name)
        ) from None
    if "\x00" in text:
        raise IntakeError(_binary_message(name))
    return text


def _binary_message(name: str) -> str:
    hint = EVENT_LOG_HINT if name.lower().endswith(".evtx") else ""
    return BINARY_FILE.format(name=name) + hint


def _display_name(filename: str) -> str:
    """The file's own name, safe to show in a message and a code fence header."""
    name = _clean(filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f`]", "", name).strip()
    return redact(name[:120]).text or "attachment"


def _fence_for(body: str) -> str:
    """A code fence the body cannot break out of, however many backticks it holds."""
    if "```" not in body:
        return "```"
    longest = max(len(run) for run in re.findall(r"`{3,}", body))
    return "`" * (longest + 1)


_SURROGATE = re.compile("[\ud800-\udfff]")


def visible(text: str) -> str:
    """`text` stripped, or "" when it has nothing a person can see (only spaces, zero-width and other format
    characters: U+200B, U+200C, U+200D, U+2060, U+FEFF…), which counts as empty input."""
    text = text.strip()
    if any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE for ch in text):
        return text
    return ""


# Unicode categories that show nothing: format characters (zero-width joiners, BOM…) and control characters.
_INVISIBLE = ("Cf", "Cc")


def _clean(text: str) -> str:
    """Drop what PostgreSQL and the APIs cannot take: NUL characters and unpaired surrogates."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text
