"""POST /api/ai-sessions/{id}/handoff-draft: the draft as Server-Sent Events.

Events: `delta` {"text"} as Claude writes, then `done` (the parsed sections and the handoff id) or `error`
(the same body as a JSON error's `error`). Errors found before Claude is asked (unknown session, closed
session, busy) are plain JSON answers with their status, not a stream.

The core runs in its own task: when the client goes away, that task is cancelled, which closes the
Claude stream and releases the turn lease; the core writes the draft row only once the draft is complete,
so nothing half-made is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from bot.commands import DraftHandoff
from bot.events import DraftDelta, DraftFinished, Event, Notice
from bot.queries import AccountRef

from .auth import actor_for
from .errors import from_notice, is_failure, parse
from .routes import BODY_LIMIT, Api, _owned, endpoint
from .schemas import DraftDeltaOut, DraftDone, DraftIn, ErrorBody, RetryHint

logger = logging.getLogger(__name__)

# How often a quiet stream checks that the client is still there (and sends a comment line).
KEEPALIVE_SECONDS = 1.0
_END = object()


class _Gone(Exception):
    """The client closed the connection."""


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _pump(events: Any, queue: asyncio.Queue[object]) -> None:
    try:
        async for event in events:
            await queue.put(event)
    finally:
        await queue.put(_END)


async def _write(request: web.Request, response: web.StreamResponse, data: bytes) -> None:
    transport = request.transport
    if transport is None or transport.is_closing():
        raise _Gone
    try:
        await response.write(data)
    except ConnectionError:
        raise _Gone from None


async def _next(
    request: web.Request, response: web.StreamResponse | None, queue: asyncio.Queue[object]
) -> object:
    """The core's next item; while it is quiet, check that the client is still there (keeping the stream awake)."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
        except TimeoutError:
            if response is not None:
                await _write(request, response, b": keep-alive\n\n")
            elif request.transport is None or request.transport.is_closing():
                raise _Gone from None


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    return response


def _event_frame(item: Event) -> bytes | None:
    """The frame a draft event becomes (None for the events a draft stream does not carry)."""
    if isinstance(item, DraftDelta):
        return _frame("delta", DraftDeltaOut(text=item.text).model_dump())
    if isinstance(item, DraftFinished):
        done = DraftDone(
            handoff_id=item.handoff_id,
            kind=item.kind,  # type: ignore[arg-type]
            text=item.text,
            root_cause=item.root_cause,
            steps_taken=item.steps_taken,
            recommendations=item.recommendations,
            ticket_note=item.ticket_note,
        )
        return _frame("done", done.model_dump(mode="json"))
    return None


@endpoint
async def draft(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, DraftIn, limit=BODY_LIMIT)
    actor = actor_for(request, account, user_id=body.user_id, user_name=body.user_name)
    command = DraftHandoff(actor=actor, session_id=session_id, kind=body.kind)
    retry = RetryHint(
        method="POST", path=f"/api/ai-sessions/{session_id}/handoff-draft", body={"kind": body.kind}
    )
    queue: asyncio.Queue[object] = asyncio.Queue()
    task = asyncio.create_task(_pump(api.runtime.handler.handle(command), queue))
    response: web.StreamResponse | None = None
    try:
        while (item := await _next(request, response, queue)) is not _END:
            assert isinstance(item, Event)
            if is_failure(item):
                assert isinstance(item, Notice)
                err = from_notice(item, retry=retry)
                if response is None:
                    return err.response()  # refused before anything was streamed: a plain JSON error
                error = ErrorBody(error=err.info).model_dump(mode="json", exclude_none=True)["error"]
                await _write(request, response, _frame("error", error))
                break
            if response is None:
                response = await _open(request)
            frame = _event_frame(item)
            if frame is not None:
                await _write(request, response, frame)
    except _Gone:
        logger.info("handoff draft for session %s: client went away, cancelling", session_id)
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if response is None:  # the client left before the stream began
        return web.Response(status=499)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response
