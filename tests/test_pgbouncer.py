"""Behind PgBouncer in transaction mode (Debian's `pgbouncer`, run here as a subprocess): with
FLOWPILOT_DB_PGBOUNCER=1 a whole session works through it (start, turns, a draft, resolve); without it, the
same traffic breaks on prepared statements that PgBouncer hands to other clients' server connections.

The change listener and its liveness lock need a session of their own: they connect to
FLOWPILOT_DB_DIRECT_URL (here the database server itself), as README's Deploying says.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from fakes.anthropic import FakeAnthropic
from storage.engine import normalize_url
from tests.api.conftest import Api
from tests.conftest import app_settings, running_app

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
TOKENS = "tok-acme@slack:T-ACME"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _pgbouncer_config(db_url: str, tmp: Path) -> Iterator[tuple[Path, int]]:
    url = make_url(normalize_url(db_url))
    host = str(url.query.get("host") or url.host or "127.0.0.1")
    port = _free_port()
    (tmp / "users.txt").write_text(f'"{url.username or "postgres"}" ""\n')
    ini = tmp / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={host} port={url.port or url.query.get('port') or 5432}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {tmp / 'users.txt'}\n"
        "pool_mode = transaction\n"
        # Fewer server connections than clients: what PgBouncer is for, and what makes a statement that
        # relies on its server session meet another client's.
        "default_pool_size = 5\n"
        "max_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    os.chmod(tmp, 0o755)
    for f in tmp.iterdir():
        os.chmod(f, 0o644)
    yield ini, port


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@pytest.fixture
async def pgbouncer(db_url: str) -> AsyncIterator[str]:
    """PgBouncer in transaction mode in front of this test's database; yields its URL."""
    assert Path(PGBOUNCER).exists(), "pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)"
    tmp = Path(tempfile.mkdtemp(prefix="fp-pgbouncer-"))  # readable by the user it runs as
    with _pgbouncer_config(db_url, tmp) as (ini, port):
        args = [PGBOUNCER, str(ini)]
        if os.geteuid() == 0:  # it will not run as root: run it as the user who may use the server's socket
            socket_dir = Path(str(make_url(normalize_url(db_url)).query.get("host") or "/"))
            owner = socket_dir.stat().st_uid if socket_dir.is_dir() else 0
            args[1:1] = ["-u", pwd.getpwuid(owner).pw_name if owner else "nobody"]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            assert proc.stdout is not None
            while True:  # ready when it says it listens (its log goes to stdout)
                line = await proc.stdout.readline()
                assert line, f"pgbouncer exited ({await proc.wait()})"
                if b"listening on 127.0.0.1" in line:
                    break
            log = asyncio.create_task(_drain(proc.stdout))  # its log must not fill the pipe and stop it
            database = make_url(normalize_url(db_url)).database
            yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
            log.cancel()
        finally:
            proc.terminate()
            await proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)


async def _a_session(api: Api, user: str) -> dict:
    """Start, answer every question, a reply, a draft and resolve: what a real session sends."""
    _, started = await api.call(
        "POST", "/api/ai-sessions", {"text": "Outlook asks for the password at Contoso"}, user=user
    )
    assert "session" in started, started
    sid = started["session"]["id"]
    for q in started["turn"]["questions"]:
        status, body = await api.call(
            "POST",
            f"/api/ai-sessions/{sid}/messages",
            {"answer": {"question_id": q["id"], "answer": "All of them"}},
            user=user,
        )
        assert status == 200, body
    status, body = await api.call(
        "POST", f"/api/ai-sessions/{sid}/messages", {"text": "Clearing the credential fixed it"}, user=user
    )
    assert status == 200 and body["turn"], body
    events = await api.draft(sid)
    assert events[-1][0] == "done", events
    status, resolved = await api.call("POST", f"/api/ai-sessions/{sid}/resolve", {}, user=user)
    assert status == 200, resolved
    _, read = await api.call("GET", f"/api/ai-sessions/{sid}", user=user)
    return dict(read)


async def _run_sessions(settings_url: str, db_url: str, fake: FakeAnthropic, *, pgbouncer: bool) -> list:
    settings = app_settings(
        settings_url,
        fake,
        FLOWPILOT_API_TOKENS=TOKENS,
        FLOWPILOT_DB_PGBOUNCER=pgbouncer,
        FLOWPILOT_DB_DIRECT_URL=db_url,
    )
    async with running_app(settings) as (base, runtime), aiohttp.ClientSession() as http:
        api = Api(base, http, runtime, fake, token="tok-acme")
        # Several engineers at once: several client connections share PgBouncer's two server connections.
        return await asyncio.gather(*(_a_session(api, f"U-{i}") for i in range(4)), return_exceptions=True)


async def test_a_whole_session_works_behind_pgbouncer_in_transaction_mode(
    pgbouncer: str, db_url: str, fake_claude: FakeAnthropic
) -> None:
    results = await _run_sessions(pgbouncer, db_url, fake_claude, pgbouncer=True)
    for read in results:
        assert isinstance(read, dict), read
        assert read["status"] == "resolved" and read["resolution_summary"]
        assert read["step_count"] == len(read["steps"]) >= 4


async def test_without_the_setting_pgbouncer_breaks_on_prepared_statements(
    pgbouncer: str, db_url: str, fake_claude: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    results = await _run_sessions(pgbouncer, db_url, fake_claude, pgbouncer=False)
    assert any(not isinstance(r, dict) for r in results), "PgBouncer's transaction mode did not matter"
    assert "prepared statement" in caplog.text
