"""`python -m bench.soak`: many engineers at once against one `flowpilot serve` for minutes, then an audit.

python -m bench.soak                                  # 100 engineers for 3 minutes
python -m bench.soak --sessions 20 --minutes 0.5 --seed 7

The same set-up as `python -m bench`: the fake Anthropic API (here with a random 0.2-1.5 s latency per
request) and the fake Slack Web API in threads of this process, a fresh PostgreSQL database, and
`flowpilot serve` as a subprocess driven with signed Slack requests. Each simulated engineer works in a
channel of their own: opens a session (an @mention or `/flowpilot <problem>`), then, with a random think
time between moves, clicks answers and "Done" / "Didn't work" on the latest buttons the fake Slack
received, replies in the thread, pauses and resumes, and now and then resolves (Resolve, the draft,
Confirm) and opens a new session. Some clicks are sent twice at once (a double click), some events twice
with `X-Slack-Retry-Num` (Slack's retry of the same event_id), and some replies mention the bot, so Slack
sends them as `app_mention` and `message`. A button clicked again within 1.5 s of its previous accepted press
(the server's double-click window) is a double click too; clicked again later, it is a new input.

At the end, once the turns in flight have finished, every distinct input is looked up in PostgreSQL
(`ai_session_steps`, `ai_sessions`, `session_handoffs`) and in what the engineer was shown: recorded once,
refused with a message (a click on a question already answered or from an earlier turn, input to a paused
session, Pause on a paused session…), lost (neither), or duplicated (recorded more than once). The server's RSS is sampled while the load runs. The exit status is non-zero
when anything was lost or duplicated, a request failed (5xx, another non-200, no answer), an error notice was
shown, or a session was left leased or in an inconsistent state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web
from sqlalchemy.engine import make_url

from adapters.slack.commands import DOUBLE_CLICK_SECONDS
from bot import messages as core_msg
from fakes.anthropic import FakeAnthropic
from fakes.slack import (
    FakeSlack,
    block_actions_body,
    event_callback,
    signed_headers,
    slash_command_body,
)
from storage.engine import normalize_url

from . import harness as h
from .__main__ import machine

TOKEN = re.compile(r"zz[a-z0-9]+zz")
PROBLEMS = (
    "the printer on the second floor is offline at Contoso",
    "the VPN drops every few minutes at Northwind on LAPTOP-042",
    "Outlook keeps asking for the password at Fabrikam",
    "internal names do not resolve, DNS looks wrong at Tailspin",
    "users say everything is slow this morning at Litware",
)
REPLIES = (
    "checked it, same result",
    "rebooted the machine, no change",
    "the event log shows nothing around that time",
    "it works for another user on the same desk",
    "cleared the cache and tried again",
)
# How an engineer spends their next move (the rest of the time they answer the latest question).
MOVES = (("answer", 0.48), ("mark", 0.20), ("reply", 0.18), ("pause", 0.07), ("resolve", 0.07))
TURN_KINDS = ("open", "reply", "answer", "mark")
CONTROL_KINDS = ("pause", "resume", "resolve", "confirm", "rate")
HEADER_BUTTONS = ("fp_pause", "fp_resume", "fp_resolve", "fp_escalate", "fp_edit_triage")
# The server drops a click of a button the same person clicked less than DOUBLE_CLICK_SECONDS before (measured
# from the previous press it accepted, when it handles the click, after the ack and its admission): a double
# click. A later click of it is a request of its own. The engineers keep this far from that boundary, so that
# the queueing between the ack and the server's check cannot change which of the two a click is: a click
# again sooner than DOUBLE_CLICK_SECONDS - MARGIN is a double click, none comes in the MARGIN either side.
MARGIN = 0.75


@dataclass
class Config:
    sessions: int = 100  # engineers working at once, each in a channel of their own
    seconds: float = 180.0
    seed: int = 1
    claude_latency: tuple[float, float] = (0.2, 1.5)
    think: tuple[float, float] = (1.0, 6.0)
    double_click: float = 0.15  # a click sent twice at once (the same payload)
    retry: float = 0.15  # an event delivered again with X-Slack-Retry-Num (the same event_id)
    mention_reply: float = 0.10  # a reply that @mentions the bot: delivered as app_mention and as message
    act_while_paused: float = 0.3
    # An answer or a mark clicked again on the message as it was (before the app updated it), 0.1-0.6 s later:
    # a slow double click, which the server drops.
    click_again: float = 0.1
    sample_every: float = 5.0  # seconds between two RSS samples
    wait_timeout: float = 60.0  # how long an engineer waits for a reply before giving up on it
    settle_timeout: float = 120.0  # how long the turns in flight may take to finish at the end

    @property
    def ramp(self) -> float:
        """Engineers start over the first few seconds, not all in the same millisecond."""
        return min(10.0, self.seconds / 6)


# ── the fakes, instrumented ──────────────────────────────────────────────────────────────────────────
class JitteryAnthropic(FakeAnthropic):
    """The fake Anthropic API with a random latency per request, keeping only its latest requests."""

    low = 0.0
    high = 0.0
    rng = random.Random(0)
    keep = 200

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        delay = self.rng.uniform(self.low, self.high)
        if delay > 0:
            await asyncio.sleep(delay)
        return await super()._messages(request)

    def _record(self, request: web.Request, raw: bytes) -> Any:
        body = super()._record(request, raw)
        with self._lock:  # every prompt holds the whole conversation: do not keep thousands of them
            if len(self.requests) > 2 * self.keep:
                del self.requests[: -self.keep]
        return body


class SoakSlack(FakeSlack):
    """The fake Slack, remembering per channel which messages the app posted (ts, thread_ts), in order."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.posted: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        self.told: dict[str, list[tuple[float, str]]] = defaultdict(list)  # ephemerals: (time, text)
        self.last_call = time.monotonic()
        self.observers.append(self._seen)

    def _seen(self, method: str, payload: dict[str, Any], at: float) -> None:
        self.last_call = time.monotonic()

    def _chat_post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        result = super()._chat_post_message(payload)
        self.posted[result["channel"]].append((result["ts"], payload.get("thread_ts") or None))
        return result

    def _chat_post_ephemeral(self, payload: dict[str, Any]) -> dict[str, Any]:
        result = super()._chat_post_ephemeral(payload)
        self.told[str(payload.get("channel"))].append((time.time(), str(payload.get("text") or "")))
        return result


# ── what was sent ────────────────────────────────────────────────────────────────────────────────────
@dataclass
class Sent:
    """One distinct input of an engineer (a double click or a retried event is still one input)."""

    kind: str  # open, reply, answer, mark (recorded as steps); pause, resume, resolve, confirm, rate
    engineer: int
    token: str = ""  # open, reply: the marker in the text
    sid: str = ""  # clicks: the session id in the button's value
    target: str = ""  # answer, mark: the question or step id ("<turn step>.q1"), unique per session
    at: float = field(default_factory=time.time)  # when it was sent (a click's action_ts)


@dataclass
class Result:
    """What one soak run found; `table()` prints it."""

    config: Config
    engineers: int = 0
    sessions_opened: int = 0
    inputs: Counter[str] = field(default_factory=Counter)
    duplicates_sent: Counter[str] = field(default_factory=Counter)
    engineer_steps: int = 0
    claude_answers: int = 0
    recorded: int = 0
    lost: int = 0
    lost_detail: list[str] = field(default_factory=list)
    duplicate: int = 0
    duplicate_detail: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    extra_refusals: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    error_notices: Counter[str] = field(default_factory=Counter)
    other_notices: Counter[str] = field(default_factory=Counter)
    stuck: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    timeouts: Counter[str] = field(default_factory=Counter)
    # Buttons clicked again as a new input (later than the double-click window), by kind.
    clicked_again: Counter[str] = field(default_factory=Counter)
    statuses_at_end: Counter[str] = field(default_factory=Counter)
    # Sessions no turn holds whose turn_in_flight is the JSON value null rather than SQL NULL (fixed in
    # 011413d; the recovery sweep would take them for unfinished turns).
    turn_json_null: list[str] = field(default_factory=list)
    # The server's own log: errors (and tracebacks) count as errors; warnings are listed.
    log_errors: Counter[str] = field(default_factory=Counter)
    log_warnings: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, int]] = field(default_factory=list)
    rss_after_settle: int = 0
    acks: list[float] = field(default_factory=list)
    settle_seconds: float = 0.0
    settled: bool = True

    @property
    def http_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def errors(self) -> int:
        """5xx and other non-200 answers, requests with no answer, and error notices shown to engineers."""
        non_200 = sum(n for status, n in self.statuses.items() if status != 200)
        return (
            non_200 + self.transport_errors + sum(self.error_notices.values()) + sum(self.log_errors.values())
        )

    @property
    def failed(self) -> bool:
        return bool(
            self.lost
            or self.duplicate
            or self.errors
            or self.stuck
            or self.inconsistent
            or self.turn_json_null
            or not self.settled
        )

    def rss_at(self, when: float) -> int:
        if not self.rss:
            return 0
        return min(self.rss, key=lambda s: abs(s[0] - when))[1]

    def slope_mb_per_min(self) -> float:
        """Least-squares slope of RSS over the second half of the load, in MB per minute."""
        half = [(t, b) for t, b in self.rss if t >= self.config.seconds / 2]
        if len(half) < 2:
            return float("nan")
        mt = sum(t for t, _ in half) / len(half)
        mb = sum(b for _, b in half) / len(half)
        den = sum((t - mt) ** 2 for t, _ in half)
        if den == 0:
            return float("nan")
        slope = sum((t - mt) * (b - mb) for t, b in half) / den  # bytes per second
        return slope * 60 / 2**20

    def rss_series(self) -> str:
        return " ".join(f"{t:.0f}s:{b / 2**20:.0f}" for t, b in self.rss)

    def table(self) -> str:
        mb = 2**20
        start, middle = self.rss_at(0), self.rss_at(self.config.seconds / 2)
        end = self.rss[-1][1] if self.rss else 0
        sent = sum(self.inputs.values())
        kinds = ", ".join(f"{k} {self.inputs[k]}" for k in (*TURN_KINDS, *CONTROL_KINDS) if self.inputs[k])
        dups = ", ".join(f"{k} {n}" for k, n in sorted(self.duplicates_sent.items()))
        refused = ", ".join(f"{k} {n}" for k, n in sorted(self.refused.items()))
        non_200 = {s: n for s, n in self.statuses.items() if s != 200}
        errors = (
            f"{self.errors} (5xx {self.http_5xx}, other non-200 {sum(non_200.values()) - self.http_5xx}, "
            f"no answer {self.transport_errors}, error notices {sum(self.error_notices.values())}, "
            f"errors in the server log {sum(self.log_errors.values())})"
        )
        rows = [
            ("sessions", f"{self.engineers} engineers at once, {self.sessions_opened} sessions opened"),
            ("inputs sent (distinct)", f"{sent} ({kinds})"),
            ("duplicates sent", f"{sum(self.duplicates_sent.values())} ({dups or 'none'})"),
            (
                "turns recorded",
                f"{self.engineer_steps} engineer steps, {self.claude_answers} Claude answers; "
                f"{self.recorded} of {sent} inputs took effect",
            ),
            ("lost", str(self.lost)),
            ("duplicate", str(self.duplicate)),
            (
                "refused with a message",
                f"{sum(self.refused.values())} ({refused or 'none'}); "
                f"refusals explaining no input: {self.extra_refusals}",
            ),
            ("errors / 5xx", errors),
            (
                "sessions stuck with a lease / inconsistent",
                f"{len(self.stuck)} / {len(self.inconsistent) + len(self.turn_json_null)} (end: "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.statuses_at_end.items()))
                + ")",
            ),
            (
                "RSS start / middle / end",
                f"{start / mb:.0f} / {middle / mb:.0f} / {end / mb:.0f} MB "
                f"(after the turns in flight finished: {self.rss_after_settle / mb:.0f} MB)",
            ),
            (
                "RSS second half",
                f"{(end - middle) / mb:+.1f} MB, slope {self.slope_mb_per_min():+.2f} MB/min",
            ),
            ("ack latency", h.summary_ms(self.acks) + f" ({len(self.acks)} requests)"),
        ]
        lines = ["| metric | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]
        return "\n".join(lines)

    def notes(self) -> str:
        out = []
        if self.extra_refusals:
            out.append(f"refusal messages with no unrecorded input to explain them: {self.extra_refusals}")
        if self.timeouts:
            out.append(
                "engineers who gave up waiting: " + ", ".join(f"{k} {n}" for k, n in self.timeouts.items())
            )
        if self.other_notices:
            out.append("other notices: " + ", ".join(f"{k!r} x{n}" for k, n in self.other_notices.items()))
        if self.error_notices:
            out.append("error notices: " + ", ".join(f"{k!r} x{n}" for k, n in self.error_notices.items()))
        for title, logged in (
            ("server log errors", self.log_errors),
            ("server log warnings", self.log_warnings),
        ):
            if logged:
                out.append(f"{title}: " + "; ".join(f"{k!r} x{n}" for k, n in logged.most_common(10)))
        if self.clicked_again:
            out.append(
                f"buttons clicked again more than {DOUBLE_CLICK_SECONDS + MARGIN:g} s after their previous "
                "accepted press (new inputs, in the counts above): "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.clicked_again.items()))
            )
        if self.turn_json_null:
            out.append(
                f"{len(self.turn_json_null)} sessions, free, have turn_in_flight = JSON null instead of SQL "
                "NULL: `turn_in_flight IS NOT NULL` matches them, so the recovery sweep and the partial index "
                "ix_ai_sessions_turn_in_flight take them for unfinished turns: "
                + "; ".join(self.turn_json_null[:10])
            )
        if not self.settled:
            out.append(f"the turns in flight had not finished after {self.config.settle_timeout:.0f} s")
        for title, items in (
            ("lost", self.lost_detail),
            ("duplicate", self.duplicate_detail),
            ("stuck", self.stuck),
            ("inconsistent", self.inconsistent),
        ):
            if items:
                out.append(f"{title}: " + "; ".join(items[:20]) + (" …" if len(items) > 20 else ""))
        return "\n".join(out)


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


# ── one run ──────────────────────────────────────────────────────────────────────────────────────────
class Soak:
    def __init__(
        self,
        config: Config,
        *,
        url: str,
        slack: SoakSlack,
        sender: h.Sender,
        log: Callable[[str], None],
    ) -> None:
        self.config = config
        self.url = url
        self.slack = slack
        self.sender = sender
        self.log = log
        self.result = Result(config, engineers=config.sessions)
        self.sent: list[Sent] = []
        self.started = time.monotonic()
        self.deadline = self.started + config.seconds

    def over(self) -> bool:
        return time.monotonic() >= self.deadline

    # ── the wire ───────────────────────────────────────────────────────────────────────────────────
    async def post(self, body: bytes, *, retry_num: int | None = None) -> None:
        """Send from bench/sender.py, a process of its own, so this busy one's event loop lag is not timed."""
        headers = signed_headers(body, secret=h.SIGNING_SECRET, retry_num=retry_num)
        try:
            status, elapsed = await asyncio.wait_for(
                self.sender.post(self.url + "/slack/events", body, headers), 90
            )
        except TimeoutError:
            status, elapsed = 0, 0.0
        if status == 0:  # no answer
            self.result.transport_errors += 1
            return
        self.result.acks.append(elapsed)
        self.result.statuses[status] += 1

    async def event(self, event: dict[str, Any], rng: random.Random) -> None:
        """Deliver an event; sometimes again as Slack's retry of the same event_id, at once or a bit later."""
        body = json.dumps(event_callback(event, team_id=h.TEAM, bot_user_id=h.BOT_USER)).encode()
        if rng.random() >= self.config.retry:
            await self.post(body)
            return
        self.result.duplicates_sent["slack retry"] += 1
        if rng.random() < 0.5:
            await asyncio.gather(self.post(body), self.post(body, retry_num=1))
        else:
            await self.post(body)
            await asyncio.sleep(rng.uniform(0.1, 1.5))
            await self.post(body, retry_num=1)

    async def click(
        self,
        eng: Engineer,
        kind: str,
        message: dict[str, Any],
        block_id: str,
        element: dict[str, Any],
        **fields: str,
    ) -> Sent | None:
        """Send a block_actions payload for one button the fake Slack received; the input, or None.

        The same button (message, action_id, value) clicked again sooner than DOUBLE_CLICK_SECONDS - MARGIN
        after its previous accepted press is a double click, which the server drops: no input (None). A header
        button is never double-clicked that way (the engineer means the new press); a click that would come
        in the MARGIN either side of the window waits until it is past. Any later click is a new input.
        Sometimes the payload also goes twice at once (a double click).
        """
        value = str(element.get("value") or "")
        identity = f"{message['ts']}|{element['action_id']}|{value}"
        previous = eng.accepted.get(identity)
        if previous is not None:
            gap = time.time() - previous
            header = element["action_id"].startswith(HEADER_BUTTONS)
            if gap < DOUBLE_CLICK_SECONDS + MARGIN and (header or gap >= DOUBLE_CLICK_SECONDS - MARGIN):
                await asyncio.sleep(previous + DOUBLE_CLICK_SECONDS + MARGIN - time.time())
        action_ts = time.time()
        sent: Sent | None = None
        if previous is not None and action_ts - previous < DOUBLE_CLICK_SECONDS - MARGIN:
            self.result.duplicates_sent["slow double click"] += 1
        else:
            sent = self.record(eng, kind, at=action_ts, **fields)
            eng.accepted[identity] = action_ts
            if previous is not None:
                self.result.clicked_again[kind] += 1
        body = block_actions_body(
            action_id=element["action_id"],
            user_id=eng.user,
            team_id=h.TEAM,
            value=value,
            block_id=block_id,
            action_type="button",
            channel_id=eng.channel,
            message=message,
            action_ts=f"{action_ts:.6f}",
        )
        if eng.rng.random() < self.config.double_click:
            self.result.duplicates_sent["double click"] += 1
            await asyncio.gather(self.post(body), self.post(body))
        else:
            await self.post(body)
        return sent

    def record(self, eng: Engineer, kind: str, **fields: Any) -> Sent:
        sent = Sent(kind, eng.index, **fields)
        self.sent.append(sent)
        self.result.inputs[kind] += 1
        return sent

    # ── RSS ────────────────────────────────────────────────────────────────────────────────────────
    async def sample_rss(self, server: h.Server) -> None:
        while True:
            elapsed = time.monotonic() - self.started
            try:
                rss = server.rss_bytes()
            except OSError:  # the server is gone: the audit says so
                self.result.inconsistent.append(f"flowpilot serve was gone after {elapsed:.0f} s")
                return
            self.result.rss.append((elapsed, rss))
            self.log(
                f"[{elapsed:5.0f}s] RSS {rss / 2**20:6.1f} MB, "
                f"{sum(self.result.inputs.values())} inputs sent, "
                f"ack p99 {h.percentile(self.result.acks[-2000:], 99) * 1000:.0f} ms"
            )
            if self.over():
                return
            await asyncio.sleep(min(self.config.sample_every, max(0.0, self.deadline - time.monotonic())))


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


# ── the audit ────────────────────────────────────────────────────────────────────────────────────────
def asyncpg_dsn(url: str) -> str:
    u = make_url(normalize_url(url))
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


# What an engineer may be shown when an input is refused, by what it can refuse.
QUESTION_REFUSALS = (core_msg.QUESTION_CLOSED, core_msg.QUESTION_ANSWERED.split("{by}")[1].split("{")[0])
ACTION_REFUSALS = (core_msg.ACTION_UNKNOWN, core_msg.ACTION_MARKED.split("{by}")[1].split("{")[0])
STATE_REFUSALS = (
    core_msg.NOT_ACTIVE.split("{")[0],  # "This session is paused. Resume it first." / "… resolved …"
    core_msg.ALREADY.split("{")[0],  # "This session is already paused." (Pause pressed again)
    core_msg.BUSY,
    core_msg.NO_DRAFT,
    core_msg.RATING_NOT_YET,
    core_msg.NOTHING_TO_RETRY,
)
SUCCESS_NOTICES = {
    "pause": core_msg.PAUSED,
    "resume": core_msg.RESUMED,
}
INFO_NOTICES = (
    core_msg.WAITING_FOR_ANSWERS.split("{")[0],
    core_msg.PAUSED,
    core_msg.RESUMED,
    core_msg.RATED.split("{")[0],
)
ERROR_NOTICES = (
    core_msg.INTERNAL_ERROR.split("{")[0],
    core_msg.DATABASE_DOWN,
    "FlowPilot can't reach its database",
    core_msg.CLAUDE_DOWN.split("{")[0],
    core_msg.CLAUDE_BAD_OUTPUT,
    core_msg.INTERRUPTED,
    core_msg.DRAFT_INTERRUPTED,
    core_msg.SHUTTING_DOWN,
    core_msg.SESSION_NOT_FOUND,
    "Slack refused",
)


def classify(text: str) -> str:
    """question / action / state refusal, info, error, or other."""
    if any(r in text for r in QUESTION_REFUSALS):
        return "question"
    if any(r in text for r in ACTION_REFUSALS):
        return "action"
    if any(text.startswith(r) for r in STATE_REFUSALS):
        return "state"
    if any(text.startswith(e) for e in ERROR_NOTICES):
        return "error"
    if any(text.startswith(i) for i in INFO_NOTICES):
        return "info"
    return "other"


@dataclass
class _Outcome:
    """Per engineer: how many of each kind of input did not take effect."""

    unrecorded: Counter[str] = field(default_factory=Counter)


async def settle(soak: Soak, db_url: str) -> None:
    """Wait until no session is leased or waiting for Claude, and neither fake has been called for 3 s."""
    config, result = soak.config, soak.result
    started = time.monotonic()
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        while True:
            busy = await conn.fetchval(
                "SELECT count(*) FROM ai_sessions WHERE lease_owner IS NOT NULL OR awaiting_reply"
            )
            quiet = time.monotonic() - soak.slack.last_call
            if busy == 0 and quiet >= 3.0:
                break
            if time.monotonic() - started > config.settle_timeout:
                result.settled = False
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    result.settle_seconds = time.monotonic() - started


def _target(content: str, lane: dict[str, str], done: set[str], prefix: str, step_order: int) -> str:
    """Which question or suggested step an engineer's answer or mark was for: the first still open whose
    text it quotes after `prefix` (then any, for a repeat), else an id of its own that counts as unknown."""

    def quoted(items: dict[str, str]) -> str | None:
        return next((k for k, text in items.items() if content.startswith(f'{prefix} "{text}":')), None)

    return quoted({k: v for k, v in lane.items() if k not in done}) or quoted(lane) or f"?{step_order}"


def _lane(step_order: int, items: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key = f"{step_order}.{item['id']}"
        out.setdefault(key, item["text"])
    return out


async def audit(soak: Soak, db_url: str) -> None:
    """Every distinct input against the database and against what each engineer was shown."""
    result = soak.result
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        sessions = await conn.fetch(
            "SELECT id, status, lease_owner, turn_in_flight::text AS turn, "
            "jsonb_typeof(turn_in_flight) AS turn_type, awaiting_reply, step_count, resolved_at, "
            "session_rating FROM ai_sessions"
        )
        steps = await conn.fetch(
            "SELECT session_id, step_order, role, kind, content, questions, actions FROM ai_session_steps "
            "ORDER BY session_id, step_order"
        )
        handoffs = await conn.fetch("SELECT session_id, kind, status FROM session_handoffs")
    finally:
        await conn.close()

    by_session: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for step in steps:
        by_session[str(step["session_id"])].append(step)
    tokens: Counter[str] = Counter()  # intake and reply markers recorded
    targets: Counter[tuple[str, str]] = Counter()  # (session, question or step id) answered or marked
    token_session: dict[str, str] = {}
    unanswered: list[str] = []
    for sid, rows in by_session.items():
        questions: dict[str, str] = {}
        actions: dict[str, str] = {}
        answered: set[str] = set()
        marked: set[str] = set()
        waiting: int | None = None  # the step order of an engineer step that asked Claude for a turn
        for row in rows:
            if row["role"] == "assistant":
                result.claude_answers += 1
                waiting = None
                questions = _lane(row["step_order"], _json(row["questions"]))
                actions = _lane(row["step_order"], _json(row["actions"]))
                answered, marked = set(), set()
                continue
            result.engineer_steps += 1
            if waiting is not None:
                unanswered.append(f"{sid} step {waiting}")
                waiting = None
            content = row["content"] or ""
            if row["kind"] in ("intake", "message"):
                for token in set(TOKEN.findall(content)):
                    tokens[token] += 1
                    token_session[token] = sid
                waiting = row["step_order"]
            elif row["kind"] == "answer":
                qid = _target(content, questions, answered, "Answer to", row["step_order"])
                targets[(sid, qid)] += 1
                answered.add(qid)
                if set(questions) <= answered:
                    waiting = row["step_order"]
            elif row["kind"] == "action_result":
                aid = _target(content, actions, marked, "Suggested step", row["step_order"])
                targets[(sid, aid)] += 1
                marked.add(aid)
                if set(questions) <= answered and set(actions) <= marked:
                    waiting = row["step_order"]
        if waiting is not None:
            unanswered.append(f"{sid} step {waiting}")

    drafts: Counter[str] = Counter()
    confirmed: Counter[str] = Counter()
    for row in handoffs:
        if row["kind"] == "resolve":
            drafts[str(row["session_id"])] += 1
            if row["status"] == "confirmed":
                confirmed[str(row["session_id"])] += 1

    # ── the sessions themselves ───────────────────────────────────────────────────────────────────
    for s in sessions:
        sid, status = str(s["id"]), s["status"]
        result.statuses_at_end[status] += 1
        if s["lease_owner"] is not None:
            result.stuck.append(f"{sid} leased ({status}, turn {s['turn']})")
        elif s["turn_type"] == "null":
            # JSON null, not SQL NULL: `turn_in_flight IS NOT NULL` (the recovery sweep) takes it for a turn.
            result.turn_json_null.append(sid)
        elif s["turn_type"] is not None:
            result.stuck.append(f"{sid} with a turn in flight and no lease ({status}, turn {s['turn']})")
        if s["awaiting_reply"]:
            result.stuck.append(f"{sid} still waiting for Claude ({status})")
        orders = [r["step_order"] for r in by_session.get(sid, [])]
        if orders != list(range(1, len(orders) + 1)) or s["step_count"] != len(orders):
            result.inconsistent.append(
                f"{sid}: step_count {s['step_count']}, steps {orders[:3]}…({len(orders)})"
            )
        if status not in ("active", "paused", "resolved"):
            result.inconsistent.append(f"{sid}: status {status}, never asked for")
        if status == "resolved" and (s["resolved_at"] is None or confirmed[sid] != 1):
            result.inconsistent.append(f"{sid}: resolved with {confirmed[sid]} confirmed handoffs")
        if status != "resolved" and confirmed[sid]:
            result.inconsistent.append(f"{sid}: {status} with {confirmed[sid]} confirmed handoffs")

    # ── each input: recorded once, refused, lost or duplicated ────────────────────────────────────
    outcomes: dict[int, _Outcome] = defaultdict(_Outcome)

    def settle_group(
        engineer: int, kind: str, sent: int, recorded: int, what: str, at_most: int | None = None
    ) -> None:
        """`sent` new inputs of one thing, `recorded` times found: each at most once, and the thing itself
        at most `at_most` times whatever was sent (a question is answered once); the rest must be refused."""
        allowed = sent if at_most is None else min(sent, at_most)
        took = min(allowed, recorded)
        result.recorded += took
        if recorded > allowed:
            result.duplicate += recorded - allowed
            result.duplicate_detail.append(f"{what}: {sent} sent, {recorded} recorded")
        if sent > took:
            outcomes[engineer].unrecorded[kind] += sent - took

    groups: dict[tuple[int, str, str], int] = Counter()
    for item in soak.sent:
        if item.kind in ("open", "reply"):
            key = item.token
        elif item.kind in ("answer", "mark"):
            key = f"{item.sid}|{item.target}"
        else:
            key = item.sid
        groups[(item.engineer, item.kind, key)] += 1

    rated = {str(s["id"]) for s in sessions if s["session_rating"] is not None}
    seen_targets: set[tuple[str, str]] = set()
    seen_tokens: set[str] = set()
    per_session_control: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for (engineer, kind, key), n in groups.items():
        if kind in ("open", "reply"):
            seen_tokens.add(key)
            settle_group(engineer, kind, n, tokens[key], f"{kind} {key}")
        elif kind in ("answer", "mark"):
            sid, target = key.split("|", 1)
            seen_targets.add((sid, target))
            settle_group(engineer, kind, n, targets[(sid, target)], f"{kind} {key}", at_most=1)
        elif kind == "resolve":
            settle_group(engineer, kind, n, drafts[key], f"resolve {key}")
        elif kind == "confirm":
            settle_group(engineer, kind, n, confirmed[key], f"confirm {key}", at_most=1)
        elif kind == "rate":
            settle_group(engineer, kind, n, int(key in rated), f"rate {key}", at_most=1)
        else:  # pause, resume: what the engineer was told, counted per engineer below
            per_session_control[(engineer, kind)][key] += n
    # Steps nobody sent (or sent once and recorded twice under another key) are duplicates too.
    for token, n in tokens.items():
        if token not in seen_tokens:
            result.duplicate += n
            result.duplicate_detail.append(f"recorded {token} that was never sent")
    for (sid, what), n in targets.items():
        if (sid, what) not in seen_targets:
            result.duplicate += n
            result.duplicate_detail.append(f"recorded {sid}|{what} that was never sent")

    # ── what each engineer was shown ──────────────────────────────────────────────────────────────
    for engineer in range(result.engineers):
        channel = f"CSOAK{engineer:05d}"
        shown: Counter[str] = Counter()
        texts = [str(e.get("text") or "") for e in soak.slack.ephemerals(channel)]
        # Notices posted in the thread (a busy session, an error with Retry) are bot messages with a notice.
        for message in soak.slack.messages(channel):
            text = str(message.get("text") or "")
            if classify(text) in ("question", "action", "state", "error"):
                texts.append(text)
        for text in texts:
            kind = classify(text)
            shown[kind] += 1
            if kind == "error":
                result.error_notices[text[:80]] += 1
            elif kind == "other":
                result.other_notices[text[:80]] += 1
        for control, notice in SUCCESS_NOTICES.items():
            sent = sum(per_session_control.get((engineer, control), Counter()).values())
            confirmed_by = sum(1 for t in texts if t == notice)
            settle_group(engineer, control, sent, confirmed_by, f"{control} by engineer {engineer}")
        out = outcomes[engineer].unrecorded
        # Refusals that can only explain one kind of input first, then the general ones.
        matched_q = min(out["answer"], shown["question"])
        matched_a = min(out["mark"], shown["action"])
        rest = sum(out.values()) - matched_q - matched_a
        general = shown["state"] + shown["error"]
        matched_g = min(rest, general)
        if matched_q:
            result.refused["question answered or closed"] += matched_q
        if matched_a:
            result.refused["step marked or closed"] += matched_a
        if matched_g:
            result.refused["session paused / not active / busy"] += matched_g
        lost = rest - matched_g
        if lost:
            result.lost += lost
            kinds = ", ".join(f"{k} {n}" for k, n in out.items() if n)
            result.lost_detail.append(
                f"engineer {engineer}: {lost} of ({kinds}) not recorded and not refused"
            )
        result.extra_refusals += (
            shown["question"] - matched_q + shown["action"] - matched_a + general - matched_g
        )
    # An engineer step that should have had Claude's answer and has none is a lost turn too.
    result.lost += len(unanswered)
    result.lost_detail.extend(f"no answer to {u}" for u in unanswered)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# ── the run ──────────────────────────────────────────────────────────────────────────────────────────
# Said once at every start; not a sign of trouble.
START_WARNINGS = ("Teams adapter in anonymous local mode", "`token` will be unused")
LOG_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): (.*)$")


def read_server_log(result: Result, text: str) -> None:
    """Count the server's error and warning records (and tracebacks) by their first words."""
    for line in text.splitlines():
        if line.startswith("Traceback"):
            result.log_errors["Traceback"] += 1
            continue
        match = LOG_LINE.match(line)
        if match is None:
            continue
        level, logger, message = match.groups()
        key = f"{logger}: {re.sub(r'[0-9a-f-]{8,}', '…', message)[:90]}"
        if level in ("ERROR", "CRITICAL"):
            result.log_errors[key] += 1
        elif level == "WARNING" and not any(w in message for w in START_WARNINGS):
            result.log_warnings[key] += 1


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def run(
    config: Config, *, database_url: str | None = None, log: Callable[[str], None] = _stderr
) -> Result:
    """Start everything, run the engineers for `config.seconds`, let the turns in flight finish, audit.

    `database_url` is an empty database (migrated or not); without it a fresh one is created on the
    server `python -m bench` uses (BENCH_DATABASE_URL / TEST_DATABASE_URL, else an embedded PostgreSQL).
    """
    if database_url is None:
        with h.database_server() as admin:
            try:
                return await run(config, database_url=await h.fresh_database(admin), log=log)
            finally:
                await h.drop_databases(admin)  # a shared server (BENCH_DATABASE_URL) keeps nothing
    with JitteryAnthropic.in_thread() as anthropic, SoakSlack.in_thread() as slack:
        assert isinstance(anthropic, JitteryAnthropic) and isinstance(slack, SoakSlack)
        anthropic.low, anthropic.high = config.claude_latency
        anthropic.rng = random.Random(config.seed)
        for i in range(config.sessions):
            slack.add_user(f"USOAK{i:05d}", f"engineer{i}", f"Engineer {i}", h.TEAM)
            slack.add_channel(f"CSOAK{i:05d}", f"soak-{i}")
        env = h.common_env(slack_api_url=slack.api_url, anthropic_url=anthropic.base_url)
        server = h.flowpilot({**env, "DATABASE_URL": database_url}, "flowpilot-soak")
        await server.start("/readyz")
        result: Result | None = None
        sender = h.Sender()
        await sender.start()
        try:
            soak = Soak(config, url=server.url, slack=slack, sender=sender, log=log)
            log(f"{config.sessions} engineers for {config.seconds:.0f} s against {server.url}")
            sampler = asyncio.create_task(soak.sample_rss(server))
            await asyncio.gather(*(Engineer(soak, i).run() for i in range(config.sessions)))
            await sampler
            log("load over; letting the turns in flight finish")
            await settle(soak, database_url)
            with contextlib.suppress(OSError):
                soak.result.rss_after_settle = server.rss_bytes()
            await audit(soak, database_url)
            result = soak.result
        finally:
            await sender.stop()
            exited = server.proc is not None and server.proc.returncode is not None
            await server.stop()
            if result is not None and exited:
                result.inconsistent.append("flowpilot serve exited during the run")
            if server.log is not None:
                if result is not None:
                    read_server_log(result, server.log.read_text(errors="replace"))
                if result is not None and not result.failed:
                    server.log.unlink(missing_ok=True)
                else:
                    log(f"server log: {server.log}")
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100, help="engineers at once (default 100)")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the load runs (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    config = Config(sessions=args.sessions, seconds=args.minutes * 60, seed=args.seed)
    result = asyncio.run(run(config))
    print(
        f"Machine: {machine()}. Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {config.sessions} engineers, "
        f"{args.minutes:g} min, seed {config.seed}, Claude {config.claude_latency[0]:g}-"
        f"{config.claude_latency[1]:g} s, think {config.think[0]:g}-{config.think[1]:g} s; "
        f"turns in flight finished {result.settle_seconds:.0f} s after the load.\n"
    )
    print(f"RSS over time (s:MB): {result.rss_series()}\n")
    print(result.table())
    notes = result.notes()
    if notes:
        print("\n" + notes)
    print("\nFAILED" if result.failed else "\nOK")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
