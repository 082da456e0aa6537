"""The chat.* methods that post, edit, delete and link messages (streams are in `streams`)."""

from __future__ import annotations

import copy
from typing import Any

from fakes.slack.blockkit import MESSAGE_MAX_TEXT, message_block_errors
from fakes.slack.errors import SlackError
from fakes.slack.workspace import Workspace


def post_message(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel"))["id"]
    check_message(payload)
    text = payload.get("text") or payload.get("markdown_text") or ""
    data = ws._bot_message(text, payload.get("blocks"), ws._next_ts())
    if payload.get("metadata") is not None:
        data["metadata"] = payload["metadata"]
    stored = ws._store(channel, data, thread_ts=payload.get("thread_ts"))
    return {"ok": True, "channel": channel, "ts": data["ts"], "message": copy.deepcopy(stored.data)}


def update(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel"))["id"]
    stored = ws._message(channel, payload.get("ts"))
    if stored.data.get("bot_id") != ws.bot_id:
        raise SlackError("cant_update_message")
    check_message(payload, require_content=False)
    if payload.get("text") is not None:
        stored.data["text"] = payload["text"]
    if payload.get("blocks") is not None:
        stored.data["blocks"] = payload["blocks"]
    stored.data["edited"] = {"user": ws.bot_user_id, "ts": ws._next_ts()}
    stored.snapshot()
    return {
        "ok": True,
        "channel": channel,
        "ts": stored.data["ts"],
        "text": stored.data["text"],
        "message": copy.deepcopy(stored.data),
    }


def delete(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel"))["id"]
    stored = ws._message(channel, payload.get("ts"))
    if stored.data.get("bot_id") != ws.bot_id:
        raise SlackError("cant_delete_message")
    stored.deleted = True
    return {"ok": True, "channel": channel, "ts": stored.data["ts"]}


def post_ephemeral(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel"))["id"]
    if payload.get("user") not in ws._users:
        raise SlackError("user_not_in_channel")
    check_message(payload)
    ts = ws._next_ts()
    ws._ephemerals[channel].append(
        {
            "user": payload["user"],
            "text": payload.get("text", ""),
            "blocks": payload.get("blocks"),
            "thread_ts": payload.get("thread_ts"),
            "message_ts": ts,
        }
    )
    return {"ok": True, "message_ts": ts}


def get_permalink(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel"))["id"]
    stored = ws._message(channel, payload.get("message_ts"))
    ts = stored.data["ts"]
    permalink = f"https://fake-team.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    thread_ts = stored.data.get("thread_ts")
    if thread_ts and thread_ts != ts:
        permalink += f"?thread_ts={thread_ts}&cid={channel}"
    return {"ok": True, "channel": channel, "permalink": permalink}


def check_message(payload: dict[str, Any], *, require_content: bool = True) -> None:
    text = payload.get("text") if payload.get("text") is not None else payload.get("markdown_text")
    blocks = payload.get("blocks")
    if require_content and not text and not blocks and not payload.get("attachments"):
        raise SlackError("no_text")
    if isinstance(text, str) and len(text) > MESSAGE_MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if isinstance(blocks, str):
            raise SlackError("invalid_blocks_format")
        errors = message_block_errors(blocks)
        if errors:
            raise SlackError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
