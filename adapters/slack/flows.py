"""Flows in Slack: `/flowpilot flows` lists the workspace's flows, each with Start; Start opens a session on
it in the channel (the header message, then the flow's first question in its thread)."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Actor
from bot.flows.library import FlowRef
from bot.flows.model import SLUG

from . import messages as msg
from . import render
from .commands import click_of
from .incoming import Incoming
from .service import SlackService
from .streaming import retrying

START_FLOW = "fp_start_flow_"  # + the row's index: action ids are unique within a message
MAX_LISTED = 45  # Block Kit's 50 blocks, with room for the heading and the "more" line


def flow_list(refs: list[FlowRef]) -> list[render.Block]:
    blocks: list[render.Block] = [render.section(msg.FLOWS_HEADING)]
    for i, ref in enumerate(refs[:MAX_LISTED]):
        text = f"*{render.escape(ref.title)}*\n`{ref.slug}`"
        blocks.append(render.section(text, accessory=render.button("Start", f"{START_FLOW}{i}", ref.slug)))
    if len(refs) > MAX_LISTED:
        blocks.append(render.context(f"…and {len(refs) - MAX_LISTED} more"))
    return blocks


async def list_flows(service: SlackService, client: AsyncWebClient, *, actor: Actor, channel: str) -> None:
    refs = await service.handler.flows(actor=actor)
    blocks = flow_list(refs) if refs else [render.section(msg.NO_FLOWS)]
    await retrying(
        lambda: client.chat_postEphemeral(
            channel=channel, user=actor.user_id, text=msg.FLOWS_HEADING, blocks=blocks
        )
    )


async def start_clicked(
    service: SlackService, incoming: Incoming, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Start pressed beside a flow: a new session on it in the channel the list was shown in."""
    click = click_of(body)
    if not await service.first(click.dedupe_key, within=click.double_click_window):
        return  # a double click would start two sessions
    slug = click.value
    if not re.match(SLUG, slug) or not click.clicked.channel:
        return
    await incoming.start(
        client,
        actor=click.actor,
        channel=click.clicked.channel,
        thread_ts=None,
        text=slug,
        top_level=True,
        flow=slug,
    )
