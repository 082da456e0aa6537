"""Teams' streaming rules, as a table: which chunk of a streamed answer Teams refuses, and how.

A stream opens with an informative or streaming typing activity (streamSequence 1), continues with typing
activities whose sequence goes up by one and whose text grows, and ends with a final message. Teams refuses
anything else, and any chunk of a stream that is finished, stopped by the user or over two minutes old.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fakes.connector.defaults import MAX_INFORMATIVE_CHARS
from fakes.connector.faults import Rejected
from fakes.connector.records import Stream

_STREAM_TYPES = frozenset({"informative", "streaming", "final"})
_NOT_ALLOWED = "ContentStreamNotAllowed"


@dataclass(frozen=True)
class _Chunk:
    """One streaming activity, as the rules see it."""

    activity_type: str
    stream_type: Any
    sequence: Any
    text: str
    conversation_type: str


@dataclass(frozen=True)
class _Next:
    """A chunk that continues an open stream."""

    chunk: _Chunk
    stream: Stream
    elapsed: float
    time_limit: float

    @property
    def expected(self) -> int:
        return self.stream.last_sequence + 1


_Checked = TypeVar("_Checked", _Chunk, _Next)


@dataclass(frozen=True)
class _Rule(Generic[_Checked]):
    """Teams answers `status`/`code`/`message` when `broken`; `message` may name the chunk (`{c...}`)."""

    broken: Callable[[_Checked], bool]
    status: int
    code: str
    message: str


_EVERY_CHUNK: tuple[_Rule[_Chunk], ...] = (
    _Rule(lambda c: c.conversation_type != "personal", 403, _NOT_ALLOWED, "Content stream is not allowed"),
    _Rule(
        lambda c: c.stream_type not in _STREAM_TYPES,
        400,
        "BadArgument",
        "Unknown streamType {c.stream_type!r}",
    ),
    _Rule(
        lambda c: c.stream_type == "final" and c.activity_type != "message",
        400,
        "BadSyntax",
        "Only start streaming and continue streaming types are allowed as a typing activity",
    ),
    _Rule(
        lambda c: c.stream_type != "final" and c.activity_type != "typing",
        400,
        "BadArgument",
        "Informative and streaming updates must be typing activities",
    ),
    _Rule(
        lambda c: c.stream_type == "informative" and len(c.text) > MAX_INFORMATIVE_CHARS,
        400,
        "BadArgument",
        "Informative message must not exceed 1000 characters",
    ),
)

_FIRST_CHUNK: tuple[_Rule[_Chunk], ...] = (
    _Rule(
        lambda c: c.stream_type == "final",
        400,
        "BadArgument",
        "A final message needs the streamId of its stream",
    ),
    _Rule(
        lambda c: c.sequence != 1,
        400,
        "BadArgument",
        "The first streamSequence must be 1, got {c.sequence!r}",
    ),
)

_NEXT_CHUNK: tuple[_Rule[_Next], ...] = (
    _Rule(
        lambda n: n.stream.finished,
        403,
        _NOT_ALLOWED,
        "Content stream is not allowed on an already completed streamed message",
    ),
    _Rule(lambda n: n.stream.cancelled, 403, _NOT_ALLOWED, "Content stream was cancelled by user."),
    _Rule(
        lambda n: n.elapsed > n.time_limit,
        403,
        _NOT_ALLOWED,
        "Content stream finished due to exceeded streaming time.",
    ),
    _Rule(
        lambda n: n.chunk.stream_type != "final" and n.chunk.sequence != n.expected,
        400,
        "BadArgument",
        "streamSequence must increase by 1: expected {c.expected}, got {c.chunk.sequence!r}",
    ),
    _Rule(
        lambda n: n.chunk.stream_type == "streaming" and not n.chunk.text.startswith(n.stream.streamed_text),
        400,
        "BadArgument",
        "Request streamed content should contain the previously streamed content.",
    ),
)


def check_stream_chunk(
    cid: str,
    body: dict[str, Any],
    info: dict[str, Any],
    stream_id: str | None,
    *,
    streams: Mapping[str, Stream],
    time_limit: float,
) -> Stream | None:
    """Teams' streaming rules; returns the open stream the chunk continues, or None for a new one."""
    chunk = _Chunk(
        activity_type=body["type"],
        stream_type=info.get("streamType"),
        sequence=info.get("streamSequence"),
        text=body.get("text") or "",
        conversation_type=(body.get("conversation") or {}).get("conversationType") or guess_type(cid),
    )
    _apply(_EVERY_CHUNK, chunk)
    if stream_id is None:
        _apply(_FIRST_CHUNK, chunk)
        return None
    stream = streams.get(stream_id)
    if stream is None or stream.conversation_id != cid:
        raise Rejected(400, "BadArgument", f"Unknown streamId {stream_id!r}")
    _apply(
        _NEXT_CHUNK, _Next(chunk, stream, elapsed=time.monotonic() - stream.started_at, time_limit=time_limit)
    )
    return stream


def _apply(rules: tuple[_Rule[_Checked], ...], checked: _Checked) -> None:
    """Refuse the chunk with the first rule it breaks."""
    for rule in rules:
        if rule.broken(checked):
            raise Rejected(rule.status, rule.code, rule.message.format(c=checked))


def guess_type(conversation_id: str) -> str:
    return "personal" if conversation_id.startswith("a:") else "groupChat"
