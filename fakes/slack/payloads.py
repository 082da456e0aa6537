"""What Slack sends *to* an app: request signatures and the payloads of events, commands and interactions."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

DEFAULT_APP_ID = "A0FAKEAPP1"


def signed_headers(
    body: bytes,
    *,
    secret: str,
    timestamp: int | None = None,
    content_type: str | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """Headers Slack sends with ``body``: a v0 signature, and retry headers when ``retry_num`` is given."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if content_type is None:
        is_json = body.lstrip().startswith(b"{")
        content_type = "application/json" if is_json else "application/x-www-form-urlencoded"
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


def new_trigger_id() -> str:
    """A fresh trigger_id shaped like Slack's."""
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str,
    bot_user_id: str = "U0FAKEBOT1",
    api_app_id: str = DEFAULT_APP_ID,
    event_id: str | None = None,
    event_time: int | None = None,
) -> dict[str, Any]:
    """The Events API envelope around ``event`` (the Socket Mode ``events_api`` payload as well)."""
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def event_callback_body(event: dict[str, Any], **kwargs: Any) -> bytes:
    """JSON body of :func:`event_callback` as Slack POSTs it."""
    return json.dumps(event_callback(event, **kwargs)).encode()


def slash_command_payload(
    command: str,
    text: str,
    *,
    user_id: str,
    channel_id: str,
    team_id: str,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/commands/T0/1/fake",
    api_app_id: str = DEFAULT_APP_ID,
) -> dict[str, str]:
    """The fields of a slash command (the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "team_domain": "fake-team",
        "channel_id": channel_id,
        "channel_name": "directmessage" if channel_id.startswith("D") else "general",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }


def slash_command_body(command: str, text: str, **kwargs: Any) -> bytes:
    """Form body of :func:`slash_command_payload` as Slack POSTs it."""
    return urlencode(slash_command_payload(command, text, **kwargs)).encode()


def block_actions_payload(
    *,
    action_id: str,
    user_id: str,
    team_id: str,
    value: str | None = None,
    block_id: str = "fake-block",
    action_type: str = "button",
    channel_id: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0/1/fake",
    api_app_id: str = DEFAULT_APP_ID,
    **action_fields: Any,
) -> dict[str, Any]:
    """A ``block_actions`` payload for one action on ``message`` (in ``channel_id``) or on ``view``.

    ``action_fields`` go into the action itself (e.g. ``selected_option={...}``).
    """
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
        **action_fields,
    }
    if value is not None:
        action["value"] = value
    if action_type == "button":
        action.setdefault("text", {"type": "plain_text", "text": "Button", "emoji": True})
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": "fake-team"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [action],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
    else:
        message = message or {}
        container = {
            "type": "message",
            "message_ts": message.get("ts"),
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        payload.update(
            container=container,
            channel={"id": channel_id, "name": "general"},
            message=message,
            state={"values": {}},
            response_url=response_url,
        )
    return payload


def view_submission_payload(
    *,
    user_id: str,
    team_id: str,
    values: dict[str, dict[str, Any]],
    view: dict[str, Any] | None = None,
    callback_id: str = "",
    private_metadata: str = "",
    trigger_id: str | None = None,
    api_app_id: str = DEFAULT_APP_ID,
) -> dict[str, Any]:
    """A ``view_submission`` payload; pass ``view`` (e.g. ``fake.view(id)``) or a callback_id and metadata.

    ``values`` is ``state.values``: ``{block_id: {action_id: {"type": ..., "value": ...}}}``.
    """
    if view is None:
        view_id = f"V{uuid.uuid4().hex[:10].upper()}"
        view = {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "blocks": [],
            "title": {"type": "plain_text", "text": "Modal"},
            "hash": f"{int(time.time())}.fake",
            "root_view_id": view_id,
            "previous_view_id": None,
            "external_id": "",
            "app_id": api_app_id,
        }
    view = {**copy.deepcopy(view), "state": {"values": values}}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-team"},
        "user": _user(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "trigger_id": trigger_id or new_trigger_id(),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def message_shortcut_payload(
    *,
    callback_id: str,
    message: dict[str, Any],
    channel_id: str,
    user_id: str,
    team_id: str,
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/app/T0/1/fake",
) -> dict[str, Any]:
    """A message shortcut (``message_action``) payload on ``message``."""
    return {
        "type": "message_action",
        "token": "fake-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": "fake-team"},
        "user": _user(user_id, team_id),
        "channel": {"id": channel_id, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or new_trigger_id(),
        "response_url": response_url,
        "message_ts": message.get("ts"),
        "message": message,
    }


def interactive_body(payload: dict[str, Any]) -> bytes:
    """Interactivity is form-encoded: ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_actions_body(**kwargs: Any) -> bytes:
    """Form body of :func:`block_actions_payload`."""
    return interactive_body(block_actions_payload(**kwargs))


def view_submission_body(**kwargs: Any) -> bytes:
    """Form body of :func:`view_submission_payload`."""
    return interactive_body(view_submission_payload(**kwargs))


def message_shortcut_body(**kwargs: Any) -> bytes:
    """Form body of :func:`message_shortcut_payload`."""
    return interactive_body(message_shortcut_payload(**kwargs))
