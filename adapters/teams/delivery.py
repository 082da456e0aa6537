"""Sending to Teams politely: under 7 operations a second per conversation, and retries that honour Retry-After.

The Agents SDK never retries: a 429 surfaces as aiohttp.ClientResponseError with the Retry-After header.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({412, 429, 502, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    # Teams allows about 7 a second per conversation; one less leaves room for network jitter.
    ops_per_second: float = 6.0
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0


def retry_after(err: aiohttp.ClientResponseError) -> float | None:
    value = err.headers.get("Retry-After") if err.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Delivery:
    """Paces and retries every operation that reaches the connector."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._next_slot: dict[str, float] = {}

    async def _pace(self, conversation_id: str) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_slot.get(conversation_id, now))
        self._next_slot[conversation_id] = slot + 1.0 / self.limits.ops_per_second
        if len(self._next_slot) > 10_000:  # forget idle conversations
            self._next_slot = {k: v for k, v in self._next_slot.items() if v > now}
        if slot > now:
            await asyncio.sleep(slot - now)

    async def call(self, conversation_id: str, operation: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            await self._pace(conversation_id)
            try:
                return await operation()
            except aiohttp.ClientResponseError as err:
                attempt += 1
                if err.status not in RETRYABLE or attempt >= self.limits.attempts:
                    raise
                backoff = self.limits.base_delay * 2 ** (attempt - 1) * (1 + random.random() / 4)
                delay = min(self.limits.max_delay, retry_after(err) or backoff)
                logger.info("Teams answered %s; retrying in %.1fs", err.status, delay)
                await asyncio.sleep(delay)
