"""The fake's HTTP server: `POST /v1/messages` with scripted answers, recorded requests and usage totals."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from fakes.anthropic import responder, streaming
from fakes.anthropic.caching import account, canonical, zero_usage
from fakes.anthropic.records import RecordedRequest, caller_key
from fakes.anthropic.script import DEFAULT_ERROR_TYPES, Cut, Error, Hold, Pace, Scripted, Text, Turn
from fakes.anthropic.validation import RequestInvalid, target_tool, validate


class FakeAnthropic:
    """An aiohttp server on 127.0.0.1 (random free port) answering `POST /v1/messages`."""

    def __init__(self, *, min_cache_tokens: int = 1024) -> None:
        # Called with each RecordedRequest as it arrives (the benchmarks index requests with it).
        self.observers: list[Callable[[RecordedRequest], None]] = []
        self.latency: float = 0.0
        self.chunk_chars: int = 16
        self.chunk_delay: float = 0.0
        self.min_cache_tokens = min_cache_tokens
        self.requests: list[RecordedRequest] = []
        self.total_usage: dict[str, int] = zero_usage()
        self._queue: deque[Scripted] = deque()
        self._cache: set[str] = set()
        # Scripting happens on the test's thread while the server may run in its own (in_thread mode).
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeAnthropic is not started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        """Listen on a free port in the running event loop."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAnthropic:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, *, min_cache_tokens: int = 1024) -> Iterator[FakeAnthropic]:
        """Run the fake on its own event loop in a daemon thread, for sync clients and subprocesses."""
        fake = cls(min_cache_tokens=min_cache_tokens)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def serve() -> None:
            try:
                await fake.start()
            except BaseException as err:
                started.set_exception(err)
                return
            started.set_result(None)
            try:
                await stop.wait()
            finally:
                await fake.close()

        def run() -> None:
            try:
                loop.run_until_complete(serve())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="FakeAnthropic", daemon=True)
        thread.start()
        try:
            started.result()
            yield fake
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is already closed when start failed
                loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=10)

    # -- scripting --

    def queue_turn(
        self, data: dict[str, Any], *, chunk_delay: float | None = None, hold: Hold | None = None
    ) -> None:
        """Answer the next request with a tool_use of the forced (or first) tool, with `input=data` as is.

        Streamed, its fragments come `chunk_delay` seconds apart (default: the fake's `chunk_delay`), and
        with `hold` the last fragment waits until the test calls `hold.release()`.
        """
        self._push(Turn(data, Pace(chunk_delay, hold)))

    def queue_text(self, text: str) -> None:
        """Answer the next request with one text block (stop_reason end_turn)."""
        self._push(Text(text))

    def queue_error(
        self,
        status: int,
        *,
        error_type: str | None = None,
        message: str = "Scripted error from FakeAnthropic",
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests with an error in the real JSON shape."""
        kind = error_type or DEFAULT_ERROR_TYPES.get(status, "api_error")
        for _ in range(times):
            self._push(Error(status, kind, message, retry_after))

    def queue_cut_stream(
        self,
        answer: str | dict[str, Any],
        after_chars: int,
        *,
        error_type: str | None = None,
        chunk_delay: float | None = None,
    ) -> None:
        """Start answering `answer`, then drop the connection after `after_chars` characters.

        A string is answered as text; a dict as a tool call of the forced (or first) tool with that input,
        cut after `after_chars` characters of its JSON.

        With `error_type` (e.g. "overloaded_error") an SSE `error` event is sent before the drop, which is
        what the real API does when it fails mid-stream. A non-streaming request instead gets the first
        `after_chars` characters of its JSON body before the drop.
        """
        self._push(Cut(answer, after_chars, error_type, Pace(chunk_delay)))

    def reset(self) -> None:
        """Forget the queue, the recorded requests, the prompt cache and the usage totals."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self._cache.clear()
            self.total_usage.update(zero_usage())

    @property
    def last_request(self) -> RecordedRequest:
        if not self.requests:
            raise LookupError("FakeAnthropic has received no request")
        return self.requests[-1]

    def _push(self, item: Scripted) -> None:
        with self._lock:
            self._queue.append(item)

    def _pop(self) -> Scripted | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    # -- HTTP --

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read())
        return self._error_response(404, "not_found_error", "Not Found")

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = self._record(request, raw)
        recorded = self.requests[-1]
        if self.latency:
            await asyncio.sleep(self.latency)
        if not caller_key(request.headers):
            return self._error_response(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return self._error_response(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            validate(body)
        except RequestInvalid as err:
            return self._error_response(400, "invalid_request_error", str(err))
        # A refused request never reaches the model, so it does not consume a scripted answer.
        scripted = self._pop()
        if isinstance(scripted, Error):
            return self._error_response(
                scripted.status, scripted.error_type, scripted.message, retry_after=scripted.retry_after
            )
        block = self._answer_block(scripted, target_tool(body), body["messages"])
        if block is None:
            return self._error_response(
                400,
                "invalid_request_error",
                "FakeAnthropic: a tool call was scripted but the request has no tools",
            )
        with self._lock:
            usage = account(body, cache=self._cache, min_tokens=self.min_cache_tokens)
        output = block["text"] if block["type"] == "text" else canonical(block["input"])
        usage["output_tokens"] = max(1, len(output) // 4)
        self._add_to_totals(usage)
        message = {
            "id": f"msg_{next(self._ids):024d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [block],
            "stop_reason": "tool_use" if block["type"] == "tool_use" else "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        cut = scripted if isinstance(scripted, Cut) else None
        if body.get("stream"):
            headers = self._headers(
                {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
            )
            response = await streaming.stream(
                request,
                message,
                headers=headers,
                chunk_chars=self.chunk_chars,
                chunk_delay=self.chunk_delay,
                cut=cut,
                recorded=recorded,
                pace=scripted.pace if isinstance(scripted, Turn | Cut) else None,
            )
            recorded.answered_at = time.perf_counter()
            return response
        if cut is not None:
            json_headers = self._headers({"content-type": "application/json"})
            return await streaming.send_cut_json(request, message, cut, headers=json_headers)
        answer = web.json_response(message, headers=self._headers())
        recorded.answered_at = time.perf_counter()
        return answer

    def _error_response(
        self, status: int, error_type: str, message: str, *, retry_after: float | None = None
    ) -> web.Response:
        request_id = self._request_id()
        headers = self._headers(request_id=request_id)
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
        return web.json_response(body, status=status, headers=headers)

    def _headers(
        self, extra: dict[str, str] | None = None, *, request_id: str | None = None
    ) -> dict[str, str]:
        return {"request-id": request_id or self._request_id(), **(extra or {})}

    def _request_id(self) -> str:
        return f"req_{next(self._ids):024d}"

    def _answer_block(
        self, scripted: Scripted | None, tool: dict[str, Any] | None, messages: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The content block answering the request: scripted, or the default one; None for a scripted tool
        call when the request has no tools."""
        tool_input = scripted.data if isinstance(scripted, Turn) else None
        if isinstance(scripted, Cut) and isinstance(scripted.answer, dict):
            tool_input = scripted.answer
        if tool_input is not None:
            return self._tool_use_block(tool["name"], tool_input) if tool is not None else None
        if isinstance(scripted, Text):
            return {"type": "text", "text": scripted.text}
        if isinstance(scripted, Cut):
            return {"type": "text", "text": str(scripted.answer)}
        if tool is not None:
            return self._tool_use_block(tool["name"], responder.default_tool_input(tool, messages))
        return {"type": "text", "text": responder.default_text(messages)}

    def _tool_use_block(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": "tool_use", "id": f"toolu_{next(self._ids):024d}", "name": name, "input": data}

    def _record(self, request: web.Request, raw: bytes) -> Any:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    path=request.path, headers=headers, body=body, received_at=time.perf_counter()
                )
            )
            for observe in self.observers:
                observe(self.requests[-1])
        return body

    def _add_to_totals(self, usage: dict[str, Any]) -> None:
        with self._lock:
            for key in self.total_usage:
                self.total_usage[key] += usage[key]
