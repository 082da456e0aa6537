"""Who a mention or a people picker names: their Entra object id and name, asked of Teams."""

from __future__ import annotations

import dataclasses
import logging

from microsoft_agents.hosting.core import TurnContext

from bot.commands import Escalate

from .guard import safe_id

logger = logging.getLogger(__name__)


async def member(context: TurnContext, member_id: str) -> tuple[str, str]:
    """A member's Entra object id and name (a mention or a people picker carries only one id): ask Teams."""
    from microsoft_agents.hosting.core.connector import ConnectorClientBase
    from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

    if not safe_id(member_id):  # it came from a mention or card data: never a URL path as it is
        logger.warning("did not look up a Teams member whose id is not a valid id")
        return member_id, ""
    client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    if isinstance(client, TeamsConnectorClient) and context.activity.conversation:
        try:
            found = await client.get_conversation_member(context.activity.conversation.id, member_id)
            return found.aad_object_id or member_id, found.name or ""
        except Exception as err:  # someone outside this conversation keeps the id they came with
            logger.info("could not look a member up (%s)", type(err).__name__)
    return member_id, ""


async def named(context: TurnContext, command: Escalate) -> Escalate:
    """The receiving engineer with a display name, so the header and the DM can say who it is."""
    to = command.to
    if to is None or to.display_name:
        return command
    aad_id, name = await member(context, to.user_id)
    return dataclasses.replace(command, to=dataclasses.replace(to, user_id=aad_id, display_name=name))
