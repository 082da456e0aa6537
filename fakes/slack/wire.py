"""Reading a Web API call as Slack does: its arguments (query, form or JSON body) and its token."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

from aiohttp import web

# Fields Slack accepts as JSON even inside a form body.
_JSON_FIELDS = ("blocks", "attachments", "view", "prompts", "chunks", "metadata", "loading_messages")


def basic_auth(request: web.Request) -> dict[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return {}
    try:
        client_id, _, secret = base64.b64decode(header[len("Basic ") :]).decode().partition(":")
    except ValueError:
        return {}
    return {"client_id": client_id, "client_secret": secret}


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :] if header.startswith("Bearer ") else None


async def read_request(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """The call's arguments (query, then form or JSON body) and its token, parsed as Slack parses them."""
    payload: dict[str, Any] = dict(request.query)
    query_token = payload.pop("token", None)
    token = bearer(request) or query_token
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                body = {}
            if isinstance(body, dict):
                body.pop("token", None)  # Slack only reads tokens from the header when the body is JSON
                payload.update(body)
        else:
            form = await request.post()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            form_token = fields.pop("token", None)
            token = token or form_token
            payload.update(fields)
    for name in _JSON_FIELDS:
        value = payload.get(name)
        if isinstance(value, str) and value.strip().startswith(("[", "{")):
            with contextlib.suppress(json.JSONDecodeError):
                payload[name] = json.loads(value)
    return payload, token
