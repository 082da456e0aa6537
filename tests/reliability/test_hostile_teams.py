"""Hostile Teams activities, fuzzed with hypothesis (bounded and derandomized): never a 5xx, never a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.connector import card_submit, invoke, personal_message
from tests.reliability.test_hostile_input import json_value, odd_text
from tests.teams.conftest import Teams, fast_timing  # noqa: F401  (autouse: fast Teams pacing)

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

FUZZ = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The fields the adapter reads; each may be dropped or replaced by any JSON value.
ACTIVITY_FIELDS = [
    "type",
    "id",
    "text",
    "value",
    "name",
    "from",
    "conversation",
    "channelData",
    "recipient",
    "replyToId",
    "attachments",
    "entities",
    "serviceUrl",
    "channelId",
]
HANDLED_INVOKES = ("adaptiveCard/action", "task/fetch", "task/submit")
INVOKE_NAMES = st.sampled_from(
    ["adaptiveCard/action", "task/fetch", "task/submit", "composeExtension/query", "", "\x00", "🧨"]
)


def no_traceback(teams: Teams) -> None:
    sent = json.dumps([r.body for r in teams.connector.requests], default=str)
    assert "Traceback" not in sent and 'File "' not in sent


@FUZZ
@given(
    text=odd_text,
    dropped=st.lists(st.sampled_from(ACTIVITY_FIELDS), max_size=4, unique=True),
    replaced=st.dictionaries(st.sampled_from(ACTIVITY_FIELDS), json_value, max_size=4),
)
async def test_fuzzed_messages_never_get_a_5xx(
    teams: Teams, text: str, dropped: list[str], replaced: dict[str, Any]
) -> None:
    activity = personal_message(text, service_url=teams.connector.service_url)
    assert (await teams.post(activity))[0] < 500  # odd text alone
    for field in dropped:
        activity.pop(field, None)
    activity.update(replaced)
    status, body = await teams.post(activity)
    assert status < 500, body
    assert "Traceback" not in json.dumps(body, default=str)
    no_traceback(teams)


@FUZZ
@given(name=INVOKE_NAMES, value=json_value, submitted=json_value)
async def test_invokes_and_card_submits_with_junk_values_never_get_a_5xx(
    teams: Teams, name: str, value: Any, submitted: Any
) -> None:
    url = teams.connector.service_url
    activity = invoke(name, {}, service_url=url, reply_to_id="1:junk")
    activity["value"] = value
    status, body = await teams.post(activity)
    # 501 is the Bot Framework's answer to an invoke no route handles, which Teams expects; not a crash.
    assert status < 500 or (status == 501 and name not in HANDLED_INVOKES), body
    assert "Traceback" not in json.dumps(body, default=str)
    submit = card_submit({}, service_url=url, reply_to_id="1:junk")
    submit["value"] = submitted
    assert (await teams.post(submit))[0] < 500
    no_traceback(teams)


async def test_non_activity_bodies_never_get_a_5xx(teams: Teams) -> None:
    bodies: list[Any] = [[], "text", 42, None, {"type": None}, {"type": ["message"]}]
    for body in bodies:
        status, answer = await teams.post(body)
        assert status < 500, (body, answer)
    no_traceback(teams)
