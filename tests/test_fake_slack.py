"""The fake Slack answers the real slack_sdk the way Slack does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from fakes.slack import (
    FakeSlack,
    event_callback,
    signed_headers,
    slash_command_body,
    slash_command_payload,
)

ALICE = "U0ALICE001"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user(ALICE, "alice", "Alice Admin")
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.api_url)


def button(action_id: str, text: str = "Retry") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def test_update_keeps_the_ts_and_the_history(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(
        channel=fake.general, text="Looking…", blocks=[section("Looking…")]
    )
    updated = await client.chat_update(channel=fake.general, ts=posted["ts"], text="Found it", blocks=[])

    assert updated["ts"] == posted["ts"]
    assert posted["message"]["bot_id"] == fake.bot_id
    assert [m["text"] for m in fake.history(fake.general, posted["ts"])] == ["Looking…", "Found it"]
    message = fake.message(fake.general, posted["ts"])
    assert message is not None
    assert message["blocks"] == []
    assert fake.calls("chat.update")[0]["ts"] == posted["ts"]


async def test_replies_form_a_thread(fake: FakeSlack, client: AsyncWebClient) -> None:
    question = fake.post_user_message(fake.general, "VPN is down", user=ALICE)
    reply = await client.chat_postMessage(channel=fake.general, thread_ts=question["ts"], text="On it")

    replies = await client.conversations_replies(channel=fake.general, ts=question["ts"])

    assert [m["ts"] for m in replies["messages"]] == [question["ts"], reply["ts"]]
    assert replies["messages"][0]["reply_count"] == 1
    assert float(reply["ts"]) > float(question["ts"])


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section("x")] * 51, "/blocks"),
        ([{"type": "actions", "elements": [button("retry", "x" * 76)]}], "/blocks/0/elements/0/text/text"),
        (
            [
                {"type": "actions", "elements": [button("retry")]},
                {"type": "actions", "elements": [button("retry")]},
            ],
            "/blocks/1/elements/0/action_id",
        ),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*Incident*"}}], "/blocks/0/text/type"),
    ],
    ids=["51-blocks", "76-char-button", "duplicate-action-id", "mrkdwn-header"],
)
async def test_blocks_slack_would_reject_raise_invalid_blocks(
    fake: FakeSlack, client: AsyncWebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=fake.general, text="fallback", blocks=blocks)

    assert raised.value.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in e for e in raised.value.response["errors"])
    assert fake.messages(fake.general) == []


async def test_form_encoded_blocks_arrive_as_a_json_string(fake: FakeSlack) -> None:
    form = {
        "token": "xoxb-test",
        "channel": fake.general,
        "text": "hi",
        "blocks": json.dumps([section("hi")]),
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(fake.api_url + "chat.postMessage", data=form) as response:
            body = await response.json()

    assert body["ok"] is True
    message = fake.message(fake.general, body["ts"])
    assert message is not None
    assert message["blocks"] == [section("hi")]


async def test_text_over_40000_characters_is_msg_too_long(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=fake.general, text="x" * 40_001)

    assert raised.value.response["error"] == "msg_too_long"


async def test_modal_title_over_24_characters_is_invalid_arguments(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": []}

    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id="1.2.abc", view=view)

    assert raised.value.response["error"] == "invalid_arguments"
    assert raised.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


async def test_views_update_honours_the_hash_and_triggers_are_single_use(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Ticket"}, "blocks": [section("…")]}
    opened = (await client.views_open(trigger_id="1.2.abc", view=modal))["view"]

    updated = await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)
    with pytest.raises(SlackApiError) as reused:
        await client.views_open(trigger_id="1.2.abc", view=modal)

    assert updated["view"]["id"] == opened["id"]
    assert stale.value.response["error"] == "hash_conflict"
    assert reused.value.response["error"] == "exchanged_trigger_id"


async def test_bad_tokens_and_unknown_methods(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as missing:
        await AsyncWebClient(base_url=fake.api_url).auth_test()
    with pytest.raises(SlackApiError) as wrong:
        await AsyncWebClient(token="xoxb-revoked", base_url=fake.api_url).auth_test()
    with pytest.raises(SlackApiError) as unknown:
        await AsyncWebClient(token="xoxb-test", base_url=fake.api_url).api_call("chat.sing")

    assert missing.value.response["error"] == "not_authed"
    assert wrong.value.response["error"] == "invalid_auth"
    assert unknown.value.response["error"] == "unknown_method"


async def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    client = AsyncWebClient(
        token="xoxb-test", base_url=fake.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler()]
    )
    fake.rate_limit("chat.postMessage", retry_after=1)

    started = time.monotonic()
    response = await client.chat_postMessage(channel=fake.general, text="after the wait")

    assert response["ok"] is True
    assert time.monotonic() - started >= 1
    assert fake.call_count("chat.postMessage") == 2
    assert len(fake.messages(fake.general)) == 1


async def test_rate_limit_without_a_retry_handler_surfaces(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.rate_limit("chat.update", retry_after=7)
    fake.fail("reactions.add")

    with pytest.raises(SlackApiError) as limited:
        await client.chat_update(channel=fake.general, ts="1.2", text="x")
    with pytest.raises(SlackApiError) as failed:
        await client.reactions_add(channel=fake.general, timestamp="1.2", name="eyes")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert failed.value.response.status_code == 500
    assert failed.value.response["error"] == "internal_error"


async def test_private_files_need_the_bot_token(fake: FakeSlack) -> None:
    file = fake.add_file("vpn.log", b"ERROR tunnel down\n", "text/plain")

    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": "Bearer xoxb-test"}
        async with session.get(file["url_private_download"], headers=headers) as authorized:
            content = await authorized.read()
        async with session.get(file["url_private"]) as anonymous:
            page = await anonymous.text()

    assert content == b"ERROR tunnel down\n"
    assert anonymous.status == 200
    assert anonymous.content_type == "text/html"
    assert "Sign in" in page
    assert [c["authorized"] for c in fake.calls("files-pri")] == [True, False]


async def test_chat_stream_helper_buffers_then_finalizes(fake: FakeSlack, client: AsyncWebClient) -> None:
    dm = (await client.conversations_open(users=ALICE))["channel"]["id"]
    question = fake.post_user_message(dm, "Why is Outlook slow?", user=ALICE)
    feedback = {"type": "actions", "elements": [button("helpful", "Helpful")]}

    streamer = await client.chat_stream(channel=dm, thread_ts=question["ts"], buffer_size=16)
    await streamer.append(markdown_text="Checking ")
    assert fake.call_count("chat.startStream") == 0  # still buffered
    await streamer.append(markdown_text="the mailbox size. ")
    await streamer.append(markdown_text="It is 49 GB, near the limit.")
    await streamer.stop(markdown_text=" Archive old mail.", blocks=[feedback])

    assert streamer.ts is not None
    final = fake.message(dm, streamer.ts)
    assert final is not None
    assert final["text"] == "Checking the mailbox size. It is 49 GB, near the limit. Archive old mail."
    assert final["thread_ts"] == question["ts"]
    assert final["blocks"] == [feedback]
    assert not fake.is_streaming(dm, streamer.ts)
    assert [fake.call_count(m) for m in ("chat.startStream", "chat.appendStream", "chat.stopStream")] == [
        1,
        1,
        1,
    ]
    assert fake.calls("chat.startStream")[0]["chunks"] == [
        {"type": "markdown_text", "text": "Checking the mailbox size. "}
    ]


async def test_streaming_in_a_channel_needs_the_recipient(fake: FakeSlack, client: AsyncWebClient) -> None:
    question = fake.post_user_message(fake.general, "help", user=ALICE)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_startStream(channel=fake.general, thread_ts=question["ts"], markdown_text="hi")
    started = await client.chat_startStream(
        channel=fake.general,
        thread_ts=question["ts"],
        markdown_text="hi",
        recipient_user_id=ALICE,
        recipient_team_id=fake.team_id,
    )

    assert raised.value.response["error"] == "missing_recipient_user_id"
    assert fake.is_streaming(fake.general, started["ts"])


async def test_disabled_streaming_fails_at_the_first_flush(fake: FakeSlack, client: AsyncWebClient) -> None:
    dm = (await client.conversations_open(users=ALICE))["channel"]["id"]
    question = fake.post_user_message(dm, "help", user=ALICE)
    fake.disable_streaming()

    streamer = await client.chat_stream(channel=dm, thread_ts=question["ts"], buffer_size=4)
    with pytest.raises(SlackApiError) as raised:
        await streamer.append(markdown_text="Let me check")

    assert raised.value.response["error"] == "not_allowed_token_type"
    assert streamer.ts is None
    assert fake.messages(dm) == [fake.message(dm, question["ts"])]


async def test_an_expired_stream_can_still_be_updated(fake: FakeSlack, client: AsyncWebClient) -> None:
    dm = (await client.conversations_open(users=ALICE))["channel"]["id"]
    question = fake.post_user_message(dm, "help", user=ALICE)
    streamer = await client.chat_stream(channel=dm, thread_ts=question["ts"], buffer_size=1)
    await streamer.append(markdown_text="Step 1. ")
    assert streamer.ts is not None
    fake.expire_stream(streamer.ts)

    with pytest.raises(SlackApiError) as raised:
        await streamer.append(markdown_text="Step 2.")
    await client.chat_update(channel=dm, ts=streamer.ts, text="Step 1. Step 2.")

    assert raised.value.response["error"] == "message_not_in_streaming_state"
    message = fake.message(dm, streamer.ts)
    assert message is not None
    assert message["text"] == "Step 1. Step 2."


async def test_socket_mode_round_trip(fake: FakeSlack) -> None:
    received: list[SocketModeRequest] = []

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        reply = {"text": "pong"} if request.type == "slash_commands" else None
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=reply)
        )

    socket = SocketModeClient(app_token="xapp-test", web_client=AsyncWebClient(base_url=fake.api_url))
    socket.socket_mode_request_listeners.append(on_request)
    try:
        await socket.connect()  # type: ignore[no-untyped-call]  # slack_sdk leaves SocketModeClient.connect unannotated
        await fake.wait_socket_connected()
        event = fake.post_user_message(fake.general, "hi", user=ALICE)
        event_ack = await fake.socket_send("events_api", event_callback(event, team_id=fake.team_id))
        command = slash_command_payload(
            "/flowpilot", "ping", user_id=ALICE, channel_id=fake.general, team_id=fake.team_id
        )
        command_ack = await fake.socket_send("slash_commands", command)
    finally:
        await socket.close()  # type: ignore[no-untyped-call]  # slack_sdk leaves SocketModeClient.close unannotated

    assert [r.type for r in received] == ["events_api", "slash_commands"]
    assert received[0].payload["event"]["text"] == "hi"
    assert received[0].accepts_response_payload is False
    assert event_ack == {"envelope_id": received[0].envelope_id}
    assert command_ack == {"envelope_id": received[1].envelope_id, "payload": {"text": "pong"}}
    assert fake.call_count("apps.connections.open") == 1


async def test_socket_mode_needs_an_app_token(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        await AsyncWebClient(base_url=fake.api_url).apps_connections_open(app_token="xoxb-test")

    assert raised.value.response["error"] == "not_allowed_token_type"


async def test_in_thread_serves_a_client_on_another_loop() -> None:
    with FakeSlack.in_thread() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        posted = await client.chat_postMessage(channel=fake.general, text="from another loop")
        message = fake.message(fake.general, posted["ts"])
        assert message is not None
        assert message["text"] == "from another loop"


def test_signed_headers_verify_with_slack_sdk() -> None:
    body = slash_command_body("/flowpilot", "help", user_id=ALICE, channel_id="C1", team_id="T1")
    headers = signed_headers(body, secret="s3cret")
    stale = signed_headers(body, secret="s3cret", timestamp=int(time.time()) - 600)

    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert not SignatureVerifier("s3cret").is_valid_request(body, stale)


async def test_latency_delays_every_answer(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.latency = 0.2

    started = time.monotonic()
    await asyncio.gather(client.auth_test(), client.auth_test())

    assert 0.2 <= time.monotonic() - started < 2
