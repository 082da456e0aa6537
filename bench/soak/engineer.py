"""One simulated engineer, and Slack messages as an engineer sees them."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fakes.slack import slash_command_body

from .. import harness as h
from .model import MOVES, PROBLEMS, REPLIES

if TYPE_CHECKING:
    from .runner import Soak


# ── Slack messages as an engineer sees them ──────────────────────────────────────────────────────────
def buttons(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every button of a message."""
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("action_id"):
                    yield str(block.get("block_id") or ""), element


def has_button(message: dict[str, Any], *prefixes: str) -> bool:
    return any(el["action_id"].startswith(prefixes) for _, el in buttons(message))


def button(message: dict[str, Any], action_id: str) -> tuple[str, dict[str, Any]] | None:
    return next(((b, el) for b, el in buttons(message) if el["action_id"] == action_id), None)


# An answer or a mark clicked: (kind, message ts, block_id, the button).
Pressed = tuple[str, str, str, dict[str, Any]]


class Engineer:
    """One simulated engineer, in a channel of their own."""

    def __init__(self, soak: Soak, index: int) -> None:
        self.s = soak
        self.index = index
        self.user = f"USOAK{index:05d}"
        self.channel = f"CSOAK{index:05d}"
        self.rng = random.Random(soak.config.seed * 1_000_003 + index)
        self.thread = ""
        self.header_ts = ""
        self.opened = 0
        self.replies = 0
        # "<message ts>|<action_id>|<value>" of every button clicked -> when its last new input was sent.
        self.accepted: dict[str, float] = {}

    # ── what the engineer sees ─────────────────────────────────────────────────────────────────────
    def thread_messages(self, newest: int = 8) -> list[dict[str, Any]]:
        """The thread's latest messages, newest first, as they are now (after the app's edits)."""
        posted = list(self.s.slack.posted.get(self.channel, ()))
        mine = [ts for ts, parent in posted if parent == self.thread or ts == self.thread]
        out = []
        for ts in reversed(mine[-newest:]):
            message = self.s.slack.message(self.channel, ts)
            if message is not None:
                out.append(message)
        return out

    def latest(self, *prefixes: str) -> dict[str, Any] | None:
        return next((m for m in self.thread_messages() if has_button(m, *prefixes)), None)

    def header(self) -> dict[str, Any] | None:
        return self.s.slack.message(self.channel, self.header_ts) if self.header_ts else None

    async def wait(self, probe: Callable[[], Any], what: str, timeout: float | None = None) -> Any:
        """Poll what the fake Slack shows until `probe` finds something; None after the timeout or the end."""
        deadline = time.monotonic() + (timeout or self.s.config.wait_timeout)
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline or self.s.over():
                if not self.s.over():
                    self.s.result.timeouts[what] += 1
                return None
            await asyncio.sleep(0.25)

    async def think(self, scale: float = 1.0) -> None:
        low, high = self.s.config.think
        await asyncio.sleep(self.rng.uniform(low, high) * scale)

    # ── the day ────────────────────────────────────────────────────────────────────────────────────
    async def run(self) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.s.config.ramp))
        while not self.s.over():
            if not await self.open():
                continue
            while self.thread and not self.s.over():
                await self.think()
                if self.s.over():
                    return
                await self.move()

    async def open(self) -> bool:
        token = f"zzsoak{self.index}n{self.opened}zz"
        self.opened += 1
        text = f"{token} {self.rng.choice(PROBLEMS)}"
        posted_before = len(self.s.slack.posted.get(self.channel, ()))
        self.thread = self.header_ts = ""
        if self.rng.random() < 0.5:
            ts = h.new_ts()
            event = {
                "type": "app_mention", "user": self.user, "text": f"<@{h.BOT_USER}> {text}", "ts": ts,
                "channel": self.channel, "event_ts": ts,
            }  # fmt: skip
            self.s.record(self, "open", token=token)
            await self.s.event(event, self.rng)
            self.thread = ts
        else:
            body = slash_command_body(
                "/flowpilot", text, user_id=self.user, channel_id=self.channel, team_id=h.TEAM
            )
            self.s.record(self, "open", token=token)
            await self.s.post(body)

            def top_level() -> str | None:
                posted = list(self.s.slack.posted.get(self.channel, ()))[posted_before:]
                return next((ts for ts, parent in posted if parent is None), None)

            thread = await self.wait(top_level, "the header of a new session")
            if thread is None:
                return False
            self.thread = thread
        self.s.result.sessions_opened += 1
        if await self.wait(lambda: self.latest("fp_answer_"), "the first questions") is None:
            self.thread = ""
            return False
        # The header is the thread's first message from the app (the slash command's is the thread itself).
        posted = list(self.s.slack.posted.get(self.channel, ()))
        self.header_ts = next(ts for ts, parent in posted if ts == self.thread or parent == self.thread)
        return True

    async def move(self) -> None:
        kind = self.rng.choices([m for m, _ in MOVES], weights=[w for _, w in MOVES])[0]
        if kind == "answer" and await self.answer() is not None:
            return
        if kind == "mark" and await self.mark() is not None:
            return
        if kind == "pause":
            await self.pause_and_resume()
            return
        if kind == "resolve":
            await self.resolve()
            return
        await self.reply()

    def choices(self, message: dict[str, Any], *prefixes: str) -> list[tuple[str, dict[str, Any]]]:
        """The buttons with these prefixes the engineer may click."""
        return [(b, el) for b, el in buttons(message) if el["action_id"].startswith(prefixes)]

    async def answer(self) -> Pressed | None:
        """Pick an option of a question of the latest turn; what was clicked."""
        message = self.latest("fp_answer_")
        options = self.choices(message, "fp_answer_") if message else []
        if message is None or not options:
            return None
        block_id = self.rng.choice(sorted({b for b, _ in options}))
        _, element = self.rng.choice([(b, el) for b, el in options if b == block_id])
        return await self.press("answer", message, block_id, element)

    async def mark(self) -> Pressed | None:
        """ "Done" or "Didn't work" on a suggested step of the latest turn; what was clicked."""
        message = self.latest("fp_done_", "fp_failed_")
        steps = self.choices(message, "fp_done_", "fp_failed_") if message else []
        if message is None or not steps:
            return None
        block_id, element = self.rng.choice(steps)
        return await self.press("mark", message, block_id, element)

    async def press(
        self, kind: str, message: dict[str, Any], block_id: str, element: dict[str, Any]
    ) -> Pressed:
        """Click an answer or a mark; sometimes again a moment later on the same view (a slow double click)."""
        sid, target, _ = element["value"].split("|")
        await self.s.click(self, kind, message, block_id, element, sid=sid, target=target)
        if self.rng.random() < self.s.config.click_again:
            await asyncio.sleep(self.rng.uniform(0.1, 0.6))
            await self.s.click(self, kind, message, block_id, element, sid=sid, target=target)
        return kind, str(message["ts"]), block_id, element

    async def press_again(self, pressed: Pressed) -> None:
        """Click a button clicked before once more (a new input), if the message still shows it."""
        kind, ts, block_id, element = pressed
        message = self.s.slack.message(self.channel, ts)
        still = message is not None and any(
            el["action_id"] == element["action_id"] and el.get("value") == element.get("value")
            for _, el in buttons(message)
        )
        if message is not None and still:
            sid, target, _ = element["value"].split("|")
            await self.s.click(self, kind, message, block_id, element, sid=sid, target=target)

    async def reply(self) -> None:
        token = f"zzsoak{self.index}r{self.replies}zz"
        self.replies += 1
        ts = h.new_ts()
        text = f"{token} {self.rng.choice(REPLIES)}"
        self.s.record(self, "reply", token=token)
        if self.rng.random() < self.s.config.mention_reply:
            # Slack delivers a message that mentions the app twice: as app_mention and as message.
            self.s.result.duplicates_sent["app_mention + message"] += 1
            text = f"<@{h.BOT_USER}> {text}"
            common = {"user": self.user, "text": text, "ts": ts, "thread_ts": self.thread}
            common |= {"channel": self.channel, "event_ts": ts}
            await asyncio.gather(
                self.s.event({"type": "app_mention", **common}, self.rng),
                self.s.event({"type": "message", "channel_type": "channel", **common}, self.rng),
            )
            return
        event = {
            "type": "message", "user": self.user, "text": text, "ts": ts, "thread_ts": self.thread,
            "channel": self.channel, "channel_type": "channel", "event_ts": ts,
        }  # fmt: skip
        await self.s.event(event, self.rng)

    async def header_click(self, action_id: str, kind: str) -> bool:
        header = self.header()
        found = button(header, action_id) if header else None
        if header is None or found is None:
            return False
        sid = str(found[1].get("value") or "")
        await self.s.click(self, kind, header, *found, sid=sid)
        return True

    async def pause_and_resume(self) -> None:
        if not await self.header_click("fp_pause", "pause"):
            return
        await self.think()
        refused: Pressed | None = None
        if self.rng.random() < self.s.config.act_while_paused:  # forgot it was paused
            refused = await self.answer()
            if refused is None:
                await self.reply()
            await self.think(0.5)
        if await self.wait(lambda: button(self.header() or {}, "fp_resume"), "the Resume button", 30) is None:
            return
        await self.header_click("fp_resume", "resume")
        if await self.wait(lambda: button(self.header() or {}, "fp_pause"), "the Pause button", 30) is None:
            return
        if refused is not None:  # "This session is paused. Resume it first.": the same answer again
            await self.think(0.5)
            await self.press_again(refused)

    async def resolve(self) -> None:
        if not await self.header_click("fp_resolve", "resolve"):
            return
        controls = await self.wait(lambda: self.latest("fp_confirm"), "the resolution draft")
        if controls is None:
            return
        await self.think(0.5)
        found = button(controls, "fp_confirm")
        assert found is not None
        await self.s.click(self, "confirm", controls, *found, sid=str(found[1]["value"]).split("|")[0])
        rating = await self.wait(lambda: self.latest("fp_rate_"), "the rating prompt", 30)
        if rating is not None and self.rng.random() < 0.5:
            star = button(rating, f"fp_rate_{self.rng.randint(1, 5)}")
            if star is not None:
                await self.s.click(self, "rate", rating, *star, sid=str(star[1]["value"]).split("|")[0])
        self.thread = ""  # a new session next
