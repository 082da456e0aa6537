"""A running FlowPilot app wired to a fake Slack, and helpers to talk to it the way Slack does."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
import sqlalchemy as sa

from adapters.runtime import Runtime
from fakes.anthropic import FakeAnthropic
from fakes.slack import (
    FakeSlack,
    block_actions_body,
    event_callback_body,
    signed_headers,
    slash_command_body,
    view_submission_body,
)
from storage.models import AISession
from tests.conftest import app_settings, running_app

SECRET = "test-signing-secret"
ALICE = "U0ALICE001"
BOB = "U0BOB00001"
MALLORY = "U0MALLORY1"
EVIL_TEAM = "T0EVILTEAM"

T = TypeVar("T")


async def wait_for(probe: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `probe` (sync or async) until it returns something truthy; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = probe()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def action_ids(message: dict[str, Any]) -> list[str]:
    out = []
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id"):
                out.append(element["action_id"])
        accessory = block.get("accessory")
        if accessory and accessory.get("action_id"):
            out.append(accessory["action_id"])
    return out


def element(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        for el in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return {**el, "block_id": block.get("block_id", "")}
    raise LookupError(action_id)


def shown_text(message: dict[str, Any]) -> str:
    """Everything a person sees in a message: its blocks' texts, or its text when it has no blocks."""
    parts: list[str] = []
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text.get("text", ""))
        for f in block.get("fields") or []:
            parts.append(f.get("text", ""))
        for el in block.get("elements") or []:
            if isinstance(el, dict) and el.get("type") in ("mrkdwn", "plain_text"):
                parts.append(el.get("text", ""))
    return "\n".join(parts) if parts else message.get("text", "")


@dataclass
class SlackHarness:
    """The app under test, the fake Slack behind it, and signed requests in between."""

    url: str
    runtime: Runtime
    fake: FakeSlack
    claude: FakeAnthropic
    http: aiohttp.ClientSession

    @property
    def team(self) -> str:
        return self.fake.team_id

    async def post(self, body: bytes, **header_options: Any) -> aiohttp.ClientResponse:
        headers = signed_headers(body, secret=header_options.pop("secret", SECRET), **header_options)
        async with self.http.post(f"{self.url}/slack/events", data=body, headers=headers) as response:
            await response.read()
            return response

    async def slash(
        self, text: str, *, user: str = ALICE, channel: str | None = None
    ) -> aiohttp.ClientResponse:
        body = slash_command_body(
            "/flowpilot", text, user_id=user, channel_id=channel or self.fake.general, team_id=self.team
        )
        return await self.post(body)

    async def event(self, event: dict[str, Any], **kwargs: Any) -> aiohttp.ClientResponse:
        retry_num = kwargs.pop("retry_num", None)
        body = event_callback_body(event, team_id=kwargs.pop("team_id", self.team), **kwargs)
        return await self.post(body, retry_num=retry_num)

    async def click(
        self,
        message: dict[str, Any],
        action_id: str,
        *,
        user: str = ALICE,
        team: str | None = None,
        channel: str | None = None,
        option: str | None = None,
    ) -> aiohttp.ClientResponse:
        el = element(message, action_id)
        fields: dict[str, Any] = {}
        value = el.get("value")
        if option is not None:
            chosen = next(o for o in el["options"] if o["value"].endswith(option))
            fields["selected_option"] = chosen
            value = None
        body = block_actions_body(
            action_id=action_id,
            user_id=user,
            team_id=team or self.team,
            value=value,
            block_id=el["block_id"],
            action_type=el["type"],
            channel_id=channel or self.fake.general,
            message=message,
            **fields,
        )
        return await self.post(body)

    async def submit(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = ALICE
    ) -> aiohttp.ClientResponse:
        return await self.post(
            view_submission_body(user_id=user, team_id=self.team, values=values, view=view)
        )

    # ── what reached Slack ─────────────────────────────────────────────────────────────────────────
    def with_action(self, action_id: str, channel: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.fake.messages(channel or self.fake.general) if action_id in action_ids(m)]

    async def session(self, session_id: uuid.UUID | None = None) -> AISession | None:
        async with self.runtime.db() as db:
            stmt = sa.select(AISession).order_by(AISession.created_at.desc()).limit(1)
            if session_id is not None:
                stmt = sa.select(AISession).where(AISession.id == session_id)
            return (await db.execute(stmt)).scalar_one_or_none()

    def claude_calls(self) -> int:
        return len(self.claude.requests)


def text_values(**fields: str) -> dict[str, Any]:
    return {name: {name: {"type": "plain_text_input", "value": value}} for name, value in fields.items()}


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user(ALICE, "alice", "Alice Admin")
        fake.add_user(BOB, "bob", "Bob Builder")
        fake.add_user(MALLORY, "mallory", "Mallory", EVIL_TEAM)
        yield fake


def slack_settings(db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    values.update(overrides)
    return app_settings(db_url, fake_claude, **values)


@pytest.fixture
async def slack(
    db_url: str, fake_claude: FakeAnthropic, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    async with (
        running_app(slack_settings(db_url, fake_claude, fake_slack)) as (url, runtime),
        aiohttp.ClientSession() as http,
    ):
        yield SlackHarness(url, runtime, fake_slack, fake_claude, http)


async def started(
    slack: SlackHarness, problem: str = "Outlook keeps asking for the password at Contoso"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a session by slash command; returns (header, first reply with questions)."""
    response = await slack.slash(problem)
    assert response.status == 200
    turn = (await wait_for(lambda: slack.with_action("fp_answer_1_0"), what="the first questions"))[0]
    header = slack.fake.message(slack.fake.general, turn["thread_ts"])
    assert header is not None
    # The header is edited once Claude's first triage is in (after the reply itself is posted).
    await wait_for(
        lambda: (
            "Hypothesis*\n_None yet_"
            not in shown_text(slack.fake.message(slack.fake.general, turn["thread_ts"]) or {})
        ),
        what="the first triage in the header",
    )
    return slack.fake.message(slack.fake.general, turn["thread_ts"]) or header, turn


def dumps(value: Any) -> str:
    return json.dumps(value)
