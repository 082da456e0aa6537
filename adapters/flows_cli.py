"""`flowpilot flows import|validate|list|show|export|hide`: the flow library from the terminal.

Files are validated before anything is stored: one fault anywhere and nothing is imported, every fault is
printed as `file:line: problem` and the exit code is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from bot.errors import FlowPilotError
from bot.flows.library import FlowLibrary, FlowSummary
from bot.flows.mermaid import mermaid
from bot.flows.validate import Checked, validate
from bot.settings import Settings

# In a folder, YAML files are flows (flows/schema.json beside them is not); a JSON flow is named on its own.
SUFFIXES = (".yaml", ".yml")

NO_FILES = "no flow files (.yaml, .yml) in {paths}"
NOT_FOUND = "{path}: no such file or folder"
BAD_ACCOUNT = "--account must be platform:workspace (e.g. slack:T01234567), not {value!r}"
UNKNOWN_ACCOUNT = "no account {value!r} has used FlowPilot yet"
VALID = "{count} flow{s} valid"
NOTHING_IMPORTED = "nothing imported: fix the faults above and import again"
NO_FLOWS = "no flows yet: import some with `flowpilot flows import PATH`"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`flows` and its subcommands, under the `flowpilot` parser."""
    flows = sub.add_parser("flows", help="import, validate, list, show and export troubleshooting flows")
    commands = flows.add_subparsers(dest="flows_command", metavar="SUBCOMMAND", required=True)
    importing = commands.add_parser("import", help="validate flow files or folders, then store them")
    importing.add_argument("paths", nargs="+", metavar="PATH")
    _account_option(importing, "the account the flows serve (default: every account)")
    checking = commands.add_parser("validate", help="check flow files; exit 1 with every fault")
    checking.add_argument("paths", nargs="+", metavar="PATH")
    listing = commands.add_parser("list", help="the flows, their versions and counters")
    _account_option(listing, "only what this account sees")
    show = commands.add_parser("show", help="a flow's current version (YAML, or a Mermaid diagram)")
    show.add_argument("flow", metavar="ID|SLUG")
    show.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart instead of the YAML")
    _account_option(show, "look the flow up as this account sees it")
    export = commands.add_parser("export", help="write flows as files that import back unchanged")
    export.add_argument("flow", nargs="?", metavar="ID|SLUG", help="one flow (default: all of them)")
    export.add_argument("--dir", required=True, type=Path, help="folder to write <slug>.yaml files into")
    _account_option(export, "the flows this account sees (default: the shared ones)")
    hide = commands.add_parser(
        "hide", help="hide a flow from one account (e.g. a starter flow it does not use)"
    )
    hide.add_argument("flow", metavar="ID|SLUG")
    hide.add_argument("--account", metavar="PLATFORM:WORKSPACE", required=True, help="the account")
    hide.add_argument("--show", action="store_true", help="show it to the account again")


def _account_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--account", metavar="PLATFORM:WORKSPACE", help=text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `flowpilot flows …`; the exit code."""
    if args.flows_command == "validate":
        return _validate_command(args.paths)
    command = _DB_COMMANDS[args.flows_command]
    try:
        return asyncio.run(command(args, settings))
    except FlowPilotError as err:
        return _fail(err.message)


# ── files ────────────────────────────────────────────────────────────────────────────────────────────
def flow_files(paths: Iterable[str]) -> list[Path]:
    """The flow files named, folders searched through; FileNotFoundError names a path that is not there."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(NOT_FOUND.format(path=name))
    return found


def check_files(paths: Iterable[str]) -> tuple[list[tuple[Path, Checked]], list[str]]:
    """Each file's validation, and every fault (a missing path, an unreadable file) as a line to print."""
    try:
        files = flow_files(paths)
    except FileNotFoundError as err:
        return [], [str(err)]
    if not files:
        return [], [NO_FILES.format(paths=" ".join(paths))]
    checked: list[tuple[Path, Checked]] = []
    faults: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            faults.append(f"{path}:1: cannot read it as UTF-8 text ({type(err).__name__})")
            continue
        result = validate(text, file=str(path))
        checked.append((path, result))
        faults += [str(f) for f in result.faults]
    slugs: dict[str, Path] = {}
    for path, result in checked:
        if result.flow is not None and result.flow.id in slugs:
            faults.append(f"{path}:1: flow id {result.flow.id!r} is also in {slugs[result.flow.id]}")
        elif result.flow is not None:
            slugs[result.flow.id] = path
    return checked, faults


def _validate_command(paths: list[str]) -> int:
    checked, faults = check_files(paths)
    if faults:
        print("\n".join(faults), file=sys.stderr)
        return 1
    print(VALID.format(count=len(checked), s="" if len(checked) == 1 else "s"))
    return 0


# ── the database ─────────────────────────────────────────────────────────────────────────────────────
@asynccontextmanager
async def _library(settings: Settings) -> AsyncIterator[FlowLibrary]:
    from .runtime import StartupError, command_database

    try:
        async with command_database(settings) as db:
            yield FlowLibrary(db)
    except StartupError as err:
        raise FlowPilotError(str(err)) from err


async def _account(library: FlowLibrary, value: str | None, *, create: bool = False) -> uuid.UUID | None:
    if value is None:
        return None
    platform, _, workspace = value.partition(":")
    if not platform or not workspace:
        raise FlowPilotError(BAD_ACCOUNT.format(value=value))
    account = await library.account_id(platform=platform, workspace_id=workspace, create=create)
    if account is None:
        raise FlowPilotError(UNKNOWN_ACCOUNT.format(value=value))
    return account


async def _import_command(args: argparse.Namespace, settings: Settings) -> int:
    checked, faults = check_files(args.paths)
    if faults:
        print("\n".join([*faults, NOTHING_IMPORTED]), file=sys.stderr)
        return 1
    async with _library(settings) as library:
        account = await _account(library, args.account, create=True)
        # What a goto_flow may name: the flows the account sees (a shared flow: the shared ones), and these.
        if account is not None:
            known = {ref.slug for ref in await library.visible(account_id=account)}
        else:
            known = {s.ref.slug for s in await library.summaries(account_id=None) if s.account is None}
        known |= {result.flow.id for _, result in checked if result.flow is not None}
        for path, result in checked:
            assert result.flow is not None
            saved = await library.save(
                result.flow, source=path.read_text(encoding="utf-8"), account_id=account, origin="cli"
            )
            state = f"v{saved.ref.version}" if saved.changed else f"unchanged (v{saved.ref.version})"
            print(f"{saved.ref.slug}\t{state}\t{path}")
    warnings = [f"warning: {w}" for _, result in checked for w in result.unknown_jumps(known)]
    if warnings:
        print("\n".join(warnings), file=sys.stderr)
    return 0


async def _list_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _library(settings) as library:
        summaries = await library.summaries(account_id=await _account(library, args.account))
    if not summaries:
        print(NO_FLOWS)
        return 0
    print(format_table(summaries))
    return 0


def format_table(summaries: list[FlowSummary]) -> str:
    """One line per flow: slug, version, who it serves, its counters and title."""
    header = ("SLUG", "VER", "ACCOUNT", "STARTED", "RESOLVED", "ESCALATED", "LEFT", "TITLE")
    rows = [header] + [
        (
            s.ref.slug,
            f"v{s.ref.version}",
            s.account or "all",
            str(s.counters.started),
            str(s.counters.resolved),
            str(s.counters.escalated),
            _left(s),
            s.ref.title,
        )
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]) for r in rows)


def _left(summary: FlowSummary) -> str:
    left_at = summary.counters.left_at
    if not left_at:
        return "0"
    node, times = max(left_at.items(), key=lambda item: item[1])
    return f"{summary.counters.left} (most at {node}: {times})"


async def _show_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _library(settings) as library:
        stored = await library.get(account_id=await _account(library, args.account), slug_or_id=args.flow)
    if args.mermaid:
        sys.stdout.write(mermaid(stored.flow))
    else:
        print(f"# {stored.ref.slug} v{stored.ref.version} ({stored.ref.flow_id})")
        sys.stdout.write(stored.source if stored.source.endswith("\n") else stored.source + "\n")
    return 0


async def _export_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _library(settings) as library:
        account = await _account(library, args.account)
        if args.flow:
            wanted = [args.flow]
        else:
            wanted = [
                s.ref.slug for s in await library.summaries(account_id=account) if account or not s.account
            ]
        stored = [await library.get(account_id=account, slug_or_id=w) for w in wanted]
    args.dir.mkdir(parents=True, exist_ok=True)
    for flow in stored:
        path = args.dir / f"{flow.ref.slug}.yaml"
        path.write_text(flow.source, encoding="utf-8")
        print(f"{flow.ref.slug}\tv{flow.ref.version}\t{path}")
    return 0


async def _hide_command(args: argparse.Namespace, settings: Settings) -> int:
    async with _library(settings) as library:
        account = await _account(library, args.account, create=True)
        assert account is not None
        await library.set_hidden(account_id=account, slug_or_id=args.flow, hidden=not args.show)
    print(f"{args.flow}\t{'shown to' if args.show else 'hidden from'} {args.account}")
    return 0


async def stock_starter(settings: Settings) -> None:
    """`flowpilot migrate` stocks the starter flows too, so a release step leaves a ready library."""
    from bot.flows.starter import stock

    async with _library(settings) as library:
        await stock(library)


_DB_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], Coroutine[None, None, int]]] = {
    "import": _import_command,
    "list": _list_command,
    "show": _show_command,
    "export": _export_command,
    "hide": _hide_command,
}


def _fail(problem: str) -> int:
    print(f"flowpilot: {problem}", file=sys.stderr)
    return 1
