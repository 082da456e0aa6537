"""Scale-out within the connection budget: four `flowpilot serve` processes on one database.

Each process keeps to FLOWPILOT_DB_POOL_SIZE connections in all (10, the default, the change listener
included), so four of them must never hold more than 4 × 10 connections to their database, however the
turns are spread. The sessions' turns alternate between the processes, as a load balancer with no
stickiness would send them, so consecutive turns of one session run on different processes.

While it runs (from before the first process starts until the last turn is audited), a connection of its own
to the server's admin database counts the client connections to the bench database in `pg_stat_activity`
(filtered by `datname`, itself excluded). Then every turn sent is audited in PostgreSQL:

- **lost**: a turn whose engineer step (the one carrying its `zz…zz` marker) is not recorded, is not followed
  directly by Claude's step, or whose reply never reached Slack;
- **duplicate**: an engineer step recorded more than once, a Claude step that answers no engineer step (two
  in a row), or a recorded marker nobody sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from types import TracebackType

import asyncpg
from sqlalchemy.engine import make_url

from . import harness as h
from .scenarios import TOKEN, Context, Row, mark, replied

PROCESSES = 4
BUDGET = (
    10  # FLOWPILOT_DB_POOL_SIZE of each process: the default, set explicitly so the row says what it held
)
REPLY_TIMEOUT = 120.0
SAMPLE_EVERY = 0.02  # seconds between two counts; pooled connections stay open, so a peak lasts far longer

CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND pid <> ALL($2)"
)


class ConnectionSampler:
    """Counts the client connections to one database, back to back, on a connection of its own.

    The counting connection is to the server's admin database, so it is not one of those counted (and
    `pid <> pg_backend_pid()` would leave it out if it were). Autovacuum workers are not client backends,
    and not the processes' connections, so they are not counted either; nor are the backends in `ignore`
    (the bench's own connection that audits the turns).
    """

    def __init__(self, admin_url: str, database: str, ignore: list[int]) -> None:
        self._admin_dsn = h._dsn(admin_url)
        self._database = database
        self._ignore = ignore
        self.samples: list[tuple[float, int]] = []  # (perf_counter, connections)
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def __aenter__(self) -> ConnectionSampler:
        self._conn = await asyncpg.connect(self._admin_dsn)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._conn is not None
        while not self._stop.is_set():
            count = int(await self._conn.fetchval(CONNECTIONS, self._database, self._ignore) or 0)
            self.samples.append((time.perf_counter(), count))
            try:
                await asyncio.wait_for(self._stop.wait(), SAMPLE_EVERY)
            except TimeoutError:
                pass

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        if self._conn is not None:
            await self._conn.close()

    def peak(self, since: float = 0.0) -> int:
        return max((n for at, n in self.samples if at >= since), default=0)

    def at(self, moment: float) -> int:
        """The first count taken at or after `moment` (0 when none was)."""
        return next((n for at, n in self.samples if at >= moment), 0)


async def _start_servers(ctx: Context, db: str) -> list[h.Server]:
    env = {**ctx.env(), "DATABASE_URL": db, "FLOWPILOT_DB_POOL_SIZE": str(BUDGET)}
    servers = [h.flowpilot(env, f"flowpilot-{n}") for n in "abcd"[:PROCESSES]]
    # The first migrates the fresh database; the others then start together on the migrated schema.
    await servers[0].start("/readyz")
    await asyncio.gather(*(s.start("/readyz") for s in servers[1:]))
    return servers


async def _drive(
    ctx: Context, urls: list[str], sessions: int, turns: int
) -> tuple[list[str], set[str], float]:
    """Open `sessions` threads and take `turns` turns in each, turn t of session i on process (i + t) mod N.

    Returns (every marker sent, markers whose reply did not reach Slack in time, wall seconds).
    """
    sent: list[str] = []
    unanswered: set[str] = set()
    async with h.http_session() as http:
        driver = h.SlackDriver(http)

        async def session(i: int) -> None:
            user = f"U{i % 50:09d}"
            token = mark("sb", i, "t0")
            sent.append(token)
            ts, _ = await driver.mention(
                urls[i % len(urls)], channel=ctx.slack.general, user=user, text=f"{token} printer offline"
            )
            if not await h.wait_until(replied(ctx, token), REPLY_TIMEOUT):
                unanswered.add(token)
            for t in range(1, turns):
                token = mark("sb", i, "t", t)
                sent.append(token)
                await driver.reply(
                    urls[(i + t) % len(urls)],
                    channel=ctx.slack.general,
                    user=user,
                    thread_ts=ts,
                    text=f"{token} still offline",
                )
                if not await h.wait_until(replied(ctx, token), REPLY_TIMEOUT):
                    unanswered.add(token)

        started = time.perf_counter()
        await asyncio.gather(*(session(i) for i in range(sessions)))
        return sent, unanswered, time.perf_counter() - started


async def _settled(conn: asyncpg.Connection, timeout: float = 30.0) -> int:
    """Wait until no session is leased or waiting for Claude (a turn's last writes may follow its reply);
    returns how many still are when `timeout` ends."""
    query = "SELECT count(*) FROM ai_sessions WHERE lease_owner IS NOT NULL OR awaiting_reply"
    deadline = time.monotonic() + timeout
    while (busy := int(await conn.fetchval(query) or 0)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return busy


def audit(steps: list[asyncpg.Record], sent: list[str], unanswered: set[str]) -> tuple[int, int]:
    """(lost, duplicate) turns: see the module's docstring."""
    by_session: dict[object, list[asyncpg.Record]] = defaultdict(list)
    for step in steps:  # ordered by session, then step_order
        by_session[step["session_id"]].append(step)
    recorded: dict[str, list[bool]] = defaultdict(list)  # marker -> per recording: Claude's step follows it
    duplicate = 0
    for rows in by_session.values():
        for k, step in enumerate(rows):
            if step["role"] == "assistant" and (k == 0 or rows[k - 1]["role"] == "assistant"):
                duplicate += 1  # Claude answered no new engineer step
            if step["role"] != "user":
                continue
            answered = k + 1 < len(rows) and rows[k + 1]["role"] == "assistant"
            for token in set(TOKEN.findall(step["content"] or "")):
                recorded[token].append(answered)
    wanted = set(sent)
    duplicate += sum(len(v) for token, v in recorded.items() if token not in wanted)
    lost = 0
    for token in sent:
        answers = recorded.get(token, [])
        duplicate += max(0, len(answers) - 1)
        if token in unanswered or not any(answers):
            lost += 1
    return lost, duplicate


async def scale_budget(ctx: Context, single_tps: float | None = None) -> list[Row]:
    """Four processes, one database: 0 lost, 0 duplicate turns, connections ≤ 4 × the budget."""
    sessions, turns = (8, 2) if ctx.quick else (50, 4)
    ctx.anthropic.latency = 0.0
    db = await h.fresh_database(ctx.admin_url)
    database = make_url(db).database or ""
    servers: list[h.Server] = []
    # The audit's connection is opened first, so the sampler can leave it out from its first count.
    auditor = await asyncpg.connect(db)
    try:
        async with ConnectionSampler(ctx.admin_url, database, [auditor.get_server_pid()]) as sampler:
            try:
                servers = await _start_servers(ctx, db)
                up = time.perf_counter()
                sent, unanswered, wall = await _drive(ctx, [s.url for s in servers], sessions, turns)
                done = time.perf_counter()
                stuck = await _settled(auditor)
                steps = await auditor.fetch(
                    "SELECT session_id, step_order, role, content FROM ai_session_steps "
                    "ORDER BY session_id, step_order"
                )
            finally:
                for server in servers:
                    await server.stop()
    finally:
        await auditor.close()
    lost, duplicate = audit(steps, sent, unanswered)
    total = sessions * turns
    cap = PROCESSES * BUDGET
    peak = sampler.peak()
    tps = total / wall
    left = f", {stuck} sessions left leased" if stuck else ""
    return [
        Row(
            f"{PROCESSES} processes, one database: lost / duplicate turns",
            f"{lost} lost, {duplicate} duplicate of {total}{left}",
            target="0 and 0",
            ok=lost == 0 and duplicate == 0 and not stuck,
        ),
        Row(
            f"{PROCESSES} processes (FLOWPILOT_DB_POOL_SIZE={BUDGET} each): peak connections to the database",
            f"{peak} (start-up included; {sampler.at(up)} when all were up, "
            f"{sampler.peak(up)} under load, {sampler.at(done)} at the end; {len(sampler.samples)} samples)",
            ratio=f"{peak / cap:.2f} of {cap}",
            target=f"≤ {cap} ({PROCESSES} × {BUDGET})",
            # The four change listeners at least: a sampler that saw none would prove nothing.
            ok=PROCESSES <= peak <= cap,
        ),
        Row(
            f"{PROCESSES} processes: turns per second, {sessions} sessions × {turns} turns, Claude 0 s",
            f"{tps:.1f}",
            ratio=f"{tps / single_tps:.2f}x one process" if single_tps else "",
            target="report",
        ),
    ]
