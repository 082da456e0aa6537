"""The Web API methods the fake answers, by name: each takes the workspace and the call's arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakes.slack import apps, assistant, chat, conversations, streams, views
from fakes.slack.workspace import Workspace

# Called with the workspace's lock held; raises SlackError for an ``ok: false`` answer.
Handler = Callable[[Workspace, dict[str, Any]], dict[str, Any]]

METHODS: dict[str, Handler] = {
    "auth.test": conversations.auth_test,
    "chat.postMessage": chat.post_message,
    "chat.update": chat.update,
    "chat.delete": chat.delete,
    "chat.postEphemeral": chat.post_ephemeral,
    "chat.getPermalink": chat.get_permalink,
    "chat.startStream": streams.start_stream,
    "chat.appendStream": streams.append_stream,
    "chat.stopStream": streams.stop_stream,
    "conversations.open": conversations.conversations_open,
    "conversations.info": conversations.conversations_info,
    "conversations.replies": conversations.conversations_replies,
    "users.info": conversations.users_info,
    "views.open": views.open_view,
    "views.update": views.update_view,
    "views.push": views.push_view,
    "assistant.threads.setStatus": assistant.set_status,
    "assistant.threads.setSuggestedPrompts": assistant.set_suggested_prompts,
    "assistant.threads.setTitle": assistant.set_title,
    "reactions.add": conversations.reactions_add,
    "files.info": conversations.files_info,
    "apps.connections.open": apps.connections_open,
    "oauth.v2.access": apps.oauth_v2_access,
}
