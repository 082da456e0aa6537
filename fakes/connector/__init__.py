"""A fake Bot Framework connector, Teams flavoured, served over real HTTP.

The Agents SDK's ``ConnectorClient`` posts to whatever ``serviceUrl`` an incoming activity carries, so a
test puts ``fake.service_url`` there and asserts on what the bot really sent. The fake keeps the parts of
Teams' behaviour a bot can trip over: streaming rules, the 28 KB message limit, throttling and faults.

The package, by idea: `server` (the HTTP server and its routes), `state` (conversations, posted activities,
streams, roster, teams, and the methods a test calls on them), `streaming` (Teams' streaming rules),
`faults` (errors in Teams' shape), `records` (what was recorded), `defaults` (ids and limits) and
`activities` (builders of what Teams posts to the bot).
"""

from fakes.connector.activities import (
    adaptive_card_action,
    card_submit,
    channel_message,
    conversation_update,
    group_chat_message,
    invoke,
    new_activity_id,
    personal_message,
    teams_member,
)
from fakes.connector.defaults import (
    DEFAULT_BOT_APP_ID,
    DEFAULT_BOT_ID,
    DEFAULT_BOT_NAME,
    DEFAULT_CHANNEL_ID,
    DEFAULT_GROUP_CHAT_ID,
    DEFAULT_PERSONAL_CONVERSATION_ID,
    DEFAULT_TEAM_ID,
    DEFAULT_TENANT_ID,
    DEFAULT_USER_AAD_ID,
    DEFAULT_USER_ID,
    DEFAULT_USER_NAME,
    MAX_INFORMATIVE_CHARS,
    MAX_PAYLOAD_BYTES,
    STREAM_TIME_LIMIT_SECONDS,
)
from fakes.connector.records import RecordedRequest, SentActivity, Stream, StreamError
from fakes.connector.server import FakeConnector

__all__ = [
    "DEFAULT_BOT_APP_ID",
    "DEFAULT_BOT_ID",
    "DEFAULT_BOT_NAME",
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_GROUP_CHAT_ID",
    "DEFAULT_PERSONAL_CONVERSATION_ID",
    "DEFAULT_TEAM_ID",
    "DEFAULT_TENANT_ID",
    "DEFAULT_USER_AAD_ID",
    "DEFAULT_USER_ID",
    "DEFAULT_USER_NAME",
    "MAX_INFORMATIVE_CHARS",
    "MAX_PAYLOAD_BYTES",
    "STREAM_TIME_LIMIT_SECONDS",
    "FakeConnector",
    "RecordedRequest",
    "SentActivity",
    "Stream",
    "StreamError",
    "adaptive_card_action",
    "card_submit",
    "channel_message",
    "conversation_update",
    "group_chat_message",
    "invoke",
    "new_activity_id",
    "personal_message",
    "teams_member",
]
