"""`flowpilot shell` in a real pseudo-terminal, as an engineer uses it: keys in, the screen's text out.

The real `flowpilot shell` process runs on the slave side of a pty (its controlling terminal, so Ctrl-C is a
SIGINT as in a terminal window) against the fake Anthropic; the test types on the master side.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import struct
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fakes.anthropic import FakeAnthropic
from storage.models import AISession, AISessionStep, SessionHandoff

ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\r"
)
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
LEFT, UP, CTRL_C = "\x1b[D", "\x1b[A", "\x03"
WAIT = 60.0  # a guard against a hung shell, not a timing assertion


class Terminal:
    """The master side of a pty running `flowpilot shell`: what was shown, and keys to type."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self.master = master
        self.raw = ""
        self.seen = 0  # how much of the screen text `expect` has consumed
        self.closed = False
        self._changed = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._on_output)

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)

    def _on_output(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the shell closed its terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            self.closed = True
        self.raw += data.decode(errors="replace")
        self._changed.set()

    async def expect(self, wanted: str) -> str:
        """Wait until `wanted` is shown after what was expected before; return the text up to it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            text = self.text
            found = text.find(wanted, self.seen)
            if found >= 0:
                shown, self.seen = text[self.seen : found + len(wanted)], found + len(wanted)
                return shown
            if self.closed or loop.time() > deadline:
                raise AssertionError(
                    f"{wanted!r} never shown; the screen after the last match:\n{text[self.seen :]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - loop.time())

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def line(self, text: str) -> None:
        """Wait for the prompt, then type a line and Enter."""
        await self.expect("you> ")
        self.type(text + "\r")


@contextlib.asynccontextmanager
async def shell_in_terminal(
    db_url: str, fake_claude: FakeAnthropic, data_dir: Path, *args: str, user: str = "alice"
) -> AsyncIterator[Terminal]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "SLACK", "NO_COLOR"))}
    env.update(
        {
            "DATABASE_URL": db_url,
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": fake_claude.base_url,
            "FLOWPILOT_MODEL": "claude-test",
            "FLOWPILOT_SHELL_USER": user,
            "FLOWPILOT_DATA_DIR": str(data_dir),
            "TERM": "xterm-256color",
            "PROMPT_TOOLKIT_NO_CPR": "1",  # the test does not answer cursor-position requests
        }
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 220, 0, 0))

    def controlling_terminal() -> None:  # after setsid: the pty becomes the shell's terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "shell", *args,
        stdin=slave, stdout=slave, stderr=slave, env=env,
        start_new_session=True, preexec_fn=controlling_terminal,
    )  # fmt: skip
    os.close(slave)
    terminal = Terminal(proc, master)
    try:
        yield terminal
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0, terminal.text
        assert "Traceback" not in terminal.text, terminal.text
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(ValueError):
            asyncio.get_running_loop().remove_reader(master)
        os.close(master)


async def steps_of(db: async_sessionmaker[AsyncSession]) -> list[str]:
    async with db() as s:
        return list(
            (await s.execute(sa.select(AISessionStep.content).order_by(AISessionStep.step_order))).scalars()
        )


async def test_line_editing_history_choices_and_ctrl_c_to_quit(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        # Line editing: the cursor goes back seven characters and "at " is put before "Contoso".
        await term.line("Outlook keeps asking for the password Contoso" + LEFT * 7 + "at ")
        shown = await term.expect("(type a number to choose")
        assert "FlowPilot:" in shown and "[1]" in shown
        assert re.search(r"\x1b\[[0-9;]*36m", term.raw), "Claude's words are in colour"
        # A choice that is not on screen is refused here: Claude is not asked.
        asked = len(fake_claude.requests)
        await term.line("42")
        assert "There is no choice 42 here" in await term.expect("or reply in words.")
        await term.line("/quit")
        await term.expect("Bye.")
    assert len(fake_claude.requests) == asked
    assert (await steps_of(db))[0] == "Outlook keeps asking for the password at Contoso"
    assert "password at Contoso" in (tmp_path / "shell_history").read_text()

    async with db() as s:
        session_id = (await s.execute(sa.select(AISession.id))).scalar_one()
    async with shell_in_terminal(db_url, fake_claude, tmp_path, "--session", str(session_id)) as term:
        # --session shows Claude's last reply with the open questions as numbered choices.
        shown = await term.expect("(type a number to choose")
        assert "What does the Entra ID sign-in log show?" in shown and "[1] MFA required" in shown
        # History from the last run: Up three times (past "/quit" and "42") brings the problem back.
        await term.line(UP * 3 + " again")
        await term.expect("FlowPilot:")
        await term.expect("you> ")
        term.type(CTRL_C)  # at the prompt: quits cleanly
        await term.expect("Bye.")
    assert (await steps_of(db))[-2] == "Outlook keeps asking for the password at Contoso again"


async def test_ctrl_c_stops_a_turn_which_retry_asks_again(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    fake_claude.latency = WAIT  # Claude takes its time
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        await term.line("The VPN drops every ten minutes at Northwind")
        await term.expect("FlowPilot is thinking")
        await term.expect(SPINNER[1])  # the spinner turns while Claude thinks
        await asyncio.wait_for(_first_request(fake_claude), WAIT)
        term.type(CTRL_C)
        await term.expect("Stopped. Claude's reply to this was not saved; /retry asks again.")
        async with db() as s:
            session = (await s.execute(sa.select(AISession))).scalar_one()
            assert session.awaiting_reply, "the stopped turn is kept for Retry"
            assert session.step_count == 1
        fake_claude.latency = 0
        await term.line("/retry")
        assert "FlowPilot:" in await term.expect("(type a number to choose")
        await term.line("/quit")
        await term.expect("Bye.")
    async with db() as s:
        session = (await s.execute(sa.select(AISession))).scalar_one()
        assert not session.awaiting_reply and session.step_count == 2


async def _first_request(fake: FakeAnthropic) -> None:
    while not fake.requests:
        await asyncio.sleep(0.01)


async def test_an_absolute_path_attaches_and_a_draft_is_edited_over_lines_or_stopped(
    db_url: str, db: async_sessionmaker[AsyncSession], fake_claude: FakeAnthropic, tmp_path: Path
) -> None:
    log = tmp_path / "spooler.log"
    log.write_text("2026-11-20 08:02:44 ERROR job 17 stuck in queue PRN-2\n")
    async with shell_in_terminal(db_url, fake_claude, tmp_path) as term:
        await term.line("Users at Contoso cannot print to PRN-2")
        await term.expect("(type a number to choose")
        await term.line(str(log.resolve()))  # an absolute path alone: the file, not a slash command
        await term.expect("FlowPilot:")

        fake_claude.chunk_chars, fake_claude.chunk_delay = 4, 0.5
        await term.line("/resolve")
        await term.expect("── Resolution draft ──")
        term.type(CTRL_C)
        await term.expect("Stopped the draft; it was not saved.")

        fake_claude.chunk_delay = 0
        await term.line("/resolve")
        await term.expect("Confirm (c), edit (e) or discard (d)?")
        await term.line("e")
        await term.expect("Root cause> ")
        term.type("The spooler held job 17\r")
        term.type("after the driver update\r.\r")
        await term.expect("Steps taken> ")
        term.type("\r")  # kept as drafted
        await term.expect("Recommendations> ")
        term.type("\r")
        await term.expect("Resolved. Ticket note for your PSA")
        await term.line("/quit")
        await term.expect("Bye.")
    assert "Unknown command" not in term.text
    assert any("job 17 stuck in queue PRN-2" in step for step in await steps_of(db))
    async with db() as s:
        handoff = (
            await s.execute(sa.select(SessionHandoff).where(SessionHandoff.status == "confirmed"))
        ).scalar_one()
    assert handoff.root_cause == "The spooler held job 17\nafter the driver update"
    assert handoff.steps_taken and handoff.recommendations
