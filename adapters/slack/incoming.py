"""Messages, mentions, the assistant pane and message shortcuts: a session started or continued in a thread."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Actor, DraftHandoff, StartSession, ThreadRef, UserMessage
from bot.schemas import HandoffKind

from . import files
from . import messages as msg
from .commands import PLATFORM, actor_of, strip_mentions
from .output import Renderer
from .places import Place
from .service import SlackService
from .streaming import error_code, retrying

logger = logging.getLogger(__name__)

SUGGESTED_PROMPTS = [
    {
        "title": "Outlook keeps asking for a password",
        "message": "Outlook keeps asking for the password at Contoso",
    },
    {
        "title": "VPN connects but nothing loads",
        "message": "The VPN connects but users can't reach file shares",
    },
    {"title": "Printer stuck", "message": "Print jobs are stuck in the queue on the office printer"},
]
IGNORED_SUBTYPES_OK = (None, "file_share", "thread_broadcast")


class Incoming:
    """What a message or a mention does, after it was acked."""

    def __init__(self, service: SlackService) -> None:
        self.s = service

    async def message(self, body: dict[str, Any], client: AsyncWebClient, bot_user_id: str | None) -> None:
        event = body.get("event") or {}
        user = event.get("user")
        if event.get("bot_id") or event.get("subtype") not in IGNORED_SUBTYPES_OK or not user:
            return
        if user == bot_user_id:
            return
        team = str(body.get("team_id") or event.get("team") or "")
        channel, ts = str(event.get("channel")), str(event.get("ts"))
        thread_ts = event.get("thread_ts")
        mention = event.get("type") == "app_mention"
        direct = str(event.get("channel_type")) == "im"
        found = (
            await self.s.place_of_thread(team_id=team, channel=channel, thread_ts=thread_ts)
            if thread_ts
            else None
        )
        if found is None and not (mention or direct):
            return  # not a session thread, not for us
        # One turn per message: a retried delivery, and the same message arriving as app_mention and as
        # message, carry the same channel and ts.
        if not await self.s.first(f"msg:{team}:{channel}:{ts}"):
            return
        actor = Actor(PLATFORM, team, str(user), await self.s.name_of(client, team, str(user)))
        if found is None and thread_ts and await self._foreign(actor, channel, str(thread_ts)):
            # A channel shared between workspaces: this thread is another workspace's session.
            await Renderer(client, place=Place(channel, str(thread_ts)), actor=actor).ephemeral(
                msg.FOREIGN_THREAD
            )
            return
        text = strip_mentions(str(event.get("text") or ""))
        attachments, skipped = await files.download(
            list(event.get("files") or []), token=client.token or "", origins=self.s.file_origins
        )
        if found is not None:
            session_id, place = found
            for notice in skipped:
                await Renderer(client, place=place, actor=actor).ephemeral(notice)
            command = UserMessage(
                actor=actor, session_id=session_id, text=text, attachments=tuple(attachments)
            )
            await self.s.run(command, client=client, place=place)
            return
        await self.start(
            client, actor=actor, channel=channel, thread_ts=str(thread_ts or ts), text=text,
            attachments=tuple(attachments), skipped=skipped, top_level=False, assistant=direct,
        )  # fmt: skip

    async def _foreign(self, actor: Actor, channel: str, thread_ts: str) -> bool:
        return await self.s.runtime.bindings.held_elsewhere(
            platform=PLATFORM, workspace_id=actor.workspace_id, channel_id=channel, thread_id=thread_ts
        )

    async def start(
        self,
        client: AsyncWebClient,
        *,
        actor: Actor,
        channel: str,
        thread_ts: str | None,
        text: str,
        attachments: tuple[Any, ...] = (),
        skipped: Sequence[str] = (),
        top_level: bool,
        assistant: bool = False,
        flow: str | None = None,
        psa_ticket_id: str | None = None,
    ) -> None:
        """Post the header, bind the thread, and let Claude ask its first questions.

        `skipped` tells of the files left out (refused or not fetched); the engineer is told once the thread
        exists.
        """
        try:
            posted = await retrying(
                lambda: client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=msg.STARTING)
            )
        except SlackApiError as err:
            logger.warning("Slack refused a session's header: %s", error_code(err))
            say = Renderer(client, place=Place(channel, str(thread_ts or "")), actor=actor)
            await say.ephemeral(msg.START_REFUSED.format(error=error_code(err)))
            return
        header_ts = str(posted["ts"])
        thread = header_ts if top_level else str(thread_ts)
        # A DM / assistant-pane thread shows "thinking" as the assistant status, not as a placeholder.
        place = Place(channel, thread, header_ts, assistant=assistant)
        command = StartSession(
            actor=actor,
            text=text,
            attachments=attachments,
            thread=ThreadRef(PLATFORM, actor.workspace_id, channel, thread),
            header_message_id=header_ts,
            thread_extra={"assistant": True} if assistant else {},
            flow=flow,
            psa_ticket_id=psa_ticket_id,
        )
        renderer = await self.s.run(command, client=client, place=place)
        if renderer.session_id is None:  # refused (empty input, unreadable file): no header left behind
            try:
                await client.chat_delete(channel=channel, ts=header_ts)
            except SlackApiError as err:
                logger.info("could not remove an unused header: %s", error_code(err))
            # A missing file may be why it was refused: say so where the refusal was shown.
            place = Place(channel, str(thread_ts or ""))
        for notice in skipped:
            await Renderer(client, place=place, actor=actor).ephemeral(notice)

    async def assistant_started(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        thread = (body.get("event") or {}).get("assistant_thread") or {}
        try:
            await client.api_call(
                "assistant.threads.setSuggestedPrompts",
                json={
                    "channel_id": thread.get("channel_id"),
                    "thread_ts": thread.get("thread_ts"),
                    "title": "What are you troubleshooting?",
                    "prompts": SUGGESTED_PROMPTS,
                },
            )
        except SlackApiError as err:
            logger.info("could not set suggested prompts: %s", error_code(err))

    async def shortcut(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A message shortcut (Resolve or Escalate) on a message of a session's thread."""
        actor = actor_of(body)
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        thread_ts = str(message.get("thread_ts") or message.get("ts") or "")
        kind: HandoffKind = "resolve" if body.get("callback_id") == "fp_resolve" else "escalate"
        found = await self.s.place_of_thread(team_id=actor.workspace_id, channel=channel, thread_ts=thread_ts)
        if found is None:
            await Renderer(client, place=Place(channel, thread_ts), actor=actor).ephemeral(
                msg.NO_SESSION_HERE
            )
            return
        sid, place = found
        await self.s.run(DraftHandoff(actor=actor, session_id=sid, kind=kind), client=client, place=place)
