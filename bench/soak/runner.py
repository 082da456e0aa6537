"""One run: the wire to `flowpilot serve` (signed events and clicks), the RSS sampler, and `run()`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from adapters.slack.commands import DOUBLE_CLICK_SECONDS
from fakes.slack import block_actions_body, event_callback, signed_headers

from .. import harness as h
from .audit import audit, settle
from .engineer import Engineer
from .instrumented import JitteryAnthropic, SoakSlack
from .model import HEADER_BUTTONS, MARGIN, Config, Result, Sent


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
