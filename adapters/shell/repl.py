"""`flowpilot shell`: a troubleshooting session in the terminal, as Hubot's shell adapter does it.

Buttons become numbered choices; slash commands stand in for the header's buttons.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.commands import (
    Actor,
    AnswerQuestion,
    Command,
    DiscardDraft,
    Escalate,
    GetStatus,
    MarkAction,
    Rate,
    Resolve,
    StartSession,
    UserMessage,
)
from bot.events import (
    AssistantTurn,
    DraftDelta,
    DraftFinished,
    SessionStarted,
    StatusChanged,
)
from bot.handler import SessionHandler
from bot.intake import Attachment
from bot.schemas import HandoffFields
from bot.settings import Settings

from . import render, slash

PROMPT = "you> "


class Shell:
    def __init__(self, handler: SessionHandler, actor: Actor, *, stdin: TextIO, stdout: TextIO) -> None:
        self.handler = handler
        self.actor = actor
        self.stdin = stdin
        self.stdout = stdout
        self.session_id: uuid.UUID | None = None
        self.choices = render.Choices()
        self.draft: DraftFinished | None = None
        self.escalate_to: Actor | None = None
        self.escalate_reason = ""
        self.rating_due = False

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def read(self, prompt: str = PROMPT) -> str | None:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = await asyncio.to_thread(self.stdin.readline)
        return None if line == "" else line.rstrip("\n")

    async def run(self, session_id: uuid.UUID | None) -> int:
        self.say("FlowPilot shell. Describe the problem to start a session; /help lists the commands.")
        if session_id is not None:
            await self.open(session_id)
        while True:
            line = await self.read()
            if line is None or line.strip() in ("/quit", "/exit"):
                self.say("Bye. Your sessions are saved; `flowpilot shell --session ID` picks one up again.")
                return 0
            await self.on_line(line.strip())

    async def open(self, session_id: uuid.UUID) -> None:
        self.session_id = session_id
        self.draft = None
        self.choices.clear()
        await self.send(GetStatus(actor=self.actor, session_id=session_id))

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
        if line.isdigit() and int(line) in self.choices.items:
            await self.on_choice(int(line))
            return
        if line.startswith("/"):
            await self.on_slash(line)
            return
        path = Path(line).expanduser()
        if len(line) < 1024 and path.is_file():
            await self.on_text("", attachments=(self.attachment(path),))
            return
        await self.on_text(line)

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
        kind, item_id, value = self.choices.items[number]
        if self.session_id is None:
            return
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
            self.say(f"Unknown command /{name}. /help lists them.")
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
        self.say("Edit each section: type the new text, or press Enter to keep it.")
        values = {}
        for name, label, current in (
            ("root_cause", "Root cause", draft.root_cause),
            ("steps_taken", "Steps taken", draft.steps_taken),
            ("recommendations", "Recommendations", draft.recommendations),
        ):
            self.say(f"{label} (now): {current}")
            line = await self.read(f"{label}> ")
            if line is None:
                return None
            values[name] = line.strip() or current
        return HandoffFields(**values)

    # ── output ─────────────────────────────────────────────────────────────────────────────────────
    async def send(self, command: Command) -> None:
        async for event in self.handler.handle(command):
            if isinstance(event, SessionStarted):
                self.session_id = event.session_id
                self.say(render.header(event.view))
            elif isinstance(event, AssistantTurn):
                self.say(render.turn(event, self.choices))
            elif isinstance(event, DraftDelta):
                self.stdout.write(event.text)
                self.stdout.flush()
            elif isinstance(event, DraftFinished):
                self.draft = event
                self.say("\n──")
                if event.ticket_note:
                    self.say("Ticket note, as Confirm will file it:\n")
                    self.say(event.ticket_note)
                    self.say("──")
                self.say("Confirm (c), edit (e) or discard (d)?")
            elif isinstance(event, StatusChanged):
                self.on_status(event)
            elif (line := render.line(event)) is not None:
                self.say(line)

    def on_status(self, event: StatusChanged) -> None:
        self.say(render.header(event.view))
        if event.new == "resolved":
            self.say("Resolved. Ticket note for your PSA:\n")
            self.say(event.outputs.get("plain", ""))
        elif event.new in ("escalated", "requesting_escalation"):
            target = event.view.escalated_to or "any engineer"
            self.say(f"Escalated to {target}. Handoff package:\n")
            self.say(event.outputs.get("plain", ""))
        if event.new in ("resolved", "escalated", "requesting_escalation"):
            self.rating_due = True
            self.say("How useful was FlowPilot here? Rate 1-5 (type a number), or keep going.")


async def run_shell(
    settings: Settings,
    *,
    session_id: uuid.UUID | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    from adapters.runtime import open_runtime

    out = stdout or sys.stdout
    if not settings.claude_configured:
        out.write("Note: ANTHROPIC_API_KEY is not set, so Claude cannot answer. Set it and start again.\n")
    async with open_runtime(settings, listen=False) as runtime:
        user = settings.shell_user or getpass.getuser()
        actor = Actor(platform="shell", workspace_id="local", user_id=user, display_name=user)
        shell = Shell(runtime.handler, actor, stdin=stdin or sys.stdin, stdout=out)
        return await shell.run(session_id)
