"""How the shell shows each of the core's events: a table from event type to a small function."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.events import (
    ActionMarked,
    AssistantTurn,
    DraftDelta,
    DraftFinished,
    Event,
    MessageDelta,
    Notice,
    QuestionAnswered,
    SessionStarted,
    StatusChanged,
    Thinking,
    TurnCut,
)

from . import render

if TYPE_CHECKING:
    from .repl import Shell

ESCALATED = ("escalated", "requesting_escalation")


def event(shell: Shell, e: Event) -> None:
    """Show one event (those without a function of their own: their line, if any)."""
    shows = SHOWS.get(type(e))
    if shows is not None:
        shows(shell, e)
    elif (line := render.line(e)) is not None:
        shell.say(line, "bold" if line.startswith("┌") else None)


def _thinking(shell: Shell, e: Thinking) -> None:
    shell.working = e.purpose
    # The spinner turns until Claude's first words (or the draft's first text) replace it.
    shell.terminal.spinner("FlowPilot is thinking" if e.purpose == "turn" else "Drafting the handoff")


def _started(shell: Shell, e: SessionStarted) -> None:
    shell.session_id = e.session_id
    shell.say(render.header(e.view), "bold")


def _words(shell: Shell, e: MessageDelta) -> None:
    shell.words.more(e.text)


def _cut(shell: Shell, e: TurnCut) -> None:
    shell.words.cut()


def _draft_text(shell: Shell, e: DraftDelta) -> None:
    shell.terminal.write(e.text)


def _turn(shell: Shell, e: AssistantTurn) -> None:
    shell.retry = None
    shell.words.finish(e, shell.choices)


def _notice(shell: Shell, e: Notice) -> None:
    shell.retry = e.retry
    shell.say(render.line(e) or "", "red" if e.level == "error" else "green")


def _answered(shell: Shell, e: QuestionAnswered | ActionMarked) -> None:
    shell.choices.drop(e.question.id if isinstance(e, QuestionAnswered) else e.action.id)
    shell.say(render.line(e) or "", "green")


def _draft(shell: Shell, e: DraftFinished) -> None:
    """The draft is whole: show the ticket note exactly as Confirm will file it, then ask."""
    shell.draft = e
    shell.say("\n──")
    if e.ticket_note:
        shell.say("Ticket note, as Confirm will file it:\n")
        shell.say(e.ticket_note)
        shell.say("──")
    shell.say("Confirm (c), edit (e) or discard (d)?", "bold")


def _status(shell: Shell, e: StatusChanged) -> None:
    shell.say(render.header(e.view), "bold")
    shell.took_over = e.old in ESCALATED and e.new == "active"
    if e.new == "resolved":
        shell.say("Resolved. Ticket note for your PSA:\n")
        shell.say(e.outputs.get("plain", ""))
    elif e.new in ESCALATED:
        target = e.view.escalated_to or "any engineer"
        shell.say(f"Escalated to {target}. Handoff package:\n")
        shell.say(e.outputs.get("plain", ""))
    if e.new in ("resolved", *ESCALATED):
        shell.rating_due = True
        shell.say("How useful was FlowPilot here? Rate 1-5 (type a number), or keep going.")


SHOWS: dict[type[Event], Callable[[Shell, Any], None]] = {
    Thinking: _thinking,
    SessionStarted: _started,
    MessageDelta: _words,
    TurnCut: _cut,
    AssistantTurn: _turn,
    DraftDelta: _draft_text,
    DraftFinished: _draft,
    StatusChanged: _status,
    Notice: _notice,
    QuestionAnswered: _answered,
    ActionMarked: _answered,
}
