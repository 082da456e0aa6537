"""The answers a test scripts with `queue_turn`, `queue_text`, `queue_error` and `queue_cut_stream`."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class Hold:
    """A gate the last chunk of a streamed answer waits at until the test opens it with `release()`.

    With it a test knows, without timing anything, that what it saw arrived while the fake was still
    writing. Thread-safe: the fake may serve from its own thread (FakeAnthropic.in_thread).
    """

    def __init__(self) -> None:
        self._open = threading.Event()
        self.waiting = threading.Event()  # set once the last chunk is waiting at the gate

    @property
    def released(self) -> bool:
        return self._open.is_set()

    def release(self) -> None:
        self._open.set()

    async def wait(self) -> None:
        self.waiting.set()
        while not self._open.is_set():
            await asyncio.sleep(0.005)


@dataclass(frozen=True)
class Pace:
    """How one scripted answer streams: seconds before each chunk (None: the fake's `chunk_delay`), and a
    Hold its last chunk waits for."""

    chunk_delay: float | None = None
    hold: Hold | None = None


@dataclass(frozen=True)
class Turn:
    data: dict[str, Any]
    pace: Pace = field(default_factory=Pace)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Error:
    status: int
    error_type: str
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class Cut:
    answer: str | dict[str, Any]  # text, or the input of a tool call
    after_chars: int
    error_type: str | None
    pace: Pace = field(default_factory=Pace)


Scripted = Turn | Text | Error | Cut
