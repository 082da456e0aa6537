"""Hostile input, fuzzed with hypothesis (bounded and derandomized for CI): never a 5xx, never a traceback."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.slack import event_callback_body, slash_command_body
from tests.api.conftest import Api
from tests.slack.conftest import ALICE, SlackHarness

FUZZ = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
odd_text = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["\x00", "\u202e\u200b", "🧨" * 500, "<!channel> <@U0BOSS>", "```" * 50, "a" * 60_000]),
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def no_traceback(slack: SlackHarness) -> None:
    shown = json.dumps([slack.fake.messages(slack.fake.general), slack.fake.ephemerals(slack.fake.general)])
    assert "Traceback" not in shown and 'File "' not in shown


@FUZZ
@given(
    text=odd_text,
    event=st.dictionaries(
        st.sampled_from(["type", "user", "text", "ts", "thread_ts", "channel", "files", "subtype", "bot_id"]),
        json_value,
        max_size=9,
    ),
)
async def test_signed_slack_events_and_slash_commands_never_get_a_5xx(
    slack: SlackHarness, text: str, event: dict[str, Any]
) -> None:
    body = event_callback_body(event, team_id=slack.team)
    assert (await slack.post(body)).status < 500
    slash = slash_command_body(
        "/flowpilot", text, user_id=ALICE, channel_id=slack.fake.general, team_id=slack.team
    )
    assert (await slack.post(slash)).status < 500
    assert (await slack.post(json.dumps(event).encode())).status < 500  # not even an envelope
    no_traceback(slack)


@FUZZ
@given(
    body=json_value,
    path=st.sampled_from(
        [
            "",
            "/00000000-0000-0000-0000-000000000000/triage",
            "/x/resolve",
            "/00000000-0000-0000-0000-000000000000/messages",
        ]
    ),
)
async def test_rest_bodies_never_get_a_5xx(api: Api, body: Any, path: str) -> None:
    method = "PATCH" if path.endswith("triage") else "POST"
    status, data = await api.call(method, f"/api/ai-sessions{path}", body)
    assert status < 500, data
    assert "Traceback" not in json.dumps(data)
