"""The terminal under `flowpilot shell`: lines in (prompt_toolkit when a person types), text out (rich).

In a terminal: line editing and a history kept under FLOWPILOT_DATA_DIR, colour, a live spinner while Claude
thinks, and Ctrl-C that the shell decides about. Fed by a pipe or a file (a script), the same shell reads plain
lines and writes plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, InMemoryHistory
from rich.console import Console
from rich.status import Status

PROMPT_STYLE = "ansicyan bold"


class Terminal:
    def __init__(self, stdin: TextIO, stdout: TextIO, *, history: Path | None = None) -> None:
        self.stdin = stdin
        self.interactive = stdin.isatty() and stdout.isatty()
        self.console = Console(file=stdout, highlight=False, markup=False, emoji=False, soft_wrap=True)
        self._status: Status | None = None
        self._lines: asyncio.Queue[str | None] | None = None
        self._prompts: PromptSession[str] | None = None
        self._answers: PromptSession[str] | None = None
        if self.interactive:
            self._prompts = PromptSession(history=_history(history))
            self._answers = PromptSession(history=InMemoryHistory())

    # ── output ─────────────────────────────────────────────────────────────────────────────────────
    def say(self, text: str = "", style: str | None = None) -> None:
        self.stop_spinner()
        self.console.print(text, style=style)

    def write(self, text: str, style: str | None = None) -> None:
        """Text as it comes (a streamed turn or draft): no newline of its own."""
        self.stop_spinner()
        self.console.print(text, style=style, end="")
        self.console.file.flush()

    def spinner(self, text: str) -> None:
        """A live spinner in a terminal (until the next output), else one line saying so."""
        if not self.interactive:
            self.say(f"… {text}", style="dim")
            return
        self.stop_spinner()
        self._status = self.console.status(text, spinner="dots", spinner_style="cyan")
        self._status.start()

    def stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    # ── input ──────────────────────────────────────────────────────────────────────────────────────
    async def read(self, prompt: str, *, main: bool = True) -> str | None:
        """One line; None at the end of input, or (in a terminal) on Ctrl-C or Ctrl-D."""
        self.stop_spinner()
        session = self._prompts if main else self._answers
        if session is not None:
            try:
                # Ctrl-C is a key while the prompt has the terminal; outside it, the shell's own handler.
                return await session.prompt_async(
                    FormattedText([(PROMPT_STYLE, prompt)]), handle_sigint=False
                )
            except (KeyboardInterrupt, EOFError):
                return None
        self.console.file.write(prompt)
        self.console.file.flush()
        line = await self._pipe().get()
        return None if line is None else line.rstrip("\n")

    def _pipe(self) -> asyncio.Queue[str | None]:
        """Lines of a pipe or file, read by a daemon thread (so quitting never waits for more input)."""
        if self._lines is None:
            lines: asyncio.Queue[str | None] = asyncio.Queue()
            loop = asyncio.get_running_loop()

            def feed() -> None:
                while True:
                    line = self.stdin.readline()
                    loop.call_soon_threadsafe(lines.put_nowait, line or None)
                    if not line:
                        return

            threading.Thread(target=feed, name="shell-stdin", daemon=True).start()
            self._lines = lines
        return self._lines


def _history(path: Path | None) -> FileHistory | InMemoryHistory:
    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()  # a read-only data dir costs the history, not the shell
    return FileHistory(str(path))


@contextlib.contextmanager
def interrupts(handler: Callable[[], None]) -> Iterator[None]:
    """Route Ctrl-C (SIGINT) to `handler` while the shell runs, instead of a KeyboardInterrupt traceback."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except (NotImplementedError, RuntimeError):  # no signals here (not the main thread, or Windows)
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
