"""`flowpilot serve` as a user runs it: health and readiness, adapters off without settings, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from fakes.anthropic import FakeAnthropic
from tests.conftest import app_settings, running_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_for(url: str, timeout: float = 60) -> aiohttp.ClientResponse:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    await response.read()
                    return response
            except aiohttp.ClientConnectionError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def test_health_and_readiness(db_url: str, fake_claude: FakeAnthropic) -> None:
    async with (
        running_app(app_settings(db_url, fake_claude)) as (base, _runtime),
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with http.get(f"{base}/readyz") as r:
            body = await r.json()
            assert r.status == 200 and body["migrations"]["current"]


async def test_readyz_says_unavailable_when_migrations_are_behind(
    db_url: str, fake_claude: FakeAnthropic
) -> None:
    async with (
        running_app(app_settings(db_url, fake_claude)) as (base, runtime),
        aiohttp.ClientSession() as http,
    ):
        async with runtime.engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'old'")
        async with http.get(f"{base}/readyz") as r:
            assert r.status == 503 and (await r.json())["migrations"]["current"] == "old"


async def test_serve_on_a_fresh_machine_uses_the_embedded_database(tmp_path: Path) -> None:
    """No DATABASE_URL, no credentials: it starts, migrates, answers, and stops cleanly on SIGTERM."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "ANTHROPIC", "SLACK", "CONNECTIONS"))
    }
    env.update({"PORT": str(port), "FLOWPILOT_DATA_DIR": str(tmp_path / "data")})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        "serve",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        ready = await wait_for(f"http://127.0.0.1:{port}/readyz")
        assert ready.status == 200
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        print(out.decode())  # shown when the test fails: why the server stopped
    log = out.decode()
    assert proc.returncode == 0, log
    assert "Slack adapter off" in log and "Claude is off" in log
    assert (tmp_path / "data" / "pg" / "PG_VERSION").exists()
