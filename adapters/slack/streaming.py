"""The handoff draft as it is written: Slack's chat streaming where accepted, else one message edited.

The first delta is shown at once; after that the message gets at most one Slack call per `interval`,
carrying everything written since the previous call (the stop carries the rest). Text counts as shown only
once Slack accepted it, so a 429, an expired stream or a refused stream never loses any of it. A draft a
process was streaming when it died gets a marker saying so (mark_cut_off).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from . import messages as msg

logger = logging.getLogger(__name__)

STREAM_PIECE = 10_000  # chat.*Stream take at most 12,000 characters of markdown per call
MESSAGE_TEXT = 39_000  # a message's text holds at most 40,000
MAX_RATE_LIMIT_RETRIES = 8

T = TypeVar("T")


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Web API call, waiting out 429s (Retry-After) beyond what the SDK's retry handler did."""
    for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
        try:
            return await call()
        except SlackApiError as err:
            if err.response.status_code != 429 or attempt == MAX_RATE_LIMIT_RETRIES:
                raise
            delay = float(err.response.headers.get("Retry-After", "1") or 1)
            logger.info("Slack rate limit; retrying in %.0fs", delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


# What the Web API client raises when Slack does not answer at all (timeout, connection refused or cut).
UNREACHABLE = (aiohttp.ClientError, TimeoutError)


def error_code(err: SlackApiError) -> str:
    data = err.response.data if isinstance(err.response.data, dict) else {}
    return str(data.get("error") or f"http_{err.response.status_code}")


async def mark_cut_off(client: AsyncWebClient, channel: str, where: Any) -> None:
    """A draft a dead process was streaming into `channel`: stop its stream with a marker, or replace it by one."""
    if not isinstance(where, dict) or where.get("channel") != channel:
        return
    ts = str(where.get("ts") or "")
    if not ts:
        return
    chunks: Any = [{"type": "markdown_text", "text": "\n\n" + msg.DRAFT_CUT_OFF}]
    try:
        await retrying(lambda: client.chat_stopStream(channel=channel, ts=ts, chunks=chunks))
        return
    except SlackApiError as err:  # not streaming any more (expired, or an edited message): edit it
        logger.info("could not stop a cut-off draft stream (%s); editing it", error_code(err))
    except UNREACHABLE:
        return
    try:
        await retrying(lambda: client.chat_update(channel=channel, ts=ts, text=msg.DRAFT_CUT_OFF))
    except (SlackApiError, *UNREACHABLE) as err:
        logger.warning("could not mark a cut-off draft: %s", type(err).__name__)


class DraftWriter:
    """Writes one growing text into a thread; `add` deltas, then `finish`."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        recipient_user_id: str,
        recipient_team_id: str,
        stream: bool = True,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_message: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._recipient = {"recipient_user_id": recipient_user_id, "recipient_team_id": recipient_team_id}
        self._streaming = stream
        self._interval = interval
        self._clock = clock
        self._text = ""
        self._shown = 0  # characters Slack has accepted (in the current message, from `_base`)
        self._base = 0  # where the current message starts in `_text` (update mode rolls over at 40k)
        self._ts: str | None = None
        self._last = float("-inf")
        self._on_message = on_message  # told each new message's ts (where the draft is being shown)

    @property
    def ts(self) -> str | None:
        return self._ts

    @property
    def text(self) -> str:
        return self._text

    async def add(self, delta: str) -> None:
        self._text += delta
        if self._clock() - self._last >= self._interval:
            await self._flush(final=False)

    async def finish(self) -> None:
        await self._flush(final=True)

    async def _flush(self, *, final: bool) -> None:
        if self._streaming:
            try:
                await self._stream(final=final)
                return
            except SlackApiError as err:
                if err.response.status_code == 429:
                    raise
                # Not accepted (no agent feature, expired stream…): show the rest by editing instead.
                logger.info("draft streaming stopped (%s); falling back to chat.update", error_code(err))
                self._streaming = False
        await self._update(final=final)

    async def _call(self, call: Callable[[], Awaitable[T]], *, paced: bool = True) -> T:
        """One Slack call; `paced` calls edit an existing message, so they wait out `interval` first."""
        wait = self._last + self._interval - self._clock()
        if paced and wait > 0:
            await asyncio.sleep(wait)
        try:
            return await retrying(call)
        finally:
            # Counted from when the call (and its 429 retries) ended, so a delayed call is not followed
            # by another one straight away.
            self._last = self._clock()

    async def _stream(self, *, final: bool) -> None:
        # When finishing, the stop carries the last piece; only what does not fit goes out before it.
        while len(self._text) - self._shown > (STREAM_PIECE if final and self._ts else 0):
            piece = self._text[self._shown : self._shown + STREAM_PIECE]
            await self._send_piece(piece)
            self._shown += len(piece)
        if final:
            if self._ts is None:  # nothing was ever written: a plain message says so
                self._streaming = False
                await self._update(final=True)
                return
            ts, rest = self._ts, self._text[self._shown :]
            chunks: Any = [{"type": "markdown_text", "text": rest}] if rest else None
            await self._call(
                lambda: self._client.chat_stopStream(channel=self._channel, ts=ts, chunks=chunks)
            )
            self._shown = len(self._text)

    async def _send_piece(self, piece: str) -> None:
        chunks: Any = [{"type": "markdown_text", "text": piece}]
        if self._ts is None:
            response = await self._call(
                lambda: self._client.chat_startStream(
                    channel=self._channel, thread_ts=self._thread_ts, chunks=chunks, **self._recipient
                ),
                paced=False,
            )
            await self._started(str(response["ts"]))
        else:
            ts = self._ts
            await self._call(
                lambda: self._client.chat_appendStream(channel=self._channel, ts=ts, chunks=chunks)
            )

    async def _started(self, ts: str) -> None:
        self._ts = ts
        if self._on_message is not None:
            await self._on_message(ts)

    async def _update(self, *, final: bool) -> None:
        while len(self._text) - self._base > MESSAGE_TEXT:
            await self._show(self._text[self._base : self._base + MESSAGE_TEXT])
            self._base += MESSAGE_TEXT
            self._ts = None
        if final or len(self._text) > self._base + self._shown_in_message():
            await self._show(self._text[self._base :] or "…")
        self._shown = len(self._text)

    def _shown_in_message(self) -> int:
        return max(self._shown - self._base, 0) if self._ts else 0

    async def _show(self, text: str) -> None:
        if self._ts is None:
            response = await self._call(
                lambda: self._client.chat_postMessage(
                    channel=self._channel, thread_ts=self._thread_ts, text=text
                ),
                paced=False,
            )
            await self._started(str(response["ts"]))
        else:
            ts = self._ts
            await self._call(lambda: self._client.chat_update(channel=self._channel, ts=ts, text=text))
