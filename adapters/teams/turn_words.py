"""A turn's message shown as Claude writes it, with the draft's machinery (streaming.py): Teams streaming in
personal chats, one card updated at most once a `pace.interval` elsewhere.

The whole turn settles it: the questions and suggested steps come as a card below the streamed words (in a
channel the words' own card becomes the turn card, buttons and all). A turn cut mid-stream keeps what was
shown, marked as cut off; the notice with Retry follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.events import AssistantTurn

from . import cards
from . import messages as text
from .outbox import Outbox
from .streaming import CardStream, Pace, TeamsStream


@dataclass(frozen=True)
class TurnCard:
    """The card that carries a turn's buttons (its id, "" when none) and the message it shows."""

    id: str
    message: str


class TurnWords:
    def __init__(self, outbox: Outbox, *, pace: Pace) -> None:
        self._out = outbox
        self._stream: TeamsStream | CardStream
        if outbox.personal:
            self._stream = TeamsStream(outbox, pace=pace, card=cards.words)
        else:
            self._stream = CardStream(outbox, pace=pace, card=cards.words)
        self._started = False
        self._text = ""

    async def add(self, chunk: str) -> None:
        self._text += chunk
        if self._started:
            await self._stream.add(chunk)
            return
        self._started = True
        if isinstance(self._stream, CardStream):
            await self._stream.start(chunk)  # the first words at once, in the card itself
            return
        await self._stream.start()
        await self._stream.add(chunk)

    async def settle(self, turn: AssistantTurn) -> TurnCard:
        """End the words with the whole message (the core's, which may replace the words shown) and show
        the buttons; returns the card that carries them."""
        assert turn.session_id is not None
        if isinstance(self._stream, CardStream):
            await self._stream.show(cards.assistant_turn(turn))
            return TurnCard(self._stream.card_id, turn.message)
        if self._stream.live:
            await self._stream.finish(turn.message)
        else:  # Teams did not take the stream: the whole turn as a card
            return TurnCard(await self._out.send_card(cards.assistant_turn(turn)), turn.message)
        if not turn.questions and not turn.actions:
            return TurnCard("", "")
        content = cards.turn(turn.session_id, "", turn.questions, turn.actions)
        return TurnCard(await self._out.send_card(content), "")

    async def cut(self, shown: str) -> None:
        """Claude stopped mid-turn: what was shown stays, marked as cut off."""
        words = (self._text or shown) + text.TURN_CUT_OFF
        if isinstance(self._stream, CardStream):
            if self._started:
                await self._stream.show(cards.words(words))
            else:
                await self._stream.start(words)
        elif self._stream.live:
            await self._stream.finish(words)
        else:
            await self._out.send_card(cards.words(words))
