"""Getting into Slack: OAuth install, DMs and the assistant pane, attached files, and a fast ack."""

from __future__ import annotations

import asyncio
import base64
import html
import re
import struct
import time
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bot.intake import NOT_AN_IMAGE
from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from storage.models import ThreadBinding
from tests.conftest import running_app

from .conftest import ALICE, SlackHarness, slack_settings, started, wait_for

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "client-secret"


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


async def test_oauth_install_is_stored_and_its_token_answers_the_workspace(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> None:
    fake_slack.add_oauth_app(CLIENT_ID, CLIENT_SECRET)
    fake_slack.tokens.discard("xoxb-test")  # only the token handed out by the install works
    settings = slack_settings(
        db_url,
        fake_claude,
        fake_slack,
        SLACK_BOT_TOKEN=None,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
    )
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        async with http.get(f"{url}/slack/install", allow_redirects=False) as response:
            page = await response.text()
            location = response.headers.get("Location", "")
        authorize = re.search(r"https://slack\.com/oauth/v2/authorize\?[^\"' <]+", location or page)
        assert authorize is not None
        query = parse_qs(urlsplit(html.unescape(authorize.group(0))).query)
        assert query["client_id"] == [CLIENT_ID] and "chat:write" in query["scope"][0]
        state = query["state"][0]
        # The person approves in Slack; Slack sends the browser back with a code.
        code = fake_slack.oauth_code("xoxb-installed-1")
        async with http.get(
            f"{url}/slack/oauth_redirect",
            params={"code": code, "state": state},
            headers={"Cookie": f"slack-app-oauth-state={state}"},
        ) as response:
            assert response.status == 200, await response.text()
        assert fake_slack.calls("oauth.v2.access")[0]["client_id"] == CLIENT_ID
        async with runtime.db() as db:
            bots = (await db.execute(sa.text("SELECT team_id, bot_token FROM slack_bots"))).all()
        assert [tuple(b) for b in bots] == [(fake_slack.team_id, "xoxb-installed-1")]

        slack = SlackHarness(url, runtime, fake_slack, fake_claude, http)
        event = fake_slack.post_user_message(fake_slack.general, "<@U0FAKEBOT1> VPN is down", user=ALICE)
        event["type"] = "app_mention"
        assert (await slack.event(event)).status == 200
        await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="a reply with the installed token")


async def test_an_event_is_acked_before_slow_slack_work(slack: SlackHarness) -> None:
    slack.fake.latency = 1.5  # every Web API call (auth.test, users.info, chat.*) is slow
    event = slack.fake.post_user_message(slack.fake.general, "<@U0FAKEBOT1> DNS is down", user=ALICE)
    event["type"] = "app_mention"
    begin = time.perf_counter()
    response = await slack.event(event)
    assert response.status == 200 and time.perf_counter() - begin < 0.5
    begin = time.perf_counter()
    assert (await slack.slash("status")).status == 200 and time.perf_counter() - begin < 0.5
    slack.fake.latency = 0
    await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the reply after the ack")


def _dm_event(fake: FakeSlack, text: str, thread_ts: str | None = None) -> dict[str, Any]:
    return fake.post_user_message(ALICE, text, user=ALICE, thread_ts=thread_ts)  # a user id opens the DM


async def test_the_assistant_pane_prompts_sets_status_and_title(slack: SlackHarness) -> None:
    fake = slack.fake
    root = _dm_event(fake, "(assistant thread)")  # stored only: Slack opens the pane's thread itself
    dm, thread_ts = root["channel"], root["ts"]
    started_event = {
        "type": "assistant_thread_started",
        "assistant_thread": {"user_id": ALICE, "channel_id": dm, "thread_ts": thread_ts, "context": {}},
        "event_ts": thread_ts,
    }
    await slack.event(started_event)
    prompts = await wait_for(lambda: fake.assistant_thread(dm, thread_ts).get("prompts"), what="prompts")
    assert len(prompts) == 3

    await slack.event(_dm_event(fake, "Outlook keeps asking for the password at Contoso", thread_ts))
    await wait_for(lambda: slack.with_action("fp_answer_1_0", dm), what="the first reply in the DM")
    statuses = [c for c in fake.calls("assistant.threads.setStatus") if c["thread_ts"] == thread_ts]
    assert statuses and statuses[0]["status"] == "is thinking…"
    session = await slack.session()
    assert session is not None
    summary = session.problem_summary or session.title
    assert summary is not None
    title = summary[:254]
    await wait_for(
        lambda: fake.assistant_thread(dm, thread_ts).get("title", "").startswith(title), what="the title"
    )
    assert not [m for m in fake.messages(dm) if "thinking" in m.get("text", "")]  # no placeholder here
    async with slack.runtime.db() as db:
        binding = (await db.execute(sa.select(ThreadBinding))).scalars().one()
    assert binding.extra == {"assistant": True} and binding.thread_id == thread_ts

    # The next message in that thread is a turn of the same session, again with the status.
    await slack.event(_dm_event(fake, "It started after the password change", thread_ts))
    await wait_for(lambda: slack.claude_calls() == 2, what="the second turn")
    await wait_for(lambda: len(fake.calls("assistant.threads.setStatus")) == 2, what="a second status")


async def test_a_direct_message_starts_a_session(slack: SlackHarness) -> None:
    event = _dm_event(slack.fake, "The printer at Contoso is stuck")
    await slack.event(event)
    reply = (await wait_for(lambda: slack.with_action("fp_answer_1_0", event["channel"]), what="reply"))[0]
    assert reply["thread_ts"] == event["ts"]
    assert await slack.session() is not None


class ForeignHost:
    """A file host that is not Slack's: it must never see a request, let alone the bot token."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def __aenter__(self) -> ForeignHost:
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "localhost", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        return web.Response(text="stolen")


async def test_attached_log_and_screenshot_reach_claude_and_foreign_files_are_not_fetched(
    slack: SlackHarness,
) -> None:
    fake = slack.fake
    header, _ = await started(slack)
    log = fake.add_file("outlook.log", b"10:01 ERROR AADSTS50076 MFA required\n", "text/plain", user=ALICE)
    png = tiny_png()
    shot = fake.add_file("screenshot.png", png, "image/png", user=ALICE)
    async with ForeignHost() as foreign:
        elsewhere = {
            **fake.add_file("notes.txt", b"x", "text/plain", user=ALICE),
            "name": "notes.txt",
            "url_private": f"http://localhost:{foreign.port}/notes.txt",
            "url_private_download": f"http://localhost:{foreign.port}/notes.txt",
        }
        event = fake.post_user_message(
            fake.general, "Here is the log", user=ALICE, thread_ts=header["ts"], files=[log, shot, elsewhere]
        )
        await slack.event(event)
        await wait_for(lambda: slack.claude_calls() == 2, what="the turn with the files")
        assert foreign.requests == []
    downloads = fake.calls("files-pri")
    assert sorted(d["file"] for d in downloads) == sorted([log["id"], shot["id"]])
    assert all(d["authorized"] for d in downloads)
    content = slack.claude.requests[-1].body["messages"][-1]["content"]
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    texts = "\n".join(b.get("text", "") for b in blocks if b["type"] == "text")
    assert "AADSTS50076 MFA required" in texts
    images = [b for b in blocks if b["type"] == "image"]
    assert [(i["source"]["media_type"], i["source"]["data"]) for i in images] == [
        ("image/png", base64.b64encode(png).decode())
    ]
    skipped = await wait_for(lambda: fake.ephemerals(fake.general), what="the skipped-file notice")
    assert skipped[0]["user"] == ALICE and "notes.txt" in skipped[0]["text"]


async def test_a_file_lost_from_the_message_that_starts_a_session_is_reported_in_its_thread(
    slack: SlackHarness,
) -> None:
    fake = slack.fake
    stored = fake.add_file("vpn.log", b"10:00 IKE rekey failed\n", "text/plain", user=ALICE)
    # Deleted in Slack before we fetched it: the download answers 404.
    gone = {
        **stored,
        "url_private": stored["url_private"].replace(stored["id"], "F0DELETED1"),
        "url_private_download": stored["url_private_download"].replace(stored["id"], "F0DELETED1"),
    }
    event = fake.post_user_message(
        fake.general, "<@U0FAKEBOT1> The VPN drops every hour", user=ALICE, files=[gone]
    )
    event["type"] = "app_mention"
    await slack.event(event)
    reply = (await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the first reply"))[0]
    told = await wait_for(lambda: fake.ephemerals(fake.general), what="the skipped-file notice")
    assert [(t["user"], t.get("thread_ts")) for t in told] == [(ALICE, reply["thread_ts"])]
    assert "vpn.log" in told[0]["text"]
    assert [d["file"] for d in fake.calls("files-pri")] == ["F0DELETED1"]  # it was tried, once


async def test_a_screenshot_that_is_not_an_image_gets_the_cores_error_in_the_thread(
    slack: SlackHarness,
) -> None:
    fake = slack.fake
    header, _ = await started(slack)
    fake_png = fake.add_file("screenshot.png", b"this is not a picture", "image/png", user=ALICE)
    event = fake.post_user_message(
        fake.general, "See the screenshot", user=ALICE, thread_ts=header["ts"], files=[fake_png]
    )
    await slack.event(event)
    told = await wait_for(lambda: fake.ephemerals(fake.general), what="the error")
    assert told[0]["text"] == NOT_AN_IMAGE.format(name="screenshot.png")
    assert told[0]["user"] == ALICE and told[0].get("thread_ts") == header["ts"]
    await asyncio.sleep(0.2)
    assert slack.claude_calls() == 1
