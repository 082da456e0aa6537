"""A fake of the Anthropic Messages API that speaks the real wire format.

Tests and benchmarks point the real `anthropic` SDK at it (`base_url=fake.base_url`), so everything the SDK
does on the wire — headers, retries on 429/5xx with `retry-after`, SSE parsing, usage fields — is exercised
for real. Answers are scripted with a FIFO queue (`queue_turn`, `queue_text`, `queue_error`,
`queue_cut_stream`); when the queue is empty a deterministic responder answers plausibly, so a human trying
the product against the fake sees a sensible troubleshooting conversation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

# The content block types the real API accepts in a request; anything else is a 400.
_KNOWN_BLOCK_TYPES = frozenset(
    {
        "text", "image", "document", "search_result", "tool_use", "tool_result", "thinking",
        "redacted_thinking", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
        "code_execution_tool_result", "container_upload", "mcp_tool_use", "mcp_tool_result",
    }
)  # fmt: skip

_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# The real API looks for cache hits at block boundaries up to about 20 blocks before each breakpoint, which
# is what makes "move the breakpoint to the newest message" read the previous turn's cache.
_CACHE_LOOKBACK_BLOCKS = 20


@dataclass
class RecordedRequest:
    """One request as the fake received it; `body` is None when it was not valid JSON."""

    path: str
    headers: Mapping[str, str]
    body: Any
    # time.perf_counter() when the request arrived and when its answer was sent (the benchmarks measure
    # the app's own overhead with them, leaving out the time the model "thinks").
    received_at: float = 0.0
    answered_at: float = 0.0
    first_text_at: float = 0.0  # a streamed answer: when its first text (or tool input) fragment was sent

    @property
    def api_key(self) -> str | None:
        return _api_key(self.headers)


@dataclass(frozen=True)
class _Turn:
    data: dict[str, Any]


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Error:
    status: int
    error_type: str
    message: str
    retry_after: float | None


@dataclass(frozen=True)
class _Cut:
    text: str
    after_chars: int
    error_type: str | None


_Scripted = _Turn | _Text | _Error | _Cut


class _RequestInvalid(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""


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
        self.total_usage: dict[str, int] = _zero_usage()
        self._queue: deque[_Scripted] = deque()
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

    def queue_turn(self, data: dict[str, Any]) -> None:
        """Answer the next request with a tool_use of the forced (or first) tool, with `input=data` as is."""
        self._push(_Turn(data))

    def queue_text(self, text: str) -> None:
        """Answer the next request with one text block (stop_reason end_turn)."""
        self._push(_Text(text))

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
        kind = error_type or _DEFAULT_ERROR_TYPES.get(status, "api_error")
        for _ in range(times):
            self._push(_Error(status, kind, message, retry_after))

    def queue_cut_stream(self, text: str, after_chars: int, *, error_type: str | None = None) -> None:
        """Start answering `text`, then drop the connection after `after_chars` characters.

        With `error_type` (e.g. "overloaded_error") an SSE `error` event is sent before the drop, which is
        what the real API does when it fails mid-stream. A non-streaming request instead gets the first
        `after_chars` characters of its JSON body before the drop.
        """
        self._push(_Cut(text, after_chars, error_type))

    def reset(self) -> None:
        """Forget the queue, the recorded requests, the prompt cache and the usage totals."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self._cache.clear()
            self.total_usage.update(_zero_usage())

    @property
    def last_request(self) -> RecordedRequest:
        if not self.requests:
            raise LookupError("FakeAnthropic has received no request")
        return self.requests[-1]

    def _push(self, item: _Scripted) -> None:
        with self._lock:
            self._queue.append(item)

    def _pop(self) -> _Scripted | None:
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
        if not _api_key(request.headers):
            return self._error_response(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return self._error_response(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            _validate(body)
        except _RequestInvalid as err:
            return self._error_response(400, "invalid_request_error", str(err))
        # A refused request never reaches the model, so it does not consume a scripted answer.
        scripted = self._pop()
        if isinstance(scripted, _Error):
            return self._error_response(
                scripted.status, scripted.error_type, scripted.message, retry_after=scripted.retry_after
            )
        tool = _target_tool(body)
        if isinstance(scripted, _Turn):
            if tool is None:
                return self._error_response(
                    400,
                    "invalid_request_error",
                    "FakeAnthropic: queue_turn() used but the request has no tools",
                )
            block = self._tool_use_block(tool["name"], scripted.data)
        elif isinstance(scripted, _Text | _Cut):
            block = {"type": "text", "text": scripted.text}
        elif tool is not None:
            block = self._tool_use_block(tool["name"], _default_tool_input(tool, body["messages"]))
        else:
            block = {"type": "text", "text": _default_text(body["messages"])}

        usage = self._account(body)
        output = block["text"] if block["type"] == "text" else _canonical(block["input"])
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
        cut = scripted if isinstance(scripted, _Cut) else None
        if body.get("stream"):
            response = await self._stream(request, message, cut=cut, recorded=recorded)
            recorded.answered_at = time.perf_counter()
            return response
        if cut is not None:
            return await self._send_cut_json(request, message, cut)
        answer = web.json_response(message, headers=self._headers())
        recorded.answered_at = time.perf_counter()
        return answer

    async def _stream(
        self,
        request: web.Request,
        message: dict[str, Any],
        *,
        cut: _Cut | None,
        recorded: RecordedRequest | None = None,
    ) -> web.StreamResponse:
        """Send `message` as the real SSE event sequence; with `cut`, drop the connection part way."""
        response = web.StreamResponse(
            headers=self._headers(
                {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
            )
        )
        await response.prepare(request)
        block = message["content"][0]
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        await _send(response, "message_start", {"type": "message_start", "message": start})
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            pieces = _chunks(block["text"], self.chunk_chars)
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        else:
            opening = {**block, "input": {}}
            # The real API opens a tool_use block with an empty partial_json before the first fragment.
            pieces = ["", *_chunks(_canonical(block["input"]), self.chunk_chars)]
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        await _send(
            response,
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": opening},
        )
        await _send(response, "ping", {"type": "ping"})
        sent = 0
        for delta in deltas:
            if cut is not None and sent >= cut.after_chars:
                return await self._cut(request, response, cut)
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            if cut is not None:
                delta = {**delta, "text": delta["text"][: cut.after_chars - sent]}
            await _send(
                response, "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
            fragment = len(delta.get("text", delta.get("partial_json", "")))
            if fragment and recorded is not None and not recorded.first_text_at:
                recorded.first_text_at = time.perf_counter()
            sent += fragment
        if cut is not None:
            return await self._cut(request, response, cut)
        await _send(response, "content_block_stop", {"type": "content_block_stop", "index": 0})
        await _send(
            response,
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                # Counts on message_delta are cumulative totals, as the real API sends them.
                "usage": {key: usage[key] for key in _USAGE_KEYS},
            },
        )
        await _send(response, "message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response

    async def _cut(self, request: web.Request, response: web.StreamResponse, cut: _Cut) -> web.StreamResponse:
        if cut.error_type is not None:
            message = "Overloaded" if cut.error_type == "overloaded_error" else "Internal server error"
            payload = {"type": "error", "error": {"type": cut.error_type, "message": message}}
            await _send(response, "error", payload)
        await _abort(request)
        return response

    async def _send_cut_json(
        self, request: web.Request, message: dict[str, Any], cut: _Cut
    ) -> web.StreamResponse:
        """A non-streaming answer whose body stops after `after_chars` characters of its JSON."""
        payload = json.dumps(message).encode()
        response = web.StreamResponse(headers=self._headers({"content-type": "application/json"}))
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: cut.after_chars])
        await _abort(request)
        return response

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

    # -- usage and prompt caching --

    def _account(self, body: dict[str, Any]) -> dict[str, Any]:
        """Split the prompt's tokens into cache reads, cache writes and uncached input, as the API bills them.

        The prompt is the sequence tools → system → message blocks; a block with `cache_control` is a
        breakpoint, and a prefix is identified by the hash of everything up to it (cache_control stripped).
        """
        # (where the block sits, the block): a tool, a system block, or a message block with its role.
        pieces: list[tuple[str, dict[str, Any]]] = [("tool", tool) for tool in body.get("tools") or []]
        system = body.get("system")
        if isinstance(system, str):
            pieces.append(("system", {"type": "text", "text": system}))
        elif isinstance(system, list):
            pieces += [("system", block) for block in system]
        for message in body["messages"]:
            content = message["content"]
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            pieces += [(message["role"], block) for block in blocks]

        digest = hashlib.sha256(_canonical(body["model"]).encode())
        hashes: list[str] = []
        tokens: list[int] = []  # tokens of the prefix ending at each piece
        chars = 0
        for where, block in pieces:
            text = _canonical([where, _strip_cache_control(block)])
            digest.update(text.encode() + b"\x00")
            hashes.append(digest.hexdigest())
            chars += len(text)
            tokens.append(chars // 4)
        total = max(1, chars // 4)
        breakpoints = [i for i, (_, block) in enumerate(pieces) if block.get("cache_control")]

        with self._lock:
            hit = -1
            for bp in breakpoints:
                for i in range(bp, max(-1, bp - _CACHE_LOOKBACK_BLOCKS), -1):
                    if i > hit and hashes[i] in self._cache:
                        hit = i
            read = tokens[hit] if hit >= 0 else 0
            created = 0
            for bp in breakpoints:
                if bp > hit and tokens[bp] >= self.min_cache_tokens:
                    self._cache.add(hashes[bp])
                    created = tokens[bp] - read
        one_hour = bool(breakpoints) and pieces[breakpoints[-1]][1]["cache_control"].get("ttl") == "1h"
        return {
            "input_tokens": total - read - created,
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "output_tokens": 0,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0 if one_hour else created,
                "ephemeral_1h_input_tokens": created if one_hour else 0,
            },
            "service_tier": "standard",
        }

    def _add_to_totals(self, usage: dict[str, Any]) -> None:
        with self._lock:
            for key in self.total_usage:
                self.total_usage[key] += usage[key]


# -- request validation --


def _validate(body: Any) -> None:
    """Refuse what the real API refuses, with messages in its style (`field: problem`)."""
    if not isinstance(body, dict):
        raise _RequestInvalid("There was an error parsing the body of your request: expected a JSON object")
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            raise _RequestInvalid(f"{field}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _RequestInvalid("model: Input should be a valid string")
    if (
        not isinstance(body["max_tokens"], int)
        or isinstance(body["max_tokens"], bool)
        or body["max_tokens"] < 1
    ):
        raise _RequestInvalid("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _RequestInvalid("messages: Input should be a valid list")
    if not messages:
        raise _RequestInvalid("messages: at least one message is required")
    for i, message in enumerate(messages):
        # anthropic 2.x also has a "system" role for instructions placed between turns.
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
            role = message.get("role") if isinstance(message, dict) else None
            raise _RequestInvalid(
                f"messages.{i}.role: Input should be 'user', 'assistant' or 'system' (got {role!r})"
            )
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise _RequestInvalid(f"messages.{i}.content: Input should be a valid string or list")
        allowed = {"text"} if message["role"] == "system" else _KNOWN_BLOCK_TYPES
        for j, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind not in allowed:
                expected = ", ".join(f"'{t}'" for t in sorted(allowed))
                raise _RequestInvalid(
                    f"messages.{i}.content.{j}.type: Input tag {kind!r} found using 'type' does not match "
                    f"any of the expected tags: {expected}"
                )
    if messages[0]["role"] != "user":
        raise _RequestInvalid('messages: first message must use the "user" role')
    tools = body.get("tools") or []
    names = {tool.get("name") for tool in tools if isinstance(tool, dict)}
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") not in names:
        raise _RequestInvalid(f"tool_choice.name: Tool '{choice.get('name')}' not found in provided tools")
    if isinstance(choice, dict) and choice.get("type") == "any" and not tools:
        raise _RequestInvalid("tool_choice: tool_choice.type 'any' requires tools to be provided")


def _target_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool the model would call: the forced one, else the first; None when it cannot call any."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    if not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        forced: dict[str, Any] = next(tool for tool in tools if tool.get("name") == choice["name"])
        return forced
    first: dict[str, Any] = tools[0]
    return first


# -- the default responder --


@dataclass(frozen=True)
class _Playbook:
    category: str
    domain: str
    hypothesis: str
    questions: tuple[tuple[str, tuple[str, ...]], ...]
    actions: tuple[str, ...]
    evidence: tuple[str, ...]
    recommendation: str


_GENERAL = _Playbook(
    "General",
    "general",
    "Not enough detail yet to tell whether the fault is local to one device or shared by several users.",
    (
        ("How many users are affected?", ("Just one", "Several", "Everyone")),
        ("When did it start?", ("Today", "This week", "After a change")),
    ),
    ("Reproduce the issue on a second device or account.", "Check the event log around the time it failed."),
    ("Issue reported by the engineer", "Reproduced on a second device", "Recent change on the device"),
    "Document the fix in the client's runbook and monitor for a recurrence.",
)

_PLAYBOOKS: tuple[tuple[re.Pattern[str], _Playbook], ...] = (
    (
        re.compile(r"printer|printing|spooler", re.I),
        _Playbook(
            "Printing",
            "printing",
            "A stuck job in the print spooler, or a paused queue, is blocking the printer.",
            (
                ("What does the print queue show?", ("Jobs stuck", "Queue empty", "Printer offline")),
                ("Does a test page from the printer's own panel print?", ("Yes", "No")),
            ),
            ("Restart the Print Spooler service and clear the spool folder.", "Ping the printer's IP."),
            ("Users cannot print", "Print spooler restarted", "Printer reachable on the network"),
            "Update the printer driver from the vendor and set the spooler service to restart on failure.",
        ),
    ),
    (
        re.compile(r"\bvpn\b", re.I),
        _Playbook(
            "VPN / Networking",
            "networking",
            "The VPN tunnel comes up but its routes or DNS servers are not being applied.",
            (
                ("Where does the VPN fail?", ("Authentication", "Connects, no access", "Drops later")),
                ("Does the user's home network use the same subnet as the office?", ("Yes", "No", "Unknown")),
            ),
            ("Run `route print` while connected; look for the office subnets.", "Check the VPN client log."),
            ("VPN connection fails", "Tunnel established", "Subnet overlap with home network"),
            "Push split-tunnel routes and DNS from the VPN gateway; avoid common home subnets in the office.",
        ),
    ),
    (
        re.compile(r"outlook|password|\bmfa\b", re.I),
        _Playbook(
            "Microsoft 365 / Identity",
            "identity",
            "The sign-in is blocked by MFA or a conditional access policy, or cached credentials are stale.",
            (
                ("What does the Entra ID sign-in log show?", ("MFA required", "Blocked by CA", "Success")),
                ("Does Outlook on the web work for the user?", ("Yes", "No")),
            ),
            ("Check the user's sign-in log in Entra ID.", "Clear cached credentials in Credential Manager."),
            ("User cannot sign in", "Outlook on the web works", "Conditional access policy applied"),
            "Re-register the user's MFA method and review conditional access policies for the account.",
        ),
    ),
    (
        re.compile(r"\bdns\b", re.I),
        _Playbook(
            "DNS / Networking",
            "networking",
            "Clients are using a DNS server that neither holds nor forwards the internal zone.",
            (
                ("What does nslookup return for the failing name?", ("Right IP", "Wrong IP", "NXDOMAIN")),
                ("Which DNS servers does ipconfig /all list?", ("Internal DC", "Router", "Public DNS")),
            ),
            ("Run `nslookup` against the domain controller directly.", "Check the DHCP scope's DNS option."),
            ("Name resolution fails", "DC answers the query directly", "DHCP hands out a public DNS server"),
            "Hand out only the domain controllers as DNS servers, with a forwarder for public names.",
        ),
    ),
)

_CONFIDENCE_BY_TURN = (0.3, 0.55, 0.75, 0.9)
_EVIDENCE_STATUSES = (("pending",), ("confirmed", "pending"), ("confirmed", "ruled_out", "pending"))
_CLIENT_RE = re.compile(r"(?:^|\s)(?:at|for)\s+([A-Z][A-Za-z0-9&'-]+)")
_ASSET_RE = re.compile(r"\b([A-Z][A-Z0-9]*-[A-Z0-9-]*\d[A-Z0-9-]*)\b")


def _default_tool_input(tool: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A plausible ClaudeTurn for FlowPilot's `respond` tool; a minimal schema-valid dict for any other."""
    if tool.get("name") != "respond":
        example: dict[str, Any] = _example_for(tool.get("input_schema") or {})
        return example
    user_contents = [m["content"] for m in messages if m["role"] == "user"]
    user_texts = [_text_of(content) for content in user_contents]
    first, last = user_texts[0], user_texts[-1]
    turn = len(user_texts)
    # The first message names the problem; later ones only count when it was too vague to classify.
    playbook = _playbook_for(first)
    if playbook is _GENERAL:
        playbook = _playbook_for(" ".join(user_texts))
    client = _CLIENT_RE.search(first)
    asset = _ASSET_RE.search(" ".join(user_texts))
    if last.strip():
        opening = f'You said: "{_snippet(last)}".'
    elif _has_image(user_contents[-1]):
        opening = "Thanks for the screenshot."
    else:
        opening = "Thanks for the update."
    n_actions = 1 if turn == 1 else 2
    asked = playbook.questions[:2] if turn == 1 else playbook.questions[(turn - 1) % 2 :][:1]
    statuses = _EVIDENCE_STATUSES[min(turn, len(_EVIDENCE_STATUSES)) - 1]
    return {
        "message": f"{opening} {playbook.hypothesis} Let's confirm it with the checks below.",
        "questions": [
            {"id": f"q{i}", "text": text, "options": list(options)}
            for i, (text, options) in enumerate(asked, 1)
        ],
        "actions": [{"id": f"a{i}", "text": text} for i, text in enumerate(playbook.actions[:n_actions], 1)],
        "triage_update": {
            "client_name": client.group(1) if client else None,
            "asset_name": asset.group(1) if asset else None,
            "issue_category": playbook.category,
            "hypothesis": playbook.hypothesis,
            "evidence": [
                {"text": text, "status": status}
                for text, status in zip(playbook.evidence, statuses, strict=False)
            ],
        },
        "problem_summary": _snippet(first, 120) or "Issue shown in a screenshot",
        "problem_domain": playbook.domain,
        "confidence": _CONFIDENCE_BY_TURN[min(turn, len(_CONFIDENCE_BY_TURN)) - 1],
    }


def _default_text(messages: list[dict[str, Any]]) -> str:
    """A handoff draft with the three sections FlowPilot parses, built from what the engineer wrote."""
    user_texts = [t for t in (_text_of(m["content"]) for m in messages if m["role"] == "user") if t.strip()]
    if len(user_texts) == 1:
        user_texts = [line for line in user_texts[0].splitlines() if line.strip()]
    user_texts = user_texts or ["(no text in the conversation)"]
    playbook = _playbook_for(" ".join(user_texts))
    steps = "\n".join(f"{i}. Engineer noted: {_snippet(text)}" for i, text in enumerate(user_texts[:5], 1))
    return (
        f"## Root cause\n{playbook.hypothesis} Reported as: {_snippet(user_texts[0])}\n\n"
        f"## Steps taken\n{steps}\n\n"
        f"## Recommendations\n{playbook.recommendation}\n"
    )


def _playbook_for(text: str) -> _Playbook:
    return next((playbook for pattern, playbook in _PLAYBOOKS if pattern.search(text)), _GENERAL)


def _text_of(content: Any) -> str:
    """The readable text of a message's content: a string, or text inside text and tool_result blocks."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            # What an app adds as context is not what the engineer said: a model would not quote it back.
            if not block.get("text", "").startswith("[FlowPilot context"):
                parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content") or ""))
    return "\n".join(part for part in parts if part)


def _has_image(content: Any) -> bool:
    return isinstance(content, list) and any(block.get("type") == "image" for block in content)


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _example_for(schema: dict[str, Any]) -> Any:
    """The smallest value a JSON schema accepts, filling only required properties."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _example_for(props.get(name, {})) for name in schema.get("required", [])}
    return {"string": "example", "integer": 0, "number": 0, "boolean": False, "array": []}.get(kind or "")


# -- small helpers --


_USAGE_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")


def _api_key(headers: Mapping[str, str]) -> str | None:
    """The caller's key: `x-api-key`, or `Authorization: Bearer`, which anthropic 2.x sends for api_key=."""
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _zero_usage() -> dict[str, int]:
    return dict.fromkeys(_USAGE_KEYS, 0)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def _chunks(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def _send(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


async def _abort(request: web.Request) -> None:
    """Drop the TCP connection without finishing the body, as a network failure or proxy timeout does."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # Give the loop a turn so the abort happens before aiohttp tries to finish the response.
    await asyncio.sleep(0)
