"""The Agents SDK wiring: auth modes, routes, and commands run in the background after Teams gets its answer.

POST /api/messages returns only when the SDK's turn is over, and Teams gives up after 15 seconds, so a turn
only translates the activity into a command; the command runs in a tracked background task that talks back
through a continued conversation.

Each idea has its module: incoming (activity → command), submits (card buttons and dialogs → command), runner
and render (running a command and showing its events), conversations and outbox (delivery), headers (bindings
and re-rendering after outside changes), escalations (the receiving engineer's chat).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from microsoft_agents.activity import Activity, ActivityTypes, load_configuration_from_env
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator, start_agent_process
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    ConnectionManager,
    Connections,
    MemoryStorage,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.app import ProactiveOptions, RouteRank
from pydantic import ValidationError

from adapters.runtime import Runtime
from bot.settings import Settings

from . import cards
from .commands import data_of
from .conversations import Conversations
from .delivery import Delivery, Limits
from .escalations import Escalations
from .guard import Refused, check_activity, read_body
from .headers import Headers
from .incoming import Incoming
from .render import Shows
from .runner import Runner
from .streaming import Pace
from .submits import Submits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    pace: Pace = field(default_factory=Pace)
    limits: Limits = field(default_factory=Limits)
    shutdown_grace: float = 20.0


# Read once at mount; tests replace it to run streams and retries fast.
TIMING = Timing()


class LocalTokenProvider(AnonymousTokenProvider):
    """Local mode: creating a conversation refuses an empty token, and any non-empty one will do."""

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        return "local-development"


def connections_for(settings: Settings) -> tuple[Connections, AgentAuthConfiguration, bool]:
    """The SDK's connections from our settings; the flag says anonymous local mode."""
    if not settings.teams_client_id:
        if not settings.teams_anonymous:
            # The server does not mount Teams then; anyone else asking gets no open door either.
            raise ValueError("Teams needs a client id, or FLOWPILOT_TEAMS_ANONYMOUS=1 for local tries")
        manager = ConnectionManager(
            provider_factory=lambda _config: LocalTokenProvider(),
            connections_configurations={"SERVICE_CONNECTION": AgentAuthConfiguration(anonymous_allowed=True)},
        )
        return manager, manager.get_default_connection_configuration(), True
    prefix = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
    mapping = {f"{prefix}CLIENTID": settings.teams_client_id}
    if settings.teams_client_secret is not None:
        mapping[f"{prefix}CLIENTSECRET"] = settings.teams_client_secret.get_secret_value()
    if settings.teams_tenant_id:
        mapping[f"{prefix}TENANTID"] = settings.teams_tenant_id
    msal = MsalConnectionManager(**load_configuration_from_env(mapping))
    return msal, msal.get_default_connection_configuration(), False


class TeamsBot:
    """The SDK's application and routes, wired to the translators (incoming, submits) and the runner."""

    def __init__(self, runtime: Runtime, timing: Timing) -> None:
        self.runtime = runtime
        self.connections, self.auth_configuration, self.anonymous = connections_for(runtime.settings)
        self._grace = timing.shutdown_grace
        self.agent = AgentApplication[TurnState](
            storage=MemoryStorage(),
            connection_manager=self.connections,
            proactive=ProactiveOptions(),
            start_typing_timer=False,
        )
        self.adapter = CloudAdapter(connection_manager=self.connections)
        self.conversations = Conversations(self.adapter, Delivery(timing.limits))
        self.headers = Headers(runtime.bindings, runtime.handler, self.conversations)
        escalations = Escalations(
            self.agent,
            self.adapter,
            self.conversations.delivery,
            app_id=runtime.settings.teams_client_id or "",
        )
        shows = Shows(self.headers, escalations.send, runtime.handler, timing.pace)
        runner = Runner(runtime.handler, self.conversations, shows)
        self.submits = Submits(runtime.handler, runner, self.conversations)
        self.incoming = Incoming(runtime, runner, self.submits, self.conversations, anonymous=self.anonymous)
        self._routes()

    # ── HTTP ───────────────────────────────────────────────────────────────────────────────────────
    def mount(self, app: web.Application) -> None:
        # The SDK's JWT check looks the configuration up by this exact string key.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            app["agent_configuration"] = self.auth_configuration
        # The SDK leaves its decorator untyped.
        app.router.add_post("/api/messages", jwt_authorization_decorator(self.messages))  # type: ignore[no-untyped-call]
        self.runtime.feed.subscribe(self.headers.on_change)
        self.runtime.recovered.append(self.headers.on_recovered)
        app.on_shutdown.append(self.shutdown)
        if self.anonymous:
            logger.warning(
                "Teams adapter in anonymous local mode (FLOWPILOT_TEAMS_ANONYMOUS=1): only local serviceUrls "
                "are accepted"
            )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request)
            check_activity(body, anonymous=self.anonymous)
        except Refused as refused:
            logger.warning("refused a Teams request: %s", refused.reason)
            return web.json_response({"error": refused.reason}, status=refused.status)
        # The SDK fails with a 500 on an activity it cannot read or that lacks what its turn state needs.
        try:
            activity = Activity.model_validate(body)
        except ValidationError:
            activity = None
        sender = activity.from_property if activity else None
        if not (activity and activity.type and activity.channel_id and sender and sender.id):
            return web.json_response({"error": "not a Bot Framework activity"}, status=400)
        response = await start_agent_process(request, self.agent, self.adapter)
        return response or web.Response(status=202)

    async def shutdown(self, _app: web.Application) -> None:
        await self.conversations.drain(self._grace)

    # ── routes ─────────────────────────────────────────────────────────────────────────────────────
    def _routes(self) -> None:
        agent = self.agent
        agent.activity(ActivityTypes.message, rank=RouteRank.LAST)(self.incoming.on_message)
        agent.activity("conversationUpdate")(self.incoming.on_conversation_update)
        agent.invoke("task/fetch")(self.submits.on_task_fetch)
        agent.invoke("task/submit")(self.submits.on_task_submit)
        agent.invoke("adaptiveCard/action")(self.submits.on_card_action)
        agent.error(self.on_error)

    async def on_error(self, context: TurnContext, err: Exception) -> None:
        logger.error("Teams turn failed: %s", type(err).__name__, exc_info=err)
        activity = context.activity
        retry: dict[str, Any] | None = None
        if activity.type == ActivityTypes.message:
            data = data_of(activity.value)
            if data and not (activity.text or "").strip():
                retry = data
            elif activity.text and len(activity.text) <= 4000:
                retry = {"fp": "text", "text": activity.text}
        with contextlib.suppress(Exception):
            await self.conversations.send_now(context, cards.failure(retry))
