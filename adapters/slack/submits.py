"""Modal submissions: the triage edit and the handoff confirmed (with who receives an escalation)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import forms
from bot.commands import Actor, Escalate, Resolve, SessionCommand
from bot.errors import FlowPilotError

from . import messages as msg
from . import modals, render
from .commands import PLATFORM, actor_of
from .output import Renderer
from .places import Clicked
from .service import SlackService
from .streaming import error_code, retrying

logger = logging.getLogger(__name__)


class Submits:
    def __init__(self, service: SlackService) -> None:
        self.s = service

    @staticmethod
    def _modal(body: dict[str, Any]) -> tuple[Actor, dict[str, str], dict[str, str | None]] | None:
        view = body.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            uuid.UUID(meta["sid"])
        except (ValueError, KeyError, TypeError):
            return None
        return actor_of(body), meta, modals.submitted(view)

    async def triage(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        parsed = self._modal(body)
        if parsed is None:
            return
        actor, meta, values = parsed
        sid = uuid.UUID(meta["sid"])
        place = await self.s.place_for(sid, actor.workspace_id)
        try:
            view = await self.s.handler.view(actor=actor, session_id=sid)
        except FlowPilotError as err:
            await Renderer(client, place=place, actor=actor).ephemeral(err.message)
            return
        command = forms.triage_edit(values, view, actor=actor, session_id=sid)
        await self.s.run(command, client=client, place=place)

    async def handoff(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        parsed = self._modal(body)
        if parsed is None:
            return
        actor, meta, values = parsed
        sid = uuid.UUID(meta["sid"])
        place = await self.s.place_for(sid, actor.workspace_id)
        fields = modals.handoff_fields(values)
        command: SessionCommand
        if meta.get("kind") == "escalate":
            to_id = values.get("to") or ""
            to = Actor(
                PLATFORM, actor.workspace_id, to_id, await self.s.name_of(client, actor.workspace_id, to_id)
            )
            command = Escalate(
                actor=actor, session_id=sid, to=to, reason=values.get("reason") or "", fields=fields
            )
        else:
            command = Resolve(actor=actor, session_id=sid, fields=fields)
        clicked = Clicked(meta.get("channel", ""), meta.get("ts", "")) if meta.get("ts") else None
        renderer = await self.s.run(command, client=client, place=place)
        if clicked is not None and not renderer.errored:
            await _mark_controls(client, clicked, msg.DRAFT_CONFIRMED.format(by=render.escape(actor.name)))


async def _mark_controls(client: AsyncWebClient, clicked: Clicked, line: str) -> None:
    try:
        current = await client.conversations_replies(channel=clicked.channel, ts=clicked.ts, limit=1)
        blocks = (current.get("messages") or [{}])[0].get("blocks") or []
    except SlackApiError:
        blocks = []
    blocks = render.without_actions(blocks, line)
    try:
        await retrying(
            lambda: client.chat_update(channel=clicked.channel, ts=clicked.ts, text=line, blocks=blocks)
        )
    except SlackApiError as err:
        logger.info("could not mark the draft controls: %s", error_code(err))
