"""`flowpilot shell`: a troubleshooting session in the terminal, as Hubot's shell adapter does it.

Buttons become numbered choices; slash commands stand in for the header's buttons. Ctrl-C at the prompt quits;
during a turn or a draft it stops that and comes back to the prompt (kept as interrupted: /retry does it again).
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import queries
from bot.commands import (
    Actor,
    AnswerQuestion,
    Command,
    DiscardDraft,
    DraftHandoff,
    Escalate,
    MarkAction,
    Rate,
    Resolve,
    RetryWriteBack,
    SessionCommand,
    StartSession,
    UserMessage,
)
from bot.events import (
    DraftFinished,
    Thinking,
)
from bot.handler import SessionHandler
from bot.intake import Attachment
from bot.psa_writeback import WriteBacks
from bot.schemas import HandoffFields
from bot.settings import Settings

from . import notes, render, show, slash
from .show import ESCALATED
from .terminal import Terminal, interrupts
from .words import TurnWords

PROMPT = "you> "
HISTORY_FILE = "shell_history"
# A bare number (a choice) and a bare path (a file to attach), as typed or dropped into the terminal.
NUMBER = re.compile(r"\d{1,4}")
QUOTED = re.compile(r"""^(['"])(.*)\1$""")
STOPPED = {
    "turn": "Stopped. Claude's reply to this was not saved; /retry asks again.",
    "draft": "Stopped the draft; it was not saved. /retry writes it again.",
    None: "Stopped.",
}
T = TypeVar("T")


class Shell:
    def __init__(
        self,
        handler: SessionHandler,
        actor: Actor,
        terminal: Terminal,
        db: async_sessionmaker[AsyncSession] | None = None,
        writebacks: WriteBacks | None = None,
    ) -> None:
        self.handler = handler
        self.writebacks = writebacks  # with the job worker running here: a ticket's note is waited for
        self.actor = actor
        self.terminal = terminal
        self.db = db
        self.session_id: uuid.UUID | None = None
        self.choices = render.Choices()
        self.draft: DraftFinished | None = None
        self.escalate_to: Actor | None = None
        self.escalate_reason = ""
        self.rating_due = False
        self.retry: SessionCommand | None = None  # what /retry sends, when a notice offered one
        self.working: str | None = None  # "turn" or "draft" while Claude works on one
        self.words = TurnWords(terminal)  # the turn Claude is writing, as far as it is shown
        self.sending: Command | None = None  # the command whose events are being shown
        self.took_over = False
        self._current: asyncio.Task[Any] | None = None

    def say(self, text: str = "", style: str | None = None) -> None:
        self.terminal.say(text, style)

    async def read(self, prompt: str = PROMPT) -> str | None:
        return await self.terminal.read(prompt, main=prompt == PROMPT)

    async def run(self, session_id: uuid.UUID | None) -> int:
        self.say(
            "FlowPilot shell. Describe the problem to start a session; /help lists the commands.", "bold"
        )
        with interrupts(self.interrupt):
            if session_id is not None:
                await self.interruptible(self.open(session_id))
            while True:
                done, line = await self.interruptible(self.read())
                if not done or line is None or line.strip() in ("/quit", "/exit"):
                    self.say(
                        "Bye. Your sessions are saved; `flowpilot shell --session ID` picks one up again."
                    )
                    return 0
                done, _ = await self.interruptible(self.on_line(line.strip()))
                if not done:
                    self.words.cut()
                    self.say(f"\n⚠ {STOPPED.get(self.working, STOPPED[None])}", "yellow")
                self.working = None

    def interrupt(self) -> None:
        """Ctrl-C outside the prompt: stop what runs (a turn, a draft, or a read from a pipe); a turn or draft
        stopped is kept as interrupted, and /retry does it again."""
        if self._current is not None:
            if self.working is not None and self.session_id is not None:
                self.handler.stop(self.session_id)
                if isinstance(self.sending, DraftHandoff):
                    self.retry = self.sending  # /retry writes the stopped draft again
            self._current.cancel()

    async def interruptible(self, work: Coroutine[Any, Any, T]) -> tuple[bool, T | None]:
        """Run `work` so that Ctrl-C stops it: (True, its result), or (False, None) when stopped."""
        task = asyncio.ensure_future(work)
        self._current = task
        try:
            return True, await task
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if this is not None and this.cancelling():
                raise  # the shell itself is being stopped
            self.terminal.stop_spinner()
            return False, None
        finally:
            self._current = None

    async def open(self, session_id: uuid.UUID) -> None:
        self.session_id = session_id
        self.draft = None
        self.choices.clear()
        await self.show_session()

    async def show_session(self, *, with_header: bool = True, package: bool = False) -> None:
        """The header, Claude's last reply with its open questions and steps as numbered choices, and (after a
        hand-over) the escalation package."""
        assert self.session_id is not None
        last, view = await self.handler.last_turn(actor=self.actor, session_id=self.session_id)
        if with_header:
            self.say(render.header(view), "bold")
        if package or view.status in ESCALATED:
            await self.show_package(self.session_id)
        if last is not None:
            self.say(render.turn(last, self.choices), "cyan")
        if view.awaiting_reply:
            self.say("⚠ Claude has not answered the last message yet: /retry asks again.", "yellow")

    async def show_package(self, session_id: uuid.UUID) -> None:
        if self.db is None:
            return
        account = queries.AccountRef(platform=self.actor.platform, workspace_id=self.actor.workspace_id)
        record = await queries.session_record(self.db, account=account, session_id=session_id)
        handed = (
            [h for h in record.handoffs if h.kind == "escalate" and h.status == "confirmed"] if record else []
        )
        if handed and handed[-1].outputs.get("plain"):
            self.say("── Escalation package ──", "bold")
            self.say(handed[-1].outputs["plain"])
            self.say("──")

    # ── input ──────────────────────────────────────────────────────────────────────────────────────
    async def on_line(self, line: str) -> None:
        if not line:
            return
        if self.draft is not None and line.lower() in ("c", "confirm", "e", "edit", "d", "discard"):
            await self.on_draft_choice(line.lower()[0])
            return
        if self.rating_due and line.isdigit() and len(line) == 1:
            self.rating_due = False
            await self.session_command(lambda sid: Rate(actor=self.actor, session_id=sid, rating=int(line)))
            return
        if NUMBER.fullmatch(line) and self.choices.items:
            await self.on_choice(int(line))
            return
        if (path := self.file_at(line)) is not None:
            await self.on_text("", attachments=(self.attachment(path),))
            return
        if line.startswith("/"):
            await self.on_slash(line)
            return
        await self.on_text(line)

    def file_at(self, line: str) -> Path | None:
        """The file a line names on its own (relative, absolute or ~, quoted as a terminal drops it), if any."""
        if len(line) >= 1024:
            return None
        quoted = QUOTED.match(line)
        path = Path(quoted.group(2) if quoted else line.replace("\\ ", " ")).expanduser()
        try:
            return path if path.is_file() else None
        except OSError:
            return None

    def attachment(self, path: Path) -> Attachment:
        return Attachment(filename=path.name, media_type=None, data=path.read_bytes())

    async def on_text(self, text: str, attachments: tuple[Attachment, ...] = ()) -> None:
        self.rating_due = False
        if self.session_id is None:
            await self.send(StartSession(actor=self.actor, text=text, attachments=attachments))
        else:
            await self.send(
                UserMessage(actor=self.actor, session_id=self.session_id, text=text, attachments=attachments)
            )

    async def on_choice(self, number: int) -> None:
        if number not in self.choices.items or self.session_id is None:
            shown = ", ".join(str(n) for n in sorted(self.choices.items))
            self.say(f"There is no choice {number} here: pick one of {shown}, or reply in words.", "yellow")
            return
        kind, item_id, value = self.choices.items[number]
        if kind == "answer":
            await self.send(
                AnswerQuestion(
                    actor=self.actor, session_id=self.session_id, question_id=item_id, answer=value
                )
            )
        else:
            await self.send(
                MarkAction(
                    actor=self.actor,
                    session_id=self.session_id,
                    action_id=item_id,
                    outcome="done" if value == "done" else "failed",
                )
            )

    async def session_command(self, make: Callable[[uuid.UUID], Command]) -> None:
        if self.session_id is None:
            self.say("No session yet: describe the problem first, or /list and /session ID.")
            return
        await self.send(make(self.session_id))

    async def on_slash(self, line: str) -> None:
        name, _, rest = line[1:].partition(" ")
        command = slash.COMMANDS.get(name)
        if command is None:
            self.say(f"Unknown command /{name}. /help lists them.", "yellow")
            return
        await command(self, rest.strip())

    async def on_draft_choice(self, choice: str) -> None:
        draft = self.draft
        assert draft is not None and self.session_id is not None
        fields = None
        if choice == "d":
            self.draft = None
            await self.send(DiscardDraft(actor=self.actor, session_id=self.session_id))
            return
        if choice == "e":
            fields = await self.edit_fields(draft)
            if fields is None:
                return
        self.draft = None
        if draft.kind == "resolve":
            await self.send(Resolve(actor=self.actor, session_id=self.session_id, fields=fields))
        else:
            await self.send(
                Escalate(
                    actor=self.actor,
                    session_id=self.session_id,
                    to=self.escalate_to,
                    reason=self.escalate_reason,
                    fields=fields,
                )
            )

    async def edit_fields(self, draft: DraftFinished) -> HandoffFields | None:
        self.say(
            "Edit each section: type its new text over as many lines as you need and end with a line holding "
            'only ".", or press Enter at once to keep it.'
        )
        values = {}
        for name, label, current in (
            ("root_cause", "Root cause", draft.root_cause),
            ("steps_taken", "Steps taken", draft.steps_taken),
            ("recommendations", "Recommendations", draft.recommendations),
        ):
            self.say(f"{label} (now):", "bold")
            self.say(current or "—")
            text = await self.read_section(label)
            if text is None:
                self.say("Edit cancelled; the draft is as it was. Confirm (c), edit (e) or discard (d)?")
                return None
            values[name] = text or current
        return HandoffFields(**values)

    async def read_section(self, label: str) -> str | None:
        """Lines up to one holding only "." (an empty first line: keep the section); None when cancelled."""
        lines: list[str] = []
        while True:
            line = await self.read(f"{label}> " if not lines else " " * (len(label) + 2))
            if line is None:
                return None
            if line.strip() == "." or (not lines and not line.strip()):
                return "\n".join(lines).strip()
            lines.append(line)

    # ── output ─────────────────────────────────────────────────────────────────────────────────────
    async def send(self, command: Command) -> None:
        self.sending = command
        async for event in self.handler.handle(command):
            show.event(self, event)
            if not isinstance(event, Thinking):
                self.terminal.stop_spinner()
        self.terminal.stop_spinner()
        if self.writebacks is not None and isinstance(command, Resolve | Escalate | RetryWriteBack):
            await notes.wait_for_note(self, self.writebacks, command.session_id)


async def run_shell(
    settings: Settings,
    *,
    session_id: uuid.UUID | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    from adapters.runtime import JOBS_MIN_BUDGET, open_runtime

    terminal = Terminal(
        stdin or sys.stdin, stdout or sys.stdout, history=settings.data_dir.expanduser() / HISTORY_FILE
    )
    if not settings.claude_configured:
        terminal.say("Note: ANTHROPIC_API_KEY is not set, so Claude cannot answer. Set it and start again.")
    # The job worker runs here when a PSA can be connected (its secrets need the key): a ticket's note is
    # posted, and told, even when no `flowpilot serve` runs.
    jobs = settings.secret_key is not None and settings.db_pool_size >= JOBS_MIN_BUDGET
    async with open_runtime(settings, listen=False, jobs=jobs) as runtime:
        user = settings.shell_user or getpass.getuser()
        actor = Actor(platform="shell", workspace_id="local", user_id=user, display_name=user)
        writebacks = runtime.writebacks if runtime.worker is not None else None
        shell = Shell(runtime.handler, actor, terminal, runtime.db, writebacks)
        return await shell.run(session_id)
