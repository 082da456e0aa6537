"""Start-up mistakes get one line: what is wrong and how to fix it, exit code 1, no traceback.

Each test runs the real `flowpilot serve` command with a clean environment (nothing from this machine's, no
`.env`). The mistakes that can be seen without the database are reported before it starts: no data dir
gets a PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import free_port


def serve(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), **env}
    clean.setdefault("FLOWPILOT_DATA_DIR", str(cwd / "data"))
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "serve"],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a start-up mistake, after checking exit code 1 and nothing else said."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flowpilot: ")
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def listener() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_port_in_use_is_one_line_before_the_database_starts(tmp_path: Path, listener: int) -> None:
    line = the_one_line(serve(tmp_path, PORT=str(listener)))
    assert f"port {listener} is already in use" in line and "PORT or --port" in line
    assert not (tmp_path / "data" / "pg").exists()


def test_a_database_server_that_is_not_running_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    line = the_one_line(serve(tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/flowpilot"))
    assert f"can't reach PostgreSQL at 127.0.0.1:{port}" in line
    assert "is it running? check DATABASE_URL" in line


def test_a_data_dir_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    line = the_one_line(serve(tmp_path, FLOWPILOT_DATA_DIR=str(blocker / "data")))
    assert f"can't write to the data dir {blocker / 'data'}" in line
    assert "FLOWPILOT_DATA_DIR" in line and "DATABASE_URL" in line


def test_a_malformed_api_token_entry_is_one_line_without_the_token(tmp_path: Path) -> None:
    line = the_one_line(serve(tmp_path, FLOWPILOT_API_TOKENS="fp-good@api:T1, fp-s3cret@nowhere:T1"))
    assert "FLOWPILOT_API_TOKENS entry 2 is not token@platform:workspace_id" in line
    assert "fp-s3cret" not in line and "fp-good" not in line
    assert not (tmp_path / "data" / "pg").exists()


def test_a_database_url_of_another_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    line = the_one_line(serve(tmp_path, DATABASE_URL="mysql://fp:hunter2@db.example:3306/fp"))
    assert "DATABASE_URL (mysql://…) is not a PostgreSQL URL" in line
    assert "hunter2" not in line


def test_a_slack_app_token_without_a_bot_token_is_one_line(tmp_path: Path) -> None:
    result = serve(tmp_path, SLACK_APP_TOKEN="xapp-1-A0-secret")
    line = the_one_line(result)
    assert "SLACK_APP_TOKEN is set without SLACK_BOT_TOKEN" in line and "set SLACK_BOT_TOKEN" in line
    assert "xapp-1-A0-secret" not in result.stderr and "Slack adapter on" not in result.stderr
    assert not (tmp_path / "data" / "pg").exists()


def test_a_slack_oauth_client_id_without_its_secret_is_one_line(tmp_path: Path) -> None:
    line = the_one_line(serve(tmp_path, SLACK_SIGNING_SECRET="sig", SLACK_CLIENT_ID="123.456"))
    assert "SLACK_CLIENT_ID is set without SLACK_CLIENT_SECRET" in line


def test_an_invalid_setting_is_one_line_with_exit_code_1(tmp_path: Path) -> None:
    line = the_one_line(serve(tmp_path, FLOWPILOT_LEASE_SECONDS="soon"))
    assert "invalid setting FLOWPILOT_LEASE_SECONDS" in line and "fix FLOWPILOT_LEASE_SECONDS" in line


async def test_the_first_start_says_it_initialises_and_where_a_browser_opens_it(tmp_path: Path) -> None:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    env |= {"FLOWPILOT_DATA_DIR": str(tmp_path / "data"), "PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "serve", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    said: list[str] = []
    try:
        while not said or "FlowPilot listening on" not in said[-1]:
            line = (await proc.stderr.readline()).decode()
            assert line, "".join(said)  # it exited before listening
            said.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.communicate()
    log = "".join(said)
    initialising = log.index(f"initialising the database in {tmp_path / 'data' / 'pg'} (first start takes")
    assert initialising < log.index("embedded PostgreSQL running")
    assert said[-1].rstrip().endswith(f"FlowPilot listening on http://localhost:{port}")
    assert proc.returncode == 0
