"""Changes made through the API reach the chat adapters of every process, as LISTEN/NOTIFY session changes."""

from __future__ import annotations

import asyncio
import uuid

from fakes.anthropic import FakeAnthropic
from storage.notify import SessionChange
from tests.api.conftest import Api
from tests.conftest import app_settings, running_app


async def test_triage_edits_and_resolutions_made_here_reach_another_process(
    api: Api, db_url: str, fake_claude: FakeAnthropic
) -> None:
    # A second FlowPilot process on the same database (as the Slack or Teams adapter would run).
    async with running_app(app_settings(db_url, fake_claude)) as (_base, other):
        received: asyncio.Queue[SessionChange] = asyncio.Queue()

        async def on_change(change: SessionChange) -> None:
            await received.put(change)

        other.changes.subscribe(on_change)
        sid = (await api.start())["session"]["id"]

        async def next_for(kind: str) -> SessionChange:
            while True:
                change = await asyncio.wait_for(received.get(), 10)
                if change.session_id == uuid.UUID(sid) and change.kind == kind:
                    return change

        # Drain what the start produced, then watch the edit.
        await api.call("PATCH", f"/api/ai-sessions/{sid}/triage", {"client_name": "Contoso"}, expect=200)
        change = await next_for("triage")
        while change.origin != "api":
            change = await next_for("triage")
        assert change.origin == "api"  # not "slack": the Slack adapter must render it

        await api.call(
            "POST", f"/api/ai-sessions/{sid}/resolve",
            {"root_cause": "r", "steps_taken": "s", "recommendations": "x"}, expect=200,
        )  # fmt: skip
        status = await next_for("status")
        # From the API, about a session of the API token's own account (a Slack workspace here).
        assert status == SessionChange(uuid.UUID(sid), "status", "api", "slack")
