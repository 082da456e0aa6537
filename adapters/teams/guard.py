"""What /api/messages checks before the Agents SDK reads a body: its JSON shape, and every id that becomes a URL.

The SDK builds connector URLs by pasting `serviceUrl`, `conversation.id` and activity ids into a path without
quoting them, so an id such as `../../admin/shutdown?force=1#` would make the bot POST wherever it says. Teams'
own ids never need that: `19:…@thread.tacv2;messageid=…`, `a:1…`, `29:1…`, `28:<guid>`, epoch-millisecond
activity ids, and the Bot Framework Emulator's `<guid>|livechat`. Anything else is refused before a turn starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from . import messages as text

MAX_DEPTH = 64  # an activity is a few levels deep; a card submit's data a few more
MAX_ID_LENGTH = 256  # the SDK itself cuts a conversation id at 150
# Every character here is a valid URL path character except `|`, which yarl percent-quotes.
_ID = re.compile(r"[A-Za-z0-9:;=@._+!,~|-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]*")
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass
class Refused(Exception):
    """A body /api/messages will not hand to the SDK: `reason` is for the client and the one log line."""

    status: int
    reason: str


def safe_id(value: object) -> bool:
    """True when `value` may become one URL path segment of a connector call as it is."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and _ID.fullmatch(value) is not None
        and ".." not in value
    )


def is_local(url: str) -> bool:
    try:
        return (urlsplit(url).hostname or "") in LOOPBACK
    except ValueError:
        return False


def service_url_problem(url: object, *, anonymous: bool) -> str | None:
    """Why `url` cannot be the base of connector calls, or None: an https origin with a plain path (or, in
    anonymous mode, a local http(s) one)."""
    if not isinstance(url, str):
        return "serviceUrl is missing"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is no number)
    except ValueError:
        return "serviceUrl is not a URL"
    allowed = ("https", "http") if anonymous else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        return "serviceUrl must be an https URL"
    if parts.username is not None or parts.query or parts.fragment or "?" in url or "#" in url:
        return "serviceUrl must not carry credentials, a query or a fragment"
    segments = parts.path.split("/")
    if any(s in (".", "..") or not _SEGMENT.fullmatch(s) for s in segments):
        return "serviceUrl has an unexpected path"
    return None


async def read_body(request: web.Request) -> Any:
    """The request's JSON, refused when it is not UTF-8 JSON at most MAX_DEPTH levels deep."""
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise Refused(415, "the body must be UTF-8 JSON")
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused(400, "the body is not valid UTF-8") from None
    except RecursionError:
        raise Refused(400, f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:
        raise Refused(400, "invalid JSON") from None
    if _deeper_than(body, MAX_DEPTH):
        raise Refused(400, f"the JSON is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(body, dict):
        raise Refused(400, "not a Bot Framework activity")
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _field(body: dict[str, Any], *path: str) -> object:
    node: object = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


ID_FIELDS = (("conversation", "id"), ("id",), ("replyToId",), ("from", "id"), ("recipient", "id"))


def check_activity(body: dict[str, Any], *, anonymous: bool) -> None:
    """Refuse an activity whose serviceUrl or ids could steer a connector call elsewhere."""
    if anonymous and not is_local(str(body.get("serviceUrl") or "")):
        raise Refused(403, text.ANONYMOUS_REFUSED)
    problem = service_url_problem(body.get("serviceUrl"), anonymous=anonymous)
    if problem:
        raise Refused(400, problem)
    for path in ID_FIELDS:
        value = _field(body, *path)
        if value is not None and not safe_id(value):
            raise Refused(400, f"{'.'.join(path)} is not a valid id")
