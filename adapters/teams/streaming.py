"""The handoff draft as it is written: Teams streaming in personal chats, a throttled card elsewhere.

Teams answers 403 to streaming outside personal chats, so channels and group chats get one card updated
about once a second. A Teams stream ends after two minutes: before that, it is closed with a final message
and the rest of the draft continues in a card.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

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


def _weight(value: str) -> int:
    # The SDK sends JSON with \u escapes, so non-ASCII text weighs up to 12 bytes a character.
    return len(json.dumps(value))


def clip(value: str, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    if _weight(value) <= max_bytes:
        return value
    low, high = 0, len(value)  # the longest beginning that fits
    while low < high:
        mid = (low + high + 1) // 2
        if _weight(value[:mid]) <= max_bytes:
            low = mid
        else:
            high = mid - 1
    return value[:low].rstrip() + text.TRUNCATED


# Told where the text shows and what is on screen ({"kind": "stream" | "card", "id", "text"}) each time
# more of it is shown, so a process finding it cut off by a crash can mark it (Headers.note_shown).
Shown = Callable[[dict[str, str]], Awaitable[None]]


class DraftStream(Protocol):
    on_shown: Shown | None

    async def start(self) -> None: ...
    async def add(self, chunk: str) -> None: ...
    async def finish(self, final: str) -> None: ...


def open_stream(outbox: Outbox, *, kind: str, pace: Pace) -> DraftStream:
    card = partial(cards.drafting, kind)
    if outbox.personal:
        informative = text.DRAFTING.format(kind=cards._kind(kind))
        return TeamsStream(outbox, pace=pace, card=card, informative=informative)
    return CardStream(outbox, pace=pace, card=card)


def _now() -> float:
    return asyncio.get_running_loop().time()


Card = dict[str, Any]


async def _tell(on_shown: Shown | None, *, kind: str, shown_id: str, shown: str) -> None:
    if on_shown is not None and shown_id:
        await on_shown({"kind": kind, "id": shown_id, "text": shown})


class CardStream:
    """One card showing the text so far (`card` makes it), updated at most once per `pace.interval`."""

    def __init__(self, outbox: Outbox, *, pace: Pace, card: Callable[[str], Card]) -> None:
        self._outbox, self._pace, self._card = outbox, pace, card
        self._text = ""
        self.card_id = ""
        self._last = 0.0
        self.on_shown: Shown | None = None

    async def start(self, first: str = "") -> None:
        self._text = first
        self.card_id = await self._outbox.send_card(self._card(first))
        self._last = _now()
        await _tell(self.on_shown, kind="card", shown_id=self.card_id, shown=first)

    async def add(self, chunk: str) -> None:
        self._text += chunk
        if _now() - self._last >= self._pace.interval:
            await self.show(self._card(self._text))
            await _tell(self.on_shown, kind="card", shown_id=self.card_id, shown=self._text)

    async def show(self, content: Card) -> None:
        """Update the card, never sooner than `pace.interval` after its previous version."""
        wait = self._last + self._pace.interval - _now()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await self._outbox.update_card(self.card_id, content)
        finally:
            # Counted from when the update (and its 429 retries) ended, so a delayed update is not
            # followed by another one straight away.
            self._last = _now()

    async def finish(self, final: str) -> None:
        await self.show(self._card(final))


class TeamsStream:
    """Teams streaming (personal chats): an `informative` line first if given, then the text so far."""

    def __init__(
        self, outbox: Outbox, *, pace: Pace, card: Callable[[str], Card], informative: str | None = None
    ) -> None:
        self._outbox, self._pace, self._card = outbox, pace, card
        self._informative = informative
        self._text = ""
        self._stream_id = ""
        self._sequence = 1
        self._started = 0.0
        self._last = 0.0
        self._stopped = False  # the user pressed Stop, or Teams refused the stream
        self._cut_at: int | None = None
        self._rest: CardStream | None = None
        self.on_shown: Shown | None = None

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

    @property
    def live(self) -> bool:
        """Streaming and not stopped (by the user's Stop, or Teams refusing): else show the rest another way."""
        return bool(self._stream_id) and not self._stopped

    async def start(self) -> None:
        self._started = _now()
        if self._informative:
            await self._chunk("informative", self._informative)

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
            self._rest = CardStream(self._outbox, pace=self._pace, card=self._card)
            self._rest.on_shown = self.on_shown
            await self._rest.start()
            return
        # Escaping is character by character, so each chunk still starts with the one before.
        await self._chunk("streaming", clip(cards.prose(self._text)))
        if self.live:
            await _tell(self.on_shown, kind="stream", shown_id=self._stream_id, shown=self._text)

    async def _close(self, final: str) -> None:
        if self._stopped or not self._stream_id:
            return
        # The final message is one more version of the streamed message: paced like every chunk, so no
        # message is edited more than once per `pace.interval` (Teams throttles faster streams).
        wait = self._last + self._pace.interval - _now()
        if wait > 0:
            await asyncio.sleep(wait)
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
