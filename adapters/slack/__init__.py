"""The Slack adapter: Slack threads become sessions; buttons, modals and slash commands become commands."""

from __future__ import annotations

import logging

from aiohttp import web

from adapters.runtime import Runtime

from .app import SlackApp
from .oauth import INSTALL_PATH, REDIRECT_PATH

logger = logging.getLogger(__name__)

SLACK = web.AppKey("slack", SlackApp)


def mount(app: web.Application, runtime: Runtime) -> None:
    """Add POST /slack/events (and the OAuth routes), and run Socket Mode when an app token is set."""
    slack = SlackApp(runtime)
    app[SLACK] = slack
    if slack.http:
        app.router.add_post("/slack/events", slack.events)
    if slack.oauth is not None:
        app.router.add_get(INSTALL_PATH, slack.install)
        app.router.add_get(REDIRECT_PATH, slack.oauth_redirect)
    app.on_startup.append(slack.startup)
    app.on_shutdown.append(slack.shutdown)
    mode = "Socket Mode" if slack.socket else "HTTP (POST /slack/events)"
    logger.info("Slack adapter on: %s, %s", mode, "OAuth install" if slack.oauth else "single workspace")
