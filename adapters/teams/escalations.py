"""An escalation package sent to the receiving engineer in a personal chat the bot opens, with Take over."""

from __future__ import annotations

import logging
from typing import Any

from microsoft_agents.activity import ChannelAccount, ConversationParameters
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import AgentApplication, ClaimsIdentity
from microsoft_agents.hosting.core.app import CreateConversationOptions

from bot.commands import Actor
from bot.events import StatusChanged

from . import cards
from .delivery import Delivery
from .outbox import Outbox, card_activity

logger = logging.getLogger(__name__)


class Escalations:
    def __init__(
        self, agent: AgentApplication[Any], adapter: CloudAdapter, delivery: Delivery, *, app_id: str
    ) -> None:
        self._agent = agent
        self._adapter = adapter
        self._delivery = delivery
        self._app_id = app_id

    async def send(self, outbox: Outbox, to: Actor, event: StatusChanged) -> bool:
        """Open a personal chat with the receiving engineer and post the package with Take over."""
        activity = outbox.context.activity
        bot_id = activity.recipient.id if activity.recipient else ""
        app_id = self._app_id or (bot_id or "").removeprefix("28:")
        options = CreateConversationOptions(
            identity=ClaimsIdentity({"aud": app_id, "appid": app_id}),
            channel_id="msteams",
            service_url=activity.service_url or "",
            parameters=ConversationParameters(
                is_group=False,
                bot=ChannelAccount(id=f"28:{app_id}"),
                members=[ChannelAccount(id=to.user_id)],
                tenant_id=to.workspace_id,
                channel_data={"tenant": {"id": to.workspace_id}},
            ),
            store_conversation=True,
        )
        package = event.outputs.get("markdown") or event.outputs.get("plain") or ""
        content = cards.escalation_package(
            event.view, {"text": package}, sender=event.by, reason=event.reason or ""
        )
        proactive = self._agent.proactive
        try:
            chat = await self._delivery.call(
                to.user_id, lambda: proactive.create_conversation(self._adapter, options)
            )
            chat_id = chat.conversation_reference.conversation.id
            await self._delivery.call(
                chat_id, lambda: proactive.send_activity(self._adapter, chat, card_activity(content))
            )
        except Exception:
            logger.exception("could not send the escalation of session %s", event.session_id)
            return False
        return True
