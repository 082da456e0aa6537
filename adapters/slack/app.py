"""The Bolt AsyncApp on our aiohttp server: POST /slack/events acks after the signature check; Bolt runs after."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.runtime import Runtime

from . import files, guard, listeners
from .oauth import oauth_settings
from .service import SlackService
from .socket_mode import SocketMode

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
SLACK_TIMEOUT_SECONDS = 30.0  # one Web API call, as slack_sdk's own default


def web_client(
    api_url: str, token: str | None = None, *, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) before our own retries step in.

    With `session`, calls reuse its kept-alive connections: without one, slack_sdk opens (and for a real
    Slack, TLS-handshakes) a new connection for every call.
    """
    return AsyncWebClient(
        token=token,
        base_url=api_url,
        session=session,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )


class SlackApp:
    """Everything the Slack adapter runs: the Bolt app, its listeners, Socket Mode, the change subscriber."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.api_url = settings.slack_api_url
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        signing = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        self.oauth: AsyncOAuthSettings | None = None
        # One pool of kept-alive connections to the Web API for every client (Bolt's per-request ones too).
        self.http_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT_SECONDS))
        if settings.slack_client_id and settings.slack_client_secret:
            self.oauth = oauth_settings(settings, runtime.engine)
            self.bolt = AsyncApp(
                signing_secret=signing,
                oauth_settings=self.oauth,
                client=web_client(self.api_url, session=self.http_session),
            )
        else:
            self.bolt = AsyncApp(
                signing_secret=signing, client=web_client(self.api_url, token, session=self.http_session)
            )
        self.service = SlackService(
            runtime, client_for=self.client_for, file_origins=files.trusted_origins(self.api_url)
        )
        listeners.register(self.bolt, self.service)
        app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
        self.socket = SocketMode(self.bolt, app_token=app_token, api_url=self.api_url) if app_token else None
        self.http = bool(signing)
        self._verifier = SignatureVerifier(signing) if signing else None
        self._runtime = runtime

    async def client_for(self, team_id: str) -> AsyncWebClient | None:
        """A client holding the bot token of `team_id` (the single token, or the team's installation)."""
        if self.oauth is None:
            return self.bolt.client
        store = self.oauth.installation_store
        bot = await store.async_find_bot(enterprise_id=None, team_id=team_id) if store else None
        if bot is None or not bot.bot_token:
            return None
        return web_client(self.api_url, bot.bot_token, session=self.http_session)

    async def events(self, request: web.Request) -> web.Response:
        """Check the signature, ack, and only then let Bolt run (its authorize reads the database and Slack)."""
        try:
            guard.check_headers(request.headers)
            body = await guard.body_text(request)
        except guard.Refused as refused:
            return refused.response()
        if self._verifier is None or not self._verifier.is_valid_request(body, request.headers):
            return web.Response(status=401, text="invalid signature")
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
            guard.check_depth(bolt_request.body)
            inline = _answered_inline(bolt_request.body)
        except guard.Refused as refused:
            return refused.response()
        except (TypeError, ValueError, AttributeError, KeyError, RecursionError):
            # Signed but not shaped like anything Slack sends: Bolt's parser chokes on it.
            logger.warning("ignored a signed Slack request that could not be parsed")
            return web.Response(status=400, text="unreadable request")
        if inline:
            return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))
        self.service.spawn(self._dispatch(bolt_request), name="dispatch")
        return web.Response(status=200)

    async def _dispatch(self, bolt_request: AsyncBoltRequest) -> None:
        response = await self.bolt.async_dispatch(bolt_request)
        if response.status != 200:
            logger.warning("Slack request not handled (%s): %s", response.status, response.body[:200])

    async def install(self, request: web.Request) -> web.Response:
        assert self.bolt.oauth_flow is not None
        return await to_aiohttp_response(
            await self.bolt.oauth_flow.handle_installation(await to_bolt_request(request))
        )

    async def oauth_redirect(self, request: web.Request) -> web.Response:
        assert self.bolt.oauth_flow is not None
        return await to_aiohttp_response(
            await self.bolt.oauth_flow.handle_callback(await to_bolt_request(request))
        )

    async def startup(self, app: web.Application) -> None:
        self._runtime.feed.subscribe(self.service.on_change)
        self._runtime.recovered.append(self.service.on_recovered)
        if self.socket is not None:
            await self.socket.start()
            logger.info("Slack Socket Mode connected")

    async def shutdown(self, app: web.Application) -> None:
        if self.socket is not None:
            await self.socket.stop()
        await self.service.drain(SHUTDOWN_GRACE_SECONDS)
        await self.http_session.close()


def _answered_inline(body: dict[str, object]) -> bool:
    """Requests whose answer Slack reads from the HTTP response, and which need no authorization."""
    return body.get("type") == "url_verification" or body.get("ssl_check") == "1"
