"""The /flowpilot slash command: help, list, start, and the subcommands on the channel's open session."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Actor, DraftHandoff, Pause, Resume, SessionCommand
from bot.errors import FlowPilotError

from . import flows, render
from . import messages as msg
from .commands import parse_slash, slash_actor
from .incoming import Incoming
from .output import Renderer
from .places import Place
from .service import SlackService
from .streaming import retrying

logger = logging.getLogger(__name__)


class Slash:
    def __init__(self, service: SlackService, incoming: Incoming) -> None:
        self.s = service
        self.incoming = incoming

    async def __call__(self, body: dict[str, Any], client: AsyncWebClient, key: str | None) -> None:
        # Slack never retries a slash command, but a signed one replayed within the signature's five
        # minutes (by an attacker or a proxy) must not start a second session: the replay is acked, no more.
        if key is not None and not await self.s.first(key):
            logger.info("ignored a replayed slash command")
            return
        actor = slash_actor(body)
        channel = str(body.get("channel_id") or "")
        sub, rest = parse_slash(str(body.get("text") or ""))
        say = Renderer(client, place=Place(channel, ""), actor=actor)
        if sub == "help":
            await say.ephemeral(msg.HELP)
            return
        if sub in ("start", "ticket"):
            await self._start(client, actor=actor, channel=channel, sub=sub, rest=rest, say=say)
            return
        if sub == "flows":
            await flows.list_flows(self.s, client, actor=actor, channel=channel)
            return
        if sub == "list":
            views = await self.s.handler.list_sessions(actor=actor)
            if not views:
                await say.ephemeral(msg.NO_SESSIONS)
                return
            await retrying(
                lambda: client.chat_postEphemeral(
                    channel=channel,
                    user=actor.user_id,
                    text=msg.YOUR_SESSIONS,
                    blocks=render.session_list(views, {}),
                )
            )
            return
        found = await self.s.latest_open(actor, channel)
        if found is None:
            await say.ephemeral(msg.NO_SESSION_HERE)
            return
        sid, place = found
        if sub == "status":
            try:
                view = await self.s.handler.view(actor=actor, session_id=sid)
            except FlowPilotError as err:
                await say.ephemeral(err.message)
                return
            await Renderer(client, place=place, actor=actor).header(view)
            await retrying(
                lambda: client.chat_postEphemeral(
                    channel=channel,
                    user=actor.user_id,
                    text=render.header_text(view),
                    # A glance, not a second header: buttons live only on the thread's header.
                    blocks=render.header_blocks(view, live=False),
                )
            )
            return
        command: SessionCommand
        if sub == "pause":
            command = Pause(actor=actor, session_id=sid)
        elif sub == "resume":
            command = Resume(actor=actor, session_id=sid)
        else:
            command = DraftHandoff(actor=actor, session_id=sid, kind=sub)  # type: ignore[arg-type]
        await self.s.run(command, client=client, place=place)

    async def _start(
        self, client: AsyncWebClient, *, actor: Actor, channel: str, sub: str, rest: str, say: Renderer
    ) -> None:
        """A new session: from the problem described, or from a PSA ticket (`ticket 12345 [what you see]`)."""
        number: str | None = None
        if sub == "ticket":
            if not rest:
                await say.ephemeral(msg.TICKET_USAGE)
                return
            number, _, after = rest.partition(" ")
            if any(c.isdigit() for c in number):
                rest = after
            else:  # "/flowpilot ticket system is down" is a problem, not a ticket number
                number, rest = None, f"ticket {rest}"
        await self.incoming.start(
            client, actor=actor, channel=channel, thread_ts=None, text=rest.strip(), top_level=True,
            psa_ticket_id=number,
        )  # fmt: skip
