"""A turn's message shown as Claude writes it, with the draft's machinery (streaming.py): Teams streaming in
personal chats, one card updated at most once a `pace.interval` elsewhere.

The first words wait a moment (`FIRST_WORDS_HOLD`): a turn Claude finishes within it is posted whole, as one
card with its buttons (Teams allows only a few activities a second per conversation; a stream would spend them).

The whole turn settles it: the questions and suggested steps come as a card below the streamed words (in a
channel the words' own card becomes the turn card, buttons and all). A turn cut mid-stream keeps what was
shown, marked as cut off; the notice with Retry follows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.events import AssistantTurn

from . import cards
from . import messages as text
from .outbox import Outbox
from .streaming import CardStream, Pace, Shown, TeamsStream

# How long the first words wait for more before they are shown (well inside the 300 ms a reader notices).
FIRST_WORDS_HOLD = 0.1


@dataclass(frozen=True)
class TurnCard:
    """The card that carries a turn's buttons (its id, "" when none) and the message it shows."""

    id: str
    message: str


class TurnWords:
    def __init__(
        self, outbox: Outbox, *, pace: Pace, hold: float = FIRST_WORDS_HOLD, on_shown: Shown | None = None
    ) -> None:
        self._out = outbox
        self._stream: TeamsStream | CardStream
        if outbox.personal:
            self._stream = TeamsStream(outbox, pace=pace, card=cards.words)
        else:
            self._stream = CardStream(outbox, pace=pace, card=cards.words)
        self._stream.on_shown = on_shown  # where the words show, for marking them if this process dies
        self._hold = hold
        self._started = False
        self._text = ""
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._failed: Exception | None = None  # what the held first words met, raised to the renderer

    async def add(self, chunk: str) -> None:
        async with self._lock:
            self._raise_failure()
            self._text += chunk
            if self._started:
                await self._stream.add(chunk)
            elif self._timer is None:
                self._timer = asyncio.create_task(self._open_later())

    async def _open_later(self) -> None:
        await asyncio.sleep(self._hold)
        async with self._lock:
            try:
                await self._open()
            except Exception as err:  # raised to the renderer with the next words or the whole turn
                self._failed = err

    async def _open(self) -> None:
        self._started = True
        if isinstance(self._stream, CardStream):
            await self._stream.start(self._text)  # the first words at once, in the card itself
            return
        await self._stream.start()
        await self._stream.add(self._text)

    def _stop_timer(self) -> None:
        # Called with the lock held: the timer is asleep or waiting for the lock, never mid-call.
        timer, self._timer = self._timer, None
        if timer is not None and not timer.done():
            timer.cancel()

    def _raise_failure(self) -> None:
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    async def settle(self, turn: AssistantTurn) -> TurnCard | None:
        """End the words with the whole message (the core's, which may replace the words shown) and show
        the buttons; returns the card that carries them, or None when no word was shown yet (the caller
        posts the turn whole)."""
        assert turn.session_id is not None
        async with self._lock:
            self._stop_timer()
            self._raise_failure()
            if not self._started:
                return None
            if isinstance(self._stream, CardStream):
                await self._stream.show(cards.assistant_turn(turn))
                return TurnCard(self._stream.card_id, turn.message)
            if not self._stream.live:  # Teams did not take the stream: the whole turn as a card
                return TurnCard(await self._out.send_card(cards.assistant_turn(turn)), turn.message)
            await self._stream.finish(turn.message)
            if not turn.questions and not turn.actions:
                return TurnCard("", "")
            content = cards.turn(turn.session_id, "", turn.questions, turn.actions)
            return TurnCard(await self._out.send_card(content), "")

    async def cut(self, shown: str) -> None:
        """Claude stopped mid-turn: what was shown stays, marked as cut off."""
        async with self._lock:
            self._stop_timer()
            words = (self._text or shown) + text.TURN_CUT_OFF
            if isinstance(self._stream, CardStream) and self._started:
                await self._stream.show(cards.words(words))
            elif isinstance(self._stream, TeamsStream) and self._stream.live:
                await self._stream.finish(words)
            else:  # nothing shown yet (or Teams refused the stream): the words in a card
                await self._out.send_card(cards.words(words))
