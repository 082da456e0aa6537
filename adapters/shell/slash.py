"""The shell's slash commands, standing in for the header's buttons: a table from name to a small function.

Each function gets the shell and the rest of the line (stripped); an unknown name is answered by the shell.
"""

from __future__ import annotations

import re
import shlex
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands import (
    Abandon,
    Actor,
    DraftHandoff,
    EditTriage,
    LeaveFlow,
    Pause,
    Rate,
    Resume,
    RetryTurn,
    SetEvidenceStatus,
    StartSession,
    TakeOver,
)

from . import render

if TYPE_CHECKING:
    from .repl import Shell

HELP = """Describe the problem to start. Then reply in words, or type a number to pick a choice.
  /paste              paste a multi-line log; end it with a line holding only "."
  /attach PATH        attach a log file or a screenshot (a bare file path works too)
  /triage field=value [field=value ...]   edit the header (client_name, asset_name, issue_category,
                      hypothesis, problem_summary); an empty value hands the field back to Claude
  /evidence N confirmed|ruled_out|pending   set an evidence item   /evidence add TEXT   add one
  /ticket NUMBER [what you see]   start a new session from a ticket of your PSA
  /status  /list  /session ID  /new  /pause  /resume  /abandon
  /flows              the flows of this workspace   /flow SLUG [what you see]   start a session on one
  /leave              leave the flow guiding the session (Claude takes over with its answers)
  /resolve            draft the resolution, then confirm, edit or discard it
  /escalate [USER] [reason...]   draft the escalation to USER (or to anyone), then confirm
  /takeover           take over a session escalated to you
  /rate N [feedback]  rate a finished session 1-5
  /retry              ask Claude again after a failed or stopped turn (or write a stopped draft again)
  /quit               (or Ctrl-C at the prompt; Ctrl-C while Claude works stops that turn or draft)
Up and Down recall earlier lines, also from past runs."""

FIELD_RE = re.compile(r"(\w+)=")

Slash = Callable[["Shell", str], Awaitable[None]]


async def _help(shell: Shell, rest: str) -> None:
    shell.say(HELP)


async def _paste(shell: Shell, rest: str) -> None:
    shell.say('Paste now; end with a line holding only "."')
    lines: list[str] = []
    while (more := await shell.read("")) is None or more.strip() != ".":
        if more is None:  # Ctrl-C, Ctrl-D or the end of the input: nothing half-pasted is sent
            shell.say("Paste cancelled; nothing was sent.")
            return
        lines.append(more)
    await shell.on_text("\n".join(lines))


async def _attach(shell: Shell, rest: str) -> None:
    path = Path(rest).expanduser()
    if not path.is_file():
        shell.say(f"No file at {rest!r}.")
        return
    await shell.on_text("", attachments=(shell.attachment(path),))


async def _list(shell: Shell, rest: str) -> None:
    views = await shell.handler.list_sessions(
        actor=shell.actor, statuses=("active", "paused", "escalated", "requesting_escalation"), mine=False
    )
    shell.say("\n".join(render.session_line(v) for v in views) or "No open sessions.")


async def _session(shell: Shell, rest: str) -> None:
    try:
        await shell.open(uuid.UUID(rest))
    except ValueError:
        shell.say("Usage: /session ID (see /list)")


async def _new(shell: Shell, rest: str) -> None:
    shell.session_id, shell.draft = None, None
    shell.choices.clear()
    shell.say("Describe the new problem.")


async def _ticket(shell: Shell, rest: str) -> None:
    number, _, problem = rest.partition(" ")
    if not number:
        shell.say("Usage: /ticket NUMBER [what you see]")
        return
    shell.session_id, shell.draft = None, None
    shell.choices.clear()
    await shell.send(StartSession(actor=shell.actor, text=problem.strip(), psa_ticket_id=number))


async def _status(shell: Shell, rest: str) -> None:
    if shell.session_id is None:
        shell.say("No session yet: describe the problem first, or /list and /session ID.")
        return
    await shell.show_session()


async def _triage(shell: Shell, rest: str) -> None:
    a = shell.actor
    await shell.session_command(lambda sid: EditTriage(actor=a, session_id=sid, changes=parse_fields(rest)))


async def _evidence(shell: Shell, rest: str) -> None:
    a = shell.actor
    words = rest.split(maxsplit=1)
    if len(words) == 2 and words[0] == "add":
        await shell.session_command(lambda sid: EditTriage(actor=a, session_id=sid, add_evidence=(words[1],)))
    elif len(words) == 2 and words[0].isdigit() and words[1] in ("confirmed", "ruled_out", "pending"):
        status = words[1]
        await shell.session_command(
            lambda sid: SetEvidenceStatus(actor=a, session_id=sid, index=int(words[0]), status=status)  # type: ignore[arg-type]
        )
    else:
        shell.say("Usage: /evidence N confirmed|ruled_out|pending, or /evidence add TEXT")


def _plain(kind: type[Pause | Resume | Abandon]) -> Slash:
    """A command that needs nothing but the session: /pause, /resume, /abandon."""

    async def run(shell: Shell, rest: str) -> None:
        a = shell.actor
        await shell.session_command(lambda sid: kind(actor=a, session_id=sid))

    return run


async def _retry(shell: Shell, rest: str) -> None:
    """What the last failure offered to send again (a turn, or a draft), else the turn Claude owes."""
    a, again = shell.actor, shell.retry
    shell.retry = None
    await shell.session_command(lambda sid: again or RetryTurn(actor=a, session_id=sid))


async def _takeover(shell: Shell, rest: str) -> None:
    a = shell.actor
    shell.took_over = False
    await shell.session_command(lambda sid: TakeOver(actor=a, session_id=sid))
    if shell.took_over:
        await shell.show_session(with_header=False, package=True)


async def _resolve(shell: Shell, rest: str) -> None:
    a = shell.actor
    shell.escalate_to = None
    await shell.session_command(lambda sid: DraftHandoff(actor=a, session_id=sid, kind="resolve"))


async def _escalate(shell: Shell, rest: str) -> None:
    a = shell.actor
    words = rest.split(maxsplit=1)
    shell.escalate_to = (
        Actor(platform=a.platform, workspace_id=a.workspace_id, user_id=words[0], display_name=words[0])
        if words
        else None
    )
    shell.escalate_reason = words[1] if len(words) > 1 else ""
    await shell.session_command(lambda sid: DraftHandoff(actor=a, session_id=sid, kind="escalate"))


async def _rate(shell: Shell, rest: str) -> None:
    a = shell.actor
    number, _, feedback = rest.partition(" ")
    if not number.isdigit():
        shell.say("Usage: /rate 1-5 [feedback]")
        return
    await shell.session_command(
        lambda sid: Rate(actor=a, session_id=sid, rating=int(number), feedback=feedback or None, replace=True)
    )


async def _flows(shell: Shell, rest: str) -> None:
    refs = await shell.handler.flows(actor=shell.actor)
    shell.say("\n".join(f"  {r.slug}  {r.title}" for r in refs) or "This workspace has no flows yet.")


async def _flow(shell: Shell, rest: str) -> None:
    slug, _, seen = rest.partition(" ")
    if not slug:
        shell.say("Usage: /flow SLUG [what you see] (see /flows)")
        return
    shell.session_id, shell.draft = None, None
    shell.choices.clear()
    await shell.send(StartSession(actor=shell.actor, text=seen.strip() or slug, flow=slug))


async def _leave(shell: Shell, rest: str) -> None:
    a = shell.actor
    await shell.session_command(lambda sid: LeaveFlow(actor=a, session_id=sid))


COMMANDS: dict[str, Slash] = {
    "flows": _flows,
    "flow": _flow,
    "leave": _leave,
    "help": _help,
    "paste": _paste,
    "attach": _attach,
    "list": _list,
    "session": _session,
    "new": _new,
    "ticket": _ticket,
    "status": _status,
    "triage": _triage,
    "evidence": _evidence,
    "pause": _plain(Pause),
    "resume": _plain(Resume),
    "abandon": _plain(Abandon),
    "retry": _retry,
    "takeover": _takeover,
    "resolve": _resolve,
    "escalate": _escalate,
    "rate": _rate,
}


def parse_fields(text: str) -> dict[str, str]:
    """`client_name=Contoso Ltd hypothesis=DNS cache` -> {client_name: "Contoso Ltd", hypothesis: "DNS cache"}."""
    marks = list(FIELD_RE.finditer(text))
    fields: dict[str, str] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        value = text[mark.end() : end].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = shlex.split(value)[0] if value else value
        fields[mark.group(1)] = value
    return fields
