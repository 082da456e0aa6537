"""One conversation's TurnContext behind the delivery limits: send, update and type, by activity id."""

from __future__ import annotations

from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import CardFactory, MessageFactory, TurnContext

from .delivery import Delivery


def card_activity(content: dict[str, Any]) -> Activity:
    activity: Activity = MessageFactory.attachment(CardFactory.adaptive_card(content))
    return activity


class Outbox:
    def __init__(self, context: TurnContext, delivery: Delivery) -> None:
        self.context = context
        self._delivery = delivery
        conversation = context.activity.conversation
        self.conversation_id = conversation.id if conversation else ""
        # The stored form of this conversation (claims and reference), for updates after this run.
        self.reference: dict[str, Any] = {}
        self.personal = (conversation.conversation_type if conversation else None) in (None, "personal")

    async def send(self, activity: Activity) -> str:
        response = await self._delivery.call(
            self.conversation_id, lambda: self.context.send_activity(activity.model_copy(deep=True))
        )
        return (response.id if response else None) or ""

    async def send_card(self, content: dict[str, Any]) -> str:
        return await self.send(card_activity(content))

    async def update_card(self, activity_id: str, content: dict[str, Any]) -> None:
        activity = card_activity(content)
        activity.id = activity_id

        async def put() -> Any:
            return await self.context.update_activity(activity.model_copy(deep=True))

        await self._delivery.call(self.conversation_id, put)

    async def typing(self) -> None:
        await self.send(Activity(type=ActivityTypes.typing))
