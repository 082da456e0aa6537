"""FakeSlack: the workspace behind a real HTTP server (the Web API, file downloads, Socket Mode, response URLs)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes.slack.errors import SlackError
from fakes.slack.methods import METHODS
from fakes.slack.payloads import DEFAULT_APP_ID
from fakes.slack.socket_mode import SocketMode
from fakes.slack.wire import basic_auth, bearer, read_request
from fakes.slack.workspace import Workspace

_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to Slack</h1><form action='/signin'></form></body></html>"
)


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack(Workspace):
    """A fake Slack workspace behind a real HTTP server; see the package docstring."""

    def __init__(
        self,
        *,
        team_id: str = "T0FAKETEAM",
        team_name: str = "Fake Team",
        bot_user_id: str = "U0FAKEBOT1",
        bot_id: str = "B0FAKEBOT1",
        app_id: str = DEFAULT_APP_ID,
    ) -> None:
        super().__init__(
            team_id=team_id, team_name=team_name, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id
        )
        self.latency = 0.0
        self._socket_mode = SocketMode(app_id=app_id, tickets=self._tickets)
        self.socket_connected = self._socket_mode.connected
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._call_times: dict[str, list[float]] = defaultdict(list)
        # Per call, filled in when it is answered: True when Slack accepted it (HTTP 200 and ok).
        self._call_accepted: dict[str, list[list[bool]]] = defaultdict(list)
        # Called (in the fake's thread) with (method, payload, perf_counter time) for every Web API call:
        # the benchmarks index replies with it instead of scanning every call.
        self.observers: list[Callable[[str, dict[str, Any], float], None]] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """What the app gets as SLACK_API_URL / ``AsyncWebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._file_download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._file_download)
        app.router.add_get("/socket", self._socket_mode.serve)
        app.router.add_post("/response/{response_id}", self._response_url)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        await self._socket_mode.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[FakeSlack]:
        """Run a FakeSlack on its own event loop in a daemon thread (for sync tests or foreign loops)."""
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(fake.start())
            except BaseException as exc:  # surfaced in the calling thread below
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(fake.stop())
            loop.close()

        thread = threading.Thread(target=run, name="fake-slack", daemon=True)
        thread.start()
        started.wait(timeout=10)
        if failure:
            raise failure[0]
        try:
            yield fake
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    async def _on_server_loop(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``make()`` on the server's loop, from the server's loop or another one."""
        assert self._loop is not None, "FakeSlack is not started"
        if asyncio.get_running_loop() is self._loop:
            return await make()

        async def run() -> Any:
            return await make()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self._loop))

    # -- the calls an app made ------------------------------------------------------------------------

    def timed_calls(self, method: str, *, accepted: bool = False) -> list[tuple[float, dict[str, Any]]]:
        """Each call with the time.perf_counter() it arrived at (for the benchmarks); with `accepted`, only
        the calls Slack accepted (not rate-limited or refused), i.e. what became visible."""
        with self._lock:
            calls = zip(
                self._call_times.get(method, []),
                copy.deepcopy(self._calls.get(method, [])),
                self._call_accepted.get(method, []),
                strict=True,
            )
            return [(at, payload) for at, payload, ok in calls if not accepted or ok[0]]

    def most_edits_in_one_second(self, since: float = 0.0) -> int:
        """The most chat.appendStream / chat.update calls any one message got within a 1-second window."""
        by_message: dict[str, list[float]] = {}
        for method in ("chat.appendStream", "chat.update"):
            for at, payload in self.timed_calls(method):
                if at >= since:
                    by_message.setdefault(str(payload.get("ts")), []).append(at)
        worst = 0
        for times in by_message.values():
            times.sort()
            first = 0
            for i, at in enumerate(times):
                while at - times[first] >= 1.0:
                    first += 1
                worst = max(worst, i - first + 1)
        return worst

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Parsed arguments of every call to ``method`` (``files-pri`` for downloads), oldest first."""
        with self._lock:
            return copy.deepcopy(self._calls.get(method, []))

    def call_count(self, method: str) -> int:
        with self._lock:
            return len(self._calls.get(method, []))

    # -- faults ---------------------------------------------------------------------------------------

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with Retry-After."""
        fault = _Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        with self._lock:
            self._faults[method].extend([fault] * times)

    def fail(self, method: str, *, error: str = "internal_error", status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}`` with ``status``."""
        with self._lock:
            self._faults[method].extend([_Fault(status, {"ok": False, "error": error})] * times)

    def disable_streaming(self, error: str = "not_allowed_token_type") -> None:
        """chat.startStream answers ``error`` from now on (as for an app without the agent feature)."""
        self._streaming_error = error

    def enable_streaming(self) -> None:
        self._streaming_error = None

    def expire_stream(self, ts: str) -> None:
        """Slack ends streams on its own after a while; the next append/stop answers not-streaming."""
        with self._lock:
            for stored in self._messages.values():
                if stored.data["ts"] == ts:
                    stored.streaming = False

    # -- socket mode ----------------------------------------------------------------------------------

    async def wait_socket_connected(self, timeout: float = 5.0) -> None:
        """Wait until an app holds a Socket Mode connection (works from any event loop)."""

        async def wait() -> None:
            await asyncio.wait_for(self.socket_connected.wait(), timeout)

        await self._on_server_loop(wait)

    async def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Push an ``events_api`` / ``slash_commands`` / ``interactive`` envelope; return the app's ack.

        The ack is what the app sent back: ``{"envelope_id": ..., "payload": {...}?}``.
        """
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api"
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        result: dict[str, Any] = await self._on_server_loop(
            lambda: self._socket_mode.send(envelope, timeout=timeout)
        )
        return result

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected apps to reconnect, as Slack does every few hours."""
        await self._on_server_loop(lambda: self._socket_mode.disconnect(reason))

    # -- HTTP plumbing --------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload, token = await read_request(request)
        if method == "oauth.v2.access":  # authenticated by the app's client credentials instead
            payload = {**basic_auth(request), **payload}
        with self._lock:
            self._calls[method].append(payload)
            self._call_times[method].append(time.perf_counter())
            outcome = [False]
            self._call_accepted[method].append(outcome)
            for observe in self.observers:
                observe(method, payload, self._call_times[method][-1])
            fault = self._faults[method].popleft() if self._faults.get(method) else None
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None:
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        if method not in METHODS:
            return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
        try:
            if method != "oauth.v2.access":
                self._authorize(method, token)
            with self._lock:
                body = self._call(method, payload)
            status = 200
        except SlackError as exc:
            body, status = exc.body, exc.status
        outcome[0] = status == 200 and bool(isinstance(body, dict) and body.get("ok", True))
        return web.json_response(body, status=status)

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Answer one Web API call, with the lock held (a subclass may wrap it to see the answers)."""
        return METHODS[method](self, payload)

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        wanted, other = (
            (self.app_tokens, self.tokens)
            if method == "apps.connections.open"
            else (self.tokens, self.app_tokens)
        )
        if token in other:
            raise SlackError("not_allowed_token_type")
        if token not in wanted:
            raise SlackError("invalid_auth")

    async def _file_download(self, request: web.Request) -> web.Response:
        team_file = request.match_info["team_file"]
        file_id = team_file.split("-", 1)[-1]
        token = bearer(request)
        authorized = token in self.tokens
        with self._lock:
            self._calls["files-pri"].append({"file": file_id, "authorized": authorized})
            stored = self._files.get(file_id)
        if not authorized:
            return web.Response(text=_LOGIN_PAGE, content_type="text/html")
        if stored is None:
            return web.Response(status=404, text="<html>Not found</html>", content_type="text/html")
        file, content = stored
        headers = {}
        if request.path.split("/")[3] == "download":
            headers["Content-Disposition"] = f'attachment; filename="{file["name"]}"'
        return web.Response(body=content, content_type=file["mimetype"], headers=headers)

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self._responses.append({"url": str(request.url), **body})
        return web.Response(text="ok")
