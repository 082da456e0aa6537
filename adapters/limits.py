"""Request bodies are size-limited per route before they are read, whoever sent them (signed or not).

A Content-Length over the route's limit is a 413 at once, with nothing read; a body without one (chunked) is
read only up to the limit, then a 413. Either way the route's handler never runs. Without this, a dozen
unauthenticated 24 MB posts made the server hold them all in memory before any signature was checked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

logger = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class Limit:
    prefix: str
    max_bytes: int
    # The handler reads the body itself, in chunks, against its own (narrower) per-route limits, and only
    # once the caller is authenticated: here only a Content-Length over the ceiling is refused.
    streamed: bool = False


LIMITS = (
    Limit("/slack/", 3 * MB),  # Slack events, slash commands, interactivity
    Limit("/api/messages", 1 * MB),  # Teams: Bot Framework activities
    # The REST API: 16 MB with attachments, 256 KB otherwise (README, "Errors"; adapters/api/routes.py).
    Limit("/api/ai-sessions", 16 * MB, streamed=True),
    Limit("/api/psa-connections", 16 * 1024, streamed=True),  # adapters/api/psa_routes.py reads it
)
DEFAULT = Limit("", 1 * MB)  # every other route (health checks, the OAuth pages, the OpenAPI document)
# aiohttp's own ceiling for a body read whole: the largest limit of a route whose handler does that.
CLIENT_MAX_SIZE = max(limit.max_bytes for limit in (*LIMITS, DEFAULT) if not limit.streamed)
TOO_LARGE = "The request body is larger than {limit:,} bytes, the limit for {path}."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def limit_for(path: str) -> Limit:
    return next((limit for limit in LIMITS if path.startswith(limit.prefix)), DEFAULT)


@web.middleware
async def limit_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = limit_for(request.path)
    length = request.content_length
    if length is not None and length > limit.max_bytes:
        return _too_large(request, limit)
    if limit.streamed or not request.body_exists:
        return await handler(request)
    # aiohttp refuses a body of client_max_size bytes or more while reading it, so one byte of room.
    bounded = request.clone(client_max_size=limit.max_bytes + 1)
    try:
        await bounded.read()  # kept by the request: the handler's read(), text() and json() return it
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request, limit)
    return await handler(bounded)


def _too_large(request: web.Request, limit: Limit) -> web.Response:
    path = limit.prefix or request.path
    logger.warning("refused a request body over %d bytes on %s", limit.max_bytes, request.path)
    message = TOO_LARGE.format(limit=limit.max_bytes, path=path)
    return web.json_response(
        {"error": {"code": "too_large", "message": message, "retryable": False}}, status=413
    )
