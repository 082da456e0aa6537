"""`flowpilot psa add|test|list|remove` and `flowpilot worker`: the PSA parts of the command line.

The one secret of a connection (ConnectWise private key, Autotask secret, HaloPSA client secret) is read from
standard input, never from an argument: arguments end up in shell history and in `ps`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TextIO

from bot.errors import FlowPilotError
from bot.psa import PSA_KINDS, PSA_NAMES, PsaError, PsaReach
from bot.psa_connections import ConnectionView, PsaConnections
from bot.settings import Settings

SECRET_NAMES = {"connectwise": "private key", "autotask": "API secret", "halopsa": "client secret"}
# Every PSA's flags (DESIGN.md, CLI); which of them a kind needs is bot.psa_connections' to say.
_FLAGS = ("url", "company", "public_key", "client_id", "username", "integration_code", "auth_url", "tenant")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("worker", help="run only the background job worker (PSA write-backs)")
    psa = sub.add_parser("psa", help="connect FlowPilot to your PSA (ConnectWise, Autotask, HaloPSA)")
    psa_sub = psa.add_subparsers(dest="psa_command", metavar="ACTION", required=True)
    add = psa_sub.add_parser(
        "add",
        help="connect an account to its PSA (the secret is read from standard input)",
        description="connectwise: --url --company --public-key --client-id (secret: the private key); "
        "autotask: --username --integration-code [--url ZONE_URL] (secret: the API user's secret); "
        "halopsa: --url [--auth-url] [--tenant] --client-id (secret: the client secret)",
    )
    add.add_argument("kind", choices=PSA_KINDS, metavar="KIND", help=" | ".join(PSA_KINDS))
    add.add_argument("--account", required=True, help="platform:workspace, e.g. slack:T0123ABCD")
    for flag in _FLAGS:
        add.add_argument("--" + flag.replace("_", "-"), dest=flag)
    add.add_argument("--label", help="a name for this connection (default: the company or URL)")
    add.add_argument("--resolved-status", help="status a resolved ticket is moved to (default: unchanged)")
    add.add_argument("--note-visibility", choices=("internal", "public"), default="internal")
    test = psa_sub.add_parser("test", help="reach the PSA with the stored credentials and say what is there")
    test.add_argument("--account", help="platform:workspace (default: every connection)")
    psa_sub.add_parser("list", help="list the PSA connections (never their secrets)")
    remove = psa_sub.add_parser("remove", help="remove a PSA connection")
    remove.add_argument("id", help="the connection's id (see flowpilot psa list)")


def account_of(value: str) -> tuple[str, str]:
    platform, _, workspace = value.partition(":")
    if not platform or not workspace:
        raise ValueError(f"--account must be platform:workspace (e.g. slack:T0123ABCD), not {value!r}")
    return platform, workspace


def read_secret(kind: str, stdin: TextIO) -> str:
    """The secret from standard input: typed without echo at a terminal, else the first line piped in."""
    name = SECRET_NAMES[kind]
    if stdin.isatty():
        return getpass.getpass(f"{PSA_NAMES[kind]} {name} (not shown): ")
    return stdin.readline().strip()


@asynccontextmanager
async def _connections(settings: Settings) -> AsyncIterator[PsaConnections]:
    from .runtime import command_database, psa_services

    async with command_database(settings) as db:
        yield psa_services(settings, db)[0]


def run(args: argparse.Namespace, settings: Settings, *, log: Callable[[Iterable[str]], None]) -> int:
    """One `flowpilot psa …` action; exit code 0, or 1 with one line on stderr saying what to do."""
    action = {"add": _add, "test": _test, "list": _list, "remove": _remove}[args.psa_command]
    secret = ""
    if args.psa_command == "add":
        secret = read_secret(args.kind, sys.stdin)
    log([secret] if secret else [])  # logging set up knowing the secret, so no line can carry it
    try:
        return asyncio.run(action(args, settings, secret))
    except (FlowPilotError, PsaError) as err:
        print(f"flowpilot: {err.message}", file=sys.stderr)
    except ValueError as err:
        print(f"flowpilot: {err}", file=sys.stderr)
    return 1


async def _add(args: argparse.Namespace, settings: Settings, secret: str) -> int:
    platform, workspace = account_of(args.account)
    async with _connections(settings) as connections:
        view = await connections.add(
            platform=platform,
            workspace_id=workspace,
            kind=args.kind,
            settings={flag: getattr(args, flag) for flag in _FLAGS},
            secret=secret,
            resolved_status=args.resolved_status,
            note_visibility=args.note_visibility,
            label=args.label,
        )
    print(f"Added {view.name} connection {view.id} for {view.account} ({view.label}).")
    print("Check it with: flowpilot psa test --account " + view.account)
    return 0


async def _test(args: argparse.Namespace, settings: Settings, _secret: str) -> int:
    scope = account_of(args.account) if args.account else (None, None)
    failed = 0
    async with _connections(settings) as connections:
        views = await connections.list(platform=scope[0], workspace_id=scope[1])
        if not views:
            print("No PSA connection" + (f" for {args.account}." if args.account else "s yet."))
            return 1
        for view in views:
            try:
                reach = await connections.test(view.id)
            except PsaError as err:
                failed += 1
                print(f"✗ {view.name} {view.label} ({view.account}): {err.message}")
                continue
            print(_reached(view, reach))
    return 1 if failed else 0


def _reached(view: ConnectionView, reach: PsaReach) -> str:
    lines = [f"✓ {view.name} {view.label} ({view.account}): reached {reach.company or 'the PSA'}"]
    for label, values in (("Boards / queues", reach.boards), ("Statuses", reach.statuses),
                          ("Note types", reach.note_types)):  # fmt: skip
        if values:
            lines.append(f"  {label}: {', '.join(values)}")
    lines += [f"  {k}: {v}" for k, v in reach.extra.items()]
    return "\n".join(lines)


async def _list(args: argparse.Namespace, settings: Settings, _secret: str) -> int:
    async with _connections(settings) as connections:
        views = await connections.list()
    if not views:
        print("No PSA connections yet: add one with flowpilot psa add KIND --account platform:workspace …")
    for v in views:
        shown = " ".join(f"{k}={val}" for k, val in sorted(v.settings.items()))
        status = v.resolved_status or "unchanged"
        print(
            f"{v.id}  {v.account}  {v.kind}  {v.label}  {shown}  resolved→{status}  notes:{v.note_visibility}"
        )
    return 0


async def _remove(args: argparse.Namespace, settings: Settings, _secret: str) -> int:
    try:
        connection_id = uuid.UUID(args.id)
    except ValueError:
        raise ValueError(f"{args.id!r} is not a connection id (see flowpilot psa list)") from None
    async with _connections(settings) as connections:
        view = await connections.remove(connection_id)
    print(f"Removed {view.name} connection {view.id} ({view.account}).")
    return 0
