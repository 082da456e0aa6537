"""What Claude writes, as Server-Sent Events: the handoff draft, and a turn when the client asks for it.

POST /api/ai-sessions/{id}/handoff-draft: `delta` {"text"} as Claude writes, then `done` (the parsed sections
and the handoff id) or `error` (the same body as a JSON error's `error`).

POST /api/ai-sessions/{id}/messages with `Accept: text/event-stream`: `delta` {"text"} as Claude writes the
turn's message, then `done` with the whole turn (the JSON the same request answers without that header:
the session, the turn with its questions and actions, the notices). If Claude fails after words were sent,
`cut` {"shown", "retry"} marks them cut off, then `error` says why; the turn is not stored, and the retry
request asks Claude again. Without the header the route answers JSON as it always did.

Errors found before Claude is asked (unknown session, closed session, busy) are plain JSON answers with their
status, not a stream.

The core runs in its own task: when the client goes away, that task is cancelled, which closes the
Claude stream and releases the turn lease; the core writes the draft row only once the draft is complete,
so nothing half-made is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.commands import DraftHandoff
from bot.events import DraftDelta, DraftFinished, Event, MessageDelta, Notice, TurnCut
from bot.queries import AccountRef

from . import render
from .auth import actor_for
from .bodies import DraftDeltaOut, DraftDone, ErrorBody, MessageDeltaOut, RetryHint, TurnCutOut
from .errors import from_notice, is_failure, parse
from .routes import (
    BODY_LIMIT,
    UPLOAD_LIMIT,
    Api,
    Outcome,
    _owned,
    _record,
    _retry_hint,
    _turn_command,
    endpoint,
    post_message,
)
from .schemas import DraftIn, MessageIn, TurnResponse

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


Frames = Callable[[Event], bytes | None]


async def _stream(
    request: web.Request,
    events: AsyncIterator[Event],
    *,
    retry: RetryHint,
    frames: Frames,
    done: Callable[[], Awaitable[bytes]] | None = None,
) -> web.StreamResponse:
    """Send the core's events as `frames` makes them, then `done()`'s frame, or an `error` frame on failure.

    A failure before the first event is a plain JSON error with its status. When the client goes away the
    core's task is cancelled (closing the Claude stream and releasing the turn lease).
    """
    queue: asyncio.Queue[object] = asyncio.Queue()
    task = asyncio.create_task(_pump(events, queue))
    response: web.StreamResponse | None = None
    try:
        failed = False
        while (item := await _next(request, response, queue)) is not _END:
            assert isinstance(item, Event)
            if is_failure(item):
                assert isinstance(item, Notice)
                err = from_notice(item, retry=retry)
                if response is None:
                    return err.response()  # refused before anything was streamed: a plain JSON error
                error = ErrorBody(error=err.info).model_dump(mode="json", exclude_none=True)["error"]
                await _write(request, response, _frame("error", error))
                failed = True
                break
            if response is None:
                response = await _open(request)
            frame = frames(item)
            if frame is not None:
                await _write(request, response, frame)
        if response is not None and done is not None and not failed:
            await _write(request, response, await done())
    except _Gone:
        logger.info("%s %s: client went away, cancelling", request.method, request.path)
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


@endpoint
async def draft(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, DraftIn, limit=BODY_LIMIT)
    actor = actor_for(request, account, user_id=body.user_id, user_name=body.user_name)
    command = DraftHandoff(actor=actor, session_id=session_id, kind=body.kind)
    retry = RetryHint(
        method="POST", path=f"/api/ai-sessions/{session_id}/handoff-draft", body={"kind": body.kind}
    )
    return await _stream(request, api.runtime.handler.handle(command), retry=retry, frames=_event_frame)


def wants_events(request: web.Request) -> bool:
    """The client asked for Server-Sent Events (`Accept: text/event-stream`, among others or alone)."""
    ranges = ",".join(request.headers.getall("Accept", ())).split(",")
    return any(r.split(";", 1)[0].strip().lower() == "text/event-stream" for r in ranges)


async def messages(request: web.Request) -> web.StreamResponse:
    """POST …/messages: the turn streamed when the client accepts an event stream, else JSON as always."""
    if wants_events(request):
        return await _streamed_turn(request)
    return await post_message(request)


@endpoint
async def _streamed_turn(request: web.Request, api: Api, account: AccountRef) -> web.StreamResponse:
    session_id = await _owned(request, api, account)
    body = await parse(request, MessageIn, limit=UPLOAD_LIMIT)
    actor = actor_for(request, account, user_id=body.root.user_id, user_name=body.root.user_name)
    retry = _retry_hint(session_id)
    assert retry is not None
    outcome = Outcome()

    def frames(item: Event) -> bytes | None:
        outcome.events.append(item)
        if isinstance(item, MessageDelta):
            return _frame("delta", MessageDeltaOut(text=item.text).model_dump())
        if isinstance(item, TurnCut):
            return _frame("cut", TurnCutOut(shown=item.shown, retry=retry).model_dump(mode="json"))
        return None

    async def done() -> bytes:
        record = await _record(api, account, session_id)
        whole = TurnResponse(
            session=render.detail(record),
            turn=render.turn(outcome.turn) if outcome.turn else None,
            notices=outcome.notices,
        )
        return _frame("done", whole.model_dump(mode="json", by_alias=True))

    events = api.runtime.handler.handle(_turn_command(body, actor, session_id))
    return await _stream(request, events, retry=retry, frames=frames, done=done)
