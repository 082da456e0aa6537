"""The escalation package, sent to the receiving engineer in a DM."""

from __future__ import annotations

from functools import partial

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Actor
from bot.events import StatusChanged

from . import messages as msg
from . import render
from .streaming import retrying


async def send_package(client: AsyncWebClient, event: StatusChanged, to: Actor) -> None:
    """DM the receiving engineer the escalation package, with its Take over button."""
    body = event.outputs.get("markdown") or event.outputs.get("plain") or ""
    dm = (await retrying(lambda: client.conversations_open(users=to.user_id)))["channel"]["id"]
    for blocks in render.escalation_blocks(event.view, by=event.by, body=body, reason=event.reason):
        await retrying(
            partial(client.chat_postMessage, channel=dm, text=msg.ESCALATION_DM_TEXT, blocks=blocks)
        )
