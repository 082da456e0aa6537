"""Teams' activity builders: plain dicts shaped like what Teams posts to the bot's /api/messages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from fakes.connector.defaults import (
    DEFAULT_BOT_ID,
    DEFAULT_BOT_NAME,
    DEFAULT_CHANNEL_ID,
    DEFAULT_GROUP_CHAT_ID,
    DEFAULT_PERSONAL_CONVERSATION_ID,
    DEFAULT_TEAM_ID,
    DEFAULT_TENANT_ID,
    DEFAULT_USER_AAD_ID,
    DEFAULT_USER_ID,
    DEFAULT_USER_NAME,
    FIRST_ACTIVITY_ID,
)

_activity_ids = itertools.count(FIRST_ACTIVITY_ID + 500_000)


def new_activity_id() -> str:
    return str(next(_activity_ids))


def teams_member(
    *,
    user_id: str = DEFAULT_USER_ID,
    name: str = DEFAULT_USER_NAME,
    aad_object_id: str = DEFAULT_USER_AAD_ID,
    email: str | None = "ada@contoso.example",
    tenant_id: str = DEFAULT_TENANT_ID,
) -> dict[str, Any]:
    """A TeamsChannelAccount as the members endpoints return it."""
    given_name, _, surname = name.partition(" ")
    return {
        "id": user_id,
        "name": name,
        "aadObjectId": aad_object_id,
        "givenName": given_name,
        "surname": surname,
        "email": email,
        "userPrincipalName": email,
        "tenantId": tenant_id,
        "userRole": "user",
    }


def _envelope(
    activity_type: str,
    *,
    service_url: str,
    conversation: dict[str, Any],
    channel_data: dict[str, Any],
    user_id: str,
    user_name: str,
    aad_object_id: str,
    bot_id: str,
    bot_name: str,
    activity_id: str | None,
    locale: str,
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": activity_type,
        "id": activity_id or new_activity_id(),
        "timestamp": now,
        "localTimestamp": now,
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": user_id, "name": user_name, "aadObjectId": aad_object_id},
        "conversation": conversation,
        "recipient": {"id": bot_id, "name": bot_name},
        "channelData": channel_data,
        "locale": locale,
        "entities": [{"type": "clientInfo", "locale": locale, "country": "GB", "platform": "Web"}],
    }


def _conversation(
    conversation_type: str, conversation_id: str, tenant_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    conversation: dict[str, Any] = {
        "conversationType": conversation_type,
        "tenantId": tenant_id,
        "id": conversation_id,
    }
    if conversation_type != "personal":
        conversation["isGroup"] = True
    return conversation, {"tenant": {"id": tenant_id}}


def personal_message(
    text: str,
    *,
    service_url: str,
    user_id: str = DEFAULT_USER_ID,
    user_name: str = DEFAULT_USER_NAME,
    aad_object_id: str = DEFAULT_USER_AAD_ID,
    tenant_id: str = DEFAULT_TENANT_ID,
    conversation_id: str = DEFAULT_PERSONAL_CONVERSATION_ID,
    bot_id: str = DEFAULT_BOT_ID,
    bot_name: str = DEFAULT_BOT_NAME,
    activity_id: str | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """A message in the user's 1:1 chat with the bot."""
    conversation, channel_data = _conversation("personal", conversation_id, tenant_id)
    activity = _envelope(
        "message",
        service_url=service_url,
        conversation=conversation,
        channel_data=channel_data,
        user_id=user_id,
        user_name=user_name,
        aad_object_id=aad_object_id,
        bot_id=bot_id,
        bot_name=bot_name,
        activity_id=activity_id,
        locale=locale,
    )
    activity.update({"text": text, "textFormat": "plain"})
    return activity


def channel_message(
    text: str,
    *,
    service_url: str,
    team_id: str = DEFAULT_TEAM_ID,
    channel_id: str = DEFAULT_CHANNEL_ID,
    mention_bot: bool = True,
    reply_to_id: str | None = None,
    user_id: str = DEFAULT_USER_ID,
    user_name: str = DEFAULT_USER_NAME,
    aad_object_id: str = DEFAULT_USER_AAD_ID,
    tenant_id: str = DEFAULT_TENANT_ID,
    bot_id: str = DEFAULT_BOT_ID,
    bot_name: str = DEFAULT_BOT_NAME,
    activity_id: str | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """A channel post (or, with ``reply_to_id``, a reply in a thread) that @mentions the bot."""
    activity_id = activity_id or new_activity_id()
    # Teams names a channel thread after its root post: "<channel>;messageid=<root id>".
    thread_root = reply_to_id or activity_id
    conversation, channel_data = _conversation("channel", f"{channel_id};messageid={thread_root}", tenant_id)
    channel_data.update(
        {
            "teamsChannelId": channel_id,
            "teamsTeamId": team_id,
            "channel": {"id": channel_id},
            "team": {"id": team_id},
        }
    )
    activity = _envelope(
        "message",
        service_url=service_url,
        conversation=conversation,
        channel_data=channel_data,
        user_id=user_id,
        user_name=user_name,
        aad_object_id=aad_object_id,
        bot_id=bot_id,
        bot_name=bot_name,
        activity_id=activity_id,
        locale=locale,
    )
    if mention_bot:
        mention_text = f"<at>{bot_name}</at>"
        text = f"{mention_text} {text}"
        activity["entities"].insert(
            0, {"type": "mention", "text": mention_text, "mentioned": {"id": bot_id, "name": bot_name}}
        )
    activity.update({"text": text, "textFormat": "plain"})
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity


def group_chat_message(
    text: str,
    *,
    service_url: str,
    conversation_id: str = DEFAULT_GROUP_CHAT_ID,
    mention_bot: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """A group chat message; built like a personal message, then re-addressed."""
    activity = personal_message(text, service_url=service_url, **overrides)
    conversation, _ = _conversation("groupChat", conversation_id, activity["conversation"]["tenantId"])
    activity["conversation"] = conversation
    if mention_bot:
        bot = activity["recipient"]
        mention_text = f"<at>{bot['name']}</at>"
        activity["text"] = f"{mention_text} {text}"
        activity["entities"].insert(0, {"type": "mention", "text": mention_text, "mentioned": dict(bot)})
    return activity


def card_submit(
    value: dict[str, Any],
    *,
    service_url: str,
    reply_to_id: str | None = None,
    conversation_type: str = "personal",
    **overrides: Any,
) -> dict[str, Any]:
    """What an Adaptive Card ``Action.Submit`` posts: a message with ``value`` and no text."""
    activity = _addressed(
        "message", service_url=service_url, conversation_type=conversation_type, **overrides
    )
    activity["value"] = value
    activity["channelData"]["source"] = {"name": "message"}
    if reply_to_id:
        activity["replyToId"] = reply_to_id
        activity["channelData"]["legacy"] = {"replyToId": reply_to_id}
    return activity


def invoke(
    name: str,
    value: dict[str, Any],
    *,
    service_url: str,
    reply_to_id: str | None = None,
    conversation_type: str = "personal",
    **overrides: Any,
) -> dict[str, Any]:
    """An invoke such as ``adaptiveCard/action``, ``task/fetch`` or ``task/submit``."""
    activity = _addressed("invoke", service_url=service_url, conversation_type=conversation_type, **overrides)
    activity.update({"name": name, "value": value})
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity


def adaptive_card_action(verb: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``value`` of an ``adaptiveCard/action`` invoke sent by ``Action.Execute``."""
    return {"action": {"type": "Action.Execute", "verb": verb, "data": data or {}}, "trigger": "manual"}


def conversation_update(
    *,
    service_url: str,
    members_added: list[dict[str, Any]] | None = None,
    members_removed: list[dict[str, Any]] | None = None,
    conversation_type: str = "personal",
    event_type: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A conversationUpdate; by default the bot being installed in a personal chat."""
    activity = _addressed(
        "conversationUpdate", service_url=service_url, conversation_type=conversation_type, **overrides
    )
    if members_added is None and members_removed is None:
        members_added = [dict(activity["recipient"])]
    if members_added is not None:
        activity["membersAdded"] = members_added
    if members_removed is not None:
        activity["membersRemoved"] = members_removed
    if event_type:
        activity["channelData"]["eventType"] = event_type
    return activity


def _addressed(
    activity_type: str, *, service_url: str, conversation_type: str, **overrides: Any
) -> dict[str, Any]:
    """A message-shaped activity in a personal chat or channel, retyped as ``activity_type``."""
    if conversation_type == "personal":
        activity = personal_message("", service_url=service_url, **overrides)
    elif conversation_type == "channel":
        activity = channel_message("", service_url=service_url, mention_bot=False, **overrides)
    elif conversation_type == "groupChat":
        activity = group_chat_message("", service_url=service_url, mention_bot=False, **overrides)
    else:
        raise ValueError(f"Unknown conversation type {conversation_type!r}")
    for key in ("text", "textFormat"):
        activity.pop(key, None)
    activity["type"] = activity_type
    return activity
