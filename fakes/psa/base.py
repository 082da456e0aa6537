"""What the three fake PSAs share: a real HTTP server on a free local port, recorded requests, injected faults.

A fault (`fail`, `delay`) applies to the next `times` requests whose path contains a string, before the
credentials are checked, the way a proxy's 429 or an overloaded server's 503 comes before any logic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_BODY = web.RequestKey("fake_psa.body", object)


@dataclass(frozen=True)
class SeedTicket:
    """A ticket a test puts on a fake PSA, in common words; each fake stores it in its own PSA's shape."""

    number: int
    title: str
    description: str = ""
    company: str = "Contoso Ltd"
    contact: str | None = "Jane Doe"
    site: str | None = "Main Office"
    configurations: tuple[str, ...] = ()
    status: str = "New"
    board: str = "Service Desk"  # ConnectWise board, Autotask queue, HaloPSA team
    priority: str = "Medium"
    notes: tuple[str, ...] = ()  # texts of notes already on the ticket, oldest first


@dataclass
class Fault:
    """An injected failure (status) or slowness (delay) for the next `remaining` matching requests."""

    path_contains: str
    status: int | None
    remaining: int
    method: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    after: bool = False  # the request is carried out first, then its answer is lost (the fault replaces it)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.path_contains.endswith("$"):  # "/tickets/12$": that resource, not its notes
            return path.endswith(self.path_contains[:-1])
        return self.path_contains in path


@dataclass(frozen=True)
class Recorded:
    """One request the fake received (headers as sent: tests assert on auth)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any


class Refused(Exception):
    """Raised by a route to answer with an error response (the middleware returns it)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def body_of(request: web.Request) -> Any:
    """The request's JSON body (read once by the middleware); None when empty or not JSON."""
    return request.get(_BODY)


class FakePsa:
    """The server and its fault queue; a subclass adds its PSA's routes, auth check and error shape."""

    name = "PSA"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: list[Fault] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ---- what a subclass provides ----------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def refusal(self, request: web.Request) -> web.Response | None:
        """The PSA's answer to a request whose credentials it refuses; None when they are good."""
        raise NotImplementedError

    def error(self, status: int, message: str) -> web.Response:
        """An error in the PSA's own body shape."""
        return web.json_response({"message": message}, status=status)

    # ---- lifecycle -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root, like https://na.myconnectwise.net (no trailing slash)."""
        if self._port is None:
            raise RuntimeError(f"the fake {self.name} is not running")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record_and_gate])
        self.add_routes(app)
        # A client that gives up (timeout) disconnects; its delayed handler is cancelled rather than awaited.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._port = None

    async def __aenter__(self) -> FakePsa:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- faults and records ----------------------------------------------------------------------------

    def fail(
        self,
        path_contains: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """The next `times` requests whose path contains `path_contains` (ends with it, given a trailing '$')
        get `status`, with a Retry-After header when `retry_after` is given. With `after`, the PSA carries the
        request out first (the note is written) and only the answer is the failure: a lost response."""
        self._faults.append(
            Fault(path_contains, status, times, method=method, retry_after=retry_after, after=after)
        )

    def delay(
        self,
        path_contains: str,
        seconds: float,
        *,
        times: int = 1,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """The next `times` matching requests are answered only after `seconds` (a client's timeout fires);
        with `after`, they are carried out before the wait."""
        self._faults.append(Fault(path_contains, None, times, method=method, delay=seconds, after=after))

    def calls(self, method: str, path_contains: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None

    @web.middleware
    async def _record_and_gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        if raw and request.content_type == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                return self.error(400, "The request body is not valid JSON.")
        elif raw:
            body = dict(await request.post())
        request[_BODY] = body
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        fault = self._take_fault(request.method, request.path)
        if fault is None:
            return await self._answer(request, handler)
        answer = await self._answer(request, handler) if fault.after else None
        await asyncio.sleep(fault.delay)
        if fault.status is not None:
            response = self.error(fault.status, f"Injected HTTP {fault.status}.")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return response
        return answer if answer is not None else await self._answer(request, handler)

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except Refused as refused_by_route:
            return refused_by_route.response
