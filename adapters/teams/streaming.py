"""The handoff draft as it is written: Teams streaming in personal chats, a throttled card elsewhere.

Teams answers 403 to streaming outside personal chats, so channels and group chats get one card updated
about once a second. A Teams stream ends after two minutes: before that, it is closed with a final message
and the rest of the draft continues in a card.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from microsoft_agents.activity import Activity, StreamInfo

from . import cards
from . import messages as text
from .outbox import Outbox

logger = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 20_000


@dataclass(frozen=True)
class Pace:
    interval: float = 1.0  # seconds between two updates of one stream or card
    stream_limit: float = 100.0  # close a Teams stream this long after it started (Teams stops at 120 s)


def clip(value: str, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    raw = value.encode()
    if len(raw) <= max_bytes:
        return value
    return raw[:max_bytes].decode(errors="ignore").rstrip() + text.TRUNCATED


class DraftStream(Protocol):
    async def start(self) -> None: ...
    async def add(self, chunk: str) -> None: ...
    async def finish(self, final: str) -> None: ...


def open_stream(outbox: Outbox, *, kind: str, pace: Pace) -> DraftStream:
    if outbox.personal:
        return TeamsStream(outbox, kind=kind, pace=pace)
    return CardStream(outbox, kind=kind, pace=pace)


def _now() -> float:
    return asyncio.get_running_loop().time()


class CardStream:
    def __init__(self, outbox: Outbox, *, kind: str, pace: Pace, prefix_len: int = 0) -> None:
        self._outbox, self._kind, self._pace = outbox, kind, pace
        self._text = ""
        self._id = ""
        self._last = 0.0

    async def start(self) -> None:
        self._id = await self._outbox.send_card(cards.drafting(self._kind, ""))
        self._last = _now()

    async def add(self, chunk: str) -> None:
        self._text += chunk
        if _now() - self._last >= self._pace.interval:
            await self._show(self._text)

    async def _show(self, so_far: str) -> None:
        self._last = _now()
        await self._outbox.update_card(self._id, cards.drafting(self._kind, so_far))

    async def finish(self, final: str) -> None:
        await self._show(final)


class TeamsStream:
    def __init__(self, outbox: Outbox, *, kind: str, pace: Pace) -> None:
        self._outbox, self._kind, self._pace = outbox, kind, pace
        self._text = ""
        self._stream_id = ""
        self._sequence = 1
        self._started = 0.0
        self._last = 0.0
        self._stopped = False  # the user pressed Stop, or Teams refused the stream
        self._cut_at: int | None = None
        self._rest: CardStream | None = None

    async def _chunk(self, stream_type: str, value: str) -> None:
        info = StreamInfo(stream_type=stream_type, stream_sequence=self._sequence)
        if self._stream_id:
            info.stream_id = self._stream_id
        try:
            sent = await self._outbox.send(Activity(type="typing", text=value, entities=[info]))
        except aiohttp.ClientResponseError as err:
            if err.status != 403:
                raise
            logger.info("Teams stopped the stream (%s)", err.message[:200])
            self._stopped = True
            return
        self._stream_id = self._stream_id or sent
        self._sequence += 1
        self._last = _now()

    async def start(self) -> None:
        self._started = _now()
        await self._chunk("informative", text.DRAFTING.format(kind=cards._kind(self._kind)))

    async def add(self, chunk: str) -> None:
        self._text += chunk
        if self._rest is not None:
            await self._rest.add(chunk)
            return
        if self._stopped or _now() - self._last < self._pace.interval:
            return
        if _now() - self._started >= self._pace.stream_limit:
            await self._close(cards.prose(self._text) + "\n\n" + text.DRAFT_CONTINUES)
            self._cut_at = len(self._text)
            self._rest = CardStream(self._outbox, kind=self._kind, pace=self._pace)
            await self._rest.start()
            return
        # Escaping is character by character, so each chunk still starts with the one before.
        await self._chunk("streaming", clip(cards.prose(self._text)))

    async def _close(self, final: str) -> None:
        if self._stopped or not self._stream_id:
            return
        info = StreamInfo(stream_type="final", stream_id=self._stream_id)
        try:
            await self._outbox.send(Activity(type="message", text=clip(final), entities=[info]))
        except aiohttp.ClientResponseError as err:
            if err.status != 403:
                raise
            self._stopped = True

    async def finish(self, final: str) -> None:
        if self._rest is not None:
            await self._rest.finish(final[self._cut_at or 0 :])
            return
        await self._close(cards.prose(final))
