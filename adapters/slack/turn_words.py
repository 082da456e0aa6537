"""A turn's message shown as Claude writes it, with the draft's machinery (streaming.DraftWriter): Slack's
chat streaming where accepted, else one message edited at most once a second, nothing lost under 429s.

The whole turn settles it: the stream stops with the message as the core has it (the core may replace words
shown by a corrected answer). A turn cut mid-stream keeps what was shown, marked as cut off.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Actor

from . import messages as msg
from . import render
from .streaming import MESSAGE_TEXT, UNREACHABLE, DraftWriter, error_code, retrying

logger = logging.getLogger(__name__)


class TurnWords:
    """One turn's words in a thread; `add` what Claude wrote, then `settle` (or `cut`)."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        actor: Actor,
        placeholder: str | None = None,
        interval: float = 1.0,
        on_message: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._placeholder = placeholder  # the "thinking…" line the words take the place of
        self._writer = DraftWriter(
            client,
            channel=channel,
            thread_ts=thread_ts,
            recipient_user_id=actor.user_id,
            recipient_team_id=actor.workspace_id,
            interval=interval,
            on_message=on_message,  # where the words show, for marking them if this process dies
        )

    @property
    def ts(self) -> str | None:
        return self._writer.ts

    async def add(self, text: str) -> None:
        # Escaping is character by character, so each piece escaped alone adds up to the whole escaped.
        await self._writer.add(render.escape(text))
        await self._drop_placeholder()

    async def settle(self, message: str) -> None:
        """End the words with the whole message: the rest of it, or the message in place of other words."""
        whole = render.escape(message)
        shown = self._writer.text
        if whole.startswith(shown):
            await self._writer.add(whole[len(shown) :])
        await self._writer.finish()
        ts = self._writer.ts
        if shown and not whole.startswith(shown) and ts is not None and len(whole) <= MESSAGE_TEXT:
            # A corrected answer replaced the first words: the message shows the one kept.
            await retrying(lambda: self._client.chat_update(channel=self._channel, ts=ts, text=whole))

    async def cut(self, shown: str) -> None:
        """Claude stopped mid-turn: what was shown stays, marked as cut off (the notice with Retry follows)."""
        if not self._writer.text and shown:
            await self._writer.add(render.escape(shown))
        await self._writer.add(msg.TURN_CUT_OFF)
        await self.finish()

    async def finish(self) -> None:
        await self._writer.finish()
        await self._drop_placeholder()

    async def _drop_placeholder(self) -> None:
        """Once the words are on screen, the "thinking…" line they replace goes."""
        ts, self._placeholder = self._placeholder, None
        if ts is None:
            return
        try:
            await retrying(lambda: self._client.chat_delete(channel=self._channel, ts=ts))
        except (SlackApiError, *UNREACHABLE) as err:
            code = error_code(err) if isinstance(err, SlackApiError) else type(err).__name__
            logger.info("could not remove the thinking line: %s", code)
