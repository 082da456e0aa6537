"""A turn's message shown as Claude writes it, with the draft's machinery (streaming.DraftWriter): Slack's
chat streaming where accepted, else one message edited at most once a second, nothing lost under 429s.

The first words wait a moment (`FIRST_WORDS_HOLD`): a turn Claude finishes within it is posted whole, with
its buttons, in one message as before (no stream to open and stop, and no second-long pacing before the
buttons). Otherwise the whole turn settles the words: the stream stops with the message as the core has it
(the core may replace words shown by a corrected answer). A turn cut mid-stream keeps what was shown, marked
as cut off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Actor

from . import messages as msg
from . import render
from .streaming import MESSAGE_TEXT, UNREACHABLE, DraftWriter, error_code, retrying

logger = logging.getLogger(__name__)

# How long the first words wait for more before they are shown (well inside the 300 ms a reader notices).
FIRST_WORDS_HOLD = 0.1


class TurnWords:
    """One turn's words in a thread; `add` what Claude wrote, then `settle` (or `cut`, or `finish`)."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        actor: Actor,
        placeholder: str | None = None,
        interval: float = 1.0,
        hold: float = FIRST_WORDS_HOLD,
        on_message: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self.placeholder = placeholder  # the "thinking…" line the words take the place of
        self._hold = hold
        self._writer = DraftWriter(
            client,
            channel=channel,
            thread_ts=thread_ts,
            recipient_user_id=actor.user_id,
            recipient_team_id=actor.workspace_id,
            interval=interval,
            on_message=on_message,  # where the words show, for marking them if this process dies
        )
        self._pending = ""  # escaped words not handed to the writer yet
        self._opened = False
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None  # what the held first words met, raised to the renderer

    @property
    def ts(self) -> str | None:
        return self._writer.ts

    async def add(self, text: str) -> None:
        # Escaping is character by character, so each piece escaped alone adds up to the whole escaped.
        async with self._lock:
            self._raise_failure()
            self._pending += render.escape(text)
            if self._opened:
                await self._write_pending()
            elif self._timer is None:
                self._timer = asyncio.create_task(self._open_later())

    async def settle(self, message: str) -> bool:
        """End the words with the whole message: the rest of it, or the message in place of other words.
        False when no word was shown yet: the caller posts the turn whole instead."""
        async with self._lock:
            self._stop_timer()
            self._raise_failure()
            if not self._opened:
                return False
            whole = render.escape(message)
            await self._write_pending()
            shown = self._writer.text
            if whole.startswith(shown):
                await self._writer.add(whole[len(shown) :])
            await self._writer.finish()
            ts = self._writer.ts
        if shown and not whole.startswith(shown) and ts is not None and len(whole) <= MESSAGE_TEXT:
            # A corrected answer replaced the first words: the message shows the one kept.
            await retrying(lambda: self._client.chat_update(channel=self._channel, ts=ts, text=whole))
        return True

    async def cut(self, shown: str) -> None:
        """Claude stopped mid-turn: what was shown stays, marked as cut off (the notice with Retry follows)."""
        async with self._lock:
            self._stop_timer()
            if not self._writer.text and not self._pending:
                self._pending = render.escape(shown)
            self._pending += msg.TURN_CUT_OFF
        await self.finish()

    async def finish(self) -> None:
        """Show what was written and stop (a turn that ended without its whole message)."""
        async with self._lock:
            self._stop_timer()
            if not self._opened and not self._pending:
                return
            await self._open()
            await self._writer.finish()

    # ── pieces ─────────────────────────────────────────────────────────────────────────────────────
    async def _open_later(self) -> None:
        await asyncio.sleep(self._hold)
        async with self._lock:
            try:
                await self._open()
            except (SlackApiError, *UNREACHABLE) as err:
                self._failed = err

    async def _open(self) -> None:
        self._opened = True
        await self._write_pending()
        await self._drop_placeholder()

    async def _write_pending(self) -> None:
        pending, self._pending = self._pending, ""
        if pending:
            await self._writer.add(pending)

    def _stop_timer(self) -> None:
        # Called with the lock held: the timer is asleep or waiting for the lock, never mid-call.
        timer, self._timer = self._timer, None
        if timer is not None and not timer.done():
            timer.cancel()

    def _raise_failure(self) -> None:
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    async def _drop_placeholder(self) -> None:
        """Once the words are on screen, the "thinking…" line they replace goes."""
        ts, self.placeholder = self.placeholder, None
        if ts is None:
            return
        try:
            await retrying(lambda: self._client.chat_delete(channel=self._channel, ts=ts))
        except (SlackApiError, *UNREACHABLE) as err:
            code = error_code(err) if isinstance(err, SlackApiError) else type(err).__name__
            logger.info("could not remove the thinking line: %s", code)
