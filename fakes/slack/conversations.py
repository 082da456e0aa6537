"""Reading the workspace: auth.test, conversations.*, users.info and files.info; and reactions.add."""

from __future__ import annotations

import base64
import copy
from typing import Any

from fakes.slack.errors import SlackError
from fakes.slack.workspace import Workspace


def auth_test(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": "https://fake-team.slack.com/",
        "team": ws.team_name,
        "user": ws._users[ws.bot_user_id]["name"],
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def conversations_open(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("channel"):
        info = ws._channel(payload["channel"])
    else:
        users = [u for u in str(payload.get("users") or "").split(",") if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        unknown = [u for u in users if u not in ws._users]
        if unknown:
            raise SlackError("user_not_found")
        info = ws._channels[ws._open_dm(users)]
    full = str(payload.get("return_im")).lower() in ("1", "true")
    return {"ok": True, "channel": copy.deepcopy(info) if full else {"id": info["id"]}}


def conversations_info(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "channel": copy.deepcopy(ws._channel(payload.get("channel")))}


def conversations_replies(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel"))["id"]
    ts = payload.get("ts")
    parent = ws._messages.get((channel, ts)) if isinstance(ts, str) else None
    if parent is None or parent.deleted:
        raise SlackError("thread_not_found")
    thread = [
        m.data
        for m in sorted(ws._messages.values(), key=lambda m: m.data["ts"])
        if m.channel == channel and not m.deleted and (m.data["ts"] == ts or m.data.get("thread_ts") == ts)
    ]
    limit = int(payload.get("limit") or 1000)
    cursor = payload.get("cursor")
    start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
    page = thread[start : start + limit]
    has_more = start + limit < len(thread)
    next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if has_more else ""
    return {
        "ok": True,
        "messages": copy.deepcopy(page),
        "has_more": has_more,
        "response_metadata": {"next_cursor": next_cursor},
    }


def users_info(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    user = ws._users.get(payload.get("user") or "")
    if user is None:
        raise SlackError("user_not_found")
    return {"ok": True, "user": copy.deepcopy(user)}


def files_info(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    stored = ws._files.get(payload.get("file") or "")
    if stored is None:
        raise SlackError("file_not_found")
    return {
        "ok": True,
        "file": copy.deepcopy(stored[0]),
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


def reactions_add(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel"))["id"]
    stored = ws._message(channel, payload.get("timestamp"))
    name = str(payload.get("name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    reactions = stored.data.setdefault("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if reaction is None:
        reactions.append({"name": name, "users": [ws.bot_user_id], "count": 1})
    elif ws.bot_user_id in reaction["users"]:
        raise SlackError("already_reacted")
    else:
        reaction["users"].append(ws.bot_user_id)
        reaction["count"] += 1
    return {"ok": True}
