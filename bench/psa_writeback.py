"""`python -m bench.psa_writeback [--sessions N]`: what writing back to a PSA costs, against a fake ConnectWise.

Prints, for sessions resolved through the REST API in one process with its job worker:
- the confirm's latency for a session started from a ticket (its write-back row and job are written before
  the answer) beside a plain session's, interleaved, and their ratio;
- the time from the confirm's answer to the note on the ticket (the worker's pick-up and the PSA calls).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet

from adapters.runtime import open_runtime
from adapters.server import RUNNER_OPTIONS, build_app
from bot.settings import Settings
from fakes.anthropic import FakeAnthropic
from fakes.psa.base import SeedTicket
from fakes.psa.connectwise import FakeConnectWise

from . import harness as h

TOKEN = "bench-token"


class _Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {TOKEN}", "X-FlowPilot-User": "U-BENCH"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            assert r.status < 300, (r.status, await r.text())
            return await r.json() if r.content_type == "application/json" else await r.text()

    async def resolved(self, ticket: int | None) -> tuple[float, float]:
        """Start (from `ticket` or not), draft and resolve; returns (the confirm's seconds, when it answered)."""
        body: dict[str, Any] = (
            {"psa_ticket_id": str(ticket)} if ticket else {"text": "Printer offline at Contoso"}
        )
        sid = (await self.call("POST", "/api/ai-sessions", body))["session"]["id"]
        await self.call("POST", f"/api/ai-sessions/{sid}/handoff-draft", {"kind": "resolve"})
        started = time.perf_counter()
        await self.call("POST", f"/api/ai-sessions/{sid}/resolve", {})
        done = time.perf_counter()
        return done - started, done


async def _posted(psa: FakeConnectWise, ticket: int) -> float:
    while not [n for n in psa.notes(ticket) if "[FlowPilot " in n["text"]]:
        await asyncio.sleep(0.002)
    return time.perf_counter()


async def run(sessions: int) -> None:
    with h.database_server() as admin:
        db_url = await h.fresh_database(admin)
        try:
            async with FakeAnthropic() as claude, FakeConnectWise() as psa:
                await _measure(db_url, claude, psa, sessions)  # type: ignore[arg-type]
        finally:
            await h.drop_databases(admin)


async def _measure(db_url: str, claude: FakeAnthropic, psa: FakeConnectWise, sessions: int) -> None:
    settings = Settings(  # type: ignore[call-arg]  # pydantic-settings' init keywords
        _env_file=None,
        DATABASE_URL=db_url,
        ANTHROPIC_API_KEY="bench-key",
        ANTHROPIC_BASE_URL=claude.base_url,
        FLOWPILOT_MODEL="claude-test",
        FLOWPILOT_API_TOKENS=f"{TOKEN}@slack:T-BENCH",
        FLOWPILOT_SECRET_KEY=Fernet.generate_key().decode(),
        FLOWPILOT_SESSIONS_PER_USER_PER_MINUTE=0,
        FLOWPILOT_TURNS_PER_USER_PER_MINUTE=0,
    )
    async with open_runtime(settings, jobs=True) as runtime:
        await runtime.psa.add(
            platform="slack",
            workspace_id="T-BENCH",
            kind="connectwise",
            settings={"url": psa.url, "company": psa.company, "public_key": psa.public_key,
                      "client_id": psa.client_id},
            secret=psa.private_key,
            resolved_status="Resolved",
        )  # fmt: skip
        runner = web.AppRunner(build_app(runtime), **RUNNER_OPTIONS)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            async with aiohttp.ClientSession() as http:
                api = _Api(http, f"http://127.0.0.1:{runner.addresses[0][1]}")
                plain, ticket, to_note = [], [], []
                for i in range(sessions):  # interleaved: the machine's noise falls on both alike
                    number = 50_000 + i
                    psa.add_ticket(SeedTicket(number=number, title=f"Printer {i} offline"))
                    plain.append((await api.resolved(None))[0])
                    seconds, answered = await api.resolved(number)
                    ticket.append(seconds)
                    to_note.append(await _posted(psa, number) - answered)
        finally:
            await runtime.handler.shutdown(5)
            await runner.cleanup()
    p50 = h.percentile
    print(f"sessions: {sessions} of each, one process, fake Claude and fake ConnectWise on this machine")
    print(f"confirm, plain session:        {h.summary_ms(plain)}")
    print(f"confirm, session from a ticket: {h.summary_ms(ticket)}")
    print(f"ratio (ticket / plain), p50:    {p50(ticket, 50) / p50(plain, 50):.2f}")
    print(f"confirm answered -> note on the ticket: {h.summary_ms(to_note)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=30)
    asyncio.run(run(parser.parse_args().sessions))


if __name__ == "__main__":
    main()
