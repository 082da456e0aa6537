"""Teams is safe by default (issue 12): hostile requests on /api/messages of the real app, with a capture server
on another local port proving that nothing is fetched from it or sent to it.

- Without Teams credentials and without FLOWPILOT_TEAMS_ANONYMOUS=1, /api/messages is not mounted at all.
- Ids and the serviceUrl from a body never become URL paths unchecked; a mention's id is never looked up as one.
- Attachments come only from the serviceUrl's own origin in anonymous mode; a redirect elsewhere is not followed.
- A typed command is the word alone (only `escalate` takes arguments): problem text reaches Claude.
- Text people or Claude wrote cannot become a link or a mention in a card.
- Malformed bodies (deep nesting, bad UTF-8, unknown charsets, not an object) get a 4xx and one log line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web

from fakes.anthropic import FakeAnthropic
from fakes.connector import DEFAULT_PERSONAL_CONVERSATION_ID as CHAT
from fakes.connector import FakeConnector, invoke, personal_message
from storage.models import AISession
from tests.conftest import app_settings, running_app
from tests.teams.conftest import Teams, fast_timing, wait_for  # noqa: F401  (autouse: fast Teams pacing)
from tests.teams.helpers import button, card_of, raw_texts, texts

from .conftest import Served

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

SECRET = "SECRET-ADMIN-CONFIG-4242"
PROBLEM = "Outlook keeps asking for the password at Contoso on LAPTOP-042"
REFUSED = "refused a Teams request"


@dataclass
class Capture:
    """A server on another local port that must never be reached: it records every request it gets."""

    url: str = ""
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path and query, body

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            (request.method, request.path_qs, (await request.read()).decode(errors="replace"))
        )
        if request.path.startswith("/redirect/"):
            raise web.HTTPFound(f"{request.query['to']}")
        if request.method == "GET":
            return web.Response(text=SECRET)
        return web.json_response({"id": "1767225600001"})  # enough of a connector to get past a send


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    async for server in _capture_server():
        yield server


@pytest.fixture
async def elsewhere() -> AsyncIterator[Capture]:
    async for server in _capture_server():
        yield server


async def _capture_server() -> AsyncIterator[Capture]:
    server = Capture()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield server
    finally:
        await runner.cleanup()


def hostile(service_url: str, target: str) -> dict[str, Any]:
    """The issue's attack: a local serviceUrl, an attachment on a local admin path, a path-traversing id."""
    activity = personal_message(PROBLEM, service_url=service_url)
    activity["conversation"]["id"] = "../../../admin/shutdown?force=1#"
    activity["attachments"] = [
        {"contentType": "image/png", "name": "config.png", "contentUrl": f"{target}admin/config.txt"}
    ]
    return activity


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "adapters.teams.app" and REFUSED in r.getMessage()]


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def claude_saw(claude: FakeAnthropic, words: str) -> bool:
    return any(words in json.dumps(r.body) for r in claude.requests)


async def session_status(teams: Teams) -> str:
    async with teams.db() as db:
        return str((await db.execute(sa.select(AISession.status))).scalar_one())


async def post_raw(url: str, data: bytes, content_type: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/messages", data=data, headers={"Content-Type": content_type}) as response,
    ):
        return response.status


# ── 1. open without login by default ──────────────────────────────────────────────────────────────────
async def test_without_credentials_or_the_setting_flowpilot_serve_does_not_mount_teams(
    served: Served, capture: Capture
) -> None:
    """A Slack-only `flowpilot serve` (as behind the README's tunnel): /api/messages is simply not there."""
    async with aiohttp.ClientSession() as http:
        activity = hostile(capture.url, capture.url)
        async with http.post(f"{served.server.url}/api/messages", json=activity) as response:
            assert response.status == 404
    assert capture.requests == []
    log = served.log()
    line = next(line for line in log.splitlines() if "Teams adapter off" in line)
    assert "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID" in line
    assert "FLOWPILOT_TEAMS_ANONYMOUS=1" in line


# ── ids and the serviceUrl never become URL paths unchecked ────────────────────────────────────────────
def _set(activity: dict[str, Any], path: str, value: Any) -> None:
    node = activity
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value


BAD_IDS = [
    ("conversation.id", "../../../admin/shutdown?force=1#"),
    ("conversation.id", "a:1x/../../admin"),
    ("conversation.id", "19:abc@thread.v2?force=1"),
    ("conversation.id", "19:abc@thread.v2#frag"),
    ("conversation.id", "a:1 x"),
    ("conversation.id", "a:1\nx"),
    ("conversation.id", "a:1\x00x"),
    ("conversation.id", "%2e%2e%2fadmin"),
    ("conversation.id", "a:1" + "x" * 300),
    ("conversation.id", ".."),
    ("id", "../admin/shutdown"),
    ("replyToId", "1/../../admin/shutdown?force=1#"),
    ("from.id", "29:../../admin"),
    ("recipient.id", "28:bot#x"),
    ("conversation.id", 42),
]


async def test_ids_and_service_urls_that_would_steer_a_connector_call_are_refused(
    teams: Teams, capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    service = f"{capture.url}emea/"
    port = capture.url.rstrip("/").rsplit(":", 1)[1]
    cases: list[tuple[str, Any, str]] = [(path, value, service) for path, value in BAD_IDS]
    cases += [
        ("serviceUrl", f"{capture.url}emea/../admin/", ""),
        ("serviceUrl", f"{capture.url}emea/?next=/admin", ""),
        ("serviceUrl", f"{capture.url}#/admin", ""),
        ("serviceUrl", f"http://me:pw@127.0.0.1:{port}/", ""),
        ("serviceUrl", f"{capture.url}%2e%2e/admin/", ""),
        ("serviceUrl", f"file://127.0.0.1:{port}/etc/", ""),
    ]
    for path, value, service_url in cases:
        activity = personal_message(PROBLEM, service_url=service_url)
        _set(activity, path, value)
        caplog.clear()
        status, body = await teams.post(activity)
        assert status == 400, (path, value, status, body)
        assert len(refusals(caplog)) == 1, (path, value)
        assert str(value) not in refusals(caplog)[0].getMessage()  # the field is named, not its hostile text
    # A good message afterwards is answered through the fake connector, and the capture never heard a thing.
    await teams.post(personal_message(PROBLEM, service_url=teams.connector.service_url))
    await wait_for(lambda: len(teams.connector.activities(CHAT)) >= 2, what="the good message answered")
    assert capture.requests == []
    assert not claude_saw(teams.claude, "admin")
    no_traceback(caplog)


async def test_a_mentioned_id_is_never_looked_up_as_a_url_path(teams: Teams) -> None:
    fake, url = teams.connector, teams.connector.service_url
    await teams.post(personal_message(PROBLEM, service_url=url))
    await wait_for(lambda: len(fake.activities(CHAT)) >= 2, what="session started")
    activity = personal_message("escalate <at>Bob</at> the mailbox is corrupt", service_url=url)
    bad_id = "../../../admin/shutdown?force=1#"
    activity["entities"].append(
        {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"id": bad_id, "name": "Bob"}}
    )
    await teams.post(activity)
    draft = await wait_for(
        lambda: [a for a in fake.activities(CHAT) if a.attachments and "Escalating to" in texts(card_of(a))],
        what="the escalation draft",
    )
    assert "Bob" in texts(card_of(draft[0]))
    assert [r.path for r in fake.requests if not r.path.startswith("/v3/conversations/")] == []


# ── attachments ───────────────────────────────────────────────────────────────────────────────────────
async def test_anonymous_mode_fetches_attachments_only_from_the_service_origin_and_follows_no_redirect_away(
    teams: Teams, capture: Capture, elsewhere: Capture
) -> None:
    """The capture server plays the local service (the Playground); `elsewhere` is another port here."""
    other_port = elsewhere.url.rstrip("/").rsplit(":", 1)[1]
    target = f"{elsewhere.url}admin/config.txt"
    activity = personal_message(PROBLEM, service_url=capture.url)
    activity["attachments"] = [
        {"contentType": "image/png", "name": "other-port.png", "contentUrl": target},
        {
            "contentType": "image/png",
            "name": "localhost.png",
            "contentUrl": f"http://localhost:{other_port}/a",
        },
        {"contentType": "image/png", "name": "https.png", "contentUrl": f"https://127.0.0.1:{other_port}/a"},
        {
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": "dc01.log",
            "content": {"downloadUrl": f"{elsewhere.url}files/dc01.log", "fileType": "log"},
        },
        {"contentType": "image/png", "name": "file.png", "contentUrl": "file:///etc/passwd"},
        {
            "contentType": "image/png",
            "name": "redirected.png",
            "contentUrl": f"{capture.url}redirect/x.png?to={target}",
        },
    ]
    status, _ = await teams.post(activity)
    assert status == 202

    def told() -> str:
        return "\n".join(
            body for method, _, body in capture.requests if method == "POST" and "couldn" in body
        )

    said = await wait_for(told, what="the engineer told which files could not be opened")
    for name in ("other-port.png", "localhost.png", "https.png", "dc01.log", "file.png", "redirected.png"):
        assert name in said
    await wait_for(lambda: teams.claude.requests, what="the problem reaches Claude")
    assert elsewhere.requests == []
    gets = [path for method, path, _ in capture.requests if method == "GET"]
    assert len(gets) == 1 and gets[0].startswith("/redirect/x.png")
    assert not claude_saw(teams.claude, SECRET)


# ── typed commands ─────────────────────────────────────────────────────────────────────────────────────
async def test_problem_text_that_starts_with_a_command_word_reaches_claude(teams: Teams) -> None:
    fake, url = teams.connector, teams.connector.service_url
    await teams.post(personal_message(PROBLEM, service_url=url))
    await wait_for(lambda: len(fake.activities(CHAT)) >= 2, what="session started")

    for problem in (
        "Status code 0x80070005 when the installer runs",
        "Pause Windows Updates was enabled by GPO",
        "Escalated privileges error when running setup",
        "Resolve-DnsName fails for the DC",
    ):
        await teams.post(personal_message(problem, service_url=url))
        await wait_for(partial(claude_saw, teams.claude, problem), what=f"Claude gets {problem!r}")
        assert await session_status(teams) == "active"

    # The command words themselves still work, alone or with escalate's own arguments.
    await teams.post(personal_message("Pause", service_url=url))

    async def status_is(value: str) -> bool:
        return await session_status(teams) == value

    await wait_for(lambda: status_is("paused"), what="paused")
    await teams.post(personal_message("resume.", service_url=url))
    await wait_for(lambda: status_is("active"), what="resumed")

    def headers() -> int:
        return len([a for a in fake.activities(CHAT) if a.attachments and "Session " in texts(card_of(a))])

    before = headers()
    await teams.post(personal_message("status", service_url=url))
    await wait_for(lambda: headers() > before, what="a fresh header for status")
    activity = personal_message("escalate <at>Bob</at> the mailbox is corrupt", service_url=url)
    activity["entities"].append(
        {"type": "mention", "text": "<at>Bob</at>", "mentioned": {"id": "29:1bob", "name": "Bob"}}
    )
    await teams.post(activity)
    draft = await wait_for(
        lambda: [a for a in fake.activities(CHAT) if a.attachments and "Escalating to" in texts(card_of(a))],
        what="the escalation draft",
    )
    confirm = button(card_of(draft[-1]), "Confirm escalation")["data"]
    assert confirm["to_name"] == "Bob"
    reason = next(i for i in card_of(draft[-1])["body"] if i.get("id") == "reason")
    assert reason["value"] == "the mailbox is corrupt"
    assert not claude_saw(teams.claude, "the mailbox is corrupt")


# ── escaping ───────────────────────────────────────────────────────────────────────────────────────────
LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")


async def test_a_link_entered_through_edit_triage_is_shown_as_text_in_the_header(teams: Teams) -> None:
    fake, url = teams.connector, teams.connector.service_url
    await teams.post(personal_message(PROBLEM, service_url=url))
    header = (await wait_for(lambda: fake.activities(CHAT), what="header"))[0]
    status, body = await teams.post(
        invoke("task/fetch", {"data": button(card_of(header), "Edit triage")["data"]}, service_url=url)
    )
    assert status == 200
    form = body["task"]["value"]["card"]["content"]
    values = {i["id"]: i.get("value", "") for i in form["body"] if "id" in i}
    values["hypothesis"] = "[Click here to re-authenticate](https://evil.example/login)"
    values["client_name"] = "<at>Ada Lovelace</at> <https://evil.example/x>"
    values["add_evidence"] = "**urgent** _see_ ![img](https://evil.example/p.png)"
    await teams.post(
        invoke("task/submit", {"data": {**button(form, "Save")["data"], **values}}, service_url=url)
    )
    await wait_for(lambda: "Click here to re-authenticate" in texts(card_of(header)), what="header edited")
    sent = raw_texts(card_of(header))
    assert not LINK.search(sent), sent
    assert not re.search(r"(?<!\\)<(at|https?:)", sent), sent
    assert not re.search(r"(?<!\\)\*\*urgent", sent), sent
    shown = texts(card_of(header))
    assert "[Click here to re-authenticate](https://evil.example/login)" in shown
    assert "<at>Ada Lovelace</at>" in shown and "**urgent** _see_" in shown


async def test_links_and_mentions_in_claudes_reply_are_defused_but_its_emphasis_stays(teams: Teams) -> None:
    fake = teams.connector
    teams.claude.queue_turn(
        {
            "message": "**Sign in again** at [the portal](https://evil.example/login) or <at>IT</at>",
            "questions": [{"id": "q1", "text": "Did [this](https://evil.example) help?", "options": ["Yes"]}],
            "actions": [],
            "triage_update": {"client_name": "Contoso", "hypothesis": "Stale token", "evidence": []},
            "problem_summary": "Outlook prompts",
            "problem_domain": "identity",
            "confidence": 0.5,
        }
    )
    await teams.post(personal_message(PROBLEM, service_url=fake.service_url))
    turn = (
        await wait_for(
            lambda: fake.activities(CHAT) if len(fake.activities(CHAT)) >= 2 else None, what="turn"
        )
    )[1]
    sent = raw_texts(card_of(turn))
    assert "**Sign in again**" in sent
    assert not LINK.search(sent) and "<at>" not in sent, sent
    assert "[the portal](https://evil.example/login)" in texts(card_of(turn))


# ── malformed bodies ───────────────────────────────────────────────────────────────────────────────────
async def test_malformed_bodies_get_a_4xx_and_one_log_line(
    teams: Teams, capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    good = personal_message(PROBLEM, service_url=capture.url)
    nested = dict(good, value=json.loads("[" * 65 + "]" * 65))
    bodies: list[tuple[bytes, str]] = [
        (
            json.dumps(good)[:-1].encode() + b', "value": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
            "application/json",
        ),
        (json.dumps(nested).encode(), "application/json"),
        (json.dumps(good).encode().replace(b"Outlook", b"Outl\xffok"), "application/json"),
        (json.dumps(good).encode(), "application/json; charset=x-no-such-charset"),
        (json.dumps(good).encode("latin-1"), "application/json; charset=latin-1"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"{not json", "application/json"),
    ]
    for data, content_type in bodies:
        caplog.clear()
        status = await post_raw(teams.url, data, content_type)
        assert 400 <= status < 500, (data[:80], content_type, status)
        assert len(refusals(caplog)) == 1, (data[:80], content_type)
        no_traceback(caplog)
    assert capture.requests == []
    assert teams.claude.requests == []


async def test_with_the_setting_a_local_service_still_works(
    db_url: str, fake_claude: FakeAnthropic, connector: FakeConnector
) -> None:
    """Anonymous mode is there when asked for: a Playground-like local service gets its session."""
    settings = app_settings(db_url, fake_claude, FLOWPILOT_TEAMS_ANONYMOUS="1")
    async with running_app(settings) as (url, runtime):
        teams = Teams(url, runtime, connector, fake_claude)
        activity = personal_message(
            PROBLEM, service_url=connector.service_url, conversation_id="3f2c|livechat"
        )
        assert (await teams.post(activity))[0] == 202
        await wait_for(lambda: len(connector.activities("3f2c|livechat")) >= 2, what="header and first turn")
        assert (
            await teams.post(personal_message("hi", service_url="https://smba.trafficmanager.net/emea/"))
        )[0] == 403
