"""What the fake keeps of the bot's calls: the HTTP requests, the activities it posted, its streams."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy


@dataclass
class RecordedRequest:
    """One HTTP request the bot made, as the fake received it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    body: Any
    status: int = 0

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


@dataclass
class SentActivity:
    """An activity the bot posted, with every version it later replaced it with."""

    id: str
    conversation_id: str
    versions: list[dict[str, Any]]
    reply_to_id: str | None = None
    deleted: bool = False
    # time.monotonic() of each version (posted, then each update): how often one message was edited.
    times: list[float] = field(default_factory=list)

    def most_versions_within(self, seconds: float) -> int:
        """The most versions this activity got within any window of `seconds`."""
        worst, first = 0, 0
        for i, at in enumerate(self.times):
            while at - self.times[first] >= seconds:
                first += 1
            worst = max(worst, i - first + 1)
        return worst

    @property
    def current(self) -> dict[str, Any]:
        return self.versions[-1]

    @property
    def type(self) -> str | None:
        return self.current.get("type")

    @property
    def text(self) -> str | None:
        return self.current.get("text")

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return self.current.get("attachments") or []

    @property
    def edited(self) -> bool:
        return len(self.versions) > 1


@dataclass
class Stream:
    """One Teams streamed answer: its chunks in the order Teams accepted them."""

    stream_id: str
    conversation_id: str
    chunks: list[dict[str, Any]]
    started_at: float
    last_sequence: int = 0
    streamed_text: str = ""
    final: dict[str, Any] | None = None
    cancelled: bool = False

    @property
    def stream_types(self) -> list[str]:
        return [(stream_info(chunk) or {}).get("streamType", "") for chunk in self.chunks]

    @property
    def finished(self) -> bool:
        return self.final is not None


@dataclass(frozen=True)
class StreamError:
    """A streaming activity the fake refused, with the answer Teams would give."""

    conversation_id: str
    stream_id: str | None
    status: int
    code: str
    message: str
    activity: dict[str, Any]


def stream_info(activity: Mapping[str, Any]) -> dict[str, Any] | None:
    for entity in activity.get("entities") or []:
        if isinstance(entity, dict) and entity.get("type") == "streaminfo":
            return entity
    return None
