"""Talking to a conversation after Teams got its HTTP answer: continued conversations and tracked work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.app.proactive import Conversation

from .delivery import Delivery
from .outbox import card_activity

Callback = Callable[[TurnContext], Awaitable[None]]


class Conversations:
    def __init__(self, adapter: CloudAdapter, delivery: Delivery) -> None:
        self.adapter = adapter
        self.delivery = delivery
        self._tasks: set[asyncio.Task[None]] = set()

    async def resume(self, conversation: Conversation, callback: Callback) -> None:
        """Run `callback` in a conversation again (the SDK's continued conversation)."""
        identity = Conversation.identity_from_claims(conversation.claims)
        continuation = conversation.conversation_reference.get_continuation_activity()
        await self.adapter.continue_conversation_with_claims(identity, continuation, callback)

    async def resume_stored(self, stored: dict[str, Any], callback: Callback) -> None:
        """The same for a conversation kept on a binding (its stored form)."""
        await self.resume(Conversation.from_json_to_store_item(stored), callback)

    def track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run after the HTTP answer; tracked so shutdown can wait for it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace: float) -> None:
        """Let tracked work finish (shutdown), then cancel what is left."""
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

    async def send_now(self, context: TurnContext, content: dict[str, Any]) -> None:
        """A card in the conversation of the activity being answered, within the delivery limits."""
        conversation_id = context.activity.conversation.id if context.activity.conversation else ""
        await self.delivery.call(conversation_id, lambda: context.send_activity(card_activity(content)))
