"""assistant.threads.*: the status, suggested prompts and title of an assistant thread."""

from __future__ import annotations

from typing import Any

from fakes.slack.errors import invalid_arguments
from fakes.slack.workspace import Workspace


def set_status(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    thread = _assistant_thread(ws, payload)
    thread["status"] = payload.get("status", "")
    if payload.get("loading_messages") is not None:
        thread["loading_messages"] = payload["loading_messages"]
    return {"ok": True}


def set_suggested_prompts(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    thread = _assistant_thread(ws, payload)
    prompts = payload.get("prompts")
    if (
        not isinstance(prompts, list)
        or not 1 <= len(prompts) <= 4
        or not all(isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts)
    ):
        raise invalid_arguments("prompts must hold 1 to 4 items, each with a title and a message")
    thread["prompts"] = prompts
    if payload.get("title") is not None:
        thread["prompts_title"] = payload["title"]
    return {"ok": True}


def set_title(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    thread = _assistant_thread(ws, payload)
    thread["title"] = payload.get("title", "")
    return {"ok": True}


def _assistant_thread(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ws._channel(payload.get("channel_id"))["id"]
    if not payload.get("thread_ts"):
        raise invalid_arguments("missing required field: thread_ts")
    return ws._assistant[(channel, payload["thread_ts"])]
