"""The REST API under test: the real app on a free port, real PostgreSQL, the fake Anthropic server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from adapters.runtime import Runtime
from fakes.anthropic import FakeAnthropic
from tests.conftest import app_settings, running_app

ACME = "tok-acme"
EVIL = "tok-evil"
TOKENS = f"{ACME}@slack:T-ACME, {EVIL}@slack:T-EVIL"


@dataclass
class Api:
    base: str
    http: aiohttp.ClientSession
    runtime: Runtime
    fake: FakeAnthropic
    token: str = ACME

    def headers(self, token: str | None = None, user: str | None = "U-ALICE") -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if user:
            headers["X-FlowPilot-User"] = user
        return headers

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        user: str | None = "U-ALICE",
        expect: int | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        if body is not None:
            kwargs["json"] = body
        async with self.http.request(
            method, f"{self.base}{path}", headers=self.headers(token, user), **kwargs
        ) as r:
            text = await r.text()
            data = json.loads(text) if r.content_type == "application/json" else text
            if expect is not None:
                assert r.status == expect, (r.status, data)
            return r.status, data

    async def start(
        self, text: str = "Users at Contoso cannot print to PRN-2 since this morning", **body: Any
    ) -> dict[str, Any]:
        _, data = await self.call("POST", "/api/ai-sessions", {"text": text, **body}, expect=201)
        started: dict[str, Any] = data
        return started

    async def draft(self, session_id: str, kind: str = "resolve") -> list[tuple[str, Any]]:
        async with self.http.post(
            f"{self.base}/api/ai-sessions/{session_id}/handoff-draft",
            json={"kind": kind},
            headers=self.headers(),
        ) as r:
            assert r.status == 200, await r.text()
            assert r.content_type == "text/event-stream"
            return await read_sse(r)


async def read_sse(response: aiohttp.ClientResponse) -> list[tuple[str, Any]]:
    """The (event, data) pairs of a Server-Sent Events stream, comments skipped."""
    return [event async for event in iter_sse(response)]


async def iter_sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """The (event, data) pairs of a Server-Sent Events stream as they arrive, comments skipped."""
    event, data = "message", list[str]()
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


@pytest.fixture
async def api(db_url: str, fake_claude: FakeAnthropic) -> AsyncIterator[Api]:
    settings = app_settings(db_url, fake_claude, FLOWPILOT_API_TOKENS=TOKENS)
    async with running_app(settings) as (base, runtime), aiohttp.ClientSession() as http:
        yield Api(base, http, runtime, fake_claude)
