"""views.open, views.push and views.update: modals and App Home, checked against Block Kit's limits."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from fakes.slack.blockkit import view_errors
from fakes.slack.errors import SlackError, invalid_arguments
from fakes.slack.workspace import Workspace


def open_view(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    _use_trigger(ws, payload)
    view = _checked_view(ws, payload)
    view_id = ws._new_id("V")
    return _save_view(ws, view, view_id=view_id, root_view_id=view_id, previous=None)


def push_view(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    _use_trigger(ws, payload)
    view = _checked_view(ws, payload)
    previous = next(reversed(ws._views), None)
    root = ws._views[previous]["root_view_id"] if previous else None
    view_id = ws._new_id("V")
    return _save_view(ws, view, view_id=view_id, root_view_id=root or view_id, previous=previous)


def update_view(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("view_id"):
        current = ws._views.get(payload["view_id"])
    else:
        external_id = payload.get("external_id")
        current = next(
            (v for v in ws._views.values() if external_id and v["external_id"] == external_id), None
        )
    if current is None:
        raise SlackError("not_found")
    if payload.get("hash") and payload["hash"] != current["hash"]:
        raise SlackError("hash_conflict")
    view = _checked_view(ws, payload)
    return _save_view(
        ws,
        view,
        view_id=current["id"],
        root_view_id=current["root_view_id"],
        previous=current["previous_view_id"],
    )


def _checked_view(ws: Workspace, payload: dict[str, Any]) -> dict[str, Any]:
    view = payload.get("view")
    errors = ["invalid view JSON"] if isinstance(view, str) else view_errors(view)
    if errors:
        raise invalid_arguments(*errors)
    return view  # type: ignore[return-value]


def _use_trigger(ws: Workspace, payload: dict[str, Any]) -> None:
    trigger_id = payload.get("trigger_id")
    if not trigger_id:
        raise invalid_arguments("missing required field: trigger_id")
    if trigger_id in ws._used_triggers:
        raise SlackError("exchanged_trigger_id")
    ws._used_triggers.add(trigger_id)


def _save_view(
    ws: Workspace, view: dict[str, Any], *, view_id: str, root_view_id: str, previous: str | None
) -> dict[str, Any]:
    saved = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": view.get("blocks", []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "previous_view_id": previous,
        "root_view_id": root_view_id,
        "app_id": ws.app_id,
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }
    ws._views[view_id] = saved
    return {"ok": True, "view": copy.deepcopy(saved)}
