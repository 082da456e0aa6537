"""The real Microsoft 365 Agents SDK (1.9) on aiohttp, talking HTTP to the fake Teams connector.

These tests are also the study a Teams adapter is written from: each one proves how the SDK behaves on a
path FlowPilot will use, including the surprising ones (streaming in channels, 429, auth).
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.request
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    ChannelAccount,
    ConversationParameters,
    InvokeResponse,
    load_configuration_from_env,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import (
    CloudAdapter,
    jwt_authorization_decorator,
    jwt_authorization_middleware,
    start_agent_process,
)
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    CardFactory,
    ClaimsIdentity,
    ConnectionManager,
    Connections,
    MemoryStorage,
    MessageFactory,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.app import CreateConversationOptions, ProactiveOptions, RouteRank
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from fakes.connector import (
    DEFAULT_BOT_APP_ID,
    DEFAULT_BOT_ID,
    DEFAULT_CHANNEL_ID,
    DEFAULT_PERSONAL_CONVERSATION_ID,
    DEFAULT_TEAM_ID,
    DEFAULT_TENANT_ID,
    DEFAULT_USER_AAD_ID,
    DEFAULT_USER_ID,
    FakeConnector,
    adaptive_card_action,
    card_submit,
    channel_message,
    conversation_update,
    invoke,
    personal_message,
    teams_member,
)

CONFIGURED_ENV = {
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": DEFAULT_BOT_APP_ID,
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": DEFAULT_TENANT_ID,
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "not-a-real-secret",
}
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"

# The SDK's JWT middleware stores the caller's claims under a plain string key.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")


# ---- the agent under test ------------------------------------------------------------------------


class LocalTokenProvider(AnonymousTokenProvider):
    """Creating a conversation always asks for a token and refuses an empty one; locally any will do."""

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        return "local-development"


def anonymous_connections() -> ConnectionManager:
    """Local mode: no client id; replies in a turn go without a token, proactive calls with a dummy one."""
    return ConnectionManager(
        provider_factory=lambda _config: LocalTokenProvider(),
        connections_configurations={"SERVICE_CONNECTION": AgentAuthConfiguration(anonymous_allowed=True)},
    )


def status_card(text: str) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        "actions": [{"type": "Action.Execute", "title": "Acknowledge", "verb": "acknowledge"}],
    }


def build_agent(connections: Connections) -> AgentApplication[TurnState]:
    agent = AgentApplication[TurnState](
        storage=MemoryStorage(), connection_manager=connections, proactive=ProactiveOptions()
    )

    @agent.message("card")
    async def send_then_update_card(context: TurnContext, _state: TurnState) -> None:
        sent = await context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(status_card("Checking")))
        )
        update = MessageFactory.attachment(CardFactory.adaptive_card(status_card("VPN is healthy")))
        update.id = sent.id
        await context.update_activity(update)

    @agent.message("oops")
    async def send_then_retract(context: TurnContext, _state: TurnState) -> None:
        sent = await context.send_activity("This was a mistake")
        await context.delete_activity(sent.id)

    @agent.message("stream")
    async def stream_answer(context: TurnContext, _state: TurnState) -> None:
        stream = context.streaming_response
        stream.queue_informative_update("Reading your logs…")
        stream.queue_text_chunk("The VPN gateway ")
        await stream.wait_for_queue()  # otherwise end_stream() folds the pending chunk into the final message
        stream.queue_text_chunk("rejected your certificate.")
        await stream.end_stream()

    @agent.message("whoami")
    async def whoami(context: TurnContext, _state: TurnState) -> None:
        # The SDK keys the per-turn client by its abstract base, which mypy flags.
        client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
        assert isinstance(client, TeamsConnectorClient)
        member = await client.get_conversation_member(
            context.activity.conversation.id, context.activity.from_property.id
        )
        await context.send_activity(f"You are {member.email}")

    @agent.conversation_update("membersAdded")
    async def welcome(context: TurnContext, _state: TurnState) -> None:
        bot = context.activity.recipient
        if bot and any(member.id == bot.id for member in context.activity.members_added):
            await context.send_activity("Hi, I'm FlowPilot. Describe the problem and I'll dig in.")

    # Action.Submit routes on value["verb"] unless submit_filter names another key.
    @agent.adaptive_card.action_submit("escalate")
    async def escalate(context: TurnContext, _state: TurnState, data: Any) -> None:
        await context.send_activity(f"Escalating {data['ticket']}")

    @agent.adaptive_card.action_execute("acknowledge")
    async def acknowledge(_context: TurnContext, _state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        return AdaptiveCardInvokeResponse(
            status_code=200, type=ADAPTIVE_CARD, value=status_card(f"Acknowledged ticket {data['ticket']}")
        )

    @agent.invoke("task/fetch")
    async def open_escalation_form(context: TurnContext, _state: TurnState) -> None:
        form = CardFactory.adaptive_card(status_card("Escalate to on-call?"))
        task = {"type": "continue", "value": {"title": "Escalate", "card": form.model_dump(by_alias=True)}}
        await context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body={"task": task})
            )
        )

    # Routes of equal rank are not tried in registration order, so the catch-all must rank last.
    @agent.activity(ActivityTypes.message, rank=RouteRank.LAST)
    async def echo(context: TurnContext, _state: TurnState) -> None:
        await context.send_activity(f"You said: {context.activity.text}")

    return agent


@dataclass
class RunningAgent:
    messages_url: str
    base_url: str
    agent: AgentApplication[TurnState]
    adapter: CloudAdapter


def mount_agent(
    web_app: web.Application,
    *,
    agent: AgentApplication[TurnState],
    adapter: CloudAdapter,
    auth_configuration: AgentAuthConfiguration | None,
    check_jwt: bool = True,
) -> None:
    """Mount the agent on an existing aiohttp app, checking the JWT on this one route only."""

    async def messages(request: web.Request) -> web.StreamResponse:
        response = await start_agent_process(request, agent, adapter)
        return response or web.Response(status=202)

    if auth_configuration is not None:
        # The SDK's middleware looks this key up by that exact string, so an AppKey cannot be used.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            web_app["agent_configuration"] = auth_configuration
    web_app.router.add_post("/api/messages", jwt_authorization_decorator(messages) if check_jwt else messages)  # type: ignore[no-untyped-call]  # the Agents SDK leaves it unannotated


@contextlib.asynccontextmanager
async def serving(web_app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running_agent(
    connections: Connections, *, auth_configuration: AgentAuthConfiguration | None, check_jwt: bool = True
) -> AsyncIterator[RunningAgent]:
    agent = build_agent(connections)
    adapter = CloudAdapter(connection_manager=connections)
    web_app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app.router.add_get("/healthz", healthz)  # stands in for FlowPilot's other routes
    mount_agent(
        web_app, agent=agent, adapter=adapter, auth_configuration=auth_configuration, check_jwt=check_jwt
    )
    async with serving(web_app) as base_url:
        yield RunningAgent(f"{base_url}/api/messages", base_url, agent, adapter)


@pytest.fixture
async def fake() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as connector:
        yield connector


@pytest.fixture
async def bot() -> AsyncIterator[RunningAgent]:
    connections = anonymous_connections()
    async with running_agent(
        connections, auth_configuration=connections.get_default_connection_configuration()
    ) as a:
        yield a


async def post(url: str, body: Any, *, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


def replies(fake: FakeConnector, conversation_id: str) -> list[str | None]:
    return [activity.text for activity in fake.activities(conversation_id)]


# ---- receiving and replying ----------------------------------------------------------------------


async def test_personal_message_gets_a_reply_in_the_same_chat(fake: FakeConnector, bot: RunningAgent) -> None:
    incoming = personal_message("vpn is down", service_url=fake.service_url)

    status, _ = await post(bot.messages_url, incoming)

    assert status == 202
    [reply] = fake.activities(DEFAULT_PERSONAL_CONVERSATION_ID)
    assert reply.text == "You said: vpn is down"
    assert reply.reply_to_id == incoming["id"]
    assert reply.current["from"]["id"] == DEFAULT_BOT_ID
    assert reply.current["recipient"]["id"] == DEFAULT_USER_ID
    [request] = [r for r in fake.requests if r.method == "POST"]
    assert request.path == f"/v3/conversations/{DEFAULT_PERSONAL_CONVERSATION_ID}/activities/{incoming['id']}"
    assert request.authorization is None  # anonymous mode sends no token at all


async def test_channel_reply_lands_in_the_thread_without_the_mention(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    incoming = channel_message("vpn is down", service_url=fake.service_url)
    thread_id = incoming["conversation"]["id"]

    status, _ = await post(bot.messages_url, incoming)

    assert status == 202
    assert thread_id == f"{DEFAULT_CHANNEL_ID};messageid={incoming['id']}"
    assert replies(fake, thread_id) == ["You said: vpn is down"]
    # The SDK puts ";", ":" and "@" into the URL unescaped.
    assert fake.requests[-1].path == f"/v3/conversations/{thread_id}/activities/{incoming['id']}"


async def test_card_is_sent_then_updated_in_place(fake: FakeConnector, bot: RunningAgent) -> None:
    await post(bot.messages_url, personal_message("card", service_url=fake.service_url))

    [card] = fake.activities(DEFAULT_PERSONAL_CONVERSATION_ID)
    assert card.edited
    assert [version["attachments"][0]["content"]["body"][0]["text"] for version in card.versions] == [
        "Checking",
        "VPN is healthy",
    ]
    assert card.attachments[0]["contentType"] == ADAPTIVE_CARD
    put = fake.requests[-1]
    assert (put.method, put.path) == (
        "PUT",
        f"/v3/conversations/{DEFAULT_PERSONAL_CONVERSATION_ID}/activities/{card.id}",
    )


async def test_a_sent_message_can_be_deleted(fake: FakeConnector, bot: RunningAgent) -> None:
    await post(bot.messages_url, personal_message("oops", service_url=fake.service_url))

    assert fake.activities(DEFAULT_PERSONAL_CONVERSATION_ID) == []
    [deleted] = fake.activities(DEFAULT_PERSONAL_CONVERSATION_ID, include_deleted=True)
    assert deleted.deleted and deleted.text == "This was a mistake"


async def test_turn_can_read_the_sender_profile_through_the_teams_client(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    fake.add_member(DEFAULT_PERSONAL_CONVERSATION_ID, teams_member(email="ada@contoso.example"))

    await post(bot.messages_url, personal_message("whoami", service_url=fake.service_url))

    assert replies(fake, DEFAULT_PERSONAL_CONVERSATION_ID) == ["You are ada@contoso.example"]


async def test_installing_the_bot_in_a_personal_chat_sends_a_welcome(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    status, _ = await post(bot.messages_url, conversation_update(service_url=fake.service_url))

    assert status == 202
    assert replies(fake, DEFAULT_PERSONAL_CONVERSATION_ID) == [
        "Hi, I'm FlowPilot. Describe the problem and I'll dig in."
    ]


async def test_card_submit_reaches_the_submit_handler(fake: FakeConnector, bot: RunningAgent) -> None:
    submit = card_submit(
        {"verb": "escalate", "ticket": "INC-42"}, service_url=fake.service_url, reply_to_id="1"
    )

    status, _ = await post(bot.messages_url, submit)

    assert status == 202
    assert replies(fake, DEFAULT_PERSONAL_CONVERSATION_ID) == ["Escalating INC-42"]


# ---- invokes: the answer is the HTTP response body -----------------------------------------------


async def test_card_action_invoke_returns_the_new_card_to_teams(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    incoming = invoke(
        "adaptiveCard/action",
        adaptive_card_action("acknowledge", {"ticket": "INC-42"}),
        service_url=fake.service_url,
    )

    status, body = await post(bot.messages_url, incoming)

    assert status == 200
    assert body["statusCode"] == 200 and body["type"] == ADAPTIVE_CARD
    assert body["value"]["body"][0]["text"] == "Acknowledged ticket INC-42"
    assert fake.activities(DEFAULT_PERSONAL_CONVERSATION_ID) == []  # nothing posted to the connector


async def test_task_fetch_invoke_returns_the_task_module(fake: FakeConnector, bot: RunningAgent) -> None:
    incoming = invoke(
        "task/fetch", {"type": "task/fetch", "data": {"ticket": "INC-42"}}, service_url=fake.service_url
    )

    status, body = await post(bot.messages_url, incoming)

    assert status == 200
    assert body["task"]["type"] == "continue"
    assert body["task"]["value"]["card"]["contentType"] == ADAPTIVE_CARD


async def test_invoke_without_a_handler_answers_501(fake: FakeConnector, bot: RunningAgent) -> None:
    status, _ = await post(
        bot.messages_url, invoke("task/submit", {"data": {}}, service_url=fake.service_url)
    )

    assert status == 501


# ---- streaming -----------------------------------------------------------------------------------


async def test_streaming_in_a_personal_chat_follows_the_teams_protocol(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    await post(bot.messages_url, personal_message("stream", service_url=fake.service_url))

    assert fake.stream_errors == []
    [stream] = fake.streams(DEFAULT_PERSONAL_CONVERSATION_ID)
    assert stream.stream_types == ["informative", "streaming", "final"]
    informative, streaming, final = stream.chunks
    assert informative["type"] == "typing" and informative["entities"][0]["streamSequence"] == 1
    assert "streamId" not in informative["entities"][0]
    assert (
        streaming["entities"][0] | {"streamSequence": 2, "streamId": stream.stream_id}
        == streaming["entities"][0]
    )
    # The SDK strips activity.id on send, so the stream id travels only in the streaminfo entity.
    assert final["type"] == "message" and final["entities"][0]["streamId"] == stream.stream_id
    assert final["text"] == "The VPN gateway rejected your certificate."
    [message] = fake.activities(DEFAULT_PERSONAL_CONVERSATION_ID)
    assert (message.id, message.text) == (stream.stream_id, final["text"])


async def test_streaming_in_a_channel_is_refused_and_the_sdk_then_sends_nothing(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    incoming = channel_message("stream", service_url=fake.service_url)

    status, _ = await post(bot.messages_url, incoming)

    assert status == 202
    [error] = fake.stream_errors
    assert (error.status, error.code) == (403, "ContentStreamNotAllowed")
    # StreamingResponse takes the 403 for "user pressed Stop" and drops the answer: the adapter must not
    # stream outside personal chats.
    assert fake.activities(incoming["conversation"]["id"]) == []


# ---- proactive -----------------------------------------------------------------------------------


def new_chat_options(service_url: str) -> CreateConversationOptions:
    return CreateConversationOptions(
        identity=ClaimsIdentity({"aud": DEFAULT_BOT_APP_ID, "appid": DEFAULT_BOT_APP_ID}),
        channel_id="msteams",
        service_url=service_url,
        parameters=ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=DEFAULT_BOT_ID),  # the field is "agent", typed by its alias
            members=[ChannelAccount(id=DEFAULT_USER_AAD_ID)],
            tenant_id=DEFAULT_TENANT_ID,
            channel_data={"tenant": {"id": DEFAULT_TENANT_ID}},
        ),
        store_conversation=True,
    )


async def test_proactive_message_opens_a_new_personal_chat(fake: FakeConnector, bot: RunningAgent) -> None:
    proactive = bot.agent.proactive

    conversation = await proactive.create_conversation(bot.adapter, new_chat_options(fake.service_url))
    chat_id = conversation.conversation_reference.conversation.id
    await proactive.send_activity(
        bot.adapter, conversation, MessageFactory.text("INC-42 was escalated to you")
    )
    # By id, the conversation comes back from the MemoryStorage it was stored in.
    await proactive.send_activity(bot.adapter, chat_id, MessageFactory.text("INC-42 resolved"))

    [created] = fake.created_conversations
    assert created["request"]["members"] == [{"id": DEFAULT_USER_AAD_ID}]
    assert created["request"]["tenantId"] == DEFAULT_TENANT_ID
    assert created["response"]["id"] == chat_id
    assert fake.requests[0].authorization == "Bearer local-development"
    assert replies(fake, chat_id) == ["INC-42 was escalated to you", "INC-42 resolved"]
    # Without an activityId in the create answer the SDK "replies" to a uuid it made up; the fake accepts that.
    assert all(activity.reply_to_id for activity in fake.activities(chat_id))


async def test_proactive_post_starts_a_new_channel_thread(fake: FakeConnector, bot: RunningAgent) -> None:
    options = new_chat_options(fake.service_url)
    options.parameters = ConversationParameters(
        is_group=True,
        bot=ChannelAccount(id=DEFAULT_BOT_ID),
        tenant_id=DEFAULT_TENANT_ID,
        channel_data={"channel": {"id": DEFAULT_CHANNEL_ID}, "tenant": {"id": DEFAULT_TENANT_ID}},
        activity=MessageFactory.text("INC-42 opened: VPN down for 30 users"),
    )

    conversation = await bot.agent.proactive.create_conversation(bot.adapter, options)
    thread_id = conversation.conversation_reference.conversation.id
    await bot.agent.proactive.send_activity(bot.adapter, conversation, MessageFactory.text("Investigating"))

    [root, update] = fake.activities(thread_id)
    assert thread_id == f"{DEFAULT_CHANNEL_ID};messageid={root.id}"
    assert (root.text, update.text) == ("INC-42 opened: VPN down for 30 users", "Investigating")


async def test_proactive_create_with_a_turn_handler_fails_in_sdk_1_9(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    async def announce(context: TurnContext, _state: TurnState) -> None:
        await context.send_activity("never sent")

    # The handler's TurnState loads UserState, which needs activity.from; the create event has none.
    with pytest.raises(AttributeError):
        await bot.agent.proactive.create_conversation(
            bot.adapter, new_chat_options(fake.service_url), announce
        )
    assert len(fake.created_conversations) == 1
    assert fake.activities(fake.created_conversations[0]["response"]["id"]) == []


# ---- failures ------------------------------------------------------------------------------------


async def test_429_is_not_retried_and_the_default_error_text_reaches_the_user(
    fake: FakeConnector, bot: RunningAgent
) -> None:
    fake.fail("/activities/", 429, retry_after=2)

    status, _ = await post(bot.messages_url, personal_message("hello", service_url=fake.service_url))

    assert status == 202
    posts = [request for request in fake.requests if request.method == "POST"]
    assert [request.status for request in posts] == [429, 201]
    assert posts[0].body["text"] == "You said: hello"
    # No retry: the second request is CloudAdapter's default on_turn_error message, raw exception included.
    assert posts[1].body["text"].startswith("Exception caught : 429")


async def test_oversized_message_fails_with_a_client_response_error(fake: FakeConnector) -> None:
    client = TeamsConnectorClient(endpoint=fake.service_url, token="")
    try:
        with pytest.raises(aiohttp.ClientResponseError) as failure:
            await client.conversations.send_to_conversation(
                DEFAULT_PERSONAL_CONVERSATION_ID, Activity(type="message", text="x" * 30_000)
            )
    finally:
        await client.close()

    assert failure.value.status == 413
    assert json.loads(failure.value.message)["error"]["code"] == "MessageSizeTooBig"


# ---- authentication ------------------------------------------------------------------------------


async def test_configured_bot_answers_401_without_a_bearer_token(fake: FakeConnector) -> None:
    connections = MsalConnectionManager(**load_configuration_from_env(CONFIGURED_ENV))
    configuration = connections.get_default_connection_configuration()
    async with running_agent(connections, auth_configuration=configuration) as bot:
        incoming = personal_message("hi", service_url=fake.service_url)
        assert await post(bot.messages_url, incoming) == (401, {"error": "Authorization header not found"})
        unsigned = {"Authorization": "Bearer not-a-jwt"}
        assert (await post(bot.messages_url, incoming, headers=unsigned))[0] == 401
        async with aiohttp.ClientSession() as session, session.get(f"{bot.base_url}/healthz") as health:
            assert health.status == 200  # the decorator guards /api/messages only
    assert fake.requests == []


async def test_jwt_check_without_configuration_is_a_500(fake: FakeConnector) -> None:
    connections = MsalConnectionManager(**load_configuration_from_env(CONFIGURED_ENV))
    async with running_agent(connections, auth_configuration=None) as bot:
        status, body = await post(bot.messages_url, personal_message("hi", service_url=fake.service_url))

    assert (status, body) == (500, {"error": "Agent Authentication configuration not found"})


async def test_configured_bot_without_the_jwt_check_serves_anyone(fake: FakeConnector) -> None:
    connections = MsalConnectionManager(**load_configuration_from_env(CONFIGURED_ENV))
    async with running_agent(connections, auth_configuration=None, check_jwt=False) as bot:
        status, _ = await post(bot.messages_url, personal_message("hi", service_url=fake.service_url))

    assert status == 202
    assert replies(fake, DEFAULT_PERSONAL_CONVERSATION_ID) == ["You said: hi"]
    assert fake.requests[-1].authorization is None


async def test_middleware_form_guards_every_route_of_the_app(fake: FakeConnector) -> None:
    connections = MsalConnectionManager(**load_configuration_from_env(CONFIGURED_ENV))
    web_app = web.Application(middlewares=[jwt_authorization_middleware])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        web_app["agent_configuration"] = connections.get_default_connection_configuration()

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app.router.add_get("/healthz", healthz)
    async with serving(web_app) as base_url, aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/healthz") as health:
            assert health.status == 401


# ---- the fake's own Teams rules, checked without the SDK -----------------------------------------


def stream_chunk(
    activity_type: str,
    stream_type: str,
    *,
    sequence: int | None,
    stream_id: str | None = None,
    text: str = "",
) -> dict[str, Any]:
    info: dict[str, Any] = {"type": "streaminfo", "streamType": stream_type}
    if sequence is not None:
        info["streamSequence"] = sequence
    if stream_id:
        info["streamId"] = stream_id
    return {
        "type": activity_type,
        "text": text,
        "entities": [info],
        "conversation": {"id": DEFAULT_PERSONAL_CONVERSATION_ID, "conversationType": "personal"},
    }


async def test_fake_rejects_broken_stream_sequences(fake: FakeConnector) -> None:
    url = f"{fake.service_url}v3/conversations/{DEFAULT_PERSONAL_CONVERSATION_ID}/activities"
    status, first = await post(url, stream_chunk("typing", "streaming", sequence=1, text="The VPN"))
    assert status == 201
    sid = first["id"]

    skipped = await post(
        url, stream_chunk("typing", "streaming", sequence=3, stream_id=sid, text="The VPN gw")
    )
    rewritten = await post(url, stream_chunk("typing", "streaming", sequence=2, stream_id=sid, text="A VPN"))
    final_as_typing = await post(url, stream_chunk("typing", "final", sequence=None, stream_id=sid))
    finished = await post(url, stream_chunk("message", "final", sequence=None, stream_id=sid, text="The VPN"))
    after_final = await post(
        url, stream_chunk("typing", "streaming", sequence=2, stream_id=sid, text="The VPN x")
    )

    assert [response[0] for response in (skipped, rewritten, final_as_typing, finished, after_final)] == [
        400,
        400,
        400,
        201,
        403,
    ]
    assert rewritten[1]["error"]["message"] == (
        "Request streamed content should contain the previously streamed content."
    )
    assert [error.status for error in fake.stream_errors] == [400, 400, 400, 403]
    assert fake.streams(DEFAULT_PERSONAL_CONVERSATION_ID)[0].stream_types == ["streaming", "final"]


async def test_fake_reports_stop_pressed_by_the_user(fake: FakeConnector) -> None:
    url = f"{fake.service_url}v3/conversations/{DEFAULT_PERSONAL_CONVERSATION_ID}/activities"
    _, first = await post(url, stream_chunk("typing", "informative", sequence=1, text="Thinking"))
    fake.cancel_streams(DEFAULT_PERSONAL_CONVERSATION_ID)

    status, body = await post(
        url, stream_chunk("typing", "streaming", sequence=2, stream_id=first["id"], text="A")
    )

    assert status == 403
    assert body["error"] == {
        "code": "ContentStreamNotAllowed",
        "message": "Content stream was cancelled by user.",
    }


async def test_fake_injects_faults_with_retry_after_and_throttles_on_demand(fake: FakeConnector) -> None:
    url = f"{fake.service_url}v3/conversations/{DEFAULT_PERSONAL_CONVERSATION_ID}/activities"
    fake.fail("/activities", 504, times=2, retry_after=1.5)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(url, json={"type": "message", "text": "hi"}) as response:
                assert (response.status, response.headers["Retry-After"]) == (504, "1.5")
                assert (await response.json())["error"]["code"] == "GatewayTimeout"
        fake.max_ops_per_second = 3
        statuses = []
        for _ in range(4):
            async with session.post(url, json={"type": "message", "text": "hi"}) as response:
                statuses.append(response.status)
    assert statuses == [201, 201, 201, 429]


async def test_fake_serves_the_sdk_teams_reads_and_long_ids_get_truncated(fake: FakeConnector) -> None:
    fake.add_team(
        DEFAULT_TEAM_ID, name="IT Ops", channels={DEFAULT_TEAM_ID: None, DEFAULT_CHANNEL_ID: "Incidents"}
    )
    fake.add_member(DEFAULT_TEAM_ID, teams_member())
    client = TeamsConnectorClient(endpoint=fake.service_url, token="")
    long_id = "a:1" + "x" * 197
    try:
        team = await client.fetch_team_details(DEFAULT_TEAM_ID)
        channels = await client.fetch_channel_list(DEFAULT_TEAM_ID)
        page = await client.get_conversation_paged_member(DEFAULT_TEAM_ID, 10, "")
        await client.conversations.send_to_conversation(long_id, Activity(type="message", text="hi"))
    finally:
        await client.close()

    assert (team.name, team.member_count, team.channel_count) == ("IT Ops", 1, 2)
    assert [channel.name for channel in channels] == [None, "Incidents"]
    assert [member.email for member in page.members] == ["ada@contoso.example"]
    # The SDK silently cuts conversation ids to 150 characters.
    assert fake.requests[-1].path == f"/v3/conversations/{long_id[:150]}/activities"


async def test_fake_can_sit_under_a_regional_path(fake: FakeConnector) -> None:
    async with FakeConnector(base_path="/amer/") as regional:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/amer/", regional.service_url)
        client = TeamsConnectorClient(endpoint=regional.service_url, token="")
        try:
            sent = await client.conversations.send_to_conversation(
                DEFAULT_PERSONAL_CONVERSATION_ID, Activity(type="message", text="hi")
            )
        finally:
            await client.close()
        assert regional.activities(DEFAULT_PERSONAL_CONVERSATION_ID)[0].id == sent.id


def test_fake_runs_in_a_thread_for_synchronous_callers() -> None:
    with FakeConnector.in_thread() as fake:
        request = urllib.request.Request(
            f"{fake.service_url}v3/conversations/{DEFAULT_PERSONAL_CONVERSATION_ID}/activities",
            data=json.dumps({"type": "message", "text": "hi"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
        assert replies(fake, DEFAULT_PERSONAL_CONVERSATION_ID) == ["hi"]
