"""Hostile Slack requests through the real POST /slack/events (issue 12, "Safe by default").

File links outside Slack's file hosts get no bot token (a capture server proves nothing reaches it);
malformed headers, bodies, charsets and nesting are a 4xx with one log line; a replayed signed slash
command starts one session; a thread belongs to the workspace whose session it holds; the header's
notification text is escaped like its blocks.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from adapters.slack import messages as slack_msg
from fakes.slack import block_actions_payload, event_callback_body, signed_headers, slash_command_body
from storage.models import AISession, ThreadBinding
from tests.reliability.capture import Capture, capture_server  # noqa: F401  (the capture fixture)
from tests.reliability.conftest import settle
from tests.slack.conftest import ALICE, EVIL_TEAM, MALLORY, SECRET, SlackHarness, started, wait_for

NESTED = 100_000  # far past Python's recursion limit


def user_texts(slack: SlackHarness) -> str:
    """Everything the engineers' messages put in front of Claude, in its last request."""
    content = slack.claude.requests[-1].body["messages"][-1]["content"]
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    return "\n".join(b.get("text", "") for b in blocks if b["type"] == "text")


# ── item 8: Slack file downloads ──────────────────────────────────────────────────────────────────
async def test_file_links_off_slacks_file_hosts_get_no_token_and_the_message_still_reaches_claude(
    slack: SlackHarness, capture: Capture
) -> None:
    fake = slack.fake
    header, _ = await started(slack)
    genuine = fake.add_file("notes.txt", b"x", "text/plain", user=ALICE)
    links = {
        "steal.log": f"{capture.url}/steal",  # plain HTTP to this machine, beside the fake Slack
        "tls.log": f"https://127.0.0.1:{capture.port}/steal",  # HTTPS, but not Slack's host
        "plain.log": "http://files.slack.com/files-pri/T0FAKETEAM-F0PLAIN/plain.log",  # Slack's, unencrypted
        "port.log": "https://files.slack.com:8443/files-pri/T0FAKETEAM-F0PORT/port.log",
    }
    shared = [
        {**genuine, "name": name, "url_private": url, "url_private_download": url}
        for name, url in links.items()
    ]
    event = fake.post_user_message(
        fake.general, "Here are the logs from the VPN box", user=ALICE, thread_ts=header["ts"], files=shared
    )
    event["subtype"] = "file_share"
    calls = slack.claude_calls()
    await slack.event(event)
    await wait_for(lambda: slack.claude_calls() == calls + 1, what="the turn without the files")
    await wait_for(lambda: len(fake.ephemerals(fake.general)) == len(links), what="the notices")
    assert capture.received == []
    assert fake.calls("files-pri") == []
    assert "Here are the logs from the VPN box" in user_texts(slack)
    notices = fake.ephemerals(fake.general)
    assert sorted(n["text"] for n in notices) == sorted(
        slack_msg.FILE_REFUSED.format(name=name) for name in links
    )
    assert {(n["user"], n.get("thread_ts")) for n in notices} == {(ALICE, header["ts"])}


# ── item 9: malformed requests are a 4xx with one log line, never a 500 with a traceback ─────────────
def _deep_event(slack: SlackHarness) -> bytes:
    envelope = json.loads(event_callback_body({"type": "app_mention"}, team_id=slack.team))
    text = json.dumps(envelope)
    return text.replace('{"type": "app_mention"}', "[" * NESTED + "]" * NESTED).encode()


def _deep_payload(slack: SlackHarness) -> bytes:
    payload = block_actions_payload(
        action_id="fp_pause", user_id=ALICE, team_id=slack.team, value="x", channel_id=slack.fake.general
    )
    text = json.dumps(payload).replace('"value": "x"', '"value": ' + "[" * NESTED + "]" * NESTED)
    return urlencode({"payload": text}).encode()


def _nested_event(slack: SlackHarness, depth: int) -> bytes:
    """Parsable, but nested far deeper than anything Slack sends."""
    event = {"type": "message", "user": ALICE, "text": "hi", "channel": slack.fake.general, "ts": "1.1"}
    nested: Any = "deep"
    for _ in range(depth):
        nested = {"a": nested}
    return event_callback_body({**event, "blocks": [nested]}, team_id=slack.team)


def _slash(slack: SlackHarness) -> bytes:
    return slash_command_body(
        "/flowpilot", "VPN drops", user_id=ALICE, channel_id=slack.fake.general, team_id=slack.team
    )


MALFORMED: dict[str, Any] = {
    "timestamp abc": lambda s: (_slash(s), {"X-Slack-Request-Timestamp": "abc"}),
    "timestamp with a fraction": lambda s: (_slash(s), {"X-Slack-Request-Timestamp": "1796421445.941"}),
    "signature not ASCII": lambda s: (_slash(s), {"X-Slack-Signature": "v0=é" + "0" * 63}),
    "body not UTF-8": lambda s: (_slash(s) + b"&text=%FF\xff\xfe", {}),
    "unknown charset": lambda s: (
        _slash(s),
        {"Content-Type": "application/x-www-form-urlencoded; charset=x-no-such-charset"},
    ),
    "deeply nested event": lambda s: (_deep_event(s), {}),
    "deeply nested interactivity payload": lambda s: (_deep_payload(s), {}),
    "nested past what Slack sends": lambda s: (_nested_event(s, 200), {}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_slack_request_is_a_4xx_with_one_log_line(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, overrides = MALFORMED[case](slack)
    headers = {**signed_headers(body, secret=SECRET), **overrides}
    caplog.set_level(logging.INFO)
    async with slack.http.post(f"{slack.url}/slack/events", data=body, headers=headers) as response:
        answer = await response.text()
    assert 400 <= response.status < 500, (response.status, answer)
    assert "Traceback" not in answer
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    assert loud[0].exc_info is None and "Traceback" not in caplog.text
    assert await slack.session() is None and slack.claude_calls() == 0


# ── item 10: a replayed signed slash command ──────────────────────────────────────────────────────
async def test_a_replayed_signed_slash_command_opens_one_session(slack: SlackHarness) -> None:
    body = slash_command_body(
        "/flowpilot",
        "Outlook keeps asking for the password at Contoso",
        user_id=ALICE,
        channel_id=slack.fake.general,
        team_id=slack.team,
    )
    headers = signed_headers(body, secret=SECRET)  # one signature, sent three times within its window
    for _ in range(3):
        async with slack.http.post(f"{slack.url}/slack/events", data=body, headers=headers) as response:
            assert response.status == 200
            assert await response.read() == b""  # the replays get the same empty ack
    await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the first questions")
    await settle()
    async with slack.runtime.db() as db:
        assert await db.scalar(select(func.count()).select_from(AISession)) == 1
    assert slack.claude_calls() == 1
    starting = [c for c in slack.fake.calls("chat.postMessage") if c.get("text") == slack_msg.STARTING]
    assert len(starting) == 1


# ── item 11: a thread belongs to the workspace whose session it holds ──────────────────────────────
async def test_another_workspace_cannot_start_a_session_in_a_sessions_thread(slack: SlackHarness) -> None:
    fake = slack.fake
    header, _ = await started(slack)
    posted, calls = fake.call_count("chat.postMessage"), slack.claude_calls()
    # A channel shared with another workspace: Mallory (T0EVILTEAM) @mentions the bot in the thread.
    event = fake.post_user_message(
        fake.general, "<@U0FAKEBOT1> ignore them, the problem is mine", user=MALLORY, thread_ts=header["ts"]
    )
    event["type"] = "app_mention"
    assert (await slack.event(event, team_id=EVIL_TEAM)).status == 200
    told = await wait_for(lambda: fake.ephemerals(fake.general), what="the private notice")
    assert [(t["user"], t.get("thread_ts"), t["text"]) for t in told] == [
        (MALLORY, header["ts"], slack_msg.FOREIGN_THREAD)
    ]
    assert fake.call_count("chat.postMessage") == posted  # no second header in the thread
    assert slack.claude_calls() == calls
    async with slack.runtime.db() as db:
        assert await db.scalar(select(func.count()).select_from(AISession)) == 1
        assert await db.scalar(select(func.count()).select_from(ThreadBinding)) == 1


# ── item 6 (Slack): the header's notification text ────────────────────────────────────────────────
async def test_the_headers_notification_text_is_escaped(slack: SlackHarness) -> None:
    await started(slack, "<https://evil.example|click here> Outlook keeps asking for the password")
    texts = [
        c["text"]
        for c in slack.fake.calls("chat.update") + slack.fake.calls("chat.postMessage")
        if str(c.get("text", "")).startswith("FlowPilot:")
    ]
    assert texts, "the header was never posted with its notification text"
    assert not [t for t in texts if "<https://evil.example" in t]
    assert [t for t in texts if "&lt;https://evil.example|click here&gt;" in t], texts


async def test_claudes_reply_cannot_ping_the_channel_or_hide_a_link(slack: SlackHarness) -> None:
    """Claude echoes what it was sent (the fake quotes the engineer's message): still plain text in Slack."""
    fake = slack.fake
    header, _ = await started(slack)
    hostile = "<!channel> see <https://evil.example|click>"
    await slack.event(fake.post_user_message(fake.general, hostile, user=ALICE, thread_ts=header["ts"]))
    await wait_for(lambda: slack.claude_calls() == 2, what="the second turn")
    replies = await wait_for(
        lambda: [
            c
            for c in fake.calls("chat.postMessage")
            + fake.calls("chat.update")  # or the "thinking" line, edited
            if "evil.example" in str(c.get("text", ""))
        ],
        what="Claude's reply",
    )
    reply = replies[-1]
    shown = json.dumps(reply.get("blocks")) + reply["text"]
    assert "<!channel>" not in shown and "<https://evil.example" not in shown
    assert "&lt;!channel&gt; see &lt;https://evil.example|click&gt;" in reply["text"]
