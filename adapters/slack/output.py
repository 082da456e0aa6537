"""Core events → Slack: the header edited in place, replies with buttons, the streamed draft, notices.

The one place where errors (the core's notices and Slack's own refusals) become a message with Retry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import retry_codec
from bot.commands import Actor, AnswerQuestion, MarkAction, Rate, SessionCommand
from bot.events import (
    ActionMarked,
    AssistantTurn,
    DraftDelta,
    DraftFinished,
    DraftStarted,
    Event,
    MessageDelta,
    Notice,
    QuestionAnswered,
    SessionStarted,
    SessionView,
    StatusChanged,
    Thinking,
    TriageChanged,
    TurnCut,
)

from . import messages as msg
from . import render
from .escalation import send_package
from .ids import render_value
from .places import Clicked, Place
from .render import Block
from .streaming import UNREACHABLE, DraftWriter, error_code, mark_cut_off, retrying
from .turn_words import TurnWords

logger = logging.getLogger(__name__)

PLATFORM = "slack"
# How long Claude may take before the thread shows "FlowPilot is thinking…".
THINKING_DELAY_SECONDS = 0.8
# Remembers where a session's draft is being streamed (session id, {"channel", "ts"}), for crash recovery.
NoteDraft = Callable[[uuid.UUID, dict[str, str]], Awaitable[None]]


class Renderer:
    """Renders the events of one command into one thread."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        place: Place | None,
        actor: Actor,
        command: Any = None,
        clicked: Clicked | None = None,
        note_draft: NoteDraft | None = None,
    ) -> None:
        self.client = client
        self.note_draft = note_draft
        self.place = place
        self.actor = actor
        self.command = command
        self.clicked = clicked
        self.failure: str | None = None
        self.errored = False  # the core refused or failed: the clicked buttons stay live
        self.session_id: uuid.UUID | None = getattr(command, "session_id", None)
        self._placeholder: str | None = None
        self._thinking_later: asyncio.Task[None] | None = None
        self._thinking_posting = False
        self._writer: DraftWriter | None = None
        self._words: TurnWords | None = None  # the turn's message while Claude writes it
        self._title_set: str | None = None

    async def render(self, event: Event) -> None:
        """Render one event; a Slack refusal is remembered (reported once, at the end) and rendering goes on."""
        if event.session_id is not None:
            self.session_id = event.session_id
        try:
            if not isinstance(event, Thinking):
                await self._settle_thinking()
            await self._render(event)
        except SlackApiError as err:
            code = error_code(err)
            logger.warning("Slack refused to show a %s: %s", type(event).__name__, code)
            self.failure = self.failure or code
        except UNREACHABLE as err:
            logger.warning(
                "Slack did not answer while showing a %s: %s", type(event).__name__, type(err).__name__
            )
            self.failure = self.failure or "timeout"

    async def close(self) -> None:
        """Report a Slack failure in the thread, with a Retry that shows the session again."""
        try:
            await self._settle_thinking()
            await self._stop_words()
        except SlackApiError as err:
            self.failure = self.failure or error_code(err)
        except UNREACHABLE:
            self.failure = self.failure or "timeout"
        if self.failure is None or self.place is None or self.session_id is None:
            return
        text = msg.SLACK_FAILED.format(error=self.failure)
        try:
            await self._post(
                render.notice_blocks(text, retry_value=render_value(self.session_id), error=True), text
            )
        except SlackApiError as err:
            logger.error("could not report a Slack failure in the thread: %s", error_code(err))
        except UNREACHABLE as err:
            logger.error("could not report a Slack failure in the thread: %s", type(err).__name__)

    # ── one method per kind of event (the table _SHOW, below the class) ──────────────────────────────
    async def _render(self, event: Event) -> None:
        show = _SHOW.get(type(event))
        if show is not None:
            await show(self, event)

    async def _view(self, event: SessionStarted | TriageChanged) -> None:
        await self.header(event.view)
        await self._title(event.view)

    async def _answered(self, event: QuestionAnswered) -> None:
        answer = render.escape(event.question.answer or "")
        by = render.escape(event.question.answered_by or self.actor.name)
        await self._mark_clicked(render.context(msg.ANSWERED.format(by=by, answer=answer)))

    async def _marked(self, event: ActionMarked) -> None:
        line = msg.MARKED_DONE if event.action.outcome == "done" else msg.MARKED_FAILED
        by = render.escape(event.action.marked_by or self.actor.name)
        await self._mark_clicked(render.context(f"{line.format(by=by)}: {render.escape(event.action.text)}"))

    async def _delta(self, event: DraftDelta) -> None:
        if self._writer is not None:
            await self._writer.add(event.text)

    # ── pieces ─────────────────────────────────────────────────────────────────────────────────────
    async def header(self, view: SessionView) -> None:
        if self.place is None or self.place.header_ts is None:
            return
        header_ts = self.place.header_ts
        await retrying(
            lambda: self.client.chat_update(
                channel=self.place.channel,  # type: ignore[union-attr]
                ts=header_ts,
                text=render.header_text(view),
                blocks=render.header_blocks(view),
            )
        )

    async def _title(self, view: SessionView) -> None:
        """The assistant pane lists threads by title: keep it the session's (Claude names it after turn 1)."""
        if self.place is not None and self.place.assistant and view.title != self._title_set:
            self._title_set = view.title
            await self._assistant("setTitle", title=render.clip(view.title, 255))

    async def _thinking(self, event: Thinking) -> None:
        if self.place is None:
            return
        if self.place.assistant:
            status = msg.ASSISTANT_THINKING if event.purpose == "turn" else msg.ASSISTANT_DRAFTING
            await self._assistant("setStatus", status=status)
        elif event.purpose == "turn" and self._placeholder is None and self._thinking_later is None:
            # Shown only if Claude takes a moment: a quick answer then arrives without a "thinking…" line
            # flashing up and being replaced (and with one Slack call instead of two).
            self._thinking_later = asyncio.create_task(self._placeholder_after(THINKING_DELAY_SECONDS))

    async def _placeholder_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._thinking_posting = True
        self._placeholder = await self._post([render.context(msg.THINKING)], msg.THINKING)

    async def _settle_thinking(self) -> None:
        """Before anything else is shown: drop the "thinking…" line not posted yet, or let it finish posting
        (so what comes next replaces it instead of leaving it behind)."""
        task, self._thinking_later = self._thinking_later, None
        if task is None:
            return
        if not self._thinking_posting and not task.done():
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
        finally:
            self._thinking_posting = False

    async def _turn(self, event: AssistantTurn) -> None:
        if self.place is None:
            return
        words, self._words = self._words, None
        # Words on screen are settled and the buttons come below them; else the turn is posted whole.
        shown = words is not None and await words.settle(event.message)
        if words is not None and not shown:
            self._placeholder = words.placeholder
        for blocks in render.turn_messages(event, text=not shown):
            await self._post(blocks, render.escape(event.message))

    def _turn_words(self) -> TurnWords:
        assert self.place is not None
        if self._words is None:
            placeholder, self._placeholder = self._placeholder, None
            self._words = TurnWords(
                self.client,
                channel=self.place.channel,
                thread_ts=self.place.thread_ts,
                actor=self.actor,
                placeholder=placeholder,
                on_message=self._draft_message,
            )
        return self._words

    async def _words_delta(self, event: MessageDelta) -> None:
        if self.place is not None:
            await self._turn_words().add(event.text)

    async def _cut(self, event: TurnCut) -> None:
        if self.place is not None:
            words, self._words = self._turn_words(), None
            await words.cut(event.shown)

    async def _stop_words(self) -> None:
        words, self._words = self._words, None
        if words is not None:
            await words.finish()

    async def _status(self, event: StatusChanged) -> None:
        await self.header(event.view)
        line = msg.STATUS_LINE.get(event.new)
        if line and self.place is not None:
            to = event.view.escalated_to or ""
            text = line.format(by=render.escape(event.by), to=render.escape(to))
            await self._post([render.context(text)], text)
        if event.outputs.get("plain") and self.place is not None:
            await self._ticket_note(msg.TICKET_NOTE, event.outputs["plain"])
        if event.new == "resolved" and self.place is not None and self.session_id is not None:
            await self._post(render.rating_blocks(self.session_id), msg.RATE_PROMPT)
        if event.new == "escalated" and isinstance(event.escalated_to, Actor):
            await send_package(self.client, event, event.escalated_to)
        if event.new == "active" and event.old != "paused" and self.clicked is not None:
            await self._mark_clicked(None, line=msg.TOOK_OVER.format(by=render.escape(event.by)))

    async def _draft_started(self, event: DraftStarted) -> None:
        if self.place is None:
            return
        self._writer = DraftWriter(
            self.client,
            channel=self.place.channel,
            thread_ts=self.place.thread_ts,
            recipient_user_id=self.actor.user_id,
            recipient_team_id=self.actor.workspace_id,
            on_message=self._draft_message,
        )

    async def _draft_message(self, ts: str) -> None:
        """Remember where the draft (or a turn's words) streams, so a process finding it cut off can say so
        on the message."""
        if self.note_draft is None or self.session_id is None or self.place is None:
            return
        try:
            await self.note_draft(self.session_id, {"channel": self.place.channel, "ts": ts})
        except Exception as err:  # the draft goes on; only its crash marker would be missing
            logger.warning("could not remember where a draft streams: %s", type(err).__name__)

    async def _draft_finished(self, event: DraftFinished) -> None:
        if self._writer is not None:
            await self._writer.finish()
            self._writer = None
        if self.place is not None and event.session_id is not None:
            if event.ticket_note:
                await self._ticket_note(msg.TICKET_NOTE_PREVIEW, event.ticket_note)
            await self._post(render.draft_controls(event.session_id, event.kind), msg.DRAFT_READY)

    async def _ticket_note(self, title: str, note: str) -> None:
        """The plain ticket note as a code block: shown exactly as it will be pasted or posted."""
        for blocks in render.text_messages(title, f"```\n{render.escape(note)}\n```"):
            await self._post(blocks, title)

    async def _notice(self, event: Notice) -> None:
        self.errored = self.errored or event.level == "error"
        if event.code == "interrupted" and event.interrupted and self.place is not None:
            await mark_cut_off(self.client, self.place.channel, event.interrupted.get(PLATFORM))
        await self._stop_words()
        if self._writer is not None:  # a draft cut short: keep what was written
            try:
                await self._writer.finish()
            finally:
                self._writer = None
        clicked = self.clicked is not None or isinstance(self.command, AnswerQuestion | MarkAction | Rate)
        personal = event.private or (event.level == "info" and clicked)
        if personal or self.place is None:
            await self.ephemeral(event.text)
            return
        retry = retry_codec.encode(event.retry) if isinstance(event.retry, SessionCommand) else None
        text = event.text
        if event.retry is not None and retry is None:
            text = f"{text} {msg.RETRY_TOO_LONG}"
        blocks = render.notice_blocks(text, retry_value=retry, error=event.level == "error")
        await self._post(blocks, render.escape(text))  # the notification text is mrkdwn too

    async def mark_done(self, line: str | None) -> None:
        """After a successful click: the clicked message keeps its text, loses its buttons."""
        try:
            await self._mark_clicked(None, line=line or "")
        except SlackApiError as err:
            logger.info("could not mark a clicked message: %s", error_code(err))

    async def _mark_clicked(self, replacement: Block | None, *, line: str = "") -> None:
        """Edit the clicked message so it shows who did what and has no live buttons for it."""
        c = self.clicked
        if c is None or not c.ts:
            return
        if replacement is not None and c.block_id:
            blocks = render.replace_block(c.blocks, c.block_id, replacement)
        else:
            blocks = render.without_actions(c.blocks, line)
        c.blocks = blocks
        await retrying(
            lambda: self.client.chat_update(
                channel=c.channel, ts=c.ts, text=render.fallback(line or "FlowPilot"), blocks=blocks
            )
        )

    # ── Slack calls ────────────────────────────────────────────────────────────────────────────────
    async def _post(self, blocks: list[Block], text: str) -> str:
        """Post into the thread; the first post after "thinking…" replaces that placeholder."""
        assert self.place is not None
        place = self.place
        if self._placeholder is not None:
            ts = self._placeholder
            self._placeholder = None
            await retrying(
                lambda: self.client.chat_update(
                    channel=place.channel, ts=ts, text=render.fallback(text), blocks=blocks
                )
            )
            return ts
        response = await retrying(
            lambda: self.client.chat_postMessage(
                channel=place.channel, thread_ts=place.thread_ts, text=render.fallback(text), blocks=blocks
            )
        )
        return str(response["ts"])

    async def ephemeral(self, text: str) -> None:
        channel = self.clicked.channel if self.clicked else self.place.channel if self.place else None
        if channel is None:
            return
        thread_ts = self.place.thread_ts if self.place else None
        try:
            await retrying(
                lambda: self.client.chat_postEphemeral(
                    channel=channel,
                    user=self.actor.user_id,
                    text=render.clip(text, 3000),
                    thread_ts=thread_ts,
                )
            )
        except SlackApiError as err:
            logger.warning("could not tell a user privately: %s", error_code(err))

    async def _assistant(self, method: str, **fields: Any) -> None:
        assert self.place is not None
        try:
            await self.client.api_call(
                f"assistant.threads.{method}",
                json={"channel_id": self.place.channel, "thread_ts": self.place.thread_ts, **fields},
            )
        except SlackApiError as err:  # not an assistant thread, or no scope: the reply still comes
            logger.info("assistant.threads.%s refused: %s", method, error_code(err))


# How each kind of event shows in the thread (an event not listed shows nothing).
_SHOW: dict[type[Event], Callable[[Renderer, Any], Awaitable[None]]] = {
    SessionStarted: Renderer._view,
    Thinking: Renderer._thinking,
    AssistantTurn: Renderer._turn,
    MessageDelta: Renderer._words_delta,
    TurnCut: Renderer._cut,
    TriageChanged: Renderer._view,
    StatusChanged: Renderer._status,
    QuestionAnswered: Renderer._answered,
    ActionMarked: Renderer._marked,
    DraftStarted: Renderer._draft_started,
    DraftDelta: Renderer._delta,
    DraftFinished: Renderer._draft_finished,
    Notice: Renderer._notice,
}
