"""What the fake received: one RecordedRequest per request, and the caller's API key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class RecordedRequest:
    """One request as the fake received it; `body` is None when it was not valid JSON."""

    path: str
    headers: Mapping[str, str]
    body: Any
    # time.perf_counter() when the request arrived and when its answer was sent (the benchmarks measure
    # the app's own overhead with them, leaving out the time the model "thinks").
    received_at: float = 0.0
    answered_at: float = 0.0
    first_text_at: float = 0.0  # a streamed answer: when its first text (or tool input) fragment was sent
    last_text_at: float = 0.0  # … and when its last one was (0 while it is still being written)
    chunks_sent: int = 0  # … and how many fragments with text it has sent so far

    @property
    def api_key(self) -> str | None:
        return caller_key(self.headers)


def caller_key(headers: Mapping[str, str]) -> str | None:
    """The caller's key: `x-api-key`, or `Authorization: Bearer`, which anthropic 2.x sends for api_key=."""
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None
