"""chat.startStream, chat.appendStream and chat.stopStream: a message the app writes as it goes."""

from __future__ import annotations

import copy
from typing import Any

from fakes.slack.blockkit import STREAM_MAX_MARKDOWN
from fakes.slack.chat import check_message
from fakes.slack.errors import SlackError, invalid_arguments
from fakes.slack.workspace import StoredMessage, Workspace


def start_stream(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    info = ws._channel(payload.get("channel"))
    if ws._streaming_error:
        raise SlackError(ws._streaming_error)
    if not payload.get("thread_ts"):
        raise invalid_arguments("missing required field: thread_ts")
    if not info["is_im"]:
        if not payload.get("recipient_user_id"):
            raise SlackError("missing_recipient_user_id")
        if not payload.get("recipient_team_id"):
            raise SlackError("missing_recipient_team_id")
    text, chunks = _stream_text(ws, payload)
    data = ws._bot_message(text, None, ws._next_ts())
    stored = ws._store(info["id"], data, thread_ts=payload["thread_ts"])
    stored.streaming = True
    stored.chunks.extend(chunks)
    return {"ok": True, "channel": info["id"], "ts": data["ts"]}


def append_stream(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    stored = _streaming_message(ws, payload)
    text, chunks = _stream_text(ws, payload)
    if not text and not chunks:
        raise SlackError("no_text")
    stored.data["text"] += text
    stored.chunks.extend(chunks)
    stored.snapshot()
    return {"ok": True, "channel": stored.channel, "ts": stored.data["ts"]}


def stop_stream(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    stored = _streaming_message(ws, payload)
    text, chunks = _stream_text(ws, payload)
    if payload.get("blocks") is not None:
        check_message({"blocks": payload["blocks"]}, require_content=False)
        stored.data["blocks"] = payload["blocks"]
    if payload.get("metadata") is not None:
        stored.data["metadata"] = payload["metadata"]
    stored.data["text"] += text
    stored.chunks.extend(chunks)
    stored.streaming = False
    stored.snapshot()
    return {
        "ok": True,
        "channel": stored.channel,
        "ts": stored.data["ts"],
        "message": copy.deepcopy(stored.data),
    }


def _stream_text(ws: Workspace, payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The markdown a stream call adds, from ``markdown_text`` and ``markdown_text`` chunks."""
    chunks = payload.get("chunks") or []
    if not isinstance(chunks, list) or not all(isinstance(c, dict) and c.get("type") for c in chunks):
        raise SlackError("invalid_chunks")
    text = (payload.get("markdown_text") or "") + "".join(
        c.get("text", "") for c in chunks if c["type"] == "markdown_text"
    )
    if len(text) > STREAM_MAX_MARKDOWN:
        raise SlackError("msg_too_long")
    return text, chunks


def _streaming_message(ws: Workspace, payload: dict[str, Any]) -> StoredMessage:
    channel = ws._channel(payload.get("channel"))["id"]
    stored = ws._message(channel, payload.get("ts"))
    if not stored.streaming:
        raise SlackError("message_not_in_streaming_state")
    return stored
