"""The fakes, instrumented for the soak: Claude with a random latency, Slack remembering what it posted."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack


# ── the fakes, instrumented ──────────────────────────────────────────────────────────────────────────
class JitteryAnthropic(FakeAnthropic):
    """The fake Anthropic API with a random latency per request, keeping only its latest requests."""

    low = 0.0
    high = 0.0
    rng = random.Random(0)
    keep = 200

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        delay = self.rng.uniform(self.low, self.high)
        if delay > 0:
            await asyncio.sleep(delay)
        return await super()._messages(request)

    def _record(self, request: web.Request, raw: bytes) -> Any:
        body = super()._record(request, raw)
        with self._lock:  # every prompt holds the whole conversation: do not keep thousands of them
            if len(self.requests) > 2 * self.keep:
                del self.requests[: -self.keep]
        return body


class SoakSlack(FakeSlack):
    """The fake Slack, remembering per channel which messages the app posted (ts, thread_ts), in order."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.posted: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        self.told: dict[str, list[tuple[float, str]]] = defaultdict(list)  # ephemerals: (time, text)
        self.last_call = time.monotonic()
        self.observers.append(self._seen)

    def _seen(self, method: str, payload: dict[str, Any], at: float) -> None:
        self.last_call = time.monotonic()

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        result = super()._call(method, payload)
        if method == "chat.postMessage":
            self.posted[result["channel"]].append((result["ts"], payload.get("thread_ts") or None))
        elif method == "chat.postEphemeral":
            self.told[str(payload.get("channel"))].append((time.time(), str(payload.get("text") or "")))
        return result
