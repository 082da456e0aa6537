"""The composition root: one aiohttp app with health checks and every adapter whose settings are present."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from bot.settings import Settings
from storage.migrate import current_revision, head_revision

from . import limits
from .runtime import Runtime, StartupError, open_runtime

logger = logging.getLogger(__name__)


RUNTIME = web.AppKey("runtime", Runtime)
# How the app is served (here and wherever tests or the bench serve it). A body refused before it was read
# (adapters.limits: 413) is read and dropped for at most 2 s so that the sender still gets the 413, then the
# connection is closed; aiohttp's default, 10 s, let each oversized request hold a connection that long.
RUNNER_OPTIONS: dict[str, Any] = {"access_log": None, "lingering_time": 2.0}
RECOVERY = web.AppKey("recovery", asyncio.Task)


@dataclass(frozen=True)
class AdapterSpec:
    """A chat or API adapter: a package with `mount(app, runtime)`, imported only when configured."""

    name: str
    module: str
    configured: Callable[[Settings], bool]
    missing: str


def _slack_configured(s: Settings) -> bool:
    return bool(s.slack_app_token or (s.slack_signing_secret and (s.slack_bot_token or s.slack_client_id)))


ADAPTERS = (
    AdapterSpec(
        "Slack",
        "adapters.slack",
        _slack_configured,
        "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP), or SLACK_APP_TOKEN with SLACK_BOT_TOKEN (Socket Mode)",
    ),
    # Anonymous local mode (Agents Playground, Emulator) is only ever a deliberate choice.
    AdapterSpec(
        "Teams",
        "adapters.teams",
        lambda s: bool(s.teams_client_id) or s.teams_anonymous,
        "set CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, …__CLIENTSECRET and …__TENANTID, "
        "or FLOWPILOT_TEAMS_ANONYMOUS=1 for a local try with the Agents Playground",
    ),
    AdapterSpec("REST API", "adapters.api", lambda s: s.api_tokens is not None, "set FLOWPILOT_API_TOKENS"),
)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        current = await current_revision(runtime.engine)
    except Exception as err:  # any database failure means "not ready", never a 500
        logger.warning("readiness check failed: %s", type(err).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    head = head_revision()
    if current != head:
        return web.json_response(
            {"status": "unavailable", "migrations": {"current": current, "head": head}}, status=503
        )
    return web.json_response({"status": "ok", "migrations": {"current": current}})


def build_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=limits.CLIENT_MAX_SIZE, middlewares=[limits.limit_bodies])
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    for spec in ADAPTERS:
        if not spec.configured(runtime.settings):
            logger.info("%s adapter off: %s", spec.name, spec.missing)
            continue
        try:
            module = importlib.import_module(spec.module)
        except ModuleNotFoundError as err:
            if err.name != spec.module:
                raise
            logger.info("%s adapter not installed in this build", spec.name)
            continue
        module.mount(app, runtime)
    # After the adapters' own startup hooks, so they have subscribed before the first sweep.
    app.on_startup.append(_start_recovery)
    app.on_cleanup.append(_stop_recovery)
    return app


async def _start_recovery(app: web.Application) -> None:
    app[RECOVERY] = asyncio.create_task(app[RUNTIME].recover_forever(), name="recovery-sweep")


async def _stop_recovery(app: web.Application) -> None:
    task = app[RECOVERY]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    async with open_runtime(settings, jobs=True) as runtime:
        # Before anyone is told it listens: a SIGTERM from then on is a clean stop (the database's too).
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        app = build_app(runtime)
        runner = web.AppRunner(app, handle_signals=False, **RUNNER_OPTIONS)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as err:  # taken since the check before the database started
            await runner.cleanup()
            raise StartupError(
                f"can't listen on port {settings.port} ({err.strerror}): stop what listens there, or choose "
                "another port with PORT or --port"
            ) from err
        # Everything loaded so far (modules, the SDKs' schemas, the app) lives as long as the process: keep
        # it out of the garbage collector's full passes, which otherwise walk it all and pause the loop.
        gc.collect()
        gc.freeze()
        # Every address of the machine (0.0.0.0, ::): the one a browser here opens.
        host = "localhost" if settings.host in ("", "0.0.0.0", "::") else settings.host
        host = f"[{host}]" if ":" in host else host
        logger.info("FlowPilot listening on http://%s:%d", host, settings.port)
        await stop.wait()
        logger.info(
            "shutting down: letting turns in flight finish (up to %ss)", settings.shutdown_grace_seconds
        )
        await runtime.handler.shutdown(settings.shutdown_grace_seconds)
        await runner.cleanup()


async def work(settings: Settings) -> None:
    """`flowpilot worker`: only the job worker (PSA write-backs), until SIGTERM or SIGINT."""
    async with open_runtime(settings, listen=False, jobs=True):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        logger.info("FlowPilot job worker running")
        await stop.wait()
        logger.info("job worker stopping")
