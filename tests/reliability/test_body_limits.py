"""Bodies are size-limited before they are read (Slack 3 MB, Teams 1 MB, the REST API's documented 16 MB).

Through the real app: an oversized body gets a 413 whatever it carries (a signed slash command, a Teams
activity whose serviceUrl is a capture server, an unauthenticated REST call), and its handler never runs:
no session, no Claude call, nothing sent to the capture server. A chunked body without Content-Length is
read only up to the limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.limits import MB
from fakes.anthropic import FakeAnthropic
from fakes.connector import personal_message
from fakes.slack import FakeSlack, signed_headers, slash_command_body
from tests.api.conftest import TOKENS
from tests.conftest import running_app
from tests.reliability.capture import Capture, capture_server  # noqa: F401  (the capture fixture)
from tests.slack.conftest import ALICE, SECRET, SlackHarness, slack_settings, wait_for

PROBLEM = "Outlook keeps asking for the password at Contoso "


@pytest.fixture
async def app(db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    """Slack, Teams (anonymous, for local tries) and the REST API, all mounted."""
    settings = slack_settings(
        db_url, fake_claude, fake_slack, FLOWPILOT_TEAMS_ANONYMOUS="1", FLOWPILOT_API_TOKENS=TOKENS
    )
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        yield SlackHarness(url, runtime, fake_slack, fake_claude, http)


def big_slash_command(app: SlackHarness, size: int) -> bytes:
    text = PROBLEM + "x" * (size - len(PROBLEM))
    return slash_command_body(
        "/flowpilot", text, user_id=ALICE, channel_id=app.fake.general, team_id=app.team
    )


async def post(
    app: SlackHarness, path: str, data: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with app.http.post(f"{app.url}{path}", data=data, headers=headers) as response:
        raw = await response.read()
        body = json.loads(raw) if response.content_type == "application/json" else raw
        return response.status, body


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The body in pieces, sent without Content-Length (Transfer-Encoding: chunked)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def nothing_happened(app: SlackHarness, capture: Capture) -> None:
    assert await app.session() is None
    assert app.claude_calls() == 0
    assert app.fake.call_count("chat.postMessage") == 0
    assert capture.received == []


async def test_oversized_bodies_get_413_before_anything_reads_them(
    app: SlackHarness, capture: Capture
) -> None:
    # A signed slash command of 4 MB: a real problem, but over Slack's 3 MB.
    body = big_slash_command(app, 4 * MB)
    status, answer = await post(app, "/slack/events", body, signed_headers(body, secret=SECRET))
    assert status == 413
    assert answer["error"]["code"] == "too_large" and "3,145,728 bytes" in answer["error"]["message"]

    # A Teams activity of 2 MB whose replies would go to the capture server (a loopback serviceUrl is
    # what anonymous local mode answers).
    activity = personal_message(PROBLEM + "x" * 2 * MB, service_url=capture.url)
    status, answer = await post(
        app, "/api/messages", json.dumps(activity), {"Content-Type": "application/json"}
    )
    assert status == 413 and "1,048,576 bytes" in answer["error"]["message"]

    # An unauthenticated REST call over the API's 16 MB: refused for its size before the token is read.
    status, answer = await post(
        app, "/api/ai-sessions", b"{" + b" " * 17 * MB + b"}", {"Content-Type": "application/json"}
    )
    assert status == 413 and answer["error"]["code"] == "too_large"

    await nothing_happened(app, capture)


async def test_a_chunked_body_is_read_only_up_to_the_limit(app: SlackHarness, capture: Capture) -> None:
    body = big_slash_command(app, 4 * MB)
    status, answer = await post(app, "/slack/events", chunked(body), signed_headers(body, secret=SECRET))
    assert status == 413 and answer["error"]["code"] == "too_large"

    activity = json.dumps(personal_message(PROBLEM + "x" * 2 * MB, service_url=capture.url)).encode()
    status, _ = await post(app, "/api/messages", chunked(activity), {"Content-Type": "application/json"})
    assert status == 413
    await nothing_happened(app, capture)


async def test_a_body_within_the_limit_is_still_handled(app: SlackHarness) -> None:
    """The same signed slash command, chunked and just under 3 MB, starts its session."""
    body = big_slash_command(app, 3 * MB - 4096)
    status, _ = await post(app, "/slack/events", chunked(body), signed_headers(body, secret=SECRET))
    assert status == 200
    assert await wait_for(app.session, what="the session")


async def test_an_oversized_sender_gets_its_413_and_then_the_connection_is_closed(app: SlackHarness) -> None:
    """A client announcing 20 MB and sending a trickle holds no connection open: it reads the 413, and the
    server closes the connection soon after (aiohttp's default would read its junk for 10 s)."""
    host, port = app.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST /api/ai-sessions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {20 * MB}\r\n\r\n{{".encode()
            + b" " * 65536
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 413 ")
        # Nothing more is sent; the server must end the connection itself (EOF), well before 10 s.
        async with asyncio.timeout(6):
            while await reader.read(65536):
                pass
    finally:
        writer.close()
