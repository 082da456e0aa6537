"""The app-level methods: apps.connections.open (a Socket Mode URL) and oauth.v2.access (an install)."""

from __future__ import annotations

import uuid
from typing import Any

from fakes.slack.errors import SlackError
from fakes.slack.workspace import Workspace


def connections_open(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    ticket = uuid.uuid4().hex
    ws._tickets.add(ticket)
    url = f"ws://127.0.0.1:{ws.port}/socket?ticket={ticket}&app_id={ws.app_id}"
    return {"ok": True, "url": url}


def oauth_v2_access(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    client_id = str(payload.get("client_id") or "")
    if not client_id or ws._oauth_apps.get(client_id) != payload.get("client_secret"):
        raise SlackError("invalid_client_id" if client_id not in ws._oauth_apps else "bad_client_secret")
    bot_token = ws._oauth_codes.pop(str(payload.get("code") or ""), None)
    if bot_token is None:
        raise SlackError("invalid_code")
    ws.tokens.add(bot_token)
    return {
        "ok": True,
        "app_id": ws.app_id,
        "authed_user": {"id": next(iter(u for u in ws._users if u != ws.bot_user_id), "")},
        "scope": "app_mentions:read,chat:write,commands",
        "token_type": "bot",
        "access_token": bot_token,
        "bot_user_id": ws.bot_user_id,
        "team": {"id": ws.team_id, "name": ws.team_name},
        "enterprise": None,
        "is_enterprise_install": False,
    }
