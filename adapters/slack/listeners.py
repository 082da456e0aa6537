"""Bolt listeners: ack at once, then do the work in the background (never wait on Claude before the ack).

What each kind of input does lives beside this: incoming (messages, mentions, shortcuts), slash, clicks and
submits (modals).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from . import flows, modals
from .clicks import on_click
from .commands import slash_key
from .incoming import Incoming
from .service import SlackService
from .slash import Slash
from .submits import Submits


def register(app: AsyncApp, service: SlackService) -> None:
    incoming = Incoming(service)
    slash = Slash(service, incoming)
    submits = Submits(service)

    @app.command(re.compile(r"^/flowpilot"))
    async def on_command(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, request: AsyncBoltRequest
    ) -> None:
        await ack()
        key = slash_key(body, request.headers)
        service.spawn(slash(body, client, key), name="slash", reply_to=(client, body))

    @app.event("app_mention")
    async def on_mention(ack: Any, body: dict[str, Any], client: AsyncWebClient, context: Any) -> None:
        await ack()
        work = incoming.message(body, client, context.get("bot_user_id"))
        service.spawn(work, name="mention", reply_to=(client, body))

    @app.event("message")
    async def on_message(ack: Any, body: dict[str, Any], client: AsyncWebClient, context: Any) -> None:
        await ack()
        work = incoming.message(body, client, context.get("bot_user_id"))
        service.spawn(work, name="message", reply_to=(client, body))

    @app.event("assistant_thread_started")
    async def on_assistant(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(incoming.assistant_started(body, client), name="assistant")

    @app.event("assistant_thread_context_changed")
    async def on_assistant_context(ack: Any) -> None:
        await ack()

    @app.action(
        re.compile(f"^{flows.START_FLOW}")
    )  # before the general listener: it starts a session, it has none yet
    async def on_start_flow(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(flows.start_clicked(service, incoming, body, client), name="start-flow")

    @app.action(re.compile(r"^fp_"))
    async def on_action(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(on_click(service, body, client), name="click", reply_to=(client, body))

    @app.view(modals.TRIAGE_CALLBACK)
    async def on_triage(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(submits.triage(body, client), name="triage-modal")

    @app.view(modals.HANDOFF_CALLBACK)
    async def on_handoff(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(submits.handoff(body, client), name="handoff-modal")

    @app.shortcut(re.compile(r"^fp_(resolve|escalate)$"))
    async def on_shortcut(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        service.spawn(incoming.shortcut(body, client), name="shortcut")
