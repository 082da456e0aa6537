"""A turn's words in the terminal as Claude writes them; its numbered choices when the turn is whole."""

from __future__ import annotations

from bot.events import AssistantTurn

from . import render
from .terminal import Terminal

STYLE = "cyan"
CUT_OFF = "  (cut off)"


class TurnWords:
    """What of the turn being written is on screen, to finish it with its choices or mark it cut off."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.shown = ""

    def more(self, text: str) -> None:
        """More of the message: printed at once (the spinner goes with the first words)."""
        if not self.shown:
            self.terminal.write("FlowPilot: ", STYLE)
        self.shown += text
        self.terminal.write(text, STYLE)

    def finish(self, turn: AssistantTurn, choices: render.Choices) -> None:
        """The whole turn: its choices under the words already shown, or all of it when nothing was streamed.

        The turn's message is what counts: when it differs from the words shown (Claude's first answer was
        malformed and the second one said something else), it is printed whole.
        """
        shown, self.shown = self.shown, ""
        if not shown:
            self.terminal.say(render.turn(turn, choices), STYLE)
            return
        self.terminal.write("\n")
        if shown.strip() != turn.message.strip():
            self.terminal.say(render.turn(turn, choices), STYLE)
            return
        choices.clear()
        items = render.open_items(turn.questions, turn.actions, choices)
        if items:
            self.terminal.say("\n".join(items), STYLE)

    def cut(self) -> None:
        """The turn stopped after some words: they are marked as cut off (the notice with /retry follows)."""
        if self.shown:
            self.shown = ""
            self.terminal.write(CUT_OFF + "\n", "yellow")
